"""Typed events: what one SSE message from `/chats/{ws}/chat/completions` means.

`decode_event(data, number)` turns the `data` of one SSE message (see `sse.py`) into zero or
more events. Everything downstream (renderer, REPL, `--json`, `--events`, history) consumes
these types and never looks at raw chunks.

Stdlib only, no I/O; imports nothing from meilichat_cli but `errors`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Union

from meilichat_cli.errors import ProtocolError

# The tool names Meilisearch uses to report its own work inside the stream (protocol §6.5).
PROGRESS_TOOL = "_meiliSearchProgress"
SOURCES_TOOL = "_meiliSearchSources"
APPEND_TOOL = "_meiliAppendConversationMessage"
DECLARED_TOOLS = (PROGRESS_TOOL, SOURCES_TOOL, APPEND_TOOL)

# How much of a malformed payload an error message quotes.
EXCERPT_CHARS = 80


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the assistant's answer (may be empty: the role chunk carries `""`)."""

    text: str
    completion_id: str | None = None


@dataclass(frozen=True, slots=True)
class SearchProgress:
    """Meilisearch is about to search `index_uid` for `q` (with `filter`)."""

    call_id: str
    index_uid: str | None
    q: str | None
    filter: str | None
    arguments: str  # the raw argument string the model wrote


@dataclass(frozen=True, slots=True)
class SearchSources:
    """The documents one search (matched by `call_id`) returned, in ranking order."""

    call_id: str
    sources: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ConversationMessage:
    """A message Meilisearch asks the client to keep in the conversation, verbatim."""

    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """An in-band error. A `response_error` is a failed search and the stream goes on;
    anything else is a provider error and the stream ends with `[DONE]` right after."""

    type: str
    code: str | None
    message: str
    param: str | None = None

    @property
    def is_search_error(self) -> bool:
        return self.type == "response_error"


@dataclass(frozen=True, slots=True)
class Finished:
    """The model finished a round: `stop`, `length`, `content_filter` (or another word)."""

    reason: str


@dataclass(frozen=True, slots=True)
class UsageReport:
    """Token usage, when the provider sent it (most streams never carry it)."""

    usage: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Done:
    """`data: [DONE]`: the server finished the response."""


Event = Union[
    TextDelta, SearchProgress, SearchSources, ConversationMessage, ErrorEvent, Finished,
    UsageReport, Done,
]
