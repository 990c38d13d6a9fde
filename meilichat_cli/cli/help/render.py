"""Render the reference tables (`topics`) as terminal text, and `docs/reference.md`.

    text(topic)            what `meilichat help TOPIC` prints (plain text, 79 columns)
    markdown_block(topic)  a table as markdown, between its marker comments
    reference_document()   the whole of docs/reference.md: every command and option (read from
                           the click command tree, see `commands_doc`), then the tables

`python -m meilichat_cli.cli.help.topics` runs `main`: --write rewrites docs/reference.md,
--check exits 1 when it is stale (naming the command that regenerates it), --markdown prints
the tables' section, --text TOPIC prints a topic.

Imports: the standard library and `topics` at module level; `commands_doc` (typer) inside
`reference_document`. No I/O except in `main`.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

from meilichat_cli.cli.help.topics import (
    ENVIRONMENT,
    ENVIRONMENT_INTRO,
    EXIT_CODES,
    EXIT_CODES_INTRO,
    FILES,
    FILES_INTRO,
    JSON_INTRO,
    JSON_SHAPES,
    TOPICS,
    Topic,
)

WIDTH = 79
REFERENCE_PATH = Path("docs") / "reference.md"
WRITE_COMMAND = "python -m meilichat_cli.cli.help.topics --write"
SECTION_HEADING = "## Tables"
SECTION_INTRO = (
    "Exit codes, environment variables, files and JSON shapes, as `meilichat help TOPIC` prints"
    " them (from `meilichat_cli/cli/help/topics.py`)."
)
DOCUMENT_INTRO = f"""# meilichat reference

Generated from the code: every command and option from the command tree that `meilichat
--help` shows, the tables from `meilichat_cli/cli/help/topics.py`. Do not edit by hand:
regenerate with `{WRITE_COMMAND}` (a test fails when this file is stale).
For a guided introduction, read [the user guide](usage.md).

