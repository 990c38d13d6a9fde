"""Streaming markdown to a terminal in linear time: finished blocks go to scrollback once.

Re-rendering the whole answer on every token is quadratic (docs/design.md#the-streaming-renderer).
`MarkdownStream` keeps the answer in two parts instead:

- committed: top-level blocks (paragraphs, lists, fences, tables...) that no later text can
  change. Each is printed once, above the live region, into normal scrollback;
- the tail: the text after them, usually the one block still growing. Only the tail is shown
  in rich's `Live` region (transient), cropped from the top so the newest lines stay visible,
  with an optional one-line status (spinner) under it.

At most `refresh_per_second` times a second (and less often when the tail is big) the tail is
parsed with markdown-it to find its top-level blocks; every block but the last one is final.
The first text is painted at once. `finish()` prints whatever is left as normal blocks.

Cheap on a paced stream (a model sending 100 tokens a second): there every repaint runs after
the process slept, with cold caches, so it costs about the same however little it shows, and
the number of repaints is what counts:

- a repaint that would add less than a screen line of text waits one pause more (`_due`):
  about five repaints a second on such a stream, each adding a line, and at most twice the
  pause before any text shows;
- a repaint that prints finished blocks leaves a short tail (the first words of the next
  block) to the next repaint rather than rendering it too; never twice in a row;
- complete lines that end with a blank line get one full parse, which finds where the
  blocks end and, when they are all final (the usual case), is what they are printed from.

Equality with printing the whole answer once (`markdown.render_once`) is the contract:

- a block is committed only when the lines that decide it are complete: every block before
  the last one in a parse of the complete lines of the tail (a partial last line can still
  change what came before it: `#` starts a heading, `#tag` does not); the last block too
  when it cannot grow any more: a heading, a rule, a closed fence, or a paragraph, table,
  quote or HTML block followed by a blank line. Lists and indented code never close on a
  blank line, so they wait for the next block;
- committed text is printed from its own full parse; rich's only state between top-level
  blocks (whether a blank line is due) is carried over (`markdown_from_tokens`);
- reference definitions seen in committed text stay known to everything after them.
  The one thing a stream cannot match: a reference link used in a block that was
  committed before its definition arrived is shown as written, not as a link.

Linear time: the tail loses every finished block, so each parse is small. For a block that
grows big anyway (an 8,000-token fence, a long list or table):

- the block parse runs only when a new line is complete, and only when a cheap look at the
  new lines says they may end the live block (`blocks.new_lines_may_end`);
- only what can reach the screen is drawn: a fence's last lines, highlighted line by line
  with the lines already drawn reused (`live_code.py`), a table's header and last rows, a
  list from one of its last items, any other block's last lines;
- the finished items of a live bullet list are drawn once and reused while its last item
  grows (rich draws each bullet item on its own), so a repaint draws about one item;
- the pause between repaints grows with what a repaint costs (measured, and estimated from
  the characters it handled), so repainting takes a bounded share of the CPU.

Threads: a daemon thread started with the live region repaints text (or a tail) that waited
for the throttle when no more text comes, and animates the status spinner. All work happens
under one lock.

Imports rich (import this module only to paint a terminal). Must not import httpx, typer or
prompt_toolkit.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from markdown_it.token import Token
from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.segment import Segment
from rich.text import Text

from meilichat_cli.text.sanitize import sanitize, sanitize_line
from meilichat_cli.ui.blocks import (
    Block,
    cannot_change,
    head_and_last_lines,
    is_blank,
    line_offset,
    new_lines_may_end,
    top_level_blocks,
)
from meilichat_cli.ui.live_code import Lines, LiveCodeView
from meilichat_cli.ui.markdown import (
    TerminalMarkdown,
    markdown_from_tokens,
    new_block_parser,
    new_parser,
    references_env,
    wants_blank_line_after,
)

# How long to wait before the next refresh, as a multiple of what the last one cost: measured
# with the clock, and estimated from the characters it parsed and rendered (a machine-
# independent floor, generous per character). Ordinary blocks cost a millisecond or two and
# refresh at the full rate; a huge live block gets a bounded share of the CPU however long it
# grows (at most about 1/12 of the time, by measure).
_PAUSE_PER_MEASURED_SECOND = 12.0
_PAUSE_PER_ESTIMATED_SECOND = 4.0
# The longest pause, so a one-off cost (loading a syntax lexer) cannot freeze the display.
# Repaints stay cheap however big the live block (`_visible_source`), so this cap does not
# let the work grow faster than the text.
_LONGEST_PAUSE = 0.25
# A live block longer than this many screens is drawn from its last lines only.
_BIG_BLOCK_SCREENS = 3
# A live bullet list shorter than this is drawn whole: one call is cheaper than one per item.
_LIST_BY_ITEMS_FROM = 400
# Lines a table draws besides its body rows (blank line, edges, header, rule), plus margin.
_TABLE_FRAME_LINES = 8
# How far the source lines drawn for a screen line may grow (see `_render_tail`).
_MOST_SOURCE_LINES_PER_LINE = 8
# Complete lines up to this many characters may get one full parse rather than a block parse
# then a full parse of what is committed (see `_commit_final_blocks`); a longer text is
# rarely committed whole, and its inline pass would cost more than it saves.
_PARSE_WHOLE_UP_TO = 1000
_BLOCK_PARSE_SECONDS_PER_CHAR = 0.5e-6
_RENDER_SECONDS_PER_CHAR = 5e-6

_SPINNER_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_ASCII_SPINNER_FRAMES = "-\\|/"
_SPINNER_SECONDS_PER_FRAME = 0.08


@dataclass
class StreamStats:
    """What the renderer did; tests use it to check the work grows linearly with the text."""

    ticks: int = 0
    block_parses: int = 0
    block_parsed_chars: int = 0
    parses: int = 0
    parsed_chars: int = 0
    renders: int = 0
    rendered_chars: int = 0
    commits: int = 0


def _estimated_seconds(block_parsed_chars: int, rendered_chars: int) -> float:
    """A machine-independent estimate of what parsing and rendering that much costs."""
    return (
        block_parsed_chars * _BLOCK_PARSE_SECONDS_PER_CHAR
        + rendered_chars * _RENDER_SECONDS_PER_CHAR
    )


class _LiveFrame:
    """What the live region shows: the last lines of the rendered tail, then the status.

    One instance lives as long as the stream and is mutated in place: rich's `Live` keeps the
    object it last drew, and redraws it when committed text is printed above it.
    """

    def __init__(self, ascii_only: bool) -> None:
        self.lines: list[list[Segment]] = []
        self.status: str | None = None
        # When set, the status counts the seconds since this moment (`waiting for … 1.2s`).
        self.status_since: float | None = None
        # A last line kept under everything while the region is up (the REPL's toolbar).
        self.footer: str | None = None
        self._frames = _ASCII_SPINNER_FRAMES if ascii_only else _SPINNER_FRAMES
        self._started = time.monotonic()

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.lines and self.status is None and self.footer is None:
            # One empty line rather than none: rich (before 14) moves the cursor down a line
            # when it stops a live region, and up only as many lines as it last drew.
            yield Segment("")
            return
        new_line = Segment.line()
        drawn = False
        for line in self.lines:
            if drawn:
                yield new_line
            yield from line
            drawn = True
        if self.status is not None:
            if drawn:
                yield new_line
            now = time.monotonic()
            frame = int((now - self._started) / _SPINNER_SECONDS_PER_FRAME)
            status = self.status
            if self.status_since is not None:
                status += f" {max(0.0, now - self.status_since):.1f}s"
            text = Text.assemble(
                (self._frames[frame % len(self._frames)], "cyan"),
                " ",
                (status, "dim"),
                no_wrap=True,
                overflow="ellipsis",
                end="",
            )
            text.truncate(max(1, options.max_width), overflow="ellipsis")
            yield text
            drawn = True
        if self.footer is not None:
            if drawn:
                yield new_line
            footer = Text(self.footer, style="reverse", no_wrap=True, overflow="ellipsis", end="")
            footer.truncate(max(1, options.max_width), overflow="ellipsis", pad=True)
            yield footer


class MarkdownStream:
    """Render a streamed markdown answer on `console`, committing finished blocks.

    Feed it sanitized text as it arrives; call `finish()` (or `interrupt()`) at the end, or
    use it as a context manager. Works on any rich Console: without an interactive terminal
    there is no live region, and finished blocks are simply printed as they complete.
    `clock` and `background_refresh` exist for tests (a fake clock, no repaint thread).
    """

    def __init__(
        self,
        console: Console,
        *,
        refresh_per_second: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        background_refresh: bool = True,
    ) -> None:
        if refresh_per_second <= 0:
            raise ValueError("refresh_per_second must be positive")
        self._console = console
        self._min_interval = 1.0 / refresh_per_second
        self._clock = clock
        self._background_refresh = background_refresh
        self._live_enabled = console.is_interactive and not console.is_dumb_terminal
        self._lock = threading.RLock()
        self._block_parser = new_block_parser()
        self._parser = new_parser()
        self.stats = StreamStats()

        self._pending: list[str] = []
        # Characters fed but not drawn yet: pending, or in a tail left for the next tick.
        self._unshown_chars = 0
        # The screen's width as of the last tick (asking the terminal at every token costs).
        self._line_chars = console.width
        # Uncommitted text; it always starts at the beginning of a line.
        self._tail = ""
        # How much of the tail's complete lines the last block parse already covered.
        self._complete_seen = 0
        # The block still growing at the start of the tail, as the last block parse saw it.
        # A fence there is always open: a closed one is final and gets committed.
        self._live_block: Block | None = None
        self._code_view: LiveCodeView | None = None
        # The drawn lines of a live bullet list's finished items (`_render_list_by_items`).
        self._item_lines: dict[str, Lines] = {}
        self._item_lines_width = 0
        # Source lines taken for each screen line when drawing a big block from its end.
        self._source_lines_per_line = 1
        # Reference definitions found in committed text (markdown-it's env["references"]).
        self._references: dict[str, Any] = {}
        # rich's "blank line due before the next block" after what was committed so far.
        self._blank_line_due = False

        ascii_only = not console.encoding.lower().startswith("utf")
        self._frame = _LiveFrame(ascii_only=ascii_only)
        self._live: Live | None = None
        self._status: str | None = None
        self._painted = False
        # The live tail is not drawn yet: the last tick printed committed blocks and left
        # the few characters after them for the next one (`_tick`).
        self._tail_deferred = False
        self._next_tick = 0.0
        self._measured_cost = 0.0
        self._finished = False
        self._ticker: threading.Thread | None = None
        self._stop_ticker = threading.Event()
        self._failure: BaseException | None = None

    # -- public API -------------------------------------------------------------------------

    def feed(self, text: str) -> None:
        """Append answer text (sanitized here; callers need not); repaint if the throttle
        allows. Called once per token: the checks that rarely fire are inlined."""
        text = sanitize(text)
        if not text:
            return
        with self._lock:
            if self._finished or self._failure is not None:
                self._check_usable()
            self._pending.append(text)
            self._unshown_chars += len(text)
            now = self._clock()
            if not self._painted or (now >= self._next_tick and self._due(now)):
                self._tick(now)

    def set_status(self, text: str | None, *, since: float | None = None) -> None:
        """Show a one-line status under the live text; None hides it. With `since` (a
        `time.monotonic()` moment) the status counts the seconds from then. Ignored once
        finished (a status is transient: there is nothing left to show it under)."""
        status = sanitize_line(text) if text is not None else None
        with self._lock:
            if self._finished:
                return
            self._check_usable()
            if status == self._status and since == self._frame.status_since:
                return
            self._status = status
            self._frame.status = status
            self._frame.status_since = since if status is not None else None
            if self._live is None and status is None:
                return
            if self._ensure_live():
                self._repaint()

    def set_footer(self, text: str | None) -> None:
        """Keep a last line (the REPL's toolbar) under the live region while it is up; it
        goes with the region. None removes it."""
        footer = sanitize_line(text) if text is not None else None
        with self._lock:
            if self._finished or footer == self._frame.footer:
                return
            self._frame.footer = footer
            if self._live is None and footer is None:
                return
            if self._ensure_live():
                self._repaint()

    def flush(self) -> None:
        """Paint everything fed so far now, without waiting for the throttle."""
        with self._lock:
            self._check_usable()
            if self._pending or self._tail_deferred:
                self._tick(self._clock(), defer_tail=False)

    def finish(self) -> None:
        """Print the rest of the answer as normal blocks; remove the live region and status."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
        self._stop_background()
        with self._lock, self._console:  # one write: erase the live region, print the rest
            try:
                self._absorb_pending()
                remainder = self._commit_text(self._tail)
                self._tail = ""
            finally:
                # Whatever happens, the live region goes and the cursor comes back.
                self._frame.lines = []
                self._frame.status = None
                self._frame.footer = None
                if self._live is not None:
                    self._live.stop()
                    self._live = None
            if remainder is not None:
                self._console.print(remainder)
            failure, self._failure = self._failure, None
        if failure is not None:
            raise failure

    def interrupt(self, note: str = "[interrupted]") -> None:
        """Like `finish()`, then a dim line saying the answer was cut short. What the cut
        left open (a code fence, `**bold`, a code span) is closed, so it renders as meant
        rather than as raw markers."""
        with self._lock:
            if not self._finished:
                self._absorb_pending()
                self._tail = close_open_markup(self._tail)
        self.finish()
        self._console.print(Text(note, style="dim"))

    def __enter__(self) -> MarkdownStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            self.interrupt()
        else:
            self.finish()

    # -- committing and rendering -----------------------------------------------------------

    def _check_usable(self) -> None:
        if self._finished:
            raise RuntimeError("MarkdownStream used after finish()")
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    def _absorb_pending(self) -> None:
        if self._pending:
            self._tail += "".join(self._pending)
            self._pending.clear()

    def _due(self, now: float) -> bool:
        """Whether a repaint is due: the pause is over, and it would show a screen line's
        worth of new text or has waited one pause more.

        A repaint costs about the same however little it adds (on a paced stream each one
        runs after the process slept, with cold caches: most of its cost is waking the code
        up), so one that would add a word or two waits for more, at most one more pause.
        """
        if now < self._next_tick:
            return False
        return (
            self._unshown_chars >= self._line_chars or now >= self._next_tick + self._min_interval
        )

    def _tick(self, now: float, *, defer_tail: bool = True) -> None:
        """Commit the blocks that became final and repaint the live tail. Holds the lock.

        A tick that prints committed blocks leaves a short tail (less than a screen line of
        text, usually the first words of the next block) for the next tick: drawing it costs
        a whole render however few its characters, and the next tick draws it with what
        arrived meanwhile. `defer_tail=False` draws it now.
        """
        self.stats.ticks += 1
        self._absorb_pending()
        block_chars_before = self.stats.block_parsed_chars
        committed = self._commit_final_blocks()
        live_chars_before = self.stats.rendered_chars
        started = self._clock()
        self._line_chars = self._console.width
        if self._ensure_live():
            # Never twice in a row: when every tick prints a block, the tail still shows.
            self._tail_deferred = (
                defer_tail
                and committed is not None
                and not self._tail_deferred
                and len(self._tail) < self._line_chars
            )
            self._frame.lines = [] if self._tail_deferred else self._render_tail()
        self._unshown_chars = len(self._tail) if self._tail_deferred else 0
        # The pace follows what a repaint of the live block costs, the work that recurs;
        # printing committed blocks happens once per block whatever the pace.
        measured = self._clock() - started
        estimated = _estimated_seconds(
            self.stats.block_parsed_chars - block_chars_before,
            self.stats.rendered_chars - live_chars_before,
        )
        if committed is not None:
            # With a live region, rich's print hook erases it, prints the committed blocks
            # and draws `_frame` (already updated) below them, in one write.
            self._console.print(committed)
        else:
            self._repaint()
        self._painted = True
        # Half the last measure, half the history: one slow repaint does not set the pace.
        self._measured_cost = (self._measured_cost + measured) / 2
        pause = max(
            self._measured_cost * _PAUSE_PER_MEASURED_SECOND,
            estimated * _PAUSE_PER_ESTIMATED_SECOND,
        )
        self._next_tick = now + max(self._min_interval, min(pause, _LONGEST_PAUSE))

    def _commit_final_blocks(self) -> TerminalMarkdown | None:
        """Cut the blocks that can no longer change off the tail; return their renderable."""
        tail = self._tail
        complete_end = tail.rfind("\n") + 1
        if complete_end <= self._complete_seen:
            return None  # no new complete line: the block structure cannot have changed
        seen, self._complete_seen = self._complete_seen, complete_end
        if self._live_block is not None:
            may_end, self._live_block = new_lines_may_end(
                self._live_block, tail, seen, complete_end, self._parse_blocks
            )
            if not may_end:
                return None

        complete = tail[:complete_end]
        # Complete lines that end with a blank line are usually committed whole (a paragraph
        # or a closed fence and the blank line after it): then one full parse answers where
        # the blocks end and is the commit's own parse too.
        env = references_env(self._references)
        whole: list[Token] | None = None
        last_line = complete[complete.rfind("\n", 0, complete_end - 1) + 1 : complete_end - 1]
        if len(complete) <= _PARSE_WHOLE_UP_TO and is_blank(last_line):
            whole = self._parse(complete, env)
            blocks = top_level_blocks(whole)
        else:
            blocks = self._parse_blocks(complete)
        if not blocks:
            self._live_block = None
            return None
        lines = complete.split("\n")  # the last item is "", after the final newline
        line_count = len(lines) - 1

        final = len(blocks) - 1
        if cannot_change(blocks[-1], lines, line_count):
            final += 1
        cut_line = blocks[final].start if final < len(blocks) else line_count
        self._live_block = blocks[-1].shifted(cut_line) if final < len(blocks) else None
        if cut_line == 0:
            return None
        offset = line_offset(tail, cut_line)
        self._tail = tail[offset:]
        self._complete_seen -= offset
        self.stats.commits += 1
        if whole is not None and offset == complete_end:
            # The same text parsed with the same references: exactly `_commit_text`'s parse.
            return self._commit_tokens(complete, whole, env)
        return self._commit_text(tail[:offset])

    def _commit_text(self, text: str) -> TerminalMarkdown | None:
        """Parse committed text for good: keep its references, return its renderable."""
        if not text.strip():
            return None
        env = references_env(self._references)
        return self._commit_tokens(text, self._parse(text, env), env)

    def _commit_tokens(
        self, text: str, tokens: list[Token], env: dict[str, Any]
    ) -> TerminalMarkdown | None:
        """The renderable of committed `text` (not blank), parsed into `tokens` with `env`."""
        self._references = env["references"]
        top_level = [token for token in tokens if token.level == 0 and token.nesting >= 0]
        if not top_level:
            return None  # only reference definitions
        renderable = markdown_from_tokens(tokens, blank_line_due=self._blank_line_due)
        self._blank_line_due = wants_blank_line_after(top_level[-1].type)
        self.stats.renders += 1
        self.stats.rendered_chars += len(text)
        return renderable

    def _render_tail(self) -> list[list[Segment]]:
        """The last screenful of lines of the tail, rendered as it would be committed."""
        height = max(1, self._console.size.height - 2 - (self._frame.footer is not None))
        block = self._live_block
        if block is not None and block.type == "fence":
            return self._render_open_fence(height + 2)[-height:]
        while True:
            source = self._visible_source((height + 2) * self._source_lines_per_line)
            if not source.strip():
                return []
            lines = self._render_list_by_items(source, block)
            if lines is None:
                lines = self._render_live(source, blank_line_due=self._blank_line_due)
            cut_short = len(source) < len(self._tail) and len(lines) < height
            if (
                not cut_short
                or self._source_lines_per_line >= _MOST_SOURCE_LINES_PER_LINE
                or (block is not None and block.type == "table_open")  # rows never join
            ):
                return lines[-height:]
            # Source lines that join when rendered (list items, soft breaks) filled less
            # than a screen: take more of them, now and for the rest of the stream.
            self._source_lines_per_line *= 2

    def _render_live(self, source: str, *, blank_line_due: bool) -> list[list[Segment]]:
        """`source` rendered as it would be committed, unpadded lines (never scrollback)."""
        tokens = self._parse(source, references_env(self._references))
        markdown = markdown_from_tokens(tokens, blank_line_due=blank_line_due)
        markdown.trim_padding = False  # transient: never reaches scrollback
        self.stats.renders += 1
        self.stats.rendered_chars += len(source)
        return self._console.render_lines(markdown, self._console.options, pad=False)

    def _render_list_by_items(self, source: str, block: Block | None) -> Lines | None:
        """A live bullet list drawn item by item, its finished items reused; None if not.

        rich draws each item of a bullet list on its own (a bullet, then the item's blocks,
        whatever the other items; a tight and a loose list look the same), and opens a list
        with one blank line, whatever came before. So the list is that blank line, then each
        item drawn as a list of its own without its blank line: a finished item is drawn
        once and reused while the last one grows. `source` is the whole list or its end from
        one of its items on (`_visible_source`). Not for ordered lists (the width of every
        number depends on the last one), a list cut anywhere but at an item, or a list that
        may define link references (a definition in one item is known to the others).
        """
        items = self._finished_items(source, block)
        if not items:
            return None
        last = self._render_live(source[sum(map(len, items)) :], blank_line_due=False)
        if not last or last[0]:
            return None  # not the blank line this relies on: draw the list whole
        if self._item_lines_width != self._console.width:
            self._item_lines, self._item_lines_width = {}, self._console.width
        drawn: dict[str, Lines] = {}
        lines = [last[0]]
        for item in items:
            item_lines = drawn.get(item) or self._item_lines.get(item)
            if item_lines is None:
                rendered = self._render_live(item, blank_line_due=False)
                if not rendered or rendered[0]:
                    return None
                item_lines = rendered[1:]
            drawn[item] = item_lines
            lines.extend(item_lines)
        self._item_lines = drawn  # keep only what is on screen now
        lines.extend(last[1:])
        return lines

    def _finished_items(self, source: str, block: Block | None) -> list[str]:
        """The sources of the finished items `source` starts with (see above), or []."""
        tail = self._tail
        if (
            block is None
            or len(source) < _LIST_BY_ITEMS_FROM
            or block.type != "bullet_list_open"
            or block.start != 0
            or len(block.items) < 2
            or "]:" in source
        ):
            return []
        cut = len(tail) - len(source)
        if cut and (tail[cut - 1] != "\n" or not tail.endswith(source)):
            return []
        first = tail.count("\n", 0, cut)  # the line of the tail `source` starts at
        if first not in block.items:
            return []
        starts = [line - first for line in block.items if line >= first]
        offsets = [line_offset(source, line) for line in starts]
        return [source[a:b] for a, b in itertools.pairwise(offsets)]

    def _render_open_fence(self, keep: int) -> list[list[Segment]]:
        """The open fence the tail starts with: its last `keep` lines, highlighted by line."""
        lines = head_and_last_lines(self._tail, 1, keep).split("\n")
        opening_line = lines[0]
        view = self._code_view
        if view is None or view.opening_line != opening_line:
            fence = self._parse(opening_line, references_env())
            info = fence[0].info if fence and fence[0].type == "fence" else ""
            view = self._code_view = LiveCodeView(self._console, opening_line, info)
        drawn_before = view.drawn_chars
        rendered = view.render(lines[1:], blank_line_due=self._blank_line_due)
        self.stats.renders += 1
        self.stats.rendered_chars += view.drawn_chars - drawn_before
        return rendered

    def _visible_source(self, keep: int) -> str:
        """The part of the tail that can reach the screen: about its last `keep` lines.

        Only the end of the live region is visible, so a big block is drawn from its last
        source lines (a table keeps its header, a list starts at an item; an open fence is
        drawn by `_render_open_fence`), and one enormous line from its last screenful of
        words. Each repaint then
        costs about a screenful however long the block grows. A cut-down block may wrap or
        highlight a little differently until it is committed, and only while it is live.
        """
        text = self._tail
        block = self._live_block
        screenful = keep * self._console.width
        last_line = text.rfind("\n") + 1
        if len(text) - last_line > 2 * screenful:
            space = text.find(" ", len(text) - screenful)
            return text[space + 1 :] if space >= 0 else text[-screenful:]
        if block is None:
            return text
        if block.type == "table_open":
            # Few enough rows that the header, drawn with its frame, stays on screen too.
            return head_and_last_lines(text, 2, max(1, keep - _TABLE_FRAME_LINES))
        line_total = text.count("\n") + 1
        if line_total <= _BIG_BLOCK_SCREENS * keep:
            return text
        if len(block.items) > 1:
            start = 0
            for item in block.items:
                if line_total - item < keep:
                    break
                start = item
            if line_total - start <= _BIG_BLOCK_SCREENS * keep:
                return text[line_offset(text, start) :]
        return head_and_last_lines(text, 0, keep)

    def _parse_blocks(self, text: str) -> list[Block]:
        self.stats.block_parses += 1
        self.stats.block_parsed_chars += len(text)
        return top_level_blocks(self._block_parser.parse(text))

    def _parse(self, text: str, env: dict[str, Any]) -> list[Token]:
        self.stats.parses += 1
        self.stats.parsed_chars += len(text)
        return self._parser.parse(text, env)

    # -- live region ------------------------------------------------------------------------

    def _ensure_live(self) -> bool:
        """Start the live region on first use; False when the console cannot have one."""
        if not self._live_enabled:
            return False
        if self._live is None:
            self._live = Live(
                self._frame,
                console=self._console,
                auto_refresh=False,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
                vertical_overflow="crop",
            )
            self._live.start()
            if self._background_refresh:
                self._ticker = threading.Thread(
                    target=self._background, name="meilichat-render", daemon=True
                )
                self._ticker.start()
        return True

    def _repaint(self) -> None:
        if self._live is not None:
            self._live.refresh()

    def _background(self) -> None:
        """Paint text the throttle held back when no more text comes; turn the spinner."""
        try:
            while not self._stop_ticker.wait(self._min_interval):
                with self._lock:
                    if self._finished or self._failure is not None:
                        return
                    now = self._clock()
                    if (self._pending or self._tail_deferred) and self._due(now):
                        self._tick(now)
                    elif self._status is not None:
                        self._repaint()
        except BaseException as failure:  # handed to the caller's thread by its next call
            with self._lock:
                self._failure = failure

    def _stop_background(self) -> None:
        self._stop_ticker.set()
        ticker, self._ticker = self._ticker, None
        if ticker is not None and ticker is not threading.current_thread():
            ticker.join()


_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_MARKS = ("**", "__", "~~", "*", "_")


def close_open_markup(text: str) -> str:
    """`text` with what is still open at its end closed: a fence, else the emphasis,
    strikethrough and code spans left open in its last paragraph (innermost first)."""
    fence: str | None = None
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if match is None:
            continue
        marker = match.group(1)
        if fence is None:
            fence = marker
        elif (
            marker[0] == fence[0] and len(marker) >= len(fence) and not line.strip()[len(marker) :]
        ):
            fence = None
    if fence is not None:
        return text + ("" if text.endswith("\n") else "\n") + fence + "\n"
    start = text.rfind("\n\n") + 2 if "\n\n" in text else 0
    paragraph = text[start:]
    if not paragraph.strip():
        return text
    open_marks: list[str] = []
    position = 0
    while position < len(paragraph):
        char = paragraph[position]
        if char == "\\":
            position += 2
            continue
        if char == "`":
            run = len(paragraph[position:]) - len(paragraph[position:].lstrip("`"))
            ticks = "`" * run
            end = paragraph.find(ticks, position + run)
            if end < 0:
                open_marks.append(ticks)
                break
            position = end + run
            continue
        mark = next((m for m in _MARKS if paragraph.startswith(m, position)), None)
        if mark is None:
            position += 1
            continue
        before = paragraph[position - 1] if position else " "
        after = paragraph[position + len(mark)] if position + len(mark) < len(paragraph) else " "
        if mark[0] == "_" and before.isalnum() and after.isalnum():
            position += len(mark)  # snake_case, not emphasis
            continue
        if mark in open_marks and not before.isspace():
            while open_marks and open_marks[-1] != mark:
                open_marks.pop()
            if open_marks:
                open_marks.pop()
        elif not after.isspace():
            open_marks.append(mark)
        position += len(mark)
    if not open_marks:
        return text
    return text.rstrip(" \t") + "".join(reversed(open_marks))
