"""How a doctor report is shown: one line per check, its fix below, then an honest summary.

On a terminal the marks are coloured with rich (imported inside the function); in a pipe the
same lines come out plain. Check names and details can carry server text (index uids, error
messages), so every piece is sanitized here. Must not import httpx, typer or `cli`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from meilichat_cli.text.sanitize import sanitize_line
from meilichat_cli.ui.admin_view import terminal_console

if TYPE_CHECKING:
    from meilichat_cli.doctor.checks import Check, Report
    from meilichat_cli.local.context import RunContext

_MARKS = {"ok": "ok  ", "fail": "FAIL", "warn": "warn", "skip": "skip"}
_STYLES = {"ok": "green", "fail": "bold red", "warn": "yellow", "skip": "dim"}


def print_report(ctx: RunContext, report: Report) -> None:
    """One line per check (`[FAIL] name  detail`), its fix indented below, then a summary."""
    width = max((len(sanitize_line(check.name)) for check in report.checks), default=0)
    if ctx.stdout_isatty and not ctx.no_color:
        _rich_report(ctx, report.checks, width)
    else:
        for check in report.checks:
            mark = _MARKS[check.status]
            detail = sanitize_line(check.detail)
            name = sanitize_line(check.name)
            ctx.stdout.write(f"[{mark}] {name.ljust(width)}  {detail}\n")
            if check.fix and check.status != "ok":
                ctx.stdout.write(f"       {' ' * width}  fix: {sanitize_line(check.fix)}\n")
    summary = report.to_json()["summary"]
    verdict = "all checks passed" if report.ok else "some checks failed"
    ctx.stdout.write(
        f"{verdict}: {summary['ok']} ok, {summary['fail']} failed, {summary['warn']} warnings,"
        f" {summary['skip']} skipped\n"
    )
    ctx.stdout.flush()


def _rich_report(ctx: RunContext, checks: Sequence[Check], width: int) -> None:
    from rich.text import Text

    console = terminal_console(ctx)
    for check in checks:
        line = Text()
        line.append(f"[{_MARKS[check.status]}]", style=_STYLES[check.status])
        line.append(f" {sanitize_line(check.name).ljust(width)}  ", style="bold")
        line.append(sanitize_line(check.detail))
        console.print(line, soft_wrap=True)
        if check.fix and check.status != "ok":
            fix = Text(f"       {' ' * width}  fix: ", style="dim")
            fix.append(sanitize_line(check.fix))
            console.print(fix, soft_wrap=True)
