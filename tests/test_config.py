"""config.toml: loading, precise errors, unknown keys, the writer; a bad file is never rewritten."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meilichat_cli.errors import ConfigError, UsageError
from meilichat_cli.local.config import (
    Config,
    Profile,
    edit_config,
    load_config,
    render_config,
    validate_profile_name,
)
from meilichat_cli.local.toml_file import dump_toml, parse_toml


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    directory = tmp_path / "config"
    directory.mkdir(mode=0o700)
    return directory / "config.toml"


def no_warnings(message: str) -> None:
    raise AssertionError(f"unexpected warning: {message}")


def load(path: Path) -> tuple[Config, list[str]]:
    warnings: list[str] = []
    return load_config(path, warn=warnings.append), warnings


def try_to_edit(path: Path) -> None:
    """What every mutating command does first: load under the lock, then write."""
    with edit_config(path, warn=lambda _message: None) as config:
        config.with_profile(Profile("new", "http://127.0.0.1:7700"))


def test_missing_file_is_no_profiles(config_file: Path) -> None:
    config, warnings = load(config_file)
    assert (config.profiles, config.default_profile, warnings) == ({}, None, [])
    assert config.save_history is True
    assert not config_file.exists()


def test_round_trip_of_every_field(config_file: Path) -> None:
    profile = Profile(
        name="prod",
        url="https://meili.example.com",
        workspace="movies",
        model="gpt-4.1",
        key_command="pass show 'meili/prod key'",
        key_store="keyring",
        ca_bundle="/etc/ssl/my ca.pem",
        insecure=True,
    )
    with edit_config(config_file, warn=no_warnings) as config:
        config.with_profile(profile)
        config.with_profile(Profile("local", "http://127.0.0.1:7700"))
        config.default_profile = "prod"
        config.save_history = False
        config.key_store = "keyring"
    loaded, warnings = load(config_file)
    assert warnings == []
    assert loaded.profiles == {"prod": profile, "local": Profile("local", "http://127.0.0.1:7700")}
    assert (loaded.default_profile, loaded.save_history, loaded.key_store) == (
        "prod",
        False,
        "keyring",
    )


def test_written_file_is_plain_toml(config_file: Path) -> None:
    with edit_config(config_file, warn=no_warnings) as config:
        config.with_profile(Profile("local", "http://127.0.0.1:7700", "movies"))
        config.default_profile = "local"
    assert config_file.read_text() == (
        'default_profile = "local"\n'
        "save_history = true\n"
        "\n"
        "[profiles.local]\n"
        'url = "http://127.0.0.1:7700"\n'
        'workspace = "movies"\n'
    )


def test_unknown_keys_warn_and_survive_a_rewrite(config_file: Path) -> None:
    config_file.write_text(
        "theme = 'dark'\n"
        "released = 2025-01-02T03:04:05Z\n"
        "[ui]\n"
        "width = 80\n"
        "ratio = 0.5\n"
        "[profiles.a]\n"
        "url = 'http://127.0.0.1:7700'\n"
        "tags = ['x', 'y']\n"
        "[profiles.a.headers]\n"
        "X-Trace = 'on'\n"
    )
    _, warnings = load(config_file)
    assert len(warnings) == 5
    assert any("unknown key theme" in warning for warning in warnings)
    assert any("unknown key profiles.a.headers" in warning for warning in warnings)
    with edit_config(config_file, warn=lambda _m: None) as config:
        config.default_profile = "a"
    data = parse_toml(config_file.read_text())
    assert data["theme"] == "dark"
    assert data["released"] == dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert data["ui"] == {"width": 80, "ratio": 0.5}
    assert data["profiles"]["a"]["tags"] == ["x", "y"]
    assert data["profiles"]["a"]["headers"] == {"X-Trace": "on"}
    assert data["default_profile"] == "a"


def test_block_that_raises_writes_nothing(config_file: Path) -> None:
    config_file.write_text("[profiles.a]\nurl = 'http://127.0.0.1:7700'\n")
    before = config_file.read_bytes()
    with pytest.raises(RuntimeError), edit_config(config_file, warn=no_warnings) as config:
        config.with_profile(Profile("b", "http://127.0.0.1:7701"))
        raise RuntimeError("stop")
    assert config_file.read_bytes() == before


def test_a_syntax_error_names_file_line_and_column(config_file: Path) -> None:
    config_file.write_text("default_profile = 'a'\n\n[profiles.a\nurl = 'x'\n")
    before = config_file.read_bytes()
    with pytest.raises(ConfigError) as caught:
        load(config_file)
    message = caught.value.message
    assert message.startswith(f"{config_file} line 3, column ")
    assert "Expected ']'" in message
    assert caught.value.exit_code == 2
    with pytest.raises(ConfigError):
        try_to_edit(config_file)
    assert config_file.read_bytes() == before


def test_a_syntax_error_at_the_end_of_the_file_still_names_line_and_column(
    config_file: Path,
) -> None:
    # tomllib says "(at end of document)" for an unclosed array or table: no position at all.
    config_file.write_text("[profiles.a]\nurl = 'x'\nworkspace = ['demo'\n")
    with pytest.raises(ConfigError) as caught:
        load(config_file)
    message = caught.value.message
    assert message.startswith(f"{config_file} line 4, column 1 (the end of the file): ")
    assert "Unclosed array" in message
    assert "at end of document" not in message


def test_invalid_utf8_names_the_byte_offset(config_file: Path) -> None:
    config_file.write_bytes(b"[profiles.a]\nurl = 'http://h\xff'\n")
    before = config_file.read_bytes()
    with pytest.raises(ConfigError) as caught:
        load(config_file)
    assert caught.value.message == f"{config_file} line 2: invalid UTF-8 at byte offset 28"
    with pytest.raises(ConfigError):
        try_to_edit(config_file)
    assert config_file.read_bytes() == before


def test_the_byte_offset_counts_the_bom(config_file: Path) -> None:
    config_file.write_bytes(b"\xef\xbb\xbfx = '\xc3'\n")
    with pytest.raises(ConfigError, match="byte offset 8"):
        load(config_file)


def test_a_bom_is_accepted(config_file: Path) -> None:
    config_file.write_bytes(
        b"\xef\xbb\xbfdefault_profile = 'a'\r\n[profiles.a]\r\nurl = 'http://127.0.0.1:7700'\r\n"
    )
    config, warnings = load(config_file)
    assert (config.default_profile, config.profiles["a"].url) == ("a", "http://127.0.0.1:7700")
    assert warnings == []


def test_a_wrong_type_names_the_key_path(config_file: Path) -> None:
    config_file.write_text("[profiles.default]\nurl = 1\n")
    before = config_file.read_bytes()
    with pytest.raises(ConfigError) as caught:
        load(config_file)
    assert caught.value.message == f"{config_file}: profiles.default.url must be a string"
    with pytest.raises(ConfigError):
        try_to_edit(config_file)
    assert config_file.read_bytes() == before


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("save_history = 'yes'", "save_history must be true or false"),
        ("key_store = 'vault'", "key_store must be one of: 'file', 'keyring'"),
        ("default_profile = 3", "default_profile must be a string"),
        ("profiles = 1", "profiles must be a table"),
        ("[profiles]\na = 1", "profiles.a must be a table"),
        ("[profiles.a]\nworkspace = 'w'", "profiles.a.url is missing"),
        ("[profiles.a]\nurl = 'http://h'\ninsecure = 'no'", "profiles.a.insecure must be true"),
        ("[profiles.a]\nurl = 'http://h'\nmodel = \"m\\u001b[2J\"", "control characters"),
        ("[profiles.'a b']\nurl = 'http://h'", "is not a valid profile name"),
    ],
)
def test_other_shape_errors_say_what_is_wrong(config_file: Path, text: str, complaint: str) -> None:
    config_file.write_text(text + "\n")
    with pytest.raises(ConfigError) as caught:
        load(config_file)
    assert complaint in caught.value.message
    assert str(config_file) in caught.value.message


def test_an_unknown_key_warns_with_a_suggestion(config_file: Path) -> None:
    config_file.write_text("[profiles.default]\nurl = 'http://127.0.0.1:7700'\nurll = 'x'\n")
    config, warnings = load(config_file)
    assert config.profiles["default"].url == "http://127.0.0.1:7700"
    assert warnings == [
        f"{config_file}: unknown key profiles.default.urll ignored (did you mean 'url'?);"
        " it is kept when meilichat rewrites the file"
    ]


def test_an_empty_file_is_no_profiles(config_file: Path) -> None:
    config_file.write_text("")
    config, warnings = load(config_file)
    assert (config.profiles, warnings) == ({}, [])


def test_a_config_path_that_is_a_file_is_named(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "config"
    not_a_dir.write_text("oops")
    with pytest.raises(ConfigError) as caught:
        load(not_a_dir / "config.toml")
    assert str(not_a_dir) in caught.value.message
    with pytest.raises(ConfigError, match=f"{not_a_dir} is a file, not a directory"):
        try_to_edit(not_a_dir / "config.toml")
    assert not_a_dir.read_text() == "oops"


def test_a_config_dir_owned_by_another_user_is_named(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = os.stat(config_file.parent).st_uid
    monkeypatch.setattr(os, "geteuid", lambda: owner + 4242)
    with pytest.raises(ConfigError) as caught:
        try_to_edit(config_file)
    assert f"{config_file.parent} is owned by another user" in caught.value.message
    assert not config_file.exists()


def test_config_file_is_private(config_file: Path) -> None:
    try_to_edit(config_file)
    assert config_file.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("name", ["", "-x", "a b", "a.b", "x" * 65, "é", "a\n"])
def test_bad_profile_names(name: str) -> None:
    with pytest.raises(UsageError, match="profile names use letters"):
        validate_profile_name(name)


def test_render_quotes_odd_unknown_keys() -> None:
    config = Config(path=Path("unused"), extra={"odd key": 'a "quoted"\tvalue\x7f'})
    assert parse_toml(render_config(config))["odd key"] == 'a "quoted"\tvalue\x7f'


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8),
        st.one_of(
            st.text(st.characters(codec="utf-8")),
            st.booleans(),
            st.integers(min_value=-(2**63), max_value=2**63 - 1),
            st.floats(allow_nan=False),
            st.lists(st.text(st.characters(codec="utf-8")), max_size=3),
        ),
        max_size=5,
    )
)
def test_writer_round_trips_any_scalar_table(table: dict[str, object]) -> None:
    document = {"profiles": {"p": {"url": "http://h", **table}}}
    assert parse_toml(dump_toml(document)) == document
