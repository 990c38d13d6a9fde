"""The one JSON writer: every `--json` and `--events` output, batch result lines and the
`{"error": …}` object on stderr go through `write_json`, formatted by `text.json_text` (a
document indented, a line of a stream compact, both ASCII-escaped) and flushed at once, so a
reader never waits on a buffered object.

Must not import httpx, typer or prompt_toolkit.
"""

from __future__ import annotations

from typing import Any, Protocol

from meilichat_cli.text.json_text import json_text


class Writable(Protocol):
    def write(self, text: str, /) -> Any: ...

    def flush(self) -> Any: ...


def write_json(stream: Writable, data: Any, *, line: bool = False) -> None:
    """Write `data` as a JSON document (or, with `line`, one JSON line) and flush."""
    stream.write(json_text(data, line=line))
    stream.flush()
