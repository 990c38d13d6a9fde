"""A hostile HTTP server of the tests' own: a small stdlib socket server on 127.0.0.1.

Unlike the stand-in (a faithful Meilisearch), this one breaks the rules on purpose, one way per
`mode`: endless bodies, bodies that trickle a byte at a time, keep-alive comments forever, broken
gzip, replies that are not HTTP, a 2 MiB header, HTML where JSON was expected, oversized turns,
and terminal escapes in every string it sends (`ESCAPES`). It counts what it sent
(`bytes_sent`), so a test can assert that a client stopped reading (a structural bound, not a
timing).

    with HostileServer("endless_error") as server:
        invoke(["ask", "--url", server.url, ...])
        assert server.bytes_sent < LIMIT
"""

from __future__ import annotations

import json
import socket
import threading
import zlib
from types import TracebackType
from typing import Any

from meilichat_cli.standin.stream import (
    DONE_FRAME,
    RETRY_PREAMBLE,
    ChunkFactory,
    compact_json,
    frame,
    sources_arguments,
)

ESC = "\x1b"
# Every kind of sequence a hostile string can carry: OSC 52 (clipboard), OSC 8 (hidden link),
# OSC 0 (title), CSI clear screen and cursor moves, a C1 CSI, BEL, CR overwrite, and the BiDi
# controls that make a printed address read as another.
ESCAPES = (
    f"{ESC}]52;c;cm0gLXJmIH4K\x07"
    f"{ESC}]8;;https://evil.example{ESC}\\"
    f"{ESC}]0;pwned\x07"
    f"{ESC}[2J{ESC}[1A\x9b31m\r"
    "\u202eevil\u202c\u2066x\u2069\u200f"
)
# The raw bytes none of which may reach a terminal: ESC, BEL, CR, C1 CSI, the BiDi controls.
FORBIDDEN_ON_SCREEN = [
    b"\x1b]52",
    b"\x1b]8;",
    b"\x1b]0;",
    b"\x1b[2J",
    b"\x07",
    "\x9b".encode(),
    "\u202e".encode(),
    "\u2066".encode(),
    "\u200f".encode(),
]

MODES = (
    "endless_error",  # 500 with an endless body
    "endless_json",  # 200 application/json with an endless body (admin routes, completion)
    "slow_json",  # 200 application/json, one byte every 0.1 s
    "trickle",  # an event stream that sends one byte of an event every 0.05 s, forever
    "comments",  # an event stream of keep-alive comments only, forever
    "empty_events",  # an event stream of empty deltas and unknown event types, forever
    "broken_gzip",  # an event stream whose gzip body is corrupt
    "broken_gzip_error",  # a 500 whose gzip body is corrupt
    "not_http",  # an SSH banner instead of HTTP
    "huge_header",  # a 2 MiB response header
    "html_401",  # 401 with an HTML page (an SSO gateway)
    "html_403",  # 403 with an HTML page
    "html_500",  # 500 with an HTML page
    "flood_sources",  # a valid stream with 40 x 1 MiB of sources
    "escapes",  # a plausible Meilisearch whose every string carries ESCAPES
    "prefix_404",  # chat_not_found, as behind a proxy with a path prefix
)


