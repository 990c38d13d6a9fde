"""Changes to profiles and their keys, each one a locked read-modify-write of config.toml.

The `profile` and `key` commands are thin layers over these functions: they parse options and
print; everything that decides (validation, the default profile, removing a key with its
profile) happens here, raises meilichat errors and reports through `warn`.

Lock order, everywhere: config.toml's lock, then credentials.toml's. A config file that fails
to load stops every change before anything is written.

Imports: standard library and meilichat_cli core modules (config, credentials, settings, paths,
storage, errors). No typer, no printing.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from meilichat_cli.errors import ConfigError, UsageError
from meilichat_cli.local.config import (
    KEY_STORES,
    Config,
    Profile,
    edit_config,
    load_config,
    validate_new_profile_name,
)
from meilichat_cli.local.connection import (
    choose_profile,
    is_loopback_host,
    validate_url,
    validate_workspace,
)
from meilichat_cli.local.credentials import (
    StoredKey,
    delete_profile_key,
    keyring_installed,
    read_profile_key,
    store_profile_key,
)
from meilichat_cli.local.files import file_lock
from meilichat_cli.local.paths import Paths

Warn = Callable[[str], None]

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class ProfileFields:
    """Values given on the command line; None means "not given", "" means "clear it"."""

    url: str | None = None
    workspace: str | None = None
    model: str | None = None
    key_command: str | None = None
    key_store: str | None = None
    ca_bundle: str | None = None
    insecure: bool | None = None

    def is_empty(self) -> bool:
        return all(value is None for value in vars(self).values())


@dataclass(frozen=True)
class Removal:
    profile: Profile
    key_removed_from: list[str]
    new_default: str | None
    was_default: bool


def select_profile(config: Config, requested: str | None, env: Mapping[str, str]) -> Profile:
    """The profile a `key` or `profile show` command is about, chosen as every command
    chooses it (`choose_profile`); these commands need one, so none is an error."""
    chosen = choose_profile(config, requested, env)
    if chosen is not None:
        return chosen
    if not config.profiles:
        raise ConfigError(
            "no profile configured",
            hint="run `meilichat profile add NAME --url URL` (or try `meilichat demo`)",
        )
    raise ConfigError(
        f"no default profile; pass --profile NAME (known: {', '.join(config.profile_names())})",
        hint="or run `meilichat profile use NAME`",
    )


def read_config(paths: Paths, *, warn: Warn) -> Config:
    return load_config(paths.config_file, warn=warn)


def add_profile(
    paths: Paths, name: str, fields: ProfileFields, *, make_default: bool, warn: Warn
) -> bool:
    """Add a new profile; returns True when it became the default (made so, or there was none)."""
    validate_new_profile_name(name)
    if fields.url is None:
        raise UsageError("--url is required")
    profile = _apply(Profile(name=name, url=fields.url), fields, warn)
    with edit_config(paths.config_file, warn=warn) as config:
        if name in config.profiles:
            raise UsageError(
                f"profile {name!r} already exists",
                hint=f"change it with `meilichat profile set {name} --url URL ...`",
            )
        config.with_profile(profile)
        becomes_default = make_default or config.default_profile not in config.profiles
        if becomes_default:
            config.default_profile = name
    return becomes_default


def update_profile(paths: Paths, name: str, fields: ProfileFields, *, warn: Warn) -> Profile:
    if fields.is_empty():
        raise UsageError(
            "nothing to change",
            hint="pass --url, --workspace, --model, --key-command, --key-store, --ca-bundle"
            " or --insecure/--no-insecure",
        )
    with edit_config(paths.config_file, warn=warn) as config:
        updated = _apply(config.get_profile(name), fields, warn)
        config.with_profile(updated)
    return updated


def use_profile(paths: Paths, name: str, *, warn: Warn) -> None:
    with edit_config(paths.config_file, warn=warn) as config:
        config.get_profile(name)
        config.default_profile = name


def remove_profile(paths: Paths, name: str, *, warn: Warn) -> Removal:
    """Remove a profile and its stored key; the only remaining profile becomes the default."""
    with edit_config(paths.config_file, warn=warn) as config:
        profile = config.get_profile(name)
        # The key goes first: if that fails the profile stays, so no secret is left orphaned.
        removed_from = delete_profile_key(config, profile, paths.credentials_file, warn=warn)
        del config.profiles[name]
        was_default = config.default_profile == name
        if was_default or config.default_profile not in config.profiles:
            remaining = config.profile_names()
            config.default_profile = remaining[0] if len(remaining) == 1 else None
        new_default = config.default_profile
    return Removal(profile, removed_from, new_default, was_default)


def rename_profile(paths: Paths, name: str, new_name: str, *, warn: Warn) -> Profile:
    """Give a profile a new name, taking its stored key and its place as the default along.
    Conversations saved in history keep the name they were saved under."""
    validate_new_profile_name(new_name)
    with edit_config(paths.config_file, warn=warn) as config:
        profile = config.get_profile(name)
        if new_name in config.profiles:
            raise UsageError(
                f"profile {new_name!r} already exists",
                hint="choose another name, or remove that profile first:"
                f" meilichat profile remove {new_name}",
            )
        renamed = profile.replace(name=new_name)
        key = None
        if not profile.key_command:  # a key command moves with the profile: nothing stored
            key = read_profile_key(config, profile, paths.credentials_file, warn=warn)
        if key is not None:
            # Stored under the new name before config.toml changes: a failure here leaves
            # the profile as it was, with its key.
            store_profile_key(config, renamed, key.value, paths.credentials_file, warn=warn)
        del config.profiles[name]
        config.with_profile(renamed)
        if config.default_profile == name:
            config.default_profile = new_name
    if key is not None:
        # Only once the new name is saved: the old copy would otherwise be the only one.
        delete_profile_key(config, profile, paths.credentials_file, warn=warn)
    return renamed


def set_key(
    paths: Paths, requested: str | None, env: Mapping[str, str], key: str, *, warn: Warn
) -> tuple[Profile, StoredKey]:
    """Store a key for the chosen profile, which must still exist once the lock is held.

    Holding config.toml's lock means a concurrent `profile remove` cannot leave this key
    behind for a profile that no longer exists.
    """
    with file_lock(paths.config_file):
        config = read_config(paths, warn=warn)
        chosen = select_profile(config, requested, env)
        return chosen, store_profile_key(config, chosen, key, paths.credentials_file, warn=warn)


def remove_key(
    paths: Paths, requested: str | None, env: Mapping[str, str], *, warn: Warn
) -> tuple[Profile, list[str]]:
    """Forget the chosen profile's stored key; returns where one was removed."""
    with file_lock(paths.config_file):
        config = read_config(paths, warn=warn)
        chosen = select_profile(config, requested, env)
        return chosen, delete_profile_key(config, chosen, paths.credentials_file, warn=warn)


