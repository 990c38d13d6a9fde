"""Previews of an index's documents as the model will see them (`index chat-settings --preview`).

`preview_documents` fetches a few documents and renders each through the index's chat template.
The server's `/render-template` (Meilisearch 1.48+, experimental `renderRoute`) renders
exactly what the model sees (`inline`: the unsaved template of a dry run); without it the
local renderer, which knows a Liquid subset, does. When the local renderer cannot parse a
template the server already accepted (`strict` off), that is a warning, not a failure.

Never prints: says what it did through the `note` and `warn` it is given. Imports `api.admin`
and `errors` (the client only for typing); must not import typer, rich or prompt_toolkit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from meilichat_cli.api import admin
from meilichat_cli.errors import TemplateError

if TYPE_CHECKING:
    from meilichat_cli.api.client import MeiliClient


def preview_documents(
    client: MeiliClient,
    uid: str,
    settings: dict[str, Any],
    count: int,
    *,
    strict: bool,
    inline: bool,
    note: Callable[[str], None],
    warn: Callable[[str], None],
) -> tuple[list[dict[str, Any]], list[str], str]:
    """Documents, their renders and who rendered them (`server` or `local`); no renders when
    the local renderer could not parse a template the server accepted (`strict` off)."""
    docs = admin.documents(client, uid, count)
    if not docs:
        return docs, [], "local"
    max_bytes = settings.get("documentTemplateMaxBytes")
    template = settings.get("documentTemplate") if inline else None
    renders, why_not = admin.server_previews(
        client,
        uid,
        docs,
        template=template if isinstance(template, str) else None,
        max_bytes=max_bytes if inline and isinstance(max_bytes, int) else None,
    )
    if renders is not None:
        return docs, renders, "server"
    note(f"Preview rendered locally: {why_not} (some Liquid may render differently).")
    searchable = admin.searchable_attributes(client, uid)
    try:
        return docs, admin.render_previews(settings, docs, searchable), "local"
    except TemplateError as error:
        if strict:
            raise
        warn(f"cannot preview the template: {error.message}")
        return docs, [], "local"
