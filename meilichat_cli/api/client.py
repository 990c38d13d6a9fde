"""Talking to Meilisearch over HTTP: the chat completion stream and plain JSON routes.

One `MeiliClient` per run (or per REPL session, so the connection is reused). It always sends
`Authorization: Bearer …` (a Meilisearch without a master key crashes on a missing header),
never follows redirects (the key would travel with them), retries only connection failures
and 502/503/504/429 before any byte of an answer, and maps every failure onto the error tree
in `meilichat_cli.errors`. It never prints: warnings go through the `warn` callback.

Every read from the network is bounded here, in bytes and in time, whoever asks (the chat
stream, admin routes, shell completion):

- the body of an error answer: at most ERROR_BODY_LIMIT bytes (after decompression), and no
  longer than the read timeout in total;
- the body of a JSON route: at most JSON_BODY_LIMIT bytes, within the read timeout in total
  (`total_timeout` lets shell completion ask for less, and is then held however the server
  behaves: the request runs in a worker thread that is abandoned when time is up);
- the chat stream: at most STREAM_BYTES_LIMIT bytes, and an event that moves the answer on at
  least every read timeout: a trickling, comment-only or empty-delta stream ends with exit 8;
  and the whole answer within `answer_timeout` (`--max-time`, DEFAULT_ANSWER_TIMEOUT), checked
  as each piece arrives: a server that sends a token just under the read timeout forever is
  stopped at most one read timeout after it, with exit 8;
- bodies are decompressed here (gzip, deflate) in pieces of at most DECODE_PIECE bytes, so a
  compression bomb is never inflated in one go, and a broken body is a stream error (exit 5).

May import httpx (this is the only module that does, with `admin`), the protocol layer and
`errors`; must not import rich, typer or prompt_toolkit.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from meilichat_cli.api.connect import DEFAULT_ANSWER_TIMEOUT, DEFAULT_READ_TIMEOUT
from meilichat_cli.api.proxy import proxy_route
from meilichat_cli.errors import (
    ApiError,
    AuthError,
    CertificateError,
    MeilichatError,
    NetworkError,
    NotFoundError,
    ProtocolError,
    StreamError,
    TimeoutError_,
    UsageError,
)
from meilichat_cli.local.connection import Connection
from meilichat_cli.protocol.events import Event, TextDelta
from meilichat_cli.protocol.sse import SSEDecoder
from meilichat_cli.tenancy.token import expiry_of, iso_time, looks_like_token, past
from meilichat_cli.text.sanitize import sanitize_line, strip_tags_excerpt

CONNECT_TIMEOUT = 10.0
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRIES = 2
RETRY_AFTER_CAP = 4.0  # seconds; Meilisearch asks for 10, which is too long for a person
ERROR_BODY_LIMIT = 64 * 1024  # bytes of an error answer's body read (the rest is dropped)
JSON_BODY_LIMIT = 32 * 1024 * 1024  # bytes of a JSON route's answer (admin, completion)
STREAM_BYTES_LIMIT = 256 * 1024 * 1024  # bytes of one chat stream, decompressed
DECODE_PIECE = 64 * 1024  # most bytes one decompression step may produce
DRAIN_LIMIT = 64 * 1024
# Timeouts beyond this (11.6 days) are taken as this: the socket layer cannot wait longer.
MAX_TIMEOUT = 1_000_000.0
ACCEPTED_ENCODINGS = "gzip, deflate"
# Sent when no key is configured: Meilisearch without a master key accepts any bearer value,
# and one with a master key answers 403, which we turn into "no API key for profile …".
PLACEHOLDER_TOKEN = "meilichat-no-key"  # noqa: S105 - not a secret


class MeiliClient:
    """An HTTP client bound to one server and key. Use as a context manager."""

    def __init__(
        self,
        connection: Connection,
        *,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
        answer_timeout: float = DEFAULT_ANSWER_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        environ: Mapping[str, str] | None = None,
        warn: Callable[[str], None] = lambda _message: None,
        debug: Callable[[str], None] = lambda _message: None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.connection = connection
        read_timeout = _clamp_timeout(read_timeout)
        connect_timeout = _clamp_timeout(connect_timeout)
        self.read_timeout = read_timeout
        self.answer_timeout = _clamp_timeout(answer_timeout)
        # Facts about the server read once per connection (e.g. its version, by `admin`).
        self.cache: dict[str, Any] = {}
        self._warn = warn
        self._debug = debug
        self._sleep = sleep
        # The proxy and CA variables come from the run's environment, handed down by the
        # caller; none given means none set (the process environment is never read here).
        environ = {} if environ is None else environ
        verify = _tls_verify(connection, environ, warn)
        # The route is decided by `proxy` (httpx ignores CIDR entries in NO_PROXY and cannot
        # say which proxy it used), so httpx's own reading of the environment is turned off.
        # A test transport talks to nobody: no proxy for it.
        try:
            route = proxy_route(connection.url, environ) if transport is None else None
            if route is not None:
                debug(route.describe())
            self._proxy = route if route is not None and route.proxy_url else None
            token = connection.api_key or PLACEHOLDER_TOKEN
            self._http = httpx.Client(
                base_url=connection.url,
                headers={
                    "Authorization": f"Bearer {token}",
                    "User-Agent": _user_agent(),
                    # Bodies are decompressed here, in bounded pieces (see _decoded).
                    "Accept-Encoding": ACCEPTED_ENCODINGS,
                },
                timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
                follow_redirects=False,
                verify=verify,
                transport=transport,
                proxy=route.proxy_url if route is not None else None,
                trust_env=False,
            )
        except (httpx.InvalidURL, ValueError, UnicodeError) as error:
            raise _bad_url(connection.url, error) from None

    def __enter__(self) -> MeiliClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def warn(self, message: str) -> None:
        """Say something about the answer (a limit hit) through the run's warning channel."""
        self._warn(message)

    # -- the chat stream -------------------------------------------------------------------

    def stream_chat(
        self,
        workspace: str,
        body: dict[str, Any],
        *,
        on_sent: Callable[[], None] | None = None,
    ) -> ChatStream:
        """POST the request and return the open stream of events. `on_sent` is called once,
        as soon as the request's last byte has gone out (see `_SentSignal`).

        HTTP-level failures (status, content type, connection) raise here, before any event,
        so callers can tell "the request failed" from "the answer broke off". Iterating the
        result raises `StreamError` / `TimeoutError_` when the connection dies and
        `StreamError` when the body ends without `[DONE]`.
        """
        path = f"/chats/{workspace}/chat/completions"
        payload = _json_bytes(body)
        sent = _SentSignal(on_sent)
        return ChatStream(
            self._open_stream(path, payload, sent),
            self.read_timeout,
            answer_timeout=self.answer_timeout,
        )

    def _open_stream(self, path: str, payload: bytes, sent: _SentSignal) -> httpx.Response:
        """Send the request, retrying what is safe to retry, and return the open response
        (status 200, an event-stream body)."""
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        extensions = {"trace": sent.trace}
        attempt = 0
        while True:
            request = self._http.build_request(
                "POST", path, content=payload, headers=headers, extensions=extensions
            )
            self._debug(f"POST {request.url} (attempt {attempt + 1})")
            try:
                response = self._http.send(request, stream=True)
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
                raise _bad_url(self.connection.url, error) from None
            except httpx.TransportError as error:
                retryable = (
                    isinstance(error, httpx.ConnectError)
                    and not _tls_refused(error)
                    and not _plain_http_answer(error)
                )
                if attempt < MAX_RETRIES and retryable:
                    attempt += 1
                    # Short: a refused connection is usually a server that is not running.
                    self._sleep(0.2 * attempt)
                    continue
                raise self._transport_error(error) from error
            if response.status_code in RETRY_STATUSES and attempt < MAX_RETRIES:
                retry_after = response.headers.get("Retry-After")
                response.close()
                attempt += 1
                self._debug(f"HTTP {response.status_code}; retrying")
                self._sleep(_backoff(attempt, retry_after))
                continue
            if response.status_code != 200:
                body = self._read_error_body(response)
                raise self._http_error(response, body, attempts=attempt + 1)
            content_type = response.headers.get("content-type", "")
            if not content_type.lower().startswith("text/event-stream"):
                response.close()
                kind = content_type.split(";")[0].strip() or "no content type"
                raise ApiError(
                    f"Expected an event stream, got {kind}; is a proxy intercepting?",
                    hint="something other than Meilisearch answered (a captive portal, a proxy?):"
                    " check the URL with `meilichat profile show`, or run `meilichat doctor`",
                    http_status=200,
                )
            sent.fire()  # a transport that reports no trace (a test's) sent it by now
            return response

    # -- plain JSON routes (admin commands) ------------------------------------------------

    def request_json(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        total_timeout: float | None = None,
    ) -> Any:
        """One JSON request; returns the decoded body (None for 204).

        The answer is read up to JSON_BODY_LIMIT bytes and within the read timeout in total.
        With `total_timeout` the whole call (connecting included) gives up after that many
        seconds, however slowly the server sends (shell completion's budget)."""
        if total_timeout is None:
            return self._request_json(method, path, json_body, params, self.read_timeout)
        return _within(
            total_timeout,
            lambda: self._request_json(method, path, json_body, params, total_timeout),
            TimeoutError_(f"No answer from {self.connection.url} within {total_timeout:g} s"),
        )

    def _request_json(
        self,
        method: str,
        path: str,
        json_body: Any,
        params: dict[str, Any] | None,
        budget: float,
    ) -> Any:
        deadline = time.monotonic() + budget
        headers = {"Content-Type": "application/json"} if json_body is not None else None
        content = None if json_body is None else _json_bytes(json_body)
        try:
            request = self._http.build_request(
                method, path, params=params, content=content, headers=headers
            )
            response = self._http.send(request, stream=True)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
            raise _bad_url(self.connection.url, error) from None
        except httpx.TransportError as error:
            raise self._transport_error(error) from error
        if response.status_code >= 300:
            body = self._read_error_body(response, deadline=deadline)
            raise self._http_error(response, body)
        try:
            data = bytearray()
            for piece in _decoded(response):
                data += piece
                if len(data) > JSON_BODY_LIMIT:
                    raise ApiError(
                        f"The answer to {method} {path} is larger than"
                        f" {JSON_BODY_LIMIT // (1024 * 1024)} MiB; not read further",
                        hint="is this Meilisearch? check the URL with `meilichat profile show`",
                        http_status=response.status_code,
                    )
                if time.monotonic() > deadline:
                    raise TimeoutError_(
                        f"The answer to {method} {path} took longer than {budget:g} s",
                        hint="raise it with --timeout SECONDS",
                    )
        except httpx.TransportError as error:
            raise self._transport_error(error) from error
        finally:
            response.close()
        if response.status_code == 204 or not data:
            return None
        try:
            return json.loads(bytes(data))
        except (ValueError, RecursionError) as error:
            raise ApiError(
                f"HTTP {response.status_code} from server with a body that is not JSON",
                hint="is this Meilisearch? check the URL with `meilichat profile show`",
                http_status=response.status_code,
            ) from error

    def request_text(self, path: str, *, max_bytes: int = 4 * 1024 * 1024) -> str:
        """GET a text route (`/metrics`): at most `max_bytes`, within the read timeout."""
        deadline = time.monotonic() + self.read_timeout
        try:
            response = self._http.send(self._http.build_request("GET", path), stream=True)
        except httpx.TransportError as error:
            raise self._transport_error(error) from error
        if response.status_code >= 300:
            body = self._read_error_body(response, deadline=deadline)
            raise self._http_error(response, body)
        data = bytearray()
        try:
            for piece in _decoded(response):
                data += piece[: max_bytes - len(data)]
                if len(data) >= max_bytes or time.monotonic() > deadline:
                    break
        except httpx.TransportError as error:
            raise self._transport_error(error) from error
        finally:
            response.close()
        return bytes(data).decode("utf-8", "replace")

    def _read_error_body(self, response: httpx.Response, *, deadline: float | None = None) -> bytes:
        """At most ERROR_BODY_LIMIT bytes of an error answer, within the read timeout; the
        rest is never read (the connection is closed)."""
        if deadline is None:
            deadline = time.monotonic() + self.read_timeout
        data = bytearray()
        try:
            for piece in _decoded(response):
                data += piece[: ERROR_BODY_LIMIT - len(data)]
                if len(data) >= ERROR_BODY_LIMIT or time.monotonic() > deadline:
                    break
        except (httpx.HTTPError, ProtocolError):
            pass  # what arrived is enough to describe the failure
        finally:
            response.close()
        return bytes(data)

    # -- error mapping ---------------------------------------------------------------------

    def _transport_error(self, error: httpx.TransportError) -> MeilichatError:
        url = self.connection.url
        if isinstance(error, httpx.TimeoutException):
            if isinstance(error, httpx.ConnectTimeout):
                return TimeoutError_(f"Timed out connecting to {url}")
            return TimeoutError_(
                f"No data for {self.read_timeout:g} s (read timeout)",
                hint="raise it with --timeout SECONDS",
            )
        reason = _reason(error)
        if _plain_http_answer(error):
            plain = "http://" + url.split("://", 1)[-1]
            return NetworkError(
                f"TLS handshake with {url} failed: the server speaks plain HTTP; use http://",
                hint=f"connect to {plain} instead: --url {plain}, or keep it in the profile"
                f" with `meilichat profile set NAME --url {plain}`",
            )
        if isinstance(error, (httpx.RemoteProtocolError, httpx.LocalProtocolError)):
            # Something answered, but not in HTTP (another service on the port, a reply
            # header larger than h11 accepts): the network worked, the server did not.
            return ApiError(
                f"The server at {url} did not answer in HTTP: {reason}",
                hint="check the URL and port with `meilichat profile show`; is this Meilisearch?",
            )
        if _tls_refused(error):
            host = httpx.URL(url).host
            return CertificateError(
                f"TLS certificate verification failed for {host}: {reason}",
                hint="trust your CA with --ca-bundle FILE or SSL_CERT_FILE",
            )
        if self._proxy is not None and isinstance(error, (httpx.ProxyError, httpx.ConnectError)):
            # Through a proxy, a connect error is the proxy's: the server was never reached.
            return NetworkError(
                f"Cannot reach {url} through the proxy {self._proxy.shown_proxy}: {reason}",
                hint="check the proxy, or list the server's host in NO_PROXY",
            )
        return NetworkError(
            f"Cannot connect to {url}: {reason}",
            hint="is Meilisearch running? check the URL with `meilichat profile show`",
        )

    def _http_error(
        self, response: httpx.Response, raw: bytes, *, attempts: int = 1
    ) -> MeilichatError:
        status = response.status_code
        body = _error_body(raw)
        if 300 <= status < 400:
            location = sanitize_line(response.headers.get("location", "?"))[:300]
            return ApiError(
                f"Server redirects to {location}; update the profile URL",
                hint="meilichat does not follow redirects, so your key is never sent elsewhere",
                http_status=status,
            )
        if body is None:
            excerpt = strip_tags_excerpt(raw.decode("utf-8", "replace"), limit=160)
            ctype = response.headers.get("content-type", "")
            what = "HTML page, likely a proxy" if "html" in ctype.lower() else "not JSON"
            if status in (401, 403):
                # An authenticating proxy or SSO gateway in front of the server: still auth.
                return AuthError(
                    f"HTTP {status} from server ({what}): the request was not authorized",
                    hint="a proxy or gateway in front of Meilisearch wants credentials; check"
                    " the URL with `meilichat profile show` and the key with `meilichat key"
                    " show`",
                    http_status=status,
                )
            asked = f" (asked {attempts} times)" if attempts > 1 else ""
            if status >= 500:
                hint = (
                    f"the server, or a proxy in front of it, is failing{asked}; try again"
                    " later or read its logs"
                )
            elif status == 429:  # a rate limiter in front of Meilisearch
                hint = (
                    "the server, or a proxy in front of it, is limiting the rate of"
                    f" requests{asked}; wait a while and try again"
                )
            else:
                hint = (
                    "this is not Meilisearch's answer: check the URL with `meilichat"
                    " profile show`, or run `meilichat doctor`"
                )
            return ApiError(
                f"HTTP {status} from server ({what}):"
                f" {excerpt or sanitize_line(response.reason_phrase)[:80]}",
                hint=hint,
                http_status=status,
            )
        message = sanitize_line(str(body.get("message") or f"HTTP {status}"))[:1000]
        code = body.get("code") if isinstance(body.get("code"), str) else None
        link = body.get("link") if isinstance(body.get("link"), str) else None
        code = sanitize_line(code)[:200] if code is not None else None
        link = sanitize_line(link)[:500] if link is not None else None
        extra: dict[str, Any] = {"code": code, "http_status": status, "link": link}
        profile = self.connection.profile
        if status == 401 or (status == 403 and self.connection.api_key is None):
            who = f"profile '{profile}'" if profile else "this server"
            return AuthError(
                f"No API key for {who}",
                hint="run `meilichat key set` (or set MEILICHAT_API_KEY)",
                **extra,
            )
        if status == 403 and looks_like_token(self.connection.api_key):
            return _token_refused(
                self.connection, response.request.method, response.request.url.path, extra
            )
        if status == 403:
            source = self.connection.api_key_source
            given = source in ("--api-key", "MEILICHAT_API_KEY")  # not the profile's stored key
            return AuthError(
                "Key rejected (invalid or expired)",
                hint=f"check the key given with {source}, or run `meilichat doctor`"
                if given
                else "check the key with `meilichat key show`, or run `meilichat doctor`",
                **extra,
            )
        if status == 404:
            if code == "chat_not_found":
                ws = sanitize_line(_workspace_from_path(response.request.url.path))[:200]
                return NotFoundError(
                    f"Workspace '{ws}' not found on {self.connection.url}",
                    hint="list workspaces with `meilichat workspace list`",
                    **extra,
                )
            return NotFoundError(sanitize_line(message), **extra)
        if code == "feature_not_enabled":
            return ApiError(
                "Chat completions are disabled on this server "
                "(experimental feature `chatCompletions`)",
                hint="enable it with `meilichat doctor --fix`",
                **extra,
            )
        if status == 413 or (
            # What Meilisearch answers to a JSON body whose Content-Length is above its limit:
            # actix's overflow error under the `internal` code (docs/protocol.md).
            code == "internal" and "is larger than allowed (limit:" in message
        ):
            return ApiError(
                f"The request is larger than the server accepts (HTTP {status}); shorten the"
                " prompt or start a new conversation",
                **extra,
            )
        if attempts > 1:  # only 429 and the retryable 5xx are asked again
            message = f"{message} (asked {attempts} times)"
        return ApiError(f"{message} (HTTP {status}, {code or 'no code'})", **extra)


