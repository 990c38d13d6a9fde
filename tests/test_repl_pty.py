"""`meilichat chat` in a real pseudo-terminal (pexpect), against the stand-in server.

The child gets a 40x100 terminal with TERM=xterm-256color; what it writes is replayed through
a terminal emulator (pyte, `terminal_screen.Terminal`), which also answers prompt_toolkit's
cursor-position requests the way a real terminal does. Assertions are on what the server
received (`standin.completion_bodies()`), the exit status, the files written, and the screen.
A failing test prints the terminal transcript (screen and scrollback)."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest
from terminal_screen import Terminal

from meilichat_cli.standin import StandInServer

ROWS, COLS = 40, 100
DRIP = "scenario:drip?interval=0.2"
TOOLBAR = "Ctrl-D quit"


class Session:
    """A child process on a pty, its output replayed on an emulated screen."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.terminal = Terminal(COLS, ROWS)
        self.raw = bytearray()
        self.child = pexpect.spawn(
            argv[0], argv[1:], env={**env, "TERM": "xterm-256color"}, dimensions=(ROWS, COLS)
        )
        # prompt_toolkit asks where the cursor is (ESC [6n); a real terminal answers.
        self.terminal.screen.write_process_input = self._reply  # type: ignore[method-assign]
        self.exitstatus: int | None = None

    def _reply(self, data: str) -> None:
        self.child.send(data.encode())

    # ---- reading

    def pump(self, wait: float = 0.05) -> bool:
        """Feed what the child wrote to the screen; False once it has exited."""
        try:
            data = self.child.read_nonblocking(65536, timeout=wait)
        except pexpect.TIMEOUT:
            return True
        except pexpect.EOF:
            return False
        self.raw += data
        self.terminal.feed(data.decode("utf-8", errors="replace"))
        return True

    def wait_for(self, what: str, ready: Callable[[], bool], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline or not self.pump():
                if ready():
                    return
                raise AssertionError(f"timed out waiting for {what}")

    def screen_text(self) -> str:
        return "\n".join(self.terminal.lines())

    def cursor_line(self) -> str:
        screen = self.terminal.screen
        return str(screen.display[screen.cursor.y]).rstrip()

    def wait_for_prompt(self, timeout: float = 20) -> None:
        def fresh() -> bool:
            if self.cursor_line() != ">":
                return False
            if TOOLBAR not in "\n".join(self.terminal.visible_lines()):
                return False
            # Nothing else pending: the screen is the prompt, not a moment before it.
            before = len(self.raw)
            self.pump(0.05)
            return len(self.raw) == before and self.cursor_line() == ">"

        self.wait_for("an empty prompt", fresh, timeout)

    def wait_for_text(self, text: str, timeout: float = 20) -> None:
        self.wait_for(repr(text), lambda: text in self.screen_text(), timeout)

    # ---- typing

    def send(self, keys: str) -> None:
        self.child.send(keys.encode())

    def ask(self, question: str, timeout: float = 30) -> None:
        """Type a question, send it, and wait until the answer is over."""
        self.send(question + "\r")
        self.wait_for_text("> " + question.splitlines()[0])
        self.wait_for_prompt(timeout)

    def quit(self, timeout: float = 15) -> int:
        self.send("\x04")
        return self.wait_exit(timeout)

    def wait_exit(self, timeout: float = 15) -> int:
        self.wait_for("the process to exit", lambda: not self.child.isalive(), timeout)
        while self.pump(0.01):
            pass
        self.child.close()
        self.exitstatus = self.child.exitstatus
        assert self.exitstatus is not None, f"killed by signal {self.child.signalstatus}"
        return self.exitstatus

    def transcript(self) -> str:
        return (
            f"---- terminal ({COLS}x{ROWS}), scrollback and screen ----\n"
            f"{self.screen_text()}\n"
            f"---- cursor at {self.terminal.screen.cursor.x},{self.terminal.screen.cursor.y}; "
            f"last raw bytes ----\n{bytes(self.raw[-1500:])!r}"
        )

    def close(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)


@pytest.fixture
def spawn(request: pytest.FixtureRequest) -> Iterator[Callable[..., Session]]:
    sessions: list[Session] = []

    def start(args: list[str], env: dict[str, str], *, shell: str | None = None) -> Session:
        argv = (
            ["/bin/sh", "-c", shell]
            if shell is not None
            else [sys.executable, "-m", "meilichat_cli", *args]
        )
        session = Session(argv, env)
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        session.close()
        # Shown by pytest only when the test failed.
        print(session.transcript())


def roles(body: dict[str, Any]) -> list[str]:
    return [message["role"] for message in body["messages"]]


# --------------------------------------------------------------------------- conversation


def test_answer_streams_and_the_follow_up_carries_the_tool_messages(
    spawn: Callable[..., Session], server_env: dict[str, str], standin: StandInServer
) -> None:
    chat = spawn(["chat"], server_env)
    chat.wait_for_prompt()
    chat.ask("which space movies do you have?")
    assert "[1]" in chat.screen_text()  # the sources list after the answer
    chat.ask("tell me more about the second one")
    assert chat.quit() == 0

    first, second = standin.completion_bodies()
    assert roles(first) == ["user"]
    assert roles(second) == ["user", "assistant", "tool", "assistant", "user"]
    call, result, answer = second["messages"][1:4]
    assert call["tool_calls"][0]["function"]["name"] == "_meiliSearchInIndex"
    assert result["tool_call_id"] == call["tool_calls"][0]["id"]
    assert answer["content"] and answer["content"].split()[0] in chat.screen_text()
    assert second["messages"][-1] == {
        "role": "user",
        "content": "tell me more about the second one",
    }


def test_ctrl_c_during_streaming_returns_to_the_prompt_and_the_session_goes_on(
    spawn: Callable[..., Session], server_env: dict[str, str], standin: StandInServer
) -> None:
    chat = spawn(["chat", "-m", DRIP], server_env)
    chat.wait_for_prompt()
    chat.send("which space movies do you have?\r")
    # Wait for the search to be over and a few answer deltas to be on screen.
    chat.wait_for_text("Here are")
    chat.send("\x03")
    chat.wait_for_prompt(timeout=10)
    assert "[interrupted]" in chat.screen_text()
    # The HTTP stream was closed: the server notices at its next write.
    chat.wait_for("the server to see the client go", lambda: standin.stats.disconnects == 1, 5)
    chat.send("/model gpt-4o-mini\r")
    chat.wait_for_text("Model: gpt-4o-mini")
    chat.wait_for_prompt()
    chat.ask("and the second one?")
    assert chat.quit() == 0

    first, second = standin.completion_bodies()
    assert first["model"] == DRIP and second["model"] == "gpt-4o-mini"
    # The partial answer stays in the conversation, after the search it was built on.
    assert roles(second) == ["user", "assistant", "tool", "assistant", "user"]
    partial = second["messages"][3]["content"]
    assert "Here are" in partial
    assert "These results come from" not in partial  # it was cut short


def test_ctrl_c_at_the_prompt_clears_the_line(
    spawn: Callable[..., Session], server_env: dict[str, str], standin: StandInServer
) -> None:
    chat = spawn(["chat"], server_env)
    chat.wait_for_prompt()
    chat.send("half a thought")
    chat.wait_for_text("> half a thought")
    chat.send("\x03")
    chat.wait_for_prompt()
    assert chat.quit() == 0
    assert standin.completion_bodies() == []


def test_empty_lines_at_the_prompt_send_nothing(
    spawn: Callable[..., Session], server_env: dict[str, str], standin: StandInServer
) -> None:
    chat = spawn(["chat"], server_env)
    chat.wait_for_prompt()
    for _ in range(3):
        chat.send("\r")
    chat.send("   \r")
    chat.wait_for_prompt()
    assert chat.quit() == 0
    assert standin.completion_bodies() == []


def test_bracketed_paste_of_several_lines_is_sent_as_one_message(
    spawn: Callable[..., Session], server_env: dict[str, str], standin: StandInServer
) -> None:
    chat = spawn(["chat"], server_env)
    chat.wait_for_prompt()
    chat.send("\x1b[200~space movies\rfrom the 90s\r\x1b[201~")
    chat.wait_for_text(". from the 90s")  # still in the buffer, on a continuation line
    assert standin.completion_bodies() == []
    chat.send("\r")
    chat.wait_for_text("[1]")
    chat.wait_for_prompt()
    assert chat.quit() == 0
    (body,) = standin.completion_bodies()
    assert body["messages"][-1]["content"] == "space movies\nfrom the 90s"


# --------------------------------------------------------------------------- leaving, files


def test_ctrl_d_exits_0_and_the_input_history_is_private(
    spawn: Callable[..., Session], server_env: dict[str, str], tmp_path: Path
) -> None:
    chat = spawn(["chat"], server_env)
    chat.wait_for_prompt()
    chat.send("/help\r")
    chat.wait_for_text("Ctrl-X Ctrl-E")
    chat.wait_for_prompt()
    assert chat.quit() == 0
    history = Path(server_env["MEILICHAT_DATA_DIR"]) / "repl-history"
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    assert "+/help" in history.read_text()


def test_exit_command_leaves_with_0(
    spawn: Callable[..., Session], server_env: dict[str, str]
) -> None:
    chat = spawn(["chat"], server_env)
    chat.wait_for_prompt()
    chat.send("/exit\r")
    assert chat.wait_exit() == 0


def test_a_repl_history_file_with_invalid_utf8_still_starts(
    spawn: Callable[..., Session], server_env: dict[str, str]
) -> None:
    data_dir = Path(server_env["MEILICHAT_DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    history = data_dir / "repl-history"
    history.write_bytes(b"\n# 2025\n+caf\xe9 \xff\xfe\x80 broken\n\n# 2025\n+\xc3(\n")
    history.chmod(0o644)
    chat = spawn(["chat"], server_env)
    chat.wait_for_prompt()
    chat.send("\x1b[A")  # up: the newest history entry, decoded with replacement characters
    chat.wait_for_text("> \ufffd(")
    chat.send("\x03")
    chat.wait_for_prompt()
    assert chat.quit() == 0
    assert stat.S_IMODE(history.stat().st_mode) == 0o600


# --------------------------------------------------------------------------- stdin, demo


def test_piped_stdin_seeds_the_first_question_and_keys_come_from_the_terminal(
    spawn: Callable[..., Session], server_env: dict[str, str], standin: StandInServer
) -> None:
    command = f"printf 'NOTE ONE\\nNOTE TWO\\n' | exec {sys.executable} -m meilichat_cli chat"
    chat = spawn([], server_env, shell=command)
    chat.wait_for_prompt()
    assert "Read 2 line(s) from stdin" in chat.screen_text()
    chat.ask("summarise these notes")
    chat.ask("and again")
    assert chat.quit() == 0
    first, second = standin.completion_bodies()
    assert first["messages"] == [
        {"role": "user", "content": "NOTE ONE\nNOTE TWO\n\nsummarise these notes"}
    ]
    assert second["messages"][-1] == {"role": "user", "content": "and again"}


def test_without_any_terminal_chat_exits_2_instead_of_hanging(
    server_env: dict[str, str],
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "meilichat_cli", "chat"],
        env=server_env,
        input="some notes\n",
        capture_output=True,
        text=True,
        timeout=30,
        start_new_session=True,  # no controlling terminal: /dev/tty cannot be opened
    )
    assert done.returncode == 2, done.stderr
    assert "needs a terminal" in done.stderr
    assert "meilichat ask" in done.stderr
    assert done.stdout == ""


def test_demo_without_a_question_opens_the_repl(
    spawn: Callable[..., Session], clean_env: dict[str, str]
) -> None:
    demo = spawn(["demo", "--delay", "0"], clean_env)
    demo.wait_for_prompt()
    assert "workspace demo" in demo.screen_text()
    demo.ask("which space movies do you have?")
    demo.ask("tell me more about the second one")
    demo.send("/sources 2\r")
    demo.wait_for_text("[2] ")
    demo.wait_for_prompt()
    assert demo.quit() == 0
    assert os.path.exists(Path(clean_env["MEILICHAT_DATA_DIR"]) / "history.sqlite3")


# --------------------------------------------------------------------------- more keys, resuming


def test_ctrl_c_while_waiting_for_the_server_keeps_the_session_usable(
    spawn: Callable[..., Session], server_env: dict[str, str], standin: StandInServer
) -> None:
    chat = spawn(["chat", "-m", "scenario:stall-headers?seconds=20"], server_env)
    chat.wait_for_prompt()
    chat.send("space movies\r")
    chat.wait_for("the request to reach the server", lambda: bool(standin.completion_bodies()))
    chat.send("\x03")
    chat.wait_for_text("[interrupted]", timeout=10)
    chat.wait_for_prompt()
    chat.send("/model gpt-4o-mini\r")
    chat.wait_for_text("Model: gpt-4o-mini")
    chat.wait_for_prompt()
    chat.ask("space movies again")
    assert chat.quit() == 0
    # Nothing came back from the stalled request, so the next one starts the conversation.
    assert roles(standin.completion_bodies()[-1]) == ["user"]


def test_ctrl_x_ctrl_e_edits_the_input_in_the_editor(
    spawn: Callable[..., Session],
    server_env: dict[str, str],
    standin: StandInServer,
    tmp_path: Path,
) -> None:
    editor = tmp_path / "fake-editor"
    editor.write_text('#!/bin/sh\nprintf "from the editor\\n" >> "$1"\n')
    editor.chmod(0o755)
    chat = spawn(["chat"], {**server_env, "EDITOR": str(editor), "VISUAL": ""})
    chat.wait_for_prompt()
    chat.send("space movies")
    chat.wait_for_text("> space movies")
    chat.send("\x18\x05")
    chat.wait_for_text(". from the editor")  # back in the buffer, not sent
    assert standin.completion_bodies() == []
    chat.send("\r")
    chat.wait_for_text("[1]")
    chat.wait_for_prompt()
    assert chat.quit() == 0
    (body,) = standin.completion_bodies()
    assert body["messages"][-1]["content"] == "space movies\nfrom the editor"


def test_copy_falls_back_to_osc52_on_the_terminal(
    spawn: Callable[..., Session], server_env: dict[str, str], standin: StandInServer
) -> None:
    env = {k: v for k, v in server_env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    chat = spawn(["chat"], env)
    chat.wait_for_prompt()
    chat.ask("which space movies do you have?")
    chat.send("/copy\r")
    chat.wait_for_text("Copied the last answer (through the terminal, OSC 52).")
    chat.wait_for_prompt()
    assert chat.quit() == 0
    start = chat.raw.index(b"\x1b]52;c;") + len(b"\x1b]52;c;")
    payload = bytes(chat.raw[start : chat.raw.index(b"\x07", start)])
    copied = base64.b64decode(payload).decode()
    assert copied.startswith("I'll search for")  # the answer's markdown, as streamed
    assert "Here are" in copied and "\x1b" not in copied
    assert len(standin.completion_bodies()) == 1


def test_continue_carries_the_saved_conversation_into_a_new_session(
    spawn: Callable[..., Session], server_env: dict[str, str], standin: StandInServer
) -> None:
    chat = spawn(["chat"], server_env)
    chat.wait_for_prompt()
    chat.ask("which space movies do you have?")
    assert chat.quit() == 0

    again = spawn(["chat", "-c"], server_env)
    again.wait_for_prompt()
    assert "Continuing" in again.screen_text()
    again.ask("tell me more about the second one")
    assert again.quit() == 0
    first, second = standin.completion_bodies()
    assert second["messages"][0] == first["messages"][0]
    assert roles(second) == ["user", "assistant", "tool", "assistant", "user"]


def test_unknown_conversation_exits_4(
    spawn: Callable[..., Session], server_env: dict[str, str]
) -> None:
    chat = spawn(["chat", "--conversation", "abcdef12"], server_env)
    assert chat.wait_exit() == 4
    assert "no saved conversation" in chat.screen_text()
