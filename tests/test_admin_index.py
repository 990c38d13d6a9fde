"""`meilichat index list` and `index chat-settings` end to end against the stand-in server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meilichat_cli.standin import StandInServer
from meilichat_cli.text.template import DEFAULT_DOCUMENT_TEMPLATE
from tests.admin_support import admin_env, bodies, requests
from tests.inprocess import run_cli


@pytest.fixture
def env(clean_env: dict[str, str], standin: StandInServer) -> dict[str, str]:
    return admin_env(clean_env, standin)


def test_list_shows_each_index_with_its_description(
    env: dict[str, str], standin: StandInServer
) -> None:
    result = run_cli(["index", "list", "--json"], env)
    assert result.returncode == 0, result.stderr
    listed = {item["uid"]: item["chat"] for item in json.loads(result.stdout)}
    assert set(listed) == set(standin.state.indexes)
    plain = run_cli(["index", "list"], env)
    assert plain.stdout.splitlines()[0].split() == ["INDEX", "CHAT", "DESCRIPTION"]


def test_show_prints_the_settings(env: dict[str, str], standin: StandInServer) -> None:
    result = run_cli(["index", "chat-settings", "movies", "--json"], env)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["uid"] == "movies"
    assert shown["chat"] == standin.state.indexes["movies"].chat
    plain = run_cli(["index", "chat-settings", "movies"], env)
    assert "documentTemplateMaxBytes" in plain.stdout
    assert requests(standin, "PATCH") == []


def test_update_patches_only_the_given_fields_and_waits(
    env: dict[str, str], standin: StandInServer
) -> None:
    result = run_cli(
        [
            "index",
            "chat-settings",
            "movies",
            "--description",
            "Films with title, year and plot",
            "--limit",
            "5",
            "--sort",
            "year:desc",
            "--matching-strategy",
            "all",
        ],
        env,
    )
    assert result.returncode == 0, result.stderr
    assert bodies(standin, "PATCH", "/indexes/movies/settings/chat") == [
        {
            "description": "Films with title, year and plot",
            "searchParameters": {"limit": 5, "sort": ["year:desc"], "matchingStrategy": "all"},
        }
    ]
    assert requests(standin, "GET", "/tasks/"), "the task was not waited for"
    assert "succeeded" in result.stderr
    chat = standin.state.indexes["movies"].chat
    assert chat["description"] == "Films with title, year and plot"
    assert chat["searchParameters"]["limit"] == 5


def test_no_wait_does_not_poll_the_task(env: dict[str, str], standin: StandInServer) -> None:
    result = run_cli(
        ["index", "chat-settings", "movies", "--description", "x", "--no-wait", "--json"], env
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert isinstance(shown["taskUid"], int)
    assert shown["chat"]["description"] == "x"
    assert requests(standin, "GET", "/tasks/") == []


def test_a_failed_task_exits_7_with_its_error(env: dict[str, str], standin: StandInServer) -> None:
    result = run_cli(
        ["index", "chat-settings", "movies", "--template", "{% if doc.title %}{{ doc.title }}"],
        env,
    )
    assert result.returncode == 7
    assert "invalid_chat_setting_document_template" in result.stderr
    assert "failed" in result.stderr
    assert standin.state.indexes["movies"].chat["documentTemplate"] != "{% if doc.title %}"


def test_invalid_settings_index_chat_is_surfaced(env: dict[str, str]) -> None:
    result = run_cli(
        ["index", "chat-settings", "movies", "--search-parameters", '{"limit": "many"}'], env
    )
    assert result.returncode == 5
    assert "invalid_settings_index_chat" in result.stderr


def test_unknown_index_exits_4_with_a_hint(env: dict[str, str]) -> None:
    result = run_cli(["index", "chat-settings", "nope"], env)
    assert result.returncode == 4
    assert "nope" in result.stderr and "meilichat index list" in result.stderr


def test_preview_renders_documents_as_the_model_sees_them(
    env: dict[str, str], standin: StandInServer
) -> None:
    result = run_cli(
        [
            "index",
            "chat-settings",
            "movies",
            "--template",
            "{{ doc.title }} ({{ doc.year }})",
            "--preview",
            "--dry-run",
            "--preview-count",
            "2",
        ],
        env,
    )
    assert result.returncode == 0, result.stderr
    assert "Dry run" in result.stderr
    docs = list(standin.state.indexes["movies"].data.documents)[:2]
    for doc in docs:
        assert f"{doc['title']} ({doc['year']})" in result.stdout
    assert result.stdout.count("--- document ") == 2
    assert requests(standin, "PATCH") == []
    assert (
        standin.state.indexes["movies"].chat["documentTemplate"]
        != "{{ doc.title }} ({{ doc.year }})"
    )


def test_preview_calls_out_a_template_that_renders_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    template = tmp_path / "t.liquid"
    template.write_text("{{ doc.no_such_field }}", encoding="utf-8")
    result = run_cli(
        ["index", "chat-settings", "movies", "--template-file", str(template), "--preview"], env
    )
    assert result.returncode == 0, result.stderr
    assert "(empty: the model sees nothing for this document)" in result.stdout
    assert "renders no text" in result.stderr


def test_a_template_file_dash_is_read_from_stdin(env: dict[str, str], tmp_path: Path) -> None:
    result = run_cli(
        ["index", "chat-settings", "movies", "--template-file", "-", "--preview"],
        env,
        input="{{ doc.no_such_field }}\n",
    )
    assert result.returncode == 0, result.stderr
    assert "(empty: the model sees nothing for this document)" in result.stdout


def test_reset_restores_the_defaults(env: dict[str, str], standin: StandInServer) -> None:
    # Without a terminal to ask on, a reset needs --yes, and nothing is sent without it.
    refused = run_cli(["index", "chat-settings", "movies", "--reset"], env)
    assert refused.returncode == 2 and "pass --yes" in refused.stderr
    assert not requests(standin, "DELETE", "/indexes/movies/settings/chat")
    result = run_cli(["index", "chat-settings", "movies", "--reset", "--yes", "--json"], env)
    assert result.returncode == 0, result.stderr
    assert requests(standin, "DELETE", "/indexes/movies/settings/chat")
    chat = json.loads(result.stdout)["chat"]
    assert chat["description"] == ""
    assert chat["documentTemplate"] == DEFAULT_DOCUMENT_TEMPLATE


def test_max_bytes_must_be_positive(env: dict[str, str], standin: StandInServer) -> None:
    result = run_cli(["index", "chat-settings", "movies", "--max-bytes", "0"], env)
    assert result.returncode == 2
    assert requests(standin, "PATCH") == []


def test_semantic_ratio_needs_an_embedder(env: dict[str, str], standin: StandInServer) -> None:
    result = run_cli(["index", "chat-settings", "movies", "--semantic-ratio", "0.3"], env)
    assert result.returncode == 2
    assert "--hybrid-embedder" in result.stderr
    assert requests(standin, "PATCH") == []


def test_a_chat_key_cannot_change_index_settings(env: dict[str, str]) -> None:
    del env["MEILI_MASTER_KEY"]
    result = run_cli(["index", "chat-settings", "movies", "--description", "x"], env)
    assert result.returncode == 3
    assert "settings.get" in result.stderr