class _SentSignal:
    """Calls `callback` once, when the request has been sent.

    httpcore reports each step of an exchange to the request's `trace` extension; the end of
    the request body is the moment the server has the question, and the earliest moment the
    caller may spend CPU on anything else without delaying it: before that, under the GIL,
    any other work in the process (a thread importing the renderer) holds up the request.
    `fire()` covers transports that report nothing."""

    # What httpcore calls the end of the body over HTTP/1.1 and HTTP/2.
    EVENTS = frozenset({"http11.send_request_body.complete", "http2.send_request_body.complete"})

    def __init__(self, callback: Callable[[], None] | None) -> None:
        self._callback = callback

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        if event in self.EVENTS:
            self.fire()

    def fire(self) -> None:
        callback, self._callback = self._callback, None
        if callback is not None:
            callback()


class ChatStream:
    """The events of one open completion response; `close()` ends the HTTP stream.

    Bounded: at most STREAM_BYTES_LIMIT bytes are read, and when nothing has moved the answer
    on for `read_timeout` seconds (a text delta, a search, sources, a message, an error, the
    finish or [DONE] do; comments, events of other types, empty deltas and a line still being
    written do not) the stream ends with TimeoutError_, however steadily bytes trickle in.
    So it does when the answer as a whole takes longer than `answer_timeout` seconds: checked
    as each piece arrives, and by a `_Deadline` that wakes a read blocked on a silent server."""

    def __init__(
        self,
        response: httpx.Response,
        read_timeout: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_bytes: int = STREAM_BYTES_LIMIT,
        answer_timeout: float = DEFAULT_ANSWER_TIMEOUT,
    ) -> None:
        self.response = response
        self.read_timeout = read_timeout
        self.answer_timeout = answer_timeout
        self.tokens = 0
        self.bytes_read = 0
        self._clock = clock
        self._max_bytes = max_bytes

    def close(self) -> None:
        self.response.close()

    def __iter__(self) -> Iterator[Event]:
        # What moves the answer on resets the timeout: a text delta, a search, sources, a
        # message, an error, the finish, [DONE]; empty deltas and usage reports do not.
        from meilichat_cli.protocol.events import Done, UsageReport, decode_event

        # The loop below runs for every network chunk and event: what it needs is local.
        decoder = SSEDecoder()
        feed = decoder.feed
        clock = self._clock
        max_bytes = self._max_bytes
        number = 0
        chunks = _decoded(self.response)
        last_event = started = clock()
        deadline = _Deadline(self.response, self.answer_timeout)
        try:
            for chunk in chunks:
                self.bytes_read += len(chunk)
                if self.bytes_read > max_bytes:
                    raise StreamError(
                        f"The stream exceeds {max_bytes // (1024 * 1024)} MiB; stopped reading",
                        hint="the partial answer is kept; is this Meilisearch?"
                        " (`meilichat doctor`)",
                    )
                moved_on = False
                for message in feed(chunk):
                    if message.event != "message":
                        continue
                    number += 1
                    for event in decode_event(message.data, number):
                        if type(event) is TextDelta:
                            if event.text:
                                self.tokens += 1
                                moved_on = True
                        elif type(event) is Done:
                            yield event
                            _drain(chunks)
                            return
                        elif type(event) is not UsageReport:
                            moved_on = True
                        yield event
                # One clock read per network chunk, not per event.
                now = clock()
                if now - started > self.answer_timeout or deadline.passed:
                    raise self._too_long()
                if moved_on:
                    last_event = now
                elif now - last_event > self.read_timeout:
                    raise TimeoutError_(
                        f"No event for {self.read_timeout:g} s (data trickles in, but no answer)",
                        hint="the partial answer is kept; raise it with --timeout SECONDS",
                    )
            if deadline.passed:  # the deadline ended the read: what looks like the end is not
                raise self._too_long()
            decoder.close()
        except httpx.TimeoutException as error:
            if deadline.passed:
                raise self._too_long() from error
            raise TimeoutError_(
                f"No data for {self.read_timeout:g} s (read timeout)",
                hint="the partial answer is kept; raise it with --timeout SECONDS",
            ) from error
        except httpx.HTTPError as error:
            if deadline.passed:
                raise self._too_long() from error
            raise StreamError(
                f"Connection lost after {self.tokens} tokens ({_reason(error)})",
                hint="the partial answer is kept; ask again to retry",
            ) from error
        finally:
            deadline.cancel()
            self.response.close()
        raise StreamError(
            "Stream ended before completion (no [DONE] from the server)",
            hint="the partial answer is kept; ask again to retry",
        )

    def _too_long(self) -> TimeoutError_:
        return TimeoutError_(
            f"The answer took longer than {self.answer_timeout:g} s (--max-time); stopped",
            hint="the partial answer is kept; raise it with --max-time SECONDS",
        )


