"""The HTTP server: reading requests, dispatching them, writing answers and streams.

`StandInServer` is the public face (see the package docstring). Requests are handled by a
`ThreadingHTTPServer` speaking HTTP/1.1 with keep-alive: plain answers carry a
Content-Length, completion streams use chunked transfer encoding, so one client connection
can serve several requests. Every request is recorded before it is dispatched.

Dispatch order, as Meilisearch: fault scenarios that stand for a proxy (before anything),
authentication with the route's action, then the route handler (body parsing, feature flag,
existence and validation).

Stdlib only; imports `server.*`.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote

from meilichat_cli.standin import completions, compress, persist, scenarios, versions
from meilichat_cli.standin.apierror import MeiliError
from meilichat_cli.standin.auth import authenticate, bearer_token
from meilichat_cli.standin.chunked import ChunkedWriter, ClientGone
from meilichat_cli.standin.httpmsg import DropConnection, Request, Response
from meilichat_cli.standin.observe import RecordedRequest, StreamStats
from meilichat_cli.standin.routes import ROUTES, Api
from meilichat_cli.standin.state import DEMO_WORKSPACE, ServerState

COMPLETIONS_RE = re.compile(r"/chats/(?P<workspace>[^/]+)/chat/completions\Z")
DEFAULT_PAYLOAD_LIMIT = 100_000_000  # Meilisearch's "100 MB": byte_unit counts MB in powers of ten
STREAM_HEADERS = (
    ("content-type", "text/event-stream"),
    ("content-encoding", "identity"),
    ("cache-control", "no-cache"),
    ("x-accel-buffering", "no"),
    ("transfer-encoding", "chunked"),
)


def normalize_path(path: str) -> str:
    """actix NormalizePath::trim: merge repeated slashes, drop a trailing slash."""
    merged = re.sub(r"/{2,}", "/", path)
    return merged.rstrip("/") or "/"


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # bursts of concurrent clients (benchmarks) must not be refused

    def __init__(self, address: tuple[str, int], standin: StandInServer) -> None:
        self.standin = standin
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self.connections_lock:
                self.connections.discard(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up between requests (httpx closes right after `[DONE]`, before
        # the chunked terminator arrives) resets the connection: routine for a server, and no
        # reason to print a traceback into `meilichat demo` or `batch --demo`.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Many small writes per stream: without TCP_NODELAY, Nagle + delayed ACK add ~40 ms stalls.
    disable_nagle_algorithm = True
    server: _HttpServer
    # The response coding negotiated for the current request (None: nothing acceptable).
    coding: str | None = "identity"

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet: tests and the demo print what they need themselves.
        return

    def do_GET(self) -> None:
        self.serve()

    do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = do_GET

    def do_OPTIONS(self) -> None:
        self.read_body(self.server.standin.payload_limit)
        self.send_response_only(200)
        self.send_header("date", self.date_time_string())
        self.send_header("access-control-allow-origin", "*")
        self.send_header("access-control-allow-methods", "GET, POST, PATCH, PUT, DELETE")
        self.send_header(
            "access-control-allow-headers",
            self.headers.get("access-control-request-headers", "*"),
        )
        self.send_header("access-control-max-age", "86400")
        self.send_header("content-length", "0")
        self.end_headers()

    # -- reading ------------------------------------------------------------------------------

    def read_body(self, limit: int) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            total = 0
            while True:
                size_line = self.rfile.readline(1024)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                total += size
                if total > limit:
                    # actix's `JsonPayloadError::Overflow`: Meilisearch's 413.
                    raise MeiliError(
                        413,
                        "payload_too_large",
                        f"JSON payload has exceeded limit ({limit} bytes).",
                    )
                parts.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("content-length") or 0)
        if length > limit:
            # actix's `JsonPayloadError::OverflowKnownLength`, which Meilisearch's
            # `PayloadError::error_code` does not list: its catch-all, `internal` (a 500).
            raise MeiliError(
                500,
                "internal",
                f"JSON payload ({length} bytes) is larger than allowed (limit: {limit} bytes).",
            )
        return self.rfile.read(length) if length else b""

    # -- serving ------------------------------------------------------------------------------

    def serve(self) -> None:
        standin = self.server.standin
        path, _, query = self.path.partition("?")
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            self.coding = compress.negotiate(headers.get("accept-encoding"))
        except compress.NotAcceptable:
            self.coding = None
        body_error: MeiliError | None = None
        try:
            raw = self.read_body(standin.payload_limit)
        except MeiliError as error:
            # Too large: recorded without its body, the connection closed after the answer.
            # The error is the JSON extractor's: the route reports it where Meilisearch's
            # handler would (after authentication, on most routes).
            raw, body_error = b"", error
            self.close_connection = True
        standin.record(
            RecordedRequest(
                method=self.command,
                path=path,
                query=dict(parse_qsl(query, keep_blank_values=True)),
                headers=headers,
                body=_parsed(raw),
                raw=raw,
            )
        )
        if self.coding is None:
            # The Compress middleware answers before any route: nothing acceptable.
            self.respond(
                Response(406, compress.SUPPORTED_LIST.encode(), {"Vary": "Accept-Encoding"})
            )
            return
        request = Request(
            method=self.command,
            path=normalize_path(path),
            query=parse_qsl(query, keep_blank_values=True),
            headers=headers,
            raw=raw,
            client_host=self.client_address[0],
            body_error=body_error,
        )
        try:
            result = standin.dispatch(request)
        except DropConnection as drop:
            if drop.delay:
                standin.stopping.wait(drop.delay)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if isinstance(result, Response):
            self.respond(result)
        else:
            self.stream(result)

    def respond(self, response: Response) -> None:
        coding = self.coding or "identity"
        compressed = self.command != "HEAD" and compress.applies(
            coding, response.status, response.headers, response.body
        )
        self.send_response_only(response.status)
        self.send_header("date", self.date_time_string())
        for name, value in response.headers.items():
            self.send_header(name.lower(), value)
        if "origin" in {k.lower() for k in self.headers}:
            self.send_header("access-control-allow-origin", "*")
            self.send_header("access-control-expose-headers", "*")
        body = response.body
        if compressed:
            # As actix's encoder: the coding named, `vary` added, the body streamed (chunked).
            body = compress.encode(coding, body)
            self.send_header("content-encoding", coding)
            self.send_header("vary", "accept-encoding")
            self.send_header("transfer-encoding", "chunked")
        elif response.status != 204:
            self.send_header("content-length", str(len(body)))
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        if compressed:
            writer = ChunkedWriter(self.wfile, self.connection)
            try:
                writer.write(body)
                writer.end()
            except ClientGone:
                return  # the client hung up: nobody to answer
        elif self.command != "HEAD" and response.status != 204:
            self.wfile.write(body)
        self.wfile.flush()

    def stream(self, stream: completions.CompletionStream) -> None:
        standin = self.server.standin
        self.send_response_only(200)
        self.send_header("date", self.date_time_string())
        for name, value in STREAM_HEADERS:
            if name == "x-accel-buffering" and not standin.state.version.accel_buffering_header:
                continue  # added in 1.39
            self.send_header(name, stream.content_type if name == "content-type" else value)
        self.end_headers()
        writer = ChunkedWriter(self.wfile, self.connection)
        standin.stats.stream_opened()
        went_away = False
        try:
            try:
                self.wfile.flush()
            except OSError as exc:
                raise ClientGone() from exc
            ending, went_away = completions.run_stream(stream, writer)
            if not went_away:
                standin.stats.stream_sent()
            if ending in ("done", "cut"):
                try:
                    writer.end()
                except ClientGone:
                    self.close_connection = True
            else:
                self.close_connection = True
        except ClientGone:
            went_away = True
            self.close_connection = True
        finally:
            standin.stats.stream_closed(client_went_away=went_away)


def _extractors_fail_fast(request: Request) -> None:
    """The errors a completion's extractors raise before any of them waits, on releases
    where actix polls them together (before 1.38): a malformed Authorization header, then a
    missing or wrong Content-Type. Checking the key itself waits for the blocking pool, so
    these come first (docs/protocol.md#order-of-checks). Every other route, and completions
    from 1.38, report authentication first (`SeqHandler`)."""
    bearer_token(request.header("authorization"))
    request.check_content_type()
    if request.body_error is not None:
        raise request.body_error


def _parsed(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


class StandInServer:
    """A Meilisearch-compatible chat server on a local port, for the demo and for tests.

    `StandInServer(host, port, master_key, fresh, token_delay, scenario, version)` (`version`:
    the Meilisearch release to emulate, see `versions.py`; default the newest); `start()` serves in
    a daemon thread, `serve_forever()` in the foreground, `close()` stops (also a context
    manager). `url`, `workspace`, `chat_key`/`search_key`/`admin_key`, `recorded`,
    `completion_bodies()` and `stats` let callers drive and observe it.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        master_key: str | None = None,
        fresh: bool = False,
        token_delay: float = 0.0,
        scenario: str | None = None,
        version: str | None = None,
        data_dir: str | Path | None = None,
    ) -> None:
        self.state = ServerState(
            master_key=master_key, fresh=fresh, version=versions.emulation(version)
        )
        # With a data directory, the state survives restarts (`persist.py`); a file that
        # cannot be read raises `persist.StateFileError` before anything listens.
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self._persist_lock = threading.Lock()
        if self.data_dir is not None:
            try:
                persist.load(self.data_dir, self.state)
            except BaseException:
                self.state.close()
                raise
            self.state.on_change = self._persist_quietly
        self.api = Api(self.state)
        self.stats = StreamStats()
        self.recorded: list[RecordedRequest] = []
        self._record_lock = threading.Lock()
        self.stopping = threading.Event()
        self.scenario = scenarios.parse(scenario) if scenario else None
        self.payload_limit = DEFAULT_PAYLOAD_LIMIT
        if self.scenario is not None and self.scenario.name == "payload-limit":
            self.payload_limit = self.scenario.integer("bytes", 1024 * 1024)
            self.scenario = None  # it only sets the limit; streams run normally
        self.stream_settings = completions.StreamSettings(
            token_delay=token_delay, stopping=self.stopping
        )
        try:
            self._httpd = _HttpServer((host, port), self)
        except BaseException:
            self.state.close()
            raise
        if self.data_dir is not None:
            self.persist()
        self._thread: threading.Thread | None = None
        self._foreground: threading.Thread | None = None
        self._closed = False

    # -- public API ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{name}]" if ":" in name else name
        return f"http://{shown}:{port}"

    @property
    def workspace(self) -> str:
        return DEMO_WORKSPACE

    def _key_value(self, name: str) -> str | None:
        key = self.state.key_named(name)
        return key.value if key is not None else None

    @property
    def chat_key(self) -> str | None:
        return self._key_value("Default Chat API Key")

    @property
    def search_key(self) -> str | None:
        return self._key_value("Default Search API Key")

    @property
    def admin_key(self) -> str | None:
        return self._key_value("Default Admin API Key")

    def start(self) -> StandInServer:
        """Serve in a daemon thread; the socket is already listening when this returns."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"standin-{self.url}",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until `close()` from another thread (a KeyboardInterrupt
        propagates to the caller, who then calls `close()`)."""
        self._foreground = threading.current_thread()
        try:
            self._httpd.serve_forever(poll_interval=0.1)
        finally:
            self._foreground = None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stopping.set()
        foreground = self._foreground
        if self._thread is not None or (
            foreground is not None and foreground is not threading.current_thread()
        ):
            self._httpd.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd.close_connections()
        self._httpd.server_close()
        self.state.close()

    def __enter__(self) -> StandInServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def completion_bodies(self) -> list[Any]:
        """Parsed bodies of every POST …/chat/completions, in arrival order."""
        with self._record_lock:
            return [
                item.body
                for item in self.recorded
                if item.method == "POST" and COMPLETIONS_RE.search(normalize_path(item.path))
            ]

    # -- internals ----------------------------------------------------------------------------

    def record(self, item: RecordedRequest) -> None:
        with self._record_lock:
            self.recorded.append(item)

    def dispatch(self, request: Request) -> Response | completions.CompletionStream:
        try:
            result = self._dispatch(request)
        except MeiliError as error:
            return Response.error(error)
        if (
            self.data_dir is not None
            and isinstance(result, Response)
            and result.status < 300
            and request.method in ("POST", "PATCH", "PUT", "DELETE")
        ):
            self._persist_quietly()
        return result

    def _persist_quietly(self) -> None:
        # A full disk while serving must not take requests or the task worker down.
        with contextlib.suppress(OSError):
            self.persist()

    def persist(self) -> None:
        """Write the state to the data directory (no-op without one)."""
        if self.data_dir is None:
            return
        with self._persist_lock:
            persist.save(self.data_dir, self.state)

    def _dispatch(self, request: Request) -> Response | completions.CompletionStream:
        state = self.state
        match = COMPLETIONS_RE.match(request.path)
        if match and request.method != "POST":
            return Response(405)
        if match:
            fault = completions.proxy_fault(request, state, self.scenario)
            if fault is not None:
                return fault
            if not state.version.sequential_completion_extractors:
                _extractors_fail_fast(request)
            who = authenticate(
                master_key=state.master_key,
                header=request.header("authorization"),
                action="chatCompletions",
                index_uid=None,
                find_by_value=state.key_by_value,
                find_by_uid=state.key_by_uid,
                allow_tenant_token=True,
            )
            return completions.prepare(
                request,
                unquote(match.group("workspace")),
                who,
                state,
                self.scenario,
                self.stream_settings,
            )
        method_mismatch = False
        for route in ROUTES:
            found = route.pattern.match(request.path)
            if not found:
                continue
            if route.method != request.method and not (
                request.method == "HEAD" and route.method == "GET"
            ):
                method_mismatch = True
                continue
            if route.exists is not None and not route.exists(state.version):
                continue  # not in the emulated release: 404, or 405 if the path has others
            params = {name: unquote(value) for name, value in found.groupdict().items()}
            if route.action is None:
                who = authenticate(
                    master_key=None,
                    header=None,
                    action="",
                    index_uid=None,
                    find_by_value=state.key_by_value,
                    find_by_uid=state.key_by_uid,
                )
            else:
                who = authenticate(
                    master_key=state.master_key,
                    header=request.header("authorization"),
                    action=route.action,
                    index_uid=params.get("index"),
                    find_by_value=state.key_by_value,
                    find_by_uid=state.key_by_uid,
                    allow_tenant_token=route.tenant_token,
                )
            return route.handler(self.api, request, params, who)
        return Response(405 if method_mismatch else 404)
