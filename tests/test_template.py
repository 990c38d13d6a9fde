"""The Liquid-subset document-template renderer shared by the stand-in server and `--preview`."""

from __future__ import annotations

import pytest

from meilichat_cli.errors import UsageError
from meilichat_cli.text.template import (
    DEFAULT_DOCUMENT_TEMPLATE,
    DEFAULT_MAX_BYTES,
    TemplateError,
    document_variables,
    parse,
    render_document,
    truncate_utf8,
)

MOVIE = {
    "id": 157336,
    "title": "Interstellar",
    "genres": ["Adventure", "Drama", "Science Fiction"],
    "year": 2014,
    "rating": 8.6,
    "sequel": None,
    "released": True,
    "crew": {"director": "Christopher Nolan"},
}


def render(source: str, doc: dict = MOVIE, **kwargs: object) -> str:  # type: ignore[type-arg]
    return render_document(source, doc, **kwargs)  # type: ignore[arg-type]


def test_default_template_matches_meilisearch_rendering() -> None:
    # The tool result of docs/protocol.md#a-complete-stream: searchable fields only, arrays as
    # compact JSON.
    text = render(DEFAULT_DOCUMENT_TEMPLATE, searchable=["title", "genres"])
    assert text == 'title: Interstellar\ngenres: ["Adventure","Drama","Science Fiction"]\n'


def test_default_template_with_every_field_searchable_skips_nulls() -> None:
    text = render(DEFAULT_DOCUMENT_TEMPLATE)
    assert text.splitlines() == [
        "id: 157336",
        "title: Interstellar",
        'genres: ["Adventure","Drama","Science Fiction"]',
        "year: 2014",
        "rating: 8.6",
        "released: true",
        'crew: {"director":"Christopher Nolan"}',
    ]
    assert render(DEFAULT_DOCUMENT_TEMPLATE, searchable=["*"]) == text


def test_fields_variable() -> None:
    fields = document_variables({"a": "x", "b": [1], "c": None}, searchable=["a"])["fields"]
    assert fields == [
        {"name": "a", "value": "x", "is_searchable": True},
        {"name": "b", "value": "[1]", "is_searchable": False},
        {"name": "c", "value": None, "is_searchable": False},
    ]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ doc.title }}", "Interstellar"),
        ("{{doc.title}} ({{ doc.year }})", "Interstellar (2014)"),
        ("{{ doc.crew.director }}", "Christopher Nolan"),
        ("{{ doc.genres[1] }}", "Drama"),
        ("{{ doc.genres }}", "AdventureDramaScience Fiction"),
        ('{{ doc.genres | join: ", " }}', "Adventure, Drama, Science Fiction"),
        ("{{ doc.genres.size }}/{{ doc.genres | size }}", "3/3"),
        ("{{ doc.genres.first }}-{{ doc.genres | last }}", "Adventure-Science Fiction"),
        ("[{{ doc.missing }}]", "[]"),
        ("{{ doc.title | upcase }} {{ doc.title | downcase }}", "INTERSTELLAR interstellar"),
        ('{{ doc.sequel | default: "none" }}', "none"),
        ("{{ doc.title | truncate: 8 }}", "Inter..."),
        ("{{ doc.rating }} {{ doc.released }}", "8.6 true"),
        ('{{ doc.title | replace: "stellar", "net" | append: "!" }}', "Internet!"),
        ("{{ 'lit' }}{{ 42 }}", "lit42"),
    ],
)
def test_output_expressions(source: str, expected: str) -> None:
    assert render(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{% if doc.year > 2010 %}new{% else %}old{% endif %}", "new"),
        ("{% if doc.year < 2000 %}a{% elsif doc.year == 2014 %}b{% else %}c{% endif %}", "b"),
        ("{% if doc.sequel == nil and doc.released %}yes{% endif %}", "yes"),
        ("{% if doc.sequel or doc.missing %}yes{% else %}no{% endif %}", "no"),
        ('{% if doc.genres contains "Drama" %}drama{% endif %}', "drama"),
        ('{% if doc.title contains "stellar" %}s{% endif %}', "s"),
        ("{% unless doc.sequel %}standalone{% endunless %}", "standalone"),
        ("{% if doc.title != empty %}t{% endif %}{% if doc.missing == blank %}m{% endif %}", "tm"),
        (
            "{% for g in doc.genres %}{{ forloop.index }}.{{ g }}"
            "{% unless forloop.last %} {% endunless %}{% endfor %}",
            "1.Adventure 2.Drama 3.Science Fiction",
        ),
        (
            "{% for g in doc.genres limit: 2 offset: 1 %}{{ g }};{% endfor %}",
            "Drama;Science Fiction;",
        ),
        ("{% for g in doc.genres reversed %}{{ g | size }}{% endfor %}", "1559"),
        ("{% for g in doc.missing %}x{% else %}empty{% endfor %}", "empty"),
        (
            "{% for i in (1..5) %}{% if i == 3 %}{% continue %}{% endif %}"
            "{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}",
            "124",
        ),
        ("{% assign t = doc.title | upcase %}{{ t }}", "INTERSTELLAR"),
        ("{% capture c %}{{ doc.year }}!{% endcapture %}[{{ c }}]", "[2014!]"),
        ("a{% comment %} {{ nothing }} {% endcomment %}b", "ab"),
        ("{% raw %}{{ doc.title }}{% endraw %}", "{{ doc.title }}"),
        ("  {{- doc.year -}}  \n", "2014"),
        ("{%- if true -%}\n  x\n{%- endif -%}", "x"),
    ],
)
def test_tags(source: str, expected: str) -> None:
    assert render(source) == expected


