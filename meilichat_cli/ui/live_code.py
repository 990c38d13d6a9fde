"""Draw a code fence that is still growing, one line at a time.

Highlighting a screenful of code with rich's `Syntax` takes ~10 ms, too much to redo at every
repaint while a long fence streams in. `LiveCodeView` highlights each code line on its own
and reuses the lines it already drew, so a repaint costs about one line. It draws what
`md_code.FencedCode` draws for a fence (same theme, padding and wrapping); only
highlighting that depends on earlier lines (a string spanning lines) may differ, and only
until the fence closes and is committed by the real renderer.

Imports rich. Must not import httpx, typer or prompt_toolkit.
"""

from __future__ import annotations

from rich.console import Console
from rich.segment import Segment
from rich.syntax import Syntax

from meilichat_cli.ui.md_code import CODE_THEME, code_lexer, code_theme, fence_segments

Lines = list[list[Segment]]


class LiveCodeView:
    """The rendered lines of one open fence, given its opening line and info string."""

    def __init__(self, console: Console, opening_line: str, info: str) -> None:
        self._console = console
        self.opening_line = opening_line
        # What rich's CodeBlock does with the info string: its first word names the lexer.
        self._lexer = code_lexer(info.partition(" ")[0] or "text")
        # markdown-it removes the fence's own indentation (0-3 spaces) from its lines.
        self._indent = len(opening_line) - len(opening_line.lstrip(" "))
        self._drawn: dict[str, Lines] = {}
        self._padding: Lines | None = None
        self.drawn_chars = 0  # characters highlighted so far (work done)

    def render(self, code_lines: list[str], *, blank_line_due: bool) -> Lines:
        """The fence drawn with `code_lines` (the last ones it has so far) as its content."""
        padding = self._padding_line()
        lines: Lines = [[]] if blank_line_due else []
        lines.extend(padding)
        drawn: dict[str, Lines] = {}
        for raw in code_lines:
            line = self._dedent(raw)
            rendered = drawn.get(line) or self._drawn.get(line)
            if rendered is None:
                rendered = self._draw(line)
            drawn[line] = rendered
            lines.extend(rendered)
        lines.extend(padding)
        self._drawn = drawn  # keep only what is on screen now
        return lines

    def _dedent(self, line: str) -> str:
        stripped = line.lstrip(" ")
        removed = min(self._indent, len(line) - len(stripped))
        return line[removed:]

    def _draw(self, line: str) -> Lines:
        self.drawn_chars += len(line)
        theme = code_theme(CODE_THEME)
        direct = fence_segments(line, self._lexer, theme, self._console.options.max_width)
        if direct is not None:
            # A one-line fence: its line without the blank lines around it and its line end.
            return [direct[1:-2]]
        syntax = Syntax(line, self._lexer, theme=theme, word_wrap=True, padding=(0, 1))
        return self._console.render_lines(syntax, self._console.options, pad=False)

    def _padding_line(self) -> Lines:
        if self._padding is None:
            syntax = Syntax("", self._lexer, theme=code_theme(CODE_THEME), padding=(0, 1))
            self._padding = self._console.render_lines(syntax, self._console.options, pad=False)
        return self._padding
