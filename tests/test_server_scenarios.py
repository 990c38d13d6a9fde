"""Fault-injection scenarios of the stand-in server: each one at least once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from standin_http import Client, RawStream, answer_text, ask_body, raw_stream, tool_calls

from meilichat_cli.protocol.events import SOURCES_TOOL
from meilichat_cli.standin import StandInServer

MASTER = "scenario-master-key-0123456789"
PATH = "/chats/demo/chat/completions"


@pytest.fixture(scope="module")
def server() -> Iterator[StandInServer]:
    with StandInServer(master_key=MASTER) as srv:
        yield srv


def run(
    server: StandInServer, scenario: str, question: str = "space movies", **extra: Any
) -> RawStream:
    return raw_stream(
        server.url + PATH,
        ask_body(question, model=f"scenario:{scenario}", **extra),
        server.chat_key,
    )


def payloads(body: bytes) -> list[Any]:
    text = body.decode("utf-8")
    assert text.startswith("retry: 10000\n\n")
    out: list[Any] = []
    for block in text[len("retry: 10000\n\n") :].split("\n\n"):
        if block.startswith("data: "):
            data = block[len("data: ") :]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


def answer_round(events: list[Any]) -> list[dict[str, Any]]:
    chunks = [e for e in events if isinstance(e, dict) and "choices" in e]
    last_id = chunks[-1]["id"]
    return [e for e in chunks if e["id"] == last_id]


def content_deltas(events: list[Any]) -> list[str]:
    return [
        e["choices"][0]["delta"]["content"]
        for e in answer_round(events)[1:]
        if e["choices"]
        and e["choices"][0]["delta"]
        and e["choices"][0]["delta"]["content"] is not None
    ]


# -- before the stream -------------------------------------------------------------------------


def test_http_502_html_page(server: StandInServer) -> None:
    reply = run(server, "http-502")
    assert reply.status == 502 and reply.headers["content-type"] == "text/html"
    assert b"<script>" in reply.body and b"\x1b" in reply.body and b"Bad Gateway" in reply.body


def test_html_200_captive_portal(server: StandInServer) -> None:
    reply = run(server, "html-200")
    assert reply.status == 200 and reply.headers["content-type"] == "text/html"
    assert b"<html>" in reply.body


def test_redirect_to_https(server: StandInServer) -> None:
    reply = run(server, "redirect")
    assert reply.status == 301
    assert reply.headers["location"].startswith("https://") and reply.headers["location"].endswith(
        PATH
    )


def test_unavailable_then_ok_counts_per_server() -> None:
    with StandInServer(master_key=MASTER) as srv:
        body = ask_body(model="scenario:unavailable-then-ok?times=2")
        c = Client(srv.url, srv.chat_key)
        for _ in range(2):
            reply = c.call("POST", PATH, body)
            assert reply.status == 503 and reply.headers["retry-after"] == "10"
            assert (
                reply.json["code"] == "too_many_search_requests" and reply.json["type"] == "system"
            )
        assert c.call("POST", PATH, body).status == 200


def test_stall_headers_then_close(server: StandInServer) -> None:
    started = time.monotonic()
    reply = run(server, "stall-headers?seconds=0.3")
    assert time.monotonic() - started >= 0.3
    assert reply.status == 0 and isinstance(reply.error, ConnectionError)


def test_payload_limit_is_actix_json_limit() -> None:
    # Meilisearch's JSON bodies go through actix's `JsonConfig::limit`: a Content-Length
    # above it is `OverflowKnownLength`, which Meilisearch's `PayloadError` leaves to its
    # catch-all `internal` code (a 500); a chunked body that grows past it is `Overflow`,
    # its 413 `payload_too_large` (crates/meilisearch/src/error.rs).
    import http.client

    with StandInServer(master_key=MASTER, scenario="payload-limit?bytes=1000") as srv:
        body = json.dumps(ask_body("x" * 2000)).encode()
        reply = Client(srv.url, srv.chat_key).call("POST", PATH, raw=body)
        assert reply.status == 500
        assert reply.json == {
            "message": f"JSON payload ({len(body)} bytes) is larger than allowed (limit: 1000 "
            "bytes).",
            "code": "internal",
            "type": "internal",
            "link": "https://docs.meilisearch.com/errors#internal",
        }
        assert srv.recorded[-1].path == PATH and srv.recorded[-1].raw == b""
        host, port = srv.url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request(
            "POST",
            PATH,
            body=iter([body[:600], body[600:]]),
            headers={"Authorization": f"Bearer {srv.chat_key}", "Content-Type": "application/json"},
            encode_chunked=True,
        )
        chunked = conn.getresponse()
        assert chunked.status == 413
        assert (
            json.loads(chunked.read())["message"] == "JSON payload has exceeded limit (1000 bytes)."
        )
        conn.close()
        assert Client(srv.url, srv.chat_key).call("POST", PATH, ask_body()).status == 200


# -- in-band errors ----------------------------------------------------------------------------


def test_provider_error_at_the_start(server: StandInServer) -> None:
    events = payloads(run(server, "provider-error").body)
    assert len(events) == 2 and events[1] == "[DONE]"
    assert (
        events[0]["error"]["type"] == "invalid_request_error"
        and events[0]["error"]["code"] == "invalid_api_key"
    )


def test_provider_error_mid_answer(server: StandInServer) -> None:
    reply = run(server, "provider-error?after=2&type=server_error&code=&message=upstream%20died")
    events = payloads(reply.body)
    assert reply.clean_end and events[-1] == "[DONE]"
    assert events[-2]["error"] == {
        "type": "server_error",
        "code": None,
        "message": "upstream died",
        "param": None,
        "event_id": None,
    }
    assert len(content_deltas(events[:-2])) == 2


def test_search_error_then_retry_then_answer(server: StandInServer) -> None:
    events = payloads(run(server, "search-error").body)
    errors = [e for e in events if isinstance(e, dict) and e.get("type") == "error"]
    assert len(errors) == 1 and errors[0]["error"]["type"] == "response_error"
    assert errors[0]["error"]["code"] == "invalid_search_filter"
    ids = list(dict.fromkeys(e["id"] for e in events if isinstance(e, dict) and "id" in e))
    assert len(ids) == 3, "search round, retry round, answer round"
    results = [a for n, a in tool_calls(events) if a.get("role") == "tool"]
    assert results[0]["content"].startswith("the search tool call failed with ")
    assert events[-1] == "[DONE]"
    assert answer_round(events)[-1]["choices"][0]["finish_reason"] == "stop"


def test_search_error_with_another_code(server: StandInServer) -> None:
    events = payloads(run(server, "search-error?code=too_many_search_requests").body)
    codes = [e["error"]["code"] for e in events if isinstance(e, dict) and e.get("type") == "error"]
    assert codes == ["too_many_search_requests"]


def test_unknown_scenario_is_an_unknown_model(server: StandInServer) -> None:
    events = payloads(run(server, "no-such-thing").body)
    assert events[0]["error"]["code"] == "model_not_found" and events[1] == "[DONE]"


# -- endings -----------------------------------------------------------------------------------


def test_cut_ends_cleanly_without_finish_or_done(server: StandInServer) -> None:
    reply = run(server, "cut?after=3")
    assert reply.clean_end and reply.error is None
    events = payloads(reply.body)
    assert "[DONE]" not in events
    assert all(e["choices"][0]["finish_reason"] is None for e in events)
    assert len(content_deltas(events)) == 3


def test_no_done_has_a_finish_chunk(server: StandInServer) -> None:
    reply = run(server, "no-done")
    events = payloads(reply.body)
    assert reply.clean_end and "[DONE]" not in events
    assert events[-1]["choices"][0]["finish_reason"] == "stop"


def test_reset_mid_answer(server: StandInServer) -> None:
    reply = run(server, "reset?after=2")
    assert not reply.clean_end
    assert reply.error is None or isinstance(reply.error, ConnectionResetError)


def test_stall_then_close(server: StandInServer) -> None:
    reply = run(server, "stall?after=1&seconds=0.3")
    assert not reply.clean_end
    assert reply.ended - reply.chunks[-1][0] >= 0.29, "silence after the last data, then close"
    assert len(content_deltas(payloads(reply.body + b"\n\n"))) == 1
    assert b"[DONE]" not in reply.body
    # A client with a shorter read timeout sees a timeout instead.
    short = raw_stream(
        server.url + PATH,
        ask_body(model="scenario:stall?after=1&seconds=1"),
        server.chat_key,
        timeout=0.2,
    )
    assert isinstance(short.error, TimeoutError)


def test_huge_line_is_never_finished(server: StandInServer) -> None:
    reply = run(server, "huge-line?mib=1")
    assert not reply.clean_end
    tail = reply.body.rsplit(b"\n\n", 1)[1]
    assert tail.startswith(b'data: {"id":') and len(tail) >= 1024 * 1024 and b"\n" not in tail


def test_malformed_line_then_close(server: StandInServer) -> None:
    reply = run(server, "malformed?after=1")
    assert not reply.clean_end
    assert reply.body.endswith(b'data: {"choices":[\n\n')


# -- pacing ------------------------------------------------------------------------------------


def test_first_delay_before_anything_after_retry(server: StandInServer) -> None:
    reply = run(server, "first-delay?ms=250")
    assert reply.chunks[0][1] == b"retry: 10000\n\n"
    assert reply.chunks[1][0] - reply.chunks[0][0] >= 0.24
    assert payloads(reply.body)[-1] == "[DONE]"


def test_drip_spaces_the_deltas(server: StandInServer) -> None:
    reply = run(server, "drip?interval=0.02", "movies about Mars potatoes")
    deltas = content_deltas(payloads(reply.body))
    assert reply.chunks[-1][0] - reply.started >= (len(deltas) - 1) * 0.02


def test_paced_long_answer(server: StandInServer) -> None:
    reply = run(server, "paced?rate=200&tokens=40")
    deltas = content_deltas(payloads(reply.body))
    assert len(deltas) == 40
    assert reply.chunks[-1][0] - reply.started >= 39 / 200


def test_token_delay_of_the_constructor() -> None:
    with StandInServer(master_key=MASTER, token_delay=0.01) as srv:
        reply = raw_stream(srv.url + PATH, ask_body("movies about Mars potatoes"), srv.chat_key)
        deltas = content_deltas(payloads(reply.body))
        assert reply.chunks[-1][0] - reply.started >= len(deltas) * 0.01 * 0.9


def test_flood_of_tiny_deltas(server: StandInServer) -> None:
    deltas = content_deltas(payloads(run(server, "flood?events=5000").body))
    assert len(deltas) == 5000 and all(len(d) == 1 for d in deltas)


def test_long_markdown_answer_is_deterministic(server: StandInServer) -> None:
    first = content_deltas(payloads(run(server, "long?tokens=300").body))
    second = content_deltas(payloads(run(server, "long?tokens=300").body))
    assert len(first) == 300 and first == second
    text = "".join(first)
    for marker in ("## 1. Section 1", "```python", "| key | value |", "- first point", "**bold**"):
        assert marker in text


def test_long_answer_is_a_paragraph_apart_from_the_preface(server: StandInServer) -> None:
    events = payloads(run(server, "long?tokens=20").body)
    text = "".join(
        e["choices"][0]["delta"]["content"] or ""
        for e in events
        if isinstance(e, dict) and e["choices"] and e["choices"][0]["delta"]
    )
    assert " now.\n\n## 1. Section 1" in text


# -- content -----------------------------------------------------------------------------------


def test_escapes_in_content_and_sources(server: StandInServer) -> None:
    events = payloads(run(server, "escapes").body)
    text = "".join(content_deltas(events))
    needles = ("\x1b]52;c;", "\x1b]8;;", "\x1b[2J", "\x9b2J", "safe\rrm -rf ~", "[/bold]", "\x7f")
    for needle in needles:
        assert needle in text
    deltas = content_deltas(events)
    assert "\x1b" in deltas, "an escape sequence split across two deltas"
    sources = next(a for n, a in tool_calls(events) if n == SOURCES_TOOL)["sources"]
    assert "\x1b]52" in sources[0]["title"]


def test_length_finish_reason(server: StandInServer) -> None:
    events = payloads(run(server, "length").body)
    assert events[-1] == "[DONE]"
    assert answer_round(events)[-1]["choices"][0]["finish_reason"] == "length"


def test_usage_on_the_finish_chunk(server: StandInServer) -> None:
    events = payloads(run(server, "usage").body)
    usage = answer_round(events)[-1]["usage"]
    assert set(usage) == {"prompt_tokens", "completion_tokens", "total_tokens"}


def test_tool_first_has_no_first_round_text(server: StandInServer) -> None:
    events = payloads(run(server, "tool-first").body)
    assert events[0]["choices"][0]["delta"]["tool_calls"], "the first event is a _meili* chunk"
    assert len({e["id"] for e in events if isinstance(e, dict)}) == 2


def test_no_search(server: StandInServer) -> None:
    events = payloads(run(server, "no-search").body)
    assert not tool_calls(events) and events[-1] == "[DONE]"


def test_max_rounds(server: StandInServer) -> None:
    events = payloads(run(server, "max-rounds").body)
    ids = {e["id"] for e in events if isinstance(e, dict)}
    assert len(ids) == 20 and events[-1] == "[DONE]"
    assert all(e["choices"][0]["finish_reason"] is None for e in events if isinstance(e, dict))


def test_wrong_shape_chunks(server: StandInServer) -> None:
    events = payloads(run(server, "wrong-shape").body)
    assert any(e["choices"] == [] for e in events if isinstance(e, dict))
    assert any(
        e["choices"] and e["choices"][0]["delta"] is None for e in events if isinstance(e, dict)
    )
    events = payloads(run(server, "wrong-shape?kind=number-content").body)
    assert any(e["choices"][0]["delta"]["content"] == 42 for e in events if isinstance(e, dict))


def test_lone_surrogate_and_invalid_utf8(server: StandInServer) -> None:
    assert b'"content":"\\ud800"' in run(server, "lone-surrogate").body
    raw = run(server, "invalid-utf8").body
    assert b"\xff\xfe" in raw and raw.endswith(b"data: [DONE]\n\n")


# -- framing -----------------------------------------------------------------------------------


def test_comments_between_events(server: StandInServer) -> None:
    body = run(server, "comments").body
    assert b"\n\n: ping\n\nevent: ping\n\ndata: " in body
    assert body.endswith(b"data: [DONE]\n\n")


def test_crlf_line_endings(server: StandInServer) -> None:
    body = run(server, "crlf").body
    assert body.startswith(b"retry: 10000\r\n\r\ndata: ")
    assert b"\n" not in body.replace(b"\r\n", b"")


def test_split_utf8_sends_one_byte_per_chunk(server: StandInServer) -> None:
    reply = run(server, "split-utf8")
    assert all(len(data) == 1 for _, data in reply.chunks)
    assert "“" in reply.body.decode("utf-8"), "multi-byte characters were split across chunks"
    assert payloads(reply.body)[-1] == "[DONE]"


def test_bom_before_retry(server: StandInServer) -> None:
    body = run(server, "bom").body
    assert body.startswith(b"\xef\xbb\xbfretry: 10000\n\n")


def test_cr_tight_and_latin1_framing(server: StandInServer) -> None:
    body = run(server, "cr").body
    assert b"\n" not in body and body.startswith(b"retry: 10000\r\rdata: ")
    body = run(server, "tight").body
    assert b"data: " not in body and body.endswith(b"data:[DONE]\n\n")
    reply = run(server, "latin1")
    assert reply.headers["content-type"] == "text/event-stream; charset=latin-1"
    assert "“" in reply.body.decode("utf-8")


def test_framing_flags_combine_with_a_behaviour(server: StandInServer) -> None:
    reply = run(server, "crlf+split-utf8+cut?after=2")
    assert reply.clean_end and all(len(data) == 1 for _, data in reply.chunks)
    text = reply.body.replace(b"\r\n", b"\n")
    assert b"\r" not in text and b"[DONE]" not in text
    assert len(content_deltas(payloads(text))) == 2
    events = payloads(run(server, "length+tool-first").body)
    assert events[0]["error"]["code"] == "model_not_found", "two behaviours at once"


# -- selection and observation -----------------------------------------------------------------


def test_constructor_scenario_applies_unless_the_model_names_one() -> None:
    with StandInServer(master_key=MASTER, scenario="length") as srv:
        c = Client(srv.url, srv.chat_key)
        events = c.call("POST", PATH, ask_body()).events()
        assert events[-2]["choices"][0]["finish_reason"] == "length"
        events = c.call("POST", PATH, ask_body(model="scenario:usage")).events()
        assert events[-2]["choices"][0]["finish_reason"] == "stop" and events[-2]["usage"]


def test_disconnects_are_counted_and_close_is_prompt() -> None:
    import socket

    srv = StandInServer(master_key=MASTER).start()
    body = json.dumps(ask_body(model="scenario:paced?rate=50&tokens=1000")).encode()
    sock = socket.create_connection(("127.0.0.1", int(srv.url.rsplit(":", 1)[1])))
    sock.sendall(
        b"POST "
        + PATH.encode()
        + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {srv.chat_key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    sock.recv(4096)
    deadline = time.monotonic() + 5
    while srv.stats.open_streams == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert srv.stats.open_streams == 1
    sock.close()
    while srv.stats.disconnects == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert srv.stats.disconnects == 1 and srv.stats.open_streams == 0
    # A stalled stream does not hold up close().
    stalled = socket.create_connection(("127.0.0.1", int(srv.url.rsplit(":", 1)[1])))
    body = json.dumps(ask_body(model="scenario:stall?after=0&seconds=30")).encode()
    stalled.sendall(
        b"POST "
        + PATH.encode()
        + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {srv.chat_key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    stalled.recv(4096)
    started = time.monotonic()
    srv.close()
    assert time.monotonic() - started < 2
    stalled.close()


def test_answer_text_helper_sees_the_stream(server: StandInServer) -> None:
    c = Client(server.url, server.chat_key)
    assert "Here " in answer_text(c.call("POST", PATH, ask_body()).events())


def test_a_flood_is_not_paced_by_the_servers_token_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    # `demo --serve` streams with a token delay (0.015 s); a flood paced by it would take
    # minutes instead of arriving as fast as the socket allows. Pauses are recorded, not slept.
    from meilichat_cli.standin import completions

    pauses: list[float] = []
    monkeypatch.setattr(
        completions.CompletionStream, "pause", lambda self, seconds: pauses.append(seconds)
    )
    with StandInServer(master_key=MASTER, token_delay=0.5) as paced:
        deltas = content_deltas(payloads(run(paced, "flood?events=200").body))
    assert len(deltas) == 200
    assert sum(1 for seconds in pauses if seconds > 0) < 10, pauses


def test_the_default_body_limit_is_100_mb_in_decimal_units() -> None:
    # `--http-payload-size-limit` defaults to "100 MB", which byte_unit reads as 10^8 bytes
    # (crates/meilisearch/src/option.rs). The body is refused from its Content-Length alone.
    import socket

    with StandInServer(master_key=MASTER) as srv:
        host, port = srv.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                f"POST {PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {srv.chat_key}\r\n"
                "Content-Type: application/json\r\nContent-Length: 100000001\r\n\r\n".encode()
            )
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                piece = sock.recv(65536)
                if not piece:
                    break
                answer += piece
        assert answer.startswith(b"HTTP/1.1 500 ")
        assert (
            b"JSON payload (100000001 bytes) is larger than allowed (limit: 100000000 bytes)."
            in (answer)
        )


@pytest.mark.parametrize(("version", "body_first"), [("1.17", True), ("1.50", False)])
def test_a_too_large_body_and_a_bad_key(version: str, body_first: bool) -> None:
    # The size is the JSON extractor's check: reported after authentication wherever
    # Meilisearch's `SeqHandler` orders the extractors (settings, keys, and completions from
    # 1.38), and before a key that needs looking up on the completions of 1.15.1-1.37.
    scenario = "payload-limit?bytes=100"
    with StandInServer(master_key=MASTER, scenario=scenario, version=version) as srv:
        big = json.dumps(ask_body("x" * 500)).encode()
        reply = Client(srv.url, "wrong").call("POST", PATH, raw=big)
        assert reply.status == (500 if body_first else 403), reply.raw
        reply = Client(srv.url, "wrong").call("PATCH", "/chats/demo/settings", raw=big)
        assert reply.status == 403, reply.raw
        reply = Client(srv.url, MASTER).call("PATCH", "/chats/demo/settings", raw=big)
        assert reply.status == 500 and reply.json["code"] == "internal"
