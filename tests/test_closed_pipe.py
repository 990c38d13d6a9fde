"""A reader of stdout that went away (`meilichat … | head -1`) ends every command the same
way: exit 0, nothing on stderr, no traceback. Through typer as much as through the quick
path of `ask` and `chat`: click's and typer's own handling would exit 1, the bug code."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import run_meilichat

# Command lines that go through typer (not the quick path, not the entry point's root help)
# and write more than nothing to stdout.
THROUGH_TYPER = (
    ["ask", "--help"],
    ["demo", "--help"],
    ["profile", "--help"],
    ["history", "list", "--help"],
    ["completions", "bash"],
    ["profile", "list", "--json"],
    ["--debug", "completions", "zsh"],
)


def run_into_closed_pipe(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run meilichat with a stdout whose reader has already gone: the first write fails
    (EPIPE), whatever the size of the output and however busy the machine."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "meilichat_cli", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)


@pytest.fixture
def env_with_a_profile(clean_env: dict[str, str]) -> dict[str, str]:
    """A profile to list, so `profile list --json` has something to print."""
    added = run_meilichat(
        ["profile", "add", "local", "--url", "http://127.0.0.1:7700", "-w", "movies"], clean_env
    )
    assert added.returncode == 0, added.stderr
    return clean_env


@pytest.mark.parametrize("args", THROUGH_TYPER, ids=" ".join)
def test_a_command_through_typer_exits_0_quietly_when_its_reader_left(
    args: list[str], env_with_a_profile: dict[str, str]
) -> None:
    result = run_into_closed_pipe(args, env_with_a_profile)
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize(
    "args", [["--version"], ["--help"], ["ask", "--no-save", "x"]], ids=" ".join
)
def test_the_paths_without_typer_exit_the_same_way(
    args: list[str], server_env: dict[str, str]
) -> None:
    result = run_into_closed_pipe(args, server_env)
    assert (result.returncode, result.stderr) == (0, "")
