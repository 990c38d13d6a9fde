"""The server's own chat token counters, from Meilisearch's Prometheus `/metrics` route.

Since v1.16 Meilisearch counts the tokens its chat route consumes, per workspace and model:
`meilisearch_chat_prompt_tokens_total`, `meilisearch_chat_completion_tokens_total` and
`meilisearch_chat_tokens_total`. Reading them needs the `metrics` experimental feature and a
key with `metrics.get`; `chat_token_counters` returns None when either is missing, so callers
(`doctor`, `batch`) report them only where they can. `counter_change` is after minus before.

Imports the client and `errors`; never prints.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from meilichat_cli.errors import MeilichatError

if TYPE_CHECKING:
    from meilichat_cli.api.client import MeiliClient

COUNTERS = {
    "meilisearch_chat_prompt_tokens_total": "prompt",
    "meilisearch_chat_completion_tokens_total": "completion",
    "meilisearch_chat_tokens_total": "total",
}
_SAMPLE = re.compile(r"^(\w+)(?:\{([^}]*)\})?\s+([0-9.eE+-]+)\s*$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_counters(text: str, workspace: str | None = None) -> dict[str, int]:
    """The three counters summed over models (and over workspaces unless one is given)."""
    found = dict.fromkeys(COUNTERS.values(), 0)
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if match is None or match.group(1) not in COUNTERS:
            continue
        labels = dict(_LABEL.findall(match.group(2) or ""))
        if workspace is not None and labels.get("workspace") != workspace:
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        found[COUNTERS[match.group(1)]] += int(value)
    return found


def chat_token_counters(client: MeiliClient, workspace: str | None = None) -> dict[str, int] | None:
    """The counters now, or None when the key or the server will not show them."""
    try:
        return parse_counters(client.request_text("/metrics"), workspace)
    except MeilichatError:
        return None


def counter_change(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after.get(name, 0) - before.get(name, 0) for name in COUNTERS.values()}


def change_text(change: dict[str, int]) -> str:
    """`+1,234 tokens (prompt +1,100, completion +134)`."""
    return (
        f"+{change['total']:,} tokens (prompt +{change['prompt']:,},"
        f" completion +{change['completion']:,})"
    )
