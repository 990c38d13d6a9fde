"""A conversation as a markdown document, for the REPL's `/save FILE`.

Each turn becomes the question, the answer (marked when it did not complete) and the
documents the answer was built on, numbered as `/sources` numbers them. Model text and
documents are untrusted: control characters are removed before they reach the file.

Stdlib, `protocol` and `chat_state` only; no I/O (the caller writes the file).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from meilichat_cli.protocol.conversation import COMPLETE
from meilichat_cli.repl.state import ChatTurn
from meilichat_cli.text.sanitize import sanitize, sanitize_line


def conversation_markdown(
    turns: Sequence[ChatTurn],
    *,
    workspace: str,
    model: str,
    conversation_id: str | None,
    title_of: Callable[[dict[str, Any]], str],
    now: float | None = None,
) -> str:
    title = sanitize_line(turns[0].question.splitlines()[0]) if turns else "Conversation"
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(time.time() if now is None else now))
    about = f"workspace `{sanitize_line(workspace)}` · model `{sanitize_line(model)}` · {stamp}"
    if conversation_id:
        about += f" · conversation `{conversation_id[:8]}`"
    parts = [f"# {title}", f"_{about}_"]
    for number, turn in enumerate(turns, start=1):
        parts.append(f"## {number}. Question")
        parts.append(sanitize(turn.question).strip() or "(empty)")
        heading = "Answer" if turn.status == COMPLETE else f"Answer ({turn.status})"
        parts.append(f"### {heading}")
        parts.append(sanitize(turn.answer).strip() or "_(no text)_")
        sources = _source_lines(turn, title_of)
        if sources:
            parts.append("### Sources")
            parts.append("\n".join(sources))
    return "\n\n".join(parts) + "\n"


def _source_lines(turn: ChatTurn, title_of: Callable[[dict[str, Any]], str]) -> list[str]:
    lines: list[str] = []
    number = 0
    for search in turn.searches:
        where = sanitize_line(search.index_uid or "?")
        query = sanitize_line(search.q or "")
        for document in search.sources:
            number += 1
            lines.append(f"{number}. {sanitize_line(title_of(document))} — `{where}` “{query}”")
    return lines
