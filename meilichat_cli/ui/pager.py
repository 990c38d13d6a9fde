"""Long text through a pager when stdout is a terminal, else written as it is.

The pager is $PAGER from the run's environment (default `less`, with `LESS=FRX` unless set:
quit when it fits one screen, keep colours, leave the text on screen). A pager that cannot be
started falls back to writing. Must not import httpx, typer or prompt_toolkit.
"""

from __future__ import annotations

import shlex
import subprocess
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meilichat_cli.local.context import RunContext


def page(ctx: RunContext, text: str) -> None:
    if not text.endswith("\n"):
        text += "\n"
    if not ctx.stdout_isatty:
        ctx.stdout.write(text)
        ctx.stdout.flush()
        return
    command = shlex.split(ctx.environ.get("PAGER") or "less")
    if not command:
        command = ["less"]
    environ = dict(ctx.environ)
    environ.setdefault("LESS", "FRX")
    ctx.stdout.flush()
    try:
        subprocess.run(command, input=text, text=True, env=environ, check=False)
    except OSError:
        ctx.stdout.write(text)
        ctx.stdout.flush()
