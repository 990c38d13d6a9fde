"""Code fences in markdown: the lexer and theme they use, and drawing them cheaply.

A fence is drawn as rich's markdown draws it (`rich.markdown.CodeBlock`: a `Syntax` with
padding 1 and word wrap, on the theme's own background), with two differences of cost only:

- the lexer is looked up among pygments' own lexers (`code_lexer`), never in the plugins of
  other installed packages, which pygments loads through entry points when a name is unknown
  (a model writing ```` ```ipy ```` would otherwise import IPython, ~0.3 s);
- when every line fits the width and every character is one cell wide (nearly every fence),
  the segments are built here directly from pygments' tokens (`fence_segments`), not through
  `Syntax`, `Padding`, `Text.wrap` and three `render_lines` passes: about a tenth of the
  work, and the same segments, style for style (tests compare the two over generated code).
  Anything else (a line to wrap, a wide or zero-width character) is drawn by `Syntax` itself,
  and so is every fence when the installed rich draws a probe fence otherwise (`md_probe`).

Imports rich and pygments (and markdown-it, through rich.markdown): import it only to paint a
terminal. Must not import httpx, typer or prompt_toolkit.
"""

from __future__ import annotations

import functools
from typing import Any

from pygments.lexer import Lexer
from pygments.lexers import find_lexer_class, get_all_lexers
from pygments.lexers.special import TextLexer
from pygments.token import _TokenType
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import CodeBlock
from rich.segment import Segment
from rich.style import Style
from rich.syntax import Syntax, SyntaxTheme

from meilichat_cli.ui.md_probe import draws_alike

# A pygments theme with its own background: readable on dark and light terminals alike,
# unlike the ANSI themes, whose yellow strings vanish on a white background.
CODE_THEME = "monokai"

# What rich's Syntax gives the lexers it looks up by name (its default tab size is 4).
_TAB_SIZE = 4
_LEXER_OPTIONS: dict[str, Any] = {"stripnl": False, "ensurenl": True, "tabsize": _TAB_SIZE}


@functools.cache
def _builtin_lexer_names() -> dict[str, str]:
    """pygments' own lexers: alias → lexer name (no plugin lookup)."""
    return {
        alias: name
        for name, aliases, _patterns, _mimetypes in get_all_lexers(plugins=False)
        for alias in aliases
    }


@functools.lru_cache(maxsize=64)
def code_lexer(language: str) -> Lexer:
    """The lexer rich would use for a fence's first info word, from pygments' own lexers.

    Unknown names get the plain-text lexer, as in rich. Cached: the fence of a streamed
    answer is drawn many times, and rich looks its lexer up again at every draw.
    """
    name = _builtin_lexer_names().get(language.lower())
    lexer_class = (find_lexer_class(name) if name else None) or TextLexer
    return lexer_class(**_LEXER_OPTIONS)


@functools.lru_cache(maxsize=8)
def code_theme(name: str) -> SyntaxTheme:
    """The syntax theme called `name`, built once.

    rich builds a new theme for every `Syntax` given a theme's name, and with it an empty
    cache of token styles, so each fence drawn would convert every pygments style again;
    the styles of a theme never change, so one instance serves every fence.
    """
    return Syntax.get_theme(name)


class FencedCode(CodeBlock):
    """rich's code block, highlighted with `code_lexer` and a shared `code_theme`."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        code = str(self.text).rstrip()
        lexer = code_lexer(self.lexer_name)
        theme = code_theme(self.theme)
        segments = (
            fence_segments(code, lexer, theme, options.max_width)
            if rich_draws_fences_alike()
            else None
        )
        if segments is not None:
            yield from segments
            return
        yield Syntax(code, lexer, theme=theme, word_wrap=True, padding=1)


class _TokenStyles:
    """The style of each token type on a theme's background, as rich combines them."""

    def __init__(self, theme: SyntaxTheme) -> None:
        self.theme = theme
        self.base = theme.get_background_style()
        self._combined: dict[_TokenType, Style | None] = {}

    def of(self, token_type: _TokenType) -> Style | None:
        """The token's style on the background, or None when the theme has none for it."""
        try:
            return self._combined[token_type]
        except KeyError:
            own = self.theme.get_style_for_token(token_type)
            combined = self.base + own if own else None
            self._combined[token_type] = combined
            return combined


@functools.lru_cache(maxsize=8)
def _token_styles(theme: SyntaxTheme) -> _TokenStyles:
    return _TokenStyles(theme)


def _fits(line: str, width: int) -> bool:
    # One cell per character (so no wrapping rule or cell arithmetic of rich's can differ)
    # and nothing rich would strip (its control codes) or expand (tabs are already gone).
    return len(line) <= width and line.isprintable() and cell_len(line) == len(line)


def fence_segments(code: str, lexer: Lexer, theme: SyntaxTheme, width: int) -> list[Segment] | None:
    """The segments `Syntax(code, lexer, theme, word_wrap=True, padding=1)` draws at `width`.

    None when the code is outside what is built here (a line longer than the width inside
    the padding, a character that is not one cell wide, a background-less theme, no code):
    the caller then lets `Syntax` draw it.
    """
    code_width = width - 2
    styles = _token_styles(theme)
    base = styles.base
    if not code or code_width < 1 or base.transparent_background:
        return None
    # What Syntax does before highlighting: a final newline, tabs expanded.
    processed = (code + "\n").expandtabs(_TAB_SIZE)
    lines = processed.split("\n")[:-1]
    if not all(_fits(line, code_width) for line in lines):
        return None

    # Each line as its runs of (text, style): rich's Text gives each token its own span, so
    # each becomes its own segment. A token type the theme has no style for would get no span
    # and join the text next to it: rare enough to leave to Syntax.
    runs: list[list[tuple[str, Style]]] = [[]]
    for token_type, value in lexer.get_tokens(processed):
        style = styles.of(token_type)
        if style is None:
            return None
        pieces = value.split("\n")
        for number, piece in enumerate(pieces):
            if number:
                runs.append([])
            if piece:
                runs[-1].append((piece, style))
    # With `ensurenl` the tokens end with a newline, which ends the last line: no line follows.
    runs.pop()
    if ["".join(text for text, _style in run) for run in runs] != lines:
        return None  # the lexer changed the text (rich would draw what it returned)

    blank = Segment(" " * width + "\n", base)
    edge = Segment(" ", base)
    new_line = Segment.line()
    segments = [blank]
    for line, line_runs in zip(lines, runs, strict=True):
        segments.append(edge)
        segments.extend(Segment(text, style) for text, style in line_runs)
        if len(line) < code_width:  # rich pads each line to the width, on the background
            segments.append(Segment(" " * (code_width - len(line)), base))
        segments.append(edge)
        segments.append(new_line)
    segments.append(blank)
    return segments


@functools.cache
def rich_draws_fences_alike() -> bool:
    """Whether the installed rich's `Syntax` draws a probe fence exactly as `fence_segments`.

    The probe is JSON (a lexer without a regex table to compile) with several token types,
    a blank line, a short and an indented line.
    """

    def draw_both(console: Console) -> tuple[list[Segment], list[Segment] | None]:
        code = '{"key": [1, true, null],\n\n\t"other": "value"}'
        lexer, theme = code_lexer("json"), code_theme(CODE_THEME)
        syntax = Syntax(code, lexer, theme=theme, word_wrap=True, padding=1)
        return list(console.render(syntax, console.options)), fence_segments(
            code, lexer, theme, console.options.max_width
        )

    return draws_alike(draw_both)