class _Deadline:
    """Ends a response's reads `seconds` from now, even while one is blocked on a silent server.

    The read timeout bounds each read, not the answer: a server that falls silent just before
    the answer's time is up would otherwise hold it for up to `--timeout` more. When the time
    is up, a timer thread shuts the connection's socket down, which wakes the blocked read with
    an end of stream; `passed` tells the reader why its stream ended. A response with no
    socket (a test double's) has no read that can block, and is only checked as pieces arrive.
    """

    def __init__(self, response: httpx.Response, seconds: float) -> None:
        self.passed = False
        self._response = response
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()

    def _expire(self) -> None:
        self.passed = True
        stream = self._response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            # socket.socket's own shutdown, also on a TLS socket: it leaves the TLS state to
            # the reading thread, which sees the end of the stream and stops.
            with contextlib.suppress(OSError):  # already closed by the reader: nothing to wake
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _decoded(response: httpx.Response) -> Iterator[bytes]:
    """The body of `response`, decompressed here in pieces of at most DECODE_PIECE bytes.

    httpx would inflate each network chunk in one go (a 64 KiB gzip chunk can hold 64 MiB);
    here a compression bomb costs one piece at a time, and broken compression is a
    ProtocolError (exit 5) rather than httpx's DecodingError. A body that a test double has
    already read is handed over as it is."""
    try:
        yield response.content
        return
    except httpx.ResponseNotRead:
        pass
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        yield from response.iter_raw()
        return
    if encoding in ("gzip", "x-gzip"):
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    elif encoding == "deflate":
        inflater = zlib.decompressobj()
    else:
        raise ProtocolError(
            f"The server compressed its answer with '{sanitize_line(encoding)[:40]}', which"
            " was not asked for",
            hint="is a proxy rewriting the answer? check the URL with `meilichat profile show`",
        )
    try:
        for raw in response.iter_raw():
            data = raw
            while data:
                yield inflater.decompress(data, DECODE_PIECE)
                data = inflater.unconsumed_tail
        rest = inflater.flush()
        if rest:
            yield rest
    except zlib.error as error:
        raise ProtocolError(
            f"The server's {encoding} body is corrupt ({error})",
            hint="is a proxy rewriting the answer? check the URL with `meilichat profile show`",
        ) from None


