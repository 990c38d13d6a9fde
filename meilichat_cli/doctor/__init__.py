"""`meilichat doctor`: checks of a server, its keys, workspaces and index chat settings.

The checks return a report and never print; must not import typer or `cli`.
"""
