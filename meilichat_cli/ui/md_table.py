"""Draw a markdown table with the bytes rich draws, without building rich's `Table`.

rich turns every markdown table into a `Table` (box `SIMPLE`, no edge padding, collapsed
padding, the border style `markdown.table.border`, headers in `table.header` plus
`markdown.table.header`), which measures every cell by rendering it, lays the columns out,
then renders every cell again through a `Padding` and two passes of line splitting: about
0.7 ms for two columns and three rows, the largest share of printing a long answer.

`FastTable` computes the same segments directly for the case where no cell has to wrap: each
column as wide as its widest cell plus the one space that separates it from the next, the
rule under the header, and each cell justified as its `---:` / `:---:` marker says. Anything
outside what is proven equal goes to rich's own rendering (`fast_segments` returns None):
a table wider than the space it is given (rich would shrink and wrap columns), a cell with a
character that is not one printable single-cell character (a tab, a control or a wide or
zero-width character), rows with another number of cells than the header, a terminal limited
to ASCII or a legacy Windows console (rich swaps the box for another). `tests/test_md_table.py`
compares the output of both, byte for byte, over written cases and generated tables.

That is rich's table as rich 15 draws it; older versions (meilichat allows rich 13.7 and up)
draw it with another box and other styles. So before the first table of a process is drawn,
`rich_draws_tables_alike` draws a small table both ways (`md_probe.py`, once) and the fast
path is only taken when the two agree segment for segment.

Imports rich (and so markdown-it, through rich.markdown). Must not import httpx, typer or
prompt_toolkit.
"""

from __future__ import annotations

import functools

from rich import box
from rich.cells import get_character_cell_size
from rich.console import Console, ConsoleOptions, JustifyMethod, RenderResult
from rich.markdown import (
    TableBodyElement,
    TableDataElement,
    TableElement,
    TableHeaderElement,
    TableRowElement,
)
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from meilichat_cli.ui.md_probe import draws_alike

# What rich's markdown table uses (rich/markdown.py `TableElement`).
_BOX = box.SIMPLE
_NULL = Style.null()
# What a cell's `---:` / `:---:` / `:---` marker (or none) gives its text.
_JUSTIFY = frozenset({"default", "left", "right", "center"})
_STRIPPED = frozenset({"right", "center"})  # rich strips trailing spaces before it pads these


@functools.lru_cache(maxsize=4096)
def _single_cell(character: str) -> bool:
    return get_character_cell_size(character) == 1


def _plain_cells(text: str) -> bool:
    """Whether every character of `text` is printable and one cell wide.

    Then its cell length is its length, it holds no line break or tab, and nothing in rich's
    measuring or justifying treats two characters as one.
    """
    if not text.isprintable():  # newlines, tabs, controls, format and separator characters
        return False
    return text.isascii() or all(map(_single_cell, text))


