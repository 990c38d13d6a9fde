"""Search rules: which indexes a tenant token may search, and the filter added to each.

The wire shape is Meilisearch's `searchRules` claim: an object mapping index patterns (`*`, an
index uid, or a prefix ending in `*`) to `null` (no filter) or `{"filter": EXPR}` (EXPR a
string, or an array of strings and arrays of strings as in a search's `filter`). A list of
patterns means the same as each mapped to `null`.

Built from `--index UID[:FILTER]` (repeatable) or `--rules JSON|@FILE`. Also: which rule an
index falls under (an exact uid before patterns), the attributes a filter names (to check them
against an index's filterable attributes), and a filter ANDed with another.

Stdlib and `errors` only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from meilichat_cli.errors import UsageError

SearchRules = dict[str, Any]  # pattern -> None | {"filter": ...}

_PATTERN = re.compile(r"\*|[A-Za-z0-9_-]{1,400}\*?")
MAX_RULES_BYTES = 256 * 1024

# Words of the filter language that are not attribute names.
_KEYWORDS = frozenset(
    {
        "AND",
        "OR",
        "NOT",
        "TO",
        "IN",
        "EXISTS",
        "IS",
        "NULL",
        "EMPTY",
        "CONTAINS",
        "STARTS",
        "WITH",
        "_geoRadius",
        "_geoBoundingBox",
        "_geoPolygon",
        "TRUE",
        "FALSE",
    }
)
# An attribute is what comes right before an operator.
_ATTRIBUTE = re.compile(
    r"(?:(?<=^)|(?<=[\s(\[,]))(?P<name>[A-Za-z_][\w.-]*|\"[^\"]+\"|'[^']+')\s*"
    r"(?=(?:!=|>=|<=|=|>|<)|\s+(?:NOT\s+)?(?:IN|EXISTS|IS|CONTAINS|STARTS\s+WITH)\b|\s+\S+\s+TO\b)",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'")


def validate_pattern(pattern: str) -> str:
    if not _PATTERN.fullmatch(pattern):
        raise UsageError(
            f"invalid index pattern {pattern[:60]!r}: use an index uid (letters, digits, '-',"
            " '_'), a prefix ending with '*', or '*'"
        )
    return pattern


def from_index_options(values: Sequence[str]) -> SearchRules:
    """`--index UID[:FILTER]` values as search rules (`tickets:customer_id = 42`)."""
    rules: SearchRules = {}
    for value in values:
        pattern, sep, expression = value.partition(":")
        pattern = validate_pattern(pattern.strip())
        expression = expression.strip()
        if sep and not expression:
            raise UsageError(
                f"--index {value!r}: nothing after ':'",
                hint="give a filter (--index 'tickets:customer_id = 42') or just the index",
            )
        if pattern in rules:
            raise UsageError(f"--index {pattern!r} is given twice; combine the filters with AND")
        rules[pattern] = {"filter": expression} if expression else None
    return rules


def from_json_option(value: str) -> SearchRules:
    """`--rules JSON` or `--rules @FILE`: Meilisearch's `searchRules` object (or list)."""
    text = value
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            raw = path.read_bytes()[: MAX_RULES_BYTES + 1]
        except OSError as error:
            raise UsageError(f"--rules: cannot read {path}: {error.strerror}") from None
        if len(raw) > MAX_RULES_BYTES:
            raise UsageError(f"--rules: {path} is larger than {MAX_RULES_BYTES // 1024} KiB")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UsageError(f"--rules: {path} is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except ValueError as error:
        raise UsageError(
            f"--rules is not JSON ({error})",
            hint='e.g. --rules \'{"tickets": {"filter": "customer_id = 42"}}\'',
        ) from None
    return normalise(data, where="--rules")


def normalise(data: Any, *, where: str) -> SearchRules:
    """Check a `searchRules` value and return it as an object; UsageError naming `where`."""
    if isinstance(data, list):
        if not all(isinstance(item, str) for item in data):
            raise UsageError(f"{where}: a list of rules holds index patterns (strings) only")
        return {validate_pattern(item): None for item in data}
    if not isinstance(data, dict):
        raise UsageError(f"{where}: search rules are a JSON object (index pattern -> rule)")
    if not data:
        raise UsageError(f"{where}: no index at all; a token needs at least one rule")
    rules: SearchRules = {}
    for pattern, rule in data.items():
        validate_pattern(str(pattern))
        if rule is None:
            rules[pattern] = None
            continue
        if not isinstance(rule, dict) or set(rule) - {"filter"}:
            raise UsageError(f'{where}: the rule of {pattern!r} must be null or {{"filter": …}}')
        expression = rule.get("filter")
        if expression is None:
            rules[pattern] = None
        elif _valid_filter(expression):
            rules[pattern] = {"filter": expression}
        else:
            raise UsageError(
                f"{where}: the filter of {pattern!r} must be a string or an array of them"
            )
    return rules


def _valid_filter(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list):
        return all(
            isinstance(item, str)
            or (isinstance(item, list) and all(isinstance(sub, str) for sub in item))
            for item in value
        )
    return False


def pattern_matches(pattern: str, index_uid: str) -> bool:
    if pattern in ("*", index_uid):
        return True
    return pattern.endswith("*") and index_uid.startswith(pattern[:-1])


def rule_for(rules: SearchRules, index_uid: str) -> tuple[bool, Any]:
    """(whether the rules reach `index_uid`, the filter they add or None). An exact uid wins
    over patterns; among patterns the first that matches."""
    if index_uid in rules:
        return True, _filter_of(rules[index_uid])
    for pattern, rule in rules.items():
        if pattern_matches(pattern, index_uid):
            return True, _filter_of(rule)
    return False, None


def _filter_of(rule: Any) -> Any:
    return rule.get("filter") if isinstance(rule, dict) else None


def filter_text(expression: Any) -> str | None:
    """A filter (string or arrays: outer AND, inner OR) as one string expression."""
    if expression is None:
        return None
    if isinstance(expression, str):
        return expression
    parts = []
    for item in expression:
        if isinstance(item, list):
            parts.append("(" + " OR ".join(f"({sub})" for sub in item) + ")")
        else:
            parts.append(f"({item})")
    return " AND ".join(parts) or None


def and_filters(*expressions: str | None) -> str | None:
    present = [e for e in expressions if e]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    return " AND ".join(f"({e})" for e in present)


def filter_attributes(expression: Any) -> list[str]:
    """The attribute names a filter compares (best effort, in order, without duplicates)."""
    text = filter_text(expression) or ""
    # Quoted values would look like attributes to the pattern: blank them first, keeping
    # quoted attribute names (they come right before an operator) out of it is not needed.
    names: list[str] = []
    for match in _ATTRIBUTE.finditer(_blank_values(text)):
        name = match.group("name").strip("\"'")
        if name.upper() in _KEYWORDS or name in _KEYWORDS or name in names:
            continue
        names.append(name)
    return names


def _blank_values(text: str) -> str:
    """Quoted strings that follow an operator become a neutral token."""
    return _QUOTED.sub(lambda m: m.group(0) if _before_operator(text, m.end()) else "V", text)


def _before_operator(text: str, end: int) -> bool:
    rest = text[end:].lstrip()
    return bool(re.match(r"(!=|>=|<=|=|>|<|(NOT\s+)?(IN|EXISTS|IS|CONTAINS|STARTS)\b)", rest, re.I))


def describe(rules: SearchRules) -> list[str]:
    """One line per rule: `tickets: customer_id = 42`, `movies: every document`."""
    lines = []
    for pattern, rule in rules.items():
        expression = filter_text(_filter_of(rule))
        lines.append(f"{pattern}: {expression}" if expression else f"{pattern}: every document")
    return lines
