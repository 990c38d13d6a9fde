"""A Liquid subset for Meilisearch document templates (index `chat.documentTemplate`).

Meilisearch renders every search hit with the index's `documentTemplate` before handing it to the
LLM, then cuts the text to `documentTemplateMaxBytes` (docs/protocol.md#index-chat-settings). The
stand-in server renders tool results with this module, and the client's `--preview` shows a user
what a template will produce, so both see the same text.

Supported: `{{ expr | filter: arg }}`, `{% if %}/{% elsif %}/{% else %}/{% endif %}`,
`{% unless %}`, `{% for x in list limit: n offset: n reversed %}` (with `{% else %}`,
`forloop.index/index0/first/last/length`, `{% break %}`, `{% continue %}`), `{% assign %}`,
`{% capture %}`, `{% comment %}`, `{% raw %}`, whitespace control (`{{-`, `-%}`), operators
`== != <> < > <= >= contains and or`, literals (`nil`, `true`, `"text"`, `1.5`, `empty`,
`blank`, ranges `(1..3)`), and the common string/array filters. Only the variables `doc` and
`fields` exist (as in Meilisearch); other names are an error when the template is parsed.

`fields` is the document's fields in order, each `{name, value, is_searchable}`; a field's
`value` is the string itself, or compact JSON for numbers, booleans, arrays and objects.
`doc.x` gives the raw value (arrays print their items run together, as Liquid does).

Stdlib only, no I/O; imports only `meilichat_cli.errors`.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from meilichat_cli.errors import UsageError

DEFAULT_DOCUMENT_TEMPLATE = (
    "{% for field in fields %}{% if field.is_searchable and field.value != nil %}"
    "{{ field.name }}: {{ field.value }}\n{% endif %}{% endfor %}"
)
DEFAULT_MAX_BYTES = 400
ROOT_VARIABLES = ("doc", "fields")


class TemplateError(UsageError):
    """The template cannot be parsed or rendered; `message` says what and where."""


class _Blank:
    """The `empty`/`blank` literals: equal to empty strings, lists, maps (and nil for blank)."""

    def __init__(self, blank: bool) -> None:
        self.blank = blank

    def matches(self, value: Any) -> bool:
        if value is None:
            return self.blank
        if isinstance(value, str):
            return value == "" or (self.blank and not value.strip())
        if isinstance(value, (list, dict)):
            return len(value) == 0
        return self.blank and value is False


EMPTY = _Blank(blank=False)
BLANK = _Blank(blank=True)


# ---------------------------------------------------------------------------------------------
# Lexing: source -> text / output / tag segments with their positions.

_TOKEN_RE = re.compile(r"\{\{-?|\{%-?")


@dataclass
class _Segment:
    kind: str  # "text" | "output" | "tag"
    text: str
    pos: int


def _where(source: str, pos: int) -> str:
    line = source.count("\n", 0, pos) + 1
    column = pos - (source.rfind("\n", 0, pos) + 1) + 1
    return f"line {line}, column {column}"


def _lex(source: str) -> list[_Segment]:
    segments: list[_Segment] = []
    pos = 0
    trim_next = False
    while True:
        match = _TOKEN_RE.search(source, pos)
        text = source[pos : match.start() if match else len(source)]
        if trim_next:
            text = text.lstrip()
        if match and match.group().endswith("-"):
            text = text.rstrip()
        if text:
            segments.append(_Segment("text", text, pos))
        if not match:
            return segments
        start = match.start()
        is_output = match.group().startswith("{{")
        closer = "}}" if is_output else "%}"
        end = source.find(closer, match.end())
        if end < 0:
            raise TemplateError(
                f"unclosed `{match.group()[:2]}` at {_where(source, start)}: expected `{closer}`"
            )
        inner = source[match.end() : end]
        trim_next = inner.endswith("-")
        if trim_next:
            inner = inner[:-1]
        pos = end + 2
        if not is_output and re.fullmatch(r"\s*raw\s*", inner):
            # `{% raw %}` keeps everything up to `{% endraw %}` as text.
            closing = re.compile(r"\{%-?\s*endraw\s*-?%\}").search(source, pos)
            if not closing:
                raise TemplateError(f"`raw` at {_where(source, start)} is never closed")
            if closing.start() > pos:
                segments.append(_Segment("text", source[pos : closing.start()], pos))
            trim_next = closing.group().endswith("-%}")
            pos = closing.end()
            continue
        segments.append(_Segment("output" if is_output else "tag", inner.strip(), start))


# ---------------------------------------------------------------------------------------------
# Expressions.

_EXPR_TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<string>"[^"]*"|'[^']*')
      | (?P<range>\(\s*[^()]+?\.\.[^()]+?\s*\))
      | (?P<number>-?\d+(?:\.\d+)?(?![\w.]))
      | (?P<op>==|!=|<>|<=|>=|<|>)
      | (?P<punct>[|:,])
      | (?P<path>[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*|\[[^\]]*\])*)
    )""",
    re.VERBOSE,
)


