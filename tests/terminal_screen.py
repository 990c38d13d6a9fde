"""Replay what a program wrote to a terminal through a terminal emulator (pyte).

What matters to a person is what ends up on the screen and in the scrollback, not the bytes:
a live region is drawn, erased with cursor moves and drawn again. `Terminal` feeds the bytes
to a pyte `HistoryScreen` (line feed implies carriage return, as a tty's `onlcr` does) and
reads back every line that scrolled off plus the screen, as text and with its styles.
"""

from __future__ import annotations

from typing import Any

import pyte


class Terminal:
    """A `width` x `height` terminal with a long scrollback, fed incrementally."""

    def __init__(self, width: int = 80, height: int = 25) -> None:
        self.screen = pyte.HistoryScreen(width, height, history=1_000_000)
        self.screen.set_mode(pyte.modes.LNM)
        self._stream = pyte.Stream(self.screen)
        self.width = width

    def feed(self, data: str) -> None:
        self._stream.feed(data)

    def _rows(self) -> list[Any]:
        screen = self.screen
        return [*screen.history.top, *(screen.buffer[y] for y in range(screen.lines))]

    def _text(self, row: Any) -> str:
        return "".join(row[x].data for x in range(self.width)).rstrip()

    def visible_lines(self) -> list[str]:
        """The screen only, as text (what a person sees right now)."""
        return [line.rstrip() for line in self.screen.display]

    def lines(self) -> list[str]:
        """Scrollback and screen, as text, without the blank rows below the last text."""
        rows = [self._text(row) for row in self._rows()]
        while rows and not rows[-1]:
            rows.pop()
        return rows

    def styled_lines(self) -> list[tuple[tuple[object, ...], ...]]:
        """Like `lines`, with each cell's character, colours and attributes."""
        rows = self._rows()
        texts = [self._text(row) for row in rows]
        while texts and not texts[-1]:
            texts.pop()
        return [
            tuple(
                (c.data, c.fg, c.bg, c.bold, c.italics, c.underscore, c.strikethrough, c.reverse)
                for c in (row[x] for x in range(self.width))
            )
            for row in rows[: len(texts)]
        ]


def replay(data: str, width: int = 80, height: int = 25) -> Terminal:
    terminal = Terminal(width, height)
    terminal.feed(data)
    return terminal
