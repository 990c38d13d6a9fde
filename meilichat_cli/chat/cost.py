"""What a turn cost: an estimate of the tokens it sent to the model and received from it.

Meilisearch counts tokens only on the server (its Prometheus counters); the stream seldom
carries `usage`. So each turn gets an estimate, split the way people ask about it:

* sent: `question` (this turn's new messages), `history` (the earlier conversation the request
  replays), `tool_results` (what Meilisearch's searches fed the model: the tool calls and
  results of `_meiliAppendConversationMessage`);
* received: `answer` (the assistant's text).

The estimator is the text's characters divided by CHARS_PER_TOKEN, plus MESSAGE_OVERHEAD
tokens per message (role and separators), rounded up; on English prose and JSON it lands
within ERROR_BAND (±30 %) of OpenAI's tokenizers. It is a floor of what the provider bills:
every extra round of tool calls sends the conversation again, and the workspace's system
prompt and tool descriptions are added by Meilisearch. When the optional `tiktoken` package
is installed (`pip install 'meilichat[tokens]'`) and its encoding loads, counts are exact for
that encoding (`method` says which) and `error_band` is 0.

Never imported on the start-up path; `tiktoken` is imported only when a count is wanted.
Stdlib and `protocol` only; never prints.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from meilichat_cli.protocol.conversation import Message, Turn

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 4
ERROR_BAND = 0.3
ESTIMATE_METHOD = "chars/4"
TIKTOKEN_ENCODING = "o200k_base"

Counter = Callable[[str], int]


def _chars(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@lru_cache(maxsize=1)
def _tiktoken() -> tuple[str, Counter] | None:
    try:
        import tiktoken  # type: ignore[import-not-found,unused-ignore]

        encoding = tiktoken.get_encoding(TIKTOKEN_ENCODING)
    except Exception:  # not installed, or its encoding file cannot be fetched offline
        return None

    def count(text: str) -> int:
        return len(encoding.encode(text, disallowed_special=()))

    return f"tiktoken:{TIKTOKEN_ENCODING}", count


def counter() -> tuple[str, Counter, bool]:
    """(method, count function, exact) — tiktoken when it works, else chars/4."""
    exact = _tiktoken()
    if exact is not None:
        return exact[0], exact[1], True
    return ESTIMATE_METHOD, _chars, False


def message_text(message: Message) -> str:
    """The text of a message a tokenizer would see: content, tool calls, tool results."""
    parts: list[str] = []
    content = message.get("content")
    if isinstance(content, str):
        parts.append(content)
    elif isinstance(content, list):
        for piece in content:
            if isinstance(piece, dict) and isinstance(piece.get("text"), str):
                parts.append(piece["text"])
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                parts.append(str(function.get("name") or ""))
                arguments = function.get("arguments")
                parts.append(
                    arguments if isinstance(arguments, str) else json.dumps(arguments or "")
                )
    return "\n".join(parts)


def count_messages(messages: Sequence[Message], count: Counter) -> int:
    return sum(count(message_text(message)) + MESSAGE_OVERHEAD for message in messages)


def estimate_turn(
    history: Sequence[Message], new_messages: Sequence[Message], turn: Turn
) -> dict[str, Any]:
    """The token estimate of one turn (the `estimate` field of `--json`)."""
    method, count, exact = counter()
    question = count_messages(new_messages, count)
    replayed = count_messages(history, count)
    tools = count_messages(turn.tool_messages, count)
    answer = count(turn.answer) + (MESSAGE_OVERHEAD if turn.answer else 0)
    sent = question + replayed + tools
    return {
        "method": method,
        "exact": exact,
        "error_band": 0.0 if exact else ERROR_BAND,
        "sent": {
            "question": question,
            "history": replayed,
            "tool_results": tools,
            "total": sent,
        },
        "received": {"answer": answer, "total": answer},
        "total": sent + answer,
    }


def turn_total(estimate: Any) -> int:
    """The `total` of a stored estimate; 0 when there is none (turns saved before)."""
    if isinstance(estimate, dict):
        total = estimate.get("total")
        if isinstance(total, int) and not isinstance(total, bool):
            return total
    return 0
