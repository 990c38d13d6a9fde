"""How meilichat shows markdown on a terminal, and the one-shot render of a whole answer.

`make_markdown(text)` is the only way meilichat turns model text into a rich renderable:
headings are left-aligned (rich centres `#` headings), links print their URL after the text
(`hyperlinks=False`, so a link can never hide where it points) unless the text already is the
URL (`<https://…>`, `[https://x](https://x)`), and code fences use a theme that
paints its own background, so their contrast does not depend on a dark or light terminal
(`md_code.py`: how a fence finds its lexer and how it is drawn). Model text only ever reaches
rich as markdown source; it is never parsed as rich markup.

`render_once(console, text)` prints a whole answer in one go: non-streaming display, history,
and the reference the streaming renderer (`stream.py`) must reproduce exactly.

The streaming renderer parses text itself and hands rich ready-made tokens; the parser helpers
here use exactly the settings rich's `Markdown` uses, so both see the same document.

Imports rich and markdown-it (tens of milliseconds): import this module only to paint a
terminal, never from anything `--version`, `--help` or completion loads. Must not import httpx,
typer or prompt_toolkit.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar

from markdown_it import MarkdownIt
from markdown_it.token import Token
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import Heading, Markdown, MarkdownElement, UnknownElement
from rich.segment import Segment

from meilichat_cli.text.sanitize import sanitize
from meilichat_cli.ui.md_code import CODE_THEME, FencedCode
from meilichat_cli.ui.md_list import ListItemLine
from meilichat_cli.ui.md_table import FastTable

# A token type rich does not know. rich renders unknown tokens as nothing but remembers that
# a blank line is due before the next block; the streaming renderer uses it to carry that
# memory from one printed piece of the answer to the next.
_BLANK_LINE_DUE = "meilichat_blank_line_due"


class LeftHeading(Heading):
    """A heading drawn flush left, whatever its level (rich centres some levels)."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        text = self.text.copy()
        text.justify = "left"
        yield text


class TerminalMarkdown(Markdown):
    """rich's Markdown with meilichat's heading and code elements and links shown once."""

    elements: ClassVar[dict[str, type[MarkdownElement]]] = {
        **Markdown.elements,
        "heading_open": LeftHeading,
        "fence": FencedCode,
        "code_block": FencedCode,
        "list_item_open": ListItemLine,
        "table_open": FastTable,
    }

    def __init__(self, markup: str, **options: Any) -> None:
        super().__init__(markup, **options)
        unwrap_self_describing_links(self.parsed)

    # Off for the live region of a stream: it is transient, and redrawn up to 15 times a
    # second, so the padding never reaches scrollback and trimming it would only cost.
    trim_padding: bool = True

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.trim_padding:
            yield from super().__rich_console__(console, options)
            return
        # rich pads every paragraph line to the full width with spaces: in scrollback they
        # turn into blank lines when the window narrows. Only invisible padding goes (spaces
        # without a background: a code block keeps its coloured box).
        rendered = super().__rich_console__(console, options)
        segments = (
            piece
            for item in rendered
            for piece in ((item,) if isinstance(item, Segment) else console.render(item, options))
        )
        yield from without_trailing_padding(segments)


def _invisible(segment: Segment) -> bool:
    if segment.control or segment.text.strip(" "):
        return False
    style = segment.style
    return style is None or not (
        style.bgcolor or style.reverse or style.underline or style.strike or style.overline
    )


def without_trailing_padding(segments: Iterable[Segment]) -> Iterator[Segment]:
    """The segments with the plain spaces at the end of each line left out."""
    line: list[Segment] = []
    for segment in segments:
        if segment.control or "\n" not in segment.text:
            line.append(segment)
            continue
        parts = segment.text.split("\n")
        for index, part in enumerate(parts):
            if part:
                line.append(Segment(part, segment.style))
            if index < len(parts) - 1:
                yield from _trimmed(line)
                line = []
                yield Segment("\n", segment.style)
    yield from line


