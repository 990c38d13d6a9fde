"""Helpers for the admin command tests (workspace, index, key create/list, doctor): the
environment an administrator has, and what the stand-in server recorded. Not a test module."""

from __future__ import annotations

from typing import Any

from meilichat_cli.standin import StandInServer
from tests.conftest import MASTER_KEY
from tests.inprocess import run_cli

PROVIDER_KEY = "sk-test-provider-key-abcdefghijklmnopqrstuvwxyz"


def admin_env(
    clean_env: dict[str, str], server: StandInServer, *, master: bool = True
) -> dict[str, str]:
    """`clean_env` aimed at `server`, with its chat key as the profile key and, when
    `master`, the master key in MEILI_MASTER_KEY (what an administrator exports)."""
    env = {
        **clean_env,
        "MEILICHAT_URL": server.url,
        "MEILICHAT_WORKSPACE": server.workspace,
        "MEILICHAT_MODEL": "gpt-4o-mini",
    }
    if server.chat_key is not None:
        env["MEILICHAT_API_KEY"] = server.chat_key
    if master:
        env["MEILI_MASTER_KEY"] = MASTER_KEY
    return env


def requests(server: StandInServer, method: str, path_part: str = "") -> list[Any]:
    """Recorded requests with this method whose path contains `path_part`."""
    return [r for r in server.recorded if r.method == method and path_part in r.path]


def bodies(server: StandInServer, method: str, path_part: str = "") -> list[Any]:
    return [r.body for r in requests(server, method, path_part)]


def without_connection(env: dict[str, str]) -> str:
    """Drop the chat key and URL from `env` (so a profile decides them); return the URL."""
    del env["MEILICHAT_API_KEY"]
    return env.pop("MEILICHAT_URL")


def add_profile(env: dict[str, str], name: str, url: str, *args: str, key: str = "") -> None:
    """`meilichat profile add NAME --url URL ARGS…`, then `key set` when `key` is given."""
    added = run_cli(["profile", "add", name, "--url", url, *args], env)
    assert added.returncode == 0, added.stderr
    if key:
        stored = run_cli(["key", "set", "-p", name], env, input=key + "\n")
        assert stored.returncode == 0, stored.stderr
