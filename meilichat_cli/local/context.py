"""The outside world, in one object: streams and whether they are terminals, the process
environment, `--debug`, and an injectable HTTP transport.

The command line builds one `RunContext` per run with `RunContext.from_process()` and passes
it down; tests build their own. Nothing is built at import time, and nothing else reads
`os.environ` or the process streams. Must not import httpx, rich or prompt_toolkit at module
level (the transport is typed loosely for that reason).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

from meilichat_cli.values import Value

if TYPE_CHECKING:
    from meilichat_cli.local.paths import Paths


class RunContext(Value):
    """One run's view of the outside world (see the module docstring)."""

    __slots__ = (
        "_warned",
        "command_flags",
        "debug",
        "environ",
        "errors_as_json",
        "failed_with",
        "owns_process",
        "stderr",
        "stderr_isatty",
        "stdin",
        "stdin_isatty",
        "stdout",
        "stdout_isatty",
        "transport",
    )

    def __init__(
        self,
        stdin: TextIO,
        stdout: TextIO,
        stderr: TextIO,
        environ: Mapping[str, str],
        stdin_isatty: bool,
        stdout_isatty: bool,
        stderr_isatty: bool,
        debug: bool = False,
        transport: Any = None,
        errors_as_json: bool = False,
        owns_process: bool = False,
        failed_with: Exception | None = None,
        command_flags: dict[str, str] | None = None,
        _warned: set[str] | None = None,
    ) -> None:
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.environ = environ
        self.stdin_isatty = stdin_isatty
        self.stdout_isatty = stdout_isatty
        self.stderr_isatty = stderr_isatty
        self.debug = debug
        self.transport: Any = transport  # an httpx.BaseTransport in tests; None: the network
        # Set while options are parsed (--json, --events): errors are then written as JSON.
        self.errors_as_json = errors_as_json
        # The real process streams: leaving on a closed pipe may then end the process at once.
        self.owns_process = owns_process
        # The error the run ended with, once the boundary has reported it.
        self.failed_with = failed_with
        # The -p, --url and -w the command ran with: hints repeat them (`cli/hints.py`).
        self.command_flags: dict[str, str] = {} if command_flags is None else command_flags
        self._warned: set[str] = set() if _warned is None else _warned

    @classmethod
    def from_process(cls) -> RunContext:
        environ = os.environ
        return cls(
            stdin=sys.stdin,
            stdout=sys.stdout,
            stderr=sys.stderr,
            environ=environ,
            stdin_isatty=_isatty(sys.stdin),
            stdout_isatty=_isatty(sys.stdout),
            stderr_isatty=_isatty(sys.stderr),
            debug=debug_from_env(environ),
            owns_process=True,
        )

    @property
    def paths(self) -> Paths:
        from meilichat_cli.local.paths import Paths

        return Paths.from_env(self.environ)

    @property
    def columns(self) -> int | None:
        """The width COLUMNS asks for, or None to let the terminal (or rich's 80) decide."""
        value = self.environ.get("COLUMNS", "")
        return int(value) if value.isdigit() and 0 < int(value) < 10_000 else None

    @property
    def no_color(self) -> bool:
        return "NO_COLOR" in self.environ and self.environ["NO_COLOR"] != ""

    def warn(self, message: str, *, once: bool = True) -> None:
        """One sanitized warning line on stderr. Configuration warnings are said once per
        run (`once`); warnings about an answer (`once=False`) are said for every answer, so
        a long REPL session does not swallow the second failed search."""
        from meilichat_cli.text.sanitize import sanitize_line

        if once:
            if message in self._warned:
                return
            self._warned.add(message)
        self.stderr.write(f"meilichat: warning: {sanitize_line(message)}\n")
        self.stderr.flush()

    def note(self, message: str) -> None:
        """An informational line on stderr (never on stdout, which belongs to the result)."""
        from meilichat_cli.text.sanitize import sanitize_line

        self.stderr.write(f"{sanitize_line(message)}\n")
        self.stderr.flush()

    def debug_log(self, message: str) -> None:
        if self.debug:
            self.note(f"debug: {message}")


def debug_from_env(environ: Mapping[str, str]) -> bool:
    """MEILICHAT_DEBUG=1 (anything but empty or 0) asks for --debug in every run."""
    return environ.get("MEILICHAT_DEBUG", "") not in ("", "0")


def _isatty(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (ValueError, OSError):
        return False


@contextmanager
def reader_may_leave(context: RunContext) -> Iterator[None]:
    """Exit 0, silently, when whoever reads stdout goes away (`meilichat ask … | head -1`).

    Click would turn the BrokenPipeError into exit 1, which the contract reserves for bugs.
    stdout is pointed at /dev/null first so the interpreter's final flush cannot fail again;
    leaving the process closes the HTTP connection with it.
    """
    try:
        yield
    except BrokenPipeError:
        if not context.owns_process:  # a test's own streams: nothing to shut down
            return
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        os._exit(0)
