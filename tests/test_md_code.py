"""Code fences drawn without rich's Syntax give exactly what Syntax would have drawn."""

from __future__ import annotations

import io
from typing import Any

import hypothesis_profiles  # noqa: F401 - loads the shared hypothesis profile
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from rich.segment import Segment
from rich.syntax import Syntax
from rich.text import Text

from meilichat_cli.standin.scenarios import long_answer_deltas
from meilichat_cli.ui import md_code
from meilichat_cli.ui.live_code import LiveCodeView
from meilichat_cli.ui.markdown import render_once
from meilichat_cli.ui.md_code import CODE_THEME, code_lexer, code_theme, fence_segments

LANGUAGES = ["python", "js", "rust", "bash", "json", "text", "sql", "diff", "html", "nosuch"]
THEME = code_theme(CODE_THEME)


def syntax_segments(code: str, language: str, width: int) -> list[Segment]:
    """What rich's own markdown code block draws (`rich.markdown.CodeBlock`)."""
    console = Console(file=io.StringIO(), force_terminal=True, width=width)
    syntax = Syntax(code, code_lexer(language), theme=THEME, word_wrap=True, padding=1)
    return list(console.render(syntax, console.options))


def printed(text: str, width: int, color_system: str | None) -> str:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=width, color_system=color_system)  # type: ignore[arg-type]
    render_once(console, text)
    return out.getvalue()


code_text = st.text(
    alphabet=st.sampled_from(list("abcXYZ019 \t\n'\"#/*{}()[]<>=+-_.,:;!$%&|\\`~éß→")),
    max_size=160,
).map(str.rstrip)


@given(code=code_text, language=st.sampled_from(LANGUAGES), width=st.integers(3, 120))
def test_a_fence_drawn_directly_has_the_segments_syntax_draws(
    code: str, language: str, width: int
) -> None:
    fast = fence_segments(code, code_lexer(language), THEME, width)
    if fast is not None:
        assert fast == syntax_segments(code, language, width)


@pytest.mark.parametrize(
    ("code", "language"),
    [
        ('def f(x):\n\t"""doc\nstring"""\n    return x  # done', "python"),
        ("a\n\n\nb   \n  c", "text"),
        ('{"a": [1, 2, {"b": null}]}', "json"),
        ('fn main() {\n    println!("{}", 1);\n}', "rust"),
        ("x = 1", "a-language-pygments-does-not-know"),
    ],
)
def test_ordinary_fences_are_drawn_directly_and_equal_syntax(code: str, language: str) -> None:
    fast = fence_segments(code, code_lexer(language), THEME, 60)
    assert fast is not None
    assert fast == syntax_segments(code, language, 60)


@pytest.mark.parametrize(
    ("code", "width"),
    [
        ("x = '" + "a" * 80 + "'", 40),  # a line to wrap
        ("name = '名前'", 40),  # two cells per character
        ("e\u0301 = 1", 40),  # a zero-width combining mark
        ("x = 1", 2),  # no room inside the padding
        ("", 40),  # nothing to draw
    ],
)
def test_fences_outside_the_simple_case_are_left_to_syntax(code: str, width: int) -> None:
    assert fence_segments(code, code_lexer("python"), THEME, width) is None


def test_the_long_benchmark_answer_draws_every_fence_directly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drawn: list[bool] = []
    real = md_code.fence_segments

    def counting(*args: object) -> list[Segment] | None:
        segments = real(*args)  # type: ignore[arg-type]
        drawn.append(segments is not None)
        return segments

    monkeypatch.setattr(md_code, "fence_segments", counting)
    printed("".join(long_answer_deltas(400)), 100, "truecolor")
    assert drawn and all(drawn)


DOCUMENT = """\
Some code:

```python
def f(x):
    return x  # twice
```

- a list item with code inside

  ```js
  const a = [1, 2, 3];
  ```

> quoted code
>
> ```bash
> echo "$HOME"
> ```

```text
a line far too long for a narrow terminal, so it wraps and Syntax draws it itself
```

    indented code block
"""


@pytest.mark.parametrize("width", [24, 40, 80, 120])
@pytest.mark.parametrize("color_system", ["truecolor", "256", "standard", None])
def test_an_answer_prints_the_same_bytes_with_and_without_the_direct_drawing(
    monkeypatch: pytest.MonkeyPatch, width: int, color_system: str | None
) -> None:
    direct = printed(DOCUMENT, width, color_system)
    monkeypatch.setattr(md_code, "fence_segments", lambda *args: None)
    assert printed(DOCUMENT, width, color_system) == direct


@given(
    line=code_text.map(lambda text: text.replace("\n", " ")),
    language=st.sampled_from(LANGUAGES),
    width=st.integers(3, 100),
)
def test_a_live_fence_line_is_drawn_as_syntax_draws_it(
    line: str, language: str, width: int
) -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=width)
    view = LiveCodeView(console, "```" + language, language)
    drawn = view.render([line], blank_line_due=False)
    syntax = Syntax(line, code_lexer(language), theme=THEME, word_wrap=True, padding=(0, 1))
    expected = console.render_lines(syntax, console.options, pad=False)
    assert drawn[1:-1] == expected


def test_the_installed_rich_draws_the_probe_fence_as_the_direct_drawing_does() -> None:
    assert md_code.rich_draws_fences_alike()


def test_a_rich_that_draws_fences_otherwise_draws_every_fence_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class WiderPadding(Syntax):  # what another version of rich might draw
        def __init__(self, *args: Any, **options: Any) -> None:
            super().__init__(*args, **{**options, "padding": (1, 2)})

    monkeypatch.setattr(md_code, "Syntax", WiderPadding)
    md_code.rich_draws_fences_alike.cache_clear()
    try:
        assert not md_code.rich_draws_fences_alike()
        console = Console(file=io.StringIO(), force_terminal=True, width=40)
        element = md_code.FencedCode("python", CODE_THEME)
        element.text = Text("x = 1")
        expected = WiderPadding(
            "x = 1", code_lexer("python"), theme=THEME, word_wrap=True, padding=1
        )
        drawn = list(console.render(element, console.options))
        assert drawn == list(console.render(expected, console.options))
    finally:
        md_code.rich_draws_fences_alike.cache_clear()
