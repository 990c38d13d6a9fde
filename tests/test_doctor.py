"""`meilichat doctor [--fix]` end to end: a fresh server fails with a fix for each failure,
`--fix --yes` repairs it, and the whole new-user path ends with `ask` answering."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from meilichat_cli.standin import StandInServer
from tests.admin_support import PROVIDER_KEY, add_profile, admin_env, requests, without_connection
from tests.conftest import MASTER_KEY
from tests.inprocess import run_cli

ORDER = ["server", "version", "feature", "key", "workspace"]


@pytest.fixture
def fresh() -> Iterator[StandInServer]:
    """Feature off, no workspace, indexes with default chat settings."""
    server = StandInServer(master_key=MASTER_KEY, fresh=True)
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def fresh_env(clean_env: dict[str, str], fresh: StandInServer) -> dict[str, str]:
    return {**admin_env(clean_env, fresh), "MEILICHAT_WORKSPACE": "support"}


def _lines(stdout: str) -> dict[str, str]:
    """check name -> status word, from the plain report."""
    found: dict[str, str] = {}
    for line in stdout.splitlines():
        if line.startswith("["):
            status, rest = line[1:5].strip(), line[7:]
            found[rest.split("  ")[0].strip()] = status
    return found


def _every_failure_has_a_fix(stdout: str) -> None:
    lines = stdout.splitlines()
    for number, line in enumerate(lines):
        if line.startswith("[FAIL]"):
            assert "fix: " in lines[number + 1], f"no fix under: {line}"


def test_fresh_server_fails_with_a_fix_for_each_failure(
    fresh_env: dict[str, str], fresh: StandInServer
) -> None:
    result = run_cli(["doctor"], fresh_env)
    assert result.returncode == 5, result.stdout + result.stderr
    statuses = _lines(result.stdout)
    assert list(statuses)[: len(ORDER)] == ORDER
    assert list(statuses)[-1] == "completion"
    assert statuses["feature"] == "FAIL"
    assert statuses["server"] == "ok" and statuses["version"] == "ok" and statuses["key"] == "ok"
    _every_failure_has_a_fix(result.stdout)
    assert "doctor --fix" in result.stdout
    assert "some checks failed" in result.stdout
    # Looking changes nothing.
    assert requests(fresh, "PATCH") == [] and requests(fresh, "POST", "/keys") == []
    assert fresh.state.features["chatCompletions"] is False


def test_json_report(fresh_env: dict[str, str]) -> None:
    result = run_cli(["doctor", "--json", "--no-completion"], fresh_env)
    assert result.returncode == 5
    report = json.loads(result.stdout)
    assert report["ok"] is False
    names = [check["name"] for check in report["checks"]]
    assert names[: len(ORDER)] == ORDER and names[-1] == "completion"
    feature = next(check for check in report["checks"] if check["name"] == "feature")
    assert feature["status"] == "fail" and "--fix" in feature["fix"]
    assert report["checks"][-1]["status"] == "skip"


def test_fix_refuses_to_ask_without_a_terminal_and_changes_nothing(
    fresh_env: dict[str, str], fresh: StandInServer
) -> None:
    result = run_cli(
        ["doctor", "--fix", "--provider-key-stdin"], fresh_env, input=PROVIDER_KEY + "\n"
    )
    assert result.returncode == 2
    assert "enable the experimental feature `chatCompletions`" in result.stderr
    assert "create workspace 'support'" in result.stderr
    assert "pass --yes" in result.stderr
    assert fresh.state.features["chatCompletions"] is False
    assert fresh.state.workspaces == {}


def test_fix_needs_the_provider_key_before_changing_anything(
    fresh_env: dict[str, str], fresh: StandInServer
) -> None:
    result = run_cli(["doctor", "--fix", "--yes"], fresh_env)
    assert result.returncode == 2
    assert "provider" in result.stderr and "--provider-key-stdin" in result.stderr
    assert fresh.state.features["chatCompletions"] is False


def test_fix_yes_repairs_a_fresh_server_then_doctor_passes(
    fresh_env: dict[str, str], fresh: StandInServer
) -> None:
    result = run_cli(
        ["doctor", "--fix", "--yes", "--provider-key-stdin"], fresh_env, input=PROVIDER_KEY + "\n"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "done: enabled `chatCompletions`" in result.stderr
    assert "After the fixes:" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].startswith("all checks passed")
    assert PROVIDER_KEY not in result.stdout + result.stderr
    assert fresh.state.features["chatCompletions"] is True
    assert fresh.state.workspaces["support"]["apiKey"] == PROVIDER_KEY
    again = run_cli(["doctor"], fresh_env)
    assert again.returncode == 0, again.stdout
    assert _lines(again.stdout)["completion"] == "ok"


def test_without_an_admin_key_admin_checks_are_skipped_not_passed(
    fresh_env: dict[str, str],
) -> None:
    del fresh_env["MEILI_MASTER_KEY"]
    result = run_cli(["doctor"], fresh_env)
    statuses = _lines(result.stdout)
    assert statuses["version"] == statuses["feature"] == statuses["workspace"] == "skip"
    assert statuses["completion"] == "FAIL"  # the feature is off: the completion says so
    assert "Chat completions are disabled" in result.stdout
    assert result.returncode == 5
    fix = run_cli(["doctor", "--fix", "--yes"], fresh_env)
    assert fix.returncode == 2
    assert "needs an admin or master key" in fix.stderr


def test_unreachable_server(clean_env: dict[str, str]) -> None:
    env = {**clean_env, "MEILICHAT_URL": "http://127.0.0.1:9", "MEILICHAT_WORKSPACE": "x"}
    result = run_cli(["doctor"], env)
    assert result.returncode == 6
    statuses = _lines(result.stdout)
    assert statuses["server"] == "FAIL"
    assert set(list(statuses.values())[1:]) == {"skip"}
    _every_failure_has_a_fix(result.stdout)


def test_a_failing_server_is_not_told_to_check_its_url(clean_env: dict[str, str]) -> None:
    # A 5xx (or a 429) on /health is the right server, or its proxy, in trouble.
    from tests.hostile_server import HostileServer

    with HostileServer("html_500") as server:
        env = {**clean_env, "MEILICHAT_URL": server.url, "MEILICHAT_WORKSPACE": "x"}
        result = run_cli(["doctor"], env)
    assert result.returncode == 5
    assert _lines(result.stdout)["server"] == "FAIL"
    assert "is failing" in result.stdout and "try again later" in result.stdout
    assert "check that the URL points at Meilisearch" not in result.stdout


def test_missing_workspace_exits_4(clean_env: dict[str, str], standin: StandInServer) -> None:
    env = {**admin_env(clean_env, standin), "MEILICHAT_WORKSPACE": "nope"}
    result = run_cli(["doctor", "--no-completion"], env)
    assert result.returncode == 4
    assert _lines(result.stdout)["workspace"] == "FAIL"
    assert "workspace set nope" in result.stdout


def test_profile_using_the_admin_key_is_a_warning(
    clean_env: dict[str, str], standin: StandInServer
) -> None:
    assert standin.admin_key is not None
    env = {**admin_env(clean_env, standin), "MEILICHAT_API_KEY": standin.admin_key}
    result = run_cli(["doctor", "--no-completion"], env)
    assert _lines(result.stdout)["key"] == "warn"
    assert "every action" in result.stdout and "key create" in result.stdout


def test_a_template_rendering_nothing_fails_its_index(
    clean_env: dict[str, str], standin: StandInServer
) -> None:
    standin.state.indexes["books"].chat["documentTemplate"] = "{{ doc.no_such_field }}"
    env = admin_env(clean_env, standin)
    result = run_cli(["doctor", "--no-completion"], env)
    assert result.returncode == 5
    assert _lines(result.stdout)["index books"] == "FAIL"
    assert "index chat-settings books" in result.stdout
    _every_failure_has_a_fix(result.stdout)


def test_a_profile_without_key_gets_one_from_fix(
    clean_env: dict[str, str], standin: StandInServer
) -> None:
    env = admin_env(clean_env, standin)
    url = without_connection(env)
    add_profile(env, "local", url, "-w", "demo")
    before = run_cli(["doctor", "--no-completion"], env)
    assert before.returncode == 3
    assert _lines(before.stdout)["key"] == "FAIL"
    fixed = run_cli(["doctor", "--fix", "--yes"], env)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "store it for profile 'local'" in fixed.stderr
    made = [k for k in standin.state.keys.values() if k.name == "meilichat chat key"]
    assert len(made) == 1 and made[0].actions == ["chatCompletions", "search"]


def test_fix_never_stores_a_key_in_a_profile_for_another_server(
    clean_env: dict[str, str], standin: StandInServer
) -> None:
    env = admin_env(clean_env, standin)
    url = without_connection(env)
    add_profile(env, "local", "http://127.0.0.1:9", key="key-for-port-9")
    fixed = run_cli(["doctor", "-p", "local", "--url", url, "--fix", "--yes"], env)
    assert "store it for profile" not in fixed.stderr
    assert not [k for k in standin.state.keys.values() if k.name == "meilichat chat key"]
    shown = run_cli(["key", "show", "-p", "local", "--reveal"], env)
    assert shown.stdout.strip() == "key-for-port-9"


def test_new_user_path_doctor_fix_workspace_set_key_create_ask(
    clean_env: dict[str, str], fresh: StandInServer
) -> None:
    """The issue's "done when": fresh server → doctor explains → doctor --fix → workspace set
    → key create --save → ask answers."""
    env = {**clean_env, "MEILI_MASTER_KEY": MASTER_KEY}
    url = fresh.url
    first = run_cli(["doctor", "--url", url, "-w", "support", "--no-completion"], env)
    assert first.returncode != 0
    _every_failure_has_a_fix(first.stdout)
    fix = run_cli(
        ["doctor", "--url", url, "-w", "support", "--fix", "--yes", "--provider-key-stdin"],
        env,
        input=PROVIDER_KEY + "\n",
    )
    assert "done: enabled `chatCompletions`" in fix.stderr, fix.stderr
    assert fix.returncode == 3  # still no key of our own: the key check says how to get one
    assert "key create --save" in fix.stdout
    prompt = run_cli(
        ["workspace", "set", "support", "--url", url, "--system-prompt", "Answer briefly."], env
    )
    assert prompt.returncode == 0, prompt.stderr
    made = run_cli(
        ["key", "create", "--save", "--profile", "local", "--url", url, "-w", "support"], env
    )
    assert made.returncode == 0, made.stderr
    del env["MEILI_MASTER_KEY"]
    answer = run_cli(["ask", "-p", "local", "which movies are about space?"], env)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip()
    final = run_cli(["doctor", "-p", "local"], env)
    assert _lines(final.stdout)["completion"] == "ok"
