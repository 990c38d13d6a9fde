"""Typed events: what one SSE message from `/chats/{ws}/chat/completions` means.

`decode_event(data, number)` turns the `data` of one SSE message (see `sse.py`) into zero or
more events. Everything downstream (renderer, REPL, `--json`, `--events`, history) consumes
these types and never looks at raw chunks.

Decoding is lenient where the protocol is loose (missing or null fields, unknown keys, unknown
tool names) and strict where a wrong value would silently lose the answer (unparseable JSON, a
field of the wrong type): those raise `ProtocolError` naming the event number and the field.
Text is not sanitized here (consumers sanitize for display and escape for JSON), but lone
surrogates, which no UTF-8 output or SQLite column can hold, are replaced with U+FFFD.

Stdlib only, no I/O; imports nothing from meilichat_cli but `errors`, `text.sanitize` and
`values`.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable
from typing import Any, TypeAlias

from meilichat_cli.errors import ProtocolError
from meilichat_cli.text.sanitize import cut, sanitize_line
from meilichat_cli.values import Value

# The tool names Meilisearch uses to report its own work inside the stream
# (docs/protocol.md#the-_meili-tools).
PROGRESS_TOOL = "_meiliSearchProgress"
SOURCES_TOOL = "_meiliSearchSources"
APPEND_TOOL = "_meiliAppendConversationMessage"
DECLARED_TOOLS = (PROGRESS_TOOL, SOURCES_TOOL, APPEND_TOOL)
# Argument names: what Meilisearch sends (every release so far), then what its docs say.
PROGRESS_ARGUMENT_NAMES = ("function_arguments", "function_parameters")
SOURCES_ARGUMENT_NAMES = ("sources", "documents")

# How much of a malformed payload an error message quotes.
EXCERPT_CHARS = 80


class _Event(Value):
    """What every event type shares: equal to an event of the same type with equal fields,
    shown with its fields (from `values.Value`), and hashable. Events are values: nothing
    changes one once it is decoded.

    Plain classes with `__slots__` and a hand-written `__init__`, not frozen dataclasses: the
    eight types are created on every run before the request goes out, and a frozen dataclass
    costs about half a millisecond to create (4 ms for the eight)."""

    __slots__: tuple[str, ...] = ()

    def __hash__(self) -> int:  # type: ignore[override]
        return hash((type(self), self._fields()))


class TextDelta(_Event):
    """A piece of the assistant's answer, never empty (the role chunk's `""` yields none)."""

    __slots__ = ("completion_id", "text")

    def __init__(self, text: str, completion_id: str | None = None) -> None:
        self.text = text
        self.completion_id = completion_id


class SearchProgress(_Event):
    """Meilisearch is about to search `index_uid` for `q` (with `filter`); `arguments` is the
    raw argument string the model wrote."""

    __slots__ = ("arguments", "call_id", "filter", "index_uid", "q")

    def __init__(
        self, call_id: str, index_uid: str | None, q: str | None, filter: str | None, arguments: str
    ) -> None:
        self.call_id = call_id
        self.index_uid = index_uid
        self.q = q
        self.filter = filter
        self.arguments = arguments


class SearchSources(_Event):
    """The documents one search (matched by `call_id`) returned, in ranking order."""

    __slots__ = ("call_id", "sources")

    def __init__(self, call_id: str, sources: list[dict[str, Any]]) -> None:
        self.call_id = call_id
        self.sources = sources


class ConversationMessage(_Event):
    """A message Meilisearch asks the client to keep in the conversation, verbatim."""

    __slots__ = ("message",)

    def __init__(self, message: dict[str, Any]) -> None:
        self.message = message


class ErrorEvent(_Event):
    """An in-band error. A `response_error` is a failed search and the stream goes on;
    anything else is a provider error and the stream ends with `[DONE]` right after."""

    __slots__ = ("code", "message", "param", "type")

    def __init__(self, type: str, code: str | None, message: str, param: str | None = None) -> None:
        self.type = type
        self.code = code
        self.message = message
        self.param = param

    @property
    def is_search_error(self) -> bool:
        return self.type == "response_error"


class Finished(_Event):
    """The model finished a round: `stop`, `length`, `content_filter` (or another word)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


