"""`batch --as A,B`: one connection per persona, so each question is asked as each of them.

`persona_connections` checks the names (none twice, no `--compare` beside several personas)
and signs one tenant token per persona for this run (`tenancy.personas.persona_connection`).
One persona needs none of this: the connection flags resolve to its token (`as_persona`).

Imports `errors`, `tenancy.personas` and, for types, `api.connect` and `local`; never prints.
Must not import typer, rich or `cli`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from meilichat_cli.errors import UsageError

if TYPE_CHECKING:
    from meilichat_cli.api.connect import ConnectionFlags
    from meilichat_cli.local.connection import Connection
    from meilichat_cli.local.context import RunContext


def persona_connections(
    ctx: RunContext, flags: ConnectionFlags, names: Sequence[str], *, compare: str | None
) -> dict[str, Connection]:
    """`--as A,B`: one connection per persona, each with a token signed for this run. One
    persona needs none of this: the flags resolve to its token (`as_persona`)."""
    if len(set(names)) != len(names):
        raise UsageError("--as names a persona twice")
    if len(names) < 2:
        return {}
    if compare is not None:
        raise UsageError(
            "--as with several personas already compares them side by side; drop --compare"
            " WORKSPACE (or ask one persona on both workspaces: --as NAME --compare WS)"
        )
    from meilichat_cli.tenancy.personas import persona_connection

    base = flags.replace(as_persona=None).resolve(ctx)
    return {name: persona_connection(ctx.environ, base, name, warn=ctx.warn) for name in names}
