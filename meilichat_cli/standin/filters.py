"""A subset of Meilisearch's filter language, parsed into a predicate over documents.

Grammar: `a = v`, `!=`, `>`, `>=`, `<`, `<=`, `a v1 TO v2`, `a [NOT] IN [v, …]`,
`a [NOT] EXISTS`, `a IS [NOT] NULL|EMPTY`, `NOT`, `AND`, `OR` and parentheses; values are
numbers, quoted strings or bare words. Equality is case-insensitive and matches any item of an
array field, as in Meilisearch.

Two failure kinds, because Meilisearch's chat search treats them differently
(docs/protocol.md#the-_meili-tools): `FilterSyntaxError` (a ResponseError: error event) and
`FilterAttributeError` (filtering on an attribute that is not filterable: a "user error", reported
as the tool result only). Stdlib only; imports nothing from meilichat_cli.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN_RE = re.compile(
    r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
        |(?P<op>!=|>=|<=|=|>|<)
        |(?P<punct>[()\[\],])
        |(?P<word>[^\s()\[\],=!<>"']+))""",
    re.VERBOSE,
)
_KEYWORDS = {"AND", "OR", "NOT", "TO", "IN", "EXISTS", "IS", "NULL", "EMPTY"}


class FilterSyntaxError(Exception):
    """The filter does not parse (Meilisearch `invalid_search_filter`)."""


class FilterAttributeError(Exception):
    """The filter names an attribute that is not filterable."""


class _Token:
    def __init__(self, kind: str, text: str, start: int, end: int) -> None:
        self.kind, self.text, self.start, self.end = kind, text, start, end

    @property
    def keyword(self) -> str | None:
        upper = self.text.upper()
        return upper if self.kind == "word" and upper in _KEYWORDS else None


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(source):
        if not source[pos:].strip():
            break
        match = _TOKEN_RE.match(source, pos)
        if not match:
            raise FilterSyntaxError(_located("Unexpected character.", source, pos, pos + 1))
        kind = match.lastgroup or "word"
        text = match.group(kind)
        start = match.start(kind)
        if kind == "string":
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        tokens.append(_Token(kind, text, start, match.end()))
        pos = match.end()
    return tokens


def _located(reason: str, source: str, start: int, end: int) -> str:
    # Meilisearch quotes the filter with 1-based character positions under the reason.
    return f"{reason}\n{start + 1}:{max(end, start + 1)} {source}"


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _values(doc: dict[str, Any], attribute: str) -> list[Any]:
    value: Any = doc
    for part in attribute.split("."):
        if not isinstance(value, dict) or part not in value:
            return []
        value = value[part]
    return value if isinstance(value, list) else [value]


def _equal(left: Any, right: str) -> bool:
    a, b = _as_number(left), _as_number(right)
    if a is not None and b is not None and not isinstance(left, str):
        return a == b
    if isinstance(left, bool):
        return str(left).lower() == right.lower()
    return str(left).casefold() == right.casefold()


