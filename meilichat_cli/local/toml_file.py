"""TOML files meilichat owns (config.toml, credentials.toml): read with errors people can act
on, and write them back keeping what the user wrote by hand.

Reading: a UTF-8 BOM is accepted; invalid UTF-8 names the line and byte offset; syntax errors
name the file, line and column (from tomllib's message). A missing file reads as {}.

Writing a new file (`dump_toml`): the files are flat: top-level keys and `[profiles.NAME]`
tables of strings and booleans. The writer also handles every value tomllib can produce
(integers, floats, dates, times, arrays, nested tables) because unknown keys read from a user's
file are written back unchanged. The output is checked by parsing it again, so a writer bug can
never leave a file meilichat cannot read.

Rewriting an existing file (`update_toml`): the old text is edited in place with tomlkit, only
where the data changed, so comments, blank lines, key order, quoting and unrelated keys survive.
A new key goes after the table's last key (not after a comment that introduces the next table);
a new table goes at the end. The result must parse to exactly the wanted data; if tomlkit cannot
express the change in the user's layout (an exotic mix of dotted keys and tables), the file is
written from its data with `dump_toml` instead, which is correct but loses the comments.
tomlkit is imported only here and only when a file is written: reading stays on tomllib, so
commands that write nothing never pay for it.

Imports: standard library (tomllib, or tomli on Python < 3.11, lazily, when a file is read;
tomlkit lazily, when writing),
meilichat_cli.{errors, local.files}.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import sys
from pathlib import Path
from typing import Any

from meilichat_cli.errors import ConfigError
from meilichat_cli.local.files import read_bytes

# Patterns as text: `re` compiles (and caches) them on first use, which most runs never reach.
_TOMLLIB_POSITION = r"^(?P<msg>.*?) \(at line (?P<line>\d+), column (?P<col>\d+)\)$"
_TOMLLIB_AT_END = " (at end of document)"
_UTF8_BOM = b"\xef\xbb\xbf"

_BARE_KEY = r"[A-Za-z0-9_-]+"
_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def read_toml_text(path: Path) -> str | None:
    """The file's text without a UTF-8 BOM, for `update_toml`; None when it is missing.

    Call it on a file that has just loaded (under the same lock): it assumes valid UTF-8.
    """
    raw = read_bytes(path)
    if raw is None:
        return None
    if raw.startswith(_UTF8_BOM):
        raw = raw[len(_UTF8_BOM) :]
    return raw.decode("utf-8")


def parse_toml(text: str) -> dict[str, Any]:
    """tomllib.loads, typed (tomllib raises tomllib.TOMLDecodeError, a ValueError).

    Imported here, when there is a file to read: most runs of `ask` and `chat` have none
    (the environment names the server), and the parser costs a few milliseconds to load."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

    document: dict[str, Any] = tomllib.loads(text)
    return document


def load_toml_file(path: Path) -> dict[str, Any]:
    """Parse a TOML file; missing → {}. Errors name the file and the line/column or byte."""
    raw = read_bytes(path)
    if raw is None:
        return {}
    offset = 0
    if raw.startswith(_UTF8_BOM):
        # Editors on Windows add a BOM; TOML forbids it, people do not notice it.
        raw = raw[len(_UTF8_BOM) :]
        offset = len(_UTF8_BOM)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path} line {line}: invalid UTF-8 at byte offset {exc.start + offset}",
            hint="save the file as UTF-8",
        ) from None
    try:
        return parse_toml(text)
    except RecursionError:
        raise ConfigError(
            f"{path}: nested too deeply to read", hint=fix_by_hand_hint(path)
        ) from None
    except ValueError as exc:  # tomllib.TOMLDecodeError; its message never quotes the file
        raise ConfigError(
            _decode_error_message(path, exc, text), hint=fix_by_hand_hint(path)
        ) from None


def _decode_error_message(path: Path, exc: ValueError, text: str) -> str:
    first_line = str(exc).splitlines()[0] if str(exc) else "invalid TOML"
    match = re.match(_TOMLLIB_POSITION, first_line)
    if match:
        return f"{path} line {match['line']}, column {match['col']}: {match['msg']}"
    if first_line.endswith(_TOMLLIB_AT_END):
        # An unclosed array, table or string: tomllib gives no position, the end is one.
        line = text.count("\n") + 1
        column = len(text) - (text.rfind("\n") + 1) + 1
        message = first_line[: -len(_TOMLLIB_AT_END)]
        return f"{path} line {line}, column {column} (the end of the file): {message}"
    return f"{path}: {first_line}"


def fix_by_hand_hint(path: Path) -> str:
    return f"fix {path} by hand (meilichat does not rewrite a file it cannot read)"


