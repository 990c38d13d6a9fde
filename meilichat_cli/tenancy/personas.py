"""Personas: named scopes, kept per profile in config.toml, that meilichat chats as.

    [profiles.local.personas.alice]
    expires = "1h"                      # lifetime of the token signed for each run
    parent_uid = "6062abda-…"           # uid of the profile's key (the token's apiKeyUid)
    [profiles.local.personas.alice.rules.tickets]
    filter = "customer_id = 42"         # an empty table: every document of the index

`--as NAME` signs a short-lived tenant token from the persona's rules with the profile's key
and sends it as the bearer (`persona_connection`). No token is ever stored.

Stdlib, `errors`, `local` and `tenancy.token`/`tenancy.rules` only; never prints.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from meilichat_cli.errors import ConfigError, UsageError
from meilichat_cli.local.config import Config, Profile, edit_config, load_config
from meilichat_cli.local.connection import Connection
from meilichat_cli.local.paths import paths_from_env
from meilichat_cli.tenancy import rules as search_rules
from meilichat_cli.tenancy.token import looks_like_token, parse_expires, sign

DEFAULT_EXPIRES = "1h"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

Warn = Callable[[str], None]


@dataclass(frozen=True)
class Persona:
    name: str
    profile: str
    rules: search_rules.SearchRules
    expires: str = DEFAULT_EXPIRES
    parent_uid: str | None = None

    def table(self) -> dict[str, Any]:
        """The persona as stored in config.toml (TOML has no null: `{}` means no filter)."""
        stored_rules = {
            pattern: ({"filter": rule["filter"]} if isinstance(rule, dict) else {})
            for pattern, rule in self.rules.items()
        }
        table: dict[str, Any] = {"expires": self.expires}
        if self.parent_uid:
            table["parent_uid"] = self.parent_uid
        table["rules"] = stored_rules
        return table

    def claims(self, *, now: float | None = None) -> dict[str, Any]:
        """The claims of a token for one run: the rules, the parent uid, `exp`."""
        if not self.parent_uid:
            raise ConfigError(
                f"persona {self.name!r} has no parent key uid (the token's apiKeyUid)",
                hint=f"run `meilichat persona add {self.name} --parent-uid UID …` again (the"
                " uid of the profile's key: `meilichat key list --server`)",
            )
        return {
            "searchRules": self.rules,
            "apiKeyUid": self.parent_uid,
            "exp": parse_expires(self.expires, now=now),
        }


def validate_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"invalid persona name {name[:40]!r}: use letters, digits, '-' and '_' (max 64),"
            " starting with a letter or digit"
        )
    return name


def validate_uid(uid: str) -> str:
    if not _UUID.fullmatch(uid.strip()):
        raise UsageError(
            f"--parent-uid {uid[:60]!r} is not a key uid (a UUID such as"
            " 6062abda-a5aa-4414-ac91-ecd7944c0f8d)"
        )
    return uid.strip().lower()


def from_table(profile: str, name: str, table: Mapping[str, Any], where: str) -> Persona:
    """A stored persona, checked; ConfigError naming the key path when it is malformed."""
    try:
        validate_name(name)
        raw_rules = table.get("rules")
        if not isinstance(raw_rules, dict):
            raise UsageError("rules is missing (a table: index pattern -> {filter = …})")
        rules = search_rules.normalise(
            {p: (r if r else None) for p, r in raw_rules.items()}, where="rules"
        )
        expires = table.get("expires", DEFAULT_EXPIRES)
        if not isinstance(expires, str):
            raise UsageError('expires must be a string such as "1h"')
        parse_expires(expires)
        parent_uid = table.get("parent_uid")
        if parent_uid is not None:
            if not isinstance(parent_uid, str):
                raise UsageError("parent_uid must be a string")
            parent_uid = validate_uid(parent_uid)
    except UsageError as error:
        raise ConfigError(f"{where}: {error.message}") from None
    return Persona(name, profile, rules, expires, parent_uid)


def personas_of(config: Config, profile: Profile) -> dict[str, Persona]:
    """Every persona of a profile, by name."""
    return {
        name: from_table(
            profile.name, name, table, f"{config.path}: profiles.{profile.name}.personas.{name}"
        )
        for name, table in sorted(profile.personas.items())
    }


def find_persona(config: Config, profile: Profile, name: str) -> Persona:
    personas = personas_of(config, profile)
    if name in personas:
        return personas[name]
    known = ", ".join(personas) or "none yet"
    raise ConfigError(
        f"no persona {name!r} in profile {profile.name!r} (known: {known})",
        hint=f"add it: meilichat persona add {name} --index 'INDEX:FILTER'",
    )


def save_persona(config_path: Any, persona: Persona, *, warn: Warn, replace_existing: bool) -> bool:
    """Store a persona in its profile; returns whether one of that name was replaced."""
    with edit_config(config_path, warn=warn) as config:
        profile = config.get_profile(persona.profile)
        existed = persona.name in profile.personas
        if existed and not replace_existing:
            raise UsageError(
                f"persona {persona.name!r} already exists in profile {profile.name!r}",
                hint="pass --replace to overwrite it, or `meilichat persona rm` it first",
            )
        personas = {**profile.personas, persona.name: persona.table()}
        config.with_profile(profile.replace(personas=personas))
    return existed


def remove_persona(config_path: Any, profile_name: str, name: str, *, warn: Warn) -> None:
    with edit_config(config_path, warn=warn) as config:
        profile = config.get_profile(profile_name)
        find_persona(config, profile, name)
        personas = {k: v for k, v in profile.personas.items() if k != name}
        config.with_profile(profile.replace(personas=personas))


def persona_connection(
    environ: Mapping[str, str],
    connection: Connection,
    name: str,
    *,
    warn: Warn,
    now: float | None = None,
) -> Connection:
    """The connection that chats as persona `name`: a token signed for this run, from the
    persona's rules, with the profile's key as the parent, sent as the bearer."""
    persona = load_persona(environ, connection, name, warn=warn)
    return connection_as(connection, persona, now=now)


def load_persona(
    environ: Mapping[str, str], connection: Connection, name: str, *, warn: Warn
) -> Persona:
    validate_name(name)
    if connection.profile is None:
        raise ConfigError(
            f"--as {name}: personas belong to a profile, and no profile is in use",
            hint="pass -p PROFILE (personas are added with `meilichat persona add`)",
        )
    config = load_config(paths_from_env(environ).config_file, warn=warn)
    return find_persona(config, config.get_profile(connection.profile), name)


def connection_as(
    connection: Connection, persona: Persona, *, now: float | None = None
) -> Connection:
    parent_key = connection.api_key
    if parent_key is None:
        raise ConfigError(
            f"--as {persona.name}: no key to sign the tenant token with",
            hint="the profile's key is the parent key: `meilichat key set`, or MEILICHAT_API_KEY",
        )
    if looks_like_token(parent_key):
        raise ConfigError(
            f"--as {persona.name}: the key in use ({connection.api_key_source}) is itself a"
            " tenant token, and a token cannot sign another",
            hint="use an API key holding `search` and `chatCompletions` as the profile's key",
        )
    token = sign(persona.claims(now=now), parent_key)
    return connection.replace(
        api_key=token,
        api_key_source=f"tenant token of persona {persona.name}",
        persona=persona.name,
    )