class _Parser:
    def __init__(self, source: str, filterable: Iterable[str], index_uid: str) -> None:
        self.source = source
        self.tokens = _tokenize(source)
        self.i = 0
        self.filterable = list(filterable)
        self.index_uid = index_uid

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            end = len(self.source)
            raise FilterSyntaxError(
                _located("Was expecting a value but instead got nothing.", self.source, end, end)
            )
        self.i += 1
        return token

    def fail(self, reason: str, token: _Token | None) -> FilterSyntaxError:
        if token is None:
            return FilterSyntaxError(
                _located(reason, self.source, len(self.source), len(self.source))
            )
        return FilterSyntaxError(_located(reason, self.source, token.start, token.end))

    def parse(self) -> Predicate:
        if not self.tokens:
            return lambda doc: True
        predicate = self.parse_or()
        extra = self.peek()
        if extra is not None:
            raise self.fail(
                "Found unexpected characters at the end of the filter: `"
                + self.source[extra.start :]
                + "`. You probably forgot an `OR` or an `AND` rule.",
                extra,
            )
        return predicate

    def parse_or(self) -> Predicate:
        parts = [self.parse_and()]
        while (token := self.peek()) is not None and token.keyword == "OR":
            self.i += 1
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else (lambda doc: any(p(doc) for p in parts))

    def parse_and(self) -> Predicate:
        parts = [self.parse_not()]
        while (token := self.peek()) is not None and token.keyword == "AND":
            self.i += 1
            parts.append(self.parse_not())
        return parts[0] if len(parts) == 1 else (lambda doc: all(p(doc) for p in parts))

    def parse_not(self) -> Predicate:
        token = self.peek()
        if token is not None and token.keyword == "NOT":
            self.i += 1
            inner = self.parse_not()
            return lambda doc: not inner(doc)
        if token is not None and token.text == "(" and token.kind == "punct":
            self.i += 1
            inner = self.parse_or()
            closing = self.peek()
            if closing is None or closing.text != ")":
                raise self.fail("Expression `(` is missing its closing `)`.", token)
            self.i += 1
            return inner
        return self.parse_condition()

    def value(self) -> str:
        token = self.take()
        if token.kind == "string" or (token.kind == "word" and token.keyword is None):
            return token.text
        raise self.fail("Was expecting a value but instead got `" + token.text + "`.", token)

    def attribute(self) -> str:
        token = self.take()
        if token.kind not in ("word", "string") or token.keyword is not None:
            raise self.fail(
                "Was expecting an operation `=`, `!=`, `>=`, `>`, `<=`, `<`, `IN`, `NOT IN`, "
                "`TO`, `EXISTS`, `NOT EXISTS`, `IS NULL`, `IS NOT NULL`, `IS EMPTY`, "
                "`IS NOT EMPTY`, `_geoRadius`, or `_geoBoundingBox` at `"
                + self.source[token.start :]
                + "`.",
                token,
            )
        if token.text not in self.filterable:
            patterns = ", ".join(f"`{name}`" for name in sorted(self.filterable))
            raise FilterAttributeError(
                _located(
                    f"Index `{self.index_uid}`: Attribute `{token.text}` is not filterable. "
                    f"Available filterable attribute patterns are: {patterns}.",
                    self.source,
                    token.start,
                    token.end,
                )
            )
        return token.text

    def parse_condition(self) -> Predicate:
        start_token = self.peek()
        attribute = self.attribute()
        token = self.peek()
        if token is None:
            raise self.fail(
                "Was expecting an operation `=`, `!=`, `>=`, `>`, `<=`, `<`, `IN`, `NOT IN`, "
                "`TO`, `EXISTS`, `NOT EXISTS`, `IS NULL`, `IS NOT NULL`, `IS EMPTY`, "
                "`IS NOT EMPTY`, `_geoRadius`, or `_geoBoundingBox` at `"
                + (self.source[start_token.start :] if start_token else "")
                + "`.",
                start_token,
            )
        if token.kind == "op":
            self.i += 1
            return self.comparison(attribute, token.text, self.value())
        negate = False
        if token.keyword == "NOT":
            negate = True
            self.i += 1
            token = self.peek()
            if token is None:
                raise self.fail("Was expecting `IN` or `EXISTS` after `NOT`.", None)
        keyword = token.keyword
        predicate: Predicate
        if keyword == "IN":
            self.i += 1
            predicate = self.in_list(attribute)
        elif keyword == "EXISTS":
            self.i += 1
            predicate = lambda doc: attribute.split(".")[0] in doc  # noqa: E731
        elif keyword == "IS" and not negate:
            self.i += 1
            predicate, negate = self.is_check(attribute)
        elif token.kind in ("word", "string") and keyword is None and not negate:
            low = self.value()
            to = self.take()
            if to.keyword != "TO":
                raise self.fail("Was expecting `TO` after a value.", to)
            return self.between(attribute, low, self.value())
        else:
            raise self.fail(f"Unexpected `{token.text}` after `{attribute}`.", token)
        if negate:
            inner = predicate
            return lambda doc: not inner(doc)
        return predicate

    def in_list(self, attribute: str) -> Predicate:
        opening = self.take()
        if opening.text != "[":
            raise self.fail("Expected `[` after `IN` keyword.", opening)
        wanted: list[str] = []
        while True:
            token = self.peek()
            if token is not None and token.text == "]":
                self.i += 1
                break
            wanted.append(self.value())
            separator = self.take()
            if separator.text == "]":
                break
            if separator.text != ",":
                raise self.fail("Expected `,` or `]` in the `IN` list.", separator)
        return lambda doc: any(_equal(v, w) for v in _values(doc, attribute) for w in wanted)

    def is_check(self, attribute: str) -> tuple[Predicate, bool]:
        negate = False
        token = self.take()
        if token.keyword == "NOT":
            negate = True
            token = self.take()
        if token.keyword == "NULL":
            return (lambda doc: attribute in doc and doc[attribute] is None), negate
        if token.keyword == "EMPTY":
            return (
                lambda doc: attribute in doc and doc[attribute] in ("", [], {}),
                negate,
            )
        raise self.fail("Was expecting `NULL` or `EMPTY` after `IS`.", token)

    def comparison(self, attribute: str, op: str, raw: str) -> Predicate:
        if op in ("=", "!="):

            def equal(doc: dict[str, Any]) -> bool:
                return any(_equal(v, raw) for v in _values(doc, attribute))

            return equal if op == "=" else (lambda doc: not equal(doc))
        bound = _as_number(raw)

        def compare(doc: dict[str, Any]) -> bool:
            for value in _values(doc, attribute):
                number = _as_number(value)
                if bound is not None and number is not None:
                    left, right = number, bound
                    if (
                        (op == ">" and left > right)
                        or (op == ">=" and left >= right)
                        or (op == "<" and left < right)
                        or (op == "<=" and left <= right)
                    ):
                        return True
            return False

        return compare

    def between(self, attribute: str, low: str, high: str) -> Predicate:
        lo, hi = _as_number(low), _as_number(high)

        def inside(doc: dict[str, Any]) -> bool:
            for value in _values(doc, attribute):
                number = _as_number(value)
                if number is not None and lo is not None and hi is not None and lo <= number <= hi:
                    return True
            return False

        return inside


def compile_filter(source: str, filterable: Iterable[str], index_uid: str) -> Predicate:
    """Parse `source`; raise FilterSyntaxError or FilterAttributeError."""
    return _Parser(source, filterable, index_uid).parse()
