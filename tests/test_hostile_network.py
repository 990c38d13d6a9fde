"""A hostile server (tests/hostile_server.py) gets a clear error, within bounds: endless and
trickling bodies end, broken compression and non-HTTP replies are API failures (exit 5), HTML
from a gateway on 401/403 is an authentication failure (exit 3), and oversized turns drop
what exceeds the caps. Bounds are asserted on what the server managed to send, not on time."""

from __future__ import annotations

import json
import threading

import pytest
from hostile_server import HostileServer
from inprocess import invoke

from meilichat_cli.api.client import ERROR_BODY_LIMIT, JSON_BODY_LIMIT
from meilichat_cli.chat.turn import MAX_CONTEXT_BYTES

# What the kernel may buffer between the two sockets on loopback, beyond what the client read.
SOCKET_SLACK = 16 * 1024 * 1024


def ask(server: HostileServer, env: dict[str, str], *extra: str) -> object:
    return invoke(
        ["ask", "--url", server.url, "-w", "movies", "--timeout", "1", *extra, "hello"],
        env=env,
    )


def test_an_endless_error_body_is_read_up_to_its_cap(clean_env: dict[str, str]) -> None:
    with HostileServer("endless_error") as server:
        result = ask(server, clean_env)
        sent = server.bytes_sent
    assert result.exit_code == 5, result.stderr
    assert "HTTP 500" in result.stderr
    assert "asked" not in result.stderr  # a 500 is sent once
    assert sent < ERROR_BODY_LIMIT + SOCKET_SLACK


def test_an_endless_json_answer_stops_at_its_cap(clean_env: dict[str, str]) -> None:
    with HostileServer("endless_json") as server:
        result = invoke(
            ["workspace", "list", "--url", server.url, "--api-key", "k", "--timeout", "30"],
            env=clean_env,
        )
        sent = server.bytes_sent
    assert result.exit_code == 5, result.stderr
    assert "larger than 32 MiB" in result.stderr
    assert sent < JSON_BODY_LIMIT + SOCKET_SLACK


def test_a_json_answer_that_trickles_ends_with_a_timeout(clean_env: dict[str, str]) -> None:
    with HostileServer("slow_json") as server:
        result = invoke(
            ["workspace", "list", "--url", server.url, "--api-key", "k", "--timeout", "1"],
            env=clean_env,
        )
    assert result.exit_code == 8, result.stderr


@pytest.mark.parametrize("mode", ["trickle", "comments", "empty_events"])
def test_a_stream_without_events_ends_with_exit_8(mode: str, clean_env: dict[str, str]) -> None:
    with HostileServer(mode) as server:
        result = ask(server, clean_env, "--json")
    assert result.exit_code == 8, result.stderr
    summary = json.loads(result.stdout)
    assert summary["complete"] is False
    assert summary["errors"][-1]["type"] == "timeout"


def test_a_broken_gzip_stream_is_a_stream_error(clean_env: dict[str, str]) -> None:
    with HostileServer("broken_gzip") as server:
        result = ask(server, clean_env, "--events")
    assert result.exit_code == 5, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[-1]["event"] == "done"
    error = json.loads(result.stderr.splitlines()[-1])["error"]
    assert "corrupt" in error["message"]


def test_a_broken_gzip_error_body_still_reports_the_status(clean_env: dict[str, str]) -> None:
    with HostileServer("broken_gzip_error") as server:
        result = ask(server, clean_env)
    assert result.exit_code == 5, result.stderr
    assert "HTTP 500" in result.stderr


@pytest.mark.parametrize("mode", ["not_http", "huge_header"])
def test_a_reply_that_is_not_http_is_an_api_failure(mode: str, clean_env: dict[str, str]) -> None:
    with HostileServer(mode) as server:
        result = ask(server, clean_env)
    assert result.exit_code == 5, result.stderr
    assert "did not answer in HTTP" in result.stderr
    assert "Cannot connect" not in result.stderr


@pytest.mark.parametrize("mode", ["html_401", "html_403"])
def test_an_html_401_or_403_is_an_authentication_failure(
    mode: str, clean_env: dict[str, str]
) -> None:
    with HostileServer(mode) as server:
        result = ask(server, clean_env, "--json")
    assert result.exit_code == 3, result.stderr
    error = json.loads(result.stderr.splitlines()[-1])["error"]
    assert error["kind"] == "auth"
    assert "\x1b" not in error["message"] and "\u202e" not in error["message"]


def test_a_500_hint_does_not_claim_retries(clean_env: dict[str, str]) -> None:
    with HostileServer("html_500") as server:
        result = ask(server, clean_env)
        requests = len(server.requests)
    assert result.exit_code == 5
    assert requests == 1
    assert "asked" not in result.stderr


def test_a_missing_workspace_behind_a_path_prefix_is_named(clean_env: dict[str, str]) -> None:
    with HostileServer("prefix_404") as server:
        result = invoke(
            ["ask", "--url", server.url + "/meili/", "-w", "movies", "hello"], env=clean_env
        )
    assert result.exit_code == 4, result.stderr
    assert "Workspace 'movies' not found" in result.stderr


def test_a_turn_flooded_with_sources_keeps_only_its_cap(clean_env: dict[str, str]) -> None:
    with HostileServer("flood_sources") as server:
        result = ask(server, clean_env, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["answer"] == "done."
    kept = sum(len(json.dumps(search["sources"])) for search in summary["searches"])
    assert kept <= MAX_CONTEXT_BYTES
    assert len(summary["searches"]) < 40
    assert any(error["type"] == "limit" for error in summary["errors"])
    assert "dropped" in result.stderr
    # What was saved is bounded the same way.
    shown = invoke(["history", "show", summary["conversation_id"], "--json"], env=clean_env)
    assert len(shown.stdout) < MAX_CONTEXT_BYTES + 1024 * 1024


def test_completion_gives_up_on_a_slow_server_within_its_budget(
    clean_env: dict[str, str],
) -> None:
    from meilichat_cli.cli.completion.values import workspace_candidates

    env = {**clean_env, "MEILICHAT_URL": "", "MEILI_MASTER_KEY": "k"}
    for mode in ("slow_json", "trickle", "endless_json"):
        found: list[list[tuple[str, str]]] = []
        with HostileServer(mode) as server:
            lookup = threading.Thread(
                target=lambda url=server.url, into=found: into.append(
                    workspace_candidates(env, url=url)
                ),
                daemon=True,
            )
            lookup.start()
            # A hang guard, not a measurement: none of these answers ever completes, so
            # without the budget the lookup would still be reading when the server stops.
            lookup.join(60)
            assert not lookup.is_alive(), mode
        (candidates,) = found
        assert all(name != "movies" for name, _ in candidates), mode
