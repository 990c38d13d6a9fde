"""The completions request body as serde would parse it (docs/protocol.md#the-completions-request),
and the tool rules.

Meilisearch parses the body with serde into OpenAI's request type: required `model` and
`messages`, typed known fields, unknown fields ignored; a shape error is a 400 `bad_request`
whose message starts `Json deserialize error:`. serde reports the line/column where it
noticed the problem: right after a value of the wrong type, after the `}` of an object that
lacks a field (or of a message: the tagged message enum is read whole first). `Spans` finds
those places in the raw body.

Stdlib only; imports `server.apierror` and `protocol.events` (tool names).
"""

from __future__ import annotations

import json
from typing import Any

from meilichat_cli.protocol.events import DECLARED_TOOLS
from meilichat_cli.standin.apierror import MeiliError, bad_request
from meilichat_cli.standin.deserr import serde_invalid_type

ROLES = ("developer", "system", "user", "assistant", "tool", "function")
SEARCH_TOOL = "_meiliSearchInIndex"


class Spans:
    """Where each JSON value of a body ends (a byte offset just past it), by path."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.ends: dict[tuple[str | int, ...], int] = {}
        self.starts: dict[tuple[str | int, ...], int] = {}
        self.key_ends: dict[tuple[str | int, ...], int] = {}  # just past a member's name
        self.starts[()] = self._skip(0)
        try:
            end = self._value(self.starts[()], ())
        except (IndexError, ValueError):
            end = len(raw.rstrip())
        self.ends[()] = end

    def _skip(self, at: int) -> int:
        while at < len(self.raw) and self.raw[at] in b" \t\r\n":
            at += 1
        return at

    def _value(self, at: int, path: tuple[str | int, ...]) -> int:
        char = self.raw[at : at + 1]
        if char == b"{":
            at = self._skip(at + 1)
            while self.raw[at : at + 1] != b"}":
                key_end = self._string(at)
                key = json.loads(self.raw[at:key_end])
                at = self._skip(self._skip(key_end) + 1)  # the colon
                child: tuple[str | int, ...] = (*path, key)
                self.key_ends[child] = key_end
                self.starts[child] = at
                end = self._value(at, child)
                self.ends[child] = end
                at = self._skip(end)
                if self.raw[at : at + 1] == b",":
                    at = self._skip(at + 1)
            return at + 1
        if char == b"[":
            at = self._skip(at + 1)
            position = 0
            while self.raw[at : at + 1] != b"]":
                item: tuple[str | int, ...] = (*path, position)
                self.starts[item] = at
                end = self._value(at, item)
                self.ends[item] = end
                position += 1
                at = self._skip(end)
                if self.raw[at : at + 1] == b",":
                    at = self._skip(at + 1)
            return at + 1
        if char == b'"':
            return self._string(at)
        while at < len(self.raw) and self.raw[at : at + 1] not in (b",", b"}", b"]", b" ", b"\n"):
            at += 1
        return at

    def _string(self, at: int) -> int:
        at += 1
        while self.raw[at : at + 1] != b'"':
            at += 2 if self.raw[at : at + 1] == b"\\" else 1
        return at + 1

    def where(self, path: tuple[str | int, ...]) -> str:
        """serde's `at line L column C` for the end of the value at `path`."""
        return self.at(self.ends.get(path, self.ends[()]))

    def at(self, offset: int) -> str:
        """serde's `at line L column C` for a parser standing before byte `offset`."""
        line = self.raw.count(b"\n", 0, offset) + 1
        column = offset - (self.raw.rfind(b"\n", 0, offset) + 1)
        return f"at line {line} column {column}"

    def blanks_after(self, offset: int) -> int:
        """`offset` moved past JSON whitespace."""
        return self._skip(offset)


class _Checker:
    def __init__(self, raw: bytes) -> None:
        self.spans = Spans(raw)

    def fail(self, detail: str, path: tuple[str | int, ...] = ()) -> MeiliError:
        return bad_request(f"Json deserialize error: {detail} {self.spans.where(path)}")

    def type_of(self, value: Any, expected: str, path: tuple[str | int, ...] = ()) -> MeiliError:
        return self.fail(serde_invalid_type(value, expected), path)

    def scalar_type_of(self, value: Any, expected: str, path: tuple[str | int, ...]) -> MeiliError:
        """serde_json asked for a scalar: it reads a wrong scalar whole, but stops at the
        `[` or `{` of a list or an object, so the position is where that starts."""
        detail = serde_invalid_type(value, expected)
        if isinstance(value, (list, dict)):
            start = self.spans.starts.get(path, 0)
            return bad_request(f"Json deserialize error: {detail} {self.spans.at(start)}")
        return self.fail(detail, path)


# The typed OpenAI fields of `CreateChatCompletionRequest` (the async-openai types vendored in
# Meilisearch, external-crates/async-openai/src/types/chat.rs) with scalar types: serde checks
# them even though Meilisearch only passes them on. null is None for each.
_FLOATS = ("frequency_penalty", "presence_penalty", "temperature", "top_p")  # f32
_UNSIGNED = {
    "n": ("u8", 255),
    "top_logprobs": ("u8", 255),
    "max_tokens": ("u32", 2**32 - 1),
    "max_completion_tokens": ("u32", 2**32 - 1),
}
_BOOLEANS = ("store", "logprobs", "parallel_tool_calls", "stream")
_STRINGS = ("user",)


