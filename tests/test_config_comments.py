"""A hand-commented config.toml (and credentials.toml) goes through every command that writes it:
the comments, blank lines, unrelated keys and their order survive; the changed values are right."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meilichat_cli.local.toml_file import parse_toml, update_toml
from meilichat_cli.standin import StandInServer
from tests.conftest import MASTER_KEY
from tests.inprocess import invoke

# The README's example, annotated the way people annotate their files, plus keys this version
# does not know (a newer meilichat's settings) that must be kept where they are.
COMMENTED = """\
# meilichat settings (edited by hand; keep these notes)
default_profile = "local"
save_history = true   # set to false on shared machines
# key_store = "keyring"          # keep keys in the system keyring
theme = "dark"        # from a newer meilichat

# the docker-compose server
[profiles.local]
url = "http://127.0.0.1:7700"   # port mapped in compose.yaml
workspace = "movies"
model = "gpt-4o-mini"
# key_command = "pass show meili/local"
# ca_bundle = "/path/to/ca.pem"
# insecure = false
note = 'single-quoted, kept as written'

# staging: reset every night
[profiles.staging]
url = "https://staging.example.com"   # behind the VPN
workspace = "docs"
"""

COMMENT_LINES = [line for line in COMMENTED.splitlines() if line.lstrip().startswith("#")]
INLINE_COMMENTS = [
    "# set to false on shared machines",
    "# from a newer meilichat",
    "# port mapped in compose.yaml",
    "# behind the VPN",
]


@pytest.fixture
def config_file(clean_env: dict[str, str]) -> Path:
    directory = Path(clean_env["MEILICHAT_CONFIG_DIR"])
    directory.mkdir(mode=0o700)
    path = directory / "config.toml"
    path.write_text(COMMENTED)
    path.chmod(0o600)
    return path


def run(args: list[str], env: dict[str, str], *, input: str | None = None) -> str:
    outcome = invoke(args, env=env, input=input)
    assert outcome.exit_code == 0, outcome.stderr
    return outcome.stderr


def assert_layout_kept(text: str, *, removed: tuple[str, ...] = ()) -> None:
    """Every comment is still there, except the end-of-line comments of `removed` lines."""
    for line in COMMENT_LINES:
        assert line in text.splitlines(), f"comment lost: {line!r}\n{text}"
    for comment in INLINE_COMMENTS:
        if any(comment in line for line in removed):
            assert comment not in text
            continue
        assert comment in text, f"inline comment lost: {comment!r}\n{text}"
    assert "note = 'single-quoted, kept as written'" in text
    # Unrelated keys keep their order.
    order = ["# meilichat", "\nsave_history", "\ntheme", "[profiles.local]", "\nurl", "\nnote"]
    positions = [text.index(marker) for marker in order]
    assert positions == sorted(positions), text


def test_every_profile_command_keeps_comments_and_changes_only_its_values(
    config_file: Path, clean_env: dict[str, str], tmp_path: Path
) -> None:
    env = clean_env
    run(["profile", "add", "prod", "--url", "https://meili.example.com", "-w", "support"], env)
    run(["profile", "set", "local", "-m", "gpt-4.1", "--key-command", "pass show meili"], env)
    run(["profile", "set", "staging", "-w", ""], env)  # clears a field
    run(["profile", "use", "prod"], env)
    text = config_file.read_text()
    assert_layout_kept(text)
    data = parse_toml(text)
    assert data["default_profile"] == "prod"
    assert data["theme"] == "dark"
    assert data["profiles"]["local"] == {
        "url": "http://127.0.0.1:7700",
        "workspace": "movies",
        "model": "gpt-4.1",
        "key_command": "pass show meili",
        "note": "single-quoted, kept as written",
    }
    assert data["profiles"]["staging"] == {"url": "https://staging.example.com"}
    assert data["profiles"]["prod"] == {"url": "https://meili.example.com", "workspace": "support"}
    # A changed value stays on its line, with its comment; a new key goes after the table's
    # last key, not below the comment that introduces the next table.
    assert 'url = "http://127.0.0.1:7700"   # port mapped in compose.yaml' in text
    assert 'default_profile = "prod"\n' in text
    assert "note = 'single-quoted, kept as written'\nkey_command = \"pass show meili\"\n\n" in text
    assert text.index("# staging: reset every night") + len("# staging: reset every night\n") == (
        text.index("[profiles.staging]")
    )
    assert config_file.stat().st_mode & 0o777 == 0o600

    run(["profile", "remove", "prod"], env)
    text = config_file.read_text()
    assert_layout_kept(text)
    data = parse_toml(text)
    assert "prod" not in data["profiles"] and "default_profile" not in data
    run(["profile", "remove", "staging"], env)
    text = config_file.read_text()
    assert_layout_kept(text, removed=('url = "https://staging.example.com"   # behind the VPN',))
    # The one profile left becomes the default again, added after the last top-level key.
    assert parse_toml(text)["default_profile"] == "local"
    assert 'theme = "dark"        # from a newer meilichat\ndefault_profile = "local"\n' in text


def test_key_commands_keep_both_files_commented(
    config_file: Path, clean_env: dict[str, str], standin: StandInServer
) -> None:
    env = {**clean_env, "MEILI_MASTER_KEY": MASTER_KEY}
    credentials = config_file.parent / "credentials.toml"
    credentials.write_text(
        "# keys, never commit this file\n[profiles.staging]\napi_key = 'old'  # rotated monthly\n"
    )
    credentials.chmod(0o600)
    before = config_file.read_bytes()

    run(["key", "set", "-p", "local"], env, input="local-key-0123\n")
    # Storing a key never touches config.toml.
    assert config_file.read_bytes() == before
    text = credentials.read_text()
    assert text.startswith("# keys, never commit this file\n")
    assert "api_key = 'old'  # rotated monthly" in text
    assert parse_toml(text)["profiles"]["local"] == {"api_key": "local-key-0123"}

    # `key create --save` adds a profile for a new server, or moves an existing profile's
    # default workspace: both go through config.toml.
    run(["key", "create", "--save", "-p", "standin", "--url", standin.url, "-w", "movies"], env)
    run(["profile", "set", "local", "--url", standin.url], env)
    run(["key", "create", "--save", "-p", "local", "-w", standin.workspace], env)
    text = config_file.read_text()
    assert_layout_kept(text.replace(standin.url, "http://127.0.0.1:7700"))
    data = parse_toml(text)
    assert data["profiles"]["standin"] == {"url": standin.url, "workspace": "movies"}
    assert data["profiles"]["local"]["workspace"] == standin.workspace
    assert data["profiles"]["local"]["url"] == standin.url

    run(["key", "remove", "-p", "staging"], env)
    text = credentials.read_text()
    assert text.startswith("# keys, never commit this file\n")
    assert "staging" not in parse_toml(text)["profiles"]
    assert credentials.stat().st_mode & 0o777 == 0o600


def test_a_file_tomlkit_cannot_edit_in_place_is_still_written_correctly() -> None:
    # Dotted keys spread over a table header: whatever the layout, the data must come out right.
    original = 'profiles.a.url = "http://h"\n[profiles.b]\nurl = "http://i"\n'
    wanted = {"profiles": {"b": {"url": "http://i"}, "c": {"url": "http://j", "x": [1, 2.5]}}}
    assert parse_toml(update_toml(original, wanted)) == wanted


def test_unchanged_data_rewrites_the_file_byte_for_byte() -> None:
    assert update_toml(COMMENTED, parse_toml(COMMENTED)) == COMMENTED


EDIT = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(["p1", "p2", "p3"])),
    st.tuples(st.just("remove"), st.sampled_from(["local", "staging", "p1", "p2"])),
    st.tuples(st.just("set"), st.sampled_from(["model", "key_command", "url", "insecure"])),
    st.tuples(st.just("clear"), st.sampled_from(["workspace", "model", "note"])),
    st.tuples(st.just("default"), st.sampled_from(["local", "staging", "p1", ""])),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(EDIT, min_size=1, max_size=6))
def test_any_sequence_of_edits_reads_back_right_and_keeps_the_top_comments(
    edits: list[tuple[str, str]],
) -> None:
    text = COMMENTED
    data = parse_toml(text)
    for action, name in edits:
        profiles = data["profiles"]
        target = profiles.get("local") or next(iter(profiles.values()), None)
        if action == "add":
            profiles.setdefault(name, {"url": "http://127.0.0.1:7701", "workspace": "w"})
        elif action == "remove":
            profiles.pop(name, None)
        elif action == "set" and target is not None:
            target[name] = True if name == "insecure" else f"new {name}"
        elif action == "clear" and target is not None:
            target.pop(name, None)
        elif action == "default":
            if name in profiles:
                data["default_profile"] = name
            else:
                data.pop("default_profile", None)
        text = update_toml(text, data)
        assert parse_toml(text) == data
    for line in [*COMMENT_LINES[:2], "# the docker-compose server"]:
        assert line in text.splitlines(), text
    for comment in INLINE_COMMENTS[:2]:
        assert comment in text, text