def _within(seconds: float, work: Callable[[], Any], late: MeilichatError) -> Any:
    """Run `work` in a worker thread and return its result, or raise `late` once `seconds`
    have passed (the worker is abandoned: it is a daemon and its reads are bounded)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = work()
        except BaseException as error:  # handed to the caller below
            box["error"] = error

    worker = threading.Thread(target=target, name="meilichat-lookup", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise late
    if "error" in box:
        raise box["error"]
    return box.get("result")


def _json_bytes(value: Any) -> bytes:
    """`value` as UTF-8 JSON. A lone surrogate (from undecodable command-line bytes, or a
    `\\ud800` escape in JSON input) cannot be sent as UTF-8: it becomes U+FFFD."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace").encode()


def _clamp_timeout(seconds: float) -> float:
    import math

    return min(seconds, MAX_TIMEOUT) if not math.isnan(seconds) else DEFAULT_READ_TIMEOUT


def _bad_url(url: str, error: Exception) -> UsageError:
    return UsageError(
        f"Invalid server URL {sanitize_line(url)[:300]!r}: {sanitize_line(str(error))[:200]}",
        hint="give an http:// or https:// URL such as http://127.0.0.1:7700 (--url,"
        " MEILICHAT_URL or the profile's url)",
    )


def _drain(chunks: Iterator[bytes]) -> None:
    """Read what follows `[DONE]` (normally just the end of the chunked body) so the
    connection goes back to the pool and the next turn reuses it; give up on anything
    larger, which only costs a new connection."""
    received = 0
    try:
        for chunk in chunks:
            received += len(chunk)
            if received > DRAIN_LIMIT:
                return
    except httpx.HTTPError:
        return


