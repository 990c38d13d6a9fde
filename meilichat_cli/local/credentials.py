"""API keys: where they are kept, how they are read, and how they are shown (masked).

A profile's key comes from, in order:
1. its `key_command` (e.g. `pass show meili/prod`): run without a shell, stdin closed, bounded
   in time; the first line of its stdout, stripped, is the key. Its output is never echoed.
2. the system keyring, when `key_store = "keyring"` (per profile or global) and the optional
   `keyring` package is installed. Every keyring call runs in a daemon thread and is abandoned
   after KEYRING_TIMEOUT_SECONDS (a locked keyring on a headless SSH session blocks forever);
   meilichat then falls back to the key file with a notice naming it.
3. credentials.toml beside config.toml: `[profiles.NAME] api_key = "..."`, created 0600 in a
   0700 directory, written atomically under a lock. A looser mode works but warns once with
   the `chmod 600` fix.

No message raised or warned here ever contains a key, nor a key command's output.

Imports: standard library and meilichat_cli.{errors, local.config, local.connection (the key
check), local.files, local.toml_file}; `local.connection` imports this module only to read a
profile's stored key. The keyring package is imported lazily inside the bounded thread.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from meilichat_cli.errors import ConfigError, KeyringUnavailable, UsageError
from meilichat_cli.local.config import Config, Profile
from meilichat_cli.local.connection import validate_api_key
from meilichat_cli.local.files import PRIVATE_FILE_MODE, atomic_write, file_lock
from meilichat_cli.local.toml_file import load_toml_file, read_toml_text, update_toml
from meilichat_cli.text.sanitize import sanitize_line

Warn = Callable[[str], None]
T = TypeVar("T")

KEYRING_SERVICE = "meilichat"
KEYRING_TIMEOUT_SECONDS = 3.0
KEY_COMMAND_TIMEOUT_SECONDS = 30.0

SOURCE_FILE = "credentials file"
SOURCE_KEYRING = "keyring"
SOURCE_COMMAND = "key_command"

_MASK_MIN_LENGTH = 20
_warned_loose_modes: set[str] = set()


@dataclass(frozen=True)
class StoredKey:
    """A key and where it came from (`source` is one of the SOURCE_* names)."""

    value: str
    source: str
    location: str

    def __repr__(self) -> str:  # keep the key out of tracebacks and debug dumps
        return f"StoredKey(value={mask_key(self.value)!r}, source={self.source!r})"


def mask_key(key: str) -> str:
    """Show enough of a key to recognise it, never enough to use it; short keys show nothing."""
    if len(key) >= _MASK_MIN_LENGTH:
        return f"{key[:4]}…{key[-2:]}"
    return "****"


# --- credentials.toml -----------------------------------------------------------------------------


class CredentialsFile:
    """credentials.toml: `[profiles.NAME] api_key = "..."`, mode 0600."""

    def __init__(self, path: Path, *, warn: Warn) -> None:
        self.path = path
        self.warn = warn

    def get(self, profile: str) -> str | None:
        data = self._load()
        keys = self._keys(data)
        self._warn_unknown(data, profile)
        return keys.get(profile)

    def _warn_unknown(self, data: dict[str, Any], profile: str) -> None:
        """Name a misspelt key of this profile's table (`apikey = …`), which would otherwise
        read as no key at all. Only names are shown, never a value."""
        table = data.get("profiles", {}).get(profile, {})
        for name in table:
            if name == "api_key":
                continue
            import difflib  # only for a file with a key meilichat does not know

            close = difflib.get_close_matches(name, ["api_key"], n=1)
            suggestion = f" (did you mean {close[0]!r}?)" if close else ""
            shown = name if name.replace("_", "").replace("-", "").isalnum() else repr(name)
            self.warn(
                f"{self.path}: unknown key profiles.{profile}.{sanitize_line(shown)} ignored"
                f"{suggestion}"
            )

    def set(self, profile: str, key: str) -> None:
        with file_lock(self.path):
            data = self._load()
            self._keys(data)  # refuses a malformed file before anything is written
            profiles = data.setdefault("profiles", {})
            profiles[profile] = {**profiles.get(profile, {}), "api_key": key}
            self._save(data)

    def remove(self, profile: str) -> bool:
        if not self.path.exists():
            return False
        with file_lock(self.path):
            data = self._load()
            if profile not in self._keys(data):
                return False
            del data["profiles"][profile]
            self._save(data)
            return True

    def _load(self) -> dict[str, Any]:
        data = load_toml_file(self.path)
        self._check_mode()
        return data

    def _keys(self, data: dict[str, Any]) -> dict[str, str]:
        profiles = data.get("profiles", {})
        if not isinstance(profiles, dict):
            raise ConfigError(f"{self.path}: profiles must be a table")
        keys: dict[str, str] = {}
        for name, table in profiles.items():
            if not isinstance(table, dict):
                raise ConfigError(f"{self.path}: profiles.{name} must be a table")
            value = table.get("api_key")
            if value is None:
                continue
            if not isinstance(value, str):
                raise ConfigError(f"{self.path}: profiles.{name}.api_key must be a string")
            keys[name] = value
        return keys

    def _save(self, data: dict[str, Any]) -> None:
        # Called under the lock, after _load: the text on disk is what `data` was read from.
        text = update_toml(read_toml_text(self.path), data)
        atomic_write(self.path, text.encode("utf-8"), mode=PRIVATE_FILE_MODE)

    def _check_mode(self) -> None:
        if sys.platform == "win32" or str(self.path) in _warned_loose_modes:
            return
        try:
            mode = stat.S_IMODE(os.stat(self.path).st_mode)
        except OSError:
            return
        if mode & 0o077:
            _warned_loose_modes.add(str(self.path))
            self.warn(
                f"{self.path} can be read by other users (mode {mode:04o}); fix it with:"
                f" chmod 600 {shlex.quote(str(self.path))}"
            )


# --- keyring -----------------------------------------------------------------------------------


def keyring_installed() -> bool:
    return importlib.util.find_spec("keyring") is not None


def keyring_get(profile: str) -> str | None:
    def call() -> str | None:
        import keyring

        value = keyring.get_password(KEYRING_SERVICE, profile)
        return value if isinstance(value, str) else None

    return _bounded(call)


def keyring_set(profile: str, key: str) -> None:
    def call() -> None:
        import keyring

        keyring.set_password(KEYRING_SERVICE, profile, key)

    _bounded(call)


def keyring_delete(profile: str) -> bool:
    def call() -> bool:
        import keyring
        from keyring.errors import PasswordDeleteError

        try:
            keyring.delete_password(KEYRING_SERVICE, profile)
        except PasswordDeleteError:
            return False
        return True

    return _bounded(call)


def _bounded(call: Callable[[], T]) -> T:
    """Run a keyring call in a daemon thread; give up after KEYRING_TIMEOUT_SECONDS.

    A daemon thread stuck in D-Bus does not keep the process alive at exit.
    """
    if not keyring_installed():
        raise KeyringUnavailable("the keyring package is not installed")
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # the thread must never die silently
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="meilichat-keyring", daemon=True)
    thread.start()
    thread.join(KEYRING_TIMEOUT_SECONDS)
    if thread.is_alive():
        raise KeyringUnavailable(
            f"the system keyring did not answer within {KEYRING_TIMEOUT_SECONDS:g} s"
        )
    if "error" in outcome:
        # Only the type name: keyring backends' messages are not ours to vouch for.
        raise KeyringUnavailable(f"the system keyring failed ({type(outcome['error']).__name__})")
    value: T = outcome["value"]
    return value


# --- key_command -------------------------------------------------------------------------------


def run_key_command(
    profile: str, command: str, *, timeout: float = KEY_COMMAND_TIMEOUT_SECONDS
) -> str:
    """Run a profile's key command and return the key (first stdout line, stripped)."""
    where = f"key_command of profile {profile!r}"
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"{where} cannot be parsed: {exc}") from None
    if not argv:
        raise ConfigError(f"{where} is empty")
    try:
        completed = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,  # stdin may carry the user's prompt; never let it be eaten
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise ConfigError(f"{where}: program {argv[0]!r} not found") from None
    except PermissionError:
        raise ConfigError(
            f"{where}: program {argv[0]!r} cannot be run (permission denied)"
        ) from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"{where} did not finish within {timeout:g} s") from None
    except OSError as exc:
        raise ConfigError(
            f"{where} could not start: {exc.strerror or type(exc).__name__}"
        ) from None
    if completed.returncode != 0:
        raise ConfigError(
            f"{where} failed (exit status {completed.returncode}); its output is not shown"
            " because it may contain the key",
            hint="run the command yourself to see what went wrong",
        )
    try:
        text = completed.stdout.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{where} printed something that is not UTF-8 text") from None
    lines = text.strip().splitlines()
    if not lines:
        raise ConfigError(f"{where} printed nothing; its first line of output should be the key")
    try:
        return validate_api_key(lines[0])
    except UsageError as exc:
        raise ConfigError(f"{where}: {exc.message}") from None


