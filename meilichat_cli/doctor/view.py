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
    fixes = shown_fixes(report.checks)
    if ctx.stdout_isatty and not ctx.no_color:
        _rich_report(ctx, report.checks, fixes, width)
    else:
        for check, fix in zip(report.checks, fixes, strict=True):
            mark = _MARKS[check.status]
            detail = sanitize_line(check.detail)
            name = sanitize_line(check.name)
            ctx.stdout.write(f"[{mark}] {name.ljust(width)}  {detail}\n")
            if fix:
                ctx.stdout.write(f"       {' ' * width}  fix: {sanitize_line(fix)}\n")
    ctx.stdout.write(summary_line(report) + "\n")
    ctx.stdout.flush()


def shown_fixes(checks: Sequence[Check]) -> list[str | None]:
    """The fix to print under each check: none for a passed check, and a fix already
    printed above is not said again (five checks skipped for want of an admin key share one)."""
    seen: set[str] = set()
    shown: list[str | None] = []
    for check in checks:
        fix = check.fix if check.status != "ok" else None
        if fix is not None and fix in seen:
            fix = None
        if fix is not None:
            seen.add(fix)
        shown.append(fix)
    return shown


def summary_line(report: Report) -> str:
    """The verdict and the counts; a run with skipped checks does not claim they passed."""
    summary = report.to_json()["summary"]
    counts = (
        f"{summary['ok']} ok, {summary['fail']} failed, {summary['warn']} warnings,"
        f" {summary['skip']} skipped"
    )
    if not report.ok:
        verdict = "some checks failed"
    elif summary["skip"]:
        verdict = f"no check failed, but {summary['skip']} could not run"
    elif summary["warn"]:
        verdict = "all checks passed, with warnings"
    else:
        verdict = "all checks passed"
    return f"{verdict}: {counts}"


def _rich_report(
    ctx: RunContext, checks: Sequence[Check], fixes: Sequence[str | None], width: int
) -> None:
    from rich.text import Text

    console = terminal_console(ctx)
    for check, shown in zip(checks, fixes, strict=True):
        line = Text()
        line.append(f"[{_MARKS[check.status]}]", style=_STYLES[check.status])
        line.append(f" {sanitize_line(check.name).ljust(width)}  ", style="bold")
        line.append(sanitize_line(check.detail))
        console.print(line, soft_wrap=True)
        if shown:
            fix = Text(f"       {' ' * width}  fix: ", style="dim")
            fix.append(sanitize_line(shown))
            console.print(fix, soft_wrap=True)