def test_truncation_to_max_bytes_on_a_character_boundary() -> None:
    assert DEFAULT_MAX_BYTES == 400
    doc = {"title": "aé€😀"}  # 1 + 2 + 3 + 4 bytes
    assert render("{{ doc.title }}", doc, max_bytes=10) == "aé€😀"
    assert render("{{ doc.title }}", doc, max_bytes=9) == "aé€"
    assert render("{{ doc.title }}", doc, max_bytes=2) == "a"
    assert render("{{ doc.title }}", doc, max_bytes=3) == "aé"
    long_doc = {"text": "x" * 1000}
    assert len(render(DEFAULT_DOCUMENT_TEMPLATE, long_doc).encode()) == 400
    assert truncate_utf8("héllo", 100) == "héllo"


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("{% fo %}", "unknown tag `fo` at line 1, column 1"),
        ("x {{ doc.title", "unclosed `{{` at line 1, column 3"),
        ("x\n{% if doc.a %}", "`if` opened at line 2, column 1 is never closed"),
        ("{% for x in doc.genres %}", "`for` opened at line 1, column 1 is never closed"),
        ("{% endif %}", "unexpected `endif`"),
        ("{{ doc.title | nope }}", "unknown filter `nope`"),
        ("{{ foo }}", "unknown variable `foo`"),
        ("{% if doc.a doc.b %}{% endif %}", "invalid condition `doc.a doc.b`"),
        ("{% if doc.a === 1 %}{% endif %}", "unexpected `= 1`"),
        ("{% for x %}{% endfor %}", "invalid `for`"),
        ("{% break %}", "`break` outside a `for` loop"),
        ("{% raw %}never closed", "`raw` at line 1, column 1 is never closed"),
        ("{{ }}", "empty expression"),
    ],
)
def test_syntax_errors_raise_template_error(source: str, fragment: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse(source)
    assert fragment in caught.value.message
    assert isinstance(caught.value, UsageError)


def test_parsed_template_renders_many_documents() -> None:
    template = parse("{{ doc.title }}")
    assert [template.render({"doc": {"title": t}}) for t in ("a", "b")] == ["a", "b"]
    assert render_document(template, {"title": "c"}) == "c"
