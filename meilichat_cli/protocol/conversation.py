"""The conversation model: what one turn produced, and what the next request must carry.

Meilisearch keeps no conversation state (docs/protocol.md#conversation-state). After each turn the
client appends, in order: the user's message, every `_meiliAppendConversationMessage` payload
verbatim, then the assistant's text. Progress and sources are kept for display and history but never
sent back, and the workspace's own system prompt is never re-sent.

`Turn` folds the event stream of one request into that record plus everything `--json`,
`--events`, the renderer's source list and the history store report. Stdlib only, no I/O;
imports nothing from meilichat_cli but `protocol.events` and `values`.
"""

from __future__ import annotations

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
from meilichat_cli.values import Value

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


class Search(Value):
    """One search Meilisearch ran during a turn, with the documents it returned."""

    __slots__ = ("call_id", "ended_ms", "filter", "index_uid", "q", "sources", "started_ms")

    def __init__(
        self,
        call_id: str,
        index_uid: str | None,
        q: str | None,
        filter: str | None,
        sources: list[dict[str, Any]] | None = None,
        started_ms: float | None = None,
        ended_ms: float | None = None,
    ) -> None:
        self.call_id = call_id
        self.index_uid = index_uid
        self.q = q
        self.filter = filter
        self.sources: list[dict[str, Any]] = [] if sources is None else sources
        # The trace: ms from sending the request to the progress event (the search started)
        # and to the sources event (it ended); None when that event never came.
        self.started_ms = started_ms
        self.ended_ms = ended_ms

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


class Turn(Value):
    """Everything one request/response produced, built by feeding it the stream's events."""

    __slots__ = (
        "answer_parts",
        "done",
        "errors",
        "finish_reason",
        "prompt_messages",
        "searches",
        "status",
        "tool_messages",
        "usage",
    )

    def __init__(
        self,
        prompt_messages: list[Message],
        answer_parts: list[str] | None = None,
        searches: list[Search] | None = None,
        errors: list[ErrorEvent] | None = None,
        tool_messages: list[Message] | None = None,
        finish_reason: str | None = None,
        usage: dict[str, Any] | None = None,
        done: bool = False,
        status: str | None = None,
    ) -> None:
        self.prompt_messages = prompt_messages
        self.answer_parts: list[str] = [] if answer_parts is None else answer_parts
        self.searches: list[Search] = [] if searches is None else searches
        self.errors: list[ErrorEvent] = [] if errors is None else errors
        self.tool_messages: list[Message] = [] if tool_messages is None else tool_messages
        self.finish_reason = finish_reason
        self.usage = usage
        self.done = done
        self.status = status  # set by `close()`

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


def complete_tool_pairs(messages: list[Message]) -> list[Message]:
    """`messages` without a tool call whose result never came, or a result without its call.

    A stream cut between the two halves of a `_meiliAppendConversationMessage` pair would
    leave one behind, and providers reject a conversation holding half a pair."""
    answered = {m.get("tool_call_id") for m in messages if m.get("role") == "tool"}
    called: set[object] = set()
    kept: list[Message] = []
    for message in messages:
        calls = message.get("tool_calls")
        if message.get("role") == "assistant" and isinstance(calls, list) and calls:
            ids = [call.get("id") for call in calls if isinstance(call, dict)]
            if not all(call_id in answered for call_id in ids):
                continue
            called.update(ids)
        elif message.get("role") == "tool" and message.get("tool_call_id") not in called:
            continue
        kept.append(message)
    return kept
