"""One chat turn: reading the question, sending the conversation, collecting the events and
recording the turn in history.

Never prints: it hands events to whoever renders them. Must not import rich, typer or
prompt_toolkit, nor `ui`, `repl`, `batch`, `doctor` or `cli`.
"""