@dataclass
class _Literal:
    value: Any


@dataclass
class _Path:
    root: str
    parts: list[Any]  # str attribute names, or nested expressions for [..]


@dataclass
class _Range:
    start: Any
    stop: Any


Expr = _Literal | _Path | _Range


@dataclass
class _Filter:
    name: str
    args: list[Expr]


@dataclass
class _Piped:
    expr: Expr
    filters: list[_Filter]


def _tokens(text: str, where: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _EXPR_TOKEN_RE.match(text, pos)
        if not match or match.end() == pos:
            raise TemplateError(f"unexpected `{text[pos:].strip()[:20]}` in `{text}` at {where}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def _parse_atom(kind: str, value: str, where: str) -> Expr:
    if kind == "string":
        return _Literal(value[1:-1])
    if kind == "number":
        return _Literal(float(value) if "." in value else int(value))
    if kind == "range":
        low, _, high = value[1:-1].partition("..")
        return _Range(_parse_simple(low.strip(), where), _parse_simple(high.strip(), where))
    if kind == "path":
        keywords = {"nil": None, "null": None, "true": True, "false": False}
        if value in keywords:
            return _Literal(keywords[value])
        if value in ("empty", "blank"):
            return _Literal(EMPTY if value == "empty" else BLANK)
        return _parse_path(value, where)
    raise TemplateError(f"expected a value, found `{value}` at {where}")


def _parse_simple(text: str, where: str) -> Expr:
    tokens = _tokens(text, where)
    if len(tokens) != 1:
        raise TemplateError(f"expected one value, found `{text}` at {where}")
    return _parse_atom(*tokens[0], where)


def _parse_path(text: str, where: str) -> _Path:
    root_match = re.match(r"[A-Za-z_][\w-]*", text)
    assert root_match is not None  # the token regex guarantees it
    parts: list[Any] = []
    rest = text[root_match.end() :]
    for dotted, bracket in re.findall(r"\.([A-Za-z_][\w-]*)|\[([^\]]*)\]", rest):
        parts.append(dotted if dotted else _parse_simple(bracket, where))
    return _Path(root_match.group(), parts)


def _parse_piped(text: str, where: str) -> _Piped:
    tokens = _tokens(text, where)
    if not tokens:
        raise TemplateError(f"empty expression at {where}")
    expr = _parse_atom(*tokens[0], where)
    filters: list[_Filter] = []
    i = 1
    while i < len(tokens):
        if tokens[i] != ("punct", "|") or i + 1 >= len(tokens) or tokens[i + 1][0] != "path":
            raise TemplateError(f"expected `| filter` in `{text}` at {where}")
        name = tokens[i + 1][1]
        if name not in _FILTERS:
            raise TemplateError(f"unknown filter `{name}` at {where}")
        i += 2
        args: list[Expr] = []
        if i < len(tokens) and tokens[i] == ("punct", ":"):
            i += 1
            while True:
                if i >= len(tokens):
                    raise TemplateError(f"missing argument for filter `{name}` at {where}")
                args.append(_parse_atom(*tokens[i], where))
                i += 1
                if i < len(tokens) and tokens[i] == ("punct", ","):
                    i += 1
                    continue
                break
        filters.append(_Filter(name, args))
    return _Piped(expr, filters)


@dataclass
class _Comparison:
    left: Expr
    op: str | None
    right: Expr | None


@dataclass
class _Condition:
    # Liquid evaluates `and`/`or` right to left without precedence.
    first: _Comparison
    rest: list[tuple[str, _Comparison]] = field(default_factory=list)


def _parse_condition(text: str, where: str) -> _Condition:
    words = re.split(r"\s+(and|or)\s+", text.strip())
    comparisons: list[_Comparison] = []
    joins: list[str] = []
    for index, chunk in enumerate(words):
        if index % 2:
            joins.append(chunk)
            continue
        parts = re.split(r"\s+(contains)\s+", chunk.strip())
        if len(parts) == 3:
            comparisons.append(
                _Comparison(
                    _parse_simple(parts[0], where), "contains", _parse_simple(parts[2], where)
                )
            )
            continue
        tokens = _tokens(chunk, where)
        if len(tokens) == 1:
            comparisons.append(_Comparison(_parse_atom(*tokens[0], where), None, None))
        elif len(tokens) == 3 and tokens[1][0] == "op":
            comparisons.append(
                _Comparison(
                    _parse_atom(*tokens[0], where),
                    tokens[1][1],
                    _parse_atom(*tokens[2], where),
                )
            )
        else:
            raise TemplateError(f"invalid condition `{chunk.strip()}` at {where}")
    return _Condition(comparisons[0], list(zip(joins, comparisons[1:], strict=True)))


# ---------------------------------------------------------------------------------------------
# Nodes.


@dataclass
class _Text:
    text: str


@dataclass
class _Output:
    piped: _Piped


@dataclass
class _If:
    branches: list[tuple[_Condition | None, list[Any]]]
    negate_first: bool = False


@dataclass
class _For:
    var: str
    iterable: Expr
    limit: Expr | None
    offset: Expr | None
    reverse: bool
    body: list[Any]
    empty_body: list[Any]


@dataclass
class _Assign:
    name: str
    piped: _Piped


@dataclass
class _Capture:
    name: str
    body: list[Any]


@dataclass
class _LoopControl:
    word: str  # "break" | "continue"


_BLOCK_ENDS = {"if": "endif", "unless": "endunless", "for": "endfor", "capture": "endcapture"}


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.segments = _lex(source)
        self.i = 0
        self.loop_depth = 0

    def where(self, segment: _Segment) -> str:
        return _where(self.source, segment.pos)

    def parse_body(self, stop: tuple[str, ...]) -> tuple[list[Any], _Segment | None]:
        nodes: list[Any] = []
        while self.i < len(self.segments):
            segment = self.segments[self.i]
            self.i += 1
            if segment.kind == "text":
                nodes.append(_Text(segment.text))
            elif segment.kind == "output":
                nodes.append(_Output(_parse_piped(segment.text, self.where(segment))))
            else:
                name = segment.text.split(None, 1)[0] if segment.text else ""
                if name in stop:
                    return nodes, segment
                nodes.append(self.parse_tag(name, segment))
        return nodes, None

    def parse_tag(self, name: str, segment: _Segment) -> Any:
        where = self.where(segment)
        args = segment.text[len(name) :].strip()
        if name in ("if", "unless"):
            return self.parse_if(name, args, segment)
        if name == "for":
            return self.parse_for(args, segment)
        if name == "assign":
            match = re.fullmatch(r"([A-Za-z_][\w-]*)\s*=\s*(.+)", args, re.DOTALL)
            if not match:
                raise TemplateError(f"invalid `assign` at {where}: expected `assign name = value`")
            return _Assign(match.group(1), _parse_piped(match.group(2), where))
        if name == "capture":
            if not re.fullmatch(r"[A-Za-z_][\w-]*", args):
                raise TemplateError(f"invalid `capture` at {where}: expected a variable name")
            body, end = self.parse_body(("endcapture",))
            self.require_end(end, "capture", segment)
            return _Capture(args, body)
        if name == "comment":
            _, end = self.parse_body(("endcomment",))
            self.require_end(end, "comment", segment)
            return _Text("")
        if name in ("break", "continue"):
            if not self.loop_depth:
                raise TemplateError(f"`{name}` outside a `for` loop at {where}")
            return _LoopControl(name)
        if name in ("else", "elsif", "endif", "endfor", "endunless", "endcapture", "endcomment"):
            raise TemplateError(f"unexpected `{name}` at {where}")
        raise TemplateError(f"unknown tag `{name or segment.text}` at {where}")

    def require_end(self, end: _Segment | None, opener: str, segment: _Segment) -> None:
        if end is None:
            raise TemplateError(
                f"`{opener}` opened at {self.where(segment)} is never closed "
                f"(expected `end{opener}`)"
            )

    def parse_if(self, name: str, args: str, segment: _Segment) -> _If:
        branches: list[tuple[_Condition | None, list[Any]]] = []
        condition: _Condition | None = _parse_condition(args, self.where(segment))
        end_word = _BLOCK_ENDS[name]
        while True:
            stops = (end_word, "else") + (("elsif",) if name == "if" else ())
            body, end = self.parse_body(stops)
            self.require_end(end, name, segment)
            assert end is not None
            branches.append((condition, body))
            word = end.text.split(None, 1)[0]
            if word == end_word:
                return _If(branches, negate_first=name == "unless")
            if word == "elsif":
                condition = _parse_condition(end.text[len("elsif") :], self.where(end))
            else:
                body, end = self.parse_body((end_word,))
                self.require_end(end, name, segment)
                branches.append((None, body))
                return _If(branches, negate_first=name == "unless")

    def parse_for(self, args: str, segment: _Segment) -> _For:
        where = self.where(segment)
        match = re.fullmatch(r"([A-Za-z_][\w-]*)\s+in\s+(\(.*?\)|\S+)(.*)", args, re.DOTALL)
        if not match:
            raise TemplateError(f"invalid `for` at {where}: expected `for item in list`")
        var, iterable_text, options = match.groups()
        limit = offset = None
        reverse = False
        for option in re.findall(r"(limit|offset)\s*:\s*(\S+)|(reversed)|(\S+)", options):
            if option[3]:
                raise TemplateError(f"unknown `for` option `{option[3]}` at {where}")
            if option[2]:
                reverse = True
            elif option[0] == "limit":
                limit = _parse_simple(option[1], where)
            else:
                offset = _parse_simple(option[1], where)
        self.loop_depth += 1
        body, end = self.parse_body(("endfor", "else"))
        self.require_end(end, "for", segment)
        assert end is not None
        empty_body: list[Any] = []
        if end.text.split(None, 1)[0] == "else":
            empty_body, end = self.parse_body(("endfor",))
            self.require_end(end, "for", segment)
        self.loop_depth -= 1
        return _For(
            var, _parse_simple(iterable_text, where), limit, offset, reverse, body, empty_body
        )


def _check_variables(nodes: list[Any], known: set[str]) -> None:
    """Reject names other than `doc`, `fields` and locally bound ones (like Meilisearch)."""

    def check_expr(expr: Any) -> None:
        if isinstance(expr, _Path):
            if expr.root not in known:
                raise TemplateError(
                    f"unknown variable `{expr.root}`: a document template can only use "
                    f"{', '.join(f'`{v}`' for v in ROOT_VARIABLES)}"
                )
            for part in expr.parts:
                check_expr(part)
        elif isinstance(expr, _Range):
            check_expr(expr.start)
            check_expr(expr.stop)

    def check_piped(piped: _Piped) -> None:
        check_expr(piped.expr)
        for filt in piped.filters:
            for arg in filt.args:
                check_expr(arg)

    def check_condition(cond: _Condition | None) -> None:
        if cond is None:
            return
        for comp in [cond.first, *(c for _, c in cond.rest)]:
            check_expr(comp.left)
            check_expr(comp.right)

    for node in nodes:
        if isinstance(node, _Output):
            check_piped(node.piped)
        elif isinstance(node, _Assign):
            check_piped(node.piped)
            known.add(node.name)
        elif isinstance(node, _Capture):
            _check_variables(node.body, known)
            known.add(node.name)
        elif isinstance(node, _If):
            for cond, body in node.branches:
                check_condition(cond)
                _check_variables(body, known)
        elif isinstance(node, _For):
            check_expr(node.iterable)
            _check_variables(node.body, {*known, node.var, "forloop"})
            _check_variables(node.empty_body, known)


# ---------------------------------------------------------------------------------------------
# Rendering.


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def to_text(value: Any) -> str:
    """How Liquid prints a value."""
    if value is None or isinstance(value, _Blank):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "".join(to_text(item) for item in value)
    if isinstance(value, Mapping):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _as_int(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise TemplateError(f"{what} expects a number, got `{to_text(value)}`") from exc


def _truncate(value: Any, length: Any = 50, ellipsis: Any = "...") -> str:
    text, size, tail = to_text(value), _as_int(length, "truncate"), to_text(ellipsis)
    if len(text) <= size:
        return text
    return text[: max(size - len(tail), 0)] + tail


def _truncatewords(value: Any, count: Any = 15, ellipsis: Any = "...") -> str:
    words = to_text(value).split()
    size = max(_as_int(count, "truncatewords"), 1)
    return " ".join(words) if len(words) <= size else " ".join(words[:size]) + to_text(ellipsis)


def _size(value: Any) -> int:
    return len(value) if isinstance(value, (str, list, dict)) else 0


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, (list, str)) and value else None


def _last(value: Any) -> Any:
    return value[-1] if isinstance(value, (list, str)) and value else None


def _join(value: Any, sep: Any = " ") -> str:
    items = value if isinstance(value, list) else [value]
    return to_text(sep).join(to_text(item) for item in items)


def _default(value: Any, fallback: Any = "") -> Any:
    return fallback if value is None or value is False or EMPTY.matches(value) else value


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


_FILTERS: dict[str, Callable[..., Any]] = {
    "upcase": lambda v: to_text(v).upper(),
    "downcase": lambda v: to_text(v).lower(),
    "capitalize": lambda v: to_text(v)[:1].upper() + to_text(v)[1:],
    "strip": lambda v: to_text(v).strip(),
    "lstrip": lambda v: to_text(v).lstrip(),
    "rstrip": lambda v: to_text(v).rstrip(),
    "strip_newlines": lambda v: to_text(v).replace("\r", "").replace("\n", ""),
    "escape": lambda v: (
        to_text(v)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    ),
    "append": lambda v, s="": to_text(v) + to_text(s),
    "prepend": lambda v, s="": to_text(s) + to_text(v),
    "replace": lambda v, a="", b="": to_text(v).replace(to_text(a), to_text(b)),
    "remove": lambda v, a="": to_text(v).replace(to_text(a), ""),
    "split": lambda v, sep=" ": (
        to_text(v).split(to_text(sep)) if to_text(sep) else list(to_text(v))
    ),
    "truncate": _truncate,
    "truncatewords": _truncatewords,
    "size": _size,
    "first": _first,
    "last": _last,
    "join": _join,
    "default": _default,
    "json": _json,
    "reverse": lambda v: list(reversed(v)) if isinstance(v, list) else v,
    "sort": lambda v: sorted(v, key=to_text) if isinstance(v, list) else v,
    "uniq": lambda v: list(dict.fromkeys(map(_json, v))) if isinstance(v, list) else v,
    "plus": lambda v, n=0: _number(v) + _number(n),
    "minus": lambda v, n=0: _number(v) - _number(n),
}


def _number(value: Any) -> int | float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    try:
        text = to_text(value)
        return float(text) if "." in text else int(text)
    except ValueError:
        return 0


class _Renderer:
    def __init__(self, variables: dict[str, Any]) -> None:
        self.scopes: list[dict[str, Any]] = [variables]

    def lookup(self, name: str) -> Any:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return None

    def value(self, expr: Any) -> Any:
        if isinstance(expr, _Literal):
            return expr.value
        if isinstance(expr, _Range):
            low = _as_int(self.value(expr.start), "range")
            high = _as_int(self.value(expr.stop), "range")
            return list(range(low, high + 1))
        current = self.lookup(expr.root)
        for part in expr.parts:
            key = part if isinstance(part, str) else self.value(part)
            current = self.index(current, key)
        return current

    @staticmethod
    def index(current: Any, key: Any) -> Any:
        if isinstance(current, Mapping):
            if key in current:
                return current[key]
        elif isinstance(current, (list, str)):
            if isinstance(key, int) and not isinstance(key, bool):
                return current[key] if -len(current) <= key < len(current) else None
            if key == "size":
                return len(current)
            if key == "first":
                return _first(current)
            if key == "last":
                return _last(current)
            return None
        if key == "size" and isinstance(current, Mapping):
            return len(current)
        return None

    def piped(self, piped: _Piped) -> Any:
        value = self.value(piped.expr)
        for filt in piped.filters:
            args = [self.value(arg) for arg in filt.args]
            try:
                value = _FILTERS[filt.name](value, *args)
            except TypeError as exc:
                raise TemplateError(f"wrong arguments for filter `{filt.name}`") from exc
        return value

    def compare(self, comp: _Comparison) -> bool:
        left = self.value(comp.left)
        if comp.op is None:
            return left is not None and left is not False
        right = self.value(comp.right)
        if comp.op == "contains":
            if isinstance(left, str):
                return to_text(right) in left
            if isinstance(left, list):
                return right in left
            return isinstance(left, Mapping) and right in left
        if comp.op in ("==", "!=", "<>"):
            equal = self.equal(left, right)
            return equal if comp.op == "==" else not equal
        try:
            if comp.op == "<":
                return bool(left < right)
            if comp.op == ">":
                return bool(left > right)
            if comp.op == "<=":
                return bool(left <= right)
            return bool(left >= right)
        except TypeError:
            return False

    @staticmethod
    def equal(left: Any, right: Any) -> bool:
        if isinstance(right, _Blank):
            return right.matches(left)
        if isinstance(left, _Blank):
            return left.matches(right)
        return bool(left == right) and isinstance(left, bool) == isinstance(right, bool)

    def condition(self, cond: _Condition) -> bool:
        # Right to left: `a and b or c` is `a and (b or c)`.
        items = [cond.first, *(c for _, c in cond.rest)]
        joins = [word for word, _ in cond.rest]
        result = self.compare(items[-1])
        for word, comp in zip(reversed(joins), reversed(items[:-1]), strict=True):
            left = self.compare(comp)
            result = (left and result) if word == "and" else (left or result)
        return result

    def render(self, nodes: list[Any], out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                out.append(node.text)
            elif isinstance(node, _Output):
                out.append(to_text(self.piped(node.piped)))
            elif isinstance(node, _If):
                self.render_if(node, out)
            elif isinstance(node, _For):
                self.render_for(node, out)
            elif isinstance(node, _Assign):
                self.scopes[0][node.name] = self.piped(node.piped)
            elif isinstance(node, _Capture):
                captured: list[str] = []
                self.render(node.body, captured)
                self.scopes[0][node.name] = "".join(captured)
            elif isinstance(node, _LoopControl):
                raise _Break() if node.word == "break" else _Continue()

    def render_if(self, node: _If, out: list[str]) -> None:
        for position, (cond, body) in enumerate(node.branches):
            if cond is None:
                self.render(body, out)
                return
            truth = self.condition(cond)
            if position == 0 and node.negate_first:
                truth = not truth
            if truth:
                self.render(body, out)
                return

    def render_for(self, node: _For, out: list[str]) -> None:
        items = self.value(node.iterable)
        if isinstance(items, Mapping):
            items = [[k, v] for k, v in items.items()]
        elif not isinstance(items, list):
            items = [] if items is None else [items]
        if node.offset is not None:
            items = items[_as_int(self.value(node.offset), "offset") :]
        if node.limit is not None:
            items = items[: _as_int(self.value(node.limit), "limit")]
        if node.reverse:
            items = list(reversed(items))
        if not items:
            self.render(node.empty_body, out)
            return
        length = len(items)
        for position, item in enumerate(items):
            forloop = {
                "index": position + 1,
                "index0": position,
                "rindex": length - position,
                "rindex0": length - position - 1,
                "first": position == 0,
                "last": position == length - 1,
                "length": length,
            }
            self.scopes.append({node.var: item, "forloop": forloop})
            try:
                self.render(node.body, out)
            except _Break:
                break
            except _Continue:
                continue
            finally:
                self.scopes.pop()


class Template:
    """A parsed template; `render(variables)` returns the text."""

    def __init__(self, source: str) -> None:
        self.source = source
        parser = _Parser(source)
        nodes, end = parser.parse_body(())
        assert end is None
        _check_variables(nodes, set(ROOT_VARIABLES))
        self.nodes = nodes

    def render(self, variables: Mapping[str, Any]) -> str:
        out: list[str] = []
        with contextlib.suppress(_Break, _Continue):
            _Renderer(dict(variables)).render(self.nodes, out)
        return "".join(out)


def parse(source: str) -> Template:
    """Parse a template; raise `TemplateError` naming the problem and where it is."""
    return Template(source)


def field_value(value: Any) -> str | None:
    """A document value as Meilisearch's `field.value` shows it."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def document_variables(
    document: Mapping[str, Any], searchable: Iterable[str] | None = None
) -> dict[str, Any]:
    """The `doc` and `fields` variables for one document (`searchable` None = every field)."""
    allowed = None if searchable is None else set(searchable)
    fields = [
        {
            "name": name,
            "value": field_value(value),
            "is_searchable": allowed is None or "*" in allowed or name in allowed,
        }
        for name, value in document.items()
    ]
    return {"doc": dict(document), "fields": fields}


def truncate_utf8(text: str, max_bytes: int) -> str:
    """Cut `text` to at most `max_bytes` UTF-8 bytes without splitting a character."""
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", "ignore")


def render_document(
    source: str | Template,
    document: Mapping[str, Any],
    *,
    searchable: Iterable[str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> str:
    """Render one document the way Meilisearch feeds it to the LLM."""
    template = source if isinstance(source, Template) else parse(source)
    return truncate_utf8(template.render(document_variables(document, searchable)), max_bytes)
