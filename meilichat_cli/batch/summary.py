"""The figures a batch run reports at the end: counts, retrieval quality, latency percentiles.

`Tally` is fed the result objects of one workspace as they come in (a `--compare` run keeps one
per side) and describes itself as short lines of text. Percentiles use the nearest-rank method
(p50 of 1, 2, 3, 4 is 2), over the questions answered in this run that got that far: a question
that failed before its first token has no first-token time. `RunTallies` counts a whole run's
result lines (plain, `--compare` or `--as A,B`) and gives the summary that fits it.

Pure: stdlib only, no I/O; imports `text.sanitize` for text quoted from the input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from meilichat_cli.text.sanitize import sanitize_line


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile (`share` in 0..1) of `values`; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Tally:
    """Running counts for one workspace's results."""

    answered: int = 0
    failed: int = 0
    evaluated: int = 0
    hits: int = 0
    recall_sum: float = 0.0
    first_token_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    cited: int = 0
    cited_found: int = 0
    filters: int = 0
    valid_filters: int = 0
    routed_evaluated: int = 0
    routed: int = 0
    tokens: int = 0
    token_method: str | None = None

    def add(self, result: dict[str, Any]) -> None:
        self.answered += 1
        cited = result.get("cited") or []
        self.cited += len(cited)
        if result.get("cited_found") is not None:
            self.cited_found += round(float(result["cited_found"]) * len(cited))
        self.filters += int(result.get("filters") or 0)
        self.valid_filters += int(result.get("valid_filters") or 0)
        if "routed" in result:
            self.routed_evaluated += 1
            self.routed += bool(result["routed"])
        estimate = result.get("estimate")
        if isinstance(estimate, dict):
            self.tokens += int(estimate.get("total") or 0)
            self.token_method = str(estimate.get("method"))
        if not result.get("complete"):
            self.failed += 1
        if "hit" in result:
            self.evaluated += 1
            self.hits += bool(result["hit"])
            self.recall_sum += float(result.get("recall") or 0.0)
        timings = result.get("timings") or {}
        for name, values in (("first_token_ms", self.first_token_ms), ("total_ms", self.total_ms)):
            value = timings.get(name)
            if isinstance(value, (int, float)):
                values.append(float(value))

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.evaluated if self.evaluated else None

    @property
    def mean_recall(self) -> float | None:
        return self.recall_sum / self.evaluated if self.evaluated else None

    def retrieval_text(self) -> str:
        if not self.evaluated:
            return "no expectations to score (add `expect` to the questions)"
        assert self.hit_rate is not None and self.mean_recall is not None
        return (
            f"hit rate {self.hits}/{self.evaluated} ({self.hit_rate:.0%}), "
            f"mean recall {self.mean_recall:.2f}"
        )

    def grounding_text(self) -> str:
        parts = [
            f"cited ids in sources {self.cited_found}/{self.cited}"
            if self.cited
            else "no cited ids",
            f"valid filters {self.valid_filters}/{self.filters}" if self.filters else "no filters",
        ]
        if self.routed_evaluated:
            share = self.routed / self.routed_evaluated
            parts.append(f"index routing {self.routed}/{self.routed_evaluated} ({share:.0%})")
        return ", ".join(parts)

    def cost_text(self) -> str:
        method = self.token_method or "chars/4"
        return f"~{self.tokens:,} tokens sent and received (estimated, {method})"

    def latency_text(self) -> str:
        return (
            f"first token p50 {_ms(percentile(self.first_token_ms, 0.5))}, "
            f"p90 {_ms(percentile(self.first_token_ms, 0.9))}; "
            f"total p50 {_ms(percentile(self.total_ms, 0.5))}, "
            f"p90 {_ms(percentile(self.total_ms, 0.9))}"
        )


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 10_000:
        return f"{value / 1000:.1f} s"
    return f"{value:.0f} ms"