def _apply(profile: Profile, fields: ProfileFields, warn: Warn) -> Profile:
    changes: dict[str, object] = {}
    if fields.url is not None:
        changes["url"] = validate_url(fields.url)
        _warn_if_clear_text(changes["url"], warn)
    if fields.workspace is not None:
        changes["workspace"] = validate_workspace(fields.workspace) if fields.workspace else None
    if fields.model is not None:
        changes["model"] = _plain_text("model", fields.model) or None
    if fields.key_command is not None:
        changes["key_command"] = _key_command(fields.key_command) or None
    if fields.key_store is not None:
        changes["key_store"] = _key_store(fields.key_store)
        if changes["key_store"] == "keyring" and not keyring_installed():
            warn(
                "the keyring package is not installed (pip install 'meilichat[keyring]');"
                " until it is, keys are kept in the credentials file"
            )
    if fields.ca_bundle is not None:
        changes["ca_bundle"] = _ca_bundle(fields.ca_bundle) or None
    if fields.insecure is not None:
        changes["insecure"] = fields.insecure
        if fields.insecure:
            warn("TLS certificates will not be verified for this profile (--insecure)")
    return profile.replace(**changes)


def _warn_if_clear_text(url: object, warn: Warn) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(str(url))
    if parts.scheme == "http" and not is_loopback_host(parts.hostname or ""):
        warn(f"keys sent to {url} travel in clear text (http:// to a non-loopback host)")


def _plain_text(option: str, value: str) -> str:
    value = value.strip()
    if _CONTROL_CHARS.search(value):
        raise UsageError(f"--{option} must not contain control characters")
    return value


def _key_command(command: str) -> str:
    command = _plain_text("key-command", command)
    if command:
        try:
            shlex.split(command)
        except ValueError as exc:
            raise UsageError(f"--key-command cannot be parsed: {exc}") from None
    return command


def _key_store(value: str) -> str | None:
    if value == "":
        return None
    if value not in KEY_STORES:
        raise UsageError(f"--key-store must be one of: {', '.join(KEY_STORES)}")
    return value


def _ca_bundle(path: str) -> str:
    path = _plain_text("ca-bundle", path)
    if not path:
        return ""
    absolute = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(absolute):
        raise UsageError(f"--ca-bundle: no such file: {absolute}")
    return absolute