- [Commands](#commands)
- [Exit codes](#exit-codes)
- [Environment variables](#environment-variables)
- [Files](#files)
- [JSON output](#json-output)"""


def topic(name: str) -> Topic:
    for candidate in TOPICS:
        if candidate.name == name:
            return candidate
    raise KeyError(name)


# --------------------------------------------------------------------------- plain text


def text(name: str) -> str:
    """The topic as plain text for a terminal, ending with a newline."""
    chosen = topic(name)
    body = _TEXT_RENDERERS[name]()
    return f"{chosen.title.upper()}\n\n{body.rstrip()}\n"


def topics_text() -> str:
    """`meilichat help` without a topic: the list of topics."""
    width = max(len(t.name) for t in TOPICS)
    lines = ["Reference topics (meilichat help TOPIC):", ""]
    lines += [f"  {t.name:<{width}}  {t.summary}" for t in TOPICS]
    lines += [
        "",
        "Help on a command: meilichat COMMAND --help (or meilichat help COMMAND).",
    ]
    return "\n".join(lines) + "\n"


def _wrap(text_: str, indent: str = "", hanging: str | None = None) -> str:
    return textwrap.fill(
        text_,
        width=WIDTH,
        initial_indent=indent,
        subsequent_indent=indent if hanging is None else hanging,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _exit_codes_text() -> str:
    parts = [_wrap(EXIT_CODES_INTRO), ""]
    for row in EXIT_CODES:
        parts.append(_wrap(row.meaning, f"  {int(row.code):<5}", " " * 7))
        if row.kinds:
            parts.append(_wrap("error kind: " + ", ".join(row.kinds), " " * 7))
    return "\n".join(parts)


def _environment_text() -> str:
    parts = [_wrap(ENVIRONMENT_INTRO), ""]
    for row in ENVIRONMENT:
        parts.append("  " + ", ".join(row.names))
        parts.append(_wrap(row.meaning, " " * 6))
        parts.append(_wrap(f"Default: {row.default}.", " " * 6))
    return "\n".join(parts)


def _files_text() -> str:
    parts = [_wrap(FILES_INTRO), ""]
    for row in FILES:
        parts.append(f"  {row.name}")
        parts.append(_wrap(f"{row.location} (moved by {row.moved_by})", " " * 6))
        parts.append(_wrap(row.meaning, " " * 6))
    return "\n".join(parts)


def _json_text() -> str:
    parts = [_wrap(JSON_INTRO)]
    for shape in JSON_SHAPES:
        parts += ["", shape.title, _wrap(shape.where, "  "), ""]
        for field in shape.fields:
            parts.append(_wrap(f"{field.name} ({field.type}): {field.meaning}", "    ", " " * 8))
    return "\n".join(parts)


_TEXT_RENDERERS: dict[str, Callable[[], str]] = {
    "exit-codes": _exit_codes_text,
    "environment": _environment_text,
    "files": _files_text,
    "json": _json_text,
}


# --------------------------------------------------------------------------- markdown


def _cell(value: str) -> str:
    return value.replace("|", "\\|")


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _code(names: tuple[str, ...]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def _exit_codes_markdown() -> str:
    rows = [(str(int(row.code)), row.meaning, _code(row.kinds)) for row in EXIT_CODES]
    return EXIT_CODES_INTRO + "\n\n" + _table(("code", "meaning", "error `kind`"), rows)


def _environment_markdown() -> str:
    rows = [(_code(row.names), row.meaning, row.default) for row in ENVIRONMENT]
    return ENVIRONMENT_INTRO + "\n\n" + _table(("variable", "meaning", "default"), rows)


def _files_markdown() -> str:
    rows = [
        (_code(tuple(row.name.split(", "))), row.location, row.moved_by, row.meaning)
        for row in FILES
    ]
    return FILES_INTRO + "\n\n" + _table(("file", "default place", "moved by", "holds"), rows)


def _json_markdown() -> str:
    parts = [JSON_INTRO]
    for shape in JSON_SHAPES:
        rows = [(f"`{field.name}`", field.type, field.meaning) for field in shape.fields]
        parts.append(f"**{shape.title}.** {shape.where}")
        parts.append(_table(("field", "type", "meaning"), rows))
    return "\n\n".join(parts)


_MARKDOWN_RENDERERS: dict[str, Callable[[], str]] = {
    "exit-codes": _exit_codes_markdown,
    "environment": _environment_markdown,
    "files": _files_markdown,
    "json": _json_markdown,
}


def markdown_block(name: str) -> str:
    """The markdown table(s) of a topic, between its marker comments."""
    return f"<!-- reference:{name} -->\n{_MARKDOWN_RENDERERS[name]()}\n<!-- /reference:{name} -->"


def markdown_section() -> str:
    """The tables' section of docs/reference.md, as `--markdown` prints it."""
    parts = [SECTION_HEADING, SECTION_INTRO]
    for chosen in TOPICS:
        parts += [f"### {chosen.title}", markdown_block(chosen.name)]
    return "\n\n".join(parts) + "\n"


def reference_document() -> str:
    """The whole text of docs/reference.md."""
    from meilichat_cli.cli.help.commands_doc import commands_markdown

    return "\n\n".join(
        [DOCUMENT_INTRO, "## Commands", commands_markdown(level=3), markdown_section()]
    )


def stale(current: str) -> bool:
    """Whether `current` (the text of docs/reference.md) differs from what the code gives."""
    return current != reference_document()


# --------------------------------------------------------------------------- entry point

USAGE = f"""usage: python -m meilichat_cli.cli.help.topics --write [{REFERENCE_PATH}]
       python -m meilichat_cli.cli.help.topics --check [{REFERENCE_PATH}]
       python -m meilichat_cli.cli.help.topics --markdown
       python -m meilichat_cli.cli.help.topics --text TOPIC
"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--markdown"]:
        sys.stdout.write(markdown_section())
        return 0
    if len(args) == 2 and args[0] == "--text" and args[1] in _TEXT_RENDERERS:
        sys.stdout.write(text(args[1]))
        return 0
    if args[:1] in (["--write"], ["--check"]) and len(args) <= 2:
        path = Path(args[1]) if len(args) == 2 else REFERENCE_PATH
        expected = reference_document()
        try:
            current = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = ""
        except OSError as error:
            sys.stderr.write(f"cannot read {path}: {error.strerror}\n")
            return 2
        if args[0] == "--check":
            if current != expected:
                sys.stderr.write(f"{path} is out of date; run: {WRITE_COMMAND}\n")
                return 1
            return 0
        if current != expected:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(expected, encoding="utf-8")
            sys.stderr.write(f"updated {path}\n")
        return 0
    sys.stderr.write(USAGE)
    return 2
