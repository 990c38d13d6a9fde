"""`batch --max-tokens`: the run's token budget, checked before each question starts.

`TokenBudget.guard` wraps the function that answers one question: once the tokens spent so far
(the `estimate.total` of each result, both sides of a `--compare` or `--as A,B` result), plus
the average cost of a question, would exceed the limit, no new question starts: the budget
is marked `reached`, the run's `stop` event is set (questions already running are stopped)
and the question is left unanswered (`runner.Stopped`).

Standard library only, plus `batch.runner`'s `Stopped`; never prints. Must not import typer,
rich or `cli`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from meilichat_cli.batch.runner import Stopped

if TYPE_CHECKING:
    from meilichat_cli.batch.input import BatchItem


class TokenBudget:
    """--max-tokens: no new question starts once the tokens spent so far, plus the average
    cost of a question, would exceed the budget (questions already running are stopped)."""

    def __init__(self, limit: int | None, stop: threading.Event) -> None:
        self.limit = limit
        self.stop = stop
        self.spent = 0
        self.counted = 0
        self.reached = False
        self._lock = threading.Lock()

    def spend(self, result: dict[str, Any]) -> None:
        if isinstance(result.get("as"), dict):  # --as A,B: one result per persona
            parts = [part for part in result["as"].values() if isinstance(part, dict)]
        elif "a" in result and "b" in result:  # --compare
            parts = [result["a"], result["b"]]
        else:
            parts = [result]
        with self._lock:
            for part in parts:
                estimate = part.get("estimate")
                if isinstance(estimate, dict):
                    self.spent += int(estimate.get("total") or 0)
            self.counted += 1

    def guard(
        self, answer: Callable[[BatchItem], dict[str, Any]]
    ) -> Callable[[BatchItem], dict[str, Any]]:
        if self.limit is None:
            return answer
        limit = self.limit

        def guarded(item: BatchItem) -> dict[str, Any]:
            with self._lock:
                average = self.spent / self.counted if self.counted else 0
                if self.counted and self.spent + average > limit:
                    self.reached = True
                    self.stop.set()
                    raise Stopped
            result = answer(item)
            self.spend(result)
            return result

        return guarded
