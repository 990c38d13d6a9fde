"""Values offered by shell completion: profiles, workspaces, index uids, conversation ids, models.

Every function takes the environment (a mapping, as the rest of the core does) and what the
command line has said so far, and returns `(value, description)` pairs, best first:

    profile_candidates       config.toml: every profile, its URL, the default marked
    workspace_candidates     GET /chats on the server when it answers quickly; otherwise the
                             profile's workspace, MEILICHAT_WORKSPACE and the workspaces of
                             saved conversations
    index_candidates         GET /indexes on the server; otherwise the indexes searched in
                             saved conversations
    conversation_candidates  saved conversations whose id starts with the typed prefix
    model_candidates         models of saved turns (most recent first), then the profile's

Shell completion runs the whole program on every TAB, so this module is careful about cost
and side effects: files are only read (the history database is opened read-only and never
created or migrated), a profile's key_command is never run and the keyring never asked (either
can prompt or block), a key is never sent in clear text to another host, a server lookup gives
up after LOOKUP_TIMEOUT seconds, and nothing is printed. Failures raise; the completion layer
turns any failure into "no candidates".

Imports: standard library only at module level. meilichat_cli's config, settings, credentials
and sqlite3 load inside the functions; the HTTP client (httpx) loads only when a workspace or
index lookup really asks a server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meilichat_cli.local.config import Config, Profile
    from meilichat_cli.local.connection import Connection

Candidate = tuple[str, str]

LOOKUP_TIMEOUT = 0.5  # seconds, for connecting and for the answer: TAB must feel instant
SERVER_PAGE_LIMIT = 1000  # one request; nobody tabs through more names than this
MAX_CANDIDATES = 200
DESCRIPTION_CHARS = 60

# Values are typed back into a shell command line: only plain tokens are offered.
_NAME = re.compile(r"[A-Za-z0-9_-]{1,400}")
_MODEL = re.compile(r"[\x21-\x7e]{1,200}")  # printable ASCII, no spaces or quotes issues
_HEX = re.compile(r"[0-9a-f]{0,32}")


def _ignore(_message: str) -> None:
    """Completion has nowhere to show a warning: the shell owns the terminal."""


def profile_candidates(env: Mapping[str, str]) -> list[Candidate]:
    """Every profile, described by its URL (and workspace); the default one says so."""
    config = _config(env)
    candidates = []
    for name in config.profile_names():
        profile = config.profiles[name]
        where = profile.url + (f", workspace {profile.workspace}" if profile.workspace else "")
        default = " (default)" if name == config.default_profile else ""
        candidates.append((name, _describe(where + default)))
    return candidates


def persona_candidates(env: Mapping[str, str], *, profile: str | None = None) -> list[Candidate]:
    """The personas of the profile in use, described by their rules."""
    config = _config(env)
    name = profile or env.get("MEILICHAT_PROFILE") or config.default_profile
    if not name or name not in config.profiles:
        return []
    candidates = []
    for persona, table in sorted(config.profiles[name].personas.items()):
        rules = table.get("rules") if isinstance(table, dict) else None
        shown = ", ".join(rules) if isinstance(rules, dict) else ""
        candidates.append((persona, _describe(shown)))
    return candidates


def workspace_candidates(
    env: Mapping[str, str],
    *,
    profile: str | None = None,
    url: str | None = None,
    api_key: str | None = None,
    transport: Any = None,
) -> list[Candidate]:
    """The server's workspaces when it answers in time, else the names known locally."""
    connection = lookup_connection(env, profile=profile, url=url, api_key=api_key)
    if connection is not None:
        names = _server_uids(connection, env, "/chats", transport)
        if names is not None:
            return [
                (name, "default workspace" if name == connection.workspace else "on the server")
                for name in names
            ]
    candidates: list[Candidate] = []
    chosen = _chosen_profile(env, profile)
    if chosen is not None and chosen.workspace:
        candidates.append((chosen.workspace, f"workspace of profile {chosen.name}"))
    from_env = env.get("MEILICHAT_WORKSPACE", "").strip()
    if from_env:
        candidates.append((from_env, "MEILICHAT_WORKSPACE"))
    rows = _history_rows(
        env,
        "SELECT workspace FROM conversations GROUP BY workspace"
        " ORDER BY MAX(updated_at) DESC LIMIT ?",
        (MAX_CANDIDATES,),
    )
    candidates += [(str(row[0]), "used in saved conversations") for row in rows]
    return _unique(candidates, _NAME)


