"""List items drawn without rich's generic layout print exactly what rich prints."""

from __future__ import annotations

import io

import hypothesis_profiles  # noqa: F401 - loads the shared hypothesis profile
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import ListItem
from rich.segment import Segment

from meilichat_cli.standin.scenarios import long_answer_deltas
from meilichat_cli.ui import md_list
from meilichat_cli.ui.markdown import render_once

WORDS = [
    "alpha",
    "beta",
    "`code`",
    "**bold**",
    "*italic*",
    "~~gone~~",
    "[a link](https://example.com/x)",
    "<https://example.com>",
    "x_y",
    "&amp;",
    "\\*",
    "é",
    "名前",  # two cells a character: drawn by rich
]


def printed(text: str, width: int, color_system: str | None) -> str:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=width, color_system=color_system)  # type: ignore[arg-type]
    render_once(console, text)
    return out.getvalue()


def printed_by_rich(
    monkeypatch: pytest.MonkeyPatch, text: str, width: int, color_system: str | None
) -> str:
    with monkeypatch.context() as patch:
        patch.setattr(md_list.ListItemLine, "one_line", lambda self, console, width: None)
        return printed(text, width, color_system)


item_text = st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(" ".join)
list_marks = st.sampled_from(["-", "*", "+", "1.", "9.", "1)"])


@st.composite
def lists(draw: st.DrawFn) -> str:
    mark = draw(list_marks)
    items = draw(st.lists(item_text, min_size=1, max_size=10))
    lines = []
    for number, text in enumerate(items):
        if mark[0].isdigit():
            lines.append(f"{int(mark[:-1]) + number}{mark[-1]} {text}")
        else:
            lines.append(f"{mark} {text}")
        extra = draw(st.sampled_from(["", "", "", "blank", "nested", "continued"]))
        if extra == "blank":
            lines.append("")
        elif extra == "nested":
            lines.append("   - nested " + draw(item_text))
        elif extra == "continued":
            lines.append("   continued " + draw(item_text))
    return "\n".join(lines) + "\n"


@given(
    text=lists(),
    width=st.integers(10, 120),
    color_system=st.sampled_from(["truecolor", "256", "standard", None]),
)
def test_a_list_prints_the_bytes_rich_prints(
    text: str, width: int, color_system: str | None
) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        expected = printed_by_rich(monkeypatch, text, width, color_system)
    assert printed(text, width, color_system) == expected


@pytest.mark.parametrize(
    "text",
    [
        "- one\n- two **bold** and `code`\n- three [link](https://example.com)\n",
        "3. three\n4. four\n\n5. five, a loose list\n",
        "- a\n  - nested list\n- b\n",
        "- an item\n\n  with a second paragraph\n",
        "- an item with a line that is far too long for the narrow terminal it is printed on\n",
        "- 名前 two cells a character\n",
        "- line one  \n  hard break\n",
        "> - a quoted item, **bold** and `code`\n> - the quote's style on every piece\n",
    ],
)
@pytest.mark.parametrize("width", [20, 80])
def test_written_lists_print_the_bytes_rich_prints(
    monkeypatch: pytest.MonkeyPatch, text: str, width: int
) -> None:
    assert printed(text, width, "truecolor") == printed_by_rich(
        monkeypatch, text, width, "truecolor"
    )


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each list item printed, whether it was drawn directly (not left to rich)."""
    seen: list[bool] = []
    real = md_list.ListItemLine.one_line

    def counting(self: md_list.ListItemLine, console: Console, width: int) -> object:
        line = real(self, console, width)
        seen.append(line is not None)
        return line

    monkeypatch.setattr(md_list.ListItemLine, "one_line", counting)
    return seen


def test_the_long_benchmark_answer_draws_its_list_items_directly(drawn: list[bool]) -> None:
    printed("".join(long_answer_deltas(400)), 100, "truecolor")
    assert drawn and all(drawn)


def test_items_that_are_not_one_short_paragraph_are_left_to_rich(drawn: list[bool]) -> None:
    printed("- an item\n\n  with a second paragraph\n- " + "word " * 30 + "\n", 40, None)
    assert drawn == [False, False]


def test_the_installed_rich_draws_the_probe_list_as_the_direct_drawing_does() -> None:
    assert md_list.rich_draws_list_items_alike()


def test_a_rich_that_draws_list_items_otherwise_draws_every_item_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = ListItem.render_bullet

    def with_wider_bullets(
        self: ListItem, console: Console, options: ConsoleOptions
    ) -> RenderResult:
        for segment in original(self, console, options):  # what another rich might draw
            yield Segment(" ‣ ", segment.style) if segment.text == " • " else segment

    monkeypatch.setattr(ListItem, "render_bullet", with_wider_bullets)
    md_list.rich_draws_list_items_alike.cache_clear()
    try:
        assert not md_list.rich_draws_list_items_alike()
        assert "‣" in printed("- one\n- two\n", 40, None)
    finally:
        md_list.rich_draws_list_items_alike.cache_clear()
