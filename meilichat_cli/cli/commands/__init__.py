"""Command modules: one per command group, the only layer that imports typer.

Each module imports typer (and option declarations) at top level and everything heavy inside
its command functions, so building the command tree for `--help` and completion stays cheap.
"""
