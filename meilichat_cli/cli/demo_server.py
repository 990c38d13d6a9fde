"""The bundled demo server for the length of one command, and the connection to it.

`meilichat demo` asks it questions; `explain` and `source` replay a demo conversation on it.
`demo_server` starts the stand-in Meilisearch in-process on an ephemeral loopback port (the
same bundled dataset on every start), narrows the run's environment so
that none of the user's connection settings (MEILICHAT_*, proxies) apply, and yields
`DemoFlags` that always resolve to it. The environment is given back when it stops.

Imports only `api.connect` at module level (no httpx, rich or typer); the stand-in loads
inside `demo_server`. Must not import `cli.commands` (commands import this, not each other).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from meilichat_cli.api.connect import ConnectionFlags

if TYPE_CHECKING:
    from meilichat_cli.local.connection import Connection
    from meilichat_cli.local.context import RunContext

DEMO_MODEL = "demo-model"
LOOPBACK = "127.0.0.1,localhost,::1"


class DemoFlags(ConnectionFlags):
    """Connection flags that always resolve to the in-process demo server: the user's
    profiles, config and MEILICHAT_* variables play no part (`--as` personas still apply).

    A replay of the chat's searches (/why, /open) sends the server's admin key, when the chat
    sends the demo's own key (not a persona's token): the server lives only inside this
    command, and with that key the replay reads the index's chat settings and the version, as
    `explain` on a demo conversation does."""

    __slots__ = ("fixed", "replay")
    fixed: Connection | None
    replay: Connection | None  # `fixed` with the admin key (a Connection never shows its key)

    def __init__(
        self, *, fixed: Connection | None = None, replay: Connection | None = None, **flags: Any
    ) -> None:
        super().__init__(**flags)
        self._set(fixed=fixed, replay=replay)

    def server_connection(self, ctx: RunContext, *, admin_key: str | None = None) -> Connection:
        assert self.fixed is not None
        return self.fixed

    def replay_connection(self, connection: Connection) -> Connection:
        if self.replay is None or connection != self.fixed:
            return connection  # a persona's token: the replay must see only what it sees
        return self.replay


@contextmanager
def demo_server(
    ctx: RunContext,
    *,
    master_key: str | None = None,
    token_delay: float = 0.0,
    version: str | None = None,
    model: str | None = None,
    admin: bool = False,
    **flags: Any,
) -> Iterator[DemoFlags]:
    """Run the demo server while the block runs; yield flags resolving to it.

    The connection sends the chat key, or with `admin` the admin key (the server lives only
    inside this command, so nothing is exposed: a replay may then read the index's chat
    settings as the chat itself did). `version` is the Meilisearch release it emulates (None:
    the newest); `flags` are the other `ConnectionFlags` (timeouts)."""
    from meilichat_cli.local.config import DEMO_PROFILE
    from meilichat_cli.local.connection import Connection
    from meilichat_cli.standin import StandInServer

    key = master_key or secrets.token_hex(16)
    with StandInServer(master_key=key, token_delay=token_delay, version=version) as server:
        connection = Connection(
            profile=DEMO_PROFILE,
            url=server.url,
            api_key=server.admin_key if admin else server.chat_key,
            api_key_source=DEMO_PROFILE,
            workspace=server.workspace,
            model=model or DEMO_MODEL,
            ca_bundle=None,
            insecure=False,
        )
        saved = ctx.environ
        ctx.environ = demo_environment(ctx)
        try:
            replay = connection.replace(api_key=server.admin_key)
            yield DemoFlags(fixed=connection, replay=replay, **flags)
        finally:
            ctx.environ = saved


def demo_environment(ctx: RunContext) -> dict[str, str]:
    """The run's environment as the demo sees it: nothing of the user's connection settings
    (MEILICHAT_*, proxies) applies to a server on loopback; the directories stay where they
    were."""
    return {
        **{k: v for k, v in ctx.environ.items() if not k.startswith("MEILICHAT_")},
        "MEILICHAT_CONFIG_DIR": ctx.paths.config_dir.as_posix(),
        "MEILICHAT_DATA_DIR": ctx.paths.data_dir.as_posix(),
        "MEILICHAT_STATE_DIR": ctx.paths.state_dir.as_posix(),
        "NO_PROXY": LOOPBACK,
        "no_proxy": LOOPBACK,
    }
