"""deserr-style validation messages, as Meilisearch words them for bodies and query strings.

Meilisearch parses most bodies with the `deserr` crate, whose messages follow a few fixed patterns
(docs/protocol.md#feature-flag-version-and-health, docs/protocol.md#listing-and-reading-a-workspace,
docs/protocol.md#updating-settings). Keeping them here lets every route phrase its 400s the same
way. Stdlib only; imports nothing from meilichat_cli.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any


def compact(value: Any) -> str:
    """serde_json's compact rendering of a JSON value."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def serde_unexpected(value: Any) -> str:
    """serde's description of an unexpected value (`string "x"`, `integer `1``...), as in
    `invalid type: …, expected …` from serde_json-parsed bodies."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value}`"
    if isinstance(value, str):
        return f"string {compact(value)}"  # Rust's Debug quoting, escapes included
    if isinstance(value, list):
        return "sequence"
    return "map"


def serde_invalid_type(value: Any, expected: str) -> str:
    """serde's `invalid type` message for `value` where `expected` was wanted."""
    return f"invalid type: {serde_unexpected(value)}, expected {expected}"


def value_kind(value: Any) -> str:
    """How deserr names the kind of a JSON value ("a string", "a positive integer"...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a positive integer" if value >= 0 else "a negative integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def found(value: Any) -> str:
    """`a boolean: \\`true\\``: the kind and the value, as deserr quotes them."""
    kind = value_kind(value)
    return kind if value is None else f"{kind}: `{compact(value)}`"


def expected_list(names: Iterable[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def at(path: str) -> str:
    return f" at `{path}`" if path else ""


def invalid_type(path: str, expected: str, value: Any) -> str:
    return f"Invalid value type{at(path)}: expected {expected}, but found {found(value)}"


def damerau_levenshtein(a: str, b: str) -> int:
    """The unrestricted Damerau-Levenshtein distance (strsim's `damerau_levenshtein`, the
    Lowrance-Wagner algorithm): insertions, deletions, substitutions and transpositions of
    adjacent characters, each costing 1."""
    infinity = len(a) + len(b)
    # (len(a) + 2) x (len(b) + 2): row and column 0 are a border of `infinity`.
    table = [[infinity] * (len(b) + 2) for _ in range(len(a) + 2)]
    for i in range(len(a) + 1):
        table[i + 1][1] = i
    for j in range(len(b) + 1):
        table[1][j + 1] = j
    last_row: dict[str, int] = {}  # character -> last row of `a` holding it
    for i in range(1, len(a) + 1):
        last_col = 0  # last column of `b` matching a[i - 1] in this row
        for j in range(1, len(b) + 1):
            k = last_row.get(b[j - 1], 0)
            col = last_col
            if a[i - 1] == b[j - 1]:
                cost = 0
                last_col = j
            else:
                cost = 1
            table[i + 1][j + 1] = min(
                table[i][j] + cost,
                table[i + 1][j] + 1,
                table[i][j + 1] + 1,
                table[k][col] + (i - k - 1) + 1 + (j - col - 1),
            )
        last_row[a[i - 1]] = i
    return table[len(a) + 1][len(b) + 1]


def did_you_mean(received: str, accepted: Iterable[str]) -> str:
    """deserr's suggestion (`did_you_mean`, src/errors/helpers.rs): the first accepted name at
    the smallest distance, if within what the received name's length in bytes allows."""
    size = len(received.encode())
    if size <= 3:
        return ""
    allowed = 1 if size <= 7 else 2 if size <= 12 else 3 if size <= 17 else 4 if size <= 24 else 5
    best: tuple[int, str] | None = None
    for name in accepted:
        distance = damerau_levenshtein(received, name)
        if distance <= allowed and (best is None or distance < best[0]):
            best = (distance, name)
    return f"did you mean `{best[1]}`? " if best is not None else ""


def unknown_field(name: str, expected: Iterable[str], inside: str = "") -> str:
    where = f" inside `{inside}`" if inside else ""
    expected = tuple(expected)
    return (
        f"Unknown field `{name}`{where}: {did_you_mean(name, expected)}"
        f"expected one of {expected_list(expected)}"
    )


def unknown_value(value: str, path: str, expected: Iterable[str]) -> str:
    expected = tuple(expected)
    return (
        f"Unknown value `{value}`{at(path)}: {did_you_mean(value, expected)}"
        f"expected one of {expected_list(expected)}"
    )


def missing_field(name: str, inside: str = "") -> str:
    where = f" inside `{inside}`" if inside else ""
    return f"Missing field `{name}`{where}"


def unknown_parameter(name: str, expected: Iterable[str]) -> str:
    expected = tuple(expected)
    return (
        f"Unknown parameter `{name}`: {did_you_mean(name, expected)}"
        f"expected one of {expected_list(expected)}"
    )


def unparsable_parameter(name: str, raw: str) -> str:
    return f"Invalid value in parameter `{name}`: could not parse `{raw}` as a positive integer"


def parse_unsigned(raw: str, bits: int = 64) -> int | None:
    """`raw` read as Rust's `usize`/`u32::from_str` reads it (an optional `+`, ASCII digits
    only, no overflow), or None where Rust fails. Python's `isdigit` takes other digits."""
    digits = raw[1:] if raw.startswith("+") else raw
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    value = int(digits)
    return value if value < 1 << bits else None
