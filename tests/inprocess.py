"""Run the command line in this process, through the same boundary as the real entry point.

`invoke(args, env=…)` builds a `RunContext` of its own (text streams, the given environment,
optionally an httpx transport), calls `meilichat_cli.cli.app.execute` and returns what a
subprocess would show: exit code, stdout, stderr, plus the error object the run ended with.
Most command tests use this (or `run_cli`, the same call spelled like conftest's
`run_meilichat`; `string_context` is the same kind of context for a test that calls a layer
below the command line); subprocess tests stay for what needs a process (the entry point, signals,
pipes, pseudo-terminals, start-up, PYTHONPATH tricks, bytes on stdin, memory of the process).

In process, nothing the command starts may read the process's environment or streams: child
programs get `ctx.environ`, and `-` files read `ctx.stdin`. What a child writes to its own
stdout or stderr (an editor, a key command) is not captured here; tests about that output stay
subprocesses.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from meilichat_cli.cli.app import execute
from meilichat_cli.local.context import RunContext, debug_from_env


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    exception: Exception | None
    context: RunContext

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    # subprocess.CompletedProcess spells it this way; both read naturally in tests.
    @property
    def returncode(self) -> int:
        return self.exit_code


class _Stdin(io.StringIO):
    def __init__(self, text: str, isatty: bool) -> None:
        super().__init__(text)
        self._isatty = isatty

    def isatty(self) -> bool:
        return self._isatty


def invoke(
    args: Sequence[str],
    *,
    env: Mapping[str, str | None],
    input: str | None = None,
    transport: Any = None,
    stdin_isatty: bool = False,
    stdout_isatty: bool = False,
    stderr_isatty: bool = False,
) -> Outcome:
    environ = {name: value for name, value in env.items() if value is not None}
    stdout, stderr = io.StringIO(), io.StringIO()
    stdin = _Stdin(input or "", stdin_isatty)
    context = RunContext(
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        environ=environ,
        stdin_isatty=stdin_isatty,
        stdout_isatty=stdout_isatty,
        stderr_isatty=stderr_isatty,
        debug=debug_from_env(environ),
        transport=transport,
    )
    # Whatever still writes to the process streams (typer's own help and messages) is
    # captured too, so nothing of a test leaks into pytest's output.
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = execute(list(args), context)
    return Outcome(code, stdout.getvalue(), stderr.getvalue(), context.failed_with, context)


def run_cli(
    args: Sequence[str], env: Mapping[str, str | None], *, input: str | None = None
) -> Outcome:
    """`conftest.run_meilichat`'s call, run in this process: stdin is a pipe holding `input`
    (empty when None), stdout and stderr are not terminals, exactly as in the subprocess."""
    return invoke(args, env=env, input=input)


def string_context(
    *,
    environ: Mapping[str, str] | None = None,
    stdout: io.StringIO | None = None,
    stdin_isatty: bool = False,
    stdout_isatty: bool = False,
    stderr_isatty: bool = False,
) -> RunContext:
    """A run context on text streams (stdout given or new), for code called below `execute`."""
    return RunContext(
        stdin=io.StringIO(),
        stdout=io.StringIO() if stdout is None else stdout,
        stderr=io.StringIO(),
        environ=dict(environ or {}),
        stdin_isatty=stdin_isatty,
        stdout_isatty=stdout_isatty,
        stderr_isatty=stderr_isatty,
    )
