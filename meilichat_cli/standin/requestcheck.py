"""The completions request body as serde would parse it (docs/protocol.md#the-completions-request),
and the tool rules.

Meilisearch parses the body with serde into OpenAI's request type: required `model` and
`messages`, typed known fields, unknown fields ignored; a shape error is a 400 `bad_request`
whose message starts `Json deserialize error:`. serde reports line/column positions; this
module reports the position of the end of the body, which is where serde notices a missing
field.

Stdlib only; imports `server.apierror` and `protocol.events` (tool names).
"""

from __future__ import annotations

from typing import Any

from meilichat_cli.protocol.events import DECLARED_TOOLS
from meilichat_cli.standin.apierror import MeiliError, bad_request

ROLES = ("developer", "system", "user", "assistant", "tool", "function")
SEARCH_TOOL = "_meiliSearchInIndex"


def _position(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").rstrip()
    line = text.count("\n") + 1
    column = len(text) - (text.rfind("\n") + 1)
    return f"at line {line} column {column}"


def serde_unexpected(value: Any) -> str:
    """serde's description of an unexpected value (`string "x"`, `integer `1``...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value}`"
    if isinstance(value, str):
        return f'string "{value}"'
    if isinstance(value, list):
        return "sequence"
    return "map"


class _Checker:
    def __init__(self, raw: bytes) -> None:
        self.where = _position(raw)

    def fail(self, detail: str) -> MeiliError:
        return bad_request(f"Json deserialize error: {detail} {self.where}")

    def type_of(self, value: Any, expected: str) -> MeiliError:
        return self.fail(f"invalid type: {serde_unexpected(value)}, expected {expected}")


def check_request(body: Any, raw: bytes) -> None:
    """Raise the 400 Meilisearch's extractor would raise for this body's shape."""
    check = _Checker(raw)
    if not isinstance(body, dict):
        raise check.type_of(body, "struct CreateChatCompletionRequest")
    for name in ("messages", "model"):
        if name not in body:
            raise check.fail(f"missing field `{name}`")
    if not isinstance(body["model"], str):
        raise check.type_of(body["model"], "a string")
    if not isinstance(body["messages"], list):
        raise check.type_of(body["messages"], "a sequence")
    for message in body["messages"]:
        _check_message(check, message)
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise check.type_of(stream, "a boolean")
    n = body.get("n")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 255):
        raise check.type_of(n, "u8")
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise check.type_of(tools, "a sequence")
        for tool in tools:
            _check_tool(check, tool)


def _check_message(check: _Checker, message: Any) -> None:
    if not isinstance(message, dict):
        raise check.type_of(message, "internally tagged enum ChatCompletionRequestMessage")
    role = message.get("role")
    if role is None:
        raise check.fail("missing field `role`")
    if role not in ROLES:
        expected = ", ".join(f"`{r}`" for r in ROLES)
        raise check.fail(f"unknown variant `{role}`, expected one of {expected}")
    content = message.get("content")
    if role in ("developer", "system", "user", "tool", "function") and "content" not in message:
        raise check.fail("missing field `content`")
    if content is not None and not isinstance(content, (str, list)):
        raise check.type_of(content, "a string or an array of content parts")
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise check.fail("missing field `tool_call_id`")
    calls = message.get("tool_calls")
    if role == "assistant" and calls is not None:
        if not isinstance(calls, list):
            raise check.type_of(calls, "a sequence")
        for call in calls:
            if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
                raise check.fail("missing field `function`")
            if not isinstance(call.get("id"), str):
                raise check.fail("missing field `id`")


def _check_tool(check: _Checker, tool: Any) -> None:
    if not isinstance(tool, dict):
        raise check.type_of(tool, "struct ChatCompletionTool")
    if "type" not in tool:
        raise check.fail("missing field `type`")
    if tool["type"] != "function":
        raise check.fail(f"unknown variant `{tool['type']}`, expected `function`")
    function = tool.get("function")
    if not isinstance(function, dict):
        raise check.fail("missing field `function`")
    if not isinstance(function.get("name"), str):
        raise check.fail("missing field `name`")


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
