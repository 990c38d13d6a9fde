"""Key stores: credentials.toml, the bounded keyring, key_command, masking and validation."""

from __future__ import annotations

import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from meilichat_cli.errors import ConfigError, UsageError
from meilichat_cli.local import credentials
from meilichat_cli.local.config import Config, Profile
from meilichat_cli.local.connection import validate_api_key
from meilichat_cli.local.credentials import (
    CredentialsFile,
    StoredKey,
    delete_profile_key,
    mask_key,
    read_profile_key,
    run_key_command,
    store_profile_key,
)

SECRET = "sk-SENTINEL-0123456789-abcdefghij"


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "config" / "credentials.toml"


@pytest.fixture(autouse=True)
def _fresh_mode_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(credentials, "_warned_loose_modes", set())


def python_command(tmp_path: Path, body: str) -> str:
    script = tmp_path / "key_command.py"
    script.write_text(body)
    return f"{sys.executable} {script}"


# --- masking and validation ------------------------------------------------------------------


def test_mask_shows_only_the_ends_of_long_keys() -> None:
    assert mask_key(SECRET) == "sk-S…ij"
    assert SECRET not in mask_key(SECRET)


@pytest.mark.parametrize("key", ["", "a", "short-key", "x" * 19])
def test_mask_never_reveals_short_keys(key: str) -> None:
    assert mask_key(key) == "****"


def test_validate_strips_and_refuses_without_echo() -> None:
    assert validate_api_key(f"  {SECRET}\n") == SECRET
    with pytest.raises(UsageError, match="empty key refused"):
        validate_api_key(" \n")
    for bad in [f"{SECRET} tail", f"{SECRET}\x1b", f"{SECRET}é"]:
        with pytest.raises(UsageError) as caught:
            validate_api_key(bad)
        assert SECRET not in caught.value.message


def test_stored_key_repr_is_masked() -> None:
    assert SECRET not in repr(StoredKey(SECRET, "keyring", "x"))


# --- credentials.toml --------------------------------------------------------------------------


def test_file_round_trip_is_private(key_file: Path) -> None:
    store = CredentialsFile(key_file, warn=pytest.fail)
    assert store.get("a") is None
    store.set("a", SECRET)
    store.set("b", "other-key")
    store.set("a", SECRET + "2")
    assert (store.get("a"), store.get("b")) == (SECRET + "2", "other-key")
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.parent.stat().st_mode & 0o777 == 0o700
    assert store.remove("a") is True
    assert store.remove("a") is False
    assert store.get("a") is None
    assert store.get("b") == "other-key"


def test_remove_without_a_file_creates_nothing(key_file: Path) -> None:
    assert CredentialsFile(key_file, warn=pytest.fail).remove("a") is False
    assert not key_file.parent.exists()


def test_a_loose_mode_works_and_warns_once_with_the_fix(key_file: Path) -> None:
    CredentialsFile(key_file, warn=pytest.fail).set("a", SECRET)
    key_file.chmod(0o644)
    warnings: list[str] = []
    store = CredentialsFile(key_file, warn=warnings.append)
    assert store.get("a") == SECRET
    assert store.get("a") == SECRET
    assert warnings == [
        f"{key_file} can be read by other users (mode 0644); fix it with: chmod 600 {key_file}"
    ]
    assert SECRET not in warnings[0]


def test_a_misspelt_key_name_in_the_credentials_file_warns_with_a_suggestion(
    key_file: Path,
) -> None:
    # A hand-edited `apikey = "…"` otherwise reads as "No API key for profile 'a'".
    key_file.parent.mkdir(mode=0o700)
    key_file.write_text(f'[profiles.a]\napikey = "{SECRET}"\n')
    key_file.chmod(0o600)
    warnings: list[str] = []
    store = CredentialsFile(key_file, warn=warnings.append)
    assert store.get("a") is None
    assert warnings == [
        f"{key_file}: unknown key profiles.a.apikey ignored (did you mean 'api_key'?)"
    ]
    assert SECRET not in warnings[0]


