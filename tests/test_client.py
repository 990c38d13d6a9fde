"""Unit tests of the HTTP client against httpx.MockTransport: headers, error mapping, retries,
redirects and stream endings."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from meilichat_cli.api.client import PLACEHOLDER_TOKEN, MeiliClient
from meilichat_cli.errors import (
    ApiError,
    AuthError,
    ExitCode,
    NetworkError,
    NotFoundError,
    StreamError,
    TimeoutError_,
    UsageError,
)
from meilichat_cli.local.connection import Connection
from meilichat_cli.protocol.conversation import build_request
from meilichat_cli.protocol.events import Done, TextDelta

FIXTURES = Path(__file__).parent / "fixtures"
SSE = {"content-type": "text/event-stream"}


def connection(api_key: str | None = "secret-key", profile: str | None = "local") -> Connection:
    return Connection(
        profile=profile,
        url="http://127.0.0.1:7700",
        api_key=api_key,
        api_key_source="test",
        workspace="movies",
        model="gpt-4o-mini",
    )


def make_client(
    handler: Callable[[httpx.Request], httpx.Response], **kwargs: object
) -> MeiliClient:
    return MeiliClient(
        kwargs.pop("conn", connection()),  # type: ignore[arg-type]
        transport=httpx.MockTransport(handler),
        sleep=lambda _seconds: None,
        **kwargs,  # type: ignore[arg-type]
    )


def meili_error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={
            "message": message,
            "code": code,
            "type": "invalid_request",
            "link": f"https://docs.meilisearch.com/errors#{code}",
        },
    )


def collect(client: MeiliClient) -> list[object]:
    return list(
        client.stream_chat("movies", build_request("m", [{"role": "user", "content": "hi"}]))
    )


def stream_body(*payloads: str) -> bytes:
    return b"retry: 10000\n\n" + b"".join(f"data: {p}\n\n".encode() for p in payloads)


def chunk(content: str | None, finish: str | None = None) -> str:
    return json.dumps(
        {
            "id": "c1",
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": content, "role": None},
                    "finish_reason": finish,
                    "logprobs": None,
                }
            ],
        }
    )


def test_sends_bearer_key_and_the_three_tools() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers=SSE, content=stream_body(chunk("hi"), "[DONE]"))

    events = collect(make_client(handler))
    assert seen[0].headers["authorization"] == "Bearer secret-key"
    assert seen[0].url.path == "/chats/movies/chat/completions"
    body = json.loads(seen[0].content)
    assert body["stream"] is True
    assert [t["function"]["name"] for t in body["tools"]] == [
        "_meiliSearchProgress",
        "_meiliSearchSources",
        "_meiliAppendConversationMessage",
    ]
    assert events == [TextDelta("hi", "c1"), Done()]


def test_a_bearer_header_is_sent_even_without_a_key() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(200, headers=SSE, content=stream_body("[DONE]"))

    collect(make_client(handler, conn=connection(api_key=None)))
    assert seen == [f"Bearer {PLACEHOLDER_TOKEN}"]


def test_a_missing_key_names_key_set() -> None:
    client = make_client(
        lambda r: meili_error(
            401, "missing_authorization_header", "The Authorization header is missing."
        )
    )
    with pytest.raises(AuthError) as info:
        collect(client)
    assert info.value.exit_code == ExitCode.AUTH
    assert "profile 'local'" in info.value.message
    assert "meilichat key set" in (info.value.hint or "")


def test_a_rejected_key_and_an_expired_tenant_token_are_auth_errors() -> None:
    handler = lambda r: meili_error(403, "invalid_api_key", "The provided API key is invalid.")  # noqa: E731
    with pytest.raises(AuthError, match="Key rejected"):
        collect(make_client(handler))
    claims = base64.urlsafe_b64encode(json.dumps({"exp": time.time() - 60}).encode()).decode()
    token = f"eyJhbGciOiJIUzI1NiJ9.{claims.rstrip('=')}.sig"
    with pytest.raises(AuthError, match="expired at"):
        collect(make_client(handler, conn=connection(api_key=token)))


@pytest.mark.parametrize("source", ["MEILICHAT_API_KEY", "--api-key"])
def test_a_rejected_key_given_for_the_run_is_not_sent_to_key_show(source: str) -> None:
    # `key show` shows the profile's stored key, not the one that was refused.
    handler = lambda r: meili_error(403, "invalid_api_key", "The provided API key is invalid.")  # noqa: E731
    conn = connection().replace(api_key_source=source)
    with pytest.raises(AuthError) as info:
        collect(make_client(handler, conn=conn))
    assert info.value.hint is not None
    assert source in info.value.hint and "key show" not in info.value.hint


def test_a_missing_workspace_is_a_not_found_error() -> None:
    client = make_client(lambda r: meili_error(404, "chat_not_found", "Chat `movies` not found"))
    with pytest.raises(NotFoundError) as info:
        collect(client)
    assert info.value.message == "Workspace 'movies' not found on http://127.0.0.1:7700"
    assert "meilichat workspace list" in (info.value.hint or "")
    assert info.value.exit_code == ExitCode.NOT_FOUND


def test_feature_not_enabled_names_the_experimental_feature() -> None:
    client = make_client(
        lambda r: meili_error(
            400, "feature_not_enabled", "using the /chats chat completions route requires …"
        )
    )
    with pytest.raises(ApiError) as info:
        collect(client)
    assert "chatCompletions" in info.value.message
    assert info.value.link == "https://docs.meilisearch.com/errors#feature_not_enabled"
    assert info.value.exit_code == ExitCode.API


def test_a_503_is_retried_twice_then_reported() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503, headers={"Retry-After": "10"}, json={"message": "busy"})

    with pytest.raises(ApiError):
        collect(make_client(handler))
    assert calls == 3


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(429, headers={"Retry-After": "30"}, text="slow down"),
        httpx.Response(429, json={"message": "Too many requests.", "code": "rate_limited"}),
    ],
    ids=["proxy text", "json"],
)
def test_a_429_that_persists_says_it_is_rate_limited_and_was_retried(
    response: httpx.Response,
) -> None:
    # A rate limiter in front of Meilisearch answers 429 in plain text: that is not a wrong
    # URL, and the user should know meilichat already tried again.
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return response

    with pytest.raises(ApiError) as info:
        collect(make_client(handler))
    assert calls == 3
    error = info.value
    shown = f"{error.message} {error.hint or ''}"
    assert "asked 3 times" in shown
    assert "rate" in shown
    assert "not Meilisearch's answer" not in shown


def test_a_503_then_ok_succeeds() -> None:
    responses = iter(
        [
            httpx.Response(503, json={"message": "busy", "code": "x"}),
            httpx.Response(200, headers=SSE, content=stream_body(chunk("ok"), "[DONE]")),
        ]
    )
    events = collect(make_client(lambda r: next(responses)))
    assert events[-1] == Done()


def test_an_html_502_is_summarised_without_tags_or_escapes() -> None:
    page = (
        "<html><script>alert(1)</script><body><h1>502 Bad Gateway</h1>\x1b[2J nginx</body></html>"
    )
    client = make_client(
        lambda r: httpx.Response(502, headers={"content-type": "text/html"}, text=page)
    )
    with pytest.raises(ApiError) as info:
        collect(client)
    message = info.value.message
    assert message.startswith("HTTP 502 from server (HTML page, likely a proxy): 502 Bad Gateway")
    assert "<" not in message and "alert" not in message and "\x1b" not in message


def test_an_html_200_is_not_an_event_stream() -> None:
    client = make_client(
        lambda r: httpx.Response(200, headers={"content-type": "text/html"}, text="<p>login</p>")
    )
    with pytest.raises(ApiError, match="Expected an event stream, got text/html"):
        collect(client)


def test_a_redirect_is_not_followed() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(301, headers={"location": "https://example.invalid/x"})

    with pytest.raises(ApiError, match=r"redirects to https://example\.invalid/x"):
        collect(make_client(handler))
    assert len(calls) == 1


def test_connection_refused_is_a_network_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused")

    with pytest.raises(
        NetworkError, match=r"Cannot connect to http://127\.0\.0\.1:7700: connection refused"
    ):
        collect(make_client(handler))


def test_a_missing_ssl_cert_file_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="SSL_CERT_FILE points to a missing file"):
        MeiliClient(connection(), environ={"SSL_CERT_FILE": "/missing.pem"})


def test_the_client_never_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Proxy and CA variables come from the run's environment only: a process variable the
    # caller did not hand down changes nothing.
    monkeypatch.setenv("SSL_CERT_FILE", "/missing.pem")
    MeiliClient(connection()).close()


def test_a_stream_without_done_is_an_error() -> None:
    client = make_client(
        lambda r: httpx.Response(200, headers=SSE, content=stream_body(chunk("x", "stop")))
    )
    events: list[object] = []
    with pytest.raises(StreamError, match="Stream ended before completion"):
        for event in client.stream_chat("movies", build_request("m", [])):
            events.append(event)
    assert events[0] == TextDelta("x", "c1")


def test_recorded_stream_decodes_to_searches_and_answer() -> None:
    body = FIXTURES / "openai_one_search.sse"
    client = make_client(lambda r: httpx.Response(200, headers=SSE, content=body.read_bytes()))
    events = collect(client)
    assert events[-1] == Done()
    assert any(isinstance(e, TextDelta) and e.text for e in events)


def test_the_key_never_appears_in_error_messages() -> None:
    sentinel = "SENTINEL-KEY-0123456789"
    handlers: list[Callable[[httpx.Request], httpx.Response]] = [
        lambda r: meili_error(403, "invalid_api_key", "The provided API key is invalid."),
        lambda r: httpx.Response(502, headers={"content-type": "text/html"}, text="<p>x</p>"),
        lambda r: httpx.Response(301, headers={"location": "https://x.invalid"}),
    ]
    for handler in handlers:
        client = make_client(handler, conn=connection(api_key=sentinel))
        with pytest.raises(Exception) as info:
            collect(client)
        assert sentinel not in str(info.value)
        assert sentinel not in repr(client.connection)


def test_an_answer_that_keeps_coming_stops_at_its_overall_deadline() -> None:
    from meilichat_cli.api.client import ChatStream

    def delta(text: str) -> bytes:
        chunk = {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
        return b"data: " + json.dumps(chunk).encode() + b"\n\n"

    # A token every 100 s: each within the 120 s read timeout, forever.
    now = [0.0]

    def clock() -> float:
        now[0] += 100.0
        return now[0]

    response = httpx.Response(200, content=iter([delta(f"t{n} ") for n in range(100)]))
    stream = ChatStream(response, 120.0, clock=clock, answer_timeout=250.0)
    texts: list[str] = []
    with pytest.raises(TimeoutError_) as raised:
        for event in stream:
            assert isinstance(event, TextDelta)
            texts.append(event.text)
    assert raised.value.message == "The answer took longer than 250 s (--max-time); stopped"
    assert texts == ["t0 ", "t1 ", "t2 "]  # what arrived before the deadline is given out
