"""The path every event of an answer takes, from the body to the output: the shortcuts that
keep it cheap give the same result as the general code, and the work per event is counted
(each delta sanitized once, one clock read per network chunk)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import httpx
import hypothesis_profiles  # noqa: F401 - loads the shared hypothesis profile
import pytest
from hypothesis import given
from hypothesis import strategies as st

import meilichat_cli.chat.turn as turn_module
from meilichat_cli.api.client import ChatStream, MeiliClient
from meilichat_cli.chat.turn import run_turn
from meilichat_cli.protocol.events import Event, SearchProgress, TextDelta
from meilichat_cli.text.json_text import json_text
from meilichat_cli.ui.output import EventsOutput, PlainOutput, TerminalOutput
from tests.conftest import local_connection
from tests.inprocess import string_context


def text_chunk(text: str) -> bytes:
    """One of Meilisearch's text chunks, as it writes it."""
    payload = {
        "id": "chatcmpl-1",
        "choices": [
            {
                "index": 0,
                "delta": {
                    "content": text,
                    "function_call": None,
                    "tool_calls": None,
                    "role": None,
                    "refusal": None,
                },
                "finish_reason": None,
                "logprobs": None,
            }
        ],
        "created": 1750000000,
        "model": "m",
        "service_tier": "default",
        "system_fingerprint": "fp",
        "object": "chat.completion.chunk",
        "usage": None,
    }
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


STOP = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
DONE = b"data: [DONE]\n\n"


def client_for(pieces: list[bytes]) -> MeiliClient:
    """A client whose server answers with `pieces`, each its own network chunk."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=iter(pieces)
        )

    return MeiliClient(
        local_connection("http://127.0.0.1:7700"), transport=httpx.MockTransport(handler)
    )


def turn_with(pieces: list[bytes], on_event: Callable[[Event], None]) -> Any:
    with client_for(pieces) as client:
        return run_turn(
            client,
            workspace="movies",
            model="m",
            history=[],
            new_messages=[{"role": "user", "content": "q"}],
            on_event=on_event,
        )


# -- the turn ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["abcd", "é€😀x", "\ufffdab"])
def test_the_answer_cap_counts_utf8_bytes_whatever_the_text(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    size = len(text.encode("utf-8", "surrogatepass"))
    monkeypatch.setattr(turn_module, "MAX_ANSWER_BYTES", 3 * size)
    kept = turn_with([text_chunk(text)] * 3 + [STOP, DONE], lambda event: None)
    assert outcome_text(kept) == text * 3 and kept.error is None
    monkeypatch.setattr(turn_module, "MAX_ANSWER_BYTES", 3 * size - 1)
    cut = turn_with([text_chunk(text)] * 3 + [STOP, DONE], lambda event: None)
    assert outcome_text(cut) == text * 2
    assert cut.error is not None and "answer exceeds" in cut.error.message


def outcome_text(outcome: Any) -> str:
    answer: str = outcome.turn.answer
    return answer


def test_every_event_reaches_the_output_and_the_turn_in_order() -> None:
    seen: list[Event] = []
    outcome = turn_with([text_chunk("a"), text_chunk(""), text_chunk("b"), STOP, DONE], seen.append)
    assert [type(event).__name__ for event in seen] == [
        "TextDelta",
        "TextDelta",
        "Finished",
        "Done",
    ]
    assert outcome.turn.answer == "ab" and outcome.turn.finish_reason == "stop"
    assert outcome.timings["first_token_ms"] is not None


# -- the stream -------------------------------------------------------------------------------


def test_the_clock_is_read_once_per_network_chunk_not_per_event() -> None:
    reads: list[float] = []

    def clock() -> float:
        reads.append(0.0)
        return 0.0

    body = b"".join(text_chunk(str(n)) for n in range(50))
    response = httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=iter([body, STOP + DONE])
    )
    events = list(ChatStream(response, 120.0, clock=clock))
    assert len(events) == 52
    assert len(reads) == 1 + 1  # the start, the first chunk; [DONE] ends the loop


# -- the outputs ------------------------------------------------------------------------------


@given(st.text(min_size=1))
def test_property_a_delta_line_is_the_json_line_of_the_delta_event(text: str) -> None:
    stdout = io.StringIO()
    EventsOutput(stdout).on_event(TextDelta(text, "c"))
    assert stdout.getvalue() == json_text({"event": "delta", "text": text}, line=True)


def counting_sanitize(monkeypatch: pytest.MonkeyPatch, *modules: str) -> list[str]:
    """Count the calls of `sanitize` made through the names `modules` imported."""
    import importlib

    from meilichat_cli.text.sanitize import sanitize

    calls: list[str] = []

    def counted(text: str) -> str:
        calls.append(text)
        return sanitize(text)

    for name in modules:
        monkeypatch.setattr(importlib.import_module(name), "sanitize", counted)
    return calls


def terminal_output() -> tuple[TerminalOutput, io.StringIO]:
    stdout = io.StringIO()
    environ = {"TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    ctx = string_context(environ=environ, stdout=stdout, stdout_isatty=True)
    return TerminalOutput(ctx, show_sources=False), stdout


def test_a_terminal_answer_sanitizes_each_delta_once(monkeypatch: pytest.MonkeyPatch) -> None:
    output, _stdout = terminal_output()
    calls = counting_sanitize(monkeypatch, "meilichat_cli.ui.output", "meilichat_cli.ui.stream")
    output.on_event(SearchProgress("c1", "movies", "space", None, "{}"))
    for number in range(100):
        output.on_event(TextDelta(f"word{number} "))
    output.stream.finish()
    # The first text once more: it decides whether the status goes (see the next test).
    assert len(calls) == 100 + 1


def status_of(output: TerminalOutput) -> str | None:
    status: str | None = output.stream._status
    return status


def test_a_delta_that_sanitizes_to_nothing_leaves_the_status_up() -> None:
    output, stdout = terminal_output()
    output.on_event(SearchProgress("c1", "movies", "space", None, "{}"))
    output.on_event(TextDelta("\x1b\x07"))
    assert status_of(output) is not None
    output.on_event(TextDelta("Dune\x1b]0;x\x07"))
    assert status_of(output) is None
    output.stream.finish()
    assert "\x1b]" not in stdout.getvalue() and "\x07" not in stdout.getvalue()
    assert "Dune]0;x" in stdout.getvalue()


def test_plain_output_writes_each_sanitized_delta_and_flushes_it() -> None:
    flushed: list[str] = []

    class Recording(io.StringIO):
        def flush(self) -> None:
            flushed.append(self.getvalue())

    ctx = string_context(stdout=Recording())
    output = PlainOutput(ctx)
    for text in ["Du", "ne\x1b[2J", "\x07", " (1965)"]:
        output.on_event(TextDelta(text))
    assert flushed == ["Du", "Dune[2J", "Dune[2J (1965)"]


def has_stream(output: TerminalOutput) -> bool:
    return output._stream is not None


def test_a_first_delta_that_sanitizes_to_nothing_starts_no_live_region() -> None:
    output, stdout = terminal_output()
    output.on_event(TextDelta("\x1b\x07\x9b"))
    assert not has_stream(output)
    assert stdout.getvalue() == ""
    output.on_event(TextDelta("Dune"))
    assert has_stream(output)
    output.stream.finish()
    assert "Dune" in stdout.getvalue()
