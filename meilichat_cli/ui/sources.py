"""The searches a turn ran and the documents they returned, shown compactly after an answer.

    movies · "space exploration" · filter year > 2010
      [1] Interstellar (id 157336)
      [2] The Martian (id 286217)

Sources are numbered continuously across a turn's searches, so `/sources N` in the REPL can
name any of them. A document is named by `source_title`: its first title-like field, with
its id when it has one; else its id; else its first short text field.

Everything shown is untrusted (documents come from the user's indexes through the server):
it is sanitized to one line and handed to rich as `Text`, never as markup.

`source_title` needs no rich (plain output uses it); rich is imported inside the functions
that print. Must not import httpx, typer or prompt_toolkit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meilichat_cli.text.sanitize import cut, sanitize_line

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from meilichat_cli.protocol.conversation import Search

# Field names that usually hold a document's title, best first (compared case-insensitively).
TITLE_FIELDS = (
    "title",
    "name",
    "label",
    "heading",
    "headline",
    "question",
    "subject",
    "caption",
    "display_name",
    "displayname",
    "full_name",
    "fullname",
    "filename",
)
# Field names that usually hold a document's primary key, best first.
ID_FIELDS = ("id", "_id", "uid", "uuid", "objectid", "pk", "key", "slug")

# Longest title kept, in characters; a terminal line cuts it further to its width.
TITLE_LIMIT = 120
# A text field longer than this is a body, not a name, when no title-like field exists.
SHORT_TEXT_LIMIT = 200
UNTITLED = "untitled document"


def source_title(document: dict[str, Any]) -> str:
    """One sanitized line naming `document`, e.g. "Interstellar (id 157336)"."""
    title, identity = source_label(document)
    if identity is None:
        return title
    if title == identity:
        return title
    return f"{title} ({identity})"


def source_label(document: dict[str, Any]) -> tuple[str, str | None]:
    """The document's name and, apart, its id ("id 157336"), both sanitized and one line."""
    identity = _identity(document)
    title = _title(document)
    if title is None:
        return (identity, None) if identity is not None else (_first_short_text(document), None)
    return title, identity


def search_header(search: Search) -> str:
    """`movies · "space exploration" · filter year > 2010` (no filter part when none)."""
    index = sanitize_line(search.index_uid) if search.index_uid else "(index not reported)"
    header = f'{index} · "{cut(sanitize_line(search.q or ""), TITLE_LIMIT)}"'
    if search.filter:
        header += f" · filter {cut(sanitize_line(search.filter), TITLE_LIMIT)}"
    return header


def source_lines(searches: list[Search]) -> list[Text]:
    """One line per search header and one per document, numbered from 1 across searches."""
    from rich.text import Text

    lines: list[Text] = []
    number = 0
    for search in searches:
        header = Text(search_header(search), style="bold", no_wrap=True, overflow="ellipsis")
        lines.append(header)
        if not search.sources:
            lines.append(Text("  no documents", style="dim", no_wrap=True))
        for document in search.sources:
            number += 1
            title, identity = source_label(document)
            line = Text.assemble(
                (f"  [{number}] ", "cyan"),
                title,
                no_wrap=True,
                overflow="ellipsis",
            )
            if identity is not None and identity != title:
                line.append(f" ({identity})", style="dim")
            lines.append(line)
    return lines


def print_sources(console: Console, searches: list[Search]) -> None:
    """Print the searches and their numbered sources, after a blank line."""
    if not searches:
        return
    from rich.console import Group
    from rich.text import Text

    console.print(Group(Text(""), *source_lines(searches)))


def _title(document: dict[str, Any]) -> str | None:
    fields = _fields_by_lower_name(document)
    for name in TITLE_FIELDS:
        _, value = fields.get(name, ("", None))
        if isinstance(value, str):
            text = _one_line(value)
            if text:
                return text
    return None


def _identity(document: dict[str, Any]) -> str | None:
    fields = _fields_by_lower_name(document)
    candidates = [fields[name] for name in ID_FIELDS if name in fields]
    # Then any other `…_id` / `…Id` field (movie_id, productId), in document order.
    candidates += [
        (key, value)
        for lower, (key, value) in fields.items()
        if lower not in ID_FIELDS and (lower.endswith(("_id", "-id")) or key.endswith("Id"))
    ]
    for key, value in candidates:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            continue
        text = _one_line(str(value))
        if text:
            return f"{_one_line(key)} {text}"
    return None


def _first_short_text(document: dict[str, Any]) -> str:
    for key, value in document.items():
        if str(key).startswith("_") or not isinstance(value, str):
            continue
        text = _one_line(value)
        if text and len(value) <= SHORT_TEXT_LIMIT:
            return text
    return UNTITLED


def _fields_by_lower_name(document: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """The document's (name, value) pairs by lowercased name; the first spelling wins."""
    fields: dict[str, tuple[str, Any]] = {}
    for key, value in document.items():
        fields.setdefault(str(key).lower(), (str(key), value))
    return fields


def _one_line(text: str) -> str:
    return cut(sanitize_line(text), TITLE_LIMIT)
