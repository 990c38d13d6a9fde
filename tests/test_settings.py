"""Resolution of connection settings: flag > environment > profile > default, and its refusals."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from meilichat_cli.errors import ConfigError, ExitCode, UsageError
from meilichat_cli.local.config import Profile, edit_config
from meilichat_cli.local.connection import (
    DEFAULT_MODEL,
    Connection,
    is_loopback_host,
    resolve_connection,
    validate_url,
    validate_workspace,
)
from meilichat_cli.local.credentials import CredentialsFile
from meilichat_cli.local.paths import paths_from_env

PROD_KEY = "prod-key-0123456789abcdefghij"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "HOME": str(tmp_path / "home"),
        "MEILICHAT_CONFIG_DIR": str(tmp_path / "config"),
        "MEILICHAT_DATA_DIR": str(tmp_path / "data"),
    }


def add_profile(env: dict[str, str], profile: Profile, *, default: bool = False) -> None:
    paths = paths_from_env(env)
    with edit_config(paths.config_file, warn=pytest.fail) as config:
        config.with_profile(profile)
        if default or config.default_profile is None:
            config.default_profile = profile.name


def write_config(env: dict[str, str], text: str) -> Path:
    """config.toml with exactly `text` (what a hand edit leaves); returns its path."""
    config_file = paths_from_env(env).config_file
    config_file.parent.mkdir(parents=True)
    config_file.write_text(text)
    return config_file


def store_key(env: dict[str, str], profile: str, key: str) -> None:
    CredentialsFile(paths_from_env(env).credentials_file, warn=pytest.fail).set(profile, key)


def resolve(env: dict[str, str], **kwargs: Any) -> tuple[Connection, list[str]]:
    warnings: list[str] = []
    return resolve_connection(env, warn=warnings.append, **kwargs), warnings


def test_profile_supplies_everything(env: dict[str, str]) -> None:
    add_profile(env, Profile("prod", "https://meili.example.com", "movies", "gpt-4.1"))
    store_key(env, "prod", PROD_KEY)
    connection, warnings = resolve(env)
    assert connection == Connection(
        profile="prod",
        url="https://meili.example.com",
        api_key=PROD_KEY,
        api_key_source="credentials file",
        workspace="movies",
        model="gpt-4.1",
    )
    assert warnings == []


def test_environment_beats_profile_and_flag_beats_environment(env: dict[str, str]) -> None:
    add_profile(env, Profile("prod", "https://meili.example.com", "movies", "gpt-4.1"))
    env.update(
        {
            "MEILICHAT_WORKSPACE": "books",
            "MEILICHAT_MODEL": "env-model",
            "MEILICHAT_API_KEY": "env-key-abcdefghijklmnop",
        }
    )
    connection, _ = resolve(env)
    assert (connection.workspace, connection.model) == ("books", "env-model")
    assert connection.api_key_source == "MEILICHAT_API_KEY"
    connection, warnings = resolve(env, workspace="music", model="flag-model", api_key="flag-key")
    assert (connection.workspace, connection.model) == ("music", "flag-model")
    assert (connection.api_key, connection.api_key_source) == ("flag-key", "--api-key")
    assert any("process list" in warning for warning in warnings)


def test_built_in_defaults_without_profile(env: dict[str, str]) -> None:
    env["MEILICHAT_URL"] = "http://localhost:7700/"
    connection, warnings = resolve(env)
    assert connection == Connection(
        profile=None,
        url="http://localhost:7700",
        api_key=None,
        api_key_source="none",
        workspace=None,
        model=DEFAULT_MODEL,
    )
    assert warnings == []


def test_empty_environment_values_count_as_unset(env: dict[str, str]) -> None:
    add_profile(env, Profile("prod", "https://meili.example.com", "movies"))
    env.update({"MEILICHAT_URL": "", "MEILICHAT_WORKSPACE": " ", "MEILICHAT_PROFILE": ""})
    connection, _ = resolve(env)
    assert (connection.url, connection.workspace) == ("https://meili.example.com", "movies")


def test_profile_from_environment_and_flag(env: dict[str, str]) -> None:
    add_profile(env, Profile("a", "https://a.example.com"))
    add_profile(env, Profile("b", "https://b.example.com"))
    assert resolve(env)[0].profile == "a"
    env["MEILICHAT_PROFILE"] = "b"
    assert resolve(env)[0].url == "https://b.example.com"
    assert resolve(env, profile="a")[0].url == "https://a.example.com"


def test_stored_key_is_not_sent_to_another_url(env: dict[str, str]) -> None:
    add_profile(env, Profile("prod", "https://meili.example.com"))
    store_key(env, "prod", PROD_KEY)
    connection, warnings = resolve(env, url="https://elsewhere.example.com")
    assert connection.api_key is None
    assert any("not sending the key of profile 'prod'" in warning for warning in warnings)
    assert not any(PROD_KEY in warning for warning in warnings)


def test_key_from_stdin_source_does_not_warn(env: dict[str, str]) -> None:
    env["MEILICHAT_URL"] = "https://meili.example.com"
    warnings: list[str] = []
    connection = resolve_connection(
        env, api_key="piped-key", api_key_source="--api-key-stdin", warn=warnings.append
    )
    assert connection.api_key_source == "--api-key-stdin"
    assert warnings == []


def test_connection_repr_hides_the_key(env: dict[str, str]) -> None:
    env.update({"MEILICHAT_URL": "https://m.example.com", "MEILICHAT_API_KEY": PROD_KEY})
    connection, _ = resolve(env)
    assert PROD_KEY not in repr(connection)
    assert PROD_KEY not in str(connection)


def test_profile_ca_bundle_and_insecure(env: dict[str, str], tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not checked here")
    add_profile(env, Profile("tls", "https://m.example.com", ca_bundle=str(bundle), insecure=True))
    connection, _ = resolve(env)
    assert (connection.ca_bundle, connection.insecure) == (str(bundle), True)
    bundle.unlink()
    with pytest.raises(ConfigError, match="ca_bundle points to a missing file"):
        resolve(env)


def test_key_with_whitespace_from_environment_is_refused_without_echo(
    env: dict[str, str],
) -> None:
    env.update({"MEILICHAT_URL": "https://m.example.com", "MEILICHAT_API_KEY": "sec ret"})
    with pytest.raises(UsageError) as caught:
        resolve(env)
    assert "sec ret" not in caught.value.message
    assert "MEILICHAT_API_KEY" in caught.value.message


def test_no_config_file_is_read_or_created_needlessly(env: dict[str, str]) -> None:
    env["MEILICHAT_URL"] = "https://m.example.com"
    resolve(env)
    assert not Path(env["MEILICHAT_CONFIG_DIR"]).exists()


def test_no_server_configured_names_profile_add(env: dict[str, str]) -> None:
    write_config(env, "")
    with pytest.raises(ConfigError) as caught:
        resolve(env)
    assert caught.value.exit_code == ExitCode.USAGE
    assert "no server configured" in caught.value.message
    assert "meilichat profile add NAME --url URL" in caught.value.message


def test_profiles_without_a_default_say_so(env: dict[str, str]) -> None:
    write_config(env, '[profiles.a]\nurl = "http://127.0.0.1:1"\n')
    with pytest.raises(ConfigError) as caught:
        resolve(env)
    assert caught.value.message == "no default profile; pass --profile NAME (known: a)"
    assert caught.value.hint == "or run `meilichat profile use NAME`"


def test_an_unknown_profile_names_the_known_ones(env: dict[str, str]) -> None:
    add_profile(env, Profile("default", "https://a.example.com"))
    add_profile(env, Profile("staging", "https://b.example.com"))
    with pytest.raises(ConfigError) as caught:
        resolve(env, profile="prod")
    assert caught.value.message == "Unknown profile 'prod' (known: default, staging)"
    assert caught.value.exit_code == 2
    env["MEILICHAT_PROFILE"] = "prod"
    with pytest.raises(ConfigError, match="Unknown profile 'prod'"):
        resolve(env)


def test_an_unknown_profile_without_any_profile(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="no profiles configured"):
        resolve(env, profile="prod")


def test_default_profile_pointing_nowhere(env: dict[str, str]) -> None:
    write_config(env, 'default_profile = "gone"\n[profiles.a]\nurl = "http://127.0.0.1:1"\n')
    with pytest.raises(ConfigError, match="default_profile 'gone' is not a profile"):
        resolve(env)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("localhost:7700", "needs a scheme: did you mean http://localhost:7700?"),
        ("http://u:p@host", "must not contain a user name or password"),
        ("https://h:abc", "invalid port"),
        ("ftp://host", "must start with http:// or https://"),
        ("http://host/?q=1", "must not have a query"),
        ("http://host/#top", "must not have a fragment"),
        ("http://", "has no host"),
        ("http://ho st", "spaces or control characters"),
        ("", "empty"),
    ],
)
def test_bad_urls_are_rejected_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(UsageError) as caught:
        validate_url(url)
    assert reason in caught.value.message
    assert caught.value.exit_code == 2
    assert "u:p" not in caught.value.message


def test_good_urls_are_normalised() -> None:
    assert validate_url("HTTPS://Meili.Example.com:7700/prefix/") == (
        "https://meili.example.com:7700/prefix"
    )
    assert validate_url(" http://[::1]:7700 ") == "http://[::1]:7700"


def test_a_bad_url_in_the_profile_names_file_and_key(env: dict[str, str]) -> None:
    config_file = write_config(env, 'default_profile = "a"\n[profiles.a]\nurl = "localhost:7700"\n')
    with pytest.raises(ConfigError) as caught:
        resolve(env)
    assert str(config_file) in caught.value.message
    assert "profiles.a.url" in caught.value.message


@pytest.mark.parametrize("name", ["../keys", "a b", "a#b", "w" * 401, "", "ws\n", "café"])
def test_bad_workspace_names_are_rejected(name: str) -> None:
    with pytest.raises(UsageError) as caught:
        validate_workspace(name)
    assert "workspace names use letters, digits, '-' and '_' (max 400)" in caught.value.message
    assert caught.value.exit_code == 2


def test_good_workspace_names_are_accepted() -> None:
    for name in ["movies", "my-ws_2", "w" * 400]:
        assert validate_workspace(name) == name


def test_a_bad_workspace_from_the_environment_is_rejected(env: dict[str, str]) -> None:
    env.update({"MEILICHAT_URL": "http://127.0.0.1:7700", "MEILICHAT_WORKSPACE": "../keys"})
    with pytest.raises(UsageError, match="MEILICHAT_WORKSPACE"):
        resolve(env)


def test_a_clear_text_key_to_a_remote_host_warns_once(env: dict[str, str]) -> None:
    env.update({"MEILICHAT_URL": "http://10.0.0.5:7700", "MEILICHAT_API_KEY": PROD_KEY})
    connection, warnings = resolve(env)
    assert connection.api_key == PROD_KEY
    clear_text = [warning for warning in warnings if "clear text" in warning]
    assert len(clear_text) == 1
    assert PROD_KEY not in clear_text[0]


def test_require_https_turns_the_warning_into_an_error(env: dict[str, str]) -> None:
    env.update(
        {
            "MEILICHAT_URL": "http://10.0.0.5:7700",
            "MEILICHAT_API_KEY": PROD_KEY,
            "MEILICHAT_REQUIRE_HTTPS": "1",
        }
    )
    with pytest.raises(UsageError) as caught:
        resolve(env)
    assert caught.value.exit_code == 2
    assert "MEILICHAT_REQUIRE_HTTPS" in caught.value.message


def test_no_clear_text_warning_for_loopback_https_or_no_key(env: dict[str, str]) -> None:
    for url, key in [
        ("http://127.0.0.1:7700", PROD_KEY),
        ("http://localhost:7700", PROD_KEY),
        ("http://[::1]:7700", PROD_KEY),
        ("https://10.0.0.5", PROD_KEY),
        ("http://10.0.0.5", ""),
    ]:
        env.update({"MEILICHAT_URL": url, "MEILICHAT_API_KEY": key, "MEILICHAT_REQUIRE_HTTPS": "1"})
        _, warnings = resolve(env)
        assert warnings == [], url


def test_loopback_hosts() -> None:
    assert is_loopback_host("127.0.0.2")
    assert is_loopback_host("[::1]")
    assert is_loopback_host("api.localhost")
    assert not is_loopback_host("10.0.0.5")
    assert not is_loopback_host("localhost.example.com")


def test_a_key_given_as_a_flag_value_works_and_warns(env: dict[str, str]) -> None:
    env["MEILICHAT_URL"] = "http://127.0.0.1:7700"
    connection, warnings = resolve(env, api_key=PROD_KEY)
    assert connection.api_key == PROD_KEY
    assert len(warnings) == 1
    assert "process list" in warnings[0]
    assert PROD_KEY not in warnings[0]


def test_key_command_supplies_the_key(env: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "print-key.py"
    script.write_text(f"print('  {PROD_KEY}  ')\nprint('second line is metadata')\n")
    add_profile(env, Profile("cmd", "https://m.example.com", key_command=f"python3 {script}"))
    store_key(env, "cmd", "stored-key-is-shadowed-by-the-command")
    connection, _ = resolve(env)
    assert (connection.api_key, connection.api_key_source) == (PROD_KEY, "key_command")


def test_resolution_does_not_touch_the_process_environment(env: dict[str, str]) -> None:
    before = dict(os.environ)
    env["MEILICHAT_URL"] = "http://127.0.0.1:7700"
    resolve(env)
    assert dict(os.environ) == before


def test_no_home_still_resolves_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pwd

    def no_such_user(uid: int) -> pwd.struct_passwd:
        raise KeyError(uid)

    monkeypatch.setattr(pwd, "getpwuid", no_such_user)
    env = {"MEILICHAT_URL": "http://127.0.0.1:7700", "MEILICHAT_API_KEY": PROD_KEY}
    paths = paths_from_env(env)
    assert paths.config_dir.is_absolute()
    assert paths.history_db.is_absolute()
    connection, warnings = resolve(env)
    assert (connection.url, connection.api_key, warnings) == ("http://127.0.0.1:7700", PROD_KEY, [])


def test_xdg_rules_come_from_the_given_environment() -> None:
    paths = paths_from_env(
        {"HOME": "/home/u", "XDG_CONFIG_HOME": "relative/ignored", "XDG_DATA_HOME": "/xdg/data"}
    )
    assert paths.config_file == Path("/home/u/.config/meilichat/config.toml")
    assert paths.history_db == Path("/xdg/data/meilichat/history.sqlite3")
    assert paths.repl_history == Path("/home/u/.local/state/meilichat/repl-history")
    overridden = paths_from_env({"HOME": "/home/u", "MEILICHAT_DATA_DIR": "/d"})
    assert (overridden.data_dir, overridden.state_dir) == (Path("/d"), Path("/d"))


@pytest.mark.parametrize(
    ("option", "field"),
    [
        ("--profile", "profile"),
        ("--url", "url"),
        ("--api-key", "api_key"),
        ("--workspace", "workspace"),
        ("--model", "model"),
    ],
)
def test_an_empty_option_is_refused_rather_than_read_as_unset(
    env: dict[str, str], option: str, field: str
) -> None:
    # `-w "$WS"` with WS unset must not quietly ask the profile's workspace instead.
    add_profile(env, Profile("prod", "https://meili.example.com", "movies", "gpt-4.1"))
    with pytest.raises(UsageError, match=f"^{option} is empty$") as raised:
        resolve_connection(env, warn=pytest.fail, **{field: " "})
    assert raised.value.exit_code == ExitCode.USAGE


def test_spaces_around_a_workspace_name_are_dropped_as_around_a_url(env: dict[str, str]) -> None:
    add_profile(env, Profile("prod", "https://meili.example.com", " movies", "gpt-4.1"))
    assert resolve_connection(env, warn=pytest.fail).workspace == "movies"
    env["MEILICHAT_WORKSPACE"] = "books "
    assert resolve_connection(env, warn=pytest.fail).workspace == "books"
    assert resolve_connection(env, workspace="\tdemo\n", warn=pytest.fail).workspace == "demo"
