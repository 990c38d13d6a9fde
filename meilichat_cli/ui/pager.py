"""Long text through a pager when stdout is a terminal, else written as it is.

The pager is $PAGER from the run's environment (default `less -R`, with `LESS=FRX` unless set,
as git does: a text that fits on one screen is just printed, colours are kept, the text stays
on screen). An empty PAGER or `cat` means no pager; a pager that cannot be started falls back
to writing. `history show` and `meilichat source` both page through here.

Must not import httpx, typer or prompt_toolkit.
"""

from __future__ import annotations

import shlex
import subprocess
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meilichat_cli.local.context import RunContext

DEFAULT_PAGER = "less -R"


def page(ctx: RunContext, text: str) -> None:
    """Show `text` (ending with a newline) through the pager on a terminal."""
    if not text.endswith("\n"):
        text += "\n"
    if not ctx.stdout_isatty:
        _write(ctx, text)
        return
    command = ctx.environ.get("PAGER")
    try:
        argv = shlex.split(DEFAULT_PAGER if command is None else command)
    except ValueError:
        argv = []
    if not argv or argv[0] == "cat":
        _write(ctx, text)
        return
    environ = dict(ctx.environ)
    environ.setdefault("LESS", "FRX")
    ctx.stdout.flush()
    try:
        pager = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=ctx.stdout.fileno(),
            env=environ,
            text=True,
            encoding="utf-8",
        )
    except (OSError, ValueError):  # not startable, or stdout has no file descriptor
        _write(ctx, text)
        return
    assert pager.stdin is not None
    try:
        pager.stdin.write(text)
        pager.stdin.close()
    except OSError:
        pass  # the reader quit the pager early
    try:
        pager.wait()
    except KeyboardInterrupt:
        pager.wait()


def _write(ctx: RunContext, text: str) -> None:
    ctx.stdout.write(text)
    ctx.stdout.flush()
