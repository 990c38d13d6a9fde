"""Questions asked on the terminal: a yes/no confirmation and a secret typed without echo.

One place for both, over the run's context: with the process's own terminal, the secret is
read with echo off (typer's hidden prompt); with streams a test built, the same question is
written to the context's stderr and the answer read from its stdin. Ctrl-C or Ctrl-D at a
prompt is `Interrupted` (exit 130, nothing changed). Imports typer only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from meilichat_cli.local.context import RunContext

YES = ("y", "yes")


def ask_yes_no(ctx: RunContext, question: str) -> bool:
    """`question [y/N]`; only y or yes goes ahead."""
    ctx.stderr.write(f"{question} [y/N] ")
    ctx.stderr.flush()
    line = ctx.stdin.readline()
    if not line:  # Ctrl-D
        from meilichat_cli.errors import Interrupted

        ctx.stderr.write("\n")
        raise Interrupted("cancelled; nothing was changed")
    return line.strip().lower() in YES


def ask_secret(ctx: RunContext, label: str, *, cancelled: str) -> str:
    """A secret typed at `label: ` without echo, stripped ("" when nothing was typed)."""
    from meilichat_cli.errors import Interrupted

    if not ctx.owns_process:
        ctx.stderr.write(f"{label}: ")
        ctx.stderr.flush()
        return ctx.stdin.readline().strip()
    try:
        value = typer.prompt(label, hide_input=True, default="", show_default=False, err=True)
    except typer.Abort:  # Ctrl-C or Ctrl-D
        raise Interrupted(cancelled) from None
    return str(value).strip()
