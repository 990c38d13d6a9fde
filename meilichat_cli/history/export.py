"""A saved conversation as Markdown (for people) or JSON (the raw record, for programs).

`to_markdown` writes each question, its answer, the turn's status when it did not complete,
failed searches, and the documents the answer drew on as a numbered list under it (each with
its index and a title-like field). `to_json` is the record as stored, times in ISO 8601.

Text is copied as stored: whoever prints the Markdown sanitizes it, and JSON escapes. Names
and source titles, which are not meant to be Markdown, are escaped so they cannot turn into
links, images or headings.

Pure: stdlib and the history records only; no rich, no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from meilichat_cli.history.records import ConversationRecord, TurnRecord, iso_time
from meilichat_cli.protocol.conversation import COMPLETE

# Document fields that usually name the document, best first.
TITLE_FIELDS = (
    "title",
    "name",
    "label",
    "heading",
    "headline",
    "subject",
    "question",
    "summary",
    "filename",
    "url",
)
TITLE_CHARS = 100

# A source document -> its name and, apart, its id ("id 16") or None.
Labeller = Callable[[dict[str, Any]], tuple[str, str | None]]

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~])")


def escape_markdown(text: str) -> str:
    """Text that Markdown shows as written, on one line."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def source_title(document: dict[str, Any]) -> str:
    """What to call a source document: its first title-like field, else its id."""
    lowered = {str(key).lower(): value for key, value in document.items()}
    for name in TITLE_FIELDS:
        value = lowered.get(name)
        if isinstance(value, str) and value.strip():
            return _cut(" ".join(value.split()))
    for name in ("id", "uid", "_id"):
        value = lowered.get(name)
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return f"document {value}"
    return "untitled document"


def label_with_id(document: dict[str, Any]) -> tuple[str, str | None]:
    """`source_title`, and apart the document's id ("id 16") when it has one."""
    title = source_title(document)
    for name in ("id", "uid", "_id", "objectID", "pk"):
        value = document.get(name)
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return title, f"id {value}"
    return title, None


def to_json(record: ConversationRecord) -> str:
    """The raw record as indented JSON. ASCII-escaped: exact text, safe on any terminal."""
    return json.dumps(record.to_json(), ensure_ascii=True, indent=2) + "\n"


def to_markdown(record: ConversationRecord, *, label_of: Labeller | None = None) -> str:
    """The one Markdown form of a conversation (`history show`, `history export`, the REPL's
    `/save`). `label_of` names a source document and, apart, its id (`label_with_id` by
    default); each source is listed as `1. Title (`index`, id 16)`."""
    lines = [f"# {escape_markdown(record.title)}", ""]
    lines.append(f"- Conversation: `{record.id}`")
    where = f"- Workspace: {_code(record.workspace)} · Model: {_code(record.model)}"
    lines.append(f"{where} · Server: {_code(record.server_url)}")
    if record.profile:
        lines.append(f"- Profile: {_code(record.profile)}")
    lines.append(f"- Started {iso_time(record.created_at)}, updated {iso_time(record.updated_at)}")
    for turn in record.turns:
        lines += ["", *_turn_lines(turn, record, label_of or label_with_id)]
    return "\n".join(lines).rstrip("\n") + "\n"


def _turn_lines(turn: TurnRecord, record: ConversationRecord, label_of: Labeller) -> list[str]:
    lines = [f"## Question {turn.seq}", "", turn.question.strip() or "*(empty)*", ""]
    if turn.workspace != record.workspace or turn.model != record.model:
        lines += [f"*Asked in workspace {_code(turn.workspace)} with {_code(turn.model)}*", ""]
    lines += ["### Answer", "", turn.answer.strip() or "*(no answer)*", ""]
    if turn.status != COMPLETE:
        lines += [f"*Status: {escape_markdown(turn.status)}*", ""]
    for error in turn.errors:
        kind = "Search failed" if error.is_search_error else "Error"
        code = f" ({_code(error.code)})" if error.code else ""
        lines.append(f"> {kind}{code}: {escape_markdown(error.message)}")
    if turn.errors:
        lines.append("")
    numbered = [
        (search.index_uid, document) for search in turn.searches for document in search.sources
    ]
    if numbered:
        lines += ["**Sources**", ""]
        for number, (index_uid, document) in enumerate(numbered, start=1):
            title, identity = label_of(document)
            where = [_code(index_uid)] if index_uid else []
            if identity and identity != title:
                where.append(escape_markdown(identity))
            suffix = f" ({', '.join(where)})" if where else ""
            lines.append(f"{number}. {escape_markdown(title)}{suffix}")
        lines.append("")
    return lines


def _code(text: str) -> str:
    """Inline code that no backtick inside the text can close early."""
    flat = " ".join(text.split())
    fence = "`" * (max((len(run) for run in re.findall("`+", flat)), default=0) + 1)
    padding = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{padding}{flat}{padding}{fence}"


def _cut(text: str) -> str:
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1].rstrip() + "…"