def _tls_verify(
    connection: Connection, environ: Mapping[str, str], warn: Callable[[str], None]
) -> ssl.SSLContext | bool:
    """What to trust: nothing checked (--insecure, warned every run), a private CA bundle
    (--ca-bundle or the profile's ca_bundle, then SSL_CERT_FILE / SSL_CERT_DIR), or httpx's
    default (certifi).

    A plain-http server is never reached over TLS (redirects are not followed; a proxy's own
    TLS uses httpcore's default context), so for one the certificates are not loaded (15-20
    ms on every run): a context that trusts nothing stands in, under which TLS could only
    fail. A missing CA file is still reported."""
    if connection.insecure:
        warn("TLS certificate verification is off (--insecure)")
        return False
    load = urlsplit(connection.url).scheme.lower() != "http"
    if connection.ca_bundle:
        return _trusting(connection.ca_bundle, "--ca-bundle", load=load)
    # Both variables at once are both trusted, as OpenSSL itself does.
    cert_dir = environ.get("SSL_CERT_DIR")
    cert_dir = cert_dir if cert_dir and os.path.isdir(cert_dir) else None
    cert_file = environ.get("SSL_CERT_FILE")
    if cert_file:
        return _trusting(cert_file, "SSL_CERT_FILE", load=load, directory=cert_dir)
    if not load:
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cert_dir:
        return ssl.create_default_context(capath=cert_dir)
    return True


