"""config.toml: named profiles, the default profile and a few global settings. Never a secret.

    default_profile = "local"
    save_history = true
    # key_store = "keyring"            # optional: keep keys in the system keyring

    [profiles.local]
    url = "http://127.0.0.1:7700"
    workspace = "movies"
    model = "gpt-4o-mini"
    # key_command = "pass show meili"  # optional: a command whose first stdout line is the key
    # key_store = "file"               # optional: per-profile override
    # ca_bundle = "/path/ca.pem"       # optional: CA certificates for this server
    # insecure = false                 # optional: skip TLS verification (not recommended)

Reading goes through meilichat_cli.local.toml_file (tomllib). A UTF-8 BOM is accepted; an empty file
means no profiles. Syntax errors name the file, line and column; invalid UTF-8 names the byte
offset; wrong types name the key path. Unknown keys give a warning and are kept when the file is
rewritten. A rewrite edits the existing text only where values changed (toml_file.update_toml),
so the user's comments, blank lines and key order survive. A file that fails to load is never
written: every change loads first, under the lock, and stops on error.

Imports: standard library and meilichat_cli.{errors, local.files, local.toml_file}.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from meilichat_cli.errors import ConfigError, UsageError
from meilichat_cli.local.files import atomic_write, file_lock
from meilichat_cli.local.toml_file import (
    fix_by_hand_hint,
    load_toml_file,
    read_toml_text,
    update_toml,
)
from meilichat_cli.values import FrozenValue, Value

Warn = Callable[[str], None]

KEY_STORES = ("file", "keyring")
CONFIG_FILE_MODE = 0o600

# Patterns as text: `re` compiles (and caches) them on first use; a run whose settings come
# from the environment reads no profile and never needs them.
_PROFILE_NAME = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
_PLAIN_KEY = r"[A-Za-z0-9_-]{1,64}"
_CONTROL_CHARS = r"[\x00-\x1f\x7f-\x9f]"


# What two profiles may differ in and still be the same connection.
_UNCOMPARED = frozenset({"personas", "extra"})


class Profile(FrozenValue):
    """One named connection. Only `url` is required. Equality and the hash leave out
    `personas` and `extra`."""

    __slots__ = (
        "ca_bundle",
        "extra",
        "insecure",
        "key_command",
        "key_store",
        "model",
        "name",
        "personas",
        "url",
        "workspace",
    )
    name: str
    url: str
    workspace: str | None
    model: str | None
    key_command: str | None
    key_store: str | None
    ca_bundle: str | None
    insecure: bool
    # Named scopes to chat as (`persona add`): name -> table, checked by meilichat_cli.tenancy.
    personas: dict[str, Any]
    # Keys this version does not know, kept verbatim so a newer meilichat's settings survive.
    extra: dict[str, Any]

    def __init__(
        self,
        name: str,
        url: str,
        workspace: str | None = None,
        model: str | None = None,
        key_command: str | None = None,
        key_store: str | None = None,
        ca_bundle: str | None = None,
        insecure: bool = False,
        personas: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self._set(
            name=name,
            url=url,
            workspace=workspace,
            model=model,
            key_command=key_command,
            key_store=key_store,
            ca_bundle=ca_bundle,
            insecure=insecure,
            personas={} if personas is None else personas,
            extra={} if extra is None else extra,
        )

    def _fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._field_names if name not in _UNCOMPARED)


class Config(Value):
    """The whole config file, as loaded; mutate it inside `edit_config`."""

    __slots__ = ("default_profile", "extra", "key_store", "path", "profiles", "save_history")

    def __init__(
        self,
        path: Path,
        profiles: dict[str, Profile] | None = None,
        default_profile: str | None = None,
        save_history: bool = True,
        key_store: str = "file",
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.path = path
        self.profiles: dict[str, Profile] = {} if profiles is None else profiles
        self.default_profile = default_profile
        self.save_history = save_history
        self.key_store = key_store
        self.extra: dict[str, Any] = {} if extra is None else extra

    def profile_names(self) -> list[str]:
        return sorted(self.profiles)

    def get_profile(self, name: str) -> Profile:
        """The named profile, or ConfigError listing the known ones (exit 2)."""
        try:
            return self.profiles[name]
        except KeyError:
            raise unknown_profile_error(name, self.profile_names()) from None

    def key_store_for(self, profile: Profile) -> str:
        return profile.key_store or self.key_store

    def with_profile(self, profile: Profile) -> None:
        self.profiles[profile.name] = profile


def unknown_profile_error(name: str, known: list[str]) -> ConfigError:
    if known:
        return ConfigError(f"Unknown profile {name!r} (known: {', '.join(known)})")
    return ConfigError(
        f"Unknown profile {name!r} (no profiles configured)",
        hint="run `meilichat profile add NAME --url URL`",
    )


def validate_profile_name(name: str) -> str:
    """Profile names become TOML keys and keyring entries: keep them plain."""
    if not re.fullmatch(_PROFILE_NAME, name):
        raise UsageError(
            f"invalid profile name {_show(name)}: profile names use letters, digits, '-' and '_'"
            " and start with a letter or digit (max 64)"
        )
    return name


# `meilichat demo` saves its conversations under this profile name (chat/recorder.py): a
# saved profile of the same name would share their history, and `-c` could not tell them
# apart. New profiles may not take it; one already in config.toml keeps working, with a
# warning (`reserved_name_warning`) until it is renamed.
DEMO_PROFILE = "demo"


def validate_new_profile_name(name: str) -> str:
    """A name for a profile about to be created: a valid name, and not a reserved one."""
    validate_profile_name(name)
    if name == DEMO_PROFILE:
        raise UsageError(
            f"the profile name {DEMO_PROFILE!r} is reserved: `meilichat demo` saves its"
            " conversations under it",
            hint="choose another name, e.g. demo-server",
        )
    return name


def reserved_name_warning(name: str) -> str | None:
    """What to tell the user of an existing profile with a reserved name (None if it has
    none). Such a profile, created before the name was reserved, keeps working."""
    if name != DEMO_PROFILE:
        return None
    return (
        f"profile {DEMO_PROFILE!r} has the name `meilichat demo` saves its conversations"
        " under, so history mixes the two; rename it:"
        f" meilichat profile rename {DEMO_PROFILE} NEW-NAME"
    )


def load_config(path: Path, *, warn: Warn) -> Config:
    """Load config.toml; a missing or empty file is a config with no profiles."""
    data = load_toml_file(path)
    return _config_from_data(path, data, warn)


@contextlib.contextmanager
def edit_config(path: Path, *, warn: Warn) -> Iterator[Config]:
    """Load under the lock, let the caller change the config, write it back atomically.

    Nothing is written when loading fails or the block raises.
    """
    with file_lock(path):
        config = load_config(path, warn=warn)
        yield config
        save_config(config)


def save_config(config: Config) -> None:
    """Write `config` to its path atomically, keeping the layout and comments of the file there.

    Call it under `file_lock(config.path)`, after the file has loaded.
    """
    text = render_config(config, original=read_toml_text(config.path))
    atomic_write(config.path, text.encode("utf-8"), mode=CONFIG_FILE_MODE)


def render_config(config: Config, *, original: str | None = None) -> str:
    """The text of config.toml for `config`: `original` edited where it differs, or a new file."""
    return update_toml(original, config_document(config))


def config_document(config: Config) -> dict[str, Any]:
    """`config` as TOML data, in the order a new file is written."""
    document: dict[str, Any] = {}
    if config.default_profile is not None:
        document["default_profile"] = config.default_profile
    document["save_history"] = config.save_history
    if config.key_store != "file":
        document["key_store"] = config.key_store
    for key, value in config.extra.items():
        if key not in document and key != "profiles":
            document[key] = value
    profiles: dict[str, Any] = {}
    for name in sorted(config.profiles):
        profiles[name] = _profile_table(config.profiles[name])
    document["profiles"] = profiles
    return document


def _profile_table(profile: Profile) -> dict[str, Any]:
    table: dict[str, Any] = {"url": profile.url}
    optional = {
        "workspace": profile.workspace,
        "model": profile.model,
        "key_command": profile.key_command,
        "key_store": profile.key_store,
        "ca_bundle": profile.ca_bundle,
    }
    table.update({key: value for key, value in optional.items() if value is not None})
    if profile.insecure:
        table["insecure"] = True
    if profile.personas:
        table["personas"] = profile.personas
    for key, value in profile.extra.items():
        table.setdefault(key, value)
    return table


# --- checking the shape ---------------------------------------------------------------------------

_GLOBAL_KEYS = ("default_profile", "save_history", "key_store", "profiles")
_PROFILE_KEYS = (
    "url",
    "workspace",
    "model",
    "key_command",
    "key_store",
    "ca_bundle",
    "insecure",
    "personas",
)


class _Checker:
    """Type checks with errors that name the file and the key path."""

    def __init__(self, path: Path, warn: Warn) -> None:
        self.path = path
        self.warn = warn

    def fail(self, key_path: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key_path} {problem}", hint=fix_by_hand_hint(self.path))

    def string(self, table: dict[str, Any], key: str, key_path: str) -> str | None:
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(key_path, "must be a string")
        if re.search(_CONTROL_CHARS, value):
            raise self.fail(key_path, "must not contain control characters")
        return value

    def boolean(self, table: dict[str, Any], key: str, key_path: str, default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key_path, "must be true or false")
        return value

    def tables(self, table: dict[str, Any], key: str, key_path: str) -> dict[str, Any]:
        value = table.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise self.fail(key_path, "must be a table of tables ([…personas.NAME])")
        return value

    def key_store(self, table: dict[str, Any], key_path: str) -> str | None:
        value = self.string(table, "key_store", key_path)
        if value is not None and value not in KEY_STORES:
            raise self.fail(key_path, f"must be one of: {', '.join(map(repr, KEY_STORES))}")
        return value

    def unknown(self, table: dict[str, Any], known: tuple[str, ...], prefix: str) -> dict[str, Any]:
        extra = {key: value for key, value in table.items() if key not in known}
        for key in extra:
            import difflib  # only for a file with a key meilichat does not know

            close = difflib.get_close_matches(key, known, n=1)
            suggestion = f" (did you mean {close[0]!r}?)" if close else ""
            self.warn(
                f"{self.path}: unknown key {prefix}{_key_name(key)} ignored{suggestion}; it is kept"
                " when meilichat rewrites the file"
            )
        return extra


def _config_from_data(path: Path, data: dict[str, Any], warn: Warn) -> Config:
    check = _Checker(path, warn)
    extra = check.unknown(data, _GLOBAL_KEYS, "")
    raw_profiles = data.get("profiles", {})
    if not isinstance(raw_profiles, dict):
        raise check.fail("profiles", "must be a table ([profiles.NAME] sections)")
    profiles: dict[str, Profile] = {}
    for name, table in raw_profiles.items():
        profiles[name] = _profile_from_table(check, name, table)
    default_profile = check.string(data, "default_profile", "default_profile")
    return Config(
        path=path,
        profiles=profiles,
        default_profile=default_profile,
        save_history=check.boolean(data, "save_history", "save_history", True),
        key_store=check.key_store(data, "key_store") or "file",
        extra=extra,
    )


def _profile_from_table(check: _Checker, name: str, table: Any) -> Profile:
    if not re.fullmatch(_PROFILE_NAME, name):
        raise check.fail(
            f"profiles.{_show(name)}",
            "is not a valid profile name (letters, digits, '-' and '_', max 64)",
        )
    prefix = f"profiles.{name}."
    if not isinstance(table, dict):
        raise check.fail(f"profiles.{name}", "must be a table")
    url = check.string(table, "url", prefix + "url")
    if url is None:
        raise check.fail(prefix + "url", "is missing")
    return Profile(
        name=name,
        url=url,
        workspace=check.string(table, "workspace", prefix + "workspace"),
        model=check.string(table, "model", prefix + "model"),
        key_command=check.string(table, "key_command", prefix + "key_command"),
        key_store=check.key_store(table, prefix + "key_store"),
        ca_bundle=check.string(table, "ca_bundle", prefix + "ca_bundle"),
        insecure=check.boolean(table, "insecure", prefix + "insecure", False),
        personas=check.tables(table, "personas", prefix + "personas"),
        extra=check.unknown(table, _PROFILE_KEYS, prefix),
    )


def _key_name(key: str) -> str:
    return key if re.fullmatch(_PLAIN_KEY, key) else _show(key)


def _show(text: str, limit: int = 40) -> str:
    """A user-supplied name, quoted with control characters escaped and long ones cut."""
    shown = repr(text[:limit])
    return shown + "…" if len(text) > limit else shown


__all__ = [
    "DEMO_PROFILE",
    "KEY_STORES",
    "Config",
    "Profile",
    "edit_config",
    "load_config",
    "render_config",
    "reserved_name_warning",
    "save_config",
    "unknown_profile_error",
    "validate_new_profile_name",
    "validate_profile_name",
]
