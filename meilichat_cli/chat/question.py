"""Questions given as JSON: parse one object, check its shape, and name the bad field.

Shared by `ask --input json` (one object on stdin) and `batch` (one object per line). A
question is

    {"prompt": "…"}                                  a new question, or
    {"messages": [{"role": "user", "content": "…"}, …]}   a conversation to continue, or both
                                                     (the prompt is appended as a user message)

with optional `workspace`, `model`, `system`, and, for batches, `id` (string or integer) and
`expect` (the primary keys, or `index_uid:id`, the answer should be grounded on).

Every problem raises `UsageError` whose message names the field by its path
(`input.messages[2].content must be a string or an array of content parts`), so that nothing
is sent when the input is wrong. Stdlib only, no I/O beyond the stream handed in; imports
`errors`, `settings` (workspace names) and the protocol types.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, TextIO

from meilichat_cli.errors import UsageError
from meilichat_cli.protocol.conversation import Message

# Larger inputs are refused before anything is sent (the same cap as a piped `ask` prompt).
MAX_INPUT_BYTES = 2 * 1024 * 1024

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
QUESTION_FIELDS = ("prompt", "messages", "workspace", "model", "system")
BATCH_FIELDS = ("id", "expect", "expect_index")


@dataclass(frozen=True)
class Expected:
    """One document a good answer should be grounded on; `index_uid` None matches any index."""

    key: str
    index_uid: str | None = None

    def __str__(self) -> str:
        return self.key if self.index_uid is None else f"{self.index_uid}:{self.key}"


@dataclass(frozen=True)
class Question:
    """A validated question, ready to be turned into request messages."""

    prompt: str | None = None
    messages: list[Message] = field(default_factory=list)
    workspace: str | None = None
    model: str | None = None
    system: str | None = None
    id: str | int | None = None
    expect: tuple[Expected, ...] | None = None
    expect_index: tuple[str, ...] | None = None  # the index(es) the searches should go to

    def new_messages(self, system: str | None = None) -> list[Message]:
        """What this question adds to the request: a system message (the input's own, else
        `system`), the conversation given, then the prompt as a user message."""
        wanted = self.system if self.system is not None else system
        messages: list[Message] = []
        if wanted:
            messages.append({"role": "system", "content": wanted})
        messages.extend(self.messages)
        if self.prompt is not None:
            messages.append({"role": "user", "content": self.prompt})
        return messages

    @property
    def text(self) -> str:
        """The question as a person would quote it (history titles, progress lines)."""
        if self.prompt is not None:
            return self.prompt
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return content_text(message.get("content"))
        return ""


def content_text(content: Any) -> str:
    """A message content's text: the string, or the text parts of an array joined by spaces."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def read_question(stream: TextIO, *, where: str = "input") -> Question:
    """Read the whole stream as one JSON object and validate it (`ask --input json`). A
    leading UTF-8 BOM is dropped, as in a batch file."""
    text = stream.read(MAX_INPUT_BYTES + 1).removeprefix("\ufeff")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_INPUT_BYTES:
        raise UsageError(
            f"{where} is larger than the {MAX_INPUT_BYTES // (1024 * 1024)} MiB limit",
            hint="send a shorter conversation",
        )
    if not text.strip():
        raise UsageError(
            f"{where} is empty: --input json reads one JSON object from stdin",
            hint='echo \'{"prompt": "which space movies do you have?"}\' | meilichat ask '
            "--input json",
        )
    return parse_question(decode_json(text, where=where), where=where)