def index_candidates(
    env: Mapping[str, str],
    *,
    profile: str | None = None,
    url: str | None = None,
    api_key: str | None = None,
    transport: Any = None,
) -> list[Candidate]:
    """The server's index uids when it answers in time, else indexes searched before."""
    connection = lookup_connection(env, profile=profile, url=url, api_key=api_key)
    if connection is not None:
        names = _server_uids(connection, env, "/indexes", transport)
        if names is not None:
            return [(name, "index on the server") for name in names]
    rows = _history_rows(
        env,
        "SELECT index_uid FROM searches WHERE index_uid IS NOT NULL GROUP BY index_uid"
        " ORDER BY COUNT(*) DESC LIMIT ?",
        (MAX_CANDIDATES,),
    )
    return _unique([(str(row[0]), "searched in saved conversations") for row in rows], _NAME)


def conversation_candidates(env: Mapping[str, str], prefix: str) -> list[Candidate]:
    """Saved conversations whose id starts with `prefix`, the most recent first."""
    wanted = prefix.strip().lower()
    if not _HEX.fullmatch(wanted):
        return []  # ids are hexadecimal: nothing else can match
    rows = _history_rows(
        env,
        "SELECT id, title FROM conversations WHERE substr(id, 1, ?) = ?"
        " ORDER BY updated_at DESC LIMIT ?",
        (len(wanted), wanted, MAX_CANDIDATES),
    )
    return [(str(row[0]), _describe(str(row[1]))) for row in rows]


def model_candidates(env: Mapping[str, str], *, profile: str | None = None) -> list[Candidate]:
    """Models of saved turns, most recently used first, then the profile's and the default."""
    rows = _history_rows(
        env,
        "SELECT model FROM turns GROUP BY model ORDER BY MAX(created_at) DESC LIMIT ?",
        (MAX_CANDIDATES,),
    )
    candidates = [(str(row[0]), "recently used") for row in rows]
    from_env = env.get("MEILICHAT_MODEL", "").strip()
    if from_env:
        candidates.append((from_env, "MEILICHAT_MODEL"))
    chosen = _chosen_profile(env, profile)
    if chosen is not None and chosen.model:
        candidates.append((chosen.model, f"model of profile {chosen.name}"))
    from meilichat_cli.local.connection import DEFAULT_MODEL

    candidates.append((DEFAULT_MODEL, "built-in default"))
    return _unique(candidates, _MODEL)


# --------------------------------------------------------------------------- the server


def lookup_connection(
    env: Mapping[str, str],
    *,
    profile: str | None = None,
    url: str | None = None,
    api_key: str | None = None,
) -> Connection | None:
    """Where a completion lookup may ask, and with which key; None when it should not ask.

    The same order as the commands (flag > environment > profile), with the admin key first
    because listing workspaces needs `chats.get`, which chat keys lack: --api-key on the line
    being completed, MEILI_MASTER_KEY, MEILICHAT_API_KEY, then the profile's key file entry
    (only for the profile's own URL). A key_command or keyring key is not fetched here.
    """
    from meilichat_cli.local.connection import (
        DEFAULT_MODEL,
        Connection,
        is_loopback_host,
        validate_url,
    )

    config = _config(env)
    chosen = _chosen_profile(env, profile, config)
    raw_url = _first(url, env.get("MEILICHAT_URL"), chosen.url if chosen else None)
    if raw_url is None:
        return None
    final_url = validate_url(raw_url)
    key = _first(api_key, env.get("MEILI_MASTER_KEY"), env.get("MEILICHAT_API_KEY"))
    if key is None and chosen is not None and _same_url(chosen.url, final_url):
        key = _stored_key(env, config, chosen)
    from urllib.parse import urlsplit

    parts = urlsplit(final_url)
    if key is not None and parts.scheme == "http" and not is_loopback_host(parts.hostname or ""):
        return None  # the commands warn before sending a key in clear text; TAB cannot warn
    ca_bundle = chosen.ca_bundle if chosen is not None else None
    return Connection(
        profile=chosen.name if chosen is not None else None,
        url=final_url,
        api_key=key,
        api_key_source="completion",
        workspace=_first(env.get("MEILICHAT_WORKSPACE"), chosen.workspace if chosen else None),
        model=DEFAULT_MODEL,
        ca_bundle=_expanded(ca_bundle),
        insecure=chosen.insecure if chosen is not None else False,
    )


