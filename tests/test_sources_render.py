"""The searches and sources shown after an answer: which field names a document, continuous
numbering across searches, one line per document, and hostile document text shown inert
(docs/reliability.md, row 29)."""

from __future__ import annotations

import io
import subprocess
import sys
from typing import Any

import pytest
from rich.console import Console

from meilichat_cli.protocol.conversation import Search
from meilichat_cli.ui.sources import print_sources, search_header, source_title

ESC = "\x1b"


def printed(searches: list[Search], width: int = 80, **console: Any) -> str:
    out = io.StringIO()
    print_sources(Console(file=out, width=width, **console), searches)
    return out.getvalue()


# -- naming a document ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "title"),
    [
        ({"id": 157336, "title": "Interstellar", "overview": "Space."}, "Interstellar (id 157336)"),
        ({"name": "Ada", "label": "not this"}, "Ada"),
        ({"Title": "Case does not matter", "ID": "x1"}, "Case does not matter (ID x1)"),
        ({"question": "How do refunds work?", "answer": "…"}, "How do refunds work?"),
        ({"title": "   ", "name": "Blank titles are skipped"}, "Blank titles are skipped"),
        ({"title": 42, "subject": "Non-text titles are skipped"}, "Non-text titles are skipped"),
        ({"objectID": "abc-1", "body": "x" * 500}, "objectID abc-1"),
        ({"movie_id": 7, "overview": "x" * 500}, "movie_id 7"),
        ({"productId": 9, "overview": "x" * 500}, "productId 9"),
        ({"id": True, "paid": 3, "summary": "x" * 500}, "untitled document"),
        ({"body": "x" * 500, "tag": "first short text"}, "first short text"),
        ({"_formatted": {"title": "hidden"}, "_rankingScore": 0.9}, "untitled document"),
        ({}, "untitled document"),
        ({"title": "Same", "id": "Same"}, "Same (id Same)"),
    ],
)
def test_source_title_picks_a_title_like_field_then_the_id(
    document: dict[str, Any], title: str
) -> None:
    assert source_title(document) == title


def test_a_long_or_multi_line_title_becomes_one_short_line() -> None:
    title = source_title({"title": "First line\nsecond\tline   " + "word " * 100})
    assert "\n" not in title and "\t" not in title
    assert title.startswith("First line second line word")
    assert len(title) <= 120
    assert title.endswith("…")


def test_escape_sequences_in_a_document_title_are_removed() -> None:
    hostile = {"title": f"Evil{ESC}]52;c;aGk={ESC}\\ title{ESC}[2J\x9b1A\r", "id": f"7{ESC}[5m"}
    title = source_title(hostile)
    assert ESC not in title and "\x9b" not in title and "\r" not in title
    assert title == "Evil]52;c;aGk=\\ title[2J1A (id 7[5m)"
    output = printed(
        [Search("c1", f"movies{ESC}[31m", f"q{ESC}]0;t{ESC}\\", None, [hostile])],
        force_terminal=True,
    )
    # The only escape sequences are rich's own colours (SGR), never the document's.
    assert "\x1b]" not in output and "\x1b[2J" not in output and "\x1b[5m" not in output


# -- the list -------------------------------------------------------------------------------


def test_searches_and_numbered_sources_continue_across_searches() -> None:
    searches = [
        Search(
            "c1",
            "movies",
            "space exploration",
            "year > 2010",
            [{"id": 157336, "title": "Interstellar"}, {"id": 286217, "title": "The Martian"}],
        ),
        Search("c2", "docs", "refunds", None, [{"id": "r1", "title": "Refund policy"}]),
        Search("c3", "faq", "nothing", "", []),
    ]
    assert printed(searches).splitlines() == [
        "",
        'movies · "space exploration" · filter year > 2010',
        "  [1] Interstellar (id 157336)",
        "  [2] The Martian (id 286217)",
        'docs · "refunds"',
        "  [3] Refund policy (id r1)",
        'faq · "nothing"',
        "  no documents",
    ]


def test_a_search_without_index_or_query_still_has_a_header() -> None:
    assert search_header(Search("c1", None, None, None)) == '(index not reported) · ""'


def test_every_line_fits_the_terminal_width() -> None:
    long = "word " * 60
    output = printed([Search("c1", "movies", long, long, [{"title": long, "id": 1}])], width=40)
    lines = output.splitlines()
    assert len(lines) == 3
    assert all(len(line) <= 40 for line in lines)
    assert lines[2].startswith("  [1] word word")


def test_rich_markup_in_documents_is_printed_literally() -> None:
    output = printed(
        [
            Search(
                "c1", "[bold]idx", "[/bold]", "[link=https://evil]x[/link]", [{"title": "[blink]"}]
            )
        ],
        force_terminal=True,
        color_system=None,
    )
    assert output.splitlines() == [
        "",
        '[bold]idx · "[/bold]" · filter [link=https://evil]x[/link]',
        "  [1] [blink]",
    ]


def test_nothing_is_printed_for_a_turn_without_searches() -> None:
    assert printed([]) == ""


def test_source_title_does_not_import_rich() -> None:
    code = (
        "import sys\n"
        "from meilichat_cli.ui.sources import source_title\n"
        "assert source_title({'title': 'x'}) == 'x'\n"
        "assert not [m for m in sys.modules if m == 'rich' or m.startswith('rich.')], 'rich'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