def run_lines(
    tally: Tally, *, total: int, skipped: int, interrupted: bool, label: str = ""
) -> list[str]:
    """The summary of a plain (one-workspace) run."""
    done = f"{tally.answered - tally.failed} complete, {tally.failed} failed"
    head = f"batch{label}: {tally.answered} of {total - skipped} questions asked: {done}"
    if skipped:
        head += f"; {skipped} skipped (already answered)"
    if interrupted:
        head += "; interrupted"
    return [
        head,
        f"  retrieval: {tally.retrieval_text()}",
        f"  grounding: {tally.grounding_text()}",
        f"  latency:   {tally.latency_text()}",
        f"  cost:      {tally.cost_text()}",
    ]


@dataclass
class CompareRow:
    """One question's figures on both workspaces, for the side-by-side table."""

    name: str
    a: dict[str, Any]
    b: dict[str, Any]

    @property
    def differs(self) -> bool:
        return any(self.a.get(k) != self.b.get(k) for k in ("complete", "hit", "recall"))


def _cell(result: dict[str, Any]) -> str:
    status = "ok" if result.get("complete") else "FAIL"
    if "hit" in result:
        rank = result.get("first_hit_rank")
        status += f" hit={'yes' if result['hit'] else 'no'} recall={result['recall']:.2f}"
        status += f" rank={rank if rank is not None else '-'}"
    total = (result.get("timings") or {}).get("total_ms")
    status += f" {_ms(total if isinstance(total, (int, float)) else None)}"
    return status


def compare_lines(
    rows: Sequence[CompareRow],
    tallies: tuple[Tally, Tally],
    workspaces: tuple[str, str],
    *,
    total: int,
    skipped: int,
    interrupted: bool,
) -> list[str]:
    """A side-by-side table (one row per question, `*` where retrieval differs) and totals."""
    a_name, b_name = (sanitize_line(w) for w in workspaces)
    names = [sanitize_line(row.name)[:40] for row in rows]
    cells = [(_cell(row.a), _cell(row.b)) for row in rows]
    width_name = max([len("question"), *map(len, names)])
    width_a = max([len(a_name), *(len(a) for a, _ in cells)])
    lines = [f"  {'question':<{width_name}}  {a_name:<{width_a}}  {b_name}"]
    for row, name, (cell_a, cell_b) in zip(rows, names, cells, strict=True):
        mark = "*" if row.differs else " "
        lines.append(f"{mark} {name:<{width_name}}  {cell_a:<{width_a}}  {cell_b}")
    differing = sum(row.differs for row in rows)
    head = (
        f"compare: {len(rows)} of {total - skipped} questions on both workspaces; "
        f"{differing} differ in completion or retrieval (*)"
    )
    if skipped:
        head += f"; {skipped} skipped (already answered)"
    if interrupted:
        head += "; interrupted"
    tail: list[str] = []
    for name, tally in zip((a_name, b_name), tallies, strict=True):
        tail += [
            f"  {name}: {tally.answered - tally.failed} complete, {tally.failed} failed",
            f"    retrieval: {tally.retrieval_text()}",
            f"    latency:   {tally.latency_text()}",
        ]
    return [*lines, head, *tail]


@dataclass
class PersonaRow:
    """One question answered as several personas (`batch --as A,B`)."""

    name: str
    sides: dict[str, dict[str, Any]]

    @property
    def differs(self) -> bool:
        seen = {tuple(_source_ids(side)) for side in self.sides.values()}
        return len(seen) > 1


def _source_ids(result: dict[str, Any]) -> list[str]:
    ids: list[str] = []
    for search in result.get("searches") or []:
        index = search.get("index_uid") if isinstance(search, dict) else None
        for source in (search.get("sources") or []) if isinstance(search, dict) else []:
            if not isinstance(source, dict):
                continue
            key = next((source[k] for k in ("id", "_id", "uid", "pk") if k in source), None)
            ids.append(f"{index}:{key}" if key is not None else f"{index}:?")
    return ids


