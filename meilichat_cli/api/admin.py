"""The admin routes of Meilisearch as plain functions over a `MeiliClient`
(docs/protocol.md#feature-flag-version-and-health, docs/protocol.md#workspaces,
docs/protocol.md#keys-and-actions, docs/protocol.md#index-chat-settings): workspaces and their
settings, the experimental feature flag, version and health, API keys, indexes and their `chat`
settings, tasks, and a few documents for template previews.

Also the client-side rules that protect the user before anything is sent: a masked provider
key (`sk-prXXXXXX...`) is never sent back, the azureOpenAi/vLlm requirements are checked on
the merged settings, and key actions are interpreted the way Meilisearch grants them
(`protocol.actions`, shared with the stand-in).

Never prints, prompts or exits: raises the errors of `meilichat_cli.errors`. Imports the
client only for typing; must not import typer, rich or prompt_toolkit.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from meilichat_cli.errors import (
    ApiError,
    AuthError,
    NotFoundError,
    ProtocolError,
    TaskFailedError,
    TimeoutError_,
    UsageError,
)
from meilichat_cli.protocol.actions import GLOBAL_ACTIONS, KEY_ACTIONS, action_granted
from meilichat_cli.protocol.index_chat import CHAT_SEARCH_PARAMETERS

if TYPE_CHECKING:
    from meilichat_cli.api.client import MeiliClient

# -- workspace settings (docs/protocol.md#workspace-settings) ---------------------------------

SOURCES = ("openAi", "azureOpenAi", "mistral", "vLlm")
STRING_FIELDS = ("orgId", "projectId", "apiVersion", "deploymentId", "baseUrl", "apiKey")
PROMPT_FIELDS = (
    "system",
    "searchDescription",
    "searchQParam",
    "searchFilterParam",
    "searchIndexUidParam",
)
WORKSPACE_FIELDS = ("source", *STRING_FIELDS, "prompts")

# Meilisearch's `hide_secret`: the whole value, or a 2/3/5-character prefix, then X's and "...".
# What Meilisearch shows instead of a provider key: the key's first 0, 2, 3 or 5 bytes,
# then this suffix (docs/protocol.md#api-key-masking). A prefix of that many characters is
# taken for a mask too: refusing a real key that looks masked costs less than storing a mask.
MASK_SUFFIXES = ((0, "XXX..."), (2, "XXXX..."), (3, "XXXXX..."), (5, "XXXXXX..."))

MIN_CHAT_VERSION = (1, 15, 1)
# Version facts the client acts on (the full table is in docs/versions.md).
PATCH_INDEX_CHAT_SINCE = (1, 17, 0)  # PUT /indexes/{uid}/settings/chat before
# Before, a `searchParameters` object without `limit` set the limit to 20.
CHAT_LIMIT_KEPT_SINCE = (1, 16, 0)
FILTER_ARGUMENT_SINCE = (1, 16, 0)  # `filter` tool argument, `prompts.searchFilterParam`
RENDER_ROUTE_SINCE = (1, 48, 0)  # POST /render-template (experimental `renderRoute`)
PAGE_SIZE = 100
# A server whose `total` never stops growing must not keep us paging forever.
MAX_PAGES = 1000

# -- keys (docs/protocol.md#keys-and-actions) -------------------------------------------------

CHAT_ACTIONS = ("chatCompletions", "search")

# -- tasks (docs/protocol.md#index-chat-settings) ---------------------------------------------

DEFAULT_TASK_TIMEOUT = 60.0
_FIRST_POLL = 0.05
_MAX_POLL = 1.0


def is_masked_key(value: object) -> bool:
    """Whether `value` is what Meilisearch returns instead of a provider key."""
    if not isinstance(value, str):
        return False
    for kept, suffix in MASK_SUFFIXES:
        prefix = value[: len(value) - len(suffix)]
        if value.endswith(suffix) and kept in (
            len(prefix),
            len(prefix.encode("utf-8", "surrogatepass")),
        ):
            return True
    return False


def refuse_masked_key(value: object) -> None:
    """Raise before a masked key is sent: PATCHing it would make it the stored key
    (docs/protocol.md#workspace-settings)."""
    if is_masked_key(value):
        raise UsageError(
            f"refusing to send the masked provider key {value!r}: Meilisearch would store it"
            " as the real key",
            hint="give the real key (e.g. `meilichat workspace set NAME --provider-key-stdin`),"
            " or leave the masked value as it was to keep the current key",
        )


def normalize_source(value: str) -> str:
    """`openai`, `OpenAI`, `azure-openai`… → the exact camelCase Meilisearch expects."""
    wanted = value.replace("-", "").replace("_", "").lower()
    for source in SOURCES:
        if source.lower() == wanted:
            return source
    raise UsageError(
        f"unknown source {value!r}: expected one of {', '.join(SOURCES)}",
    )


def merge_workspace_settings(
    current: Mapping[str, Any] | None, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """The settings Meilisearch will hold after PATCHing `changes` onto `current` (None = a
    workspace that does not exist yet). Prompts reset to null here mean "the default"."""
    merged: dict[str, Any] = (
        copy.deepcopy(dict(current))
        if current is not None
        else {"source": "openAi", **dict.fromkeys(STRING_FIELDS), "prompts": {}}
    )
    for name, value in changes.items():
        if name == "source":
            merged["source"] = "openAi" if value is None else value
        elif name == "prompts":
            prompts = merged.setdefault("prompts", {})
            if value is None:
                prompts.clear()
            else:
                prompts.update(value)
        else:
            merged[name] = value
    return merged


def check_source_requirements(settings: Mapping[str, Any]) -> None:
    """The checks Meilisearch runs after merging (docs/protocol.md#updating-settings), run here
    first to explain them."""
    source = settings.get("source")
    if source == "azureOpenAi":
        missing = [
            flag
            for field, flag in (
                ("baseUrl", "--base-url"),
                ("deploymentId", "--deployment-id"),
                ("apiVersion", "--api-version"),
            )
            if not settings.get(field)
        ]
        if missing:
            raise UsageError(
                f"azureOpenAi requires a base URL, a deployment id and an API version;"
                f" missing: {', '.join(missing)}",
                hint="pass them with `meilichat workspace set NAME --source azureOpenAi"
                " --base-url URL --deployment-id ID --api-version VERSION`",
            )
    if source == "vLlm" and not settings.get("baseUrl"):
        raise UsageError(
            "vLlm requires a base URL (the address of your vLLM server)",
            hint="pass --base-url URL, e.g. http://127.0.0.1:8000/v1",
        )
    base_url = settings.get("baseUrl")
    if isinstance(base_url, str) and base_url:
        # Meilisearch stores any string and fails only when it calls the LLM, far from here.
        from urllib.parse import urlsplit

        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(
                f"base URL {base_url!r} is not an http(s) URL",
                hint="e.g. --base-url http://127.0.0.1:8000/v1",
            )


def workspace_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """The PATCH body that turns `before` (as the server returned it, key masked) into `after`
    (as the user edited it): changed fields only, prompts key by key, and never the masked
    key. Unknown fields are refused here rather than by the server."""
    unknown = [name for name in after if name not in WORKSPACE_FIELDS]
    if unknown:
        raise UsageError(
            f"unknown workspace setting(s): {', '.join(map(repr, unknown))}",
            hint=f"the settings are: {', '.join(WORKSPACE_FIELDS)}",
        )
    changes: dict[str, Any] = {}
    for name in WORKSPACE_FIELDS:
        if name not in after:
            continue  # a removed line keeps the current value, like an omitted field
        old, new = before.get(name), after[name]
        if name == "prompts":
            prompt_changes = _prompt_changes(old, new)
            if prompt_changes is not None:
                changes["prompts"] = prompt_changes
            continue
        if new == old:
            continue
        if name == "apiKey":
            refuse_masked_key(new)
        changes[name] = new
    return changes


def _prompt_changes(old: Any, new: Any) -> dict[str, Any] | None:
    if new is None:
        return None if old is None else {name: None for name in PROMPT_FIELDS}
    if not isinstance(new, dict):
        raise UsageError("`prompts` must be an object of prompt texts")
    unknown = [name for name in new if name not in PROMPT_FIELDS]
    if unknown:
        raise UsageError(
            f"unknown prompt(s): {', '.join(map(repr, unknown))}",
            hint=f"the prompts are: {', '.join(PROMPT_FIELDS)}",
        )
    old_prompts = old if isinstance(old, dict) else {}
    changed = {name: text for name, text in new.items() if old_prompts.get(name) != text}
    return changed or None


# -- small helpers ---------------------------------------------------------------------------


def _segment(value: str) -> str:
    return quote(value, safe="")


def _object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ProtocolError(f"the server sent an unexpected answer for {what} (not an object)")
    return body


@contextmanager
def needs_action(action: str, what: str) -> Iterator[None]:
    """Explain a 403 on an admin route: the key is probably valid but lacks `action`."""
    try:
        yield
    except AuthError as error:
        if error.http_status not in (401, 403):
            raise
        if error.message.startswith(("A tenant token", "Tenant token")):
            raise  # already says what is wrong with the token (client._token_refused)
        if error.message.startswith("No API key"):  # nothing was configured at all
            message = f"{error.message}; {what} needs a key with the `{action}` action"
        else:
            message = f"Key rejected for {what}: it is invalid, expired, or lacks `{action}`"
        raise AuthError(
            message,
            hint="use an admin key: set MEILI_MASTER_KEY, or pass --admin-key-stdin"
            " or --prompt-admin-key",
            code=error.code,
            http_status=error.http_status,
            link=error.link,
        ) from error


def _paginate(client: MeiliClient, path: str, what: str) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    offset = 0
    for _page in range(MAX_PAGES):
        body = _object(
            client.request_json("GET", path, params={"offset": offset, "limit": PAGE_SIZE}), what
        )
        page = body.get("results")
        total = body.get("total")
        if not isinstance(page, list) or not isinstance(total, int):
            raise ProtocolError(f"the server sent an unexpected page for {what}")
        results.extend(item for item in page if isinstance(item, dict))
        offset += len(page)
        if not page or offset >= total:
            return results
    raise ProtocolError(f"the server kept paging {what} beyond {MAX_PAGES} pages")


# -- server ----------------------------------------------------------------------------------


def health(client: MeiliClient) -> dict[str, Any]:
    """GET /health (no authentication needed)."""
    return _object(client.request_json("GET", "/health"), "/health")


def version(client: MeiliClient) -> dict[str, Any]:
    """GET /version (action `version`)."""
    with needs_action("version", "/version"):
        return _object(client.request_json("GET", "/version"), "/version")


def server_version(client: MeiliClient) -> tuple[int, int, int] | None:
    """The server's version from GET /version, read once per client (connection) and cached
    on it; None when it cannot be read (a key without the `version` action, an odd answer).
    Callers then assume the newest behaviour."""
    if "version" not in client.cache:
        parsed: tuple[int, int, int] | None = None
        try:
            text = version(client).get("pkgVersion")
            parsed = parse_version(text) if isinstance(text, str) else None
        except (AuthError, ApiError, NotFoundError, ProtocolError):
            parsed = None
        client.cache["version"] = parsed
    cached = client.cache["version"]
    return cached if isinstance(cached, tuple) else None


def parse_version(text: str) -> tuple[int, int, int] | None:
    """`1.50.0`, `v1.16.0-rc.1` → (1, 50, 0); None when it is not a version."""
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if match is None:
        return None
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def supports_chat(version_text: str) -> bool | None:
    parsed = parse_version(version_text)
    return None if parsed is None else parsed >= MIN_CHAT_VERSION


def experimental_features(client: MeiliClient) -> dict[str, Any]:
    with needs_action("experimental.get", "the experimental features"):
        return _object(
            client.request_json("GET", "/experimental-features"), "/experimental-features"
        )


def set_experimental_features(client: MeiliClient, changes: Mapping[str, bool]) -> dict[str, Any]:
    with needs_action("experimental.update", "changing the experimental features"):
        return _object(
            client.request_json("PATCH", "/experimental-features", json_body=dict(changes)),
            "/experimental-features",
        )


def chat_feature_enabled(client: MeiliClient) -> bool:
    return experimental_features(client).get("chatCompletions") is True


def enable_chat_feature(client: MeiliClient) -> None:
    features = set_experimental_features(client, {"chatCompletions": True})
    if features.get("chatCompletions") is not True:
        raise ApiError("the server did not enable `chatCompletions`")


# -- workspaces (docs/protocol.md#workspaces) -------------------------------------------------


def list_workspaces(client: MeiliClient) -> list[str]:
    """Every workspace uid, all pages."""
    with needs_action("chats.get", "listing workspaces"):
        items = _paginate(client, "/chats", "/chats")
    return [str(item["uid"]) for item in items if "uid" in item]


def workspace_exists(client: MeiliClient, workspace: str) -> bool:
    try:
        with needs_action("chats.get", f"workspace {workspace!r}"):
            client.request_json("GET", f"/chats/{_segment(workspace)}")
    except NotFoundError as error:
        if error.code == "chat_not_found":
            return False
        raise
    return True


def workspace_settings(client: MeiliClient, workspace: str) -> dict[str, Any]:
    """The settings, provider key masked by the server."""
    with needs_action("chatsSettings.get", f"the settings of workspace {workspace!r}"):
        body = client.request_json("GET", f"/chats/{_segment(workspace)}/settings")
    return _object(body, "workspace settings")


def workspace_settings_or_none(client: MeiliClient, workspace: str) -> dict[str, Any] | None:
    try:
        return workspace_settings(client, workspace)
    except NotFoundError as error:
        if error.code == "chat_not_found":
            return None
        raise


def update_workspace(
    client: MeiliClient, workspace: str, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """PATCH the settings (creates the workspace when missing). Refuses a masked key, and a
    filter prompt on a server older than 1.16 (which has no such prompt: it would answer
    with a deserialization error)."""
    refuse_masked_key(changes.get("apiKey"))
    changes = _for_server_prompts(client, changes)
    with needs_action("chatsSettings.update", f"changing workspace {workspace!r}"):
        body = client.request_json(
            "PATCH", f"/chats/{_segment(workspace)}/settings", json_body=dict(changes)
        )
    return _object(body, "workspace settings")


def _for_server_prompts(client: MeiliClient, changes: Mapping[str, Any]) -> Mapping[str, Any]:
    prompts = changes.get("prompts")
    if not isinstance(prompts, dict) or "searchFilterParam" not in prompts:
        return changes
    found = server_version(client)
    if found is None or found >= FILTER_ARGUMENT_SINCE:
        return changes
    if prompts["searchFilterParam"] is not None:
        raise UsageError(
            f"Meilisearch {'.'.join(map(str, found))} has no filter prompt (searchFilterParam):"
            " its search tool cannot filter",
            hint="upgrade Meilisearch to 1.16 or later, or leave the filter prompt out",
        )
    # Resetting a prompt the server does not have: nothing to send for it.
    kept = {name: text for name, text in prompts.items() if name != "searchFilterParam"}
    trimmed = {name: value for name, value in changes.items() if name != "prompts"}
    if kept:
        trimmed["prompts"] = kept
    return trimmed


def reset_workspace(client: MeiliClient, workspace: str) -> dict[str, Any]:
    """DELETE the settings: back to defaults (no provider key); the workspace stays."""
    with needs_action("chatsSettings.update", f"resetting workspace {workspace!r}"):
        body = client.request_json("DELETE", f"/chats/{_segment(workspace)}/settings")
    return _object(body, "workspace settings")


def delete_workspace(client: MeiliClient, workspace: str) -> None:
    with needs_action("chats.delete", f"deleting workspace {workspace!r}"):
        client.request_json("DELETE", f"/chats/{_segment(workspace)}")


# -- keys (docs/protocol.md#keys-and-actions) -------------------------------------------------


def can_chat(actions: Sequence[str]) -> bool:
    return all(action_granted(actions, action) for action in CHAT_ACTIONS)


def admin_powers(actions: Sequence[str]) -> str | None:
    """Why a key is too powerful to hand to a chat client, or None."""
    if "*" in actions:
        return "it holds `*` (every action)"
    managed = [action for action in KEY_ACTIONS if action_granted(actions, action)]
    if managed:
        return f"it can manage API keys (`{managed[0]}`)"
    return None


def key_actions(key: Mapping[str, Any]) -> list[str]:
    actions = key.get("actions")
    return [a for a in actions if isinstance(a, str)] if isinstance(actions, list) else []


def key_indexes(key: Mapping[str, Any]) -> list[str]:
    indexes = key.get("indexes")
    return [i for i in indexes if isinstance(i, str)] if isinstance(indexes, list) else []


def key_expired(key: Mapping[str, Any], now: datetime | None = None) -> bool:
    expires = key.get("expiresAt")
    if not isinstance(expires, str):
        return False
    moment = parse_timestamp(expires)
    return moment is not None and moment <= (now or datetime.now(timezone.utc))


def parse_timestamp(text: str) -> datetime | None:
    """RFC 3339 as Meilisearch writes it (nanoseconds and `Z` included)."""
    cleaned = text.strip().replace("Z", "+00:00")
    cleaned = re.sub(r"(\.\d{6})\d+", r"\1", cleaned)
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def index_allowed(patterns: Sequence[str], index: str) -> bool:
    """Whether an index uid matches a key's `indexes` (`*` and trailing-`*` prefixes)."""
    for pattern in patterns:
        if pattern in ("*", index):
            return True
        if pattern.endswith("*") and index.startswith(pattern[:-1]):
            return True
    return False


def parse_expiry(text: str, now: datetime | None = None) -> str:
    """`30d`, `12h`, `2026-01-31`, `2026-01-31T12:00:00Z` → an RFC 3339 UTC timestamp in the
    future (Meilisearch refuses past dates; saying so here is clearer)."""
    now = now or datetime.now(timezone.utc)
    value = text.strip()
    relative = re.fullmatch(r"(\d+)\s*([dhm])", value)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        delta = {"d": timedelta(days=amount), "h": timedelta(hours=amount)}.get(
            unit, timedelta(minutes=amount)
        )
        moment = now + delta
    else:
        parsed = parse_timestamp(value)
        if parsed is None:
            raise UsageError(
                f"cannot read the expiry {value!r}",
                hint="use a date (2030-12-31), an RFC 3339 time, or a duration like 30d or 12h",
            )
        moment = parsed
    if moment <= now:
        raise UsageError(f"the expiry {value!r} is in the past")
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@contextmanager
def _master_key_explained() -> Iterator[None]:
    try:
        yield
    except AuthError as error:
        if error.code != "missing_master_key":
            raise
        raise AuthError(
            "This server runs without a master key, so it has no API keys to list or create",
            hint="start Meilisearch with a master key (--master-key / MEILI_MASTER_KEY) to"
            " protect it; without one, any key is accepted",
            code=error.code,
            http_status=error.http_status,
            link=error.link,
        ) from error


def list_keys(client: MeiliClient) -> list[dict[str, Any]]:
    with _master_key_explained(), needs_action("keys.get", "listing API keys"):
        return _paginate(client, "/keys", "/keys")


def create_key(
    client: MeiliClient,
    *,
    actions: Sequence[str],
    indexes: Sequence[str],
    expires_at: str | None,
    name: str | None,
    description: str | None,
) -> dict[str, Any]:
    """POST /keys; returns the new key view (with its `key`)."""
    body = {
        "name": name,
        "description": description,
        "actions": list(actions),
        "indexes": list(indexes),
        "expiresAt": expires_at,
    }
    try:
        with _master_key_explained(), needs_action("keys.create", "creating an API key"):
            created = _object(client.request_json("POST", "/keys", json_body=body), "/keys")
    except ApiError as error:
        if error.code != "index_scoped_api_key_with_global_action":
            raise
        raise ApiError(
            "A key limited to some indexes cannot hold workspace actions"
            f" ({', '.join(a for a in actions if a in GLOBAL_ACTIONS) or 'chats.*'})",
            hint="drop --index (keep every index) or drop the chats.*/chatsSettings.* actions",
            code=error.code,
            http_status=error.http_status,
            link=error.link,
        ) from error
    if not isinstance(created.get("key"), str):
        raise ProtocolError("the server created a key but did not return it")
    return created


def find_key(keys: Sequence[Mapping[str, Any]], value: str) -> Mapping[str, Any] | None:
    """The key view whose `key` (or `uid`) is `value`."""
    for key in keys:
        if key.get("key") == value or key.get("uid") == value:
            return key
    return None


# -- indexes and their chat settings (docs/protocol.md#index-chat-settings) -------------------


def list_indexes(client: MeiliClient) -> list[dict[str, Any]]:
    with needs_action("indexes.get", "listing indexes"):
        return _paginate(client, "/indexes", "/indexes")


@contextmanager
def _index_hint() -> Iterator[None]:
    try:
        yield
    except NotFoundError as error:
        if error.code != "index_not_found" or error.hint:
            raise
        error.hint = "list the indexes with `meilichat index list`"
        raise


def index_chat_settings(client: MeiliClient, index: str) -> dict[str, Any]:
    with _index_hint(), needs_action("settings.get", f"the settings of index {index!r}"):
        body = client.request_json("GET", f"/indexes/{_segment(index)}/settings/chat")
    return _object(body, "index chat settings")


def index_chat_settings_method(client: MeiliClient) -> str:
    """`PATCH` from Meilisearch 1.17 on, `PUT` on 1.15.1–1.16.x (the route changed verb)."""
    found = server_version(client)
    return "PUT" if found is not None and found < PATCH_INDEX_CHAT_SINCE else "PATCH"


@dataclass(frozen=True)
class SettingsRequest:
    """The request that changes an index's chat settings on this server: `method` on `path`
    with `body` (None: no body), and `fallback`, the method tried once when the server
    refuses `method` with 405 (None: no second try)."""

    method: str
    path: str
    body: dict[str, Any] | None
    fallback: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "fallbackMethod": self.fallback}


def index_chat_settings_body(
    client: MeiliClient, changes: Mapping[str, Any], current: Mapping[str, Any]
) -> dict[str, Any]:
    """The body that makes exactly `changes` on this server. Meilisearch keeps every field a
    body leaves out, with PUT (1.15.1–1.16.x) as with PATCH (1.17+), so `changes` go as they
    are, except on 1.15.x (or an unknown version): there a `searchParameters` object without
    `limit` sets the limit to 20, so the stored limit (`current`; `null` when none is set) is
    sent along with it, which changes nothing on the servers that keep it."""
    body = copy.deepcopy(dict(changes))
    params = body.get("searchParameters")
    if not isinstance(params, dict) or "limit" in params:
        return body
    found = server_version(client)
    if found is not None and found >= CHAT_LIMIT_KEPT_SINCE:
        return body
    stored = current.get("searchParameters")
    params["limit"] = stored.get("limit") if isinstance(stored, dict) else None
    return body


def index_chat_settings_request(
    client: MeiliClient,
    index: str,
    changes: Mapping[str, Any] | None,
    current: Mapping[str, Any] | None = None,
) -> SettingsRequest:
    """What `send_index_chat_settings` sends to this server, and `--dry-run` reports:
    DELETE to reset everything (`changes` None); else PATCH from 1.17 on, PUT on 1.15.1–1.16.x,
    and PATCH then PUT (on a 405) when the version could not be read. The body is
    `index_chat_settings_body` of `current`, the settings as stored (read when not given and
    the body needs them)."""
    path = f"/indexes/{_segment(index)}/settings/chat"
    if changes is None:
        return SettingsRequest("DELETE", path, None)
    known = server_version(client) is not None
    method = index_chat_settings_method(client)
    fallback = "PUT" if method == "PATCH" and not known else None
    if current is None and isinstance(changes.get("searchParameters"), dict):
        current = index_chat_settings(client, index)
    body = index_chat_settings_body(client, changes, current or {})
    return SettingsRequest(method, path, body, fallback)


def send_index_chat_settings(
    client: MeiliClient, index: str, request: SettingsRequest
) -> dict[str, Any]:
    """Send `request` (from `index_chat_settings_request`); returns the enqueued task summary.

    When the version could not be read and PATCH is refused with 405, PUT is tried once."""
    with needs_action("settings.update", f"changing the settings of index {index!r}"):
        try:
            body = client.request_json(request.method, request.path, json_body=request.body)
        except ApiError as error:
            if error.http_status != 405 or request.fallback is None:
                raise
            body = client.request_json(request.fallback, request.path, json_body=request.body)
    task = _object(body, "index chat settings update")
    if not isinstance(task.get("taskUid"), int):
        raise ProtocolError("the server accepted the settings but sent no task uid")
    return task


def update_index_chat_settings(
    client: MeiliClient,
    index: str,
    changes: Mapping[str, Any] | None,
    current: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """PATCH, or PUT before 1.17 (None resets everything); returns the enqueued task summary."""
    request = index_chat_settings_request(client, index, changes, current)
    return send_index_chat_settings(client, index, request)


def default_index_chat_settings() -> dict[str, Any]:
    from meilichat_cli.text.template import DEFAULT_DOCUMENT_TEMPLATE, DEFAULT_MAX_BYTES

    return {
        "description": "",
        "documentTemplate": DEFAULT_DOCUMENT_TEMPLATE,
        "documentTemplateMaxBytes": DEFAULT_MAX_BYTES,
        "searchParameters": {},
    }


def merge_index_chat_settings(
    current: Mapping[str, Any], changes: Mapping[str, Any] | None
) -> dict[str, Any]:
    """What the settings will be once the task succeeds (for previews without waiting), merged
    as Meilisearch merges them: a field left out is kept, `null` resets it to its default,
    `searchParameters` merges subfield by subfield (shown in Meilisearch's order, a `hybrid`
    with its default `semanticRatio`)."""
    if changes is None:
        return default_index_chat_settings()
    defaults = default_index_chat_settings()
    merged = copy.deepcopy(dict(current))
    for name, value in changes.items():
        if name == "searchParameters" and isinstance(value, dict):
            stored = merged.get("searchParameters")
            params = dict(stored) if isinstance(stored, dict) else {}
            for key, sub in value.items():
                if sub is None:
                    params.pop(key, None)
                elif key == "hybrid" and isinstance(sub, dict):
                    params[key] = {"semanticRatio": sub.get("semanticRatio", 0.5), **sub}
                else:
                    params[key] = sub
            order = {key: rank for rank, key in enumerate(CHAT_SEARCH_PARAMETERS)}
            merged[name] = dict(sorted(params.items(), key=lambda kv: order.get(kv[0], len(order))))
        elif value is None:
            merged[name] = defaults.get(name)
        else:
            merged[name] = value
    return merged


def wait_for_task(
    client: MeiliClient,
    task_uid: int,
    *,
    timeout: float = DEFAULT_TASK_TIMEOUT,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll GET /tasks/{uid} (short first, then backing off) until it is done.

    Returns the succeeded task; raises TaskFailedError (exit 7) with the task's own error
    when it failed or was canceled, TimeoutError_ when it is still running at `timeout`."""
    deadline = clock() + timeout
    delay = _FIRST_POLL
    while True:
        with needs_action("tasks.get", f"task {task_uid}"):
            task = _object(client.request_json("GET", f"/tasks/{task_uid}"), "/tasks")
        status = task.get("status")
        if status == "succeeded":
            return task
        if status in ("failed", "canceled"):
            raise _task_error(task_uid, task)
        if clock() + delay > deadline:
            raise TimeoutError_(
                f"Task {task_uid} is still {status or 'pending'} after {timeout:g} s",
                hint=f"it keeps running on the server; check it with GET /tasks/{task_uid}"
                " or wait longer with --wait-timeout",
            )
        sleep(delay)
        delay = min(delay * 2, _MAX_POLL)


def _task_error(task_uid: int, task: Mapping[str, Any]) -> TaskFailedError:
    error = task.get("error") if isinstance(task.get("error"), dict) else {}
    assert isinstance(error, dict)
    message = error.get("message") if isinstance(error.get("message"), str) else None
    code = error.get("code") if isinstance(error.get("code"), str) else None
    link = error.get("link") if isinstance(error.get("link"), str) else None
    if task.get("status") == "canceled":
        return TaskFailedError(f"Task {task_uid} was canceled", code=code)
    return TaskFailedError(
        f"Task {task_uid} failed: {message or 'no reason given'}" + (f" ({code})" if code else ""),
        code=code,
        link=link,
    )


def documents(client: MeiliClient, index: str, limit: int) -> list[dict[str, Any]]:
    """The first `limit` documents of an index (action `documents.get`)."""
    with needs_action("documents.get", f"the documents of index {index!r}"):
        body = _object(
            client.request_json(
                "GET", f"/indexes/{_segment(index)}/documents", params={"limit": limit}
            ),
            "documents",
        )
    results = body.get("results")
    if not isinstance(results, list):
        raise ProtocolError("the server sent an unexpected documents page")
    return [doc for doc in results if isinstance(doc, dict)]


def searchable_attributes(client: MeiliClient, index: str) -> list[str] | None:
    """The index's searchable attributes (from GET /indexes/{uid}/settings), or None (= every
    field) when the server does not say; only used to mark `field.is_searchable` in previews."""
    try:
        body = client.request_json("GET", f"/indexes/{_segment(index)}/settings")
    except (NotFoundError, ApiError, AuthError):
        return None
    attributes = body.get("searchableAttributes") if isinstance(body, dict) else None
    if isinstance(attributes, list) and all(isinstance(item, str) for item in attributes):
        return list(attributes)
    return None


def primary_key(client: MeiliClient, index: str) -> str | None:
    """The index's primary key (GET /indexes/{uid}), or None when unknown."""
    try:
        body = client.request_json("GET", f"/indexes/{_segment(index)}")
    except (NotFoundError, ApiError, AuthError):
        return None
    key = body.get("primaryKey") if isinstance(body, dict) else None
    return key if isinstance(key, str) else None


def server_previews(
    client: MeiliClient,
    index: str,
    docs: Sequence[Mapping[str, Any]],
    *,
    template: str | None,
    max_bytes: int | None,
) -> tuple[list[str] | None, str | None]:
    """Each document rendered by the server's `POST /render-template` (1.48+, experimental
    `renderRoute`), exactly as the model sees it: (renders, None), or (None, why not) when the
    server cannot (older version, feature off, key lacking the actions). `template` None
    renders the index's stored chat template; a string renders that template inline."""
    found = server_version(client)
    if found is not None and found < RENDER_ROUTE_SINCE:
        return None, f"Meilisearch {'.'.join(map(str, found))} has no /render-template (1.48+)"
    spec: dict[str, Any] = (
        {"kind": "chatDocumentTemplate", "indexUid": index}
        if template is None
        else {"kind": "inlineDocumentTemplate", "inline": template}
    )
    if max_bytes is not None and max_bytes > 0:
        spec["documentTemplateMaxBytes"] = max_bytes
    key = primary_key(client, index)
    renders: list[str] = []
    for doc in docs:
        # By id when possible: the index then says which fields are searchable, as in a chat.
        docid = doc.get(key) if key else None
        source: dict[str, Any] = (
            {"kind": "indexDocument", "indexUid": index, "id": str(docid)}
            if isinstance(docid, (str, int)) and not isinstance(docid, bool)
            else {"kind": "inlineDocument", "inline": dict(doc)}
        )
        body = {"template": spec, "input": source}
        try:
            answer = client.request_json("POST", "/render-template", json_body=body)
        except (ApiError, AuthError, NotFoundError) as error:
            if error.code == "feature_not_enabled" or (error.message or "").startswith(
                "Chat completions are disabled"
            ):
                return None, "the experimental feature `renderRoute` is off on this server"
            if error.http_status in (404, 405) and error.code is None:
                return None, "this server has no /render-template route"
            if isinstance(error, AuthError):
                return None, "the key may not call /render-template"
            raise
        rendered = answer.get("rendered") if isinstance(answer, dict) else None
        if not isinstance(rendered, str):
            raise ProtocolError("the server sent an unexpected /render-template answer")
        renders.append(rendered)
    return renders, None


def render_previews(
    settings: Mapping[str, Any],
    docs: Sequence[Mapping[str, Any]],
    searchable: Sequence[str] | None,
) -> list[str]:
    """Each document as the model will see it (template, then the byte limit)."""
    from meilichat_cli.text.template import (
        DEFAULT_DOCUMENT_TEMPLATE,
        DEFAULT_MAX_BYTES,
        parse,
        render_document,
    )

    source = settings.get("documentTemplate")
    template = parse(source if isinstance(source, str) else DEFAULT_DOCUMENT_TEMPLATE)
    max_bytes = settings.get("documentTemplateMaxBytes")
    limit = max_bytes if isinstance(max_bytes, int) and max_bytes > 0 else DEFAULT_MAX_BYTES
    return [render_document(template, doc, searchable=searchable, max_bytes=limit) for doc in docs]


# -- use cases: what the admin commands do once their options are parsed ----------------------


def set_workspace(
    client: MeiliClient, workspace: str, changes: Mapping[str, Any]
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """`workspace set`: check the merged settings, then PATCH only `changes` (creating the
    workspace when missing). Returns the settings before (None: it was created) and after."""
    current = workspace_settings_or_none(client, workspace)
    check_source_requirements(merge_workspace_settings(current, changes))
    return current, update_workspace(client, workspace, changes)


@dataclass(frozen=True)
class IndexChatUpdate:
    """A change to an index's chat settings: `body` is the PATCH (None resets every setting);
    with `dry_run` nothing is sent; `wait` waits up to `wait_timeout` for the task."""

    body: dict[str, Any] | None
    dry_run: bool = False
    wait: bool = True
    wait_timeout: float = DEFAULT_TASK_TIMEOUT


def apply_index_chat_update(
    client: MeiliClient, index: str, current: Mapping[str, Any], update: IndexChatUpdate
) -> dict[str, Any]:
    """`index chat-settings` with changes: the result object of its `--json` (previews aside):
    `uid`; `dryRun`, `wouldSend` and `wouldRequest` (method, path, fallbackMethod), or
    `taskUid` and `status`; then `chat`, the settings as
    they are after the task (or will be, without waiting or sending)."""
    result: dict[str, Any] = {"uid": index}
    request = index_chat_settings_request(client, index, update.body, current)
    if update.dry_run:
        result["dryRun"] = True
        result["wouldSend"] = request.body
        result["wouldRequest"] = request.to_json()
        result["chat"] = merge_index_chat_settings(current, request.body)
        return result
    task = send_index_chat_settings(client, index, request)
    result["taskUid"] = task["taskUid"]
    if not update.wait:
        result["status"] = task.get("status", "enqueued")
        result["chat"] = merge_index_chat_settings(current, request.body)
        return result
    done = wait_for_task(client, int(task["taskUid"]), timeout=update.wait_timeout)
    result["status"] = done.get("status")
    result["chat"] = index_chat_settings(client, index)
    return result
