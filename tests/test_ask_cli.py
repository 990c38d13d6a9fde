"""`meilichat ask` end to end against the stand-in Meilisearch on 127.0.0.1, for every output
mode and every exit-code row of the contract: in process through the error boundary, and as a
real process for what needs one (Ctrl-C, a reader that leaves early)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from tests.conftest import MASTER_KEY, run_meilichat_into
from tests.inprocess import invoke, run_cli

if TYPE_CHECKING:
    from meilichat_cli.standin import StandInServer

QUESTION = "which space movies do you have?"


def completions(server: StandInServer) -> list[dict[str, object]]:
    return server.completion_bodies()


def test_plain_output_is_the_answer_alone(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    result = run_cli(["ask", QUESTION], server_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert "\x1b" not in result.stdout
    body = completions(standin)[-1]
    assert body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": QUESTION}]
    assert [t["function"]["name"] for t in body["tools"]] == [  # type: ignore[index]
        "_meiliSearchProgress",
        "_meiliSearchSources",
        "_meiliAppendConversationMessage",
    ]


def test_json_output_contract(server_env: dict[str, str]) -> None:
    result = run_cli(["ask", "--json", QUESTION], server_env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert list(data) == [
        "answer",
        "complete",
        "finish_reason",
        "searches",
        "errors",
        "conversation_id",
        "profile",
        "workspace",
        "model",
        "usage",
        "timings",
        "estimate",
    ]
    assert data["complete"] is True
    assert data["finish_reason"] == "stop"
    assert data["answer"]
    assert data["errors"] == []
    assert data["searches"], "the stand-in searches for this question"
    search = data["searches"][0]
    assert set(search) == {
        "call_id",
        "index_uid",
        "q",
        "filter",
        "sources",
        "started_ms",
        "elapsed_ms",
        "hits",
        "ids",
    }
    assert search["sources"], "sources are tied to their search"
    assert isinstance(data["conversation_id"], str)
    assert data["workspace"] == server_env["MEILICHAT_WORKSPACE"]
    assert data["model"] == "gpt-4o-mini"
    assert set(data["timings"]) == {"first_search_ms", "first_token_ms", "total_ms"}
    assert data["timings"]["total_ms"] >= data["timings"]["first_token_ms"] > 0


def test_events_output_is_ndjson_ending_with_done(server_env: dict[str, str]) -> None:
    result = run_cli(["ask", "--events", QUESTION], server_env)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "done"
    assert "search" in kinds and "sources" in kinds and "delta" in kinds and "message" in kinds
    assert kinds.index("search") < kinds.index("sources")
    answer = "".join(e["text"] for e in events if e["event"] == "delta")
    assert events[-1]["answer"] == answer
    assert events[-1]["complete"] is True


def test_piped_stdin_comes_before_the_arguments(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    result = run_cli(["ask", "summarise"], server_env, input="notes about space\n")
    assert result.returncode == 0, result.stderr
    messages = completions(standin)[-1]["messages"]
    assert messages == [{"role": "user", "content": "notes about space\n\nsummarise"}]


def test_system_option_adds_a_system_message(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    result = run_cli(["ask", "-s", "Be brief.", QUESTION], server_env)
    assert result.returncode == 0, result.stderr
    assert completions(standin)[-1]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": QUESTION},
    ]


@pytest.mark.parametrize("args,stdin", [(["ask", ""], ""), (["ask"], "   \n\t\n")])
def test_an_empty_prompt_sends_nothing(
    server_env: dict[str, str], standin: StandInServer, args: list[str], stdin: str
) -> None:
    result = run_cli(args, server_env, input=stdin)
    assert result.returncode == 2
    assert "Prompt is empty" in result.stderr
    assert completions(standin) == []


def test_a_huge_prompt_is_refused_before_sending(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    result = run_cli(["ask", "x"], server_env, input="a" * (3 * 1024 * 1024))
    assert result.returncode == 2
    assert "limit" in result.stderr
    assert completions(standin) == []


def test_continue_sends_the_first_turns_tool_messages(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    first = run_cli(["ask", "--json", QUESTION], server_env)
    assert first.returncode == 0, first.stderr
    first_id = json.loads(first.stdout)["conversation_id"]
    second = run_cli(["ask", "--json", "-c", "tell me more about the second one"], server_env)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["conversation_id"] == first_id
    bodies = completions(standin)
    sent = bodies[-1]["messages"]
    assert isinstance(sent, list)
    roles = [m["role"] for m in sent]
    # user, (assistant tool_calls, tool)+, assistant answer, user
    assert roles[0] == "user" and roles[-1] == "user" and roles[-2] == "assistant"
    assert "tool" in roles
    first_turn_tools = [m for m in sent if m["role"] == "tool"]
    assert all("tool_call_id" in m for m in first_turn_tools)
    assert not any(m["role"] == "system" for m in sent), "never re-send a system prompt"
    prefix = first_id[:8]
    third = run_cli(["ask", "--json", "--conversation", prefix, "and the first one?"], server_env)
    assert third.returncode == 0, third.stderr
    assert json.loads(third.stdout)["conversation_id"] == first_id


def test_no_save_leaves_no_history(server_env: dict[str, str]) -> None:
    result = run_cli(["ask", "--json", "--no-save", QUESTION], server_env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["conversation_id"] is None
    listed = run_cli(["history", "list", "--json"], server_env)
    assert json.loads(listed.stdout) == []


# -- exit codes -------------------------------------------------------------------------------


def test_wrong_key_exits_3(server_env: dict[str, str]) -> None:
    env = {**server_env, "MEILICHAT_API_KEY": "not-the-key"}
    result = run_cli(["ask", QUESTION], env)
    assert result.returncode == 3
    assert "Key rejected" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_key_exits_3_naming_key_set(server_env: dict[str, str]) -> None:
    env = {k: v for k, v in server_env.items() if k != "MEILICHAT_API_KEY"}
    result = run_cli(["ask", QUESTION], env)
    assert result.returncode == 3
    assert "meilichat key set" in result.stderr


def test_an_unknown_workspace_exits_4(server_env: dict[str, str]) -> None:
    result = run_cli(["ask", "-w", "nope", QUESTION], server_env)
    assert result.returncode == 4
    assert "Workspace 'nope' not found" in result.stderr


def test_json_failure_before_the_stream_keeps_stdout_empty(server_env: dict[str, str]) -> None:
    result = run_cli(["ask", "--json", "-w", "nope", QUESTION], server_env)
    assert result.returncode == 4
    assert result.stdout == ""
    error = json.loads(result.stderr.strip().splitlines()[-1])["error"]
    assert error["kind"] == "not_found"
    assert error["code"] == "chat_not_found"
    assert error["httpStatus"] == 404
    assert set(error) == {"kind", "code", "message", "hint", "httpStatus", "link"}


def test_chat_feature_disabled_exits_5_with_a_hint(clean_env: dict[str, str]) -> None:
    from meilichat_cli.standin import StandInServer

    with StandInServer(master_key="m" * 16, fresh=True) as server:
        env = {
            **clean_env,
            "MEILICHAT_URL": server.url,
            "MEILICHAT_API_KEY": "m" * 16,
            "MEILICHAT_WORKSPACE": "anything",
        }
        result = run_cli(["ask", QUESTION], env)
    assert result.returncode == 5
    assert "chatCompletions" in result.stderr


def test_connection_refused_exits_6(clean_env: dict[str, str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**clean_env, "MEILICHAT_URL": f"http://127.0.0.1:{port}", "MEILICHAT_WORKSPACE": "w"}
    result = run_cli(["ask", QUESTION], env)
    assert result.returncode == 6
    assert "connection refused" in result.stderr


def test_a_provider_error_event_exits_5(server_env: dict[str, str]) -> None:
    result = run_cli(["ask", "--json", "-m", "scenario:provider-error", QUESTION], server_env)
    assert result.returncode == 5
    data = json.loads(result.stdout)
    assert data["complete"] is False
    assert data["errors"] and data["errors"][0]["type"] != "response_error"


def test_a_search_error_still_answers_with_a_warning(server_env: dict[str, str]) -> None:
    result = run_cli(["ask", "-m", "scenario:search-error", QUESTION], server_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert "search failed" in result.stderr
    data = json.loads(
        run_cli(["ask", "--json", "-m", "scenario:search-error", QUESTION], server_env).stdout
    )
    assert data["complete"] is True
    assert data["errors"][0]["type"] == "response_error"


def test_cut_stream_keeps_the_partial_answer_and_exits_5(server_env: dict[str, str]) -> None:
    result = run_cli(["ask", "-m", "scenario:cut", QUESTION], server_env)
    assert result.returncode == 5
    assert result.stdout.strip(), "the partial answer is kept"
    assert "before completion" in result.stderr or "Connection lost" in result.stderr


def test_done_without_a_finish_is_an_unfinished_answer(server_env: dict[str, str]) -> None:
    # Meilisearch's answer when the model still calls tools after 20 rounds.
    result = run_cli(["ask", "--json", "-m", "scenario:max-rounds", QUESTION], server_env)
    assert result.returncode == 5
    shown = json.loads(result.stdout)
    assert shown["complete"] is False and shown["finish_reason"] is None
    assert any("gave up after 20 rounds" in error["message"] for error in shown["errors"])
    plain = run_cli(["ask", "-m", "scenario:max-rounds", QUESTION], server_env)
    assert plain.returncode == 5
    assert "meilichat: error: The answer did not finish" in plain.stderr


def test_a_stream_without_done_exits_5(server_env: dict[str, str]) -> None:
    result = run_cli(["ask", "-m", "scenario:no-done", QUESTION], server_env)
    assert result.returncode == 5
    assert "Stream ended before completion" in result.stderr


def test_a_stall_longer_than_the_timeout_exits_8(server_env: dict[str, str]) -> None:
    result = run_cli(
        ["ask", "--timeout", "1", "-m", "scenario:stall?after=3&seconds=5", QUESTION], server_env
    )
    assert result.returncode == 8
    assert "read timeout" in result.stderr
    assert result.stdout.strip(), "the partial answer is kept"


def test_an_answer_that_outlasts_max_time_stops_with_exit_8_and_is_kept(
    server_env: dict[str, str],
) -> None:
    # Every delta comes well within the read timeout; only the whole answer is too long.
    args = ["ask", "--max-time", "0.5", "-m", "scenario:drip?interval=0.3", QUESTION]
    result = run_cli(args, server_env)
    assert result.returncode == 8, result.stderr
    assert result.stdout.strip(), "the partial answer is shown"
    assert result.stderr.splitlines()[0] == (
        "meilichat: error: The answer took longer than 0.5 s (--max-time); stopped"
    )
    listed = run_cli(["history", "list", "--json"], server_env)
    (conversation,) = json.loads(listed.stdout)
    shown = run_cli(["history", "show", conversation["id"], "--json"], server_env)
    (turn,) = json.loads(shown.stdout)["turns"]
    assert turn["status"] == "truncated"
    assert turn["answer"] and turn["answer"] in result.stdout


def test_a_server_that_falls_silent_is_stopped_at_max_time_not_at_the_read_timeout(
    server_env: dict[str, str],
) -> None:
    # Three deltas, then silence for 30 s (then the server hangs up). The read timeout is 60 s:
    # only --max-time can end this answer early, and it must, though no data arrives to check it.
    args = ["ask", "--max-time", "1", "--timeout", "60"]
    args += ["-m", "scenario:stall?after=3&seconds=30", QUESTION]
    result = run_cli(args, server_env)
    assert result.returncode == 8, result.stderr
    assert result.stdout.strip(), "the partial answer is shown"
    assert result.stderr.splitlines()[0] == (
        "meilichat: error: The answer took longer than 1 s (--max-time); stopped"
    )


def test_max_time_in_json_mode_reports_a_timeout(server_env: dict[str, str]) -> None:
    args = ["ask", "--json", "--max-time", "0.5", "-m", "scenario:drip?interval=0.3", QUESTION]
    result = run_cli(args, server_env)
    assert result.returncode == 8, result.stderr
    summary = json.loads(result.stdout)
    assert summary["complete"] is False and summary["answer"]
    assert summary["errors"][-1]["type"] == "timeout"


def test_a_length_finish_warns_that_the_answer_was_cut(server_env: dict[str, str]) -> None:
    result = run_cli(["ask", "-m", "scenario:length", QUESTION], server_env)
    assert result.returncode == 0, result.stderr
    assert "cut off by the model's length limit" in result.stderr


@pytest.mark.parametrize(
    "scenario,expected",
    [
        ("http-502", "HTTP 502 from server (HTML page, likely a proxy)"),
        ("html-200", "Expected an event stream, got text/html"),
        ("redirect", "redirects to https://"),
    ],
)
def test_proxy_pages_exit_5(server_env: dict[str, str], scenario: str, expected: str) -> None:
    result = run_cli(["ask", "-m", f"scenario:{scenario}", QUESTION], server_env)
    assert result.returncode == 5
    assert expected in result.stderr
    assert "\x1b" not in result.stderr and "<script" not in result.stderr
    assert result.stderr.splitlines()[1].startswith("hint: "), "every error says what to do"


def test_hostile_escapes_never_reach_the_output(server_env: dict[str, str]) -> None:
    result = run_cli(["ask", "--sources", "-m", "scenario:escapes", QUESTION], server_env)
    assert result.returncode == 0, result.stderr
    for text in (result.stdout, result.stderr):
        assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
        assert "\r" not in text


def test_json_escapes_control_characters(server_env: dict[str, str]) -> None:
    result = run_cli(["ask", "--json", "-m", "scenario:escapes", QUESTION], server_env)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout
    assert "\\u001b" in result.stdout
    json.loads(result.stdout)


def test_ctrl_c_keeps_the_partial_answer_and_exits_130(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "meilichat_cli",
            "ask",
            "-m",
            "scenario:drip?interval=0.2",
            QUESTION,
        ],
        env=server_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), True)
    first = proc.stdout.read1(100)  # wait for the first streamed bytes
    assert first
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert b"[interrupted]" in err
    assert b"Traceback" not in err
    deadline = time.monotonic() + 5
    while standin.stats.disconnects < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert standin.stats.disconnects >= 1, "the server saw the client go away"


DRIP = "scenario:drip?interval=0.2"


def test_ctrl_c_under_json_says_so_in_the_result_and_on_stderr(
    server_env: dict[str, str],
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "meilichat_cli", "ask", "--events", "-m", DRIP, QUESTION],
        env=server_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    # Wait for the first answer text, so the turn has something to keep.
    while b'"event": "delta"' not in (line := proc.stdout.readline()):
        assert line, "the stream ended before any text"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    done = json.loads(out.decode().strip().splitlines()[-1])
    assert done["event"] == "done" and done["complete"] is False
    assert done["answer"]
    assert {"type": "interrupted", "code": None, "message": "stopped before the answer ended"} in (
        done["errors"]
    )
    error = json.loads(err.decode().strip().splitlines()[-1])["error"]
    assert error["kind"] == "interrupted" and error["message"] == "interrupted"


def test_a_broken_pipe_exits_quietly(server_env: dict[str, str]) -> None:
    # About 135 KB of answer: more than a pipe buffer (64 KiB), so meilichat must meet the
    # closed pipe however late `head` runs. 3,000 tokens (13 KB) fit in the buffer, and on a
    # busy machine the whole answer was sometimes written, and saved complete, before `head`
    # had read its 10 bytes.
    result = run_meilichat_into(
        ["ask", "-m", "scenario:long?tokens=30000", "x"], "head -c 10", server_env
    )
    assert "Traceback" not in result.stderr
    assert result.stderr == ""
    assert result.returncode == 0
    # What arrived before the reader left is saved, marked interrupted.
    listed = run_cli(["history", "list", "--json"], server_env)
    assert listed.returncode == 0, listed.stderr
    (conversation,) = json.loads(listed.stdout)
    shown = run_cli(["history", "show", conversation["id"], "--json"], server_env)
    (turn,) = json.loads(shown.stdout)["turns"]
    assert turn["status"] == "interrupted"
    assert turn["answer"].startswith("I'll search for")


def test_sentinel_key_is_never_printed(server_env: dict[str, str]) -> None:
    sentinel = "SENTINEL-abcdef0123456789"
    env = {**server_env, "MEILICHAT_API_KEY": sentinel}
    for args in (
        ["ask", QUESTION],
        ["--debug", "ask", QUESTION],
        ["ask", "--json", QUESTION],
        ["--debug", "ask", "-w", "nope", QUESTION],
    ):
        result = run_cli(args, env)
        assert result.returncode != 0
        assert sentinel not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--json", "--plain"], None, "--json and --plain cannot be used together"),
        (["--events", "--plain"], None, "--events and --plain cannot be used together"),
        (["-c", "--conversation", "abc"], None, "-c/--continue and --conversation cannot"),
        (["--conversation", ""], None, "--conversation needs an id"),
        (
            ["--input", "json", "-c"],
            '{"messages": [{"role": "user", "content": "hi"}]}',
            'a "messages" conversation in the input cannot be combined with -c',
        ),
    ],
)
def test_conflicting_options_are_refused_before_anything_is_sent(
    server_env: dict[str, str],
    standin: StandInServer,
    args: list[str],
    stdin: str | None,
    message: str,
) -> None:
    words = [] if stdin is not None else [QUESTION]
    result = run_cli(["ask", *args, *words], server_env, input=stdin)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert completions(standin) == []


def test_chat_refuses_two_conversations_to_continue(server_env: dict[str, str]) -> None:
    result = run_cli(["chat", "-c", "--conversation", "abc"], server_env)
    assert result.returncode == 2
    assert "-c/--continue and --conversation cannot be used together" in result.stderr


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["ask", "hello"], "pass -w WORKSPACE"),
        (["ask", "--json", "hello"], "pass -w WORKSPACE"),
        (["scope", "check", "--as", "alice"], "pass -w WORKSPACE"),
        (["workspace", "show"], "pass the workspace name"),
    ],
)
def test_a_command_without_a_workspace_says_so_before_sending(
    server_env: dict[str, str], standin: StandInServer, args: list[str], hint: str
) -> None:
    env = {k: v for k, v in server_env.items() if k != "MEILICHAT_WORKSPACE"}
    result = invoke(args, env={**env, "MEILI_MASTER_KEY": MASTER_KEY})
    assert result.exit_code == 2, result.stderr
    assert "No workspace given" in result.stderr and hint in result.stderr
    assert standin.completion_bodies() == []
