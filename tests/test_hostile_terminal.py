"""No escape from the server reaches a terminal: every command that prints server text runs on
a real pseudo-terminal against a hostile server whose every string (answer, sources, search
progress, error events, workspace and index names, settings, keys, error bodies) carries OSC 52,
OSC 8, title changes, clear-screen, C1 controls and BiDi controls, and the bytes that reach the
terminal are checked."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from hostile_server import FORBIDDEN_ON_SCREEN, HostileServer
from test_repl_pty import Session

pexpect = pytest.importorskip("pexpect")


@pytest.fixture
def hostile() -> Any:
    with HostileServer("escapes") as server:
        yield server


@pytest.fixture
def terminal_env(clean_env: dict[str, str], hostile: HostileServer) -> dict[str, str]:
    env = {k: v for k, v in clean_env.items() if k != "NO_COLOR"}
    env.update(
        {
            "TERM": "xterm-256color",
            "MEILICHAT_URL": hostile.url,
            "MEILICHAT_WORKSPACE": "movies",
            "MEILI_MASTER_KEY": "admin-key",
        }
    )
    return env


def run_on_terminal(args: list[str], env: dict[str, str], keys: list[str] = ()) -> Any:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "meilichat_cli", *args],
        env=env,
        timeout=30,
        dimensions=(40, 120),
    )
    for key in keys:
        child.send(key)
    child.expect(pexpect.EOF)
    child.close()
    return child


def assert_clean(output: bytes) -> None:
    found = [sequence for sequence in FORBIDDEN_ON_SCREEN if sequence in output]
    assert not found, (found, output[-2000:])


COMMANDS = [
    ["ask", "hello"],
    ["ask", "--plain", "--sources", "hello"],
    ["ask", "--json", "hello"],
    ["ask", "--events", "hello"],
    ["doctor"],
    ["workspace", "list"],
    ["workspace", "show", "movies"],
    ["index", "chat-settings", "movies"],
    ["key", "list", "--server"],
    # Error bodies: in a line, in the JSON object, and in a --debug traceback.
    ["workspace", "delete", "movies", "--yes"],
    ["key", "create", "--json"],
    ["index", "chat-settings", "movies", "--description", "d", "--json"],
    ["--debug", "workspace", "delete", "movies", "--yes"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(args) for args in COMMANDS])
def test_no_server_escape_reaches_the_terminal(
    args: list[str], terminal_env: dict[str, str]
) -> None:
    child = run_on_terminal(args, terminal_env)
    assert child.exitstatus != 1, child.before[-2000:]
    assert b"Traceback" not in child.before or "--debug" in args
    assert b"pwned" in child.before  # the server's text was shown, what is left of it
    assert_clean(child.before)


def test_saved_server_text_is_clean_in_history_views(terminal_env: dict[str, str]) -> None:
    asked = run_on_terminal(["ask", "--json", "hello"], terminal_env)
    assert asked.exitstatus == 0, asked.before[-2000:]
    conversation = json.loads(asked.before.decode().strip().splitlines()[-1])["conversation_id"]
    for args in (
        ["history", "list"],
        ["history", "show", conversation],
        ["history", "search", "Answer"],
        ["history", "export", conversation],
    ):
        child = run_on_terminal(args, terminal_env)
        assert child.exitstatus == 0, (args, child.before[-2000:])
        if args[1] != "list":  # the list shows titles: the question, not server text
            assert b"pwned" in child.before, args
        assert_clean(child.before)


def test_the_repl_shows_answers_sources_and_searches_cleanly(
    terminal_env: dict[str, str],
) -> None:
    session = Session([sys.executable, "-m", "meilichat_cli", "chat"], terminal_env)
    try:
        session.wait_for_prompt()
        session.ask("hello")
        for command in ("/sources 1", "/searches", "/workspace"):
            session.ask(command)
        assert session.quit() == 0
    finally:
        session.close()
    assert "Answer" in session.screen_text()
    assert_clean(bytes(session.raw))


def test_json_keeps_exact_text_escaped_and_cleans_messages(
    terminal_env: dict[str, str],
) -> None:
    child = run_on_terminal(["ask", "--json", "hello"], terminal_env)
    summary = json.loads(child.before.decode().strip().splitlines()[-1])
    # The answer is the server's, exactly (escaped on the wire, never raw on the terminal).
    assert "\x1b]52" in summary["answer"]
    # Error messages are one-line texts for people: cleaned.
    (error,) = summary["errors"]
    assert "\x1b" not in error["message"] and "\u202e" not in error["message"]
