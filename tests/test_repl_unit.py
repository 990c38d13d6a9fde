"""The REPL without a terminal: line parsing, the slash commands, the conversation each request
carries (docs/protocol.md#conversation-state), and prompt_toolkit's own input driven through a pipe.

Requests go to an `httpx.MockTransport` that answers with the recorded OpenAI stream of
docs/protocol.md#a-complete-stream, through the real client, turn runner and REPL host (in plain
mode, since the streams here are not terminals)."""

from __future__ import annotations

import io
import json
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from meilichat_cli.api.client import MeiliClient
from meilichat_cli.chat.turn import run_turn
from meilichat_cli.errors import UsageError
from meilichat_cli.history.store import HistoryStore
from meilichat_cli.local.connection import Connection
from meilichat_cli.local.context import RunContext
from meilichat_cli.protocol.conversation import Turn, complete_tool_pairs
from meilichat_cli.protocol.events import ConversationMessage, TextDelta
from meilichat_cli.repl.host import TerminalHost
from meilichat_cli.repl.loop import run_loop
from meilichat_cli.repl.prompt import ReplPrompt, SlashCompleter, prepare_history_file
from meilichat_cli.repl.slash_commands import (
    ChatController,
    Command,
    Identity,
    Question,
    UnknownCommand,
    parse_line,
)
from meilichat_cli.repl.state import ChatState
from meilichat_cli.ui import clipboard

FIXTURES = Path(__file__).parent / "fixtures"
ONE_SEARCH = (FIXTURES / "openai_one_search.sse").read_bytes()
PROVIDER_ERROR = (FIXTURES / "provider_error.sse").read_bytes()
SERVER_URL = "http://meili.test"

# What the recorded stream asks the client to keep (docs/protocol.md#a-complete-stream), in arrival
# order.
TOOL_CALL = {
    "role": "assistant",
    "tool_calls": [
        {
            "id": "call_Xq7pLm2",
            "type": "function",
            "function": {
                "name": "_meiliSearchInIndex",
                "arguments": '{"index_uid":"movies","q":"space exploration","filter":""}',
            },
        }
    ],
}
ANSWER = "I'll search for space movies now.Try *Interstellar*."


class FakeServer:
    """Answers every completion request with `bodies[n]` (the last one repeats)."""

    def __init__(self, *bodies: bytes) -> None:
        self.bodies = list(bodies) or [ONE_SEARCH]
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(json.loads(request.content))
        self.paths.append(request.url.path)
        body = self.bodies[min(len(self.requests), len(self.bodies)) - 1]
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)


class Harness:
    """A controller wired to the real host and client, with text streams instead of a tty."""

    def __init__(
        self,
        tmp_path: Path,
        server: FakeServer,
        *,
        save: bool = True,
        check_saving: Callable[[], None] | None = None,
    ) -> None:
        self.server = server
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()
        self.terminal = io.StringIO()
        self.ctx = RunContext(
            stdin=io.StringIO(),
            stdout=self.stdout,
            stderr=self.stderr,
            environ={"PATH": os.environ.get("PATH", "")},
            stdin_isatty=False,
            stdout_isatty=False,
            stderr_isatty=False,
        )
        connection = Connection(
            profile=None,
            url=SERVER_URL,
            api_key="chat-key",
            api_key_source="test",
            workspace="movies",
            model="gpt-4o-mini",
        )
        self.client = MeiliClient(connection, transport=httpx.MockTransport(server))
        self.db_path = tmp_path / "history.sqlite3"
        self._store: HistoryStore | None = None
        self.host = TerminalHost(self.ctx, terminal=self.terminal, run_turn=self._run_turn)
        self.state = ChatState(workspace="movies", model="gpt-4o-mini")
        self.controller = ChatController(
            self.state,
            self.host,
            identity=Identity(profile=None, server_url=SERVER_URL),
            history=self.store,
            save=save,
            check_saving=check_saving,
        )

    def store(self) -> HistoryStore:
        if self._store is None:
            self._store = HistoryStore.open(self.db_path)
        return self._store

    def _run_turn(
        self, state: ChatState, prompt: list[dict[str, Any]], on_event: Any, on_sent: Any
    ) -> Any:
        return run_turn(
            self.client,
            workspace=state.workspace,
            model=state.model,
            history=state.messages,
            new_messages=prompt,
            on_event=on_event,
            on_sent=on_sent,
        )

    def type(self, *lines: str) -> None:
        for line in lines:
            assert self.controller.handle(line) is True

    @property
    def out(self) -> str:
        return self.stdout.getvalue()

    @property
    def err(self) -> str:
        return self.stderr.getvalue()

    def close(self) -> None:
        self.client.close()
        if self._store is not None:
            self._store.close()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    made = Harness(tmp_path, FakeServer())
    yield made
    made.close()


