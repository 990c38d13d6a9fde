"""Where a batch's questions come from: a file, stdin, or the bundled example set.

`read_questions` reads them all (through `batch.input.read_items`, which refuses a file with a
malformed line) and names the source for the progress bar and the messages: the file's name,
`stdin`, or `example questions.jsonl`. A terminal on stdin, a missing file, a file that is not
UTF-8 or cannot be read are usage errors (exit 2), before anything is sent.
`example_questions_text` is the example set shipped inside the package (`--print-example`).

Imports the standard library, `batch.input` and `errors`. Must not import typer, rich or `cli`.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from meilichat_cli.batch.input import BatchItem, read_items
from meilichat_cli.errors import UsageError

if TYPE_CHECKING:
    from meilichat_cli.local.context import RunContext

EXAMPLE_QUESTIONS = "questions.jsonl"


def example_questions_text() -> str:
    """The bundled example question set (shipped inside the package)."""
    return (files("meilichat_cli") / "examples" / EXAMPLE_QUESTIONS).read_text("utf-8")


def read_questions(
    ctx: RunContext, file: str | None, *, bundled_example: bool
) -> tuple[list[BatchItem], str]:
    """Every question of the batch, and the name of where they came from."""
    if bundled_example:
        source = f"example {EXAMPLE_QUESTIONS}"
        return read_items(example_questions_text().splitlines(), source=source), source
    if file in (None, "-"):
        if ctx.stdin_isatty:
            raise UsageError(
                "batch reads questions from FILE or stdin, and stdin is a terminal",
                hint="meilichat batch questions.jsonl (or try: meilichat batch --demo)",
            )
        return read_items(ctx.stdin, source="stdin"), "stdin"
    path = Path(file)
    try:
        with path.open(encoding="utf-8-sig", errors="strict") as handle:
            return read_items(handle, source=str(path)), path.name
    except FileNotFoundError as error:
        raise UsageError(f"no such question file: {path}") from error
    except UnicodeDecodeError as error:
        raise UsageError(f"{path} is not UTF-8 text (byte {error.start})") from error
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from error
