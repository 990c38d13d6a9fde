"""Where a batch's result lines go, and the compaction of a resumed output file.

`OutputFile` opens stdout or the `--output` file; when that file is also the `--resume` file
it is appended to (ending a half-written last line first), and on closing it is left with
one line per question (`keep_latest_results`: a retried question's earlier failed line is
dropped). `finish_compaction` does that job for a run that had nothing left to ask.

Imports the standard library, `batch.input`, `local.files` and `errors`; never prints but
through the run context's warnings. Must not import typer, rich or `cli`.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from meilichat_cli.batch.input import latest_results
from meilichat_cli.errors import MeilichatError, UsageError
from meilichat_cli.local.files import atomic_write

if TYPE_CHECKING:
    from meilichat_cli.local.context import RunContext


class OutputFile:
    """stdout, or the --output file (appended to when it is also the --resume file)."""

    def __init__(self, ctx: RunContext, output: str | None, resume_path: Path | None) -> None:
        self.ctx = ctx
        self.output = output
        self.resume_path = resume_path
        self._file: TextIO | None = None
        self._appending = False

    def __enter__(self) -> TextIO:
        if self.output is None or self.output == "-":
            return self.ctx.stdout
        path = Path(self.output)
        appending = self.resume_path is not None and _same_file(path, self.resume_path)
        self._appending = appending
        try:
            self._file = path.open("a" if appending else "w", encoding="utf-8")
        except OSError as error:
            raise UsageError(f"cannot write {path}: {error.strerror}") from error
        if appending and path.stat().st_size and not _ends_with_newline(path):
            # A run killed mid-line left half a line: end it so ours start on their own line.
            self._file.write("\n")
        return self._file

    def __exit__(self, *exc_info: object) -> None:
        if self._file is None:
            return
        self._file.close()
        if self._appending:
            keep_latest_results(self.ctx, Path(self.output or ""))


def finish_compaction(ctx: RunContext, output: str | None, resume_path: Path) -> None:
    """With nothing left to ask: when the output is the resumed file, compact it now (a run
    killed between appending and compacting left a retried question's old line behind)."""
    if output not in (None, "-") and _same_file(Path(output or ""), resume_path):
        keep_latest_results(ctx, resume_path)


def keep_latest_results(ctx: RunContext, path: Path) -> None:
    """Leave the resumed file with one line per question (see batch.input.latest_results)."""
    try:
        current = path.read_text(encoding="utf-8")
        compact, dropped = latest_results(current)
        if compact == current:
            return
        mode = stat.S_IMODE(path.stat().st_mode)
        atomic_write(path, compact.encode("utf-8"), mode=mode, own_directory=False)
    except (OSError, UnicodeDecodeError, MeilichatError) as error:
        ctx.warn(f"{path}: left with the earlier lines of retried questions ({error})")
        return
    if dropped:
        ctx.warn(f"{path}: dropped {dropped} line(s) that were not results")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, 2)
        return handle.read(1) == b"\n"