def messages_of(request: dict[str, Any]) -> list[dict[str, Any]]:
    return list(request["messages"])


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize("line", ["", " ", "\n", "  \n\t \n"])
def test_blank_lines_parse_to_nothing(line: str) -> None:
    assert parse_line(line) is None


def test_an_empty_line_in_the_repl_sends_nothing(harness: Harness) -> None:
    harness.type("", "   ", "\n\n")
    assert harness.server.requests == []
    assert harness.out == ""


def test_questions_keep_their_text_but_not_surrounding_blank_lines() -> None:
    assert parse_line("  which movies?  ") == Question("  which movies?")
    assert parse_line("\n\n    code()\n  more\n\n") == Question("    code()\n  more")


def test_commands_are_parsed_with_their_argument() -> None:
    assert parse_line("/sources 2") == Command("/sources", "2")
    assert parse_line("/SOURCES") == Command("/sources", "")
    assert parse_line("/system Be terse.\nCite sources.") == Command(
        "/system", "Be terse.\nCite sources."
    )
    assert parse_line("/quit") == Command("/exit", "")
    assert parse_line("/q") == Command("/exit", "")


def test_unknown_commands_and_the_double_slash_escape() -> None:
    assert parse_line("/frobnicate now") == UnknownCommand("/frobnicate")
    assert parse_line("/etc/passwd is what?") == UnknownCommand("/etc/passwd")
    assert parse_line("//etc/passwd is what?") == Question("/etc/passwd is what?")


def test_unknown_command_says_so_and_sends_nothing(harness: Harness) -> None:
    harness.type("/frobnicate")
    assert harness.server.requests == []
    assert "unknown command /frobnicate" in harness.err
    assert "nothing was sent" in harness.err


# --------------------------------------------------------------------------- the conversation


def test_follow_up_carries_user_tool_messages_and_answer_in_order(harness: Harness) -> None:
    harness.type("space movies", "tell me more about the second one")
    first, second = harness.server.requests
    assert messages_of(first) == [{"role": "user", "content": "space movies"}]
    tool_result = messages_of(second)[2]
    assert messages_of(second) == [
        {"role": "user", "content": "space movies"},
        TOOL_CALL,
        tool_result,
        {"role": "assistant", "content": ANSWER},
        {"role": "user", "content": "tell me more about the second one"},
    ]
    assert tool_result["role"] == "tool"
    assert tool_result["tool_call_id"] == "call_Xq7pLm2"
    assert "title: The Martian" in tool_result["content"]
    # The three tools are declared every time; nothing else of the stream goes back.
    names = [tool["function"]["name"] for tool in second["tools"]]
    assert names == [
        "_meiliSearchProgress",
        "_meiliSearchSources",
        "_meiliAppendConversationMessage",
    ]
    dumped = json.dumps(second["messages"])
    assert "_meiliSearchProgress" not in dumped
    assert "_meiliSearchSources" not in dumped
    assert not any(m["role"] == "system" for m in second["messages"])
    assert all(path == "/chats/movies/chat/completions" for path in harness.server.paths)


