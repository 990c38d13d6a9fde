"""A conversation as a markdown document, for the REPL's `/save FILE`.

The same Markdown as `meilichat history show` and `history export` (`history.export`): the
REPL's turns are handed over as a conversation record. Model text and documents are
untrusted: control characters are removed before they reach the file.

Stdlib, `history` records and export, `protocol` and the REPL state; no I/O (the caller
writes the file).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from meilichat_cli.history.export import to_markdown
from meilichat_cli.history.records import ConversationRecord, TurnRecord, make_title
from meilichat_cli.repl.state import ChatTurn
from meilichat_cli.text.sanitize import sanitize


def conversation_markdown(
    turns: Sequence[ChatTurn],
    *,
    workspace: str,
    model: str,
    conversation_id: str | None,
    label_of: Callable[[dict[str, Any]], tuple[str, str | None]],
    profile: str | None = None,
    server_url: str = "",
    now: float | None = None,
) -> str:
    moment = time.time() if now is None else now
    record = ConversationRecord(
        id=conversation_id or "(not saved)",
        title=make_title(turns[0].question) if turns else "Conversation",
        profile=profile,
        server_url=server_url,
        workspace=workspace,
        model=model,
        created_at=moment,
        updated_at=moment,
        turns=[
            TurnRecord(
                id=turn.turn_id or "",
                seq=number,
                question=turn.question,
                answer=turn.answer,
                status=turn.status,
                finish_reason=None,
                usage=None,
                timings={},
                workspace=workspace,
                model=model,
                created_at=moment,
                searches=list(turn.searches),
            )
            for number, turn in enumerate(turns, start=1)
        ],
    )
    return sanitize(to_markdown(record, label_of=label_of))
