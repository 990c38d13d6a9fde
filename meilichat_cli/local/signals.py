"""SIGTERM and SIGHUP handled like Ctrl-C, for the real process only.

`handle_termination()` (installed by the entry point, never by in-process tests) makes both
signals raise `Terminated`, a KeyboardInterrupt: every place that keeps a partial answer on
Ctrl-C (the turn runner saves it as interrupted, the renderer restores the cursor, `--json`
and `--events` close their output) does the same for them. `received()` names the signal so
that the REPL, which goes back to its prompt after a Ctrl-C, ends instead, and the process
exits with 128 + the signal's number (143 for SIGTERM, 129 for SIGHUP), as a shell reports a
process a signal ended.

Standard library only; imports nothing from meilichat_cli.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

HANDLED = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))

_received: list[int] = []


class Terminated(KeyboardInterrupt):
    """The process was asked to end by a signal other than SIGINT."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def received() -> int | None:
    """The number of the first SIGTERM/SIGHUP received, or None."""
    return _received[0] if _received else None


def exit_code_for(signum: int) -> int:
    return 128 + signum


def _handler(signum: int, _frame: FrameType | None) -> None:
    first = not _received
    _received.append(signum)
    if first:
        raise Terminated(signum)
    # Asked again while the partial answer is being saved: let that finish.


@contextmanager
def handle_termination() -> Iterator[None]:
    """Within this block, SIGTERM and SIGHUP raise Terminated (once)."""
    previous = {}
    for signum in HANDLED:
        try:
            previous[signum] = signal.signal(signum, _handler)
        except (ValueError, OSError):  # not the main thread, or not allowed here
            continue
    try:
        yield
    finally:
        for signum, handler in previous.items():
            try:
                signal.signal(signum, handler)
            except (ValueError, OSError, TypeError):
                continue
