"""`meilichat workspace …` end to end against the stand-in server, in process."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from meilichat_cli.standin import StandInServer
from meilichat_cli.standin.state import DEMO_PROVIDER_KEY
from tests.admin_support import (
    PROVIDER_KEY,
    add_profile,
    admin_env,
    bodies,
    requests,
    without_connection,
)
from tests.conftest import MASTER_KEY
from tests.inprocess import run_cli


@pytest.fixture
def env(clean_env: dict[str, str], standin: StandInServer) -> dict[str, str]:
    return admin_env(clean_env, standin)


@pytest.fixture
def fresh() -> Iterator[StandInServer]:
    server = StandInServer(master_key=MASTER_KEY, fresh=True)
    server.start()
    try:
        yield server
    finally:
        server.close()


def _editor(tmp_path: Path, body: str) -> str:
    """An $EDITOR that runs `body` with `data` = the parsed file, then writes `data` back."""
    script = tmp_path / "editor.py"
    script.write_text(
        "import json, sys\n"
        "path = sys.argv[1]\n"
        "data = json.load(open(path, encoding='utf-8'))\n"
        f"{body}\n"
        "json.dump(data, open(path, 'w', encoding='utf-8'))\n",
        encoding="utf-8",
    )
    return f"{sys.executable} {script}"


# -- list / show ------------------------------------------------------------------------------


def test_list_shows_every_workspace_across_pages(
    env: dict[str, str], standin: StandInServer
) -> None:
    for number in range(130):
        standin.state.workspaces[f"ws-{number:03d}"] = dict(standin.state.workspaces["demo"])
    result = run_cli(["workspace", "list"], env)
    assert result.returncode == 0, result.stderr
    names = result.stdout.split()
    assert len(names) == 131 and "demo" in names and "ws-129" in names
    offsets = [r.query.get("offset") for r in requests(standin, "GET", "/chats")]
    assert offsets == ["0", "100"]


def test_list_json_and_long(env: dict[str, str]) -> None:
    result = run_cli(["workspace", "list", "--json"], env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [{"uid": "demo"}]
    long = run_cli(["workspace", "list", "--long"], env)
    assert long.returncode == 0, long.stderr
    assert "sk-deXXXXXX..." in long.stdout and DEMO_PROVIDER_KEY not in long.stdout


def test_an_admin_key_leaves_the_profile_key_unmentioned(
    env: dict[str, str], standin: StandInServer
) -> None:
    # A profile for another server: with MEILI_MASTER_KEY its key is not needed, so there is
    # nothing to warn about (the chat commands do warn: they would have used it).
    url = without_connection(env)
    add_profile(env, "other", "http://127.0.0.1:9")
    result = run_cli(["workspace", "list", "--url", url], env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    created = run_cli(["key", "create", "--url", url], env)
    assert created.returncode == 0, created.stderr
    assert "not sending the key" not in created.stderr


def test_show_keeps_the_provider_key_masked(env: dict[str, str]) -> None:
    result = run_cli(["workspace", "show", "demo"], env)
    assert result.returncode == 0, result.stderr
    assert "sk-deXXXXXX... (masked by the server)" in result.stdout
    assert DEMO_PROVIDER_KEY not in result.stdout + result.stderr
    as_json = json.loads(run_cli(["workspace", "show", "--json"], env).stdout)
    assert as_json["uid"] == "demo"
    assert as_json["settings"]["apiKey"] == "sk-deXXXXXX..."


def test_show_sanitizes_server_text(env: dict[str, str], standin: StandInServer) -> None:
    standin.state.workspaces["demo"]["prompts"]["system"] = "evil\x1b]52;c;aGk=\x07 prompt\x9b"
    result = run_cli(["workspace", "show", "demo"], env)
    assert result.returncode == 0, result.stderr
    assert (
        "\x1b" not in result.stdout and "\x9b" not in result.stdout and "\x07" not in result.stdout
    )
    assert "prompt" in result.stdout


def test_an_unknown_workspace_exits_4(env: dict[str, str], standin: StandInServer) -> None:
    result = run_cli(["workspace", "show", "nope"], env)
    assert result.returncode == 4
    assert f"Workspace 'nope' not found on {standin.url}" in result.stderr
    assert "meilichat workspace list" in result.stderr


def test_chat_feature_disabled_exits_5(clean_env: dict[str, str], fresh: StandInServer) -> None:
    env = admin_env(clean_env, fresh)
    result = run_cli(["workspace", "list"], env)
    assert result.returncode == 5
    assert "Chat completions are disabled on this server" in result.stderr
    assert "chatCompletions" in result.stderr
    as_json = run_cli(["workspace", "list", "--json"], env)
    error = json.loads(as_json.stderr)["error"]
    assert error["code"] == "feature_not_enabled"
    assert error["link"] == "https://docs.meilisearch.com/errors#feature_not_enabled"
    assert as_json.stdout == ""


def test_a_chat_key_cannot_read_settings(env: dict[str, str], standin: StandInServer) -> None:
    del env["MEILI_MASTER_KEY"]  # only the profile's chat key is left
    result = run_cli(["workspace", "show", "demo"], env)
    assert result.returncode == 3
    assert "chatsSettings.get" in result.stderr
    assert "MEILI_MASTER_KEY" in result.stderr


def test_a_wrong_admin_key_exits_3(env: dict[str, str]) -> None:
    env["MEILI_MASTER_KEY"] = "not-the-master-key"
    result = run_cli(["workspace", "list"], env)
    assert result.returncode == 3
    assert "not-the-master-key" not in result.stdout + result.stderr


def test_no_key_at_all_exits_3(env: dict[str, str]) -> None:
    del env["MEILI_MASTER_KEY"]
    del env["MEILICHAT_API_KEY"]
    result = run_cli(["workspace", "list"], env)
    assert result.returncode == 3
    assert "No API key" in result.stderr


def test_unreachable_server_exits_6(env: dict[str, str]) -> None:
    env["MEILICHAT_URL"] = "http://127.0.0.1:9"
    result = run_cli(["workspace", "list"], env)
    assert result.returncode == 6
    assert "Cannot connect" in result.stderr


def test_admin_key_from_stdin_is_used_and_not_echoed(env: dict[str, str]) -> None:
    del env["MEILI_MASTER_KEY"]
    result = run_cli(["workspace", "list", "--admin-key-stdin"], env, input=MASTER_KEY + "\n")
    assert result.returncode == 0, result.stderr
    assert "demo" in result.stdout
    assert MASTER_KEY not in result.stdout + result.stderr


# -- set --------------------------------------------------------------------------------------


def test_set_creates_a_missing_workspace_with_only_the_given_fields(
    env: dict[str, str], standin: StandInServer
) -> None:
    result = run_cli(
        ["workspace", "set", "support", "--source", "openai", "--provider-key-stdin"],
        env,
        input=PROVIDER_KEY + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert "Created workspace 'support'" in result.stdout
    assert PROVIDER_KEY not in result.stdout + result.stderr
    assert bodies(standin, "PATCH", "/chats/support/settings") == [
        {"source": "openAi", "apiKey": PROVIDER_KEY}
    ]
    assert standin.state.workspaces["support"]["apiKey"] == PROVIDER_KEY


def test_set_sends_a_prompt_from_a_file_and_nothing_else(
    env: dict[str, str], standin: StandInServer, tmp_path: Path
) -> None:
    prompt = tmp_path / "system.md"
    prompt.write_text("Answer from the documents only.\nCite titles.\n", encoding="utf-8")
    result = run_cli(
        ["workspace", "set", "demo", "--system-prompt-file", str(prompt), "--search-q-param", "q!"],
        env,
    )
    assert result.returncode == 0, result.stderr
    assert "Updated workspace 'demo'" in result.stdout
    sent = bodies(standin, "PATCH", "/chats/demo/settings")
    assert sent == [
        {
            "prompts": {
                # The file's final newline ends its last line; it is not part of the prompt.
                "system": "Answer from the documents only.\nCite titles.",
                "searchQParam": "q!",
            }
        }
    ]
    assert standin.state.workspaces["demo"]["apiKey"] == DEMO_PROVIDER_KEY


def test_set_reads_a_prompt_file_dash_from_stdin(
    env: dict[str, str], standin: StandInServer
) -> None:
    result = run_cli(
        ["workspace", "set", "demo", "--system-prompt-file", "-"], env, input="Be brief.\n"
    )
    assert result.returncode == 0, result.stderr
    assert bodies(standin, "PATCH", "/chats/demo/settings") == [
        {"prompts": {"system": "Be brief."}}
    ]


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_set_refuses_a_prompt_file_beyond_the_limit_and_sends_nothing(
    env: dict[str, str], standin: StandInServer, tmp_path: Path, source: str
) -> None:
    from meilichat_cli.cli.admin_options import MAX_TEXT_FILE_BYTES

    huge = "x" * (MAX_TEXT_FILE_BYTES + 1)
    prompt = tmp_path / "huge.md"
    prompt.write_text(huge, encoding="utf-8")
    where = str(prompt) if source == "file" else "-"
    result = run_cli(
        ["workspace", "set", "demo", "--system-prompt-file", where],
        env,
        input=huge if source == "stdin" else "",
    )
    assert result.returncode == 2, result.stderr
    assert "longer than 2 MiB" in result.stderr and "Traceback" not in result.stderr
    assert bodies(standin, "PATCH", "/chats/demo/settings") == []


def test_set_unset_resets_fields_to_null(env: dict[str, str], standin: StandInServer) -> None:
    result = run_cli(
        ["workspace", "set", "demo", "--unset", "org-id", "--unset", "system-prompt"], env
    )
    assert result.returncode == 0, result.stderr
    assert bodies(standin, "PATCH", "/chats/demo/settings") == [
        {"orgId": None, "prompts": {"system": None}}
    ]


def test_set_refuses_incomplete_azure_before_sending(
    env: dict[str, str], standin: StandInServer
) -> None:
    result = run_cli(
        [
            "workspace",
            "set",
            "az",
            "--source",
            "azureOpenAi",
            "--base-url",
            "https://x.openai.azure.com",
        ],
        env,
    )
    assert result.returncode == 2
    assert "--deployment-id, --api-version" in result.stderr
    assert requests(standin, "PATCH") == []


def test_set_refuses_vllm_without_base_url_before_sending(
    env: dict[str, str], standin: StandInServer
) -> None:
    result = run_cli(["workspace", "set", "local", "--source", "vLlm"], env)
    assert result.returncode == 2
    assert "vLlm requires a base URL" in result.stderr
    assert requests(standin, "PATCH") == []
    not_a_url = ["workspace", "set", "local", "--source", "vLlm", "--base-url", "notaurl"]
    refused = run_cli(not_a_url, env)
    assert refused.returncode == 2
    assert "base URL 'notaurl' is not an http(s) URL" in refused.stderr
    assert requests(standin, "PATCH") == []
    ok = run_cli(
        ["workspace", "set", "local", "--source", "vLlm", "--base-url", "http://127.0.0.1:8000/v1"],
        env,
    )
    assert ok.returncode == 0, ok.stderr
    assert standin.state.workspaces["local"]["source"] == "vLlm"


def test_set_refuses_a_masked_provider_key(env: dict[str, str], standin: StandInServer) -> None:
    result = run_cli(
        ["workspace", "set", "demo", "--provider-key-stdin"], env, input="sk-deXXXXXX...\n"
    )
    assert result.returncode == 2
    assert "masked provider key" in result.stderr
    assert requests(standin, "PATCH") == []


def test_set_with_a_plain_provider_key_value_warns(
    env: dict[str, str], standin: StandInServer
) -> None:
    result = run_cli(["workspace", "set", "demo", "--provider-key", PROVIDER_KEY], env)
    assert result.returncode == 0, result.stderr
    assert "process list" in result.stderr
    assert PROVIDER_KEY not in result.stdout + result.stderr
    assert standin.state.workspaces["demo"]["apiKey"] == PROVIDER_KEY


def test_set_with_nothing_to_change_is_a_usage_error(env: dict[str, str]) -> None:
    result = run_cli(["workspace", "set", "demo"], env)
    assert result.returncode == 2
    assert "Nothing to change" in result.stderr


def test_set_provider_key_stdin_takes_the_first_line_as_pass_prints_it(
    env: dict[str, str], standin: StandInServer
) -> None:
    # `pass show NAME` prints the secret, then notes: docs/usage.md promises the first line.
    piped = f"{PROVIDER_KEY}\nusername: me\nurl: https://example.com\n"
    result = run_cli(["workspace", "set", "demo", "--provider-key-stdin"], env, input=piped)
    assert result.returncode == 0, result.stderr
    assert standin.state.workspaces["demo"]["apiKey"] == PROVIDER_KEY


def test_set_provider_key_stdin_refuses_an_empty_line(env: dict[str, str]) -> None:
    result = run_cli(["workspace", "set", "demo", "--provider-key-stdin"], env, input="\n")
    assert result.returncode == 2
    assert "empty" in result.stderr


# -- edit -------------------------------------------------------------------------------------


def test_edit_sends_only_changes_and_never_the_masked_key(
    env: dict[str, str], standin: StandInServer, tmp_path: Path
) -> None:
    env["EDITOR"] = _editor(
        tmp_path, "data['orgId'] = 'org-42'\ndata['prompts']['system'] = 'Be brief.'"
    )
    result = run_cli(["workspace", "edit", "demo"], env)
    assert result.returncode == 0, result.stderr
    sent = bodies(standin, "PATCH", "/chats/demo/settings")
    assert sent == [{"orgId": "org-42", "prompts": {"system": "Be brief."}}]
    assert all("XXX" not in json.dumps(body) for body in sent)
    assert standin.state.workspaces["demo"]["apiKey"] == DEMO_PROVIDER_KEY


def test_edit_runs_the_editor_in_the_commands_environment(
    env: dict[str, str], standin: StandInServer, tmp_path: Path
) -> None:
    # In process, the run's environment is not os.environ: the editor must get the former.
    env["MEILICHAT_TEST_ORG"] = "org-from-the-run"
    env["EDITOR"] = _editor(tmp_path, "import os\ndata['orgId'] = os.environ['MEILICHAT_TEST_ORG']")
    result = run_cli(["workspace", "edit", "demo"], env)
    assert result.returncode == 0, result.stderr
    assert bodies(standin, "PATCH", "/chats/demo/settings") == [{"orgId": "org-from-the-run"}]


def test_edit_without_changes_sends_nothing(
    env: dict[str, str], standin: StandInServer, tmp_path: Path
) -> None:
    env["EDITOR"] = _editor(tmp_path, "pass")
    result = run_cli(["workspace", "edit", "demo"], env)
    assert result.returncode == 0, result.stderr
    assert "No changes" in result.stderr
    assert requests(standin, "PATCH") == []


def test_edit_refuses_a_masked_key_typed_in(
    env: dict[str, str], standin: StandInServer, tmp_path: Path
) -> None:
    env["EDITOR"] = _editor(tmp_path, "data['apiKey'] = 'sk-otXXXXXX...'")
    result = run_cli(["workspace", "edit", "demo"], env)
    assert result.returncode == 2
    assert "masked provider key" in result.stderr
    assert requests(standin, "PATCH") == []
    Path(result.stderr.split("your edits are kept in ")[1].split()[0]).unlink()


def test_edit_can_replace_the_key_with_a_real_one(
    env: dict[str, str], standin: StandInServer, tmp_path: Path
) -> None:
    env["EDITOR"] = _editor(tmp_path, f"data['apiKey'] = {PROVIDER_KEY!r}")
    result = run_cli(["workspace", "edit", "demo"], env)
    assert result.returncode == 0, result.stderr
    assert bodies(standin, "PATCH", "/chats/demo/settings") == [{"apiKey": PROVIDER_KEY}]
    assert standin.state.workspaces["demo"]["apiKey"] == PROVIDER_KEY


def test_edit_surfaces_invalid_chat_completion_codes(env: dict[str, str], tmp_path: Path) -> None:
    env["EDITOR"] = _editor(tmp_path, "data['orgId'] = 123")
    result = run_cli(["workspace", "edit", "demo"], env)
    assert result.returncode == 5
    assert "invalid_chat_completion_org_id" in result.stderr
    Path(result.stderr.split("your edits are kept in ")[1].split()[0]).unlink()


def test_edit_keeps_a_broken_file_and_sends_nothing(
    env: dict[str, str], standin: StandInServer, tmp_path: Path
) -> None:
    script = tmp_path / "broken.py"
    script.write_text("import sys\nopen(sys.argv[1], 'w').write('{not json')\n", encoding="utf-8")
    env["EDITOR"] = f"{sys.executable} {script}"
    result = run_cli(["workspace", "edit", "demo"], env)
    assert result.returncode == 2
    assert "not valid JSON" in result.stderr
    kept = result.stderr.split("your edits are kept in ")[1].split(";")[0]
    assert Path(kept).read_text(encoding="utf-8") == "{not json"
    Path(kept).unlink()
    assert requests(standin, "PATCH") == []


def test_edit_checks_vllm_requirements(
    env: dict[str, str], standin: StandInServer, tmp_path: Path
) -> None:
    env["EDITOR"] = _editor(tmp_path, "data['source'] = 'vLlm'")
    result = run_cli(["workspace", "edit", "demo"], env)
    assert result.returncode == 2
    assert "vLlm requires a base URL" in result.stderr
    assert requests(standin, "PATCH") == []
    # The refused edit is kept, like a file that is not JSON.
    kept = Path(result.stderr.split("your edits are kept in ")[1].split()[0].rstrip(";"))
    assert json.loads(kept.read_text(encoding="utf-8"))["source"] == "vLlm"
    assert kept.stat().st_mode & 0o777 == 0o600
    kept.unlink()


# -- reset / delete ---------------------------------------------------------------------------


def test_reset_refuses_to_ask_without_a_terminal(
    env: dict[str, str], standin: StandInServer
) -> None:
    result = run_cli(["workspace", "reset", "demo"], env)
    assert result.returncode == 2
    assert "pass --yes" in result.stderr
    assert requests(standin, "DELETE") == []


def test_reset_with_yes_restores_defaults(env: dict[str, str], standin: StandInServer) -> None:
    result = run_cli(["workspace", "reset", "demo", "--yes"], env)
    assert result.returncode == 0, result.stderr
    assert "Reset workspace 'demo'" in result.stdout
    assert standin.state.workspaces["demo"]["apiKey"] is None
    assert "demo" in standin.state.workspaces


def test_delete_then_delete_again(env: dict[str, str], standin: StandInServer) -> None:
    refused = run_cli(["workspace", "delete", "demo"], env)
    assert refused.returncode == 2 and "pass --yes" in refused.stderr
    assert "demo" in standin.state.workspaces
    result = run_cli(["workspace", "delete", "demo", "--yes"], env)
    assert result.returncode == 0, result.stderr
    assert "demo" not in standin.state.workspaces
    again = run_cli(["workspace", "delete", "demo", "--yes"], env)
    assert again.returncode == 4
    assert "Workspace 'demo' not found" in again.stderr


def test_invalid_workspace_name_is_a_usage_error(env: dict[str, str]) -> None:
    result = run_cli(["workspace", "show", "bad name"], env)
    assert result.returncode == 2
    assert "invalid workspace" in result.stderr
