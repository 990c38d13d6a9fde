"""The stand-in Meilisearch chat server (the demo and the integration tests run against it).

    from meilichat_cli.standin import StandInServer

    with StandInServer(master_key="…") as server:   # listening on 127.0.0.1:<free port>
        server.url, server.workspace, server.chat_key
        server.recorded, server.completion_bodies(), server.stats

It implements `/health`, `/version`, `/experimental-features`, `/keys`, `/chats…`, a few
`/indexes…` routes, `/render-template` and `/tasks/{uid}` the way Meilisearch does (as
docs/protocol.md describes it; 1.50 by default, and `StandInServer(version="1.16")` emulates
an older release: `versions.py`, docs/versions.md), answers completions with a scripted model
over a bundled dataset searched with SQLite FTS5, and injects faults on request
(`scenarios.py`).

Modules: `app` (HTTP, dispatch, StandInServer), `compress` (actix's response compression),
`routes` (every route but completions),
`completions` (the checks of docs/protocol.md#order-of-checks and the streamed rounds),
`requestcheck` (request shape and tools), `stream` (chunks and SSE frames), `chunked` (the
chunked body and abrupt endings), `auth` (keys, actions, tenant tokens), `keys` (/keys
bodies), `workspaces` (workspace settings), `index_chat` (index chat settings), `render`
(/render-template), `versions` (what each emulated release does), `state` (memory and
tasks), `search` + `filters` (the bundled indexes), `model` (the scripted LLM), `scenarios`
(fault injection), `deserr`
and `apierror` (error wording), `observe` (recorded requests, stream stats).

Stdlib only; imports nothing outside the standard library but `meilichat_cli.errors` and
`meilichat_cli.protocol.*`. Importing this package is cheap: the server loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meilichat_cli.standin.app import StandInServer

__all__ = ["StandInServer"]


def __getattr__(name: str) -> Any:
    if name == "StandInServer":
        from meilichat_cli.standin.app import StandInServer

        return StandInServer
    raise AttributeError(name)
