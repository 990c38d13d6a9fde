"""Server-sent events framing: bytes, fed in pieces of any size, in; `SSEMessage`s out.

Follows the WHATWG EventSource parsing rules: the body is always UTF-8 (a `charset` in the
Content-Type changes nothing; invalid bytes become U+FFFD), one leading BOM is dropped, lines end
with CRLF, LF or CR (a CRLF split across two pieces is still one line end), `:` lines are
comments, and an event is dispatched on a blank line only when it has data. Nothing else ends a
line: U+2028, U+2029, U+0085 and form feeds are content.

Memory is bounded: as soon as the current event plus the line being read exceed
`max_event_bytes`, `feed` raises `ProtocolError` and drops what it buffered.

This module does no I/O. It imports only the standard library and `meilichat_cli.errors`.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from meilichat_cli.errors import ProtocolError

MAX_EVENT_BYTES = 8 * 1024 * 1024

_BOM = b"\xef\xbb\xbf"
_CR = b"\r"
_LF = b"\n"
_BLANK_LINE_END = b"\n\n"
_DATA_FIELD = b"data:"
# Longest match first, so a CRLF inside one piece is one line end.
_LINE_END = re.compile(rb"\r\n|\r|\n")


class SSEMessage(NamedTuple):
    """One dispatched event: its `data` lines joined with `\\n`, its type and last event id.

    A named tuple rather than a frozen dataclass: one is made per event, and a frozen
    dataclass takes three times as long to create."""

    data: str
    event: str = "message"
    id: str | None = None


def _size_words(size: int) -> str:
    """`8388608` → `8 MiB`: the cap as people read it in the error message."""
    for unit, name in ((1024 * 1024, "MiB"), (1024, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} bytes"


class SSEDecoder:
    """Incremental SSE parser. Feed it the body as it arrives; call `close()` at the end.

    `retry` holds the last valid `retry:` value (milliseconds), or None.
    """

    def __init__(self, *, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        if max_event_bytes < 1:
            raise ValueError("max_event_bytes must be positive")
        self.retry: int | None = None
        self._max = max_event_bytes
        self._limit_message = f"event exceeds {_size_words(max_event_bytes)} limit"
        self._reset_stream()
        # A failure found while the same `feed` call had already produced messages is handed
        # over on the next call, so those messages are not lost with the exception.
        self._failure_pending = False
        self._failed = False

    def _reset_stream(self) -> None:
        self._started = False  # the BOM check has been done
        self._head = b""  # first bytes, held until we know whether they are a BOM
        self._skip_lf = False  # the previous piece ended in CR: a leading LF belongs to it
        self._tail = bytearray()  # the current line, not yet terminated
        self._data: list[str] = []
        self._data_bytes = 0  # bytes of the current event's data, for the cap
        self._event_type = ""
        self._last_id = ""

    def feed(self, chunk: bytes) -> list[SSEMessage]:
        """Parse the next piece of the body; return the events it completed, in order."""
        if self._failed:
            self._failure_pending = False
            raise ProtocolError(self._limit_message)
        if not chunk:
            return []
        if not self._started:
            chunk = self._strip_bom(chunk)
            if not chunk:
                return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[0] == 0x0A:
                chunk = chunk[1:]
                if not chunk:
                    return []

        # Fast path: a piece that is exactly one whole `data:` event (`data: …\n\n`), with
        # nothing of an earlier line or event pending, which is how a server writes each
        # chunk of a stream. The same result as the general path below, without its lists.
        if (
            not self._tail
            and not self._data
            and chunk.find(_LF) == len(chunk) - 2
            and chunk.endswith(_BLANK_LINE_END)
            and chunk.startswith(_DATA_FIELD)
            and _CR not in chunk
            and len(chunk) - 2 <= self._max
        ):
            # One space after the colon is part of the syntax; everything else is data.
            start = 6 if chunk[5:6] == b" " else 5
            message = SSEMessage(
                chunk[start:-2].decode("utf-8", "replace"),
                self._event_type or "message",
                self._last_id or None,
            )
            self._event_type = ""
            return [message]

        out: list[SSEMessage] = []
        if _CR not in chunk:
            if _LF not in chunk:
                # Fast path for tiny pieces: only the unfinished line grows.
                self._grow_tail(chunk, out)
                return out
            lines = chunk.split(_LF)
            rest = lines.pop()
        else:
            lines, rest = self._split_mixed(chunk)

        for piece in lines:
            if self._tail:
                self._tail += piece
                line = bytes(self._tail)
                self._tail.clear()
            else:
                line = piece
            if len(line) + self._data_bytes > self._max:
                return self._fail(out)
            self._process_line(line, out)
        self._grow_tail(rest, out)
        return out

    def close(self) -> None:
        """End of input: an unfinished event is discarded, as the spec says.

        Raises the pending `ProtocolError` if the last `feed` found the cap exceeded but
        returned the messages it had completed first.
        """
        pending = self._failure_pending
        self._failure_pending = False
        self._reset_stream()
        self._failed = False
        if pending:
            raise ProtocolError(self._limit_message)

    # -- internals -------------------------------------------------------------------------

    def _strip_bom(self, chunk: bytes) -> bytes:
        head = self._head + chunk
        if len(head) < len(_BOM) and _BOM.startswith(head):
            self._head = head  # could still become a BOM
            return b""
        self._head = b""
        self._started = True
        return head[len(_BOM) :] if head.startswith(_BOM) else head

    def _split_mixed(self, chunk: bytes) -> tuple[list[bytes], bytes]:
        """Split a piece that contains CR: any of CRLF, CR, LF ends a line."""
        lines: list[bytes] = []
        start = 0
        for match in _LINE_END.finditer(chunk):
            lines.append(chunk[start : match.start()])
            start = match.end()
        if start == len(chunk) and chunk.endswith(_CR):
            # The CR may be the first half of a CRLF whose LF is in the next piece.
            self._skip_lf = True
        return lines, chunk[start:]

    def _grow_tail(self, piece: bytes, out: list[SSEMessage]) -> None:
        # Checked before copying, so one huge piece is never buffered a second time.
        if len(self._tail) + len(piece) + self._data_bytes > self._max:
            self._fail(out)
        else:
            self._tail += piece

    def _fail(self, out: list[SSEMessage]) -> list[SSEMessage]:
        self._reset_stream()
        self._started = True
        self._failed = True
        if not out:
            raise ProtocolError(self._limit_message)
        self._failure_pending = True
        return out

    def _process_line(self, line: bytes, out: list[SSEMessage]) -> None:
        if not line:
            self._dispatch(out)
            return
        if line[0] == 0x3A:  # ":" starts a comment
            return
        colon = line.find(b":")
        if colon < 0:
            name, raw_value = line, b""
        else:
            name = line[:colon]
            raw_value = (
                line[colon + 2 :] if line[colon + 1 : colon + 2] == b" " else line[colon + 1 :]
            )

        # Names compare as bytes: a name with invalid UTF-8 can match none of these anyway.
        if name == b"data":
            self._data.append(raw_value.decode("utf-8", "replace"))
            # Stays within the cap: the whole line, which is longer, was checked before.
            self._data_bytes += len(raw_value) + 1
        elif name == b"event":
            self._event_type = raw_value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\x00" not in raw_value:
                self._last_id = raw_value.decode("utf-8", "replace")
        elif name == b"retry" and raw_value.isdigit():  # bytes: ASCII digits, never empty
            self.retry = int(raw_value)
        # Any other field is ignored.

    def _dispatch(self, out: list[SSEMessage]) -> None:
        if self._data:
            out.append(
                SSEMessage(
                    data="\n".join(self._data),
                    event=self._event_type or "message",
                    id=self._last_id or None,
                )
            )
        self._data = []
        self._data_bytes = 0
        self._event_type = ""
