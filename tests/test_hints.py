"""Hints that work when pasted: they repeat the -p, --url and -w the command ran with, and
suggest only what the key in use may do; doctor says a repeated fix once and counts skipped
checks honestly."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from meilichat_cli.cli.hints import with_flags
from meilichat_cli.standin import StandInServer
from tests.conftest import MASTER_KEY
from tests.inprocess import invoke


def _lookup(words: list[str]) -> tuple[int, set[str]] | None:
    table = {
        ("key", "set"): {"-p", "--profile"},
        ("index", "chat-settings"): {"-p", "--profile", "--url"},
        ("ask",): {"-p", "--profile", "--url", "-w", "--workspace"},
    }
    for path, options in table.items():
        if tuple(words[: len(path)]) == path:
            return len(path), options
    return None


def test_a_suggested_command_gets_the_options_it_takes_and_lacks() -> None:
    flags = {"profile": "fresh", "url": "http://h:7700", "workspace": "movies"}
    assert (
        with_flags("run `meilichat key set` first", flags, _lookup)
        == "run `meilichat key set -p fresh` first"
    )
    assert (
        with_flags("`meilichat index chat-settings books --description …`", flags, _lookup)
        == "`meilichat index chat-settings books --description … -p fresh --url http://h:7700`"
    )
    # Already named, or not taken by that command: left alone.
    assert with_flags("`meilichat ask -w NAME`", flags, _lookup) == (
        "`meilichat ask -w NAME -p fresh --url http://h:7700`"
    )
    assert with_flags("`meilichat profile list`", flags, _lookup) == "`meilichat profile list`"
    assert with_flags("meilichat key set", {"profile": "a b"}, _lookup) == (
        "meilichat key set -p 'a b'"
    )


@pytest.fixture
def fresh() -> Iterator[StandInServer]:
    server = StandInServer(master_key=MASTER_KEY, fresh=True)
    server.start()
    try:
        yield server
    finally:
        server.close()


def test_doctor_on_a_profile_repeats_it_in_every_fix_and_says_a_fix_once(
    clean_env: dict[str, str], fresh: StandInServer
) -> None:
    added = invoke(["profile", "add", "fresh", "--url", fresh.url, "-w", "support"], env=clean_env)
    assert added.exit_code == 0, added.output
    stored = invoke(["key", "set", "-p", "fresh"], env=clean_env, input=f"{fresh.chat_key}\n")
    assert stored.exit_code == 0, stored.output
    result = invoke(["doctor", "-p", "fresh"], env=clean_env)
    fixes = [line.split("fix: ", 1)[1] for line in result.stdout.splitlines() if "fix: " in line]
    assert fixes, result.output
    assert len(fixes) == len(set(fixes)), "a fix is said once"
    for fix in fixes:
        for command in re.findall(r"`(meilichat (?:index|key|workspace|ask)[^`]*)`", fix):
            assert "-p fresh" in command, fix
    summary = result.stdout.rstrip().splitlines()[-1]
    assert not summary.startswith("all checks passed")


def test_doctor_with_skipped_checks_does_not_say_all_passed(
    clean_env: dict[str, str], standin: StandInServer
) -> None:
    env = {
        **clean_env,
        "MEILICHAT_URL": standin.url,
        "MEILICHAT_API_KEY": standin.chat_key or "",
        "MEILICHAT_WORKSPACE": standin.workspace,
    }
    result = invoke(["doctor"], env=env)
    summary = result.stdout.rstrip().splitlines()[-1]
    skipped = int(re.search(r"(\d+) skipped", summary).group(1))  # type: ignore[union-attr]
    if skipped:
        assert summary.startswith(f"no check failed, but {skipped} could not run"), summary
    fixes = [line.split("fix: ", 1)[1] for line in result.stdout.splitlines() if "fix: " in line]
    assert len(fixes) == len(set(fixes))


def test_a_missing_workspace_with_a_chat_key_suggests_asking_another_not_listing(
    clean_env: dict[str, str], standin: StandInServer
) -> None:
    env = {**clean_env, "MEILICHAT_API_KEY": standin.chat_key or ""}
    result = invoke(["ask", "--url", standin.url, "-w", "nope", "hello"], env=env)
    assert result.exit_code == 4, result.output
    assert "workspace list" not in result.stderr
    assert f"`meilichat ask -w NAME --url {standin.url}`" in result.stderr


def test_a_missing_workspace_with_a_key_that_may_list_names_them(
    clean_env: dict[str, str], standin: StandInServer
) -> None:
    env = {**clean_env, "MEILICHAT_API_KEY": MASTER_KEY}
    result = invoke(["ask", "--url", standin.url, "-w", "nope", "hello"], env=env)
    assert result.exit_code == 4, result.output
    assert "workspaces here: demo" in result.stderr


def test_a_profile_without_a_key_is_told_to_set_that_profiles_key(
    clean_env: dict[str, str], standin: StandInServer
) -> None:
    invoke(["profile", "add", "other", "--url", standin.url, "-w", "demo"], env=clean_env)
    result = invoke(["ask", "-p", "other", "hello"], env=clean_env)
    assert result.exit_code == 3, result.output
    assert "meilichat key set -p other" in result.stderr
