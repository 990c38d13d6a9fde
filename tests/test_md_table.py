"""Markdown tables drawn by `FastTable` are byte for byte what rich's own table draws.

Every case is printed twice with the same console settings, once through rich's
`TableElement` (which builds a `Table`) and once through `FastTable`, and the two outputs
must be equal: across widths, colour systems (truecolor, 256 colours, 16 colours, none) and
terminals or not, in rich's plain `Markdown` and in meilichat's `TerminalMarkdown` with its
trailing padding trimmed or kept. Other tests check that the fast path is really taken where it
should be (the benchmark's table, the written cases that fit) and left where it must be.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any, ClassVar

import hypothesis_profiles  # noqa: F401 - loads the shared hypothesis profile
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich import box
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import Markdown, MarkdownElement, TableElement
from rich.segment import Segment

from meilichat_cli.standin.scenarios import long_answer_deltas
from meilichat_cli.text.sanitize import sanitize
from meilichat_cli.ui.markdown import CODE_THEME, TerminalMarkdown, make_markdown, render_once
from meilichat_cli.ui.md_table import FastTable, rich_draws_tables_alike


class RichMarkdown(Markdown):
    """rich's Markdown with `FastTable` (the other side is rich's Markdown as it is)."""

    elements: ClassVar[dict[str, type[MarkdownElement]]] = {
        **Markdown.elements,
        "table_open": FastTable,
    }


class TerminalMarkdownWithRichTables(TerminalMarkdown):
    """meilichat's Markdown as it was before: tables drawn by rich's `Table`."""

    elements: ClassVar[dict[str, type[MarkdownElement]]] = {
        **TerminalMarkdown.elements,
        "table_open": TableElement,
    }


COLOR_SYSTEMS = ("truecolor", "256", "standard", None)


class AsciiFile(io.StringIO):
    """A stream whose encoding is ASCII: rich then draws boxes with ASCII characters."""

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "ascii"


def console(
    width: int, color_system: str | None, *, ascii_only: bool = False, **settings: Any
) -> Console:
    settings["file"] = AsciiFile() if ascii_only else io.StringIO()
    settings.setdefault("force_terminal", True)
    return Console(width=width, color_system=color_system, **settings)  # type: ignore[arg-type]


def printed(markdown: Markdown, width: int, color_system: str | None, **settings: Any) -> str:
    target = console(width, color_system, **settings)
    target.print(markdown)
    file = target.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


def assert_same_as_rich(source: str, width: int, color_system: str | None, **settings: Any) -> None:
    """Both element classes print `source` alike, in rich's Markdown and in meilichat's."""
    expected = printed(Markdown(source, hyperlinks=False), width, color_system, **settings)
    actual = printed(RichMarkdown(source, hyperlinks=False), width, color_system, **settings)
    assert actual == expected
    for trim in (True, False):
        # What make_markdown builds, with the other table element.
        old = TerminalMarkdownWithRichTables(
            sanitize(source), code_theme=CODE_THEME, hyperlinks=False
        )
        new = make_markdown(source)
        old.trim_padding = new.trim_padding = trim
        assert printed(new, width, color_system, **settings) == printed(
            old, width, color_system, **settings
        )


class FastPathSpy:
    """Counts the tables drawn, and those left to rich."""

    def __init__(self) -> None:
        self.drawn = 0
        self.fallbacks = 0


@contextlib.contextmanager
def counting_fast_path() -> Iterator[FastPathSpy]:
    counts = FastPathSpy()
    original = FastTable.fast_segments

    def counting(
        self: FastTable, console: Console, options: ConsoleOptions
    ) -> list[Segment] | None:
        result = original(self, console, options)
        counts.drawn += 1
        counts.fallbacks += result is None
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FastTable, "fast_segments", counting)
        yield counts


@pytest.fixture
def spy() -> Iterator[FastPathSpy]:
    with counting_fast_path() as counts:
        yield counts


# Tables that fit at 60 columns and up, so the fast path must draw them there.
FITTING = {
    "benchmark": "| key | value |\n| --- | ---: |\n| item | 7 |\n| square | 49 |\n",
    "alignments": (
        "| left | centre | right | none |\n|:-----|:------:|------:|------|\n"
        "| a | b | c | d |\n| longer text | x | 12345 | y |\n"
    ),
    "centre odd and even": "| c |\n|:-:|\n| ab |\n| abc |\n| abcd |\n| |\n",
    "empty cells": "| a | b | c |\n|---|:-:|--:|\n|  | x |  |\n| y |  |  |\n",
    "empty last column": "| a | |\n|---|---|\n| b | |\n",
    "empty header": "| | |\n|--|--|\n| x | y |\n",
    "header only": "| only | a header |\n|---|:-:|\n",
    "inline styles": (
        "| name | note |\n|---|---:|\n| `code` | **bold** and *italic* |\n"
        "| ~~gone~~ | mixed **b *bi* b** `c` |\n"
    ),
    "styled header": "| **bold** head | `code` head |\n|:-:|--:|\n| x | y |\n",
    "links": (
        "| site | link |\n|---|:-:|\n| [docs](https://e.com/d) | <https://a.b> |\n"
        '| [x](https://x.e "title") | plain |\n'
    ),
    "escaped pipe and html": "| a \\| b | <kbd>Ctrl</kbd> |\n|---|---|\n| 1 | <b>x</b> |\n",
    "trailing spaces in code": "| `a  ` | `  b` |\n|--:|:-:|\n| `x ` | y |\n",
    "single-cell unicode": "| café | — |\n|---|--:|\n| naïve → ✓ | Ωμέγα ±1 |\n",
    "missing and extra cells": "| a | b | c |\n|---|---|---|\n| 1 |\n| 1 | 2 | 3 | 4 |\n",
    "in a quote": "> | a | b |\n> |---|--:|\n> | x | 12 |\n",
    "in a list": "- item\n\n  | a | b |\n  |---|:-:|\n  | x | y |\n",
    "after a paragraph": "Some text.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nMore text.\n",
    "as wide as 60 columns": "| " + "x" * 55 + " | y |\n|---|---|\n",
    "two tables": "| a |\n|---|\n| 1 |\n\n| b | c |\n|--:|---|\n| 2 | 3 |\n",
}

# Tables the fast path must leave to rich (at the width given).
FALLING_BACK = {
    "too wide": ("| a | b |\n|---|---|\n| " + "word " * 30 + "| x |\n", 60),
    "one column too wide": ("| " + "x" * 56 + " | y |\n|---|---|\n", 60),
    "wide characters": ("| 中文 | x |\n|---|---|\n| 表 | y |\n", 60),
    "emoji": ("| a | b |\n|---|---|\n| 🙂 | ✅ |\n", 60),
    "zero-width": ("| a\u200bb | c\u0301 |\n|---|---|\n| x | y |\n", 60),
    "no-break space": ("| a\u00a0b | c |\n|---|---|\n| x | y |\n", 60),
    "tab": ("| a\tb | c |\n|---|---|\n| x | y |\n", 60),
    "narrow": ("| a | b | c | d | e | f | g | h |\n|---|---|---|---|---|---|---|---|\n", 20),
}


@pytest.mark.parametrize("name", sorted(FITTING))
@pytest.mark.parametrize("width", [60, 80, 100, 200])
@pytest.mark.parametrize("color_system", COLOR_SYSTEMS)
def test_a_table_that_fits_is_drawn_by_the_fast_path_as_rich_draws_it(
    name: str, width: int, color_system: str | None, spy: FastPathSpy
) -> None:
    assert_same_as_rich(FITTING[name], width, color_system)
    assert spy.drawn > 0
    assert spy.fallbacks == 0


@pytest.mark.parametrize("name", sorted(FALLING_BACK))
@pytest.mark.parametrize("color_system", COLOR_SYSTEMS)
def test_a_table_outside_the_proven_case_is_left_to_rich(
    name: str, color_system: str | None, spy: FastPathSpy
) -> None:
    source, width = FALLING_BACK[name]
    assert_same_as_rich(source, width, color_system)
    assert spy.drawn > 0
    assert spy.fallbacks == spy.drawn


@pytest.mark.parametrize("name", sorted(FITTING))
@pytest.mark.parametrize("width", range(20, 60, 3))
def test_narrow_widths_print_the_same_whichever_path_draws_them(name: str, width: int) -> None:
    assert_same_as_rich(FITTING[name], width, "truecolor")


@pytest.mark.parametrize(
    "settings",
    [
        {"force_terminal": False},
        {"no_color": True},
        {"ascii_only": True},
        {"legacy_windows": True},
    ],
    ids=["not a terminal", "no colour", "ascii only", "legacy windows"],
)
@pytest.mark.parametrize("name", ["benchmark", "alignments", "inline styles"])
def test_other_consoles_print_the_same(name: str, settings: dict[str, Any]) -> None:
    assert_same_as_rich(FITTING[name], 80, "truecolor", **settings)
    assert_same_as_rich(FITTING[name], 80, None, **settings)


def test_a_console_that_needs_another_box_is_left_to_rich(spy: FastPathSpy) -> None:
    printed(make_markdown(FITTING["benchmark"]), 80, "truecolor", ascii_only=True)
    printed(make_markdown(FITTING["benchmark"]), 80, "truecolor", legacy_windows=True)
    assert (spy.drawn, spy.fallbacks) == (2, 2)


def test_the_benchmark_answer_draws_every_table_on_the_fast_path(spy: FastPathSpy) -> None:
    # The long answer of the benchmark (`scenario:long`): if its tables fell back to rich,
    # printing it would cost what it cost before, silently.
    answer = "".join(long_answer_deltas(3000))
    tables = answer.count("| --- | ---: |")
    assert tables > 5
    for width in (80, 100, 200):
        target = console(width, "truecolor")
        render_once(target, answer)
    assert spy.drawn == 3 * tables
    assert spy.fallbacks == 0


def test_the_installed_rich_draws_the_probe_table_as_the_fast_path_does() -> None:
    assert rich_draws_tables_alike()


def test_a_rich_that_draws_tables_otherwise_draws_every_table_itself(
    monkeypatch: pytest.MonkeyPatch, spy: FastPathSpy
) -> None:
    # rich before 15 drew markdown tables with another box and other styles: the probe must
    # notice, whatever the difference, and leave every table to rich.
    original = TableElement.__rich_console__

    def heavier(self: TableElement, console: Console, options: ConsoleOptions) -> RenderResult:
        for table in original(self, console, options):
            table.box = box.SIMPLE_HEAVY  # type: ignore[union-attr]
            yield table

    monkeypatch.setattr(TableElement, "__rich_console__", heavier)
    rich_draws_tables_alike.cache_clear()
    try:
        assert not rich_draws_tables_alike()
        assert_same_as_rich(FITTING["benchmark"], 80, "truecolor")
        assert "━" in printed(make_markdown(FITTING["benchmark"]), 80, None)
    finally:
        rich_draws_tables_alike.cache_clear()
    assert spy.drawn > 0
    assert spy.fallbacks == spy.drawn


# Generated tables: cells from characters that exercise inline markup, escapes, spaces and
# characters of every width, at any width from 20 to 200.
ASCII_PIECES = [*"abcXYZ019 .,:-_", "**", "*", "`", "~~", "\\|", "<kbd>", "&#32;"]
OTHER_PIECES = ["é", "—", "→", "中", "🙂", "\u200b", "\u0301", "\u00a0", "\t", "&nbsp;"]
CELL_CHARS = st.sampled_from([*ASCII_PIECES, "[x](http://e.x)", *OTHER_PIECES])
CELL = st.lists(CELL_CHARS, max_size=12).map("".join)
ALIGN = st.sampled_from(["---", ":--", "--:", ":-:"])


@st.composite
def tables(
    draw: st.DrawFn, cell: st.SearchStrategy[str] = CELL, max_columns: int = 6, max_rows: int = 5
) -> str:
    columns = draw(st.integers(1, max_columns))
    row = st.lists(cell, min_size=columns, max_size=columns)
    rows = draw(st.lists(row, max_size=max_rows))
    header = draw(row)
    aligns = draw(st.lists(ALIGN, min_size=columns, max_size=columns))
    lines = ["| " + " | ".join(cells) + " |" for cells in [header, aligns, *rows]]
    return "\n".join(lines) + "\n"


@given(
    tables(),
    st.integers(20, 200),
    st.sampled_from(COLOR_SYSTEMS),
)
def test_any_table_prints_as_rich_prints_it(
    source: str, width: int, color_system: str | None
) -> None:
    assert_same_as_rich(source, width, color_system)


@given(st.lists(st.text(st.characters(codec="utf-8"), max_size=8), min_size=2, max_size=6))
def test_any_characters_in_cells_print_as_rich_prints_them(cells: list[str]) -> None:
    # Arbitrary code points, put where markdown-it keeps them in a cell.
    cleaned = [cell.replace("|", "").replace("\n", " ").replace("\r", " ") for cell in cells]
    half = len(cleaned) // 2
    source = (
        "| " + " | ".join(cleaned[:half]) + " |\n| " + " | ".join(["--:"] * half) + " |\n"
        "| " + " | ".join(cleaned[half : 2 * half]) + " |\n"
    )
    assert_same_as_rich(source, 80, "truecolor")


# Cells of printable ASCII only, short enough that four columns always fit in 200.
ASCII_CELL = st.lists(
    st.sampled_from(ASCII_PIECES),
    max_size=8,
).map("".join)


@given(tables(ASCII_CELL, max_columns=4, max_rows=4), st.sampled_from(COLOR_SYSTEMS))
def test_any_table_of_short_ascii_cells_is_drawn_by_the_fast_path(
    source: str, color_system: str | None
) -> None:
    with counting_fast_path() as counts:
        assert_same_as_rich(source, 200, color_system)
    # Some sources are no table at all to markdown-it (a header with an empty first cell
    # and one column, for instance); those that are must be drawn without rich's Table.
    assert counts.fallbacks == 0
