"""The stand-in server's completion stream, byte for byte against docs/protocol.md#the-stream."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from standin_http import Client, ask_body, tool_calls

from meilichat_cli.protocol.events import APPEND_TOOL, PROGRESS_TOOL, SOURCES_TOOL
from meilichat_cli.standin import StandInServer

MASTER = "stream-master-key-0123456789"

TOP_KEYS = [
    "id",
    "choices",
    "created",
    "model",
    "service_tier",
    "system_fingerprint",
    "object",
    "usage",
]
CHOICE_KEYS = ["index", "delta", "finish_reason", "logprobs"]
DELTA_KEYS = ["content", "function_call", "tool_calls", "role", "refusal"]
TOOL_CALL_KEYS = ["index", "id", "type", "function"]
ERROR_KEYS = ["event_id", "type", "error"]
ERROR_INNER_KEYS = ["type", "code", "message", "param", "event_id"]
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")


@pytest.fixture(scope="module")
def server() -> Iterator[StandInServer]:
    with StandInServer(master_key=MASTER) as srv:
        yield srv


@pytest.fixture
def client(server: StandInServer) -> Iterator[Client]:
    c = Client(server.url, server.chat_key)
    yield c
    c.close()


def test_normal_stream_headers_and_framing(client: Client) -> None:
    reply = client.call("POST", "/chats/demo/chat/completions", ask_body())
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/event-stream"
    assert reply.headers["content-encoding"] == "identity"
    assert reply.headers["cache-control"] == "no-cache"
    assert reply.headers["x-accel-buffering"] == "no"
    assert reply.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in reply.headers
    assert reply.raw.startswith(b"retry: 10000\n\ndata: {")
    assert reply.raw.endswith(b"data: [DONE]\n\n")
    frames = reply.frames()
    assert frames[-1] == "[DONE]" and frames.count("[DONE]") == 1
    for payload in frames[:-1]:
        # Compact serde output: re-serializing compactly gives the same text.
        assert json.dumps(json.loads(payload), separators=(",", ":"), ensure_ascii=False) == payload


def test_every_chunk_has_every_key_in_order(client: Client) -> None:
    events = client.call("POST", "/chats/demo/chat/completions", ask_body()).events()
    for event in events[:-1]:
        assert list(event) == TOP_KEYS
        assert event["object"] == "chat.completion.chunk"
        assert event["usage"] is None
        assert event["service_tier"] == "default"
        assert event["model"] == "gpt-4o-mini-2024-07-18"
        (choice,) = event["choices"]
        assert list(choice) == CHOICE_KEYS
        assert list(choice["delta"]) == DELTA_KEYS
        for call in choice["delta"]["tool_calls"] or []:
            assert list(call) == TOOL_CALL_KEYS
            assert list(call["function"]) == ["name", "arguments"]
            assert call["index"] == 0 and UUID_RE.match(call["id"])


def test_round_structure_matches_the_composed_example(client: Client) -> None:
    events = client.call("POST", "/chats/demo/chat/completions", ask_body()).events()[:-1]
    ids = list(dict.fromkeys(e["id"] for e in events))
    assert len(ids) == 2, "a search round and an answer round"
    first = [e for e in events if e["id"] == ids[0]]
    second = [e for e in events if e["id"] == ids[1]]
    assert first[0]["choices"][0]["delta"]["role"] == "assistant"
    assert first[0]["choices"][0]["delta"]["content"] == ""
    assert first[1]["choices"][0]["delta"]["content"].startswith("I'll search for")
    names = [name for name, _ in tool_calls(first)]
    assert names == [PROGRESS_TOOL, APPEND_TOOL, SOURCES_TOOL, APPEND_TOOL]
    assert second[0]["choices"][0]["delta"] == {
        "content": "",
        "function_call": None,
        "tool_calls": None,
        "role": "assistant",
        "refusal": None,
    }
    assert second[-1]["choices"][0]["finish_reason"] == "stop"
    assert set(second[-1]["choices"][0]["delta"].values()) == {None}
    middle = second[1:-1]
    assert len(middle) > 5
    assert all(0 < len(e["choices"][0]["delta"]["content"]) <= 12 for e in middle)
