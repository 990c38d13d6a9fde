"""How a batch run shows itself on stderr while it works.

On a terminal (when the results go elsewhere): a rich progress bar (done/total, failures,
questions per second, time left), with a line printed above it for each failed question.
Elsewhere (CI logs, a file): no bar, only those failure lines, so logs stay readable. stdout
is never touched: it belongs to the result lines.

rich is imported only when a bar is drawn. Must not import httpx or typer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from meilichat_cli.text.sanitize import sanitize_line

if TYPE_CHECKING:
    from rich.progress import Progress, Task, TaskID
    from rich.text import Text

    from meilichat_cli.local.context import RunContext


class BatchProgress(Protocol):
    def __enter__(self) -> BatchProgress: ...

    def __exit__(self, *exc_info: object) -> None: ...

    def advance(self, *, failed: bool) -> None: ...

    def failure(self, line: str) -> None: ...


def failure_line(name: str, result: dict[str, Any]) -> str:
    """`failed q7: <first error message>` (`failed q7 on WS: …` per side of a compare run),
    sanitized, one line."""
    sides = [result[side] for side in ("a", "b") if isinstance(result.get(side), dict)]
    parts = []
    for side in sides or [result]:
        if side.get("complete") is True:
            continue
        where = f" on {side.get('workspace')}" if sides else ""
        parts.append(f"failed {name}{where}: {_first_failure(side)}")
    return sanitize_line("; ".join(parts))[:300]


def _first_failure(result: dict[str, Any]) -> str:
    # A failed search (`response_error`) does not fail the answer; name what did.
    for error in result.get("errors") or []:
        if isinstance(error, dict) and error.get("type") != "response_error":
            return str(error.get("message") or "error")
    return "incomplete answer"


class LogProgress:
    """No bar: only the failures, one line each."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def advance(self, *, failed: bool) -> None:
        pass

    def failure(self, line: str) -> None:
        self.ctx.note(line)


class BarProgress:
    """A rich progress bar on stderr."""

    def __init__(self, ctx: RunContext, total: int, *, description: str = "batch") -> None:
        self.ctx = ctx
        self.total = total
        self.description = description
        self.failed = 0
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> BarProgress:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class RateColumn(ProgressColumn):
            """Questions answered per second so far."""

            def render(self, task: Task) -> Text:
                elapsed = task.elapsed or 0.0
                if not task.completed or elapsed <= 0:
                    return Text("- q/s")
                return Text(f"{task.completed / elapsed:.1f} q/s")

        console = Console(
            file=self.ctx.stderr,
            force_terminal=True,
            no_color=self.ctx.no_color,
            highlight=False,
            markup=False,
            emoji=False,
            # COLUMNS, TERM and friends come from the run's environment, not the process's.
            _environ=self.ctx.environ,
        )
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            RateColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._progress.__enter__()
        self._task = self._progress.add_task(self.description, total=self.total, failed=0)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)
            self._progress = None

    def advance(self, *, failed: bool) -> None:
        assert self._progress is not None and self._task is not None
        self.failed += failed
        self._progress.update(self._task, advance=1, failed=self.failed)

    def failure(self, line: str) -> None:
        assert self._progress is not None
        self._progress.console.print(line, markup=False, highlight=False)


def make_progress(
    ctx: RunContext, total: int, *, results_on_terminal: bool, description: str = "batch"
) -> BatchProgress:
    """A bar when stderr is a terminal, unless the results go to that terminal too (the bar
    would be torn by the result lines written under it)."""
    if ctx.stderr_isatty and not results_on_terminal:
        return BarProgress(ctx, total, description=description)
    return LogProgress(ctx)