def _trusting(
    path: str, origin: str, *, load: bool = True, directory: str | None = None
) -> ssl.SSLContext:
    if not os.path.isfile(path):
        raise UsageError(
            f"{origin} points to a missing file: {path}",
            hint="give the path of a PEM file with your CA certificates",
        )
    if not load:
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        return ssl.create_default_context(cafile=path, capath=directory)
    except (ssl.SSLError, OSError, ValueError) as error:
        raise UsageError(
            f"{origin} file {path} holds no usable CA certificates ({type(error).__name__})",
            hint="give the path of a PEM file with your CA certificates",
        ) from error


def _tls_refused(error: Exception) -> bool:
    """True when the server's certificate was not trusted (never worth a retry)."""
    text = str(error)
    return "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text


def _plain_http_answer(error: Exception) -> bool:
    """True when a TLS handshake got a plain-HTTP reply (`https://` to an `http://` server)."""
    text = str(error)
    return "WRONG_VERSION_NUMBER" in text or "wrong version number" in text.lower()


def _user_agent() -> str:
    from meilichat_cli import __version__

    return f"meilichat/{__version__}"


def _backoff(attempt: int, retry_after: str | None) -> float:
    delay = 0.5 * (2 ** (attempt - 1))
    if retry_after:
        with contextlib.suppress(ValueError):
            delay = max(delay, min(float(retry_after), RETRY_AFTER_CAP))
    return float(delay)