class FastTable(TableElement):
    """rich's markdown table, drawn without a `Table` when no cell has to wrap."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        segments = self.fast_segments(console, options)
        if segments is None:
            yield from super().__rich_console__(console, options)
        else:
            yield from segments

    def fast_segments(self, console: Console, options: ConsoleOptions) -> list[Segment] | None:
        """The segments rich would draw for this table, or None where rich must draw it."""
        if not rich_draws_tables_alike():
            return None
        return self._draw(console, options)

    def _draw(self, console: Console, options: ConsoleOptions) -> list[Segment] | None:
        if options.ascii_only or options.legacy_windows:
            return None  # rich would substitute another box
        header = self.header.row if self.header is not None else None
        if header is None or not header.cells:
            return None
        rows: list[list[TableDataElement]] = [header.cells]
        if self.body is not None:
            rows.extend(row.cells for row in self.body.rows)
        columns = len(header.cells)
        for cells in rows:
            if len(cells) != columns:
                return None
            for cell in cells:
                content = cell.content
                if (
                    content.style
                    or content.justify not in _JUSTIFY
                    or not _plain_cells(content.plain)
                ):
                    return None
        # Column widths: the widest cell, plus one space on the right but for the last column
        # (rich's padding (0, 1), collapsed, without edge padding). An empty column is 1 wide.
        last = columns - 1
        widths = [
            max(len(cells[index].content.plain) for cells in rows) + (index != last) or 1
            for index in range(columns)
        ]
        available = options.max_width - (2 + columns - 1)  # the edges and the dividers
        if available < 2 or sum(widths) > available:
            return None  # rich shrinks the columns and wraps their cells

        border = console.get_style("markdown.table.border")
        header_style = console.get_style("table.header")
        new_line = Segment.line()
        out: list[Segment] = [Segment(_BOX.get_top(widths), border), new_line]
        for row_index, cells in enumerate(rows):
            first = row_index == 0
            if first:
                left, divider, right = _BOX.head_left, _BOX.head_vertical, _BOX.head_right
            elif row_index == len(rows) - 1:
                left, divider, right = _BOX.foot_left, _BOX.foot_vertical, _BOX.foot_right
            else:
                left, divider, right = _BOX.mid_left, _BOX.mid_vertical, _BOX.mid_right
            out.append(Segment(left, border))
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True)):
                if index:
                    out.append(Segment(divider, border))
                pad = index != last
                line = _cell_line(console, cell, width - pad, header=first)
                if pad:
                    line.append(Segment(" ", _NULL))
                if first and header_style:
                    line = [Segment(piece.text, header_style + piece.style) for piece in line]
                out.extend(line)
            out.append(Segment(right, border))
            out.append(new_line)
            if first:
                out.append(Segment(_BOX.get_row(widths, "head", edge=True), border))
                out.append(new_line)
        out.append(Segment(_BOX.get_bottom(widths), border))
        out.append(new_line)
        return out


def _cell_line(
    console: Console, cell: TableDataElement, width: int, *, header: bool
) -> list[Segment]:
    """One cell's text justified in `width` cells, as rich's `Text` renders it there.

    rich renders a header cell with `markdown.table.header` over its text and a body cell
    without a style of its own; only a cell with inline markup (spans) needs rich's `Text`.
    """
    content = cell.content
    if not width:
        # An empty column before the last: rich renders nothing at width 0 and fills the
        # cell with its one space of padding.
        return []
    justify = content.justify
    if content.spans:
        return _rich_cell_line(console, content, width, header=header)
    plain = content.plain
    if justify in _STRIPPED:
        plain = plain.rstrip()
    size = len(plain)
    before = (
        width - size if justify == "right" else (width - size) // 2 if justify == "center" else 0
    )
    after = width - size - before
    if header and plain:
        # Text.render: the spaces around the text in the text's own (null) style.
        text_style = _NULL + console.get_style("markdown.table.header")
        line = [Segment(" " * before, _NULL)] if before else []
        line.append(Segment(plain, text_style))
        if after:
            line.append(Segment(" " * after, _NULL))
        return line
    if justify == "default":
        # The text as it is (an empty one too: rich keeps its empty segment), then the
        # padding rich adds to make the line `width` wide.
        line = [Segment(plain)]
        if after:
            line.append(Segment(" " * after, _NULL))
        return line
    # Justified text pads itself: one segment.
    return [Segment(" " * before + plain + " " * after)]


def _rich_cell_line(console: Console, content: Text, width: int, *, header: bool) -> list[Segment]:
    """A cell with inline markup, justified with rich's own `Text` operations and rendered."""
    text = content.copy()
    if header:
        text.stylize("markdown.table.header")
    justify = content.justify
    if justify == "left":
        text.truncate(width, overflow="ellipsis", pad=True)
    elif justify == "right":
        text.rstrip()
        text.pad_left(width - len(text.plain))
    elif justify == "center":
        text.rstrip()
        text.pad_left((width - len(text.plain)) // 2)
        text.pad_right(width - len(text.plain))
    line = list(text.render(console))
    if width > len(text.plain):
        line.append(Segment(" " * (width - len(text.plain)), _NULL))
    return line


def _probe() -> FastTable:
    """A small table with every alignment, inline styles, an empty cell and an empty column."""

    def row(*cells: tuple[str, JustifyMethod, str | None]) -> TableRowElement:
        made = TableRowElement()
        for text, justify, style in cells:
            cell = TableDataElement(justify)
            cell.content.append(text)
            if style:
                cell.content.append(" x", style)
            made.cells.append(cell)
        return made

    table = FastTable()
    table.header = TableHeaderElement()
    table.header.row = row(
        ("key", "default", None),
        ("", "left", None),
        ("mid", "center", "markdown.code"),
        ("value", "right", None),
    )
    table.body = TableBodyElement()
    table.body.rows = [
        row(
            ("a b", "default", "markdown.strong"),
            ("", "left", None),
            ("c", "center", None),
            ("1", "right", None),
        ),
        row(
            ("", "default", None),
            ("", "left", None),
            ("long cell", "center", None),
            ("22", "right", "markdown.em"),
        ),
        row(
            ("end", "default", None), ("", "left", None), ("", "center", None), ("", "right", None)
        ),
    ]
    return table


@functools.cache
def rich_draws_tables_alike() -> bool:
    """Whether the installed rich draws the probe table exactly as `FastTable` does."""

    def draw_both(console: Console) -> tuple[list[Segment], list[Segment] | None]:
        probe = _probe()
        reference = TableElement()  # rich's own element, with the same rows
        reference.header, reference.body = probe.header, probe.body
        return list(console.render(reference, console.options)), probe._draw(
            console, console.options
        )

    return draws_alike(draw_both)
