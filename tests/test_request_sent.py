"""The "request sent" signal: the client says when the question has reached the wire, so the
terminal renderer is imported while the server works, and never while the request goes out."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from meilichat_cli.api.client import MeiliClient
from meilichat_cli.protocol.conversation import build_request
from meilichat_cli.protocol.events import TextDelta
from tests.conftest import local_connection
from tests.inprocess import string_context
from tests.network_doubles import ScriptedServer, http_response

BODY = build_request("gpt-4o-mini", [{"role": "user", "content": "hi"}])
ANSWER = (
    b"retry: 10000\n\n"
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{"content":"hello"},"finish_reason":null}]}\n\n'
    b"data: [DONE]\n\n"
)


def test_on_sent_fires_once_the_request_is_out_and_before_the_server_answers() -> None:
    sent = threading.Event()
    # For each request: had the client said "sent" by the time the server had read it all?
    told_before_answer: list[bool] = []

    def response() -> Iterator[bytes]:
        told_before_answer.append(sent.wait(10))
        yield from http_response("200 OK", {"Content-Type": "text/event-stream"}, [ANSWER])

    calls: list[str] = []

    def on_sent() -> None:
        calls.append("sent")
        sent.set()

    with ScriptedServer(response) as server, MeiliClient(local_connection(server.url)) as client:
        events = list(client.stream_chat("movies", BODY, on_sent=on_sent))
    assert told_before_answer == [True]
    assert calls == ["sent"]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["hello"]


def test_on_sent_fires_once_even_when_the_transport_reports_no_steps() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=ANSWER)

    calls: list[str] = []
    client = MeiliClient(
        local_connection("http://127.0.0.1:7700"), transport=httpx.MockTransport(handler)
    )
    with client:
        stream = client.stream_chat("movies", BODY, on_sent=lambda: calls.append("sent"))
        assert calls == ["sent"]  # before the first event is read
        list(stream)
    assert calls == ["sent"]


def test_on_sent_fires_once_across_retries() -> None:
    answers = iter(
        [
            httpx.Response(503, json={"message": "busy", "code": "x"}),
            httpx.Response(200, headers={"content-type": "text/event-stream"}, content=ANSWER),
        ]
    )
    calls: list[str] = []
    client = MeiliClient(
        local_connection("http://127.0.0.1:7700"),
        transport=httpx.MockTransport(lambda request: next(answers)),
        sleep=lambda _seconds: None,
    )
    with client:
        list(client.stream_chat("movies", BODY, on_sent=lambda: calls.append("sent")))
    assert calls == ["sent"]


def test_the_terminal_renderer_is_imported_only_once_the_request_is_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from meilichat_cli.ui import output as output_module

    imported = threading.Event()
    monkeypatch.setattr(output_module, "_import_renderer", lambda **_: imported.set())
    context = string_context(
        environ={"TERM": "xterm-256color"}, stdout_isatty=True, stderr_isatty=True
    )
    output = output_module.TerminalOutput(context)
    output.before_request("gpt-4o-mini")
    # Nothing competes with the request for the interpreter while it goes out.
    assert not imported.wait(0.2)
    output.request_sent()
    assert imported.wait(10)
    output.cancel()


@pytest.mark.parametrize("owns_process", [True, False])
def test_the_loaded_libraries_are_frozen_out_of_the_collector_only_in_our_own_process(
    monkeypatch: pytest.MonkeyPatch, owns_process: bool
) -> None:
    import gc

    from meilichat_cli.ui import output as output_module

    frozen: list[bool] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    output_module._freeze_loaded_libraries.cache_clear()
    context = string_context(
        environ={"TERM": "xterm-256color"}, stdout_isatty=True, stderr_isatty=True
    )
    context.owns_process = owns_process
    for _turn in range(2):  # the REPL makes one output per turn: frozen once, at the first
        output = output_module.TerminalOutput(context)
        output.before_request("gpt-4o-mini")
        output.request_sent()
        output.on_event(TextDelta("hello"))
        output.cancel()
    assert frozen == ([True] if owns_process else [])