def dump_toml(document: dict[str, Any]) -> str:
    """Render `document` as TOML; raises ValueError if the result would not read back the same."""
    lines: list[str] = []
    _emit_table(lines, [], document)
    text = "\n".join(lines).strip("\n") + "\n"
    # Idempotence rather than equality: NaN never equals itself but renders the same.
    if _render_again(text) != text:
        raise ValueError("TOML writer produced a file that does not read back identically")
    return text


def _render_again(text: str) -> str:
    lines: list[str] = []
    _emit_table(lines, [], parse_toml(text))
    return "\n".join(lines).strip("\n") + "\n"


def _emit_table(lines: list[str], path: list[str], table: dict[str, Any]) -> None:
    scalars = [(key, value) for key, value in table.items() if not isinstance(value, dict)]
    tables = [(key, value) for key, value in table.items() if isinstance(value, dict)]
    if path and (scalars or not tables):
        lines.append("")
        lines.append("[" + ".".join(format_key(part) for part in path) + "]")
    for key, value in scalars:
        lines.append(f"{format_key(key)} = {format_value(value)}")
    for key, value in tables:
        _emit_table(lines, [*path, key], value)


def format_key(key: str) -> str:
    return key if re.fullmatch(_BARE_KEY, key) else quote_string(key)


def quote_string(text: str) -> str:
    """A TOML basic string: backslash escapes for quotes and every control character."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def format_value(value: Any) -> str:
    # bool before int: True is an int in Python.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quote_string(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(item) for item in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{format_key(k)} = {format_value(v)}" for k, v in value.items())
        return "{" + items + "}" if items else "{}"
    raise TypeError(f"cannot write a {type(value).__name__} to TOML")


# --- rewriting a file the user may have edited ------------------------------------------------


def update_toml(original: str | None, document: dict[str, Any]) -> str:
    """TOML text for `document`, made by editing `original` where the data differ.

    With no original (or an empty one), this is `dump_toml(document)`. Raises ValueError if
    neither way produces a file that reads back as `document`.
    """
    if original is None or not original.strip():
        return dump_toml(document)
    try:
        text = _edit_in_place(original, document)
    except Exception:  # tomlkit refused the layout: fall back to a clean rewrite below
        text = None
    if text is not None and same_data(parse_toml(text), document):
        return text
    return dump_toml(document)


def _edit_in_place(original: str, document: dict[str, Any]) -> str:
    import tomlkit

    old = parse_toml(original)
    edited = tomlkit.parse(original)
    _merge(edited, old, document)
    return edited.as_string()


def _merge(table: Any, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Make the tomlkit `table` (which reads as `old`) read as `new`, touching only changes."""
    for key in [key for key in old if key not in new]:
        del table[key]
    for key, value in new.items():
        if key not in old:
            _add(table, key, value)
        elif same_data(old[key], value):
            continue
        elif isinstance(old[key], dict) and isinstance(value, dict) and value:
            _merge(table[key], old[key], value)
        else:
            table[key] = _to_item(value)  # replaced where it stands, its comment kept


def _add(table: Any, key: str, value: Any) -> None:
    item = _to_item(value)
    if isinstance(value, dict):
        table[key] = item  # a table: tomlkit puts it after the existing ones
        return
    from tomlkit.container import Container

    container = table if isinstance(table, Container) else getattr(table, "value", None)
    body = container.body if isinstance(container, Container) else None
    insert_at = getattr(container, "_insert_at", None)
    if body is not None and callable(insert_at):
        last_key = max(
            (index for index, (name, entry) in enumerate(body) if name and _is_key_value(entry)),
            default=None,
        )
        if last_key is not None and last_key + 1 < len(body):
            # tomlkit's public `table[key] = value` appends after the table's trailing
            # comments, which usually introduce the next table; put it after the last key.
            insert_at(last_key + 1, key, item)
            return
    table[key] = item


def _is_key_value(entry: Any) -> bool:
    from tomlkit.items import AoT, Comment, Null, Table, Whitespace

    return not isinstance(entry, (AoT, Comment, Null, Table, Whitespace))


def _to_item(value: Any) -> Any:
    import tomlkit

    if isinstance(value, dict):
        nested = bool(value) and all(isinstance(inner, dict) for inner in value.values())
        table = tomlkit.table(is_super_table=nested)
        for key, inner in value.items():
            table[key] = _to_item(inner)
        return table
    return tomlkit.item(value)


def same_data(left: Any, right: Any) -> bool:
    """Equal as TOML data: same types (True is not 1), NaN equal to NaN, tables by content."""
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same_data(left[k], right[k]) for k in left)
    if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
        return len(left) == len(right) and all(map(same_data, left, right))
    if type(left) is not type(right):
        return False
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    return bool(left == right)
