"""The HTTP/1.1 chunked response body of an SSE stream, and how a stream ends.

Each SSE event goes out as one HTTP chunk, flushed at once. A client that goes away shows up
as `BrokenPipeError`/`ConnectionResetError` on write; that becomes `ClientGone` so the
completion code can stop and the server can count the disconnect. The fault-injection
scenarios need the three ways a body can end: cleanly (terminating chunk), abruptly (close
without it: "incomplete chunked read"), or with a TCP reset (SO_LINGER 0).

Stdlib only; imports nothing from meilichat_cli.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from io import BufferedIOBase


class ClientGone(Exception):
    """The client closed the connection while we were writing."""


class ChunkedWriter:
    """Writes one chunked body to a connection."""

    def __init__(self, wfile: BufferedIOBase, connection: socket.socket) -> None:
        self.wfile = wfile
        self.connection = connection
        self.finished = False
        self.bytes_sent = 0

    def write(self, data: bytes) -> None:
        """Send `data` as one chunk (nothing for empty data: an empty chunk ends the body)."""
        if not data:
            return
        try:
            self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError) as exc:
            raise ClientGone() from exc
        self.bytes_sent += len(data)

    def end(self) -> None:
        """The terminating zero-length chunk: a clean end of the body."""
        if self.finished:
            return
        self.finished = True
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError as exc:
            raise ClientGone() from exc

    def abort(self) -> None:
        """Close the connection without ending the body (an incomplete chunked read)."""
        self.finished = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def reset(self) -> None:
        """Abort with a TCP RST: linger 0, then close."""
        self.finished = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