def _trimmed(line: list[Segment]) -> list[Segment]:
    end = len(line)
    while end and _invisible(line[end - 1]):
        end -= 1
    kept = line[:end]
    if kept and not kept[-1].control:
        last = kept[-1]
        style = last.style
        plain = style is None or not (style.bgcolor or style.reverse or style.underline)
        if plain and last.text.endswith(" "):
            text = last.text.rstrip(" ")
            kept[-1] = Segment(text, style)
            if not text:
                kept.pop()
    return kept


def unwrap_self_describing_links(tokens: Sequence[Token]) -> None:
    """Turn links whose text is their own address into plain text, in place.

    Without hyperlinks rich prints "text (address)"; for an autolink that is the address
    twice. Nothing is hidden by printing it once: the text shown is where the link points.
    """
    for token in tokens:
        children = token.children
        if not children:
            continue
        kept: list[Token] = []
        position = 0
        while position < len(children):
            window = children[position : position + 3]
            if len(window) == 3 and _is_self_describing(*window):
                kept.append(window[1])
                position += 3
            else:
                kept.append(children[position])
                position += 1
        token.children = kept


def _is_self_describing(opening: Token, text: Token, closing: Token) -> bool:
    if (opening.type, text.type, closing.type) != ("link_open", "text", "link_close"):
        return False
    href = str(opening.attrs.get("href", ""))
    return text.content in (href, href.removeprefix("mailto:"))


def make_markdown(text: str) -> TerminalMarkdown:
    """The renderable for a piece of model text (markdown source, never rich markup).

    The text is sanitized here too (callers already do; it costs ~nothing on clean text), so
    no control sequence can reach the terminal through a code block or a link.
    """
    return TerminalMarkdown(sanitize(text), code_theme=CODE_THEME, hyperlinks=False)


def render_once(console: Console, text: str) -> None:
    """Print a whole answer at once (what the streamed scrollback must end up equal to)."""
    console.print(make_markdown(text))


def new_parser() -> MarkdownIt:
    """A markdown-it parser configured exactly like the one inside rich's `Markdown`."""
    return MarkdownIt().enable("strikethrough").enable("table")


def new_block_parser() -> MarkdownIt:
    """The same parser without the inline pass: block structure and line maps only.

    About four times faster than a full parse, which is all the streaming renderer needs to
    find where one top-level block ends and the next begins.
    """
    return new_parser().disable("inline")


@functools.cache
def _empty_markdown() -> TerminalMarkdown:
    return make_markdown("")


def markdown_from_tokens(tokens: Sequence[Token], *, blank_line_due: bool) -> TerminalMarkdown:
    """A renderable for tokens parsed elsewhere, as if they followed earlier printed blocks.

    rich puts a blank line between two top-level blocks when the first one asks for it (every
    block but a horizontal rule, which draws its own). `blank_line_due` says whether the
    output printed before these tokens ended with such a request; a leading unknown token
    replays it, so printing a document piece by piece gives exactly the bytes of printing it
    once.
    """
    # A copy of an empty one: rich builds a whole markdown-it parser for every Markdown
    # made, a tenth of the work of a streamed answer's repaints.
    markdown = copy.copy(_empty_markdown())
    unwrap_self_describing_links(tokens)
    prefix = [Token(_BLANK_LINE_DUE, "", 0)] if blank_line_due else []
    markdown.parsed = [*prefix, *tokens]
    return markdown


def wants_blank_line_after(block_type: str) -> bool:
    """Whether rich puts a blank line after a top-level block opened by a `block_type` token."""
    element = TerminalMarkdown.elements.get(block_type) or UnknownElement
    return bool(element.new_line)


def references_env(known: dict[str, Any] | None = None) -> dict[str, Any]:
    """A fresh markdown-it `env` that already knows the reference definitions in `known`."""
    return {"references": dict(known or {})}