# --- one profile's key, wherever it lives --------------------------------------------------------


def read_profile_key(
    config: Config, profile: Profile, credentials_file: Path, *, warn: Warn
) -> StoredKey | None:
    """The key this profile would use, or None; may run its key_command."""
    if profile.key_command:
        from_command = run_key_command(profile.name, profile.key_command)
        return StoredKey(from_command, SOURCE_COMMAND, profile.key_command)
    if config.key_store_for(profile) == "keyring":
        try:
            from_keyring = keyring_get(profile.name)
        except KeyringUnavailable as exc:
            warn(f"{exc}; using the key file {credentials_file}")
        else:
            if from_keyring is not None:
                return StoredKey(from_keyring, SOURCE_KEYRING, _keyring_location())
    from_file = CredentialsFile(credentials_file, warn=warn).get(profile.name)
    if from_file is None:
        return None
    return StoredKey(from_file, SOURCE_FILE, str(credentials_file))


def store_profile_key(
    config: Config, profile: Profile, key: str, credentials_file: Path, *, warn: Warn
) -> StoredKey:
    """Keep `key` for `profile` (keyring when chosen and working, else the file)."""
    store = CredentialsFile(credentials_file, warn=warn)
    if config.key_store_for(profile) == "keyring":
        try:
            keyring_set(profile.name, key)
        except KeyringUnavailable as exc:
            warn(f"{exc}; storing the key in {credentials_file} instead")
        else:
            # A copy left in the file from an earlier fallback would shadow nothing but would
            # still sit on disk: remove it.
            store.remove(profile.name)
            return StoredKey(key, SOURCE_KEYRING, _keyring_location())
    store.set(profile.name, key)
    return StoredKey(key, SOURCE_FILE, str(credentials_file))


def delete_profile_key(
    config: Config, profile: Profile, credentials_file: Path, *, warn: Warn
) -> list[str]:
    """Forget the profile's stored key everywhere; returns where one was removed."""
    removed: list[str] = []
    if config.key_store_for(profile) == "keyring":
        try:
            if keyring_delete(profile.name):
                removed.append(_keyring_location())
        except KeyringUnavailable as exc:
            warn(f"{exc}; the keyring entry for {profile.name!r} (if any) was left in place")
    if CredentialsFile(credentials_file, warn=warn).remove(profile.name):
        removed.append(str(credentials_file))
    return removed


def _keyring_location() -> str:
    return f"system keyring (service {KEYRING_SERVICE!r})"