def _answer_excerpt(result: dict[str, Any], limit: int = 70) -> str:
    answer = " ".join(str(result.get("answer") or "").split())
    return answer if len(answer) <= limit else answer[: limit - 1] + "…"


def persona_lines(
    rows: Sequence[PersonaRow],
    tallies: dict[str, Tally],
    *,
    total: int,
    skipped: int,
    interrupted: bool,
) -> list[str]:
    """Per question, each persona's status, sources and the start of its answer, one under
    the other and aligned (`*` where the personas got different sources), then totals."""
    names = {name: sanitize_line(name) for name in tallies}
    width = max([len(shown) for shown in names.values()] + [1])
    lines: list[str] = []
    for row in rows:
        mark = "*" if row.differs else " "
        lines.append(f"{mark} {sanitize_line(row.name)[:60]}")
        for persona, result in row.sides.items():
            status = "ok  " if result.get("complete") else "FAIL"
            sources = " ".join(_source_ids(result)) or "no sources"
            excerpt = sanitize_line(_answer_excerpt(result))
            lines.append(
                f"    {names.get(persona, persona):<{width}}  {status}  {sanitize_line(sources)}"
            )
            if excerpt:
                lines.append(f"    {'':<{width}}        “{excerpt}”")
    differing = sum(row.differs for row in rows)
    head = (
        f"compare: {len(rows)} of {total - skipped} questions as {len(tallies)} personas; "
        f"{differing} got different sources (*)"
    )
    if skipped:
        head += f"; {skipped} skipped (already answered)"
    if interrupted:
        head += "; interrupted"
    tail: list[str] = []
    for name, tally in tallies.items():
        tail += [
            f"  {names[name]}: {tally.answered - tally.failed} complete, {tally.failed} failed",
            f"    latency:   {tally.latency_text()}",
        ]
    return [*lines, head, *tail]


class RunTallies:
    """The figures of a whole run as its results come in: one `Tally` for a plain run; with
    `--compare`, one per workspace (`a`, `b`) and a `CompareRow` per question; with `--as A,B`,
    one per persona and a `PersonaRow` per question."""

    def __init__(self, sides: Sequence[str]) -> None:
        self.tallies: dict[str, Tally] = {side: Tally() for side in sides} or {"": Tally()}
        self.rows: list[Any] = []

    @property
    def asked(self) -> int:
        return sum(tally.answered for tally in self.tallies.values())

    @property
    def first(self) -> Tally:
        """The tally the thresholds are judged on (the first workspace's, in a comparison)."""
        return next(iter(self.tallies.values()))

    def add(self, name: str, result: dict[str, Any]) -> None:
        """Count one result line (`name`: the question's, for the side-by-side rows)."""
        if "" in self.tallies:
            self.tallies[""].add(result)
            return
        if isinstance(result.get("as"), dict):
            for persona, side in result["as"].items():
                self.tallies[persona].add(side)
            self.rows.append(PersonaRow(name, result["as"]))
            return
        self.tallies["a"].add(result["a"])
        self.tallies["b"].add(result["b"])
        self.rows.append(CompareRow(name, result["a"], result["b"]))

    def lines(
        self,
        *,
        workspaces: tuple[str, str] | None,
        total: int,
        skipped: int,
        interrupted: bool,
    ) -> list[str]:
        """The summary: `workspaces` names the two sides of a `--compare` run (else None)."""
        if "" in self.tallies:
            return run_lines(
                self.tallies[""], total=total, skipped=skipped, interrupted=interrupted
            )
        if workspaces is None:
            return persona_lines(
                self.rows, self.tallies, total=total, skipped=skipped, interrupted=interrupted
            )
        return compare_lines(
            self.rows,
            (self.tallies["a"], self.tallies["b"]),
            workspaces,
            total=total,
            skipped=skipped,
            interrupted=interrupted,
        )