def test_answers_stream_to_stdout(harness: Harness) -> None:
    harness.type("space movies")
    assert ANSWER in harness.out


def test_system_command_adds_the_users_own_system_message_once(harness: Harness) -> None:
    harness.type("/system Answer in French.", "space movies", "and more?")
    first, second = harness.server.requests
    assert messages_of(first) == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "space movies"},
    ]
    # Kept in the conversation, not sent twice.
    system_messages = [m for m in messages_of(second) if m["role"] == "system"]
    assert system_messages == [{"role": "system", "content": "Answer in French."}]
    assert messages_of(second)[0]["role"] == "system"


def test_a_request_refused_before_the_stream_leaves_no_turn_behind(tmp_path: Path) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(
                403,
                json={
                    "message": "The provided API key is invalid.",
                    "code": "invalid_api_key",
                    "type": "auth",
                    "link": "https://docs.meilisearch.com/errors",
                },
            )
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=ONE_SEARCH
        )

    server = FakeServer()
    harness = Harness(tmp_path, server)
    harness.client = MeiliClient(harness.client.connection, transport=httpx.MockTransport(handler))
    try:
        harness.type("first try")
        assert "error:" in harness.err
        assert harness.state.messages == []
        assert harness.state.turns == []
        harness.type("second try")
        assert harness.state.messages[0] == {"role": "user", "content": "second try"}
    finally:
        harness.close()


def test_provider_error_is_reported_and_the_session_goes_on(tmp_path: Path) -> None:
    harness = Harness(tmp_path, FakeServer(PROVIDER_ERROR, ONE_SEARCH))
    try:
        harness.type("first", "second")
        assert "error:" in harness.err
        assert len(harness.server.requests) == 2
        # The failed turn had no answer: the second request does not carry the first question.
        assert messages_of(harness.server.requests[1]) == [{"role": "user", "content": "second"}]
    finally:
        harness.close()


def test_an_interrupted_turn_stays_in_the_conversation() -> None:
    state = ChatState(workspace="movies", model="m")
    turn = Turn(prompt_messages=[{"role": "user", "content": "q"}])
    turn.feed(ConversationMessage(TOOL_CALL))
    turn.feed(ConversationMessage({"role": "tool", "tool_call_id": "call_Xq7pLm2", "content": "x"}))
    turn.feed(TextDelta("Partial"))
    turn.close(interrupted=True)
    entry = state.record("q", [{"role": "user", "content": "q"}], turn)
    assert entry is not None and entry.status == "interrupted"
    assert state.messages[-1] == {"role": "assistant", "content": "Partial"}
    assert len(state.messages) == 4


def test_a_tool_call_cut_from_its_result_is_not_kept() -> None:
    state = ChatState(workspace="movies", model="m")
    turn = Turn(prompt_messages=[{"role": "user", "content": "q"}])
    turn.feed(TextDelta("Searching…"))
    turn.feed(ConversationMessage(TOOL_CALL))  # the result never came
    turn.close(interrupted=True)
    state.record("q", [{"role": "user", "content": "q"}], turn)
    assert state.messages == [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "Searching…"},
    ]
    assert complete_tool_pairs([{"role": "tool", "tool_call_id": "zzz", "content": ""}]) == []


def test_nothing_received_keeps_nothing_and_leaves_the_system_message_queued() -> None:
    state = ChatState(workspace="movies", model="m", base_system=["Be terse."])
    prompt = state.prompt_for("q")
    turn = Turn(prompt_messages=prompt)
    turn.close(interrupted=True)
    assert state.record("q", prompt, turn) is None
    assert state.messages == []
    assert state.prompt_for("again")[0] == {"role": "system", "content": "Be terse."}


