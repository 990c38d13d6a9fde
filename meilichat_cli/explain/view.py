"""Replays, traces and documents as plain lines for people (sanitized, no markup).

`explain_lines` lays out one replay (`replay.replay_turn`): per search a header, then each
ranked document with its score, the rule that decided its place and a mark (`✓`) when the
chat received it, then what differs. `pick_turn` and `source_at` choose what to explain from a
saved conversation. Imports `ui.sources` for document titles, `history` records, `errors`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from meilichat_cli.errors import UsageError
from meilichat_cli.text.sanitize import cut, sanitize, sanitize_line
from meilichat_cli.ui.sources import source_title

if TYPE_CHECKING:
    from meilichat_cli.history.records import ConversationRecord, TurnRecord
    from meilichat_cli.protocol.conversation import Search

RECEIVED_MARK = "✓"
TEXT_LIMIT = 80


def pick_turn(record: ConversationRecord, number: int | None) -> TurnRecord:
    """Turn `number` (1-based) of the conversation, or its last turn."""
    if not record.turns:
        raise UsageError(f"conversation {record.id[:8]} has no saved turn")
    if number is None:
        return record.turns[-1]
    if not 1 <= number <= len(record.turns):
        raise UsageError(
            f"conversation {record.id[:8]} has no turn {number}",
            hint=f"give --turn from 1 to {len(record.turns)}",
        )
    return record.turns[number - 1]


def source_at(searches: Sequence[Search], number: int) -> tuple[Search, dict[str, Any]]:
    """Source `number` as the sources list numbers them (from 1, across searches)."""
    numbered = [(search, document) for search in searches for document in search.sources]
    if not numbered:
        raise UsageError("the answer has no sources")
    if not 1 <= number <= len(numbered):
        raise UsageError(f"no source {number}", hint=f"give a number from 1 to {len(numbered)}")
    return numbered[number - 1]


def _score(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


def search_header(replay: Mapping[str, Any]) -> str:
    parts = [
        f"search {replay['number']}",
        sanitize_line(str(replay.get("index_uid") or "(index not reported)")),
        f'"{cut(sanitize_line(str(replay.get("q") or "")), TEXT_LIMIT)}"',
    ]
    if replay.get("filter"):
        parts.append(f"filter {cut(sanitize_line(str(replay['filter'])), TEXT_LIMIT)}")
    params = replay.get("parameters") or {}
    if "limit" in params:
        parts.append(f"limit {params['limit']}")
    if params.get("sort"):
        parts.append("sort " + sanitize_line(", ".join(map(str, params["sort"]))))
    total = replay.get("estimated_total_hits")
    if total is not None:
        took = replay.get("processing_ms")
        parts.append(f"{total} hits" + (f" in {took} ms" if took is not None else ""))
    return " · ".join(parts)


def explain_lines(result: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    for replay in result.get("searches", []):
        if lines:
            lines.append("")
        lines.append(search_header(replay))
        error = replay.get("error")
        if error and not replay.get("hits"):
            lines.append(f"  replay failed: {sanitize_line(str(error.get('message')))}")
        hits = replay.get("hits") or []
        if hits:
            lines.append(f"    {'rank':>4}  {'score':<6}  {'decided by':<12}  document")
        for hit in hits:
            mark = RECEIVED_MARK if hit.get("received") else " "
            rule = sanitize_line(str(hit.get("deciding_rule") or "-"))
            title = cut(source_title(hit.get("document") or {}), TEXT_LIMIT)
            lines.append(
                f"  {mark} {hit['rank']:>4}  {_score(hit.get('score')):<6}  {rule:<12}  {title}"
            )
        received = [sanitize_line(str(key)) for key in replay.get("received_ids", [])]
        lines.append(
            f"  {RECEIVED_MARK} received by the chat: "
            + (", ".join(received) if received else "nothing")
        )
        performance = replay.get("performance")
        if isinstance(performance, Mapping) and performance:
            shown = ", ".join(
                f"{sanitize_line(str(k))} {sanitize_line(str(v))}" for k, v in performance.items()
            )
            lines.append(f"  performance: {cut(shown, 200)}")
        found = replay.get("differences") or []
        if not found:
            lines.append("  differences: none")
        else:
            lines.append("  differences:")
            lines += [f"    - {sanitize_line(str(item.get('message')))}" for item in found]
    if not result.get("searches"):
        lines.append("The answer ran no search: nothing to replay.")
    for note in result.get("notes", []):
        lines.append(f"note: {sanitize_line(str(note))}")
    return lines


def document_lines(
    number: int, index_uid: str | None, document: Mapping[str, Any], how: str
) -> list[str]:
    """Source N in full: a heading, each field (long text kept whole), and where it came from."""
    title = source_title(dict(document))
    lines = [f"[{number}] {title}  ({sanitize_line(index_uid or '?')})"]
    for key, value in document.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        lines.append(f"{sanitize_line(str(key))}: {sanitize(shown)}")
    lines.append(f"(from {sanitize_line(how)})")
    return lines


def load_turn(
    history_db: Any, prefix: str | None, number: int | None, warn: Callable[[str], None]
) -> tuple[ConversationRecord, TurnRecord]:
    """The saved conversation `prefix` (default: the latest) and its turn `number` (default:
    the last). Raises NotFoundError when there is none. What opening the store has to say (a
    corrupt file moved aside) goes to `warn`, before any "not found"."""
    from meilichat_cli.history.store import load_conversation

    record = load_conversation(history_db, prefix, warn)
    return record, pick_turn(record, number)
