"""Chat-completion chunks and SSE frames, byte for byte as Meilisearch sends them
(docs/protocol.md#the-stream).

Every chunk is built as a dict in Meilisearch's key order with every key present (nulls
included) and serialized compactly with `ensure_ascii=False`; every SSE event is exactly
`data: <payload>\\n\\n`, and a stream starts with `retry: 10000\\n\\n`.

Stdlib only; imports nothing from meilichat_cli.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

RETRY_PREAMBLE = b"retry: 10000\n\n"
DONE_FRAME = b"data: [DONE]\n\n"
SEARCH_TOOL = "_meiliSearchInIndex"

# Provider-side model names the fake provider "resolves" to, like OpenAI does.
RESOLVED_MODELS = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
}


def compact_json(value: Any) -> str:
    """serde_json's compact output: no spaces, non-ASCII kept as is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def frame(payload: dict[str, Any] | str) -> bytes:
    """One SSE event: a single `data:` line and a blank line."""
    text = payload if isinstance(payload, str) else compact_json(payload)
    return b"data: " + text.encode("utf-8", "surrogatepass") + b"\n\n"


def _delta(
    content: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    role: str | None = None,
) -> dict[str, Any]:
    return {
        "content": content,
        "function_call": None,
        "tool_calls": tool_calls,
        "role": role,
        "refusal": None,
    }


@dataclass(frozen=True)
class Round:
    """One provider response: the chunk id and `created` all its chunks share."""

    id: str
    created: int


class ChunkFactory:
    """Builds the chunks of one stream for one provider (`source`) and model."""

    def __init__(self, model: str, source: str) -> None:
        self.model = RESOLVED_MODELS.get(model, model)
        openai_like = source in ("openAi", "azureOpenAi")
        # Mistral and vLLM leave these null (docs/protocol.md#chunk-shape).
        self.service_tier = "default" if openai_like else None
        self.fingerprint = "fp_" + uuid.uuid4().hex[:10] if openai_like else None

    def new_round(self) -> Round:
        return Round(id="chatcmpl-" + uuid.uuid4().hex[:24], created=int(time.time()))

    def chunk(
        self,
        round_: Round,
        delta: dict[str, Any],
        finish_reason: str | None = None,
        usage: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {
            "id": round_.id,
            "choices": [
                {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
            ],
            "created": round_.created,
            "model": self.model,
            "service_tier": self.service_tier,
            "system_fingerprint": self.fingerprint,
            "object": "chat.completion.chunk",
            "usage": usage,
        }

    def role(self, round_: Round) -> dict[str, Any]:
        return self.chunk(round_, _delta(content="", role="assistant"))

    def content(self, round_: Round, text: str) -> dict[str, Any]:
        return self.chunk(round_, _delta(content=text))

    def finish(
        self, round_: Round, reason: str = "stop", usage: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return self.chunk(round_, _delta(), finish_reason=reason, usage=usage)

    def tool(self, round_: Round, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """A synthesized `_meili*` chunk: complete arguments, index 0, a fresh UUID id."""
        call = {
            "index": 0,
            "id": str(uuid.uuid4()),
            "type": "function",
            "function": {"name": name, "arguments": compact_json(arguments)},
        }
        return self.chunk(round_, _delta(tool_calls=[call], role="assistant"))


def search_arguments(index_uid: str, q: str, filter_expr: str | None) -> str:
    """The argument string the model writes for `_meiliSearchInIndex` (no `filter` before
    Meilisearch 1.16: pass None)."""
    if filter_expr is None:
        return compact_json({"index_uid": index_uid, "q": q})
    return compact_json({"index_uid": index_uid, "q": q, "filter": filter_expr})


def progress_arguments(call_id: str, arguments: str) -> dict[str, Any]:
    return {"call_id": call_id, "function_name": SEARCH_TOOL, "function_arguments": arguments}


def assistant_call_message(call_id: str, arguments: str) -> dict[str, Any]:
    return {
        "role": "assistant",
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": SEARCH_TOOL, "arguments": arguments},
            }
        ],
    }


def tool_result_message(call_id: str, content: str) -> dict[str, Any]:
    return {"role": "tool", "content": content, "tool_call_id": call_id}


def sources_arguments(call_id: str, documents: list[dict[str, Any]]) -> dict[str, Any]:
    return {"call_id": call_id, "sources": documents}


def error_payload(
    error_type: str, code: str | None, message: str, param: str | None = None
) -> dict[str, Any]:
    """An in-band error event (docs/protocol.md#in-band-errors): no `choices`, keys in Meilisearch's
    order."""
    return {
        "event_id": str(uuid.uuid4()),
        "type": "error",
        "error": {
            "type": error_type,
            "code": code,
            "message": message,
            "param": param,
            "event_id": None,
        },
    }


def new_call_id() -> str:
    """An OpenAI-style tool-call id."""
    return "call_" + uuid.uuid4().hex[:24]
