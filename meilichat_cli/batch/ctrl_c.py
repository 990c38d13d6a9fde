"""Ctrl-C during a batch: the first one winds the run down, a second one ends it at once.

`StopOnCtrlC` sets the run's `stop` event on the first SIGINT (the workers leave their streams,
the finished results are still written, the run exits 130 with a resume hint) and raises the
usual KeyboardInterrupt on the next one. It installs its handler only in the main thread,
where signal handlers can be set, and puts the previous one back when the block ends.

Standard library only (signal, threading). Must not import typer, rich or `cli`.
"""

from __future__ import annotations

import signal
import threading
from typing import Any


class StopOnCtrlC:
    """First Ctrl-C: set `stop` (the batch winds down and keeps what it finished). A second
    one: the usual KeyboardInterrupt. Only in the main thread (signals can't be set elsewhere)."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum: int, frame: object) -> None:
            if self.stop.is_set():
                raise KeyboardInterrupt
            self.stop.set()

        self._previous = signal.signal(signal.SIGINT, handler)
        self._installed = True

    def __exit__(self, *exc_info: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
