"""Fault injection: what a scenario is, how it is selected, and the texts it needs.

A request selects a scenario with its model name, `scenario:NAME` or
`scenario:NAME?key=value&key=value`; `StandInServer(scenario=...)` applies one to every
completion request whose model does not name its own. An unknown name is answered the way
OpenAI answers an unknown model: an in-band `model_not_found` error event, then `[DONE]`.

Before the stream (instead of the 200):
    http-502                 HTML "502 Bad Gateway" page (text/html) with a <script> and ESC bytes
    html-200                 200 text/html captive-portal page
    redirect?location=URL    301 to https://… (default: the same path on https)
    unavailable-then-ok?times=1&retry_after=10&status=503
                             Meilisearch-style 503 (Retry-After) the first `times` requests
                             that select it (counted per server), then a normal stream
    stall-headers?seconds=S  accept the request, send nothing for S seconds, then close
    payload-limit?bytes=N    (constructor only) bodies above N bytes refused as Meilisearch
                             does: 500 `internal` for a Content-Length, 413 when chunked
In the stream:
    provider-error?code=&type=&message=&after=N
                             error event then [DONE] (at the start, or after N answer deltas)
    search-error?code=invalid_search_filter
                             the first search fails: response_error event, the model searches
                             again without the filter and answers normally (3 rounds)
    cut?after=N              body ends cleanly after N answer deltas: no finish, no [DONE]
    no-done                  finish chunk, then the body ends without [DONE]
    reset?after=N            TCP reset (SO_LINGER 0) after N answer deltas
    stall?after=N&seconds=S  stop sending after N deltas for S seconds, then close (no end)
    drip?interval=0.2        sleep `interval` seconds between answer deltas
    first-delay?ms=300       wait before anything after `retry:` (the model "thinking")
    huge-line?mib=100        one `data:` line of that size without a newline, then close
    flood?events=10000       the answer as thousands of one-character deltas, no pauses
    escapes                  OSC 52, OSC 8, CSI 2J, 8-bit C1, \\r tricks in content and in a
                             source document's title
    length                   the answer stops early with finish_reason "length"
    long?tokens=N            a deterministic markdown answer of N deltas (headings, lists,
                             code fences, tables)
    paced?rate=100&tokens=2000
                             a long answer at `rate` deltas per second
    tool-first               the model calls the search tool at once (no role chunk or text
                             in the first round)
    no-search                the model answers without searching (one round)
    max-rounds               the model keeps searching: 20 rounds, then [DONE] with no finish
    usage                    the finish chunk carries a `usage` object (Mistral-like)
    malformed                a data line of truncated JSON, then the connection closes
    wrong-shape              chunks with `choices: []`, `delta: null`, `content: 42`
    lone-surrogate           content with the JSON escape \\ud800
    invalid-utf8             content bytes that are not UTF-8
Framing flags (combine with each other and with one behaviour using "+",
e.g. `scenario:crlf+split-utf8` or `scenario:comments+cut?after=2`):
    comments                 `: ping` comment lines and an `event: ping` block between events
    crlf                     every line ends with \\r\\n
    cr                       every line ends with a lone \\r
    split-utf8               every byte of the stream is sent as its own HTTP chunk
    bom                      a UTF-8 byte-order mark before `retry:`
    tight                    `data:` without the space (also `data:[DONE]`)
    latin1                   Content-Type `text/event-stream; charset=latin-1` (body still UTF-8)

Stdlib only; imports `server.model` (to cut long answers into deltas).
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from meilichat_cli.standin.model import split_into_deltas

PREFIX = "scenario:"

PRE_STREAM = frozenset({"http-502", "html-200", "redirect", "unavailable-then-ok", "stall-headers"})
IN_STREAM = frozenset(
    {
        "provider-error",
        "search-error",
        "cut",
        "no-done",
        "reset",
        "stall",
        "drip",
        "first-delay",
        "huge-line",
        "flood",
        "escapes",
        "length",
        "long",
        "paced",
        "tool-first",
        "no-search",
        "max-rounds",
        "usage",
        "malformed",
        "wrong-shape",
        "lone-surrogate",
        "invalid-utf8",
    }
)
# Framing flags change how the bytes go out, not what is said; they combine with one
# behaviour scenario using "+", e.g. `scenario:crlf+split-utf8+cut?after=2`.
FRAMING = frozenset({"comments", "crlf", "cr", "split-utf8", "bom", "tight", "latin1"})
CONSTRUCTOR_ONLY = frozenset({"payload-limit"})
KNOWN = PRE_STREAM | IN_STREAM | CONSTRUCTOR_ONLY


@dataclass(frozen=True)
class Scenario:
    name: str  # the behaviour ("" when only framing flags were given)
    params: dict[str, str] = field(default_factory=dict)
    framing: frozenset[str] = frozenset()

    @property
    def known(self) -> bool:
        return self.name == "" or self.name in KNOWN

    def number(self, key: str, default: float) -> float:
        try:
            return float(self.params[key])
        except (KeyError, ValueError):
            return default

    def integer(self, key: str, default: int) -> int:
        return int(self.number(key, default))

    def text(self, key: str, default: str) -> str:
        return self.params.get(key, default)


def parse(spec: str) -> Scenario:
    """`NAME`, `NAME?k=v&k=v`, `FLAG+NAME?…` (with or without the `scenario:` prefix)."""
    spec = spec.removeprefix(PREFIX)
    names, _, query = spec.partition("?")
    parts = [part.strip() for part in names.split("+")]
    framing = frozenset(part for part in parts if part in FRAMING)
    behaviours = [part for part in parts if part not in FRAMING]
    # Two behaviours at once is not a thing: keep them joined so it reads as unknown.
    return Scenario("+".join(behaviours), dict(parse_qsl(query, keep_blank_values=True)), framing)


def select(model: object, default: Scenario | None) -> Scenario | None:
    """The scenario a request runs: its model's, else the server's default."""
    if isinstance(model, str) and model.startswith(PREFIX):
        return parse(model)
    return default


# ---------------------------------------------------------------------------------------------
# Pages and texts.

ESC = "\x1b"


def bad_gateway_page() -> bytes:
    """What a broken reverse proxy returns: HTML, a script, and raw escape bytes."""
    return (
        b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title>"
        b"<script>document.title='\x1b]0;pwned\x07';</script></head>\n"
        b"<body><center><h1>502 Bad Gateway</h1></center>\n"
        b"<hr><center>nginx \x1b[31mupstream unavailable\x1b[0m</center>\n</body></html>\n"
    )


def captive_portal_page() -> bytes:
    return (
        b"<!DOCTYPE html>\n<html><head><title>Sign in to Guest Wi-Fi</title></head>\n"
        b"<body><h1>Welcome!</h1><p>Please accept the terms of use to continue.</p>"
        b"<form method='post' action='/login'><button>Accept</button></form></body></html>\n"
    )


def redirect_page(location: str) -> bytes:
    return (
        f"<html><body>Moved permanently to <a href='{html.escape(location)}'>"
        f"{html.escape(location)}</a></body></html>\n"
    ).encode()


ESCAPES_TITLE = "Totally Safe\x1b]52;c;cm0gLXJmIH4=\x07 Title\x1b[2J"
ESCAPES_ANSWER = (
    "Here is a harmless answer.\n\n"
    "1. Clipboard: \x1b]52;c;ZWNobyBwd25lZA==\x07done\n"
    "2. Link: \x1b]8;;https://evil.example/\x1b\\click here\x1b]8;;\x1b\\\n"
    "3. Clear screen: \x1b[2J\x1b[Hstill here\n"
    "4. Title: \x1b]0;owned\x1b\\ and a fake line \x1b[1A\x1b[2K✓ done\n"
    "5. C1 controls: \x9b2J and \x9d0;x\x9c\n"
    "6. Overwrite: safe\rrm -rf ~\n"
    "7. Markup: [bold]not bold[/bold] [link=https://evil.example]x[/link] [blink]b[/blink]\n"
    "8. Link text: [Your bank](https://evil.example/login)\n"
    "9. DEL: a\x7fb\n"
)


def escapes_deltas() -> list[str]:
    """The hostile answer, with one escape sequence split across two deltas."""
    head, tail = ESCAPES_ANSWER.split("\x1b]52;c;ZWNo", 1)
    return [head, "\x1b", "]52;c;ZWNo" + tail]


_LONG_SECTIONS = (
    "## {n}. Section {n}\n\n",
    "This part of the answer explains item {n} in a few plain sentences, so the renderer "
    "has ordinary paragraphs to wrap across the terminal width.\n\n",
    "- first point about item {n}\n- second point, with `inline code`\n"
    "- third point, **bold** and *italic*\n\n",
    "```python\ndef item_{n}(value: int) -> int:\n    return value * {n}\n```\n\n",
    "| key | value |\n| --- | ---: |\n| item | {n} |\n| square | {sq} |\n\n",
    "> A quoted remark about item {n}.\n\n",
)


def long_answer_deltas(tokens: int) -> list[str]:
    """Exactly `tokens` deltas of deterministic markdown (headings, lists, code, tables)."""

    def pieces() -> Iterator[str]:
        for n in itertools.count(1):
            for template in _LONG_SECTIONS:
                yield from split_into_deltas(template.format(n=n, sq=n * n))

    return list(itertools.islice(pieces(), max(tokens, 0)))


def flood_deltas(events: int) -> list[str]:
    """`events` one-character deltas."""
    letters = "abcdefghijklmnopqrstuvwxyz "
    return [letters[i % len(letters)] for i in range(max(events, 0))]