def test_a_rewrite_tightens_the_mode(key_file: Path) -> None:
    CredentialsFile(key_file, warn=pytest.fail).set("a", SECRET)
    key_file.chmod(0o644)
    CredentialsFile(key_file, warn=lambda _m: None).set("b", "other-key")
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_corrupt_credentials_file_is_named_and_left_alone(key_file: Path) -> None:
    key_file.parent.mkdir(mode=0o700)
    key_file.write_text(f'[profiles.a]\napi_key = "{SECRET}\n')
    key_file.chmod(0o600)
    before = key_file.read_bytes()
    store = CredentialsFile(key_file, warn=pytest.fail)
    with pytest.raises(ConfigError) as caught:
        store.set("b", "other-key")
    assert str(key_file) in caught.value.message
    assert SECRET not in caught.value.message
    assert key_file.read_bytes() == before


def test_wrong_type_in_credentials_file(key_file: Path) -> None:
    key_file.parent.mkdir(mode=0o700)
    key_file.write_text("[profiles.a]\napi_key = 1\n")
    key_file.chmod(0o600)
    with pytest.raises(ConfigError, match=r"profiles\.a\.api_key must be a string"):
        CredentialsFile(key_file, warn=pytest.fail).get("a")


# --- key_command -------------------------------------------------------------------------------


def test_key_command_first_line_stripped(tmp_path: Path) -> None:
    command = python_command(tmp_path, f"print('  {SECRET}  ')\nprint('url: x')\n")
    assert run_key_command("prod", command) == SECRET


def test_key_command_does_not_read_our_stdin(tmp_path: Path) -> None:
    command = python_command(tmp_path, f"import sys\nsys.stdin.read()\nprint('{SECRET}')\n")
    assert run_key_command("prod", command, timeout=10) == SECRET


def test_key_command_failure_never_echoes_output(tmp_path: Path) -> None:
    command = python_command(
        tmp_path, f"import sys\nprint('{SECRET}')\nprint('{SECRET}', file=sys.stderr)\nexit(3)\n"
    )
    with pytest.raises(ConfigError) as caught:
        run_key_command("prod", command)
    assert "key_command of profile 'prod' failed (exit status 3)" in caught.value.message
    assert SECRET not in caught.value.message
    assert SECRET not in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("command", "complaint"),
    [
        ("", "is empty"),
        ("'unclosed", "cannot be parsed"),
        ("/nonexistent/meili-pass show", "program '/nonexistent/meili-pass' not found"),
        (f"{sys.executable} -c pass", "printed nothing"),
        (f"{sys.executable} -c \"print('two words')\"", "spaces, control or non-ASCII"),
    ],
)
def test_key_command_errors_name_the_profile(command: str, complaint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        run_key_command("prod", command)
    assert "key_command of profile 'prod'" in caught.value.message
    assert complaint in caught.value.message


def test_key_command_timeout(tmp_path: Path) -> None:
    command = python_command(tmp_path, "import time\ntime.sleep(30)\n")
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"did not finish within 0\.3 s"):
        run_key_command("prod", command, timeout=0.3)
    assert time.monotonic() - started < 10


def test_key_command_wins_over_stored_keys(tmp_path: Path, key_file: Path) -> None:
    CredentialsFile(key_file, warn=pytest.fail).set("prod", "stored-key")
    command = python_command(tmp_path, f"print('{SECRET}')\n")
    profile = Profile("prod", "https://m", key_command=command)
    stored = read_profile_key(Config(tmp_path / "c.toml"), profile, key_file, warn=pytest.fail)
    assert stored == StoredKey(SECRET, "key_command", command)


# --- keyring (a fake module: the real package is optional) ----------------------------------------


class FakeKeyring(types.ModuleType):
    def __init__(self) -> None:
        super().__init__("keyring")
        self.passwords: dict[tuple[str, str], str] = {}
        self.block = threading.Event()
        self.blocking = False
        self.failing = False
        errors = types.ModuleType("keyring.errors")

        class PasswordDeleteError(Exception):
            pass

        errors.PasswordDeleteError = PasswordDeleteError  # type: ignore[attr-defined]
        self.errors = errors

    def _gate(self) -> None:
        if self.blocking:
            self.block.wait(30)  # a locked keyring: never answers in time
        if self.failing:
            raise RuntimeError(f"backend exploded near {SECRET}")

    def get_password(self, service: str, user: str) -> str | None:
        self._gate()
        return self.passwords.get((service, user))

    def set_password(self, service: str, user: str, password: str) -> None:
        self._gate()
        self.passwords[(service, user)] = password

    def delete_password(self, service: str, user: str) -> None:
        self._gate()
        if (service, user) not in self.passwords:
            raise self.errors.PasswordDeleteError(user)
        del self.passwords[(service, user)]


