"""The transient waiting status, on a real pseudo-terminal: `ask` on a terminal, `ask | cat`
with stderr on the terminal, and the REPL (whose toolbar stays while it waits)."""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Callable

from tests import test_repl_pty
from tests.test_repl_pty import TOOLBAR, Session

spawn = test_repl_pty.spawn  # the pseudo-terminal fixture

THINKING = "scenario:first-delay?ms=2500"
WAITING = re.compile(r"waiting for scenario:first-delay\S*… \d+\.\ds")


def test_ask_on_a_terminal_shows_the_wait_with_seconds_and_leaves_no_trace(
    spawn: Callable[..., Session], server_env: dict[str, str]
) -> None:
    ask = spawn(["ask", "-m", THINKING, "which space movies do you have?"], server_env)
    ask.wait_for("the waiting status", lambda: WAITING.search(ask.screen_text()) is not None)
    assert ask.wait_exit(60) == 0
    screen = ask.screen_text()
    assert "Gravity" in screen
    assert "waiting for" not in screen
    assert 'searching movies for "' not in screen


def test_plain_answer_piped_never_shares_a_line_with_the_status_on_stderr(
    spawn: Callable[..., Session], server_env: dict[str, str]
) -> None:
    command = shlex.join(
        [sys.executable, "-m", "meilichat_cli", "ask", "-m", THINKING, "space movies"]
    )
    ask = spawn([], server_env, shell=f"{command} | cat")
    ask.wait_for("the waiting status", lambda: WAITING.search(ask.screen_text()) is not None)
    assert ask.wait_exit(60) == 0
    lines = [line for line in ask.terminal.lines() if line.strip()]
    assert lines, ask.transcript()
    text = "\n".join(lines)
    assert "Gravity" in text
    assert "waiting for" not in text
    assert 'searching movies for "' not in text


def test_repl_shows_the_wait_and_keeps_its_toolbar(
    spawn: Callable[..., Session], server_env: dict[str, str]
) -> None:
    chat = spawn(["chat", "-m", THINKING], server_env)
    chat.wait_for_prompt()
    chat.send("which space movies do you have?\r")

    def waiting_with_toolbar() -> bool:
        screen = "\n".join(chat.terminal.visible_lines())
        return WAITING.search(screen) is not None and TOOLBAR in screen

    chat.wait_for("the waiting status above the toolbar", waiting_with_toolbar)
    chat.wait_for_prompt(60)
    assert "waiting for" not in chat.screen_text()
    assert chat.quit() == 0
