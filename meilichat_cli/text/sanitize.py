"""Make untrusted text safe to show on a terminal.

Model output, source documents and server messages can carry terminal control sequences (OSC 52
clipboard writes, OSC 8 hidden links, cursor moves, carriage-return overwrites). `sanitize`
removes every C0 control except tab and newline, DEL and every C1 control, the bidirectional
controls that reorder what is shown (U+202A-U+202E embeddings and overrides, U+2066-U+2069
isolates, and the marks U+200E, U+200F, U+061C: with them a printed address can read as
another), and replaces lone surrogates with U+FFFD so that encoding the text can never fail. It
works character by character, so sanitizing a stream delta by delta gives the same result as
sanitizing the whole text: an escape sequence split across two deltas loses its ESC either way,
and what remains of it is harmless printable residue.

`sanitize_line` is for one-line messages; `strip_tags_excerpt` turns an HTML error page into a
short plain-text excerpt.

Stdlib only, no I/O; imports nothing from meilichat_cli.
"""

from __future__ import annotations

import functools
import re

# Everything `sanitize` touches. Surrogates are matched one by one: Python text decoded from
# real UTF-8 never holds a surrogate, so any that appears (from a JSON `\\ud800` escape) is lone.
# The bidirectional controls: embeddings and overrides (U+202A-U+202E), isolates
# (U+2066-U+2069), and the marks LRM, RLM and ALM.
BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c"
# C0 (but tab and newline), DEL, C1: removed, with the BiDi controls.
_CONTROL_RANGES = "\x00-\x08\x0b-\x1f\x7f-\x9f" + BIDI_CONTROLS
_UNSAFE = re.compile(f"[{_CONTROL_RANGES}\ud800-\udfff]")
# What removes and replaces them is compiled when unsafe text first comes (`re` caches it):
# most runs show only clean text, and every run sanitizes something before its prompt.
_CONTROLS = f"[{_CONTROL_RANGES}]+"
_SURROGATES = "[\ud800-\udfff]"
_REPLACEMENT = "\ufffd"

# Line breaks and tabs that survive `sanitize`, plus the Unicode line/paragraph separators.
_LINE_BREAKS = re.compile("[ \t\n\u2028\u2029]+")

_ELLIPSIS = "…"


def sanitize(text: str) -> str:
    """`text` without C0 (except tab and newline), DEL, C1 and BiDi controls; lone surrogates
    become U+FFFD.

    Returns `text` itself when there is nothing to change (the common case, checked in C).
    """
    if _UNSAFE.search(text) is None:
        return text
    return re.sub(_SURROGATES, _REPLACEMENT, re.sub(_CONTROLS, "", text))


def sanitize_line(text: str) -> str:
    """`sanitize`, then every run of spaces, tabs and line breaks becomes one space."""
    return _LINE_BREAKS.sub(" ", sanitize(text)).strip(" ")


def strip_tags_excerpt(page: str, limit: int = 200) -> str:
    """Readable text of an HTML page (a proxy's 502, a captive portal), at most `limit` chars.

    Scripts, styles and comments go entirely; other tags go but their text stays; entities are
    decoded *before* sanitizing, so `&#27;` cannot smuggle an ESC through.
    """
    import html

    script_or_style, comment, tag, esc_reference, terminal_sequence = _html_patterns()
    text = script_or_style.sub(" ", page)
    text = comment.sub(" ", text)
    text = tag.sub(" ", text)
    # Whole terminal sequences go (a proxy page with colours): sanitizing alone would leave
    # their printable part, `[31m…[0m`.
    text = esc_reference.sub("\x1b", text)  # html.unescape would drop just the ESC
    text = terminal_sequence.sub("", html.unescape(text))
    text = sanitize_line(text)
    return cut(text, limit)


@functools.cache
def _html_patterns() -> tuple[re.Pattern[str], ...]:
    """Compiled on the first HTML error page: every run sanitizes, few ever see such a page.
    Scripts or styles, comments, tags, ESC character references, terminal sequences."""
    return (
        re.compile(r"<(script|style)\b[^>]*>.*?(?:</\1\s*>|\Z)", re.IGNORECASE | re.DOTALL),
        re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL),
        # A `<` that starts no tag ("1 < 2") is text; a tag cut off by the end of the page is
        # a tag.
        re.compile(r"<[/!?A-Za-z][^>]*(?:>|\Z)"),
        re.compile(r"&#(?:0*27|[xX]0*1[bB]);?"),
        re.compile(
            r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves
            r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC: titles, links
            r"|\x1b[@-Z\\-_]"  # other two-character escapes
        ),
    )


def cut(text: str, limit: int) -> str:
    """`text` shortened to at most `limit` characters, ending with `…` when something was cut."""
    if len(text) <= limit:
        return text
    if limit < 1:
        return ""
    return text[: limit - 1].rstrip(" ") + _ELLIPSIS