def test_piped_text_goes_with_the_first_question_only(harness: Harness) -> None:
    harness.state.seed = "NOTES LINE 1\nNOTES LINE 2"
    harness.type("summarise", "and then?")
    first, second = harness.server.requests
    assert messages_of(first) == [
        {"role": "user", "content": "NOTES LINE 1\nNOTES LINE 2\n\nsummarise"}
    ]
    assert messages_of(second)[-1] == {"role": "user", "content": "and then?"}


def test_new_starts_a_fresh_conversation(harness: Harness) -> None:
    harness.type("space movies", "/new", "hello")
    assert messages_of(harness.server.requests[1]) == [{"role": "user", "content": "hello"}]
    assert "New conversation." in harness.out


# --------------------------------------------------------------------------- commands


def test_retry_replaces_the_last_turn_in_the_conversation_and_history(harness: Harness) -> None:
    harness.type("space movies", "/retry", "follow-up")
    assert len(harness.server.requests) == 3
    assert harness.server.requests[1]["messages"] == harness.server.requests[0]["messages"]
    follow_up = messages_of(harness.server.requests[2])
    assert [m["role"] for m in follow_up] == ["user", "assistant", "tool", "assistant", "user"]
    assert harness.state.conversation_id is not None
    saved = harness.store().get(harness.state.conversation_id)
    assert [turn.question for turn in saved.turns] == ["space movies", "follow-up"]
    assert harness.store().messages(harness.state.conversation_id) == harness.state.messages


def test_edit_sends_the_edited_question_instead(harness: Harness) -> None:
    seen: list[str] = []

    def fake_edit(text: str) -> str | None:
        seen.append(text)
        return "space movies from the 90s\n"

    harness.host.edit = fake_edit  # type: ignore[method-assign]
    harness.type("space movies", "/edit")
    assert seen == ["space movies"]
    assert messages_of(harness.server.requests[1]) == [
        {"role": "user", "content": "space movies from the 90s"}
    ]
    assert [turn.question for turn in harness.state.turns] == ["space movies from the 90s"]


def test_edit_cancelled_sends_nothing(harness: Harness) -> None:
    harness.host.edit = lambda text: None  # type: ignore[method-assign]
    harness.type("space movies", "/edit")
    assert len(harness.server.requests) == 1
    assert "nothing was sent" in harness.err


def test_retry_and_edit_before_any_question_say_so(harness: Harness) -> None:
    harness.type("/retry", "/edit", "/sources", "/copy", "/searches")
    assert harness.server.requests == []
    assert harness.err.count("error:") == 5


def test_sources_lists_and_shows_one_document_in_full(harness: Harness) -> None:
    shown: list[Any] = []
    harness.host.show_sources = shown.append  # type: ignore[method-assign,assignment]
    harness.type("space movies", "/sources", "/sources 2", "/sources 3")
    assert len(shown) == 1 and shown[0][0].q == "space exploration"
    assert "[2] The Martian (id 286217)  (movies)" in harness.out
    assert '  genres: ["Drama", "Adventure", "Science Fiction"]' in harness.out
    assert "no source 3" in harness.err


def test_searches_shows_index_query_and_filter(harness: Harness) -> None:
    harness.type("space movies", "/searches")
    assert "1. movies · “space exploration” · 2 documents" in harness.out


def test_copy_uses_a_clipboard_tool_or_osc52(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clipboard, "tools_for", lambda environ: [])
    harness.type("space movies", "/copy")
    written = harness.terminal.getvalue()
    assert written.startswith("\x1b]52;c;") and written.endswith("\x07")
    payload = written[len("\x1b]52;c;") : -1]
    import base64

    assert base64.b64decode(payload).decode() == ANSWER
    assert "Copied the last answer (through the terminal, OSC 52)." in harness.out


