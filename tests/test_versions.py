"""The client against every emulated Meilisearch release (1.15.1, 1.16, 1.17, 1.48, 1.50):
`index chat-settings`, `workspace`, `ask` and `doctor` in-process against a stand-in started
with that version, plus the version-specific behaviours the client adapts to (the verb of the
index chat-settings route, the settings task, `/render-template` previews, doctor's pitfalls).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest

from meilichat_cli.api import admin
from meilichat_cli.api.client import MeiliClient
from meilichat_cli.errors import ApiError
from meilichat_cli.local.connection import Connection
from meilichat_cli.protocol.events import SearchProgress, SearchSources, decode_event
from meilichat_cli.standin import StandInServer
from tests.admin_support import admin_env, requests
from tests.conftest import MASTER_KEY
from tests.inprocess import Outcome, invoke

BROKEN_TEMPLATE = "{% if doc.title %}{{ doc.title }}"


def version_of(server: StandInServer) -> tuple[int, ...]:
    return tuple(int(part) for part in server.state.version.pkg_version.split("."))


@pytest.fixture
def env(clean_env: dict[str, str], versioned_standin: StandInServer) -> dict[str, str]:
    return admin_env(clean_env, versioned_standin)


def run(args: list[str], env: dict[str, str], **kwargs: Any) -> Outcome:
    return invoke(args, env=env, **kwargs)


# -- index chat-settings -----------------------------------------------------------------------


def test_index_chat_settings_change_uses_the_releases_verb_and_waits_for_the_task(
    env: dict[str, str], versioned_standin: StandInServer
) -> None:
    server = versioned_standin
    result = run(["index", "chat-settings", "movies", "--description", "Films", "--json"], env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "succeeded"
    verb, other = ("PATCH", "PUT") if version_of(server) >= (1, 17, 0) else ("PUT", "PATCH")
    assert len(requests(server, verb, "/indexes/movies/settings/chat")) == 1
    assert requests(server, other, "/indexes/movies/settings/chat") == []
    assert server.state.indexes["movies"].chat["description"] == "Films"
    # The version was read once for the whole command.
    assert len(requests(server, "GET", "/version")) == 1


def test_a_dry_run_names_the_request_this_release_would_get(
    env: dict[str, str], versioned_standin: StandInServer
) -> None:
    server = versioned_standin
    verb = "PATCH" if version_of(server) >= (1, 17, 0) else "PUT"
    args = ["index", "chat-settings", "movies", "--description", "Films", "--dry-run"]
    shown = run(args, env)
    assert shown.exit_code == 0, shown.stderr
    assert (
        f'Dry run: would {verb} /indexes/movies/settings/chat with {{"description": "Films"}}\n'
    ) in shown.stderr
    as_json = run([*args, "--json"], env)
    assert as_json.exit_code == 0, as_json.stderr
    result = json.loads(as_json.stdout)
    assert result["wouldSend"] == {"description": "Films"}
    assert result["wouldRequest"] == {
        "method": verb,
        "path": "/indexes/movies/settings/chat",
        "fallbackMethod": None,
    }
    for method in ("PATCH", "PUT", "DELETE"):
        assert requests(server, method, "/indexes/movies/settings/chat") == []
    assert server.state.indexes["movies"].chat["description"] != "Films"


def test_a_dry_run_of_a_reset_says_it_would_delete(
    env: dict[str, str], versioned_standin: StandInServer
) -> None:
    result = run(["index", "chat-settings", "movies", "--reset", "--dry-run"], env)
    assert result.exit_code == 0, result.stderr
    assert (
        "Dry run: would DELETE /indexes/movies/settings/chat (reset every chat setting to its"
        " default)\n"
    ) in result.stderr
    assert requests(versioned_standin, "DELETE", "/indexes/movies/settings/chat") == []


def test_a_bad_template_fails_the_task_from_1_42_and_is_stored_before(
    env: dict[str, str], versioned_standin: StandInServer
) -> None:
    server = versioned_standin
    result = run(["index", "chat-settings", "movies", "--template", BROKEN_TEMPLATE], env)
    if version_of(server) >= (1, 42, 0):
        assert result.exit_code == 7, result.stderr
        assert "invalid_chat_setting_document_template" in result.stderr
        assert "Index `movies`: `.chat.documentTemplate`: Invalid document template" in (
            result.stderr
        )
        assert server.state.indexes["movies"].chat["documentTemplate"] != BROKEN_TEMPLATE
    else:  # only a chat that uses it fails, later
        assert result.exit_code == 0, result.stderr
        assert server.state.indexes["movies"].chat["documentTemplate"] == BROKEN_TEMPLATE


# -- workspace ----------------------------------------------------------------------------------


def test_workspace_show_gives_the_releases_default_prompts(
    env: dict[str, str], versioned_standin: StandInServer
) -> None:
    result = run(["workspace", "show", "demo", "--json"], env)
    assert result.exit_code == 0, result.stderr
    prompts = json.loads(result.stdout)["settings"]["prompts"]
    assert prompts == versioned_standin.state.version.prompts
    assert ("searchFilterParam" in prompts) == (version_of(versioned_standin) >= (1, 16, 0))


def test_workspace_filter_prompt_is_refused_before_1_16_and_set_after(
    env: dict[str, str], versioned_standin: StandInServer
) -> None:
    result = run(["workspace", "set", "demo", "--search-filter-param", "Filter on year."], env)
    stored = versioned_standin.state.workspaces["demo"]["prompts"]
    if version_of(versioned_standin) >= (1, 16, 0):
        assert result.exit_code == 0, result.stderr
        assert stored["searchFilterParam"] == "Filter on year."
    else:
        assert result.exit_code == 2
        assert "no filter prompt" in result.stderr
        assert "searchFilterParam" not in stored
    # Other prompts work everywhere.
    again = run(["workspace", "set", "demo", "--system-prompt", "Be brief."], env)
    assert again.exit_code == 0, again.stderr
    assert versioned_standin.state.workspaces["demo"]["prompts"]["system"] == "Be brief."


# -- ask ------------------------------------------------------------------------------------------


def test_ask_answers_with_sources_and_a_filter_only_where_the_release_has_one(
    env: dict[str, str], versioned_standin: StandInServer
) -> None:
    result = run(["ask", "--json", "space movies before 1990"], env)
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["complete"] is True
    searches = answer["searches"]
    assert searches and all(search["sources"] for search in searches)
    if version_of(versioned_standin) >= (1, 16, 0):
        assert any(search["filter"] for search in searches)
        assert all(doc["year"] < 1990 for s in searches for doc in s["sources"])
    else:
        assert all(search["filter"] is None for search in searches)


# -- doctor ---------------------------------------------------------------------------------------


def test_doctor_passes_and_names_the_releases_pitfalls(
    env: dict[str, str], versioned_standin: StandInServer
) -> None:
    result = run(["doctor", "--json"], env)
    assert result.exit_code == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    details = [c["detail"] for c in report["checks"] if c["name"] == "version"]
    assert f"Meilisearch {versioned_standin.state.version.pkg_version}" in details[0]
    no_filter = any("no `filter` argument" in detail for detail in details)
    assert no_filter == (version_of(versioned_standin) < (1, 16, 0))


@pytest.mark.parametrize(("version", "warned"), [("1.17", True), ("1.50", False)])
def test_doctor_warns_that_a_base_url_is_ignored_from_1_15_2_to_1_39(
    clean_env: dict[str, str], version: str, warned: bool
) -> None:
    with StandInServer(master_key=MASTER_KEY, version=version) as server:
        server.state.workspaces["demo"]["baseUrl"] = "http://127.0.0.1:9/v1"
        result = invoke(["doctor", "--json", "--no-completion"], env=admin_env(clean_env, server))
    checks = json.loads(result.stdout)["checks"]
    ignored = [c for c in checks if "ignores the workspace baseUrl" in c["detail"]]
    assert bool(ignored) == warned
    if warned:
        assert ignored[0]["status"] == "warn" and "1.40" in ignored[0]["fix"]


def _tenant_token(parent_key: str, parent_uid: str, rules: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        raw = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing = (
        part({"alg": "HS256", "typ": "JWT"})
        + "."
        + part({"searchRules": rules, "apiKeyUid": parent_uid})
    )
    signature = hmac.new(parent_key.encode(), signing.encode(), hashlib.sha256).digest()
    return signing + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


@pytest.mark.parametrize(("version", "warned"), [("1.48", True), ("1.50", False)])
def test_doctor_flags_the_facet_leak_before_1_48_3_for_a_tenant_token_with_filters(
    clean_env: dict[str, str], version: str, warned: bool
) -> None:
    with StandInServer(master_key=MASTER_KEY, version=version) as server:
        parent = server.state.key_named("Default Chat API Key")
        assert parent is not None
        token = _tenant_token(parent.value, parent.uid, {"movies": {"filter": "year > 2000"}})
        env = {**admin_env(clean_env, server), "MEILICHAT_API_KEY": token}
        result = invoke(["doctor", "--json", "--no-completion"], env=env)
    leaks = [c for c in json.loads(result.stdout)["checks"] if "leak" in c["detail"]]
    assert bool(leaks) == warned
    if warned:
        assert "1.48.3" in (leaks[0]["fix"] or "")


# -- previews through /render-template ------------------------------------------------------------


def test_preview_uses_the_servers_render_template_when_the_feature_is_on(
    clean_env: dict[str, str],
) -> None:
    with StandInServer(master_key=MASTER_KEY, version="1.50") as server:
        server.state.features["renderRoute"] = True
        env = admin_env(clean_env, server)
        result = invoke(
            ["index", "chat-settings", "movies", "--preview", "--preview-count", "2", "--json"],
            env=env,
        )
        assert result.exit_code == 0, result.stderr
        body = json.loads(result.stdout)
        assert body["previewRenderer"] == "server"
        assert len(requests(server, "POST", "/render-template")) == 2
        assert all(item["text"].strip() for item in body["preview"])
        # The same documents rendered locally read the same.
        local = admin.render_previews(
            body["chat"],
            [item["document"] for item in body["preview"]],
            server.state.indexes["movies"].data.searchable,
        )
        assert [item["text"] for item in body["preview"]] == local


@pytest.mark.parametrize(
    ("version", "feature", "reason"),
    [
        ("1.17", False, "has no /render-template"),
        ("1.50", False, "renderRoute"),
    ],
)
def test_preview_says_when_it_falls_back_to_the_local_renderer(
    clean_env: dict[str, str], version: str, feature: bool, reason: str
) -> None:
    with StandInServer(master_key=MASTER_KEY, version=version) as server:
        server.state.features["renderRoute"] = feature
        env = admin_env(clean_env, server)
        result = invoke(["index", "chat-settings", "movies", "--preview", "--json"], env=env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["previewRenderer"] == "local"
    assert "Preview rendered locally" in result.stderr and reason in result.stderr


def test_dry_run_preview_renders_the_unsaved_template_on_the_server(
    clean_env: dict[str, str],
) -> None:
    with StandInServer(master_key=MASTER_KEY, version="1.50") as server:
        server.state.features["renderRoute"] = True
        env = admin_env(clean_env, server)
        result = invoke(
            [
                "index",
                "chat-settings",
                "movies",
                "--template",
                "Film: {{ doc.title }}",
                "--preview",
                "--dry-run",
                "--json",
            ],
            env=env,
        )
        assert result.exit_code == 0, result.stderr
        body = json.loads(result.stdout)
        sent = [r.body for r in requests(server, "POST", "/render-template")]
    assert body["previewRenderer"] == "server"
    assert all(item["text"].startswith("Film: ") for item in body["preview"])
    assert sent[0]["template"] == {
        "kind": "inlineDocumentTemplate",
        "inline": "Film: {{ doc.title }}",
        "documentTemplateMaxBytes": 400,
    }


# -- the client's version cache and fallbacks (unit) ----------------------------------------------


def _client(handler: Any) -> MeiliClient:
    connection = Connection(
        profile=None,
        url="http://meili.test",
        api_key="k",
        api_key_source="test",
        workspace="demo",
        model="m",
    )
    return MeiliClient(connection, transport=httpx.MockTransport(handler))


def test_the_version_is_read_once_per_client() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.url.path == "/version":
            return httpx.Response(200, json={"pkgVersion": "1.16.0"})
        return httpx.Response(202, json={"taskUid": 1, "status": "enqueued"})

    with _client(handler) as client:
        for _ in range(3):
            admin.update_index_chat_settings(client, "movies", {"description": "x"})
    assert seen.count("GET /version") == 1
    assert seen.count("PUT /indexes/movies/settings/chat") == 3


def test_patch_refused_with_405_falls_back_to_put_when_the_version_is_unknown() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.url.path == "/version":
            return httpx.Response(403, json={"message": "no", "code": "invalid_api_key"})
        if request.method == "PATCH":
            return httpx.Response(405)
        return httpx.Response(202, json={"taskUid": 7, "status": "enqueued"})

    with _client(handler) as client:
        task = admin.update_index_chat_settings(client, "movies", {"description": "x"})
    assert task["taskUid"] == 7
    assert seen[-2:] == ["PATCH /indexes/movies/settings/chat", "PUT /indexes/movies/settings/chat"]


def test_a_dry_run_with_an_unknown_version_names_both_verbs() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.url.path == "/version":
            return httpx.Response(403, json={"message": "no", "code": "invalid_api_key"})
        return httpx.Response(500)

    update = admin.IndexChatUpdate({"description": "x"}, dry_run=True)
    with _client(handler) as client:
        result = admin.apply_index_chat_update(client, "movies", {}, update)
    assert result["wouldRequest"] == {
        "method": "PATCH",
        "path": "/indexes/movies/settings/chat",
        "fallbackMethod": "PUT",
    }
    assert seen == ["GET /version"]


def test_a_405_on_put_is_not_retried() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/version":
            return httpx.Response(200, json={"pkgVersion": "1.15.1"})
        return httpx.Response(405)

    with _client(handler) as client, pytest.raises(ApiError):
        admin.update_index_chat_settings(client, "movies", {"description": "x"})


# -- the documented argument names -------------------------------------------------------------


def _tool_chunk(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    call = {
        "index": 0,
        "id": "a",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }
    delta = {"content": None, "tool_calls": [call], "role": "assistant"}
    return {"id": "c", "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}


def test_the_documented_names_function_parameters_and_documents_are_read_too() -> None:
    progress = decode_event(
        json.dumps(
            _tool_chunk(
                "_meiliSearchProgress",
                {
                    "call_id": "call_1",
                    "function_name": "_meiliSearchInIndex",
                    "function_parameters": '{"index_uid":"movies","q":"space"}',
                },
            )
        ),
        1,
    )
    sources = decode_event(
        json.dumps(
            _tool_chunk("_meiliSearchSources", {"call_id": "call_1", "documents": [{"id": 1}]})
        ),
        2,
    )
    found = [*progress, *sources]
    assert any(isinstance(e, SearchProgress) and e.q == "space" for e in found)
    assert any(isinstance(e, SearchSources) and e.sources == [{"id": 1}] for e in found)


# -- demo --meilisearch-version ------------------------------------------------------------------


def test_demo_offers_every_emulated_release() -> None:
    from meilichat_cli.cli.commands.demo import MEILISEARCH_VERSIONS
    from meilichat_cli.standin.versions import VERSION_NAMES

    assert MEILISEARCH_VERSIONS == VERSION_NAMES


def test_demo_refuses_a_release_it_does_not_emulate(clean_env: dict[str, str]) -> None:
    result = invoke(["demo", "--meilisearch-version", "1.14", "hello"], env=clean_env)
    assert result.exit_code == 2
    assert "does not emulate Meilisearch '1.14'" in result.stderr


def test_demo_answers_on_an_emulated_release(clean_env: dict[str, str]) -> None:
    result = invoke(
        ["demo", "--meilisearch-version", "v1.16.0", "--json", "space movies"], env=clean_env
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["searches"]
