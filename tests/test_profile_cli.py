"""`meilichat profile ...` in process through the error boundary (exit codes and messages, a real
`ask`), and as real processes for what only processes can show (concurrent writers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from meilichat_cli.errors import ConfigError, MeilichatError, UsageError
from meilichat_cli.local.config import load_config
from meilichat_cli.local.credentials import CredentialsFile
from tests.inprocess import Outcome, invoke, run_cli

if TYPE_CHECKING:
    from meilichat_cli.standin import StandInServer

SECRET = "sk-SENTINEL-0123456789-abcdefghij"
MEILICHAT_VARS = [
    "MEILICHAT_PROFILE",
    "MEILICHAT_URL",
    "MEILICHAT_API_KEY",
    "MEILICHAT_WORKSPACE",
    "MEILICHAT_MODEL",
    "MEILICHAT_STATE_DIR",
    "MEILICHAT_REQUIRE_HTTPS",
]


def profile(env: dict[str, str], *args: str, input: str | None = None) -> Outcome:
    isolated: dict[str, str | None] = {name: None for name in MEILICHAT_VARS}
    isolated.update(env)
    return invoke(["profile", *args], env=isolated, input=input)


def failure(result: Outcome) -> MeilichatError:
    assert isinstance(result.exception, MeilichatError), (result.output, result.exception)
    return result.exception


def config_file(env: dict[str, str]) -> Path:
    return Path(env["MEILICHAT_CONFIG_DIR"]) / "config.toml"


def credentials_file(env: dict[str, str]) -> Path:
    return Path(env["MEILICHAT_CONFIG_DIR"]) / "credentials.toml"


def test_add_list_use_show(clean_env: dict[str, str]) -> None:
    result = profile(clean_env, "add", "local", "--url", "http://127.0.0.1:7700/", "-w", "movies")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Added profile 'local' (default).\n"
    assert "meilichat key set --profile local" in result.stderr
    result = profile(
        clean_env, "add", "prod", "--url", "https://Meili.Example.com", "-m", "gpt-4.1"
    )
    assert result.stdout == "Added profile 'prod'.\n"

    listing = profile(clean_env, "list")
    assert listing.stdout.splitlines() == [
        "*  local  http://127.0.0.1:7700      movies  -",
        "   prod   https://meili.example.com  -       gpt-4.1",
    ]
    assert json.loads(profile(clean_env, "list", "--json").stdout) == [
        {
            "name": "local",
            "default": True,
            "url": "http://127.0.0.1:7700",
            "workspace": "movies",
            "model": None,
        },
        {
            "name": "prod",
            "default": False,
            "url": "https://meili.example.com",
            "workspace": None,
            "model": "gpt-4.1",
        },
    ]

    assert profile(clean_env, "use", "prod").stdout == "Default profile is now 'prod'.\n"
    shown = profile(clean_env, "show").stdout
    assert "profile:   prod (default)" in shown
    assert "model:     gpt-4.1" in shown
    assert "key:       none (store one with: meilichat key set --profile prod)" in shown
    assert "workspace: movies" in profile(clean_env, "show", "local").stdout


def test_add_with_use_makes_it_the_default(clean_env: dict[str, str]) -> None:
    profile(clean_env, "add", "a", "--url", "http://127.0.0.1:7700")
    result = profile(clean_env, "add", "b", "--url", "http://127.0.0.1:7701", "--use")
    assert result.stdout == "Added profile 'b' (default).\n"
    assert load_config(config_file(clean_env), warn=pytest.fail).default_profile == "b"


def test_add_twice_is_refused(clean_env: dict[str, str]) -> None:
    profile(clean_env, "add", "a", "--url", "http://127.0.0.1:7700")
    error = failure(profile(clean_env, "add", "a", "--url", "http://127.0.0.1:7701"))
    assert isinstance(error, UsageError)
    assert error.message == "profile 'a' already exists"
    assert "meilichat profile set a" in (error.hint or "")


def test_add_requires_a_url(clean_env: dict[str, str]) -> None:
    result = profile(clean_env, "add", "a")
    assert result.exit_code == 2
    assert "--url" in result.stderr


def test_show_masks_the_key_and_names_its_source(clean_env: dict[str, str]) -> None:
    profile(clean_env, "add", "a", "--url", "http://127.0.0.1:7700")
    CredentialsFile(credentials_file(clean_env), warn=pytest.fail).set("a", SECRET)
    result = profile(clean_env, "show")
    assert f"key:       sk-S…ij (credentials file: {credentials_file(clean_env)})" in result.stdout
    assert SECRET not in result.output
    data = json.loads(profile(clean_env, "show", "--json").stdout)
    assert data["key"] == {
        "masked": "sk-S…ij",
        "source": "credentials file",
        "location": str(credentials_file(clean_env)),
    }
    result = profile({**clean_env, "MEILICHAT_API_KEY": SECRET}, "show")
    assert "MEILICHAT_API_KEY is set and overrides this profile's key" in result.stderr
    assert SECRET not in result.output


def test_show_does_not_run_a_key_command(clean_env: dict[str, str], tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    command = f"{sys.executable} -c \"open('{marker}', 'w'); print('{SECRET}')\""
    profile(clean_env, "add", "a", "--url", "http://127.0.0.1:7700", "--key-command", command)
    result = profile(clean_env, "show")
    assert "from key_command (not run here" in result.stdout
    assert not marker.exists()


def test_set_changes_and_clears_fields(clean_env: dict[str, str], tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("PEM")
    profile(clean_env, "add", "a", "--url", "http://127.0.0.1:7700", "-w", "movies")
    result = profile(
        clean_env,
        "set",
        "a",
        "--url",
        "https://meili.example.com",
        "-w",
        "",
        "-m",
        "gpt-4.1",
        "--key-store",
        "keyring",
        "--ca-bundle",
        str(bundle),
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "Updated profile 'a': url, workspace, model, key store, ca bundle.\n"
    loaded = load_config(config_file(clean_env), warn=pytest.fail).profiles["a"]
    assert (loaded.url, loaded.workspace, loaded.model) == (
        "https://meili.example.com",
        None,
        "gpt-4.1",
    )
    assert (loaded.key_store, loaded.ca_bundle) == ("keyring", str(bundle))
    result = profile(clean_env, "set", "a", "--insecure")
    assert "will not be verified" in result.stderr
    assert load_config(config_file(clean_env), warn=pytest.fail).profiles["a"].insecure


def test_set_without_changes_or_with_bad_values(clean_env: dict[str, str]) -> None:
    profile(clean_env, "add", "a", "--url", "http://127.0.0.1:7700")
    before = config_file(clean_env).read_bytes()
    assert failure(profile(clean_env, "set", "a")).message == "nothing to change"
    for args in (["--url", "localhost:7700"], ["--key-store", "vault"], ["--ca-bundle", "/no.pem"]):
        assert isinstance(failure(profile(clean_env, "set", "a", *args)), UsageError)
    assert config_file(clean_env).read_bytes() == before


def test_remove_takes_the_key_and_moves_the_default(clean_env: dict[str, str]) -> None:
    for name, port in (("a", 7700), ("b", 7701), ("c", 7702)):
        profile(clean_env, "add", name, "--url", f"http://127.0.0.1:{port}")
    store = CredentialsFile(credentials_file(clean_env), warn=pytest.fail)
    store.set("a", SECRET)
    store.set("b", "other-key-0123456789")
    result = profile(clean_env, "remove", "a")
    assert result.stdout == "Removed profile 'a' and its key.\n"
    assert "no default profile now" in result.stderr
    assert store.get("a") is None
    assert store.get("b") == "other-key-0123456789"
    assert SECRET.encode() not in credentials_file(clean_env).read_bytes()
    profile(clean_env, "use", "b")
    result = profile(clean_env, "remove", "b")
    assert result.stdout == "Removed profile 'b' and its key.\n"
    assert "The default profile is now 'c'." in result.stderr
    assert load_config(config_file(clean_env), warn=pytest.fail).default_profile == "c"


def test_path_lists_every_location(clean_env: dict[str, str]) -> None:
    config_dir, data_dir = clean_env["MEILICHAT_CONFIG_DIR"], clean_env["MEILICHAT_DATA_DIR"]
    result = profile(clean_env, "path")
    assert result.stdout.splitlines() == [
        f"config file:      {config_dir}/config.toml",
        f"credentials file: {config_dir}/credentials.toml",
        f"data dir:         {data_dir}",
        f"history database: {data_dir}/history.sqlite3",
        f"state dir:        {data_dir}",
        f"REPL history:     {data_dir}/repl-history",
    ]
    state_env = {**clean_env, "MEILICHAT_STATE_DIR": "/somewhere/state"}
    data = json.loads(profile(state_env, "path", "--json").stdout)
    assert data["repl_history"] == "/somewhere/state/repl-history"
    assert data["history_db"] == f"{data_dir}/history.sqlite3"
    assert not Path(config_dir).exists()  # looking creates nothing


def test_path_follows_xdg_without_overrides(clean_env: dict[str, str]) -> None:
    env = {k: v for k, v in clean_env.items() if not k.startswith("MEILICHAT_")}
    isolated = {**env, "MEILICHAT_CONFIG_DIR": "", "MEILICHAT_DATA_DIR": ""}
    data = json.loads(profile(isolated, "path", "--json").stdout)
    assert data["config_file"] == f"{env['XDG_CONFIG_HOME']}/meilichat/config.toml"
    assert data["history_db"] == f"{env['XDG_DATA_HOME']}/meilichat/history.sqlite3"
    assert data["repl_history"] == f"{env['XDG_STATE_HOME']}/meilichat/repl-history"


def test_list_without_profiles(clean_env: dict[str, str]) -> None:
    result = profile(clean_env, "list")
    assert (result.exit_code, result.stdout) == (0, "")
    assert "No profiles" in result.stderr
    assert profile(clean_env, "list", "--json").stdout == "[]\n"


def test_a_corrupt_config_is_never_rewritten_by_commands(clean_env: dict[str, str]) -> None:
    path = config_file(clean_env)
    path.parent.mkdir(mode=0o700)
    commands = [
        ["add", "x", "--url", "http://127.0.0.1:7700"],
        ["list"],
        ["show", "a"],
        ["use", "a"],
        ["set", "a", "-w", "movies"],
        ["remove", "a"],
    ]
    for content in (
        b"[profiles.a]\nurl = 'http://127.0.0.1:7700'\n[oops\n",
        b"[profiles.a]\nurl = '\xff'\n",
        b"[profiles.a]\nurl = 1\n",
    ):
        path.write_bytes(content)
        for args in commands:
            error = failure(profile(clean_env, *args))
            assert isinstance(error, ConfigError), args
            assert error.exit_code == 2
            assert str(path) in error.message
            assert path.read_bytes() == content, args


def test_config_with_a_bom_works_with_commands(clean_env: dict[str, str]) -> None:
    path = config_file(clean_env)
    path.parent.mkdir(mode=0o700)
    path.write_bytes(b"\xef\xbb\xbf[profiles.a]\nurl = 'http://127.0.0.1:7700'\n")
    assert profile(clean_env, "use", "a").exit_code == 0
    assert profile(clean_env, "show").stdout.startswith("profile:   a (default)")


def test_an_unknown_config_key_warns_and_survives_commands(clean_env: dict[str, str]) -> None:
    path = config_file(clean_env)
    path.parent.mkdir(mode=0o700)
    path.write_text("[profiles.a]\nurl = 'http://127.0.0.1:7700'\nurll = 'http://x'\n")
    result = profile(clean_env, "use", "a")
    assert result.exit_code == 0
    assert "unknown key profiles.a.urll ignored (did you mean 'url'?)" in result.stderr
    assert "urll = " in path.read_text()


def test_an_empty_config_means_no_profiles(clean_env: dict[str, str]) -> None:
    path = config_file(clean_env)
    path.parent.mkdir(mode=0o700)
    path.write_text("")
    assert profile(clean_env, "list").exit_code == 0
    error = failure(profile(clean_env, "show"))
    assert error.message == "no profile configured"
    assert "meilichat profile add NAME --url URL" in (error.hint or "")


def test_a_config_dir_that_is_a_file_is_named(clean_env: dict[str, str]) -> None:
    blocker = Path(clean_env["MEILICHAT_CONFIG_DIR"])
    blocker.write_text("not a directory")
    error = failure(profile(clean_env, "add", "a", "--url", "http://127.0.0.1:7700"))
    assert isinstance(error, ConfigError)
    assert str(blocker) in error.message
    assert blocker.read_text() == "not a directory"


def test_an_unknown_profile_names_the_known_ones(clean_env: dict[str, str]) -> None:
    profile(clean_env, "add", "default", "--url", "http://127.0.0.1:7700")
    profile(clean_env, "add", "staging", "--url", "http://127.0.0.1:7701")
    for args in (["show", "prod"], ["use", "prod"], ["set", "prod", "-w", "x"], ["remove", "prod"]):
        error = failure(profile(clean_env, *args))
        assert error.message == "Unknown profile 'prod' (known: default, staging)"
        assert error.exit_code == 2


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("localhost:7700", "needs a scheme: did you mean http://localhost:7700?"),
        ("http://u:p@host", "must not contain a user name or password"),
        ("https://h:abc", "has an invalid port"),
        ("http://h/?x=1", "must not have a query"),
    ],
)
def test_profile_add_rejects_bad_urls(clean_env: dict[str, str], url: str, reason: str) -> None:
    error = failure(profile(clean_env, "add", "a", "--url", url))
    assert isinstance(error, UsageError)
    assert reason in error.message
    assert not config_file(clean_env).exists()


@pytest.mark.parametrize("workspace", ["../keys", "a b", "a#b", "w" * 401])
def test_profile_add_rejects_bad_workspace_names(clean_env: dict[str, str], workspace: str) -> None:
    error = failure(
        profile(clean_env, "add", "a", "--url", "http://127.0.0.1:7700", "-w", workspace)
    )
    assert "workspace names use letters, digits, '-' and '_' (max 400)" in error.message
    assert not config_file(clean_env).exists()


def test_profile_add_warns_about_a_clear_text_url(clean_env: dict[str, str]) -> None:
    result = profile(clean_env, "add", "lan", "--url", "http://10.0.0.5:7700")
    assert result.exit_code == 0
    assert "travel in clear text" in result.stderr
    result = profile(clean_env, "add", "loop", "--url", "http://127.0.0.1:7700")
    assert "clear text" not in result.stderr


def test_bad_profile_names_are_refused(clean_env: dict[str, str]) -> None:
    for name in ("a b", "../x", "-x"):
        result = profile(clean_env, "add", name, "--url", "http://127.0.0.1:7700")
        assert result.exit_code != 0


# --- end to end -----------------------------------------------------------------------------------


def test_entry_point_errors_are_one_line_and_exit_2(clean_env: dict[str, str]) -> None:
    result = run_cli(["profile", "add", "a", "--url", "http://u:secret@host"], clean_env)
    assert result.returncode == 2
    assert result.stderr.startswith("meilichat: error: the server URL must not contain")
    assert "secret" not in result.stderr
    assert "Traceback" not in result.stderr
    result = run_cli(["profile", "show", "prod"], clean_env)
    assert result.returncode == 2
    assert "Unknown profile 'prod' (no profiles configured)" in result.stderr


def test_twenty_parallel_profile_adds_keep_all(clean_env: dict[str, str]) -> None:
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "meilichat_cli",
                "profile",
                "add",
                f"p{index:02d}",
                "--url",
                f"http://127.0.0.1:{7700 + index}",
            ],
            env=clean_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for index in range(20)
    ]
    errors = [process.communicate(timeout=120)[1] for process in processes]
    assert [process.returncode for process in processes] == [0] * 20, errors
    config = load_config(config_file(clean_env), warn=pytest.fail)
    assert config.profile_names() == [f"p{index:02d}" for index in range(20)]
    assert config.default_profile in config.profiles
    leftovers = [name for name in os.listdir(config_file(clean_env).parent) if ".tmp" in name]
    assert leftovers == []


def test_profile_path_works_without_home(clean_env: dict[str, str]) -> None:
    env = {
        k: v for k, v in clean_env.items() if k != "HOME" and not k.startswith(("XDG_", "MEILI"))
    }
    result = run_cli(["profile", "path", "--json"], env)
    assert result.returncode == 0, result.stderr
    assert all(os.path.isabs(value) for value in json.loads(result.stdout).values())


def test_new_user_story_ask_with_a_profile(
    clean_env: dict[str, str], standin: StandInServer
) -> None:
    assert standin.chat_key is not None
    added = run_cli(
        [
            "profile",
            "add",
            "local",
            "--url",
            standin.url,
            "-w",
            standin.workspace,
            "-m",
            "gpt-4o-mini",
        ],
        clean_env,
    )
    assert added.returncode == 0, added.stderr
    stored = run_cli(["key", "set"], clean_env, input=standin.chat_key + "\n")
    assert stored.returncode == 0, stored.stderr
    assert standin.chat_key not in stored.stdout + stored.stderr
    answered = run_cli(["--debug", "ask", "-p", "local", "which space movies?"], clean_env)
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout.strip()
    assert standin.chat_key not in answered.stdout + answered.stderr
    mode = os.stat(credentials_file(clean_env)).st_mode & 0o777
    assert mode == 0o600
    assert standin.chat_key not in config_file(clean_env).read_text()


def test_a_profile_without_a_key_names_key_set(
    clean_env: dict[str, str], standin: StandInServer
) -> None:
    run_cli(["profile", "add", "nokey", "--url", standin.url, "-w", standin.workspace], clean_env)
    result = run_cli(["ask", "hello"], clean_env)
    assert result.returncode == 3, result.stderr
    assert "No API key for profile 'nokey'" in result.stderr
    assert "meilichat key set" in result.stderr


def test_the_api_key_flag_works_and_warns(
    clean_env: dict[str, str], standin: StandInServer
) -> None:
    assert standin.chat_key is not None
    env = {**clean_env, "MEILICHAT_URL": standin.url, "MEILICHAT_WORKSPACE": standin.workspace}
    result = run_cli(["ask", "--api-key", standin.chat_key, "which space movies?"], env)
    assert result.returncode == 0, result.stderr
    assert "visible to other users in the process list" in result.stderr
    assert standin.chat_key not in result.stdout + result.stderr


# --- the name `demo` ---------------------------------------------------------------------------


def write_demo_profile(env: dict[str, str], server: StandInServer) -> str:
    """config.toml and credentials.toml with a profile named `demo`, as an older meilichat
    could create it; returns the config text."""
    text = (
        '# my server\ndefault_profile = "demo"\n\n[profiles.demo]\n'
        f'url = "{server.url}"\nworkspace = "{server.workspace}"\nmodel = "gpt-4o-mini"\n'
    )
    config_file(env).parent.mkdir(parents=True, exist_ok=True)
    config_file(env).write_text(text, encoding="utf-8")
    assert server.chat_key is not None
    CredentialsFile(credentials_file(env), warn=pytest.fail).set("demo", server.chat_key)
    return text


def test_a_new_profile_cannot_be_named_demo(clean_env: dict[str, str]) -> None:
    result = profile(clean_env, "add", "demo", "--url", "http://127.0.0.1:7700")
    error = failure(result)
    assert isinstance(error, UsageError) and result.exit_code == 2
    assert error.message == (
        "the profile name 'demo' is reserved: `meilichat demo` saves its conversations under it"
    )
    assert error.hint == "choose another name, e.g. demo-server"
    assert not config_file(clean_env).exists()


def test_key_create_cannot_save_into_a_new_profile_named_demo(clean_env: dict[str, str]) -> None:
    result = invoke(
        ["key", "create", "--save", "-p", "demo", "--url", "http://127.0.0.1:9"], env=clean_env
    )
    error = failure(result)
    assert isinstance(error, UsageError)
    assert "reserved" in error.message
    assert not config_file(clean_env).exists()


def test_an_existing_profile_named_demo_keeps_working_with_a_warning(
    clean_env: dict[str, str], standin: StandInServer
) -> None:
    assert standin.chat_key is not None
    text = write_demo_profile(clean_env, standin)
    answered = run_cli(["ask", "--no-save", "which space movies?"], clean_env)
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout.strip()
    assert (
        "profile 'demo' has the name `meilichat demo` saves its conversations under, so history"
        " mixes the two; rename it: meilichat profile rename demo NEW-NAME"
    ) in " ".join(answered.stderr.split())
    # Nothing was rewritten or lost.
    assert config_file(clean_env).read_text(encoding="utf-8") == text
    listed = profile(clean_env, "list", "--json")
    assert [entry["name"] for entry in json.loads(listed.stdout)] == ["demo"]


def test_rename_moves_the_profile_its_key_and_the_default(
    clean_env: dict[str, str], standin: StandInServer
) -> None:
    assert standin.chat_key is not None
    write_demo_profile(clean_env, standin)
    renamed = profile(clean_env, "rename", "demo", "my-server")
    assert renamed.exit_code == 0, renamed.output
    assert renamed.stdout == "Renamed profile 'demo' to 'my-server'.\n"
    config = load_config(config_file(clean_env), warn=pytest.fail)
    assert list(config.profiles) == ["my-server"] and config.default_profile == "my-server"
    assert config.profiles["my-server"].url == standin.url
    assert "# my server" in config_file(clean_env).read_text(encoding="utf-8")
    keys = CredentialsFile(credentials_file(clean_env), warn=pytest.fail)
    assert (keys.get("demo"), keys.get("my-server")) == (None, standin.chat_key)
    answered = run_cli(["ask", "--no-save", "which space movies?"], clean_env)
    assert answered.returncode == 0, answered.stderr
    assert "rename" not in answered.stderr


def test_rename_refuses_a_taken_or_reserved_name(clean_env: dict[str, str]) -> None:
    profile(clean_env, "add", "a", "--url", "http://127.0.0.1:7700")
    profile(clean_env, "add", "b", "--url", "http://127.0.0.1:7701")
    before = config_file(clean_env).read_text(encoding="utf-8")
    taken = failure(profile(clean_env, "rename", "a", "b"))
    assert isinstance(taken, UsageError) and taken.message == "profile 'b' already exists"
    reserved = failure(profile(clean_env, "rename", "a", "demo"))
    assert isinstance(reserved, UsageError) and "reserved" in reserved.message
    unknown = failure(profile(clean_env, "rename", "nope", "c"))
    assert isinstance(unknown, ConfigError)
    assert config_file(clean_env).read_text(encoding="utf-8") == before
