"""The streaming markdown renderer: the scrollback it leaves equals printing the whole answer
once, however the answer is split and whenever the renderer repaints; the newest text stays
on screen while streaming; the work grows linearly; model text is never rich markup
(docs/reliability.md, rows 18, 27, 28).

Everything is compared on a terminal emulator (pyte) fed with the bytes the console wrote,
since the live region is drawn and erased with cursor moves. A manual clock decides when the
renderer repaints, so the splits and repaint points are reproducible.
"""

from __future__ import annotations

import io
import random
import threading
import time
from typing import Any

import hypothesis_profiles  # noqa: F401 - loads the shared hypothesis profile
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.segment import Segment
from terminal_screen import Terminal, replay

from meilichat_cli.ui.markdown import render_once
from meilichat_cli.ui.stream import MarkdownStream

WIDTH = 80
HEIGHT = 25


@pytest.fixture(autouse=True)
def _capable_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # rich draws no live region on a "dumb" terminal; tests must not depend on the CI's TERM.
    monkeypatch.setenv("TERM", "xterm-256color")
    for name in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)


class ManualClock:
    """A clock that moves only when the test moves it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def terminal_console(width: int = WIDTH, height: int = HEIGHT) -> Console:
    return Console(
        file=io.StringIO(),
        force_terminal=True,
        width=width,
        height=height,
        color_system="truecolor",
    )


def written(console: Console) -> str:
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


def one_shot(text: str, width: int = WIDTH, height: int = HEIGHT) -> Terminal:
    console = terminal_console(width, height)
    render_once(console, text)
    return replay(written(console), width, height)


def streamed(
    pieces: list[str], *, seconds_per_piece: float = 0.05, height: int = HEIGHT
) -> tuple[Terminal, MarkdownStream]:
    console = terminal_console(height=height)
    clock = ManualClock()
    stream = MarkdownStream(console, clock=clock, background_refresh=False)
    for piece in pieces:
        clock.now += seconds_per_piece
        stream.feed(piece)
    stream.finish()
    return replay(written(console), height=height), stream


def split_every(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def split_randomly(text: str, seed: int) -> list[str]:
    rng = random.Random(seed)
    pieces, start = [], 0
    while start < len(text):
        size = rng.choice([1, 1, 2, 3, 4, 5, 8, 13, 40])
        pieces.append(text[start : start + size])
        start += size
    return pieces


def assert_same_screen(got: Terminal, want: Terminal) -> None:
    assert got.lines() == want.lines()
    assert got.styled_lines() == want.styled_lines()


# -- answers --------------------------------------------------------------------------------

ANSWERS = {
    "paragraphs": (
        "Interstellar is a 2014 film by **Christopher Nolan**, with *Matthew McConaughey*.\n"
        "It follows astronauts through a wormhole; see [the page](https://example.com/i).\n\n"
        "A second paragraph with `inline code`, ~~struck~~ text and a hard break  \n"
        "right here.\n\n\n"
        "A third one, after two blank lines, that is long enough to wrap on an eighty column "
        "terminal at least once or twice, because it keeps going and going and going.\n"
    ),
    "nested_lists": (
        "Films:\n\n"
        "- Interstellar\n"
        "  - 2014, Nolan\n"
        "  - space, time\n"
        "    1. wormhole\n"
        "    2. black hole\n"
        "- The Martian\n\n"
        "  A loose item with a second paragraph.\n"
        "- Gravity\n\n"
        "1. first\n"
        "2. second\n"
        "3. third\n"
        "4. fourth\n"
        "5. fifth\n"
        "6. sixth\n"
        "7. seventh\n"
        "8. eighth\n"
        "9. ninth\n"
        "10. tenth\n\n"
        "1) other delimiter\n"
        "* other bullet\n"
        "+ and another\n\n"
        "After the lists.\n"
    ),
    "code_fences": (
        "Here is the code:\n\n"
        "```python\n"
        "def orbit(body: str) -> float:\n"
        '    """Return the period."""\n'
        "    return 42.0\n"
        "\n"
        "\n"
        "print(orbit('earth'))\n"
        "```\n"
        "Right after the fence, no blank line.\n\n"
        "~~~~\n"
        "tildes, with ``` inside\n"
        "~~~~\n\n"
        "    indented code\n"
        "\n"
        "    more indented code\n\n"
        "```\n"
        "an unclosed fence at the end swallows the rest\n\n"
        "# even this\n"
    ),
    "tables": (
        "| Film | Year | Director |\n"
        "|:-----|:----:|---------:|\n"
        "| Interstellar | 2014 | Nolan |\n"
        "| The Martian | 2015 | Scott |\n"
        "| Gravity | 2013 | Cuarón |\n\n"
        "Text between tables.\n"
        "| a | b |\n"
        "|---|---|\n"
        "| 1 | 2 |\n"
        "not a row? it is one\n\n"
        "| single |\n"
        "|--------|\n"
        "| cell |\n"
    ),
    "headings_quotes_rules": (
        "# A level one heading\n"
        "## Level two\n"
        "Setext heading\n"
        "==============\n"
        "Another\n"
        "-------\n"
        "### Three\n"
        "#### Four\n"
        "##### Five\n"
        "###### Six\n\n"
        "> A quote\n"
        "continued lazily\n"
        "> > nested\n\n"
        "> Second quote\n"
        "> - with a list\n\n"
        "---\n"
        "***\n"
        "Text after rules.\n\n"
        "* * *\n"
    ),
    "tricky_lines": (
        "Hello\n#tag is not a heading\n\n"
        "Hello\n# but this is\ntext\n\n"
        "1. one\n\n2. two\n\n3\n\n"
        "para\n- list interrupting\n\n"
        "para\n2. cannot interrupt\n\n"
        "<div>\nhtml block\n</div>\n\n"
        "<!-- comment\n\nstill comment -->\n\n"
        "[ref]: https://ref.example\n\n"
        "Uses [ref] after its definition and [links](<https://a.example/b c>).\n\n"
        "Autolink <https://auto.example> and an image ![alt](https://img.example/x.png).\n"
    ),
    "links": (
        "See [Your bank](https://evil.example) and [docs](https://docs.example/path?q=1 "
        '"title").\n\n'
        "- [item link](https://item.example)\n"
        "- plain\n\n"
        "> quoted [link](https://quote.example)\n"
    ),
}


@pytest.mark.parametrize("name", sorted(ANSWERS))
@pytest.mark.parametrize("split", ["every_1", "every_3", "every_7", "random_1", "random_2"])
def test_streamed_scrollback_equals_the_one_shot_render(name: str, split: str) -> None:
    text = ANSWERS[name]
    kind, _, number = split.partition("_")
    pieces = (
        split_every(text, int(number))
        if kind == "every"
        else split_randomly(text, seed=int(number))
    )
    # One-character pieces repaint every third piece, the others at every piece.
    got, stream = streamed(pieces, seconds_per_piece=0.025 if number == "1" else 0.1)
    assert_same_screen(got, one_shot(text))
    assert stream.stats.ticks > 1


def test_a_fence_split_mid_fence_across_feeds_stays_live_until_closed() -> None:
    text = "Intro.\n\n```js\nconst a = 1;\n\nconst b = 2;\n```\n\nOutro.\n"
    cut = text.index("const b")
    console = terminal_console()
    clock = ManualClock()
    stream = MarkdownStream(console, clock=clock, background_refresh=False)
    stream.feed(text[:cut])
    stream.flush()
    # The intro is final (committed), the open fence with its blank line is not.
    assert stream.stats.commits == 1
    screen = replay(written(console))
    assert "Intro." in screen.lines()
    assert any("const a = 1;" in line for line in screen.visible_lines())
    clock.now += 1
    stream.feed(text[cut:])
    stream.finish()
    assert_same_screen(replay(written(console)), one_shot(text))


# Each example renders a few answers twice: a quarter of the profile's examples is plenty.
@settings(max_examples=max(20, settings().max_examples // 4))
@given(
    blocks=st.lists(st.sampled_from(sorted(ANSWERS)), min_size=1, max_size=3),
    seed=st.integers(0, 10_000),
    step=st.sampled_from([0.0, 0.02, 0.1]),
)
def test_any_split_and_any_repaint_points_give_the_same_scrollback(
    blocks: list[str], seed: int, step: float
) -> None:
    text = "\n".join(ANSWERS[name] for name in blocks)
    got, _ = streamed(split_randomly(text, seed), seconds_per_piece=step)
    assert got.lines() == one_shot(text).lines()


def test_a_non_terminal_console_gets_the_one_shot_bytes() -> None:
    text = ANSWERS["nested_lists"] + "\n" + ANSWERS["tables"]
    plain = Console(file=io.StringIO(), width=WIDTH)
    render_once(plain, text)
    console = Console(file=io.StringIO(), width=WIDTH)
    clock = ManualClock()
    stream = MarkdownStream(console, clock=clock, background_refresh=False)
    for piece in split_every(text, 5):
        clock.now += 0.1
        stream.feed(piece)
    stream.finish()
    assert written(console) == written(plain)
    assert stream.stats.commits > 1  # blocks went out as they finished, not all at the end


# -- scrollback of a long answer -------------------------------------------------------------

WORDS = [
    *("the", "search", "engine", "returns", "documents", "ranked", "by", "relevance"),
    *("while", "the", "model", "writes", "an", "answer", "about", "films", "space"),
]


def long_answer(tokens: int, seed: int = 7) -> str:
    """A markdown answer of about `tokens` four-character tokens; every paragraph ends
    with a unique `marker-N.` so a test can tell which text is the newest."""
    rng = random.Random(seed)
    parts: list[str] = []
    section = 0
    while sum(map(len, parts)) < tokens * 4:
        section += 1
        words = " ".join(rng.choice(WORDS) for _ in range(45))
        parts.append(f"## Section {section}\n\n{words} marker-{section}.\n\n")
        kind = section % 4
        if kind == 0:
            items = "".join(
                f"- item {i} {rng.choice(WORDS)} {rng.choice(WORDS)}\n" for i in range(6)
            )
            parts.append(items + "  - nested\n\n")
        elif kind == 1:
            lines = "".join(
                f"    value_{i} = compute({i})  # {rng.choice(WORDS)}\n" for i in range(8)
            )
            parts.append(f"```python\ndef section_{section}():\n{lines}```\n\n")
        elif kind == 2:
            rows = "".join(f"| r{i} | {i * section} | {rng.choice(WORDS)} |\n" for i in range(5))
            parts.append("| name | value | note |\n|---|--:|---|\n" + rows + "\n")
        else:
            parts.append(f"> quoted {rng.choice(WORDS)} [link](https://example.com/{section})\n\n")
    return "".join(parts)


def test_long_answer_scrollback_shows_each_line_once_and_the_newest_line_while_streaming() -> None:
    text = long_answer(2000)
    tokens = split_every(text, 4)
    console = terminal_console()
    terminal = Terminal(WIDTH, HEIGHT)
    clock = ManualClock()
    stream = MarkdownStream(console, clock=clock, background_refresh=False)
    consumed = 0
    fed = ""
    checked = 0
    for token in tokens:
        clock.now += 0.01  # 100 tokens a second
        stream.feed(token)
        fed += token
        if f"marker-{checked + 1}." in fed[-20:]:
            checked += 1
            stream.flush()
            data = written(console)
            terminal.feed(data[consumed:])
            consumed = len(data)
            visible = "\n".join(terminal.visible_lines())
            assert f"marker-{checked}." in visible, f"marker-{checked} is not on screen"
    stream.finish()
    data = written(console)
    terminal.feed(data[consumed:])
    assert checked > 10
    want = one_shot(text)
    assert terminal.lines() == want.lines()
    assert terminal.styled_lines() == want.styled_lines()
    for marker in range(1, checked + 1):
        assert sum(f"marker-{marker}." in line for line in terminal.lines()) == 1


def test_a_block_taller_than_the_screen_is_cropped_from_the_top() -> None:
    code = "".join(f"line_{i:03d} = {i}\n" for i in range(120))
    text = f"```python\n{code}```\n"
    console = terminal_console(height=20)
    clock = ManualClock()
    stream = MarkdownStream(console, clock=clock, background_refresh=False)
    terminal = Terminal(WIDTH, 20)
    consumed = 0
    for number, line in enumerate(text.splitlines(keepends=True)[:-1]):
        clock.now += 0.25  # a repaint at every line (less than a screen line waits 0.2 s)
        stream.feed(line)
        data = written(console)
        terminal.feed(data[consumed:])
        consumed = len(data)
        if number >= 1:
            visible = terminal.visible_lines()
            assert any(f"line_{number - 1:03d}" in row for row in visible)
            # Nothing of the live block went to the scrollback yet.
            assert not terminal.screen.history.top
    stream.feed(text.splitlines(keepends=True)[-1])
    stream.finish()
    terminal.feed(written(console)[consumed:])
    assert terminal.lines() == one_shot(text, height=20).lines()


@pytest.mark.parametrize(
    "text",
    [
        "```python\n" + "".join(f"v{i} = {i} * 2\n" for i in range(80)),
        "Intro.\n\n" + "".join(f"- item {i}\n  more about {i}\n" for i in range(60)),
        "".join(f"{i}. step {i}\n" for i in range(1, 90)),
    ],
    ids=["fence", "bullet_list", "ordered_list"],
)
def test_a_long_live_block_shows_what_printing_it_so_far_would_show_at_the_bottom(
    text: str,
) -> None:
    # Only the last screenful of a long block is drawn while it grows; it must look the same
    # as the bottom of the whole block drawn at once.
    console = terminal_console()
    stream = MarkdownStream(console, clock=ManualClock(), background_refresh=False)
    stream.feed(text)
    screen = replay(written(console))
    live = screen.visible_lines()
    while not live[-1]:
        live.pop()
    bottom = HEIGHT - 5
    assert len(live) >= bottom
    whole = one_shot(text)
    assert live[-bottom:] == whole.lines()[-bottom:]
    assert screen.styled_lines()[-bottom:] == whole.styled_lines()[-bottom:]
    stream.finish()


def _visible_cells(line: Any) -> list[Any]:
    """A styled screen line without its trailing blank cells (a space with no background)."""
    cells = list(line)
    while cells and cells[-1][0] == " " and cells[-1][2] == "default" and not any(cells[-1][5:]):
        cells.pop()
    return cells


_WORDS = st.sampled_from(
    [
        "word",
        "longer",
        "x",
        "`code`",
        "**bold**",
        "*em*",
        "~~gone~~",
        "[a link](https://x.io)",
        "a_b",
    ]
)
_ITEM = st.tuples(
    st.lists(_WORDS, min_size=1, max_size=24).map(" ".join),
    st.sampled_from(["", "\n  more words", "\n  - nested item", "\n\n  Second paragraph."]),
)


def assert_live_bottom_is_drawn_whole(console: Any, text: str, most_lines: int) -> None:
    """The bottom of the live region (up to `most_lines`) is the bottom of `text` printed
    whole. The live region is not trimmed: its padding may carry a colour, never a
    background, so cells are compared without trailing blanks."""
    screen = replay(written(console))
    live = screen.visible_lines()
    styled = screen.styled_lines()
    while live and not live[-1]:
        live.pop()
    whole = one_shot(text)
    shown = min(len(whole.lines()), most_lines)
    assert live[-shown:] == whole.lines()[-shown:]
    assert [_visible_cells(line) for line in styled[: len(live)][-shown:]] == [
        _visible_cells(line) for line in whole.styled_lines()[-shown:]
    ]


@settings(max_examples=40, deadline=None)
@given(
    items=st.lists(_ITEM, min_size=2, max_size=6),
    marker=st.sampled_from(["-", "*"]),
    gap=st.sampled_from(["\n", "\n\n"]),
    cuts=st.lists(st.floats(0.05, 0.95), min_size=1, max_size=6),
)
def test_a_live_bullet_list_looks_like_the_same_list_printed_whole(
    items: list[tuple[str, str]], marker: str, gap: str, cuts: list[float]
) -> None:
    # The finished items of a live bullet list are drawn once and reused while the last one
    # grows: at every repaint the live region must look like the text so far drawn whole.
    text = gap.join(f"{marker} {words}{more}" for words, more in items) + "\n"
    console = terminal_console()
    clock = ManualClock()
    stream = MarkdownStream(console, clock=clock, background_refresh=False)
    fed = 0
    for end in [*sorted(int(len(text) * cut) for cut in cuts), len(text)]:
        if end <= fed:
            continue
        clock.now += 1.0
        stream.feed(text[fed:end])
        fed = end
        assert_live_bottom_is_drawn_whole(console, text[:fed], HEIGHT - 3)
    stream.finish()
    assert_same_screen(replay(written(console)), one_shot(text))


@pytest.mark.parametrize("items", [8, 90])
def test_a_streamed_bullet_list_shows_at_every_repaint_the_bottom_of_the_list_drawn_whole(
    items: int,
) -> None:
    # 90 items are more than three screens: the live region draws the list from one of its
    # last items, and still reuses the finished ones.
    rng = random.Random(items)
    text = "".join(
        f"- item {i}: "
        + " ".join(rng.choice(["word", "`code`", "**bold**"]) for _ in range(n))
        + ("\n  more about it" if i % 3 == 0 else "")
        + "\n"
        for i, n in enumerate(rng.choice([2, 5, 30]) for _ in range(items))
    )
    console = terminal_console()
    clock = ManualClock()
    stream = MarkdownStream(console, clock=clock, background_refresh=False)
    fed = 0
    for end in range(97, len(text), 97):
        clock.now += 1.0
        stream.feed(text[fed:end])
        fed = end
        assert_live_bottom_is_drawn_whole(console, text[:fed], HEIGHT - 5)
    stream.feed(text[fed:])
    stream.finish()
    assert_same_screen(replay(written(console)), one_shot(text))


def drawn_for_bullet_list(items: int) -> int:
    console = terminal_console()
    clock = ManualClock()
    stream = MarkdownStream(console, clock=clock, background_refresh=False)
    for i in range(items):
        for piece in split_every(f"- item {i} with a few words of text\n", 4):
            clock.now += 1.0  # every piece repaints
            stream.feed(piece)
    stream.finish()
    return stream.stats.rendered_chars


def test_a_growing_bullet_list_draws_each_finished_item_once_not_at_every_repaint() -> None:
    # Structural: a repaint draws the last item (and the start of the next one); a finished
    # item is drawn once. Drawing the list whole at every repaint (up to three screens of
    # it) made twice the items cost about four times the characters.
    assert drawn_for_bullet_list(96) < 2 * drawn_for_bullet_list(48)


def test_a_long_live_table_keeps_its_header_on_screen() -> None:
    rows = "".join(f"| row-{i} | {i} |\n" for i in range(60))
    console = terminal_console()
    stream = MarkdownStream(console, clock=ManualClock(), background_refresh=False)
    stream.feed("| name | value |\n|---|---|\n" + rows)
    visible = "\n".join(replay(written(console)).visible_lines())
    assert "name" in visible
    assert "row-59" in visible
    assert "row-10 " not in visible
    stream.finish()


def test_the_background_thread_gives_the_same_scrollback_with_the_real_clock() -> None:
    text = long_answer(600, seed=3)
    console = terminal_console()
    with MarkdownStream(console) as stream:
        for token in split_every(text, 4):
            stream.feed(token)
    assert_same_screen(replay(written(console)), one_shot(text))


# -- first paint, throttle, status, interrupt -----------------------------------------------


def test_the_first_text_is_painted_at_once_and_later_text_waits_for_the_throttle() -> None:
    console = terminal_console()
    clock = ManualClock()
    stream = MarkdownStream(console, clock=clock, background_refresh=False)
    stream.feed("First")
    assert "First" in replay(written(console)).visible_lines()[0]
    stream.feed(" words")  # same instant: held back
    assert "First words" not in "\n".join(replay(written(console)).visible_lines())
    clock.now += 1 / 10  # the default pace: ten repaints a second at most...
    stream.feed("!")  # ...but a word or two waits one pause more
    assert "First words" not in "\n".join(replay(written(console)).visible_lines())
    clock.now += 1 / 10
    stream.feed("?")
    assert "First words!?" in "\n".join(replay(written(console)).visible_lines())
    stream.finish()


def test_a_screen_line_of_new_text_is_painted_after_one_pause() -> None:
    console = terminal_console()
    clock = ManualClock()
    stream = MarkdownStream(console, clock=clock, background_refresh=False)
    stream.feed("First")
    clock.now += 1 / 10
    line = " and then enough words to fill a whole line of this eighty column terminal."
    stream.feed(line + " Again.")
    assert len(line) < WIDTH < len(line + " Again.")
    assert "Again." in "\n".join(replay(written(console)).visible_lines())
    stream.finish()


def stream_paced(text: str, console: Console, clock: ManualClock) -> MarkdownStream:
    """`text` streamed to the end as a paced model sends it: 4 characters, 100 times a second."""
    stream = MarkdownStream(console, clock=clock, background_refresh=False)
    for token in split_every(text, 4):
        clock.now += 0.01
        stream.feed(token)
    stream.finish()
    return stream


def test_a_paced_stream_repaints_at_most_six_times_a_second() -> None:
    # Structural: at 100 tokens a second a repaint every tenth of a second would add a few
    # words each time; a repaint costs about the same however little it adds, so one that
    # adds less than a screen line waits one pause more.
    text = long_answer(2000)
    console = terminal_console()
    clock = ManualClock()
    stream = stream_paced(text, console, clock)
    assert stream.stats.ticks <= 6 * clock.now
    assert_same_screen(replay(written(console)), one_shot(text))


def test_text_held_back_by_the_throttle_is_painted_when_no_more_text_comes() -> None:
    console = terminal_console()
    stream = MarkdownStream(console)
    stream.feed("First")
    stream.feed(" and the rest")
    deadline = time.monotonic() + 5
    while "First and the rest" not in "\n".join(replay(written(console)).visible_lines()):
        assert time.monotonic() < deadline, "held-back text never painted"
        time.sleep(0.01)
    stream.finish()


def test_a_failure_in_the_repaint_thread_surfaces_in_the_caller() -> None:
    failed_in: list[threading.Thread] = []
    failed = threading.Event()

    class BrokenConsole(Console):
        broken = False

        def render_lines(self, *args: Any, **kwargs: Any) -> list[list[Segment]]:
            if self.broken:
                failed_in.append(threading.current_thread())
                failed.set()
                raise ValueError("renderer bug")
            return super().render_lines(*args, **kwargs)

    console = BrokenConsole(file=io.StringIO(), force_terminal=True, width=WIDTH, height=HEIGHT)
    stream = MarkdownStream(console)
    stream.feed("First")
    console.broken = True
    stream.feed(" and more")  # held back by the throttle: the thread paints it, and fails
    assert failed.wait(5)
    assert failed_in[0] is not threading.main_thread()
    with pytest.raises(ValueError, match="renderer bug"):
        stream.finish()


def test_the_status_line_shows_under_the_text_and_leaves_no_trace() -> None:
    console = terminal_console()
    clock = ManualClock()
    stream = MarkdownStream(console, clock=clock, background_refresh=False)
    stream.set_status('searching movies for "space"\x1b[2J\nnow')
    visible = replay(written(console)).visible_lines()
    assert 'searching movies for "space"[2J now' in visible[0]
    stream.feed("The answer.")
    visible = replay(written(console)).visible_lines()
    assert visible[0] == "The answer."
    assert "searching movies" in visible[1]
    stream.set_status(None)
    assert not any("searching" in line for line in replay(written(console)).visible_lines())
    stream.set_status("searching again")
    stream.finish()
    assert replay(written(console)).lines() == ["The answer."]
    assert "\x1b[2J" not in written(console)


def test_a_terminal_answer_clears_the_status_once_not_at_every_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from meilichat_cli.local.context import RunContext
    from meilichat_cli.protocol.events import SearchProgress, TextDelta
    from meilichat_cli.ui.output import TerminalOutput

    statuses: list[str | None] = []
    set_status = MarkdownStream.set_status

    def counted(self: MarkdownStream, text: str | None, **kwargs: Any) -> None:
        statuses.append(text)
        set_status(self, text, **kwargs)

    monkeypatch.setattr(MarkdownStream, "set_status", counted)
    stdout = io.StringIO()
    environ = {"TERM": "xterm-256color", "COLUMNS": str(WIDTH), "LINES": str(HEIGHT)}
    ctx = RunContext(io.StringIO(), stdout, io.StringIO(), environ, False, True, False)
    output = TerminalOutput(ctx, show_sources=False)
    search = SearchProgress("call-1", "movies", "space", None, "{}")
    output.on_event(search)
    for _ in range(200):
        output.on_event(TextDelta("word "))
    output.on_event(search)
    for _ in range(200):
        output.on_event(TextDelta("more "))
    output.stream.finish()
    searching = 'searching movies for "space"'
    assert statuses == [searching, None, searching, None]
    screen = replay(stdout.getvalue(), WIDTH, HEIGHT)
    assert not any("searching" in line for line in screen.lines())


def test_a_status_alone_leaves_nothing_behind() -> None:
    console = terminal_console()
    with MarkdownStream(console) as stream:
        stream.set_status("searching")
    assert replay(written(console)).lines() == []


def test_interrupt_keeps_the_partial_answer_and_adds_a_dim_note() -> None:
    text = "A paragraph.\n\n- one\n- two, cut sh"
    console = terminal_console()
    clock = ManualClock()
    stream = MarkdownStream(console, clock=clock, background_refresh=False)
    for piece in split_every(text, 3):
        clock.now += 0.1
        stream.feed(piece)
    stream.interrupt()
    assert replay(written(console)).lines() == [*one_shot(text).lines(), "[interrupted]"]
    assert "\x1b[2m[interrupted]" in written(console)


def test_ctrl_c_inside_the_context_manager_interrupts() -> None:
    console = terminal_console()
    with pytest.raises(KeyboardInterrupt), MarkdownStream(console) as stream:
        stream.feed("Partial answer")
        raise KeyboardInterrupt
    assert replay(written(console)).lines() == ["Partial answer", "[interrupted]"]


def test_the_stream_refuses_text_after_finish() -> None:
    stream = MarkdownStream(terminal_console())
    stream.finish()
    stream.finish()  # idempotent
    with pytest.raises(RuntimeError):
        stream.feed("late")


def test_a_repaint_that_prints_finished_blocks_leaves_the_short_tail_to_the_next_one() -> None:
    # Structural: at 100 tokens a second most repaints print a finished block, and the few
    # characters after it (the start of the next block) cost a render of their own. Drawn one
    # repaint later, with what arrived meanwhile, they cost no render more than the repaints.
    text = long_answer(2000)
    console = terminal_console()
    clock = ManualClock()
    stream = stream_paced(text, console, clock)
    stats = stream.stats
    assert stats.commits > 30
    # One render per commit; every other render draws the live tail. At least every other
    # repaint that prints blocks draws no tail (never two in a row: the tail must show).
    tails_drawn = stats.renders - stats.commits
    assert stats.ticks - tails_drawn >= stats.commits / 2
    assert_same_screen(replay(written(console)), one_shot(text))


def test_a_short_tail_left_after_printed_blocks_is_drawn_by_the_next_repaint() -> None:
    console = terminal_console()
    clock = ManualClock()
    stream = MarkdownStream(console, clock=clock, background_refresh=False)
    stream.feed("First")  # painted at once
    clock.now += 0.25
    stream.feed(" paragraph.\n\nNext words")  # this repaint prints the paragraph
    screen = replay(written(console))
    assert "First paragraph." in screen.lines()
    assert not any("Next words" in line for line in screen.visible_lines())
    clock.now += 0.25
    stream.feed("!")
    assert any("Next words!" in line for line in replay(written(console)).visible_lines())
    stream.finish()


def test_a_short_tail_left_after_printed_blocks_is_drawn_when_no_more_text_comes() -> None:
    console = terminal_console()
    stream = MarkdownStream(console)
    stream.feed("First")  # painted at once
    time.sleep(0.25)  # past the throttle: the next text prints the paragraph
    stream.feed(" paragraph.\n\nNext words")
    deadline = time.monotonic() + 5
    while not any("Next words" in line for line in replay(written(console)).visible_lines()):
        assert time.monotonic() < deadline, "the tail after the printed block never painted"
        time.sleep(0.01)
    stream.finish()


def test_a_block_committed_with_its_blank_line_is_parsed_once() -> None:
    # Structural: the parse that finds a paragraph (or a closed fence) final with the blank
    # line after it is the parse it is printed from; no block parse, no second parse.
    text = "[ref]: https://example.com/r\n\nSome *emphasis* and a [link][ref].\n\nThen more."
    console = terminal_console()
    clock = ManualClock()
    stream = MarkdownStream(console, clock=clock, background_refresh=False)
    stream.feed(text[:40])  # painted at once
    parses = stream.stats.parses
    clock.now += 0.25
    stream.feed(text[40:-10])  # the paragraph and its blank line
    assert stream.stats.commits == 1
    assert stream.stats.block_parses == 0
    assert stream.stats.parses == parses + 1
    stream.feed(text[-10:])
    stream.finish()
    assert_same_screen(replay(written(console)), one_shot(text))


def test_ten_thousand_tiny_deltas_are_coalesced_into_few_repaints() -> None:
    console = terminal_console()
    started = time.monotonic()
    stream = MarkdownStream(console, background_refresh=False)
    for _ in range(10_000):
        stream.feed("a")
    elapsed = time.monotonic() - started
    stream.finish()
    assert stream.stats.ticks <= 2 + elapsed * 15
    assert replay(written(console)).lines() == one_shot("a" * 10_000).lines()


# -- linear work (not a timing test: it counts characters parsed and rendered) -------------


def work_for(text: str) -> tuple[int, int]:
    console = terminal_console()
    clock = ManualClock()
    stream = MarkdownStream(console, clock=clock, background_refresh=False)
    for token in split_every(text, 4):
        clock.now += 0.005  # 200 tokens a second, so 8,000 tokens stream for 40 s
        stream.feed(token)
    stream.finish()
    stats = stream.stats
    return stats.parsed_chars + stats.block_parsed_chars, stats.rendered_chars


def one_long_fence(tokens: int) -> str:
    lines = "".join(f"x{i % 1000:03d} = compute({i % 97})\n" for i in range(tokens * 4 // 22))
    return f"```python\n{lines}```\n"


def one_long_list(tokens: int) -> str:
    return "".join(f"- item {i % 1000:03d} with a few words\n" for i in range(tokens * 4 // 28))


@pytest.mark.slow
@pytest.mark.parametrize("make", [long_answer, one_long_fence, one_long_list])
def test_work_grows_linearly_with_the_answer(make: object) -> None:
    assert callable(make)
    small_parsed, small_rendered = work_for(make(2000))
    large_parsed, large_rendered = work_for(make(8000))
    assert large_parsed / small_parsed < 5
    assert large_rendered / small_rendered < 5


# -- untrusted text -------------------------------------------------------------------------


def test_rich_markup_in_model_text_is_printed_literally() -> None:
    text = "[/bold] [link=https://evil]x[/link] [blink]"
    one = terminal_console()
    render_once(one, text)
    got, _ = streamed(split_every(text, 2))
    for terminal, data in ((got, None), (replay(written(one)), written(one))):
        assert terminal.lines() == [text]
        if data is not None:
            assert "\x1b]8;" not in data  # no hyperlink
            assert "\x1b[5m" not in data  # no blink


def test_a_markdown_link_shows_its_url() -> None:
    text = "Log in at [Your bank](https://evil.example) now."
    console = terminal_console()
    render_once(console, text)
    assert replay(written(console)).lines() == ["Log in at Your bank (https://evil.example) now."]
    assert "\x1b]8;" not in written(console)


def test_a_link_whose_text_is_its_address_is_printed_once() -> None:
    text = (
        "Docs <https://docs.example/a>, mail <team@example.org>, "
        "[https://same.example](https://same.example) and [https://good.example](https://evil.example)."
    )
    expected = (
        "Docs https://docs.example/a, mail team@example.org, https://same.example and "
        "https://good.example (https://evil.example)."
    )
    for streaming in (False, True):
        console = terminal_console(width=200)
        if streaming:
            stream = MarkdownStream(console, clock=ManualClock(), background_refresh=False)
            for piece in (text[:20], text[20:61], text[61:]):
                stream.feed(piece)
            stream.finish()
        else:
            render_once(console, text)
        assert replay(written(console), width=200).lines() == [expected]


def test_control_sequences_passed_by_mistake_never_reach_the_terminal() -> None:
    # Callers sanitize; the renderer does too, so a missed call cannot open a hole.
    hostile = "Title\x1b]0;pwned\x07\n\n```\nrm\x1b[2K\x1b[1A -rf\r\n```\n\x9b2J done"
    for streaming in (False, True):
        console = terminal_console()
        if streaming:
            with MarkdownStream(console) as stream:
                for piece in split_every(hostile, 2):
                    stream.feed(piece)
        else:
            render_once(console, hostile)
        data = written(console)
        assert "\x1b]" not in data and "\x07" not in data and "\x9b" not in data
        assert "\x1b[2K\x1b[1A -rf" not in data
        assert "-rf\r" not in data


def test_headings_are_left_aligned_at_every_level() -> None:
    text = "".join(f"{'#' * level} Heading {level}\n" for level in range(1, 7))
    lines = one_shot(text).lines()
    assert [line for line in lines if line] == [f"Heading {level}" for level in range(1, 7)]


def test_code_fences_paint_their_own_background() -> None:
    console = terminal_console()
    render_once(console, "```python\nx = 1\n```")
    # A truecolor background on the code lines: readable whatever the terminal's colours.
    assert "\x1b[48;2;" in written(console)


def test_every_fence_is_highlighted_with_one_theme_built_once(monkeypatch: Any) -> None:
    # Structural: rich builds a theme (and an empty cache of token styles) for every Syntax
    # given a theme's name; one shared theme converts each pygments style once.
    import rich.syntax

    from meilichat_cli.ui.md_code import code_theme

    built: list[object] = []
    original = rich.syntax.PygmentsSyntaxTheme.__init__

    def counting(self: Any, theme: Any) -> None:
        built.append(theme)
        original(self, theme)

    monkeypatch.setattr(rich.syntax.PygmentsSyntaxTheme, "__init__", counting)
    code_theme.cache_clear()
    text = "".join(f"```python\nx_{i} = {i}\ny = 'a'\n```\n\n" for i in range(5))
    _, stream = streamed(split_every(text, 4))
    render_once(terminal_console(), text)
    assert stream.stats.commits >= 2
    assert len(built) == 1


def test_fence_languages_come_from_pygments_own_lexers_only(monkeypatch: Any) -> None:
    # An unknown name made pygments scan every installed package's entry points and import
    # the plugins it found (IPython: ~0.3 s), at each repaint of a fence still being typed.
    import pygments.lexers

    def no_plugins() -> Any:
        raise AssertionError("pygments plugin lexers were looked up")

    # pygments.lexers replaces itself in sys.modules with a lazy proxy: its functions read
    # their globals from the original module's namespace, patched here.
    namespace = pygments.lexers.get_lexer_by_name.__globals__
    monkeypatch.setitem(namespace, "find_plugin_lexers", no_plugins)
    text = "```pyt\nx = 1\n```\n\n```ipython\nIn [1]: 2\n```\n\n```Python\ny = 'two'\n```\n"
    for streaming in (False, True):
        console = terminal_console()
        if streaming:
            stream = MarkdownStream(console, clock=ManualClock(), background_refresh=False)
            for piece in split_every(text, 3):
                stream.feed(piece)
            stream.finish()
        else:
            render_once(console, text)
        screen = replay(written(console)).lines()
        assert "x = 1" in "\n".join(screen) and "In [1]: 2" in "\n".join(screen)
        # A known name, in any case, is still highlighted: the string gets its own colour.
        python_line = next(line for line in written(console).split("\n") if "two" in line)
        assert python_line.count("\x1b[38;2;") >= 3