@pytest.fixture
def fake_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKeyring]:
    fake = FakeKeyring()
    monkeypatch.setitem(sys.modules, "keyring", fake)
    monkeypatch.setitem(sys.modules, "keyring.errors", fake.errors)
    monkeypatch.setattr(credentials, "keyring_installed", lambda: True)
    monkeypatch.setattr(credentials, "KEYRING_TIMEOUT_SECONDS", 0.2)
    yield fake
    fake.block.set()


@pytest.fixture
def keyring_config(tmp_path: Path) -> tuple[Config, Profile]:
    profile = Profile("prod", "https://m")
    return Config(tmp_path / "config.toml", {"prod": profile}, key_store="keyring"), profile


def test_keyring_store_read_delete(
    fake_keyring: FakeKeyring, keyring_config: tuple[Config, Profile], key_file: Path
) -> None:
    config, profile = keyring_config
    CredentialsFile(key_file, warn=pytest.fail).set("prod", "stale-file-copy")
    stored = store_profile_key(config, profile, SECRET, key_file, warn=pytest.fail)
    assert stored.source == "keyring"
    assert fake_keyring.passwords == {("meilichat", "prod"): SECRET}
    assert CredentialsFile(key_file, warn=pytest.fail).get("prod") is None
    read = read_profile_key(config, profile, key_file, warn=pytest.fail)
    assert read is not None
    assert (read.value, read.source) == (SECRET, "keyring")
    removed = delete_profile_key(config, profile, key_file, warn=pytest.fail)
    assert removed == ["system keyring (service 'meilichat')"]
    assert fake_keyring.passwords == {}


def test_a_locked_keyring_falls_back_in_bounded_time(
    fake_keyring: FakeKeyring, keyring_config: tuple[Config, Profile], key_file: Path
) -> None:
    config, profile = keyring_config
    fake_keyring.blocking = True
    notices: list[str] = []
    started = time.monotonic()
    stored = store_profile_key(config, profile, SECRET, key_file, warn=notices.append)
    read = read_profile_key(config, profile, key_file, warn=notices.append)
    assert time.monotonic() - started < 2
    assert read is not None
    assert (stored.source, read.source, read.value) == ("credentials file",) * 2 + (SECRET,)
    assert notices == [
        f"the system keyring did not answer within 0.2 s; storing the key in {key_file} instead",
        f"the system keyring did not answer within 0.2 s; using the key file {key_file}",
    ]


def test_a_failing_keyring_names_only_the_error_type(
    fake_keyring: FakeKeyring, keyring_config: tuple[Config, Profile], key_file: Path
) -> None:
    config, profile = keyring_config
    fake_keyring.failing = True
    notices: list[str] = []
    stored = store_profile_key(config, profile, SECRET, key_file, warn=notices.append)
    assert stored.source == "credentials file"
    assert notices == [
        f"the system keyring failed (RuntimeError); storing the key in {key_file} instead"
    ]


def test_a_keyring_that_is_not_installed_falls_back(
    keyring_config: tuple[Config, Profile], key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(credentials, "keyring_installed", lambda: False)
    config, profile = keyring_config
    notices: list[str] = []
    stored = store_profile_key(config, profile, SECRET, key_file, warn=notices.append)
    assert stored.source == "credentials file"
    assert notices == [
        f"the keyring package is not installed; storing the key in {key_file} instead"
    ]


def test_file_store_never_touches_the_keyring(
    fake_keyring: FakeKeyring, tmp_path: Path, key_file: Path
) -> None:
    fake_keyring.failing = True
    profile = Profile("prod", "https://m")
    config = Config(tmp_path / "config.toml", {"prod": profile})
    stored = store_profile_key(config, profile, SECRET, key_file, warn=pytest.fail)
    assert stored.source == "credentials file"
    assert delete_profile_key(config, profile, key_file, warn=pytest.fail) == [str(key_file)]
