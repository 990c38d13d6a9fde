"""The conversation model: what one turn produced, and what the next request must carry.

Meilisearch keeps no conversation state (docs/protocol.md#conversation-state). After each turn the
client appends, in order: the user's message, every `_meiliAppendConversationMessage` payload
verbatim, then the assistant's text. Progress and sources are kept for display and history but never
sent back, and the workspace's own system prompt is never re-sent.

`Turn` folds the event stream of one request into that record plus everything `--json`,
`--events`, the renderer's source list and the history store report. Stdlib only, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meilichat_cli.protocol.events import (
    DECLARED_TOOLS,
    ConversationMessage,
    Done,
    ErrorEvent,
    Event,
    Finished,
    SearchProgress,
    SearchSources,
    TextDelta,
    UsageReport,
)

Message = dict[str, Any]

# Turn status words, shared with the history store and `--json` consumers.
COMPLETE = "complete"
ERROR = "error"
TRUNCATED = "truncated"
INTERRUPTED = "interrupted"


def build_request(model: str, messages: list[Message]) -> dict[str, Any]:
    """The body of `POST /chats/{ws}/chat/completions`: streaming, all three tools declared."""
    return {
        "model": model,
        "messages": messages,
        "stream": True,
        "tools": [{"type": "function", "function": {"name": name}} for name in DECLARED_TOOLS],
    }


@dataclass(slots=True)
class Search:
    """One search Meilisearch ran during a turn, with the documents it returned."""

    call_id: str
    index_uid: str | None
    q: str | None
    filter: str | None
    sources: list[dict[str, Any]] = field(default_factory=list)
    # The trace: ms from sending the request to the progress event (the search started) and
    # to the sources event (it ended); None when that event never came.
    started_ms: float | None = None
    ended_ms: float | None = None

    @property
    def elapsed_ms(self) -> float | None:
        if self.started_ms is None or self.ended_ms is None:
            return None
        return round(max(self.ended_ms - self.started_ms, 0.0), 1)

    @property
    def ids(self) -> list[str | int]:
        """The returned documents' ids (see `document_id`), in ranking order."""
        return [key for key in map(document_id, self.sources) if key is not None]

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "index_uid": self.index_uid,
            "q": self.q,
            "filter": self.filter,
            "sources": self.sources,
            "started_ms": self.started_ms,
            "elapsed_ms": self.elapsed_ms,
            "hits": len(self.sources),
            "ids": self.ids,
        }


# Field names that usually hold a document's primary key, best first (case-insensitive).
ID_FIELDS = ("id", "_id", "uid", "uuid", "objectid", "pk", "key", "slug")


def document_id(document: dict[str, Any]) -> str | int | None:
    """The value of the document's likeliest primary-key field, or None.

    The first of ID_FIELDS present (case-insensitively), else a `…_id`/`…Id` field. Only
    strings and integers qualify: Meilisearch primary keys are nothing else."""
    lowered = {str(key).lower(): key for key in document}
    candidates = [lowered[name] for name in ID_FIELDS if name in lowered]
    candidates += [key for key in document if str(key).endswith(("_id", "Id"))]
    for key in candidates:
        value = document.get(key)
        if isinstance(value, (int, str)) and not isinstance(value, bool):
            return value
    return None


@dataclass(slots=True)
class Turn:
    """Everything one request/response produced, built by feeding it the stream's events."""

    prompt_messages: list[Message]
    answer_parts: list[str] = field(default_factory=list)
    searches: list[Search] = field(default_factory=list)
    errors: list[ErrorEvent] = field(default_factory=list)
    tool_messages: list[Message] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    done: bool = False
    status: str | None = None  # set by `close()`

    def feed(self, event: Event, at_ms: float | None = None) -> None:
        """Fold one event in; `at_ms` (ms since the request was sent) times the searches."""
        if isinstance(event, TextDelta):
            if event.text:
                self.answer_parts.append(event.text)
        elif isinstance(event, SearchProgress):
            self.searches.append(
                Search(event.call_id, event.index_uid, event.q, event.filter, started_ms=at_ms)
            )
        elif isinstance(event, SearchSources):
            search = self._search_for(event.call_id)
            search.sources = event.sources
            search.ended_ms = at_ms
        elif isinstance(event, ConversationMessage):
            self.tool_messages.append(event.message)
        elif isinstance(event, ErrorEvent):
            self.errors.append(event)
        elif isinstance(event, Finished):
            self.finish_reason = event.reason
        elif isinstance(event, UsageReport):
            self.usage = event.usage
        elif isinstance(event, Done):
            self.done = True

    def _search_for(self, call_id: str) -> Search:
        for search in reversed(self.searches):
            if search.call_id == call_id:
                return search
        # Sources without a progress event (a client that did not declare the progress tool
        # would see this; so could a reordered server). Keep them rather than drop them.
        search = Search(call_id, None, None, None)
        self.searches.append(search)
        return search

    @property
    def answer(self) -> str:
        return "".join(self.answer_parts)

    @property
    def fatal_error(self) -> ErrorEvent | None:
        """The provider error that ended the stream, if any (search errors do not count)."""
        for error in self.errors:
            if not error.is_search_error:
                return error
        return None

    @property
    def complete(self) -> bool:
        """True only when `[DONE]` came after a normal finish and no provider error."""
        return self.done and self.finish_reason is not None and self.fatal_error is None

    def close(self, *, interrupted: bool = False) -> str:
        """Fix the turn's status once the stream is over (or was abandoned)."""
        if interrupted:
            self.status = INTERRUPTED
        elif self.fatal_error is not None:
            self.status = ERROR
        elif self.complete:
            self.status = COMPLETE
        else:
            self.status = TRUNCATED
        return self.status

    def history_messages(self) -> list[Message]:
        """What this turn adds to the conversation the next request carries."""
        messages = list(self.prompt_messages)
        messages.extend(self.tool_messages)
        if self.answer:
            messages.append({"role": "assistant", "content": self.answer})
        return messages
