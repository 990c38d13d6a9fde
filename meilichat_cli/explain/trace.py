"""The retrieval trace of one turn, as lines for people.

    first token 412.0 ms · total 980.3 ms · ~1,234 tokens (1,100 sent, 134 received; chars/4 ±30%)
    1. movies · "space" · filter year > 2000 · started 12.3 ms · took 5.1 ms · 3 hits: 1, 16, 52

Times are milliseconds from sending the request: a search starts with its progress event and
ends with its sources event (`protocol.conversation.Search`). Everything shown comes from the
server or the model, so it is sanitized to one line per search. Stdlib, `protocol` and `text`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from meilichat_cli.protocol.conversation import Search
from meilichat_cli.text.sanitize import cut, sanitize_line

# How many document ids one trace line lists before "…".
IDS_SHOWN = 10
TEXT_LIMIT = 80


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f} ms"


def cost_line(estimate: Mapping[str, Any] | None) -> str | None:
    """`~1,234 tokens (1,100 sent, 134 received; chars/4 ±30%)`, or None without one."""
    if not isinstance(estimate, Mapping):
        return None
    sent = estimate.get("sent", {}).get("total", 0)
    received = estimate.get("received", {}).get("total", 0)
    total = estimate.get("total", 0)
    method = sanitize_line(str(estimate.get("method", "?")))
    if estimate.get("exact"):
        how = method
        prefix = ""
    else:
        how = f"{method} ±{round(float(estimate.get('error_band', 0)) * 100)}%"
        prefix = "~"
    return f"{prefix}{total:,} tokens ({sent:,} sent, {received:,} received; {how})"


def search_line(number: int, search: Search) -> str:
    parts = [sanitize_line(search.index_uid or "(index not reported)")]
    parts.append(f'"{cut(sanitize_line(search.q or ""), TEXT_LIMIT)}"')
    if search.filter:
        parts.append(f"filter {cut(sanitize_line(search.filter), TEXT_LIMIT)}")
    parts.append(f"started {_ms(search.started_ms)}")
    parts.append(f"took {_ms(search.elapsed_ms)}")
    ids = [sanitize_line(str(key)) for key in search.ids]
    hits = len(search.sources)
    listed = ", ".join(ids[:IDS_SHOWN]) + (", …" if len(ids) > IDS_SHOWN else "")
    parts.append(f"{hits} hit{'' if hits == 1 else 's'}" + (f": {listed}" if listed else ""))
    return f"{number}. " + " · ".join(parts)


def trace_lines(
    searches: Sequence[Search],
    timings: Mapping[str, Any] | None,
    estimate: Mapping[str, Any] | None = None,
) -> list[str]:
    """The head line (first token, total, cost) and one line per search."""
    timings = timings or {}
    head = [
        f"first token {_ms(timings.get('first_token_ms'))}",
        f"total {_ms(timings.get('total_ms'))}",
    ]
    cost = cost_line(estimate)
    if cost is not None:
        head.append(cost)
    lines = [" · ".join(head)]
    if not searches:
        lines.append("no search")
    lines += [search_line(number, search) for number, search in enumerate(searches, start=1)]
    return lines