class UsageReport(_Event):
    """Token usage, when the provider sent it (most streams never carry it)."""

    __slots__ = ("usage",)

    def __init__(self, usage: dict[str, Any] | None = None) -> None:
        self.usage = {} if usage is None else usage


class Done(_Event):
    """`data: [DONE]`: the server finished the response."""

    __slots__ = ()


Event: TypeAlias = (
    TextDelta
    | SearchProgress
    | SearchSources
    | ConversationMessage
    | ErrorEvent
    | Finished
    | UsageReport
    | Done
)

_DONE = "[DONE]"
# A JSON string: no raw control character, only the escapes JSON allows. Possessive (`++`,
# `*+`: never given back), so a chunk that is not the pattern fails in one pass, however long.
_JSON_STRING = r'"(?:[^"\\\x00-\x1f]++|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*+"'
# Meilisearch's text chunk, byte for byte as it serializes one (field order, nulls and all),
# the id and the content captured. It matches valid JSON only, and only chunks that
# `_decode_general` turns into at most one `TextDelta` (no tool calls, finish or usage).
_TEXT_CHUNK = (
    r'\{"id":('
    + _JSON_STRING
    + r'),"choices":\[\{"index":0,"delta":\{"content":('
    + _JSON_STRING
    + r'),"function_call":null,"tool_calls":null,"role":(?:null|"assistant"),"refusal":null\},'
    r'"finish_reason":null,"logprobs":null\}\],"created":(?:0|[1-9][0-9]*+),"model":'
    + _JSON_STRING
    + r',"service_tier":(?:null|'
    + _JSON_STRING
    + r'),"system_fingerprint":(?:null|'
    + _JSON_STRING
    + r'),"object":"chat\.completion\.chunk","usage":null\}'
)
# The C scanner behind `json.loads`, called directly: `json.loads` adds two Python calls and
# two regular-expression matches (for surrounding whitespace) to every event.
# (An attribute every decoder has, which typeshed does not list.)
_scan_once: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
# Only used on the rare payloads that contain a `\\uD8xx`-style escape (see `_parse`).
_SURROGATE = re.compile("[\ud800-\udfff]")


def decode_event(data: str, number: int) -> list[Event]:
    """The events carried by the `data` of the `number`-th (1-based) message of a stream.

    Within one chunk the order is: text deltas, tool events, `Finished`, `UsageReport`.
    """
    match = _text_chunk()(data)
    if match is not None:
        # Meilisearch's own text chunk, recognised by a pattern that accepts only valid JSON
        # of that one shape (see `_TEXT_CHUNK`): half the cost of parsing it.
        content = _json_string(match[2])
        if not content:
            return []
        return [TextDelta(content, _json_string(match[1]))]
    return _decode_general(data, number)


def _decode_general(data: str, number: int) -> list[Event]:
    """`decode_event` for any chunk, the common one included (the pattern gives the same
    events for what it accepts): the chunk is parsed once, then a single-choice text delta
    (another server's field order, say) leaves after a few checks and anything else is walked
    by `_payload_events`, which gives the same events for it."""
    try:
        payload = _parse(data)
    except (ValueError, RecursionError):
        # `[DONE]` is not JSON: looked for only when the parse fails, not on every chunk.
        if data.strip() == _DONE:
            return [Done()]
        raise ProtocolError(f"Malformed event #{number} from server: {_excerpt(data)}") from None
    if not isinstance(payload, dict):
        raise ProtocolError(
            f"Malformed event #{number} from server: expected a JSON object, got "
            f"{_json_type(payload)}: {_excerpt(data)}"
        )
    choices = payload.get("choices")
    if type(choices) is list and len(choices) == 1 and payload.get("type") != "error":
        # One choice whose delta carries text, no tool calls, no finish reason, no usage (and,
        # with a list of choices, not an error event): its one `TextDelta`, or none for "".
        choice = choices[0]
        delta = choice.get("delta") if type(choice) is dict else None
        if (
            type(delta) is dict
            and type(content := delta.get("content")) is str
            and delta.get("tool_calls") is None
            and choice.get("finish_reason") is None
            and type(payload.get("usage")) is not dict
        ):
            if not content:
                return []
            completion_id = payload.get("id")
            if type(completion_id) is not str:
                completion_id = None
            return [TextDelta(content, completion_id)]
    return _payload_events(payload, number)


