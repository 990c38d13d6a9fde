"""`meilichat key create` and `key list --server` end to end against the stand-in server."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from meilichat_cli.standin import StandInServer
from tests.admin_support import add_profile, admin_env, bodies, without_connection
from tests.conftest import MASTER_KEY
from tests.inprocess import run_cli


@pytest.fixture
def env(clean_env: dict[str, str], standin: StandInServer) -> dict[str, str]:
    return admin_env(clean_env, standin)


@pytest.fixture
def open_server() -> Iterator[StandInServer]:
    """A Meilisearch started without a master key."""
    server = StandInServer(master_key=None)
    server.start()
    try:
        yield server
    finally:
        server.close()


def _created(standin: StandInServer) -> list[dict[str, object]]:
    return bodies(standin, "POST", "/keys")


def test_create_prints_a_chat_key_and_never_the_admin_key(
    env: dict[str, str], standin: StandInServer
) -> None:
    result = run_cli(["key", "create"], env)
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert MASTER_KEY not in result.stdout + result.stderr
    assert _created(standin) == [
        {
            "name": "meilichat chat key",
            "description": None,
            "actions": ["chatCompletions", "search"],
            "indexes": ["*"],
            "expiresAt": None,
        }
    ]
    made = standin.state.key_by_value(key)
    assert made is not None and made.actions == ["chatCompletions", "search"]


def test_create_reads_the_admin_key_from_stdin(env: dict[str, str], standin: StandInServer) -> None:
    del env["MEILI_MASTER_KEY"]
    result = run_cli(["key", "create", "--admin-key-stdin"], env, input=MASTER_KEY + "\n")
    assert result.returncode == 0, result.stderr
    assert MASTER_KEY not in result.stdout + result.stderr
    assert standin.state.key_by_value(result.stdout.strip()) is not None


def test_create_without_an_admin_key_is_a_usage_error(
    env: dict[str, str], standin: StandInServer
) -> None:
    del env["MEILI_MASTER_KEY"]
    result = run_cli(["key", "create"], env)
    assert result.returncode == 2
    assert "needs an admin or master key" in result.stderr
    assert _created(standin) == []


def test_create_with_a_wrong_master_key_exits_3(env: dict[str, str]) -> None:
    env["MEILI_MASTER_KEY"] = "wrong-master-key-0000"
    result = run_cli(["key", "create"], env)
    assert result.returncode == 3
    assert "keys.create" in result.stderr
    assert "wrong-master-key-0000" not in result.stdout + result.stderr


def test_create_on_a_server_without_master_key(
    clean_env: dict[str, str], open_server: StandInServer
) -> None:
    env = admin_env(clean_env, open_server)
    result = run_cli(["key", "create"], env)
    assert result.returncode == 3
    assert "without a master key" in result.stderr


def test_create_scoped_with_expiry(env: dict[str, str], standin: StandInServer) -> None:
    result = run_cli(
        ["key", "create", "--index", "movies", "--expires", "30d", "--name", "kiosk", "--json"],
        env,
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["indexes"] == ["movies"] and shown["name"] == "kiosk"
    sent = _created(standin)[0]
    assert isinstance(sent["expiresAt"], str) and sent["expiresAt"].endswith("Z")


def test_create_refuses_a_past_expiry(env: dict[str, str], standin: StandInServer) -> None:
    result = run_cli(["key", "create", "--expires", "2001-01-01"], env)
    assert result.returncode == 2
    assert "in the past" in result.stderr
    assert _created(standin) == []


def test_index_scoped_key_with_global_action_is_explained(env: dict[str, str]) -> None:
    result = run_cli(["key", "create", "--index", "movies", "--action", "chats.get"], env)
    assert result.returncode == 5
    assert "cannot hold workspace actions (chats.get)" in result.stderr
    assert "--index" in result.stderr


def test_an_admin_level_extra_action_warns(env: dict[str, str]) -> None:
    result = run_cli(["key", "create", "--action", "keys.create"], env)
    assert result.returncode == 0, result.stderr
    assert "admin key" in result.stderr


def test_create_save_adds_the_profile_and_ask_then_answers(
    env: dict[str, str], standin: StandInServer, tmp_path: Path
) -> None:
    url = without_connection(env)
    result = run_cli(
        ["key", "create", "--save", "--profile", "local", "--url", url, "-w", "demo"], env
    )
    assert result.returncode == 0, result.stderr
    assert "stored for profile 'local'" in result.stdout
    credentials = (tmp_path / "config" / "credentials.toml").read_text(encoding="utf-8")
    key = re.search(r'api_key = "([0-9a-f]{64})"', credentials)
    assert key is not None
    assert key.group(1) not in result.stdout + result.stderr
    assert standin.state.key_by_value(key.group(1)) is not None
    del env["MEILICHAT_WORKSPACE"]
    del env["MEILI_MASTER_KEY"]
    answer = run_cli(["ask", "-p", "local", "movies about space"], env)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip()
    completions = [r for r in standin.recorded if r.path.endswith("/chat/completions")]
    assert completions[-1].headers["authorization"] == f"Bearer {key.group(1)}"


def test_create_save_on_an_unknown_profile_without_url(env: dict[str, str]) -> None:
    del env["MEILICHAT_URL"]
    result = run_cli(["key", "create", "--save", "--profile", "nowhere"], env)
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def test_create_save_refuses_a_profile_for_another_server_before_creating(
    env: dict[str, str], standin: StandInServer, tmp_path: Path
) -> None:
    url = without_connection(env)
    add_profile(env, "local", "http://127.0.0.1:9", "-w", "x", key="working-key-for-port-9")
    credentials = tmp_path / "config" / "credentials.toml"
    before = credentials.read_bytes()
    for extra_env in ({}, {"MEILICHAT_URL": url}):
        args = ["key", "create", "--save", "-p", "local"]
        result = run_cli(args + ([] if extra_env else ["--url", url]), {**env, **extra_env})
        assert result.returncode == 2, result.stderr
        assert "profile 'local' is for http://127.0.0.1:9" in result.stderr
        assert "nothing was created" in result.stderr
    assert _created(standin) == []
    assert credentials.read_bytes() == before


def test_create_save_on_an_existing_profile_switches_its_workspace(
    env: dict[str, str], standin: StandInServer
) -> None:
    url = without_connection(env)
    del env["MEILICHAT_WORKSPACE"]
    add_profile(env, "local", url, "-w", "demo")
    result = run_cli(["key", "create", "--save", "-p", "local", "-w", "other"], env)
    assert result.returncode == 0, result.stderr
    assert "now defaults to workspace 'other'" in result.stderr
    shown = json.loads(run_cli(["profile", "show", "local", "--json"], env).stdout)
    assert shown["workspace"] == "other"


def test_list_server_shows_chat_keys_masked_and_marks_the_profile_key(
    env: dict[str, str], standin: StandInServer
) -> None:
    assert standin.chat_key is not None and standin.admin_key is not None
    result = run_cli(["key", "list", "--server"], env)
    assert result.returncode == 0, result.stderr
    assert "Default Chat API Key" in result.stdout
    assert "Default Admin API Key" in result.stdout  # `*` can chat too
    assert "Default Search API Key" not in result.stdout
    assert standin.chat_key not in result.stdout and standin.admin_key not in result.stdout
    chat_line = next(line for line in result.stdout.splitlines() if "Default Chat" in line)
    assert chat_line.rstrip().endswith("*")
    every = run_cli(["key", "list", "--server", "--all", "--json"], env)
    listed = json.loads(every.stdout)
    assert {k["name"] for k in listed} >= {"Default Search API Key", "Default Chat API Key"}
    assert all(len(k["key"]) < 10 for k in listed)
    assert [k["usedByProfile"] for k in listed].count(True) == 1


def test_list_server_warns_when_the_profile_key_can_manage_keys(
    env: dict[str, str], standin: StandInServer
) -> None:
    assert standin.admin_key is not None
    env["MEILICHAT_API_KEY"] = standin.admin_key
    result = run_cli(["key", "list", "--server"], env)
    assert result.returncode == 0, result.stderr
    assert "warning" in result.stderr and "key create" in result.stderr
    env["MEILICHAT_API_KEY"] = MASTER_KEY
    master = run_cli(["key", "list", "--server"], env)
    assert "the master key" in master.stderr or "admin key itself" in master.stderr


def test_list_needs_server_flag(env: dict[str, str]) -> None:
    result = run_cli(["key", "list"], env)
    assert result.returncode == 2
    assert "--server" in result.stderr


def test_list_with_only_a_chat_key_exits_3(env: dict[str, str]) -> None:
    del env["MEILI_MASTER_KEY"]
    result = run_cli(["key", "list", "--server"], env)
    assert result.returncode == 3
    assert "keys.get" in result.stderr


def test_an_admin_key_in_clear_text_obeys_require_https(env: dict[str, str]) -> None:
    # The same rule as for any key: MEILICHAT_REQUIRE_HTTPS refuses before connecting.
    del env["MEILICHAT_API_KEY"]
    env["MEILICHAT_REQUIRE_HTTPS"] = "1"
    for args in (["key", "list", "--server"], ["key", "create"], ["workspace", "list"]):
        result = run_cli([*args, "--url", "http://192.0.2.1:7700", "--timeout", "1"], env)
        assert result.returncode == 2, (args, result.stderr)
        assert "refusing to send the API key in clear text" in result.stderr
        assert MASTER_KEY not in result.stderr