def _server_uids(
    connection: Connection, env: Mapping[str, str], path: str, transport: Any
) -> list[str] | None:
    """The `uid`s of one page of `path`, or None when the server did not answer in time."""
    from meilichat_cli.api.client import MeiliClient
    from meilichat_cli.errors import MeilichatError

    try:
        with MeiliClient(
            connection,
            read_timeout=LOOKUP_TIMEOUT,
            connect_timeout=LOOKUP_TIMEOUT,
            transport=transport,
            environ=env,
            warn=_ignore,
        ) as client:
            body = client.request_json(
                "GET", path, params={"limit": SERVER_PAGE_LIMIT}, total_timeout=LOOKUP_TIMEOUT
            )
    except MeilichatError:
        return None
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        return None
    uids = [item.get("uid") for item in results if isinstance(item, dict)]
    return [uid for uid in uids if isinstance(uid, str) and _NAME.fullmatch(uid)]


# --------------------------------------------------------------------------- local files


def _config(env: Mapping[str, str]) -> Config:
    from meilichat_cli.local.config import load_config
    from meilichat_cli.local.paths import paths_from_env

    return load_config(paths_from_env(env).config_file, warn=_ignore)


def _chosen_profile(
    env: Mapping[str, str], requested: str | None, config: Config | None = None
) -> Profile | None:
    """The profile a command would use (flag, MEILICHAT_PROFILE, default), if it exists."""
    config = config if config is not None else _config(env)
    name = _first(requested, env.get("MEILICHAT_PROFILE"), config.default_profile)
    return config.profiles.get(name) if name is not None else None


def _stored_key(env: Mapping[str, str], config: Config, profile: Profile) -> str | None:
    if profile.key_command or config.key_store_for(profile) != "file":
        return None
    from meilichat_cli.local.credentials import CredentialsFile
    from meilichat_cli.local.paths import paths_from_env

    return CredentialsFile(paths_from_env(env).credentials_file, warn=_ignore).get(profile.name)


def _history_rows(
    env: Mapping[str, str], sql: str, parameters: tuple[object, ...]
) -> list[tuple[Any, ...]]:
    """Rows from the history database, opened read-only; none when there is no database."""
    import sqlite3

    from meilichat_cli.local.paths import paths_from_env

    path = paths_from_env(env).history_db
    if not path.is_file():
        return []
    try:
        database = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=0.2)
    except sqlite3.Error:
        return []
    try:
        return list(database.execute(sql, parameters).fetchall())
    except sqlite3.Error:  # locked, damaged, or an older schema: no candidates, no fuss
        return []
    finally:
        database.close()


# --------------------------------------------------------------------------- small helpers


def _first(*values: str | None) -> str | None:
    """The first value that is set and not blank (an exported empty variable means unset)."""
    for value in values:
        if value is not None and value.strip():
            return value.strip()
    return None


def _same_url(profile_url: str, final_url: str) -> bool:
    from meilichat_cli.errors import UsageError
    from meilichat_cli.local.connection import validate_url

    try:
        return validate_url(profile_url) == final_url
    except UsageError:
        return False


def _expanded(path: str | None) -> str | None:
    import os

    return os.path.expanduser(path) if path else None


def _describe(text: str) -> str:
    """One short, harmless line: descriptions are shown by the shell, unfiltered."""
    from meilichat_cli.text.sanitize import cut, sanitize_line

    return cut(sanitize_line(text), DESCRIPTION_CHARS)


def _unique(candidates: list[Candidate], pattern: re.Pattern[str]) -> list[Candidate]:
    """First occurrence of each value that is a plain token; the order is kept."""
    seen: set[str] = set()
    kept: list[Candidate] = []
    for value, description in candidates:
        if value in seen or not pattern.fullmatch(value):
            continue
        seen.add(value)
        kept.append((value, _describe(description)))
    return kept