def decode_json(text: str, *, where: str) -> Any:
    """`json.loads` with an error that says where the JSON broke."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(
            f"{where} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from error
    except RecursionError:
        raise UsageError(
            f"{where} is nested too deeply to read", hint="send a flatter JSON object"
        ) from None
    except ValueError as error:  # an integer of more than 4300 digits
        raise UsageError(
            f"{where} is not usable JSON: {str(error).split(';')[0]}",
            hint="ids are strings or ordinary integers",
        ) from None


def parse_question(value: Any, *, where: str = "input") -> Question:
    """Check one decoded question object.

    `ask` accepts `id` and `expect` too (so a line of a batch file can be replayed with
    `ask --input json`), checks them, and ignores them."""
    if not isinstance(value, dict):
        raise UsageError(f"{where} must be a JSON object, not {_json_type(value)}")
    known = (*QUESTION_FIELDS, *BATCH_FIELDS)
    for name in value:
        if name not in known:
            raise UsageError(
                f"{where}.{name} is not a known field (known: {', '.join(known)})",
            )
    prompt = _optional_text(value, "prompt", where)
    if prompt is not None and not prompt.strip():
        raise UsageError(f"{where}.prompt is empty")
    messages = _messages(value, where, needs_question=prompt is None)
    if prompt is None and not messages:
        raise UsageError(f"{where} needs a `prompt` (string) or a `messages` array")
    workspace = _optional_text(value, "workspace", where)
    if workspace is not None:
        from meilichat_cli.local.connection import validate_workspace

        try:
            validate_workspace(workspace)
        except UsageError as error:
            raise UsageError(f"{where}.workspace: {error.message}") from error
    model = _optional_text(value, "model", where)
    if model is not None and not model.strip():
        raise UsageError(f"{where}.model is empty")
    return Question(
        prompt=prompt,
        messages=messages,
        workspace=workspace,
        model=model,
        system=_optional_text(value, "system", where),
        id=_identifier(value, where),
        expect=_expectations(value, where),
        expect_index=_expected_indexes(value, where),
    )


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


def _optional_text(value: dict[str, Any], name: str, where: str) -> str | None:
    if name not in value or value[name] is None:
        return None
    text = value[name]
    if not isinstance(text, str):
        raise UsageError(f"{where}.{name} must be a string, not {_json_type(text)}")
    return text


def _identifier(value: dict[str, Any], where: str) -> str | int | None:
    if "id" not in value or value["id"] is None:
        return None
    ident = value["id"]
    if isinstance(ident, bool) or not isinstance(ident, (str, int)):
        raise UsageError(f"{where}.id must be a string or an integer, not {_json_type(ident)}")
    return ident


def _expected_indexes(value: dict[str, Any], where: str) -> tuple[str, ...] | None:
    """`expect_index`: an index uid, or an array of them (any of which is right)."""
    raw = value.get("expect_index")
    if raw is None:
        return None
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not names:
        raise UsageError(f"{where}.expect_index must be an index uid or a non-empty array of them")
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise UsageError(f"{where}.expect_index must hold index uids (non-empty strings)")
    return tuple(names)


def _expectations(value: dict[str, Any], where: str) -> tuple[Expected, ...] | None:
    if "expect" not in value or value["expect"] is None:
        return None
    raw = value["expect"]
    if not isinstance(raw, list):
        raise UsageError(
            f'{where}.expect must be an array of primary keys (or "index_uid:id" strings), '
            f"not {_json_type(raw)}"
        )
    if not raw:
        raise UsageError(
            f"{where}.expect is empty; leave it out when no particular document is expected"
        )
    found: list[Expected] = []
    for number, item in enumerate(raw):
        path = f"{where}.expect[{number}]"
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise UsageError(f"{path} must be a string or an integer, not {_json_type(item)}")
        if isinstance(item, int):
            expected = Expected(str(item))
        else:
            # Index uids and primary keys never hold ':' in Meilisearch, so one split is exact.
            index_uid, colon, key = item.partition(":")
            expected = Expected(key, index_uid) if colon else Expected(item)
            if not expected.key or (colon and not index_uid):
                raise UsageError(f'{path} must be "id" or "index_uid:id", not {item!r}')
        if expected not in found:
            found.append(expected)
    return tuple(found)


def _messages(value: dict[str, Any], where: str, *, needs_question: bool) -> list[Message]:
    if "messages" not in value or value["messages"] is None:
        return []
    raw = value["messages"]
    if not isinstance(raw, list):
        raise UsageError(f"{where}.messages must be an array, not {_json_type(raw)}")
    if not raw:
        raise UsageError(f"{where}.messages is empty")
    messages = [_message(item, f"{where}.messages[{n}]") for n, item in enumerate(raw)]
    if needs_question and messages[-1]["role"] != "user":
        raise UsageError(
            f"{where}.messages must end with a user message (the question to answer), "
            f"not {messages[-1]['role']!r}",
            hint="or give the new question as `prompt`: it is appended after the messages",
        )
    return messages


def _message(item: Any, path: str) -> Message:
    if not isinstance(item, dict):
        raise UsageError(f"{path} must be an object, not {_json_type(item)}")
    role = item.get("role")
    if not isinstance(role, str):
        raise UsageError(f"{path}.role must be a string (one of {', '.join(ROLES)})")
    if role not in ROLES:
        raise UsageError(f"{path}.role {role!r} is not one of {', '.join(ROLES)}")
    content = item.get("content")
    if role == "assistant":
        if content is not None:
            _check_content(content, f"{path}.content")
        calls = item.get("tool_calls")
        if calls is not None:
            _check_tool_calls(calls, f"{path}.tool_calls")
        if content is None and not calls:
            raise UsageError(f"{path} (assistant) needs `content` or `tool_calls`")
        return dict(item)
    if role == "function":
        if content is not None and not isinstance(content, str):
            raise UsageError(f"{path}.content must be a string or null")
        if not isinstance(item.get("name"), str):
            raise UsageError(f"{path}.name must be a string")
        return dict(item)
    if "content" not in item:
        raise UsageError(f"{path}.content is missing (a {role} message needs it)")
    _check_content(content, f"{path}.content")
    if role == "tool" and not isinstance(item.get("tool_call_id"), str):
        raise UsageError(f"{path}.tool_call_id must be a string (a tool message needs it)")
    return dict(item)


def _check_content(content: Any, path: str) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise UsageError(
            f"{path} must be a string or an array of content parts, not {_json_type(content)}"
        )
    for number, part in enumerate(content):
        where = f"{path}[{number}]"
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise UsageError(f'{where} must be a content part object with a "type"')
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            raise UsageError(f"{where}.text must be a string")


def _check_tool_calls(calls: Any, path: str) -> None:
    if not isinstance(calls, list):
        raise UsageError(f"{path} must be an array, not {_json_type(calls)}")
    for number, call in enumerate(calls):
        where = f"{path}[{number}]"
        if not isinstance(call, dict):
            raise UsageError(f"{where} must be an object")
        if not isinstance(call.get("id"), str):
            raise UsageError(f"{where}.id must be a string")
        function = call.get("function")
        if not isinstance(function, dict):
            raise UsageError(f"{where}.function must be an object")
        for name in ("name", "arguments"):
            if not isinstance(function.get(name), str):
                raise UsageError(f"{where}.function.{name} must be a string")
