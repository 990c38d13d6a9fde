"""From the demo to a server of your own: `demo --serve` keeps its keys for a master key and
its state in a directory, prints lines that work when pasted (the tour runs them), refuses a
busy port clearly; `demo` takes `ask`'s options and keeps its conversations apart."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from meilichat_cli.standin import StandInServer
from tests.inprocess import invoke

MASTER_KEY = "demo-master-key-0123456789"


def test_the_same_master_key_gives_the_same_keys_on_every_start() -> None:
    with StandInServer(master_key=MASTER_KEY) as first:
        keys = (first.chat_key, first.admin_key, first.search_key)
    with StandInServer(master_key=MASTER_KEY) as second:
        assert (second.chat_key, second.admin_key, second.search_key) == keys
    with StandInServer(master_key=MASTER_KEY + "-other") as other:
        assert other.chat_key != keys[0]


def test_a_data_dir_keeps_workspaces_features_and_created_keys(tmp_path: Path) -> None:
    data = tmp_path / "standin"
    with StandInServer(master_key=MASTER_KEY, data_dir=data) as server:
        admin = {"Authorization": f"Bearer {server.admin_key}"}
        created = httpx.patch(
            f"{server.url}/chats/support/settings", json={"source": "openAi"}, headers=admin
        )
        assert created.status_code == 200, created.text
        key = httpx.post(
            f"{server.url}/keys",
            json={"actions": ["chatCompletions"], "indexes": ["*"], "expiresAt": None},
            headers={"Authorization": f"Bearer {MASTER_KEY}"},
        )
        assert key.status_code == 201, key.text
        made = key.json()["key"]
    assert oct((data / "standin-state.json").stat().st_mode & 0o777) == "0o600"
    with StandInServer(master_key=MASTER_KEY, data_dir=data) as again:
        admin = {"Authorization": f"Bearer {again.admin_key}"}
        master = {"Authorization": f"Bearer {MASTER_KEY}"}
        listed = httpx.get(f"{again.url}/chats", headers=admin).json()
        assert {entry["uid"] for entry in listed["results"]} == {"demo", "support"}
        assert any(
            k["key"] == made
            for k in httpx.get(f"{again.url}/keys", headers=master).json()["results"]
        )


def test_a_busy_port_is_a_usage_error_naming_it_and_a_free_one(
    clean_env: dict[str, str],
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = invoke(["demo", "--serve", "--port", str(port)], env=clean_env)
    assert result.exit_code == 2, result.output
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    suggested = re.search(r"meilichat demo --serve --port (\d+)", result.stderr)
    assert suggested and int(suggested.group(1)) != port
    assert "internal error" not in result.stderr


def test_demo_conversations_are_saved_apart_and_continue_with_demo_c(
    clean_env: dict[str, str],
) -> None:
    first = invoke(["demo", "--delay", "0", "--json", "space movies"], env=clean_env)
    assert first.exit_code == 0, first.output
    started = json.loads(first.stdout)
    assert started["profile"] == "demo"
    follow = invoke(
        ["demo", "--delay", "0", "--json", "-c", "tell me more about the second one"],
        env=clean_env,
    )
    assert follow.exit_code == 0, follow.output
    assert json.loads(follow.stdout)["conversation_id"] == started["conversation_id"]
    assert "continuing conversation" not in follow.stderr  # a new port each time is normal

    listed = invoke(["history", "list"], env=clean_env)
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert len(rows) == 1 and "demo" in rows[0] and "2" in rows[0]

    elsewhere = invoke(["ask", "-c", "and the third?"], env=clean_env)
    assert elsewhere.exit_code == 2
    assert "meilichat demo -c" in elsewhere.stderr


def test_demo_takes_asks_options(clean_env: dict[str, str]) -> None:
    result = invoke(
        ["demo", "--delay", "0", "--no-save", "--plain", "--sources", "-m", "demo-model", "x"],
        env=clean_env,
    )
    assert result.exit_code == 0, result.output
    assert invoke(["history", "list", "--json"], env=clean_env).stdout.strip() in ("", "[]")


def test_the_tour_pasted_from_demo_serve_reaches_it(clean_env: dict[str, str]) -> None:
    env = {**clean_env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{clean_env['PATH']}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "meilichat_cli", "demo", "--serve", "--master-key", MASTER_KEY],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        printed: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("Ctrl-C" in x for x in printed):
            printed.append(proc.stdout.readline())
        pasted = [
            line.strip() for line in printed if line.startswith(("  meilichat ", "  printf "))
        ]
        assert [shlex.split(line)[0] for line in pasted] == ["meilichat", "printf", "meilichat"]
        assert not any(MASTER_KEY in line for line in pasted)
        for line in pasted:
            done = subprocess.run(
                ["bash", "-c", line], env=env, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, (line, done.stdout, done.stderr)
        assert "Gravity" in done.stdout
        # The key went through a pipe: it is in no command's arguments.
        key_line = pasted[1]
        assert "key set -p local" in key_line and key_line.startswith("printf '%s\\n' '")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    assert proc.returncode == 0


def test_a_data_dir_keeps_chat_settings_and_an_index_a_settings_task_created(
    tmp_path: Path,
) -> None:
    data = tmp_path / "standin"
    with StandInServer(master_key=MASTER_KEY, data_dir=data) as server:
        master = {"Authorization": f"Bearer {MASTER_KEY}"}
        for uid in ("movies", "notes"):
            task = httpx.patch(
                f"{server.url}/indexes/{uid}/settings/chat",
                json={"description": f"the {uid}"},
                headers=master,
            )
            assert task.status_code == 202, task.text
            number = task.json()["taskUid"]
            deadline = time.monotonic() + 10
            while httpx.get(f"{server.url}/tasks/{number}", headers=master).json()[
                "status"
            ] not in ("succeeded", "failed"):
                assert time.monotonic() < deadline
                time.sleep(0.02)
    with StandInServer(master_key=MASTER_KEY, data_dir=data) as again:
        master = {"Authorization": f"Bearer {MASTER_KEY}"}
        for uid in ("movies", "notes"):
            settings = httpx.get(f"{again.url}/indexes/{uid}/settings/chat", headers=master)
            assert settings.status_code == 200, settings.text
            assert settings.json()["description"] == f"the {uid}"
