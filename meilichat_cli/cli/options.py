"""Options shared by every command that talks to a server, and opening the client for them.

Typer option declarations live here once so `ask`, `chat`, `doctor` and the admin commands
spell them the same way. Only typer is imported at module level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from meilichat_cli.cli.completion.completers import (
    complete_model,
    complete_persona,
    complete_profile,
    complete_workspace,
)

if TYPE_CHECKING:
    from meilichat_cli.api.client import MeiliClient
    from meilichat_cli.local.connection import Connection
    from meilichat_cli.local.context import RunContext

ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        help="Profile to use (env MEILICHAT_PROFILE).",
        show_default=False,
        autocompletion=complete_profile,
    ),
]
UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="Meilisearch URL (env MEILICHAT_URL).", show_default=False),
]
WorkspaceOption = Annotated[
    str | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Chat workspace (env MEILICHAT_WORKSPACE).",
        show_default=False,
        autocompletion=complete_workspace,
    ),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Model name sent to the workspace's LLM (env MEILICHAT_MODEL).",
        show_default=False,
        autocompletion=complete_model,
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        help="API key (visible in the process list: prefer `meilichat key set` or "
        "MEILICHAT_API_KEY).",
        show_default=False,
    ),
]


def finite(value: float | None) -> float | None:
    """Option callback: refuse `nan` and `inf`, which click's float ranges let through."""
    import math

    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


TimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout",
        help="Seconds to wait for data from the server (at least 0.1).",
        min=0.1,
        callback=finite,
        metavar="SECONDS",
    ),
]
CaBundleOption = Annotated[
    str | None,
    typer.Option(
        "--ca-bundle",
        help="PEM file of CA certificates to trust (or SSL_CERT_FILE).",
        show_default=False,
    ),
]
AsOption = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="Chat as this persona: a short-lived tenant token is signed for the run from its"
        " rules (`meilichat persona add`).",
        metavar="PERSONA",
        show_default=False,
        autocompletion=complete_persona,
    ),
]
InsecureOption = Annotated[
    bool,
    typer.Option("--insecure", help="Do not verify TLS certificates (warns every time)."),
]


@dataclass(frozen=True)
class ConnectionFlags:
    """What the user said on the command line about where to connect."""

    profile: str | None = None
    url: str | None = None
    workspace: str | None = None
    model: str | None = None
    api_key: str | None = None
    timeout: float = 120.0
    ca_bundle: str | None = None
    insecure: bool = False
    as_persona: str | None = None  # `--as NAME`: send a tenant token signed for the persona

    def resolve(self, ctx: RunContext, *, admin_key: str | None = None) -> Connection:
        """The connection these flags name; with `admin_key`, one that sends it (for admin
        commands: the profile's own key is then not looked at, nor warned about)."""
        from dataclasses import replace

        from meilichat_cli.local.connection import resolve_connection

        connection = resolve_connection(
            ctx.environ,
            profile=self.profile,
            url=self.url,
            api_key=admin_key or self.api_key,
            workspace=self.workspace,
            model=self.model,
            warn=ctx.warn,
            api_key_source="admin key" if admin_key else "--api-key",
        )
        if self.ca_bundle:
            connection = replace(connection, ca_bundle=self.ca_bundle)
        if self.insecure:
            connection = replace(connection, insecure=True)
        if self.as_persona and not admin_key:
            from meilichat_cli.tenancy.personas import persona_connection

            connection = persona_connection(ctx.environ, connection, self.as_persona, warn=ctx.warn)
        return connection

    def open_client(self, ctx: RunContext, connection: Connection) -> MeiliClient:
        from meilichat_cli.api.client import MeiliClient

        return MeiliClient(
            connection,
            read_timeout=self.timeout,
            transport=ctx.transport,
            environ=ctx.environ,
            warn=ctx.warn,
            debug=ctx.debug_log,
        )