def _check_typed_field(check: _Checker, name: str, value: Any) -> None:
    if value is None:
        return
    path = (name,)
    if name in _FLOATS and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise check.scalar_type_of(value, "f32", path)
    if name in _UNSIGNED or name == "seed":
        kind, top = _UNSIGNED.get(name, ("i64", 2**63 - 1))
        low = -(2**63) if kind == "i64" else 0
        if isinstance(value, bool) or not isinstance(value, int):
            raise check.scalar_type_of(value, kind, path)
        if not low <= value <= top:
            # serde's integer visitors: out of range is `invalid value`, not `invalid type`.
            raise check.fail(f"invalid value: integer `{value}`, expected {kind}", path)
    if name in _BOOLEANS and not isinstance(value, bool):
        raise check.scalar_type_of(value, "a boolean", path)
    if name in _STRINGS and not isinstance(value, str):
        raise check.scalar_type_of(value, "a string", path)


def check_request(body: Any, raw: bytes) -> None:
    """Raise the 400 Meilisearch's extractor would raise for this body's shape. serde reads
    the fields in the order they come and reports the first problem; a missing `messages`
    or `model` only once the object is read (in that order, the order of the type)."""
    check = _Checker(raw)
    if not isinstance(body, dict):
        raise check.type_of(body, "struct CreateChatCompletionRequest")
    for name, value in body.items():
        path = (name,)
        if name == "model" and not isinstance(value, str):
            raise check.scalar_type_of(value, "a string", path)
        if name == "messages":
            if not isinstance(value, list):
                raise check.scalar_type_of(value, "a sequence", path)
            for position, message in enumerate(value):
                _check_message(check, message, ("messages", position))
        if name == "tools" and value is not None:
            if not isinstance(value, list):
                raise check.scalar_type_of(value, "a sequence", path)
            for position, tool in enumerate(value):
                _check_tool(check, tool, ("tools", position))
        _check_typed_field(check, name, value)
    for name in ("messages", "model"):
        if name not in body:
            raise check.fail(f"missing field `{name}`")


def _check_message(check: _Checker, message: Any, path: tuple[str | int, ...]) -> None:
    """The message enum is internally tagged: serde reads the whole object first, so every
    problem inside it is reported at its end."""

    def fail(detail: str) -> MeiliError:
        return check.fail(detail, path)

    if not isinstance(message, dict):
        raise check.type_of(message, "internally tagged enum ChatCompletionRequestMessage", path)
    role = message.get("role")
    if role is None:
        raise fail("missing field `role`")
    if role not in ROLES:
        expected = ", ".join(f"`{r}`" for r in ROLES)
        raise fail(f"unknown variant `{role}`, expected one of {expected}")
    content = message.get("content")
    if role in ("developer", "system", "user", "tool", "function") and "content" not in message:
        raise fail("missing field `content`")
    if content is not None and not isinstance(content, (str, list)):
        raise check.type_of(content, "a string or an array of content parts", path)
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise fail("missing field `tool_call_id`")
    calls = message.get("tool_calls")
    if role == "assistant" and calls is not None:
        if not isinstance(calls, list):
            raise check.type_of(calls, "a sequence", path)
        for call in calls:
            if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
                raise fail("missing field `function`")
            if not isinstance(call.get("id"), str):
                raise fail("missing field `id`")


def _check_tool(check: _Checker, tool: Any, path: tuple[str | int, ...]) -> None:
    if not isinstance(tool, dict):
        raise check.type_of(tool, "struct ChatCompletionTool", path)
    if tool.get("type", "function") != "function":
        raise check.fail(f"unknown variant `{tool['type']}`, expected `function`", (*path, "type"))
    function = tool.get("function")
    if function is not None and not isinstance(function, dict):
        raise check.type_of(function, "struct FunctionObject", (*path, "function"))
    if isinstance(function, dict) and not isinstance(function.get("name"), str):
        raise check.fail("missing field `name`", (*path, "function"))
    if "type" not in tool:
        raise check.fail("missing field `type`", path)
    if function is None:
        raise check.fail("missing field `function`", path)


def check_choices(body: dict[str, Any]) -> None:
    """`n` must be 1 (or absent)."""
    n = body.get("n")
    if n is not None and n != 1:
        raise MeiliError(
            501,
            "unimplemented_multi_choice_chat_completions",
            f"You tried to specify n = {n} but only single choices are supported (n = 1).",
        )


def declared_tools(body: dict[str, Any]) -> set[str]:
    """The `_meili*` tools the client declared; raise for anything else
    (docs/protocol.md#the-completions-request)."""
    declared: set[str] = set()
    for tool in body.get("tools") or []:
        name = tool["function"]["name"]
        if name in DECLARED_TOOLS:
            declared.add(name)
        elif name == SEARCH_TOOL:
            raise bad_request(f"{SEARCH_TOOL} function is already defined.")
        else:
            raise MeiliError(
                501,
                "unimplemented_external_function_calling",
                f"{name}: External functions are not supported yet.",
            )
    return declared
