"""Tenant scopes checked against a server: the parent key of a token before it is signed
(`parent`), and the leak check that chats as each persona and verifies every source (`check`).

A feature package beside repl, batch and doctor: it may import chat, api, tenancy and below,
never the command line, typer, rich or prompt_toolkit, and never prints (the command renders its
reports).
"""
