"""Reading a batch: the question file (JSON Lines) and, for `--resume`, an earlier output.

Every line of the question file is checked before anything is sent: a malformed line, a
wrong shape or a repeated `id` makes the whole batch a usage error (exit 2) that lists the
bad lines, so a long run never stops half-way on a typo. Blank lines are skipped (they still
count in line numbers).

A question is known by its `id`, or by its line number when it has none; `--resume` skips the
questions whose key appears in the earlier output with `complete: true`. Lines of that output
that are not JSON objects (a run killed mid-write) are skipped and counted.

Stdlib only; reads the files it is given; imports `question_input` and `errors`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from meilichat_cli.chat.question import MAX_INPUT_BYTES, Question, decode_json, parse_question
from meilichat_cli.errors import UsageError

# How many bad lines one error message lists before it summarises the rest.
SHOWN_PROBLEMS = 10


@dataclass(frozen=True)
class BatchItem:
    """One question of the batch and where it came from."""

    line: int  # 1-based line number in the question file
    question: Question

    @property
    def key(self) -> str:
        return item_key(self.question.id, self.line)

    @property
    def name(self) -> str:
        """How reports refer to it: its id, else its line."""
        ident = self.question.id
        return f"line {self.line}" if ident is None else str(ident)


def item_key(ident: object, line: object) -> str:
    """The resume key: the JSON text of the id (so 7 and "7" differ), else the line number."""
    if ident is None:
        return f"line:{line}"
    return json.dumps(ident)


def read_items(lines: Iterable[str], *, source: str) -> list[BatchItem]:
    """Parse every line; raise one UsageError listing the bad ones."""
    items: list[BatchItem] = []
    problems: list[str] = []
    first_line_of: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        text = raw.lstrip("\ufeff") if number == 1 else raw
        if not text.strip():
            continue
        if len(text.encode("utf-8", "surrogatepass")) > MAX_INPUT_BYTES:
            problems.append(f"line {number}: longer than the {MAX_INPUT_BYTES // 2**20} MiB limit")
            continue
        try:
            question = parse_question(decode_json(text, where="input"), where="input")
        except UsageError as error:
            problems.append(f"line {number}: {error.message}")
            continue
        item = BatchItem(number, question)
        if question.id is not None:
            earlier = first_line_of.setdefault(item.key, number)
            if earlier != number:
                problems.append(f"line {number}: id {item.key} repeats line {earlier}")
                continue
        items.append(item)
    if problems:
        shown = problems[:SHOWN_PROBLEMS]
        if len(problems) > SHOWN_PROBLEMS:
            shown.append(f"… and {len(problems) - SHOWN_PROBLEMS} more")
        count = len(problems)
        raise UsageError(
            # One line, as every error is printed: the problems are separated by "; ".
            f"{source}: {count} bad line{'s' if count != 1 else ''}, nothing was sent: "
            + "; ".join(shown),
            hint="each line is one JSON object: "
            '{"id": "q1", "prompt": "…", "expect": ["movies:42"]}',
        )
    if not items:
        raise UsageError(f"{source} holds no questions")
    return items


@dataclass
class ResumeState:
    """What an earlier output already answered."""

    answered: set[str]
    unreadable_lines: int = 0
    ends_mid_line: bool = False


def read_answered(path: Path) -> ResumeState:
    """The keys of complete results in an earlier output file (missing file: none)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ResumeState(set())
    except OSError as error:
        raise UsageError(f"cannot read --resume file {path}: {error.strerror}") from error
    state = ResumeState(set(), ends_mid_line=bool(data) and not data.endswith(b"\n"))
    for raw in data.decode("utf-8", "replace").splitlines():
        if not raw.strip():
            continue
        try:
            result = json.loads(raw)
        except (ValueError, RecursionError):  # deeply nested, or a 5000-digit number
            state.unreadable_lines += 1
            continue
        if not isinstance(result, dict):
            state.unreadable_lines += 1
            continue
        if result.get("complete") is True:
            state.answered.add(item_key(result.get("id"), result.get("line")))
    return state


def latest_results(data: str) -> tuple[str, int]:
    """An output file with one line per question, the last result of each, in input order;
    and how many lines were dropped as not being results (half a line left by a killed run).

    A resumed run appends the retried questions' new lines after the failed ones; this is the
    file as if the run had gone right the first time.
    """
    latest: dict[str, tuple[int, str]] = {}
    dropped = 0
    for raw in data.splitlines():
        if not raw.strip():
            continue
        try:
            result = json.loads(raw)
        except (ValueError, RecursionError):
            result = None
        if not isinstance(result, dict) or not isinstance(result.get("line"), int):
            dropped += 1
            continue
        latest[item_key(result.get("id"), result["line"])] = (result["line"], raw)
    kept = sorted(latest.values(), key=lambda found: found[0])
    return "".join(raw + "\n" for _line, raw in kept), dropped
