"""The one way meilichat formats JSON for people and scripts to read (`ui/json_output.py`
writes it; history exports use it directly).

Two shapes, one rule for each:

- a document (`--json` of a listing or a `show`, an export): indented by two spaces;
- a line of a stream (`ask --json` results, which are also `--events` `done` events and
  `batch` lines; every `--events` event; the `{"error": …}` object on stderr): one line.

Both are ASCII-escaped (`ensure_ascii`), so server text keeps every character exactly and
ESC, DEL or C1 controls inside it reach a terminal as `\\u001b`, never raw; both end with a
newline.

Standard library only.
"""

from __future__ import annotations

import json
from typing import Any


def json_text(data: Any, *, line: bool = False) -> str:
    """`data` as a JSON document (indented) or, with `line`, one JSON line; ends with \\n."""
    if line:
        return json.dumps(data, ensure_ascii=True) + "\n"
    return json.dumps(data, ensure_ascii=True, indent=2) + "\n"