class HostileServer:
    def __init__(self, mode: str) -> None:
        assert mode in MODES, mode
        self.mode = mode
        self.bytes_sent = 0
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self._socket.settimeout(0.2)
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(5)
        self._socket.close()

    # ------------------------------------------------------------------ plumbing

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _address = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        connection.settimeout(10)
        try:
            with connection:
                while not self._stop.is_set():
                    request = _read_request(connection)
                    if request is None:
                        return
                    method, path, _body = request
                    with self._lock:
                        self.requests.append((method, path))
                    if not self._respond(connection, method, path):
                        return
        except OSError:
            return  # the client went away: what it did not read stays unsent

    def send(self, connection: socket.socket, data: bytes) -> None:
        connection.sendall(data)
        with self._lock:
            self.bytes_sent += len(data)

    def _respond(self, connection: socket.socket, method: str, path: str) -> bool:
        """Answer one request; True to keep the connection for another."""
        handler = getattr(self, f"_mode_{self.mode}")
        result: bool = handler(connection, method, path)
        return result

    def _endless(self, connection: socket.socket, head: bytes, piece: bytes) -> bool:
        self.send(connection, head)
        block = piece * (65536 // len(piece) + 1)
        chunk = f"{len(block):x}\r\n".encode() + block + b"\r\n"
        while not self._stop.is_set():
            self.send(connection, chunk)
        return False

    def _stream_head(self, extra: str = "") -> bytes:
        return (
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            f"Transfer-Encoding: chunked\r\n{extra}\r\n"
        ).encode()

    def _chunk(self, data: bytes) -> bytes:
        return f"{len(data):x}\r\n".encode() + data + b"\r\n"

    def _whole(
        self,
        connection: socket.socket,
        status: str,
        content_type: str,
        body: bytes,
        extra: str = "",
    ) -> bool:
        head = (
            f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n"
        ).encode()
        self.send(connection, head + body)
        return True

    # ------------------------------------------------------------------ modes

    def _mode_endless_error(self, connection: socket.socket, method: str, path: str) -> bool:
        head = (
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        return self._endless(connection, head, b"error! ")

    def _mode_endless_json(self, connection: socket.socket, method: str, path: str) -> bool:
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        self.send(connection, head + self._chunk(b'{"results": ['))
        return self._endless(connection, b"", b'{"uid": "movies"}, ')

    def _mode_slow_json(self, connection: socket.socket, method: str, path: str) -> bool:
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        self.send(connection, head)
        body = b'{"results": [{"uid": "movies"}]}' + b" " * 10_000_000
        for byte in body:
            if self._stop.wait(0.1):
                break
            self.send(connection, self._chunk(bytes([byte])))
        return False

    def _mode_trickle(self, connection: socket.socket, method: str, path: str) -> bool:
        self.send(connection, self._stream_head() + self._chunk(RETRY_PREAMBLE))
        while not self._stop.wait(0.05):
            self.send(connection, self._chunk(b"x"))  # one line, never finished
        return False

    def _mode_comments(self, connection: socket.socket, method: str, path: str) -> bool:
        self.send(connection, self._stream_head() + self._chunk(RETRY_PREAMBLE))
        while not self._stop.wait(0.05):
            self.send(connection, self._chunk(b": keep-alive\n\n"))
        return False

    def _mode_empty_events(self, connection: socket.socket, method: str, path: str) -> bool:
        factory = ChunkFactory("gpt-4o-mini", "openAi")
        round_ = factory.new_round()
        empty = frame(factory.chunk(round_, {"content": None})) + b"event: ping\ndata: x\n\n"
        self.send(connection, self._stream_head() + self._chunk(RETRY_PREAMBLE))
        while not self._stop.wait(0.05):
            self.send(connection, self._chunk(empty))
        return False

    def _mode_broken_gzip(self, connection: socket.socket, method: str, path: str) -> bool:
        # wbits=31 is the gzip container. zlib.compress() takes wbits only from Python 3.11;
        # a compressobj takes it on every supported version.
        packer = zlib.compressobj(wbits=31)
        good = packer.compress(RETRY_PREAMBLE + _answer_frames("partial ")) + packer.flush()
        body = good[:40] + b"\x00garbage, not deflate\xff" * 20
        self.send(
            connection,
            self._stream_head("Content-Encoding: gzip\r\n") + self._chunk(body) + b"0\r\n\r\n",
        )
        return False

    def _mode_broken_gzip_error(self, connection: socket.socket, method: str, path: str) -> bool:
        return self._whole(
            connection,
            "500 Internal Server Error",
            "application/json",
            b"\x1f\x8b\x08\x00garbage",
            "Content-Encoding: gzip\r\n",
        )

    def _mode_not_http(self, connection: socket.socket, method: str, path: str) -> bool:
        self.send(connection, b"SSH-2.0-OpenSSH_9.6p1 Debian-3\r\n")
        return False

    def _mode_huge_header(self, connection: socket.socket, method: str, path: str) -> bool:
        head = b"HTTP/1.1 200 OK\r\nX-Filler: " + b"a" * (2 * 1024 * 1024) + b"\r\n\r\n"
        self.send(connection, head)
        return False

    def _html(self, connection: socket.socket, status: str) -> bool:
        page = f"<html><head><title>Sign in</title></head><body>{ESCAPES}</body></html>"
        return self._whole(connection, status, "text/html; charset=utf-8", page.encode())

    def _mode_html_401(self, connection: socket.socket, method: str, path: str) -> bool:
        return self._html(connection, "401 Unauthorized")

    def _mode_html_403(self, connection: socket.socket, method: str, path: str) -> bool:
        return self._html(connection, "403 Forbidden")

    def _mode_html_500(self, connection: socket.socket, method: str, path: str) -> bool:
        return self._html(connection, "500 Internal Server Error")

    def _mode_prefix_404(self, connection: socket.socket, method: str, path: str) -> bool:
        body = {
            "message": "Chat movies not found",
            "code": "chat_not_found",
            "type": "invalid_request",
            "link": "https://docs.meilisearch.com/errors#chat_not_found",
        }
        return self._whole(
            connection, "404 Not Found", "application/json", json.dumps(body).encode()
        )

    def _mode_flood_sources(self, connection: socket.socket, method: str, path: str) -> bool:
        factory = ChunkFactory("gpt-4o-mini", "openAi")
        round_ = factory.new_round()
        self.send(connection, self._stream_head() + self._chunk(RETRY_PREAMBLE))
        document = {"id": 1, "title": "big", "text": "x" * (1024 * 1024)}
        for number in range(40):
            chunk = factory.tool(
                round_,
                "_meiliSearchSources",
                sources_arguments(f"call_{number}", [document]),
            )
            self.send(connection, self._chunk(frame(chunk)))
        self.send(connection, self._chunk(_answer_frames("done.")) + self._chunk(DONE_FRAME))
        self.send(connection, b"0\r\n\r\n")
        return False

    def _mode_escapes(self, connection: socket.socket, method: str, path: str) -> bool:
        route = path.split("?", maxsplit=1)[0]
        if route.endswith("/chat/completions"):
            self.send(connection, self._stream_head() + self._chunk(RETRY_PREAMBLE))
            self.send(connection, self._chunk(_escape_stream()) + b"0\r\n\r\n")
            return False
        body = _escape_route(method, route) if method == "GET" else None
        if body is None:
            error = {
                "message": f"not here {ESCAPES}",
                "code": f"bad_code{ESCAPES}",
                "type": "invalid_request",
                "link": f"https://docs.meilisearch.com/{ESCAPES}",
            }
            return self._whole(connection, "400 Bad Request", "application/json", _dumps(error))
        return self._whole(connection, "200 OK", "application/json", _dumps(body))


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def _answer_frames(text: str) -> bytes:
    factory = ChunkFactory("gpt-4o-mini", "openAi")
    round_ = factory.new_round()
    return (
        frame(factory.role(round_))
        + frame(factory.content(round_, text))
        + frame(factory.finish(round_))
    )


def _escape_stream() -> bytes:
    """A complete answer in which every string the client may show carries ESCAPES."""
    factory = ChunkFactory("gpt-4o-mini", "openAi")
    round_ = factory.new_round()
    call = f"call_{ESCAPES}"
    arguments = compact_json({"index_uid": f"movies{ESCAPES}", "q": f"q{ESCAPES}", "filter": ""})
    frames = [
        frame(factory.role(round_)),
        frame(
            factory.tool(
                round_,
                "_meiliSearchProgress",
                {
                    "call_id": call,
                    "function_name": "_meiliSearchInIndex",
                    "function_arguments": arguments,
                },
            )
        ),
        frame(
            factory.tool(
                round_,
                "_meiliSearchSources",
                sources_arguments(call, [{"id": f"7{ESCAPES}", "title": f"Title {ESCAPES}"}]),
            )
        ),
        frame(
            {
                "event_id": "e1",
                "type": "error",
                "error": {
                    "type": "response_error",
                    "code": f"invalid_search{ESCAPES}",
                    "message": f"search failed {ESCAPES}",
                    "param": None,
                    "event_id": None,
                },
            }
        ),
        frame(factory.content(round_, f"Answer {ESCAPES} [link](https://a.example/{ESCAPES})")),
        frame(factory.finish(round_)),
        DONE_FRAME,
    ]
    return b"".join(frames)


def _escape_route(method: str, route: str) -> Any:
    name = f"movies{ESCAPES}"
    if route == "/health":
        return {"status": f"available{ESCAPES}"}
    if route == "/version":
        return {"pkgVersion": f"1.16.0{ESCAPES}", "commitSha": ESCAPES, "commitDate": ESCAPES}
    if route == "/experimental-features":
        return {"chatCompletions": True}
    if route == "/keys":
        return {
            "results": [
                {
                    "uid": f"uid{ESCAPES}",
                    "name": f"key{ESCAPES}",
                    "description": ESCAPES,
                    "key": f"k{ESCAPES}",
                    "actions": ["*"],
                    "indexes": ["*"],
                    "expiresAt": None,
                    "createdAt": "2025-01-01T00:00:00Z",
                    "updatedAt": "2025-01-01T00:00:00Z",
                }
            ],
            "offset": 0,
            "limit": 20,
            "total": 1,
        }
    if route == "/chats":
        return {"results": [{"uid": name}], "offset": 0, "limit": 20, "total": 1}
    if route.startswith("/chats/") and route.endswith("/settings"):
        return {
            "source": f"openAi{ESCAPES}",
            "orgId": None,
            "projectId": None,
            "apiVersion": None,
            "deploymentId": None,
            "baseUrl": f"https://llm.example/{ESCAPES}",
            "apiKey": "sk-X...",
            "prompts": {
                "system": f"system {ESCAPES}",
                "searchDescription": ESCAPES,
                "searchQParam": ESCAPES,
                "searchFilterParam": ESCAPES,
                "searchIndexUidParam": ESCAPES,
            },
        }
    if route.startswith("/chats/"):
        return {"uid": name}
    if route == "/indexes":
        return {
            "results": [
                {
                    "uid": name,
                    "primaryKey": f"id{ESCAPES}",
                    "createdAt": "2025-01-01T00:00:00Z",
                    "updatedAt": "2025-01-01T00:00:00Z",
                }
            ],
            "offset": 0,
            "limit": 20,
            "total": 1,
        }
    if route.startswith("/indexes/") and route.endswith("/settings/chat"):
        return {
            "description": f"desc {ESCAPES}",
            "documentTemplate": f"{{{{ doc.title }}}}{ESCAPES}",
            "documentTemplateMaxBytes": 400,
            "searchParameters": {},
        }
    if route.startswith("/indexes/") and route.endswith("/settings"):
        return {"searchableAttributes": ["*"], "filterableAttributes": [ESCAPES]}
    if route.startswith("/indexes/") and "/documents" in route:
        return {"results": [{"id": 1, "title": ESCAPES}], "offset": 0, "limit": 1, "total": 1}
    if route.startswith("/indexes/"):
        return {"uid": name, "primaryKey": "id"}
    return None


def _read_request(connection: socket.socket) -> tuple[str, str, bytes] | None:
    """One request's method, path and body, or None when the client closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = connection.recv(65536)
        if not piece:
            return None
        data += piece
        if len(data) > 1024 * 1024:
            return None
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(rest) < length:
        piece = connection.recv(65536)
        if not piece:
            return None
        rest += piece
    return method, path, rest[:length]
