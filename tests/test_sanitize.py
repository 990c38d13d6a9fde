"""The sanitizer: hostile terminal sequences (docs/reliability.md, rows 21-26, 30), one-line
messages, HTML excerpts, and the properties the renderer relies on (no control survives, idempotent,
chunk-split invariant)."""

from __future__ import annotations

import hypothesis_profiles  # noqa: F401 - loads the shared hypothesis profile
import pytest
from hypothesis import given
from hypothesis import strategies as st

from meilichat_cli.text.sanitize import cut, sanitize, sanitize_line, strip_tags_excerpt

ESC = "\x1b"
BEL = "\x07"


def is_forbidden(char: str) -> bool:
    code = ord(char)
    return (
        (code < 0x20 and char not in "\t\n")
        or code == 0x7F
        or 0x80 <= code <= 0x9F
        or 0xD800 <= code <= 0xDFFF
    )


def assert_inert(text: str) -> None:
    """Nothing a terminal would act on: no ESC, no BEL, no CR, no C1 introducer."""
    assert not any(is_forbidden(char) for char in text), repr(text)


# -- hostile sequences (docs/reliability.md) --------------------------------------------------


def test_an_osc52_clipboard_write_is_neutralized() -> None:
    hostile = f"Sure!{ESC}]52;c;cm0gLXJmIH4K{BEL} Here you go."
    out = sanitize(hostile)
    assert_inert(out)
    assert out == "Sure!]52;c;cm0gLXJmIH4K Here you go."
    st_terminated = f"a{ESC}]52;c;QUJD{ESC}\\b"
    assert sanitize(st_terminated) == "a]52;c;QUJD\\b"


def test_an_osc8_hyperlink_leaves_plain_text() -> None:
    hostile = f"{ESC}]8;;https://evil.example{ESC}\\Your bank{ESC}]8;;{ESC}\\"
    out = sanitize(hostile)
    assert_inert(out)
    assert "Your bank" in out
    # The URL stays visible as residue rather than hidden behind the text.
    assert "https://evil.example" in out


@pytest.mark.parametrize(
    ("hostile", "expected"),
    [
        (f"{ESC}]0;title{ESC}\\rest", "]0;title\\rest"),
        (f"{ESC}[2J{ESC}[Hclean", "[2J[Hclean"),
        (f"real\n{ESC}[1A{ESC}[2K✓ done", "real\n[1A[2K✓ done"),
    ],
)
def test_title_screen_and_cursor_sequences_are_removed(hostile: str, expected: str) -> None:
    out = sanitize(hostile)
    assert_inert(out)
    assert out == expected


@pytest.mark.parametrize(
    ("hostile", "expected"),
    [("\x9b2Jx", "2Jx"), ("\x9d0;x\x9cy", "0;xy"), ("a\x85b\x90c\x9fd", "abcd")],
)
def test_eight_bit_c1_controls_are_removed(hostile: str, expected: str) -> None:
    assert sanitize(hostile) == expected


def test_an_escape_split_across_two_deltas_is_still_neutralized() -> None:
    deltas = [ESC, f"]52;c;cm0gLXJmIH4K{BEL}", "after"]
    shown = "".join(sanitize(delta) for delta in deltas)
    assert_inert(shown)
    assert shown == sanitize("".join(deltas)) == "]52;c;cm0gLXJmIH4Kafter"
    csi = ["text", "\x1b[", "2J", "\x1b", "[H"]
    assert "".join(sanitize(d) for d in csi) == "text[2J[H"


def test_a_carriage_return_cannot_overwrite() -> None:
    out = sanitize("safe\rrm -rf ~")
    assert "\r" not in out
    assert out == "saferm -rf ~"
    assert sanitize("line\r\nnext") == "line\nnext"


def test_an_html_error_page_becomes_a_short_clean_excerpt() -> None:
    page = (
        "<!DOCTYPE html><html><head><title>502 Bad Gateway</title>"
        "<style>body { color: red; }</style>"
        "<script type='text/javascript'>document.write('\x1b]52;c;x\x07');</script></head>"
        "<body>\n<center><h1>Bad&nbsp;Gateway</h1></center>\r\n"
        "<!-- hidden comment -->"
        f"<p>upstream {ESC}[2Jfailed &amp; &#27;[31mred &lt;b&gt;</p>"
        "<hr><center>nginx/1.25.3</center>\n</body></html>"
    )
    out = strip_tags_excerpt(page)
    assert_inert(out)
    # Terminal sequences go whole (raw or as an entity): no `[2J` or `[31m` remnants.
    assert out == "502 Bad Gateway Bad\xa0Gateway upstream failed & red <b> nginx/1.25.3"
    assert "script" not in out and "color" not in out and "hidden" not in out


def test_an_html_excerpt_is_cut_with_an_ellipsis() -> None:
    page = "<p>" + "word " * 200 + "</p>"
    out = strip_tags_excerpt(page, limit=50)
    assert len(out) <= 50
    assert out.endswith("…")
    assert out.startswith("word word")


