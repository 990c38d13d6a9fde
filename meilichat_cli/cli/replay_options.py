"""The options of the commands that replay a saved turn (`explain`, `source`): which turn, and
where its documents are read again.

An option group of its own module (see cli/options.py), so that the commands that never
replay a turn do not pay for creating it. `ReplayConnection.connect` picks the server: the one
the options name, or for a conversation held with `meilichat demo` (and no --profile, --url
or --api-key) the bundled demo server, started for the command (`cli/demo_server.py`). Only
typer is imported at module level.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from meilichat_cli.api.connect import DEFAULT_READ_TIMEOUT
from meilichat_cli.cli.completion.completers import complete_conversation
from meilichat_cli.cli.options import (
    ApiKeyOption,
    CaBundleOption,
    ConnectionFlags,
    InsecureOption,
    ProfileOption,
    TimeoutOption,
    UrlOption,
    option_group,
)

if TYPE_CHECKING:
    from meilichat_cli.history.records import ConversationRecord
    from meilichat_cli.local.connection import Connection
    from meilichat_cli.local.context import RunContext

__all__ = ["ConversationArgument", "ReplayConnection", "TurnOption"]


@option_group
@dataclass(frozen=True)
class ReplayConnection:
    """Where `explain` and `source` read the documents of a saved turn: no workspace or
    model, since nothing is asked."""

    profile: ProfileOption = None
    url: UrlOption = None
    api_key: ApiKeyOption = None
    timeout: TimeoutOption = DEFAULT_READ_TIMEOUT
    ca_bundle: CaBundleOption = None
    insecure: InsecureOption = False

    @property
    def flags(self) -> ConnectionFlags:
        return ConnectionFlags(**dataclasses.asdict(self))

    @property
    def names_a_server(self) -> bool:
        """The command line says where to connect (a key alone counts: it is meant for a
        server of the user's, never for the demo)."""
        return any(value is not None for value in (self.profile, self.url, self.api_key))

    @contextmanager
    def connect(
        self, ctx: RunContext, record: ConversationRecord
    ) -> Iterator[tuple[ConnectionFlags, Connection, bool]]:
        """Where to replay `record`: flags, their connection, and whether it is the bundled
        demo server. A demo conversation is replayed on a demo server started for the block
        (its dataset is the same on every start) unless the options name a server; the
        user's defaults (default profile, MEILICHAT_* variables) do not take it elsewhere,
        as they do not take `meilichat demo` elsewhere."""
        from meilichat_cli.local.config import DEMO_PROFILE

        if record.profile == DEMO_PROFILE and not self.names_a_server:
            from meilichat_cli.cli.demo_server import demo_server

            with demo_server(ctx, admin=True, timeout=self.timeout) as demo:
                yield demo, demo.resolve(ctx), True
            return
        flags = self.flags
        yield flags, flags.resolve(ctx), False


# A saved turn, as `explain` and `source` name it.
ConversationArgument = Annotated[
    str | None,
    typer.Argument(
        help="Conversation id or a unique prefix (default: the latest).",
        autocompletion=complete_conversation,
        show_default=False,
    ),
]
TurnOption = Annotated[
    int | None,
    typer.Option(
        "--turn", "-t", min=1, help="Which turn (from 1; default: the last).", show_default=False
    ),
]
