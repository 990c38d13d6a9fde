"""Small network stand-ins for the reliability tests, all on 127.0.0.1:

- `ForwardProxy`: an HTTP proxy (absolute-URI requests and CONNECT) that records what it
  was asked, so a test can tell whether meilichat went through it and with which headers.
- `TlsFront`: TLS in front of a plain server (the stand-in), with a certificate from
  `make_test_ca`, so the client can be tested against a private CA.
- `ScriptedServer`: answers every request with the same raw HTTP response, for headers and
  bodies the stand-in has no scenario for (a charset parameter, an oversized answer).

Not a test module; stdlib only (the certificates come from the `openssl` command).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

HEAD_LIMIT = 64 * 1024


class _Listener:
    """A listening socket on 127.0.0.1 with one daemon thread per accepted connection."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self._stopping = threading.Event()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        # Connections accepted and connections whose handler has returned: a client in this
        # process can finish before the handler on the other side has noted what happened.
        self._accepted = 0
        self._finished = 0
        self._idle = threading.Condition(self._lock)

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    def start(self) -> _Listener:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._socket.close()
        with self._lock:
            for conn in list(self._open):
                with contextlib.suppress(OSError):
                    conn.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every connection accepted so far has been handled to the end."""
        with self._idle:
            return self._idle.wait_for(lambda: self._finished == self._accepted, timeout)

    def track(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.add(conn)

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            self.track(conn)
            with self._lock:
                self._accepted += 1
            threading.Thread(target=self._serve_safely, args=(conn,), daemon=True).start()

    def _serve_safely(self, conn: socket.socket) -> None:
        try:
            self.serve(conn)
        except (OSError, ValueError):
            pass  # a client that went away or failed its handshake is routine here
        finally:
            with contextlib.suppress(OSError):
                conn.close()
            with self._idle:
                self._finished += 1
                self._idle.notify_all()

    def serve(self, conn: socket.socket) -> None:
        raise NotImplementedError


def read_head(conn: socket.socket) -> tuple[bytes, bytes]:
    """Read up to the blank line ending a request head; (head, bytes read past it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            raise ValueError("connection closed before the end of the request head")
        data += piece
        if len(data) > HEAD_LIMIT:
            raise ValueError("request head too large")
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def relay(one: socket.socket, other: socket.socket) -> None:
    """Copy bytes both ways until either side closes, then close both."""

    def pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for side in (source, sink):
                with contextlib.suppress(OSError):
                    side.close()

    back = threading.Thread(target=pump, args=(other, one), daemon=True)
    back.start()
    pump(one, other)
    back.join(timeout=30)


@dataclass(frozen=True)
class ProxiedRequest:
    method: str
    target: str  # the absolute URI, or host:port for CONNECT
    headers: dict[str, str]  # lower-cased names


class ForwardProxy(_Listener):
    """An HTTP forward proxy. Every request is recorded, then forwarded with
    `Connection: close` (one request per upstream connection keeps the relay trivial)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[ProxiedRequest] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ForwardProxy:
        self.start()
        return self

    def serve(self, conn: socket.socket) -> None:
        head, rest = read_head(conn)
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, version = request_line.split(" ", 2)
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self.requests.append(ProxiedRequest(method, target, headers))
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
            upstream.settimeout(None)
            self.track(upstream)
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                upstream.sendall(rest)
            relay(conn, upstream)
            return
        parts = urlsplit(target)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        kept = [
            line
            for line in header_lines
            if not line.lower().startswith(("proxy-", "connection:", "keep-alive:"))
        ]
        forwarded = "\r\n".join([f"{method} {path} {version}", *kept, "Connection: close"])
        upstream = socket.create_connection((parts.hostname or "", parts.port or 80), timeout=10)
        upstream.settimeout(None)
        self.track(upstream)
        upstream.sendall(forwarded.encode("latin-1") + b"\r\n\r\n" + rest)
        relay(conn, upstream)


class TlsFront(_Listener):
    """TLS on the outside, the plain server at `backend_port` on the inside."""

    def __init__(self, backend_port: int, cert: Path, key: Path) -> None:
        super().__init__()
        self.backend_port = backend_port
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.handshakes_failed = 0

    def url(self, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}"

    def __enter__(self) -> TlsFront:
        self.start()
        return self

    def serve(self, conn: socket.socket) -> None:
        try:
            secure = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            self.handshakes_failed += 1
            raise
        self.track(secure)
        backend = socket.create_connection(("127.0.0.1", self.backend_port), timeout=10)
        backend.settimeout(None)
        self.track(backend)
        relay(secure, backend)


class ScriptedServer(_Listener):
    """Answers every request with `response()` (raw bytes, sent in the pieces given), then
    closes the connection. Records each request's head and body."""

    def __init__(self, response: Callable[[], Iterable[bytes]]) -> None:
        super().__init__()
        self.response = response
        self.bodies: list[bytes] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ScriptedServer:
        self.start()
        return self

    def serve(self, conn: socket.socket) -> None:
        head, body = read_head(conn)
        length = 0
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        while len(body) < length:
            piece = conn.recv(65536)
            if not piece:
                break
            body += piece
        self.bodies.append(body)
        for piece in self.response():
            conn.sendall(piece)
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_WR)


def http_response(status: str, headers: dict[str, str], chunks: Iterable[bytes]) -> list[bytes]:
    """A chunked HTTP/1.1 response: head, then each piece of `chunks` as one HTTP chunk."""
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items())]
    lines += ["Transfer-Encoding: chunked", "Connection: close"]
    pieces = ["\r\n".join(lines).encode("latin-1") + b"\r\n\r\n"]
    for piece in chunks:
        if piece:
            pieces.append(b"%x\r\n" % len(piece) + piece + b"\r\n")
    pieces.append(b"0\r\n\r\n")
    return pieces


@dataclass(frozen=True)
class PrivateCA:
    ca_cert: Path  # the PEM file a client trusts
    server_cert: Path  # for 127.0.0.1 and localhost, signed by the CA
    server_key: Path


def make_test_ca(directory: Path) -> PrivateCA:
    """A private CA and a server certificate for 127.0.0.1/localhost (EC keys: fast)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the openssl command is needed to make test certificates")
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = directory / "ca.key", directory / "ca.pem"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    extensions = directory / "server.ext"
    extensions.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\n"
    )
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    steps = [
        [openssl, "req", "-x509", *curve, "-keyout", ca_key, "-out", ca_cert, "-days", "2",
         "-subj", "/CN=meilichat test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        [openssl, "req", "-new", *curve, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        [openssl, "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key,
         "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", extensions],
    ]  # fmt: skip
    for step in steps:
        subprocess.run([str(part) for part in step], check=True, capture_output=True, timeout=30)
    return PrivateCA(ca_cert, cert, key)
