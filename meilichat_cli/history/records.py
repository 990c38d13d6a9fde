"""The records the history store hands out: plain, frozen dataclasses with `to_json()`.

`ConversationSummary` is a line of `history list`, `ConversationRecord` (with its
`TurnRecord`s) a whole conversation for `history show/export`, `SearchHit` a match of
`history search`. Times are seconds since the epoch; `to_json()` writes them as ISO 8601 UTC.

Stdlib and `protocol` only; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from meilichat_cli.protocol.conversation import Message, Search
from meilichat_cli.protocol.events import ErrorEvent

TITLE_CHARS = 60


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """One line of `history list`."""

    id: str
    title: str
    profile: str | None
    server_url: str
    workspace: str
    model: str
    created_at: float  # seconds since the epoch
    updated_at: float
    turns: int
    last_status: str | None  # None for a conversation with no saved turn yet
    tokens: int = 0  # the estimated tokens of all its turns (`chat.cost`)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "profile": self.profile,
            "server_url": self.server_url,
            "workspace": self.workspace,
            "model": self.model,
            "created_at": iso_time(self.created_at),
            "updated_at": iso_time(self.updated_at),
            "turns": self.turns,
            "last_status": self.last_status,
            "tokens": self.tokens,
        }


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """One saved question and everything its answer produced."""

    id: str
    seq: int
    question: str
    answer: str
    status: str
    finish_reason: str | None
    usage: dict[str, Any] | None
    timings: dict[str, float | None]
    workspace: str
    model: str
    created_at: float
    searches: list[Search] = field(default_factory=list)
    errors: list[ErrorEvent] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    estimate: dict[str, Any] | None = None  # the token estimate (None for older turns)
    persona: str | None = None  # who asked (`--as NAME`); None: the profile's own key

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "persona": self.persona,
            "question": self.question,
            "answer": self.answer,
            "status": self.status,
            "finish_reason": self.finish_reason,
            "usage": self.usage,
            "timings": self.timings,
            "estimate": self.estimate,
            "workspace": self.workspace,
            "model": self.model,
            "created_at": iso_time(self.created_at),
            "searches": [search.to_json() for search in self.searches],
            "errors": [
                {"type": error.type, "code": error.code, "message": error.message}
                for error in self.errors
            ],
            "messages": self.messages,
        }


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    """A whole conversation: what `history show` and `history export` work from."""

    id: str
    title: str
    profile: str | None
    server_url: str
    workspace: str
    model: str
    created_at: float
    updated_at: float
    turns: list[TurnRecord] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "profile": self.profile,
            "server_url": self.server_url,
            "workspace": self.workspace,
            "model": self.model,
            "created_at": iso_time(self.created_at),
            "updated_at": iso_time(self.updated_at),
            "turns": [turn.to_json() for turn in self.turns],
        }


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A saved turn whose question or answer matched `history search`."""

    conversation_id: str
    title: str
    turn_seq: int
    question: str
    excerpt: str  # the part of the answer (or question) around the first match
    workspace: str
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "title": self.title,
            "turn": self.turn_seq,
            "question": self.question,
            "excerpt": self.excerpt,
            "workspace": self.workspace,
            "created_at": iso_time(self.created_at),
        }


def iso_time(seconds: float) -> str:
    """UTC timestamp as ISO 8601 with a `Z`, to the second."""
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def make_title(question: str) -> str:
    """The first non-blank line of the question, cut to about TITLE_CHARS characters."""
    for raw_line in question.splitlines():
        line = " ".join(raw_line.split())
        if line:
            if len(line) <= TITLE_CHARS:
                return line
            return line[: TITLE_CHARS - 1].rstrip() + "…"
    return "(empty question)"
