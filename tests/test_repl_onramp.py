"""A REPL that never leaves you guessing: the question actually sent is echoed, long
sources and searches wrap at spaces, no trailing padding in scrollback, an interrupted
answer is rendered closed, the toolbar ellipsizes, /resume warns about another server, and
/workspace checks the name when the key can."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest
from rich.console import Console
from terminal_screen import Terminal, replay

from meilichat_cli.cli.commands.chat import ellipsize
from meilichat_cli.protocol.conversation import Turn
from meilichat_cli.repl.host import wrap_lines
from meilichat_cli.repl.slash_commands import ChatController
from meilichat_cli.ui.markdown import render_once
from meilichat_cli.ui.stream import MarkdownStream, close_open_markup
from tests import test_repl_pty
from tests.test_repl_pty import TOOLBAR, Session
from tests.test_repl_unit import FakeServer, Harness

spawn = test_repl_pty.spawn  # the pseudo-terminal fixture


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    made = Harness(tmp_path, FakeServer())
    yield made
    made.close()


def test_retry_echoes_the_question_it_sends_again(harness: Harness) -> None:
    harness.type("which space movies?")
    before = harness.out
    harness.type("/retry")
    again = harness.out[len(before) :]
    assert again.startswith("> which space movies?\n"), again
    assert len(harness.server.requests) == 2


def test_edit_echoes_the_edited_question(harness: Harness) -> None:
    harness.type("which space movies?")
    harness.host.edit = lambda text: text + " from the nineties\n"  # type: ignore[method-assign]
    before = harness.out
    harness.type("/edit")
    assert harness.out[len(before) :].startswith("> which space movies? from the nineties\n")


def test_long_lines_wrap_at_spaces_under_their_label() -> None:
    line = "  overview: " + " ".join(["interstellar"] * 12)
    wrapped = wrap_lines([line, "short"], 40)
    assert all(len(part) <= 40 for part in wrapped)
    assert wrapped[-1] == "short"
    assert all(part.strip() in ("short", "overview:") or "interstellar" in part for part in wrapped)
    for part in wrapped[1:-1]:
        assert part.startswith(" " * len("  overview: ")), part
    words = " ".join(part.strip() for part in wrapped[:-1]).split()
    assert words == line.split(), "no word is broken"


def test_resume_of_a_conversation_from_another_server_says_so(harness: Harness) -> None:
    store = harness.store()
    turn = Turn(prompt_messages=[{"role": "user", "content": "old question"}])
    turn.close()
    other = store.new_conversation(
        title="old question",
        profile=None,
        server_url="http://elsewhere.example",
        workspace="movies",
        model="gpt-4o-mini",
    )
    store.save_turn(
        other, turn, question="old question", workspace="movies", model="gpt-4o-mini", timings={}
    )
    harness.type(f"/resume {other[:8]}")
    assert "was held on http://elsewhere.example; it continues on http://meili.test" in harness.out


def _controller(harness: Harness, exists: Callable[[str], bool | None]) -> ChatController:
    return ChatController(
        harness.state,
        harness.host,
        identity=harness.controller.identity,
        workspace_exists=exists,
        workspace_hint=lambda: "workspaces here: movies; ask one with /workspace NAME",
    )


def test_workspace_switch_is_checked_when_the_key_can_tell(harness: Harness) -> None:
    assert _controller(harness, lambda name: False).handle("/workspace nope")
    assert harness.state.workspace == "movies"
    assert "Workspace 'nope' not found" in harness.err
    assert "/workspace NAME" in harness.err
    assert _controller(harness, lambda name: True).handle("/workspace books")
    assert harness.state.workspace == "books"
    # A chat key may not ask: the name is taken, and the next question will tell.
    assert _controller(harness, lambda name: None).handle("/workspace other")
    assert harness.state.workspace == "other"


def test_an_interrupted_answer_is_rendered_closed() -> None:
    assert close_open_markup("Try **Interstellar") == "Try **Interstellar**"
    assert close_open_markup("run `make") == "run `make`"
    assert close_open_markup("```python\nprint(1)").endswith("\n```\n")
    assert close_open_markup("snake_case and **done**") == "snake_case and **done**"
    file = io.StringIO()
    console = Console(file=file, width=60, force_terminal=True, color_system=None)
    stream = MarkdownStream(console, background_refresh=False)
    stream.feed("Try **Interstellar")
    stream.interrupt()
    shown = "\n".join(replay(file.getvalue(), 60, 10).lines())
    assert "Try Interstellar" in shown and "**" not in shown, shown


def test_rendered_lines_have_no_trailing_padding() -> None:
    file = io.StringIO()
    console = Console(file=file, width=80, force_terminal=True, color_system="truecolor")
    render_once(console, "A short line.\n\n- item one\n- item two\n\n```python\nx = 1\n```\n")
    lines = file.getvalue().split("\n")
    plain = [line for line in lines if "x = 1" not in line and "\x1b[48" not in line]
    assert plain and all(not line.endswith(" ") for line in plain), lines


def test_ellipsize_marks_a_cut() -> None:
    assert ellipsize("abcdef", 4) == "abc…"
    assert ellipsize("abc", 4) == "abc"


class NarrowSession(Session):
    """A session on a 40-column terminal."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.terminal = Terminal(40, 20)
        self.raw = bytearray()
        self.child = pexpect.spawn(
            argv[0], argv[1:], env={**env, "TERM": "xterm-256color"}, dimensions=(20, 40)
        )
        self.terminal.screen.write_process_input = self._reply  # type: ignore[method-assign]
        self.exitstatus = None


def test_toolbar_ellipsizes_at_40_columns(server_env: dict[str, str]) -> None:
    import sys

    chat = NarrowSession([sys.executable, "-m", "meilichat_cli", "chat"], server_env)
    try:
        chat.wait_for("the toolbar", lambda: "…" in chat.screen_text())
        bottom = [line for line in chat.terminal.visible_lines() if line.strip()][-1]
        assert bottom.rstrip().endswith("…"), bottom
        assert len(bottom.rstrip()) <= 40
        assert chat.quit() == 0
    finally:
        chat.close()


def test_a_first_question_on_the_command_line_is_echoed_as_typed(
    spawn: Callable[..., Session], server_env: dict[str, str]
) -> None:
    chat = spawn(["chat", "which space movies do you have?"], server_env)
    chat.wait_for_prompt(60)
    assert "> which space movies do you have?" in chat.screen_text()
    assert TOOLBAR in chat.screen_text()
    assert chat.quit() == 0
