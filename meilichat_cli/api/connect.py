"""Where a command connects, as the user said it, and opening the client for it.

`ConnectionFlags` holds what the command line said (profile, URL, workspace, model, key,
timeouts, TLS); `resolve` completes it from the environment and the profile
(`local/connection.py`), `open_client` opens a `MeiliClient` on the run's transport. The
use cases (ask once, the REPL, batch, doctor) take it, so a command only parses options.

Imports nothing heavy at module level (httpx loads with the client); must not import typer,
rich, prompt_toolkit or any package above `api`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meilichat_cli.values import FrozenValue

# Seconds without progress on a stream (`--timeout`), and for one whole streamed answer
# (`--max-time`): here, not in api/client.py, because the option tables need them without httpx.
DEFAULT_READ_TIMEOUT = 120.0
DEFAULT_ANSWER_TIMEOUT = 600.0

if TYPE_CHECKING:
    from meilichat_cli.api.client import MeiliClient
    from meilichat_cli.local.connection import Connection
    from meilichat_cli.local.context import RunContext


class ConnectionFlags(FrozenValue):
    """What the user said on the command line about where to connect."""

    __slots__ = (
        "api_key",
        "as_persona",
        "ca_bundle",
        "insecure",
        "max_time",
        "model",
        "profile",
        "timeout",
        "url",
        "workspace",
    )
    profile: str | None
    url: str | None
    workspace: str | None
    model: str | None
    api_key: str | None
    timeout: float
    ca_bundle: str | None
    insecure: bool
    as_persona: str | None  # `--as NAME`: send a tenant token signed for the persona
    max_time: float  # seconds for one streamed answer (api.client's answer_timeout)

    def __init__(
        self,
        profile: str | None = None,
        url: str | None = None,
        workspace: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float = DEFAULT_READ_TIMEOUT,
        ca_bundle: str | None = None,
        insecure: bool = False,
        as_persona: str | None = None,
        max_time: float = DEFAULT_ANSWER_TIMEOUT,
    ) -> None:
        self._set(
            profile=profile,
            url=url,
            workspace=workspace,
            model=model,
            api_key=api_key,
            timeout=timeout,
            ca_bundle=ca_bundle,
            insecure=insecure,
            as_persona=as_persona,
            max_time=max_time,
        )

    def resolve(self, ctx: RunContext, *, admin_key: str | None = None) -> Connection:
        """The connection these flags name; with `admin_key`, one that sends it (for admin
        commands: the profile's own key is then not looked at, nor warned about). With
        `as_persona` (and no `admin_key`), it sends the persona's tenant token."""
        connection = self.server_connection(ctx, admin_key=admin_key)
        if self.as_persona and not admin_key:
            from meilichat_cli.tenancy.personas import persona_connection

            connection = persona_connection(ctx.environ, connection, self.as_persona, warn=ctx.warn)
        return connection

    def server_connection(self, ctx: RunContext, *, admin_key: str | None = None) -> Connection:
        """The server, key, workspace and model these flags name, before any persona."""
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
            connection = connection.replace(ca_bundle=self.ca_bundle)
        if self.insecure:
            connection = connection.replace(insecure=True)
        return connection

    def replay_connection(self, connection: Connection) -> Connection:
        """The connection that replays a chat's searches on `connection` (the REPL's /why and
        /open): the chat's own, so the replay sees what the chat saw. Returns `connection`
        itself when nothing changes (the REPL then reuses the chat's client)."""
        return connection

    def open_client(self, ctx: RunContext, connection: Connection) -> MeiliClient:
        from meilichat_cli.api.client import MeiliClient

        return MeiliClient(
            connection,
            read_timeout=self.timeout,
            answer_timeout=self.max_time,
            transport=ctx.transport,
            environ=ctx.environ,
            warn=ctx.warn,
            debug=ctx.debug_log,
        )
