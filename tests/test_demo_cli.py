"""`meilichat demo`: the README's first command, the JSON mode on the demo, a closed pipe,
and `demo --serve` answering another client."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import httpx

from tests.conftest import run_meilichat_into
from tests.inprocess import run_cli


def test_demo_answers_a_question_with_sources(clean_env: dict[str, str]) -> None:
    result = run_cli(["demo", "--delay", "0", "which space movies do you have?"], clean_env)
    assert result.returncode == 0, result.stderr
    assert "Gravity" in result.stdout
    assert "\x1b" not in result.stdout
    assert re.search(r"^\s*\[1\] ", result.stderr, re.MULTILINE), "sources listed on stderr"


def test_demo_json_is_the_ask_contract(clean_env: dict[str, str]) -> None:
    result = run_cli(["demo", "--json", "--delay", "0", "space movies"], clean_env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["complete"] is True
    assert data["workspace"] == "demo"
    assert data["searches"][0]["index_uid"] == "movies"
    assert data["searches"][0]["sources"]


def test_demo_refuses_two_output_modes_like_ask(clean_env: dict[str, str]) -> None:
    result = run_cli(["demo", "--json", "--events", "x"], clean_env)
    assert result.returncode == 2
    assert "--json and --events cannot be used together" in result.stderr
    assert result.stdout == ""


def test_a_demo_answer_that_stalls_past_timeout_exits_8_and_is_kept(
    clean_env: dict[str, str],
) -> None:
    # The stream's hint names --timeout: demo has it, as ask does.
    args = ["demo", "--delay", "0", "--timeout", "0.3", "-m", "scenario:stall?after=3&seconds=30"]
    result = run_cli([*args, "space movies"], clean_env)
    assert result.returncode == 8, result.stderr
    assert result.stdout.strip(), "the partial answer is kept"
    assert "meilichat: error: No data for 0.3 s (read timeout)" in result.stderr.splitlines()
    assert (
        "hint: the partial answer is kept; raise it with --timeout SECONDS"
        in result.stderr.splitlines()
    )
    (turn,) = _saved_demo_turns(clean_env)
    assert turn["status"] == "truncated"
    assert turn["answer"] and turn["answer"] in result.stdout


def test_a_demo_answer_that_outlasts_max_time_exits_8_and_is_kept(
    clean_env: dict[str, str],
) -> None:
    # Every delta comes well within the read timeout; only the whole answer is too long.
    args = ["demo", "--delay", "0", "--max-time", "0.5", "-m", "scenario:drip?interval=0.3"]
    result = run_cli([*args, "space movies"], clean_env)
    assert result.returncode == 8, result.stderr
    assert result.stdout.strip(), "the partial answer is kept"
    assert result.stderr.splitlines()[-2:] == [
        "meilichat: error: The answer took longer than 0.5 s (--max-time); stopped",
        "hint: the partial answer is kept; raise it with --max-time SECONDS",
    ]
    (turn,) = _saved_demo_turns(clean_env)
    assert turn["status"] == "truncated"
    assert turn["answer"] and turn["answer"] in result.stdout


def test_demo_refuses_the_timeouts_ask_refuses_in_asks_words(clean_env: dict[str, str]) -> None:
    for option in ("--timeout", "--max-time"):
        for value in ("0", "nan"):
            demo = run_cli(["demo", option, value, "space movies"], clean_env)
            ask = run_cli(["ask", option, value, "space movies"], clean_env)
            assert demo.returncode == ask.returncode == 2, (option, value, demo.stderr)
            assert f"Invalid value for '{option}'" in demo.stderr
            assert demo.stderr == ask.stderr.replace("meilichat ask", "meilichat demo")
            assert demo.stdout == ""


def _saved_demo_turns(env: dict[str, str]) -> list[dict[str, object]]:
    listed = run_cli(["history", "list", "--json"], env)
    (conversation,) = json.loads(listed.stdout)
    assert conversation["profile"] == "demo"
    shown = run_cli(["history", "show", conversation["id"], "--json"], env)
    turns: list[dict[str, object]] = json.loads(shown.stdout)["turns"]
    return turns


def test_an_empty_demo_question_names_the_demo_command(clean_env: dict[str, str]) -> None:
    result = run_cli(["demo", "  "], clean_env)
    assert result.returncode == 2
    assert "Prompt is empty" in result.stderr
    assert 'meilichat demo "…"' in result.stderr and "meilichat ask" not in result.stderr


def test_demo_survives_a_reader_that_leaves(clean_env: dict[str, str]) -> None:
    result = run_meilichat_into(["demo", "--delay", "0", "space movies"], "head -1", clean_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert "Traceback" not in result.stderr


def test_demo_serve_speaks_to_other_clients(clean_env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "meilichat_cli", "demo", "--serve", "--master-key", "k" * 20],
        env=clean_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner: list[str] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any("chat key" in x for x in banner):
            banner.append(proc.stdout.readline())
        text = "".join(banner)
        url = re.search(r"(http://127\.0\.0\.1:\d+)", text)
        key = re.search(r"chat key:\s+(\S+)", text)
        assert url and key, text
        body = {
            "model": "demo-model",
            "stream": True,
            "messages": [{"role": "user", "content": "space movies"}],
            "tools": [{"type": "function", "function": {"name": "_meiliSearchSources"}}],
        }
        with httpx.stream(
            "POST",
            f"{url.group(1)}/chats/demo/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {key.group(1)}"},
            timeout=20,
        ) as response:
            assert response.status_code == 200
            raw = b"".join(response.iter_raw())
        assert raw.startswith(b"retry: 10000\n\n")
        assert raw.endswith(b"data: [DONE]\n\n")
        assert b"_meiliSearchSources" in raw
        assert b"_meiliSearchProgress" not in raw, "only declared tools are reported"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    assert proc.returncode == 0
