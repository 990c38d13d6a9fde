"""List items in markdown, drawn without rich's generic layout when they fit on one line.

rich draws a list item (`rich.markdown.ListItem`) by rendering its contents through
`render_lines` at the width left after the bullet: the paragraph is wrapped, justified,
padded, split into lines and cropped, styles applied layer by layer, about 0.08 ms an item.
Most items of a model's lists are a single short paragraph; for those, `ListItemLine` takes
the paragraph's own segments (`Text.render`, the one step that decides the styles) and adds
what the other layers would have added: the padding to the width and the item's style. The
result is the same segments, style for style (tests compare the two over generated lists);
any other item (two paragraphs, a nested list, a line to wrap, a wide character) is drawn by
rich, and so is every item when the installed rich draws a probe list otherwise (`md_probe`).

Imports rich (and markdown-it, through rich.markdown): import it only to paint a terminal.
Must not import httpx, typer or prompt_toolkit.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar, cast

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import ListItem, Markdown, MarkdownElement, Paragraph
from rich.segment import Segment

from meilichat_cli.ui.md_probe import draws_alike


class ListItemLine(ListItem):
    """rich's list item, with its line built directly when it is one short paragraph."""

    def render_bullet(self, console: Console, options: ConsoleOptions) -> RenderResult:
        line = self.one_line(console, options.max_width - 3)
        if line is None:
            yield from super().render_bullet(console, options)
            return
        # What rich's ListItem.render_bullet puts around the line.
        yield Segment(" • ", console.get_style("markdown.item.bullet", default="none"))
        yield from line
        yield Segment("\n")

    def render_number(
        self, console: Console, options: ConsoleOptions, number: int, last_number: int
    ) -> RenderResult:
        number_width = len(str(last_number)) + 2
        line = self.one_line(console, options.max_width - number_width)
        if line is None:
            yield from super().render_number(console, options, number, last_number)
            return
        # What rich's ListItem.render_number puts around the line.
        number_style = console.get_style("markdown.item.number", default="none")
        yield Segment(f"{number}".rjust(number_width - 1) + " ", number_style)
        yield from line
        yield Segment("\n")

    def one_line(self, console: Console, width: int) -> list[Segment] | None:
        """The item's only line as `render_lines` would give it, or None when the item is
        anything but one paragraph of one-cell characters that fits in `width`, or when the
        installed rich draws list items otherwise."""
        if not rich_draws_list_items_alike():
            return None
        return self.direct_line(console, width)

    def direct_line(self, console: Console, width: int) -> list[Segment] | None:
        """`one_line` without the check of rich's version."""
        # rich annotates Renderables.__iter__ as returning an Iterable, which mypy rejects.
        elements = list(cast(Any, self.elements))
        if len(elements) != 1 or type(elements[0]) is not Paragraph or width < 1:
            return None
        paragraph = elements[0]
        text = paragraph.text
        plain = text.plain
        if (
            paragraph.justify != "left"
            or text.style
            or text.end != "\n"
            or len(plain) > width
            or not plain.isprintable()  # no line break, tab or control code to expand
            or cell_len(plain) != len(plain)
        ):
            return None
        # Text.wrap would not break the line; its left justification pads it to the width.
        line = text.copy()
        line.justify = "left"
        line.truncate(width, pad=True)
        segments = list(line.render(console))
        style = self.style
        if not style:  # render_lines applies no style then
            return segments
        return [Segment(piece, style + piece_style) for piece, piece_style, _ in segments]


class _ProbeItem(ListItemLine):
    one_line = ListItemLine.direct_line


class _ProbeMarkdown(Markdown):
    elements: ClassVar[dict[str, type[MarkdownElement]]] = {
        **Markdown.elements,
        "list_item_open": _ProbeItem,
    }


@functools.cache
def rich_draws_list_items_alike() -> bool:
    """Whether the installed rich draws a probe list exactly as with `ListItemLine`."""

    def draw_both(console: Console) -> tuple[list[Segment], list[Segment] | None]:
        probe = "- plain\n- **bold**, `code` and *more*\n\n7. seven\n8. eight\n"
        return list(console.render(Markdown(probe), console.options)), list(
            console.render(_ProbeMarkdown(probe), console.options)
        )

    return draws_alike(draw_both)
