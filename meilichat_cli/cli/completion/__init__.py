"""Shell completion: the scripts for each shell and the values offered (profiles, workspaces,
indexes, conversations), each with a small time budget.

Empty on purpose: a TAB loads only the module that answers it. Its modules import typer and
the layers below the command line that hold what they complete; never rich or prompt_toolkit.
"""
