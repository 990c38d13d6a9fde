"""What to suggest when the workspace asked for does not exist ("Workspace 'x' not found").

Only what the current key may do: the workspaces are listed with the same key when it is
allowed to (`chats.get`), and named in the hint; a chat-only key gets the way to ask another
workspace (`meilichat ask -w NAME`, or `/workspace NAME` in the REPL), never
`meilichat workspace list`, which it would be refused. Never prints.

Imports the admin routes of the api layer and `errors`; the client is passed in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meilichat_cli.errors import MeilichatError

if TYPE_CHECKING:
    from meilichat_cli.api.client import MeiliClient

SHOWN_NAMES = 10


def missing_workspace_hint(client: MeiliClient, *, repl: bool = False) -> str:
    from meilichat_cli.api.admin import list_workspaces

    switch = "/workspace NAME" if repl else "`meilichat ask -w NAME`"
    try:
        names = list_workspaces(client)
    except MeilichatError:  # this key may not list them (or the listing failed): no names
        return f"check the name, or ask another workspace with {switch}"
    if not names:
        return (
            "this server has no chat workspace yet: `meilichat doctor` explains how to set one up"
        )
    shown = ", ".join(names[:SHOWN_NAMES]) + (", …" if len(names) > SHOWN_NAMES else "")
    return f"workspaces here: {shown}; ask one with {switch}"
