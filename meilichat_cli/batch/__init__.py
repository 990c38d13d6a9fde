"""`meilichat batch`: the run as a whole (`job.py`) and one module for each of its jobs:
reading questions, running them concurrently, evaluating retrieval, writing the results and
summarizing the run.

Must not import typer or `cli`.
"""