def test_clipboard_tool_choice_follows_the_session(tmp_path: Path) -> None:
    for name in ("wl-copy", "xclip", "xsel", "pbcopy"):
        tool = tmp_path / name
        tool.write_text("#!/bin/sh\nexec /bin/cat > /dev/null\n")
        tool.chmod(0o755)
    path = {"PATH": str(tmp_path)}
    old = os.environ["PATH"]
    os.environ["PATH"] = str(tmp_path)
    try:
        assert clipboard.tools_for({}, "linux") == []
        assert clipboard.tools_for({"WAYLAND_DISPLAY": "wayland-0"}, "linux")[0] == ["wl-copy"]
        assert clipboard.tools_for({"DISPLAY": ":0"}, "linux")[0][0] == "xclip"
        assert clipboard.tools_for({}, "darwin") == [["pbcopy"]]
        terminal = io.StringIO()
        how = clipboard.copy_text("hi", environ={"DISPLAY": ":0", **path}, terminal=terminal)
        assert how == "with xclip"
        assert terminal.getvalue() == ""
    finally:
        os.environ["PATH"] = old


def test_copy_strips_control_sequences_from_the_answer(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64

    monkeypatch.setattr(clipboard, "tools_for", lambda environ: [])
    harness.host.copy("safe\x1b]52;c;ZXZpbA==\x07 text\x9b2J")
    payload = harness.terminal.getvalue()[len("\x1b]52;c;") : -1]
    assert base64.b64decode(payload).decode() == "safe]52;c;ZXZpbA== text2J"


def test_workspace_and_model_switch_the_next_request(harness: Harness) -> None:
    harness.type("/workspace docs", "/model mistral-large", "hello", "/workspace")
    assert harness.server.paths == ["/chats/docs/chat/completions"]
    assert harness.server.requests[0]["model"] == "mistral-large"
    assert "Workspace: docs" in harness.out
    harness.type("/workspace no/such thing", "/model two words")
    assert harness.state.workspace == "docs"
    assert harness.state.model == "mistral-large"
    assert harness.err.count("error:") == 2


def test_save_writes_markdown_with_sources_and_refuses_to_overwrite(
    harness: Harness, tmp_path: Path
) -> None:
    target = tmp_path / "notes.md"
    harness.type("space movies", f"/save {target}")
    assert target.stat().st_mode & 0o777 == 0o600  # a conversation is private by default
    text = target.read_text()
    assert text.startswith("# space movies\n")
    # The same Markdown as `history export`, with each source's index and id.
    assert "## Question 1\n\nspace movies" in text
    assert "Try *Interstellar*." in text
    assert "**Sources**" in text and "2. The Martian (`movies`, id 286217)" in text
    target.write_text("keep me")
    harness.type(f"/save {target}")
    assert target.read_text() == "keep me"
    assert "exists" in harness.err
    harness.type(f"/save -f {target}")
    assert target.read_text().startswith("# space movies")


def test_history_and_resume_continue_a_saved_conversation(harness: Harness) -> None:
    harness.type("space movies")
    first_id = harness.state.conversation_id
    assert first_id is not None
    harness.type("/new", "hello there")
    harness.type("/history")
    assert first_id[:8] in harness.out and "space movies" in harness.out
    harness.type(f"/resume {first_id[:6]}", "tell me more")
    assert harness.state.conversation_id == first_id
    last = messages_of(harness.server.requests[-1])
    assert [m["role"] for m in last] == ["user", "assistant", "tool", "assistant", "user"]
    assert last[0] == {"role": "user", "content": "space movies"}
    assert "Continuing" in harness.out
    harness.type("/resume ffffffff")
    assert "no saved conversation" in harness.err


def test_no_save_keeps_history_empty(tmp_path: Path) -> None:
    harness = Harness(tmp_path, FakeServer(), save=False)
    try:
        harness.type("space movies")
        assert harness.state.conversation_id is None
        assert harness.store().list() == []
    finally:
        harness.close()


def test_an_untrusted_history_location_is_told_before_a_question_is_sent(
    tmp_path: Path,
) -> None:
    from meilichat_cli.chat.recorder import check_before_saving

    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    harness = Harness(
        data,
        FakeServer(),
        check_saving=lambda: check_before_saving(
            data / "history.sqlite3", alternative="or chat without saving"
        ),
    )
    try:
        data.chmod(0o777)
        harness.type("space movies")
        assert harness.server.requests == []
        assert "can be written by other users" in harness.err
        assert "nothing was sent" in harness.err
        assert "chmod 700" in harness.err and "or chat without saving" in harness.err
        data.chmod(0o700)  # fixed in another terminal: the next question goes through
        harness.type("space movies")
        assert len(harness.server.requests) == 1
        assert harness.state.conversation_id is not None
    finally:
        data.chmod(0o700)
        harness.close()


def test_without_saving_the_history_location_is_not_checked(tmp_path: Path) -> None:
    def refuse() -> None:
        raise AssertionError("checked although nothing is saved")

    harness = Harness(tmp_path, FakeServer(), save=False, check_saving=refuse)
    try:
        harness.type("space movies")
        assert len(harness.server.requests) == 1
    finally:
        harness.close()


def test_help_lists_every_command_and_the_keys(harness: Harness) -> None:
    harness.type("/help")
    for name in (
        "/new",
        "/sources [N]",
        "/searches",
        "/retry",
        "/edit",
        "/copy",
        "/workspace",
        "/model",
        "/system",
        "/save",
        "/history",
        "/resume ID",
        "/exit",
    ):
        assert name in harness.out
    assert "Alt+Enter" in harness.out and "Ctrl-X Ctrl-E" in harness.out


def test_exit_ends_the_loop(harness: Harness) -> None:
    assert harness.controller.handle("/exit") is False
    assert harness.controller.handle("/quit") is False


# --------------------------------------------------------------------------- the prompt


def make_prompt(pipe: Any, history_path: Path | None = None, **kwargs: Any) -> ReplPrompt:
    return ReplPrompt(history_path=history_path, input=pipe, output=DummyOutput(), **kwargs)


def read_after(keys: str, history_path: Path | None = None, **kwargs: Any) -> str:
    with create_pipe_input() as pipe:
        prompt = make_prompt(pipe, history_path, **kwargs)
        pipe.send_text(keys)
        return prompt.read()


def test_enter_sends() -> None:
    assert read_after("which movies?\r") == "which movies?"


@pytest.mark.parametrize("newline", ["\x1b\r", "\n"], ids=["alt-enter", "ctrl-j"])
def test_newline_keys_insert_a_line_instead_of_sending(newline: str) -> None:
    assert read_after(f"first{newline}second\r") == "first\nsecond"


def test_bracketed_paste_of_several_lines_stays_in_the_buffer() -> None:
    pasted = "\x1b[200~line one\rline two\r\nline three\r\x1b[201~"
    assert read_after(pasted + " and?\r") == "line one\nline two\nline three\n and?"


def test_ctrl_c_clears_the_line_and_ctrl_d_leaves() -> None:
    handled: list[str] = []

    class Recorder:
        def handle(self, line: str) -> bool:
            handled.append(line)
            return True

    with create_pipe_input() as pipe:
        prompt = make_prompt(pipe)
        pipe.send_text("half a question\x03")
        pipe.send_text("whole question\r")
        pipe.send_text("\x04")
        run_loop(prompt.read, Recorder())  # type: ignore[arg-type]
    assert handled == ["whole question"]


def send_when(pipe: Any, *steps: tuple[Callable[[], bool], str]) -> threading.Thread:
    """For each (ready, keys) step, send `keys` once `ready()` holds. Completions,
    suggestions and the editor finish in the background; keys sent earlier would race them."""

    def run_steps() -> None:
        for ready, keys in steps:
            deadline = time.monotonic() + 10
            while not ready():
                if time.monotonic() > deadline:
                    pipe.send_text("\x03")  # give up: read() raises KeyboardInterrupt
                    return
                time.sleep(0.01)
            pipe.send_text(keys)

    thread = threading.Thread(target=run_steps, daemon=True)
    thread.start()
    return thread


def test_tab_completes_slash_commands() -> None:
    with create_pipe_input() as pipe:
        prompt = make_prompt(pipe)
        buffer = prompt.session.default_buffer
        pipe.send_text("/sou")
        send_when(
            pipe,
            (lambda: buffer.complete_state is not None, "\t"),
            (lambda: buffer.text == "/sources", "\r"),
        )
        assert prompt.read() == "/sources"
    completer = SlashCompleter()
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    names = [c.text for c in completer.get_completions(Document("/s"), CompleteEvent())]
    assert names == ["/sources", "/searches", "/system", "/save"]
    assert list(completer.get_completions(Document("/save no"), CompleteEvent())) == []
    assert list(completer.get_completions(Document("hello"), CompleteEvent())) == []


def test_suggestions_come_from_history() -> None:
    with create_pipe_input() as pipe:
        prompt = make_prompt(pipe)
        prompt.remember("which space movies do you have?")
        buffer = prompt.session.default_buffer
        pipe.send_text("which sp")
        send_when(pipe, (lambda: buffer.suggestion is not None, "\x1b[C\r"))  # → accepts it
        assert prompt.read() == "which space movies do you have?"


def test_ctrl_x_ctrl_e_puts_the_edited_text_back_without_sending(tmp_path: Path) -> None:
    script = tmp_path / "fake-editor"
    script.write_text('#!/bin/sh\nprintf "from the editor\\n" >> "$1"\n')
    script.chmod(0o755)
    environ = {"EDITOR": str(script), "PATH": os.environ.get("PATH", "")}
    with create_pipe_input() as pipe:
        prompt = make_prompt(pipe, environ=environ)
        buffer = prompt.session.default_buffer
        pipe.send_text("typed\x18\x05")
        send_when(pipe, (lambda: "from the editor" in buffer.text, " ok\r"))
        result = [prompt.read()]
    assert result == ["typed\nfrom the editor ok"]


def test_history_file_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "repl-history"
    assert read_after("remember me\r", path) == "remember me"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert "+remember me" in path.read_text()


def test_history_file_with_loose_permissions_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "repl-history"
    path.write_text("\n# old\n+old line\n")
    path.chmod(0o644)
    assert prepare_history_file(path) is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_repl_history_file_with_invalid_utf8_does_not_stop_start_up(tmp_path: Path) -> None:
    path = tmp_path / "repl-history"
    path.write_bytes(b"\n# 2024\n+caf\xe9 \xff\xfe broken\n\n# 2024\n+fine line\n")
    path.chmod(0o600)
    with create_pipe_input() as pipe:
        prompt = make_prompt(pipe, path)
        assert prompt.warning is None
        pipe.send_text("still works\r")
        assert prompt.read() == "still works"
        loaded = list(prompt.session.history.get_strings())
    assert "still works" in loaded
    assert any("\ufffd" in entry for entry in prompt.session.history.load_history_strings())


def test_unusable_history_file_warns_and_keeps_history_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with create_pipe_input() as pipe:
        prompt = make_prompt(pipe, blocker / "repl-history")
        assert prompt.warning is not None and "not saved" in prompt.warning
        pipe.send_text("hello\r")
        assert prompt.read() == "hello"


# --------------------------------------------------------------------------- the whole loop


def test_the_loop_through_a_pipe_sends_follow_ups_with_context(harness: Harness) -> None:
    with create_pipe_input() as pipe:
        prompt = make_prompt(pipe)
        pipe.send_text("space movies\r")
        pipe.send_text("\r")  # empty: ignored
        pipe.send_text("/bogus\r")
        pipe.send_text("tell me more about the second one\r")
        pipe.send_text("\x04")
        run_loop(prompt.read, harness.controller)
    assert len(harness.server.requests) == 2
    roles = [m["role"] for m in harness.server.requests[1]["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant", "user"]
    assert "unknown command /bogus" in harness.err


def test_loop_survives_ctrl_c_raised_while_a_command_runs(harness: Harness) -> None:
    calls: list[str] = []

    def interrupting_edit(text: str) -> str | None:
        calls.append(text)
        raise KeyboardInterrupt

    harness.host.edit = interrupting_edit  # type: ignore[method-assign]
    lines = iter(["space movies", "/edit", "/searches"])

    def read() -> str:
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    run_loop(read, harness.controller)
    assert calls == ["space movies"]
    assert "1. movies" in harness.out


def test_one_http_client_serves_every_turn_of_a_session(monkeypatch: pytest.MonkeyPatch) -> None:
    from meilichat_cli.api.connect import ConnectionFlags
    from meilichat_cli.repl import session as chat

    server = FakeServer()
    opened: list[MeiliClient] = []

    def open_client(self: ConnectionFlags, ctx: RunContext, connection: Connection) -> MeiliClient:
        client = MeiliClient(connection, transport=httpx.MockTransport(server))
        opened.append(client)
        return client

    monkeypatch.setattr(ConnectionFlags, "open_client", open_client)
    harness_ctx = RunContext(
        stdin=io.StringIO(),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        environ={},
        stdin_isatty=False,
        stdout_isatty=False,
        stderr_isatty=False,
    )
    connection = Connection(
        profile=None,
        url=SERVER_URL,
        api_key="k",
        api_key_source="test",
        workspace="movies",
        model="m",
    )
    session = chat._SessionClient(harness_ctx, ConnectionFlags(), connection, chat._Warmup())
    state = ChatState(workspace="movies", model="m")
    for question in ("one", "two", "three"):
        session.run_turn(state, state.prompt_for(question), lambda event: None)
    session.close()
    assert len(opened) == 1
    assert len(server.requests) == 3


def test_sources_after_a_follow_up_without_search_show_the_earlier_documents(
    tmp_path: Path,
) -> None:
    no_search = (
        b"".join(
            b"data: " + json.dumps(chunk).encode() + b"\n\n"
            for chunk in (
                {
                    "id": "c",
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"content": "It is about Mars."},
                            "finish_reason": None,
                        }
                    ],
                },
                {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            )
        )
        + b"data: [DONE]\n\n"
    )
    harness = Harness(tmp_path, FakeServer(ONE_SEARCH, no_search))
    try:
        harness.type("space movies", "tell me more about the second one", "/sources 2")
        assert "It is about Mars." in harness.out
        assert "The last answer ran no new search" in harness.out
        assert "[2] The Martian (id 286217)" in harness.out
        harness.type("/searches")
        assert "1. movies · “space exploration” · 2 documents" in harness.out
        harness.type("/new", "/searches")
        assert "no answer yet" in harness.err
    finally:
        harness.close()


def test_as_switches_the_persona_for_the_next_questions_and_history_records_it(
    tmp_path: Path,
) -> None:
    h = Harness(tmp_path, FakeServer())
    checked: list[str] = []

    def check(name: str) -> str:
        checked.append(name)
        if name != "alice":
            raise UsageError(f"no persona {name!r}")
        return name

    h.controller._check_persona = check
    h.type("/as")
    assert "Asking as yourself" in h.stdout.getvalue()
    h.type("/as carol")
    assert h.state.persona is None and "no persona 'carol'" in h.stderr.getvalue()
    h.type("/as alice", "space movies")
    assert h.state.persona == "alice" and checked == ["carol", "alice"]
    h.type("/as -", "and more?")
    assert h.state.persona is None
    record = h.store().get(h.state.conversation_id or "")
    assert [turn.persona for turn in record.turns] == ["alice", None]


def test_as_without_a_profile_says_personas_are_not_available(tmp_path: Path) -> None:
    h = Harness(tmp_path, FakeServer())
    h.type("/as alice")
    assert "personas are not available" in h.stderr.getvalue()