def _payload_events(payload: dict[str, Any], number: int) -> list[Event]:
    """The events of a parsed chunk, every field looked at: errors name the field (their
    where-strings are built only when one is raised)."""
    choices = payload.get("choices")
    # Error events have no `choices` (docs/protocol.md#in-band-errors): look at them before touching
    # choices.
    if payload.get("type") == "error" or (
        choices is None and isinstance(payload.get("error"), dict)
    ):
        return [_error_event(payload)]
    if choices is None:
        choices = []
    elif not isinstance(choices, list):
        raise _wrong_type(number, "choices", "an array", choices)

    completion_id = payload.get("id")
    if not isinstance(completion_id, str):
        completion_id = None
    texts: list[Event] = []
    tools: list[Event] = []
    finishes: list[Event] = []
    for position, choice in enumerate(choices):
        if not isinstance(choice, dict):
            raise _wrong_type(number, _field(position), "an object", choice)
        delta = choice.get("delta")
        if delta is not None:
            if not isinstance(delta, dict):
                raise _wrong_type(number, _field(position, ".delta"), "an object", delta)
            content = delta.get("content")
            if content is not None:
                if not isinstance(content, str):
                    where = _field(position, ".delta.content")
                    raise _wrong_type(number, where, "a string", content)
                if content:
                    texts.append(TextDelta(content, completion_id))
            calls = delta.get("tool_calls")
            if calls is not None:
                if not isinstance(calls, list):
                    where = _field(position, ".delta.tool_calls")
                    raise _wrong_type(number, where, "an array", calls)
                for call_position, call in enumerate(calls):
                    event = _tool_event(call, number, position, call_position)
                    if event is not None:
                        tools.append(event)
        reason = choice.get("finish_reason")
        if reason is not None:
            if not isinstance(reason, str):
                where = _field(position, ".finish_reason")
                raise _wrong_type(number, where, "a string", reason)
            finishes.append(Finished(reason))

    events = texts + tools + finishes
    usage = payload.get("usage")
    if isinstance(usage, dict):
        events.append(UsageReport(usage))
    return events


def _tool_event(call: Any, number: int, position: int, call_position: int) -> Event | None:
    """One `_meili*` tool call (the `call_position`-th of the `position`-th choice), parsed on
    its own: these are never split or merged by index."""
    if not isinstance(call, dict):
        raise _wrong_type(number, _call_where(position, call_position), "an object", call)
    function = call.get("function")
    if not isinstance(function, dict):
        return None
    name = function.get("name")
    if name not in DECLARED_TOOLS:
        return None  # the provider's own tools never reach the client; ignore anything else
    raw = function.get("arguments")
    if not isinstance(raw, str):
        where = f"{_call_where(position, call_position)}.function.arguments"
        raise _wrong_type(number, where, "a string", raw)
    try:
        arguments = _parse(raw)
    except (ValueError, RecursionError):
        arguments = None
    if not isinstance(arguments, dict):
        raise ProtocolError(
            f"Malformed event #{number} from server: unreadable {name} arguments: {_excerpt(raw)}"
        )

    if name == APPEND_TOOL:
        return ConversationMessage(arguments)
    call_id = _optional_text(arguments.get("call_id")) or ""
    if name == SOURCES_TOOL:
        sources = _first_present(arguments, SOURCES_ARGUMENT_NAMES)
        documents = (
            [doc for doc in sources if isinstance(doc, dict)] if isinstance(sources, list) else []
        )
        return SearchSources(call_id, documents)
    return _search_progress(call_id, _first_present(arguments, PROGRESS_ARGUMENT_NAMES))


def _call_where(position: int, call_position: int) -> str:
    return _field(position, f".delta.tool_calls[{call_position}]")


