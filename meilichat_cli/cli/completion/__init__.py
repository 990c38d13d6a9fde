"""Shell completion: the scripts for each shell and the values offered (profiles, workspaces,
indexes, conversations), each with a small time budget.
"""