def _reason(error: Exception) -> str:
    text = str(error) or type(error).__name__
    lowered = text.lower()
    if "connection refused" in lowered or "errno 111" in lowered:
        return "connection refused"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "host name not found (DNS)"
    return sanitize_line(text)[:200]


def _error_body(raw: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw[:ERROR_BODY_LIMIT])
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def _workspace_from_path(path: str) -> str:
    """The workspace of `…/chats/NAME/chat/completions`, also behind a proxy's path prefix."""
    from urllib.parse import unquote

    parts = path.split("/")
    for index in range(len(parts) - 1, 0, -1):
        if parts[index] == "chats" and index + 1 < len(parts):
            return unquote(parts[index + 1])
    return "?"


# Routes that take a tenant token: searching an index, and chat completions.
_TOKEN_ROUTES = ("/search", "/chat/completions")


def _token_refused(
    connection: Connection, method: str, path: str, extra: dict[str, Any]
) -> AuthError:
    """A 403 for a tenant token, in words: expired, sent where tokens are refused, or
    refused for its parent key (wrong apiKeyUid, or a parent without the actions)."""
    who = f" of persona {connection.persona}" if connection.persona else ""
    exp = expiry_of(connection.api_key)
    if exp is not None and past(exp):
        return AuthError(
            f"Tenant token{who} expired at {iso_time(exp)}",
            hint="sign a new one (`meilichat token create --expires 1h`); with --as, set the"
            " persona's lifetime: `meilichat persona add NAME --replace --expires 1h …`",
            **extra,
        )
    if not path.endswith(_TOKEN_ROUTES):
        return AuthError(
            f"A tenant token was sent to {method} {path}, and Meilisearch accepts tenant tokens"
            " only for searches and chat completions",
            hint="use an API key here (admin commands: MEILI_MASTER_KEY or --admin-key-stdin);"
            " keep the token for `ask` and `chat`",
            **extra,
        )
    return AuthError(
        f"Tenant token{who} refused: its apiKeyUid must be the uid of the key that signed it,"
        " and that key must hold `chatCompletions` and `search` and not be expired",
        hint="check the uid with `meilichat key list --server` and the token with `meilichat"
        " token inspect TOKEN`; `meilichat token create` checks the parent key before signing",
        **extra,
    )
