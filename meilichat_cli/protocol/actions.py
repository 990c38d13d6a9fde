"""Which actions a Meilisearch key's `actions` list grants, as Meilisearch expands its
wildcards.

Read by the client (`api.admin`: can this key chat, read settings, create keys?) and by the
stand-in server (`standin.auth`: may this request go on?), so both expand `*`, `X.*` and
`*.get` the same way, and name the key and global actions alike. Names and one function;
imports nothing.
"""

from __future__ import annotations

from collections.abc import Collection

# The actions that manage API keys, in the order Meilisearch lists them.
KEY_ACTIONS = ("keys.create", "keys.get", "keys.update", "keys.delete")

# Actions that make no sense restricted to some indexes (v1.48.3+ rejects keys that hold
# them with `indexes` other than `*`).
GLOBAL_ACTIONS = (
    "chats.*",
    "chats.get",
    "chats.delete",
    "chatsSettings.*",
    "chatsSettings.get",
    "chatsSettings.update",
)

# What `*.get` grants: the actions Meilisearch's `Action::is_read` calls reads
# (crates/meilisearch-types/src/keys.rs). Not `keys.get` ("to prevent privilege
# escalation") nor `chatCompletions`; but `search`, `version`, `export` and `fields.post` are.
READ_ACTIONS = frozenset(
    {
        "search",
        "documents.get",
        "export",
        "indexes.get",
        "tasks.get",
        "settings.get",
        "stats.get",
        "metrics.get",
        "version",
        "experimental.get",
        "network.get",
        "chats.get",
        "chatsSettings.get",
        "webhooks.get",
        "fields.post",
        "dynamicSearchRules.get",
    }
)


def action_granted(held: Collection[str], wanted: str) -> bool:
    """Whether a key holding `held` may perform `wanted`: `*` is every action (the keys ones
    included), `X.*` the `X.` family, `*.get` every read (`READ_ACTIONS`), as
    `HeedAuthStore::put_api_key` (crates/meilisearch-auth/src/store.rs) expands them."""
    if wanted in held or "*" in held:
        return True
    family, _, verb = wanted.partition(".")
    if verb and f"{family}.*" in held:
        return True
    return "*.get" in held and wanted in READ_ACTIONS
