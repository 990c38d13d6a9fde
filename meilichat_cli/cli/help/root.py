"""`meilichat --help`: the root help, printed from the command table without building commands.

typer would import every command module and inspect every signature, and its rich help
imports markdown-it, to print a page that only needs the table in `cli/command_table.py`.
This module draws the same page (usage, description, the Options and Commands panels, the
epilog) by hand, with the standard library only, so the entry point can answer `meilichat`,
`meilichat -h` and `meilichat --help` before typer or rich is even imported; the root group
of `cli/root.py` prints this same page.

Must not import typer, rich or any command module.
"""

from __future__ import annotations

import os
import re
from typing import TextIO

from meilichat_cli.cli.command_table import COMMANDS

USAGE = "meilichat [OPTIONS] COMMAND [ARGS]..."
HELP = """Chat with Meilisearch chat workspaces from the terminal and from scripts.

Start with [bold]meilichat demo[/bold] (no server needed), then
[bold]meilichat profile add local --url http://127.0.0.1:7700 -w WORKSPACE[/bold].
"""
EPILOG = """[bold]Examples[/bold]

  meilichat demo "which space movies do you have?"

  meilichat profile add local --url http://127.0.0.1:7700 -w movies && meilichat key set

  meilichat ask "which plans include SSO?"

  meilichat chat -c

[bold]Environment[/bold]: MEILICHAT_PROFILE, MEILICHAT_URL, MEILICHAT_API_KEY,
MEILICHAT_WORKSPACE, MEILICHAT_MODEL, MEILICHAT_DEBUG, NO_COLOR and more: `meilichat help
environment`. Exit codes: `meilichat help exit-codes`. TAB completion: `meilichat completions
--help`.
"""
# The root group's own options: (long name, short name, help).
OPTIONS = (
    ("--version", "", "Print the version and exit."),
    ("--debug", "", "Show tracebacks and request details on errors (also MEILICHAT_DEBUG=1)."),
    ("--help", "-h", "Show this message and exit."),
)


def print_root_help(stream: TextIO, *, color: bool, width: int | None = None) -> None:
    """Write the root help page to `stream`, with colour when `color`; `width` defaults to
    the terminal's (80 in a pipe)."""
    width = max(40, width or _terminal_width(stream))
    page = _Page(color)
    page.blank()
    usage: Styled = [("Usage:", "yellow"), (" ", "")]
    usage += [(word, "bold" if word != " " else "") for word, _ in _words(USAGE)]
    for row in _wrap(usage, width - 1):
        page.line([(" ", ""), *row])
    page.blank()
    for paragraph in HELP.strip().split("\n\n"):
        page.prose(paragraph, width)
    page.panel(
        "Options",
        # The empty column is where typer shows an option's metavar; the root has none.
        [
            [(long, "bold cyan"), (short, "bold green"), ("", ""), (text, "")]
            for long, short, text in OPTIONS
        ],
        width,
    )
    page.panel(
        "Commands",
        [[(name, "bold cyan"), (entry.summary, "")] for name, entry in COMMANDS.items()],
        width,
    )
    page.blank()
    from meilichat_cli.cli.help.text import reflow

    for paragraph in reflow(EPILOG).strip().split("\n\n"):
        page.prose(paragraph, width)
    stream.write("\n".join(page.lines))
    stream.flush()


# ANSI styles, as rich and typer draw help pages.
_STYLES = {"bold": "1", "dim": "2", "yellow": "33", "bold cyan": "1;36", "bold green": "1;32"}
_BOX = {"top_left": "╭", "top_right": "╮", "bottom_left": "╰", "bottom_right": "╯"}
Styled = list[tuple[str, str]]  # (text, style) pieces of one line


class _Page:
    """The lines of the page, drawn by hand: no rich, so `meilichat --help` costs little more
    than starting Python. Wrapping is by words, like rich's."""

    def __init__(self, color: bool) -> None:
        self.color = color
        self.lines: list[str] = []

    def paint(self, text: str, style: str) -> str:
        if not self.color or not style or not text:
            return text
        return f"\x1b[{_STYLES[style]}m{text}\x1b[0m"

    def line(self, pieces: Styled) -> None:
        self.lines.append("".join(self.paint(text, style) for text, style in pieces).rstrip(" "))

    def blank(self) -> None:
        self.lines.append("")

    def prose(self, markup: str, width: int) -> None:
        """A paragraph one space in; indented lines (examples) wrap under their own start."""
        # Line breaks are kept (reflow has already joined the prose of the epilog).
        for row in markup.split("\n"):
            indent = 1 + len(row) - len(row.lstrip(" "))
            for wrapped in _wrap(_words(row.strip()), width - indent):
                self.line([(" " * indent, ""), *wrapped])
        self.blank()

    def panel(self, title: str, rows: list[Styled], width: int) -> None:
        inner = width - 4  # "│ " and " │"
        widths = [max(len(row[i][0]) for row in rows) for i in range(len(rows[0]) - 1)]
        lead = sum(widths) + 2 * len(widths)  # each column and the two spaces after it
        border = "dim"
        self.line(
            [
                (f"{_BOX['top_left']}─ ", border),
                (title, ""),
                (" " + "─" * (width - len(title) - 5) + _BOX["top_right"], border),
            ]
        )
        for row in rows:
            *cells, (text, style) = row
            head: Styled = []
            for (cell, cell_style), cell_width in zip(cells, widths, strict=True):
                head += [(cell, cell_style), (" " * (cell_width - len(cell) + 2), "")]
            words = [(word, style if word != " " else "") for word, _ in _words(text)]
            wrapped = _wrap(words, inner - lead) or [[]]
            for number, words in enumerate(wrapped):
                start = head if number == 0 else [(" " * lead, "")]
                used = lead + sum(len(piece) for piece, _ in words)
                self.line(
                    [
                        ("│ ", border),
                        *start,
                        *words,
                        (" " * (inner - used) + " ", ""),
                        ("│", border),
                    ]
                )
        self.line([(_BOX["bottom_left"] + "─" * (width - 2) + _BOX["bottom_right"], border)])


def _words(markup: str) -> Styled:
    """The words of a line of help markup (`[bold]…[/bold]` is the only markup used)."""
    words: Styled = []
    bold = False
    for part in re.split(r"(\[/?bold\])", markup):
        if part in ("[bold]", "[/bold]"):
            bold = part == "[bold]"
            continue
        if part.startswith(" ") and words:
            words.append((" ", ""))
        pieces = part.split()
        for number, word in enumerate(pieces):
            if number:
                words.append((" ", ""))
            words.append((word, "bold" if bold else ""))
        if part.endswith(" ") and pieces:
            words.append((" ", ""))
    return words


def _wrap(words: Styled, width: int) -> list[Styled]:
    """Styled words (spaces as their own pieces) in lines of at most `width` characters."""
    lines: list[Styled] = []
    current: Styled = []
    used = 0
    for word, style in words:
        if word == " ":
            if current:
                current.append((" ", ""))
                used += 1
            continue
        if used + len(word) > width and current:
            while current and current[-1][0] == " ":
                current.pop()
            lines.append(current)
            current, used = [], 0
        # Glue a word to the one before it when no space came between (`[bold]x[/bold].`).
        current.append((word, style))
        used += len(word)
    while current and current[-1][0] == " ":
        current.pop()
    if current:
        lines.append(current)
    return lines


def _terminal_width(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 80