def _first_present(arguments: dict[str, Any], names: tuple[str, ...]) -> Any:
    """The value under the first of `names` present (servers use the first name, Meilisearch's
    public docs the second: a proxy or a future server following the docs still works)."""
    for name in names:
        if name in arguments:
            return arguments[name]
    return None


def _search_progress(call_id: str, function_arguments: Any) -> SearchProgress:
    """`function_arguments` is the model's own argument string: it may be anything."""
    parsed: Any = None
    if isinstance(function_arguments, str):
        raw = function_arguments
        try:
            parsed = _parse(raw)
        except (ValueError, RecursionError):
            parsed = None
    elif isinstance(function_arguments, dict):
        parsed = function_arguments
        raw = json.dumps(function_arguments, ensure_ascii=False)
    else:
        raw = ""
    if not isinstance(parsed, dict):
        parsed = {}
    return SearchProgress(
        call_id=call_id,
        index_uid=_optional_text(parsed.get("index_uid")),
        q=_optional_text(parsed.get("q")),
        filter=_optional_text(parsed.get("filter")),
        arguments=raw,
    )


def _error_event(payload: dict[str, Any]) -> ErrorEvent:
    error = payload.get("error")
    if isinstance(error, str):
        error = {"message": error}
    elif not isinstance(error, dict):
        error = {}
    message = _optional_text(error.get("message"))
    if message is None:
        message = _optional_text(payload.get("message"))
    return ErrorEvent(
        type=_optional_text(error.get("type")) or "unknown",
        code=_optional_text(error.get("code")),
        message=message or "",
        param=_optional_text(error.get("param")),
    )


def _parse(text: str) -> Any:
    """`json.loads(text)`, with lone surrogates (only a `\\uD8xx`-style escape makes them)
    replaced: the one parse of a chunk, of a tool's arguments, of an escaped string.

    The scanner reads the value from the first character; only when it does not read the
    whole text (whitespace around the value, extra data, no value at all) does `json.loads`
    read it again, for its answer or its error. An error the scanner raises is the one
    `json.loads` would raise: the value starts at the first character for both."""
    try:
        value, end = _scan_once(text, 0)
    except StopIteration:
        end = -1
    if end != len(text):
        value = json.loads(text)
    if "\\u" in text and ("\\ud" in text or "\\uD" in text):
        value = _without_surrogates(value)
    return value


@functools.cache
def _text_chunk() -> Callable[[str], re.Match[str] | None]:
    """`_TEXT_CHUNK`'s `fullmatch`, compiled by the first event (after the request is out,
    not while the command starts). Possessive quantifiers need Python 3.11: without them the
    pattern could backtrack, so on 3.10 nothing matches and chunks go to `_decode_general`."""
    # An if/else, not an early return: mypy checks one branch per target version, and a
    # statement after the `if` would be unreachable when it checks for 3.11 and later.
    if sys.version_info >= (3, 11):
        return re.compile(_TEXT_CHUNK).fullmatch
    else:  # pragma: no cover - Python 3.10 only
        return _no_match


def _no_match(data: str) -> None:
    return None


def _json_string(literal: str) -> str:
    """The text of a JSON string literal that `_JSON_STRING` matched."""
    if "\\" not in literal:
        return literal[1:-1]
    text: str = _parse(literal)
    return text


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        # A valid pair was already joined by json.loads, so any surrogate left is lone.
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    return value


def _optional_text(value: Any) -> str | None:
    """A string field that may be missing; a number or array (a filter array, say) as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _field(position: int, path: str = "") -> str:
    """Where in a chunk a wrong value is, for its error: `path` inside the `position`-th choice
    (built when an error is raised, not for every choice)."""
    return f"choices[{position}]{path}"


def _wrong_type(number: int, where: str, expected: str, value: Any) -> ProtocolError:
    return ProtocolError(
        f"Malformed event #{number} from server: `{where}` should be {expected}, "
        f"got {_json_type(value)}"
    )


def _excerpt(text: str) -> str:
    # Cut before sanitizing: the payload can be megabytes long.
    return cut(sanitize_line(text[: EXCERPT_CHARS * 2]), EXCERPT_CHARS)
