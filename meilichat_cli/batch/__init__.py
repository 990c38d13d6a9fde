"""`meilichat batch`: reading questions, running them concurrently, evaluating retrieval and
summarizing the run.

Must not import typer or `cli`.
"""
