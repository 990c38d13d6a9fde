"""`batch --min-hit-rate` / `--min-recall`: the thresholds a run is judged against.

`require_expectations` refuses a run with thresholds and no question that has `expect`
before anything is sent (there would be nothing to judge); `gate_failures` says, after the
run, which thresholds its retrieval figures fall short of (the run then exits 5).

Pure: imports `errors` and, for types, `batch.input` and `batch.summary`; no I/O. Must not
import typer, rich or `cli`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from meilichat_cli.errors import UsageError

if TYPE_CHECKING:
    from meilichat_cli.batch.input import BatchItem
    from meilichat_cli.batch.summary import Tally


def require_expectations(
    items: Sequence[BatchItem], *, min_hit_rate: float | None, min_recall: float | None
) -> None:
    """Refuse thresholds when no question has `expect` to be judged on (exit 2)."""
    gates = [
        name
        for name, value in (("--min-hit-rate", min_hit_rate), ("--min-recall", min_recall))
        if value is not None
    ]
    if gates and not any(item.question.expect for item in items):
        raise UsageError(
            f"{' and '.join(gates)} need questions with `expect`, and none has one",
            hint='add "expect": [ids] to the questions the run should be judged on',
        )


def gate_failures(
    tally: Tally, *, min_hit_rate: float | None, min_recall: float | None
) -> list[str]:
    """Why the run misses --min-hit-rate / --min-recall (none when it meets them)."""
    short: list[str] = []
    hit_rate, recall = tally.hit_rate, tally.mean_recall
    if min_hit_rate is not None and hit_rate is not None and hit_rate < min_hit_rate:
        short.append(
            f"hit rate {tally.hits}/{tally.evaluated} ({hit_rate:.0%}) is below"
            f" --min-hit-rate {min_hit_rate:g}"
        )
    if min_recall is not None and recall is not None and recall < min_recall:
        short.append(f"mean recall {recall:.2f} is below --min-recall {min_recall:g}")
    return short
