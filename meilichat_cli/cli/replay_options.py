"""The options of the commands that replay a saved turn (`explain`, `source`): which turn, and
where its documents are read again.

An option group of its own module (see cli/options.py), so that the commands that never
replay a turn do not pay for creating it. Only typer is imported at module level.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated

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
