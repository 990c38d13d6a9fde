"""What tests can observe about a running stand-in server: every request, and stream stats.

Stdlib only; imports nothing from meilichat_cli.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received: `path` without the query string, headers lower-cased,
    `body` the parsed JSON (None when absent or not JSON), `raw` the exact body bytes."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    raw: bytes


@dataclass
class StreamStats:
    """Counters about completion streams (read them any time; updated under a lock)."""

    open_streams: int = 0
    max_open_streams: int = 0
    disconnects: int = 0
    completions: int = 0
    # time.monotonic() when the latest stream that ran to its end had handed its last event to
    # the socket: the benchmark measures how far a client's display lags behind it.
    last_stream_end: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def stream_opened(self) -> None:
        with self._lock:
            self.completions += 1
            self.open_streams += 1
            self.max_open_streams = max(self.max_open_streams, self.open_streams)

    def stream_sent(self) -> None:
        """The stream's events are all written; only the body's terminating chunk is left.

        Noted before that chunk goes out, so a client that reads to the end of the body can
        never look before the time is recorded."""
        with self._lock:
            self.last_stream_end = time.monotonic()

    def stream_closed(self, *, client_went_away: bool) -> None:
        with self._lock:
            self.open_streams -= 1
            if client_went_away:
                self.disconnects += 1