def test_unclosed_script_and_truncated_tags_are_dropped() -> None:
    assert strip_tags_excerpt("Error<script>alert(1)") == "Error"
    assert strip_tags_excerpt("Error <div class='x'") == "Error"
    assert strip_tags_excerpt("<SCRIPT>x</SCRIPT >shown") == "shown"


def test_html_excerpt_keeps_text_lesser_than_signs() -> None:
    assert strip_tags_excerpt("<p>1 < 2 and 3 > 2</p>") == "1 < 2 and 3 > 2"


# -- sanitize ---------------------------------------------------------------------------------


def test_clean_text_is_returned_unchanged_and_not_copied() -> None:
    text = "Plain text, tabs\tand newlines\n, unicode é 日本 🎉 \u2028 \xa0 ok"
    assert sanitize(text) is text


def test_tab_and_newline_are_kept_everything_else_below_space_is_removed() -> None:
    every_c0 = "".join(chr(code) for code in range(0x20))
    assert sanitize(every_c0 + "x\x7f") == "\t\nx"


def test_lone_surrogates_become_replacement_characters() -> None:
    out = sanitize("a\ud800b\udfffc")
    assert out == "a\ufffdb\ufffdc"
    out.encode("utf-8")


def test_printable_neighbours_of_the_forbidden_ranges_are_kept() -> None:
    text = " ~\xa0\xff\ud7ff\ue000\ufffd"
    assert sanitize(text) == text


# -- sanitize_line ----------------------------------------------------------------------------


def test_sanitize_line_makes_one_line() -> None:
    assert sanitize_line("  Index `films`\n\tnot\r\n found.\u2028Really  ") == (
        "Index `films` not found. Really"
    )
    assert sanitize_line(f"bad {ESC}[31mred{ESC}[0m") == "bad [31mred[0m"
    assert sanitize_line("") == ""


# -- cut --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("exactly10!", 10, "exactly10!"),
        ("abcdefghijk", 5, "abcd…"),
        ("abc", 0, ""),
    ],
)
def test_cut(text: str, limit: int, expected: str) -> None:
    assert cut(text, limit) == expected


# -- properties -------------------------------------------------------------------------------

# Text biased towards the interesting code points, plus any code point at all.
HOSTILE_CHARS = st.one_of(
    st.characters(codec=None),
    st.sampled_from(["\x1b", "\x07", "\r", "\n", "\t", "\x7f", "\x9b", "\x85", "\ud800", "\udc00"]),
)
TEXT = st.text(HOSTILE_CHARS, max_size=200)


@given(TEXT)
def test_property_output_has_no_forbidden_character(text: str) -> None:
    assert not any(is_forbidden(char) for char in sanitize(text))


@given(TEXT)
def test_property_sanitize_is_idempotent(text: str) -> None:
    once = sanitize(text)
    assert sanitize(once) == once


@given(TEXT, TEXT)
def test_property_sanitize_is_split_invariant(first: str, second: str) -> None:
    assert sanitize(first + second) == sanitize(first) + sanitize(second)


@given(TEXT)
def test_property_only_forbidden_characters_change(text: str) -> None:
    expected = "".join(
        "\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else ("" if is_forbidden(c) else c) for c in text
    )
    assert sanitize(text) == expected


@given(TEXT)
def test_property_sanitize_line_is_one_clean_line(text: str) -> None:
    line = sanitize_line(text)
    assert "\n" not in line and "\t" not in line and "  " not in line
    assert line == line.strip(" ")
    assert not any(is_forbidden(char) for char in line)


@given(st.text(HOSTILE_CHARS.filter(lambda c: c not in "<>&"), max_size=300), st.integers(1, 120))
def test_property_html_excerpt_is_clean_and_bounded(text: str, limit: int) -> None:
    out = strip_tags_excerpt(f"<p>{text}</p><script>{text}</script>", limit)
    assert len(out) <= limit
    assert not any(is_forbidden(char) for char in out)


@pytest.mark.parametrize(
    "control",
    [
        "\u202a",
        "\u202b",
        "\u202c",
        "\u202d",
        "\u202e",
        "\u2066",
        "\u2067",
        "\u2068",
        "\u2069",
        "\u200e",
        "\u200f",
        "\u061c",
    ],
)
def test_bidi_controls_are_removed_so_an_address_reads_as_it_is(control: str) -> None:
    # "https://evil.example/\u202eelpmaxe.knab" would read as ending in "bank.example".
    hostile = f"see https://evil.example/{control}elpmaxe.knab now"
    assert sanitize(hostile) == "see https://evil.example/elpmaxe.knab now"
    assert sanitize_line(hostile) == "see https://evil.example/elpmaxe.knab now"


@given(st.text(alphabet=st.sampled_from("ab \u202e\u2066\u200f\x1b\x9b")))
def test_no_bidi_control_survives_and_chunking_does_not_matter(text: str) -> None:
    out = sanitize(text)
    assert not set(out) & set("\u202e\u2066\u200f\x1b\x9b")
    middle = len(text) // 2
    assert sanitize(text[:middle]) + sanitize(text[middle:]) == out
