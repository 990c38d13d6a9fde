"""TOML files meilichat owns (config.toml, credentials.toml): read with errors people can act
on, and write with a small writer of our own.

Reading: a UTF-8 BOM is accepted; invalid UTF-8 names the line and byte offset; syntax errors
name the file, line and column (from tomllib's message). A missing file reads as {}.

Writing: the files are flat: top-level keys and `[profiles.NAME]` tables of strings and
booleans. The writer also handles every value tomllib can produce (integers, floats, dates,
times, arrays, nested tables) because unknown keys read from a user's file are written back
unchanged. Comments and formatting are not preserved. The output is checked by parsing it
again, so a writer bug can never leave a file meilichat cannot read.

Imports: standard library (tomli on Python < 3.11), meilichat_cli.{errors, storage}.
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

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

_TOMLLIB_POSITION = re.compile(r"^(?P<msg>.*?) \(at line (?P<line>\d+), column (?P<col>\d+)\)$")
_UTF8_BOM = b"\xef\xbb\xbf"

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def parse_toml(text: str) -> dict[str, Any]:
    """tomllib.loads, typed (tomllib raises tomllib.TOMLDecodeError, a ValueError)."""
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
        raise ConfigError(_decode_error_message(path, exc), hint=fix_by_hand_hint(path)) from None


def _decode_error_message(path: Path, exc: ValueError) -> str:
    first_line = str(exc).splitlines()[0] if str(exc) else "invalid TOML"
    match = _TOMLLIB_POSITION.match(first_line)
    if match:
        return f"{path} line {match['line']}, column {match['col']}: {match['msg']}"
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
    return key if _BARE_KEY.fullmatch(key) else quote_string(key)


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
