"""How an update of an index's `chat` settings is applied, on every emulated release: PUT on
1.15.1–1.16.x and PATCH from 1.17 run the same Meilisearch handler, which keeps the fields a
body leaves out, resets the `null` ones, merges `searchParameters` subfield by subfield and
answers 202 with the summarized task; on 1.15.x a `searchParameters` object without `limit`
sets it to 20 (docs/versions.md#index-chat-settings-updates names the Meilisearch sources).

First the stand-in over HTTP, then what `index chat-settings` sends to each release.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from meilichat_cli.api import admin
from meilichat_cli.api.client import MeiliClient
from meilichat_cli.standin import StandInServer
from meilichat_cli.standin.versions import EMULATIONS
from meilichat_cli.text.template import DEFAULT_DOCUMENT_TEMPLATE
from tests.admin_support import admin_env, bodies
from tests.conftest import MASTER_KEY, local_connection
from tests.inprocess import invoke
from tests.standin_http import Client, Reply

PATH = "/indexes/movies/settings/chat"
DEFAULTS = {
    "description": "",
    "documentTemplate": DEFAULT_DOCUMENT_TEMPLATE,
    "documentTemplateMaxBytes": 400,
    "searchParameters": {},
}
CONFIGURED = {
    "description": "Films",
    "documentTemplate": "{{ doc.title }}",
    "documentTemplateMaxBytes": 200,
    "searchParameters": {"limit": 5, "sort": ["year:desc"], "distinct": "director"},
}


class Meili:
    """A stand-in emulating one release, driven with that release's update verb."""

    def __init__(self, server: StandInServer) -> None:
        self.server = server
        self.client = Client(server.url, MASTER_KEY)
        self.verb = server.state.version.index_chat_method

    def update(self, body: Any = None, *, raw: bytes | None = None) -> Reply:
        return self.client.call(self.verb, PATH, body, raw=raw)

    def applied(self, body: Any = None, *, raw: bytes | None = None) -> dict[str, Any]:
        """Send the update, wait for its task to succeed, return the task."""
        reply = self.update(body, raw=raw)
        assert reply.status == 202, reply.raw
        task = self.wait(reply.json["taskUid"])
        assert task["status"] == "succeeded", task
        return task

    def wait(self, uid: int) -> dict[str, Any]:
        import time

        for _ in range(500):
            task = self.client.call("GET", f"/tasks/{uid}").json
            if task["status"] in ("succeeded", "failed"):
                return dict(task)
            time.sleep(0.02)
        raise AssertionError(f"task {uid} never finished")

    def stored(self) -> dict[str, Any]:
        reply = self.client.call("GET", PATH)
        assert reply.status == 200, reply.raw
        return dict(reply.json)

    def is_1_15(self) -> bool:
        return is_1_15(self.server)


def is_1_15(server: StandInServer) -> bool:
    """The emulated release is a 1.15.x (read from its version, not from the flag under test)."""
    return server.state.version.pkg_version.startswith("1.15.")


@pytest.fixture(params=list(EMULATIONS))
def meili(request: pytest.FixtureRequest) -> Iterator[Meili]:
    with StandInServer(master_key=MASTER_KEY, version=request.param) as server:
        meili = Meili(server)
        meili.applied(CONFIGURED)
        assert meili.stored() == CONFIGURED
        try:
            yield meili
        finally:
            meili.client.close()


# -- the stand-in, as Meilisearch's update_chat_config applies a body --------------------------


def test_the_update_verb_is_put_until_1_16_and_patch_from_1_17(meili: Meili) -> None:
    release = tuple(int(p) for p in meili.server.state.version.pkg_version.split("."))
    assert meili.verb == ("PATCH" if release >= (1, 17, 0) else "PUT")
    other = "PUT" if meili.verb == "PATCH" else "PATCH"
    assert meili.client.call(other, PATH, {"description": "x"}).status == 405


def test_an_update_keeps_every_field_it_leaves_out(meili: Meili) -> None:
    meili.applied({"description": "Only this"})
    assert meili.stored() == {**CONFIGURED, "description": "Only this"}


def test_search_parameters_merge_subfield_by_subfield(meili: Meili) -> None:
    # Meilisearch's set_reset_chat_issue_5772 (crates/meilisearch/tests/settings/chat.rs).
    meili.applied({"searchParameters": {"limit": 15, "sort": [], "attributesToSearchOn": []}})
    meili.applied({"searchParameters": {"limit": 16}})
    assert meili.stored()["searchParameters"] == {
        "limit": 16,
        "sort": [],
        "distinct": "director",
        "attributesToSearchOn": [],
    }


def test_search_parameters_without_a_limit_set_it_to_20_before_1_16(meili: Meili) -> None:
    meili.applied({"searchParameters": {"sort": ["title:asc"]}})
    limit = 20 if meili.is_1_15() else 5
    assert meili.stored()["searchParameters"] == {
        "limit": limit,
        "sort": ["title:asc"],
        "distinct": "director",
    }


def test_an_empty_search_parameters_object_sets_the_limit_to_20_before_1_16(meili: Meili) -> None:
    # Meilisearch issue #5771: `searchParameters: {}` stored `limit: 20` (fixed in 1.16.0).
    meili.applied({"searchParameters": {}})
    expected = {**CONFIGURED["searchParameters"]}
    if meili.is_1_15():
        expected["limit"] = 20
    assert meili.stored()["searchParameters"] == expected


def test_null_fields_go_back_to_their_defaults(meili: Meili) -> None:
    meili.applied({"description": None, "documentTemplate": None})
    assert meili.stored() == {
        **CONFIGURED,
        "description": "",
        "documentTemplate": DEFAULT_DOCUMENT_TEMPLATE,
    }
    meili.applied({"documentTemplateMaxBytes": None, "searchParameters": None})
    assert meili.stored() == DEFAULTS


def test_a_null_subfield_clears_only_that_subfield(meili: Meili) -> None:
    meili.applied({"searchParameters": {"limit": 7, "distinct": None}})
    assert meili.stored()["searchParameters"] == {"limit": 7, "sort": ["year:desc"]}


def test_an_empty_body_changes_nothing(meili: Meili) -> None:
    meili.applied({})
    assert meili.stored() == CONFIGURED


def test_a_null_body_resets_every_setting_even_with_the_feature_off(meili: Meili) -> None:
    meili.client.call("PATCH", "/experimental-features", {"chatCompletions": False})
    task = meili.applied(raw=b"null")
    assert task["details"] == {"chat": None}
    meili.client.call("PATCH", "/experimental-features", {"chatCompletions": True})
    assert meili.stored() == DEFAULTS


def test_the_update_answers_202_with_the_summarized_task(meili: Meili) -> None:
    reply = meili.update({"description": "x"})
    assert reply.status == 202
    assert list(reply.json) == ["taskUid", "indexUid", "status", "type", "enqueuedAt"]
    assert reply.json["indexUid"] == "movies"
    assert reply.json["status"] == "enqueued"
    assert reply.json["type"] == "settingsUpdate"
    meili.wait(reply.json["taskUid"])


def test_the_task_details_show_the_body_as_meilisearch_read_it(meili: Meili) -> None:
    body = {
        "searchParameters": {"sort": ["year:asc"], "hybrid": {"embedder": "default"}},
        "description": "d",
    }
    task = meili.applied(body)
    params: dict[str, Any] = {"hybrid": {"semanticRatio": 0.5, "embedder": "default"}}
    if meili.is_1_15():
        params["limit"] = 20
    params["sort"] = ["year:asc"]
    expected = {"chat": {"description": "d", "searchParameters": params}}
    # Compared as text: the key order is Meilisearch's declaration order, not the body's.
    assert json.dumps(task["details"]) == json.dumps(expected)
    shown = meili.stored()["searchParameters"]
    assert list(shown) == ["hybrid", "limit", "sort", "distinct"]
    assert list(shown["hybrid"]) == ["semanticRatio", "embedder"]


def test_a_bad_body_gets_the_same_error_with_either_verb() -> None:
    bad = {"searchParameters": {"limit": "five"}}
    replies = []
    for version in ("1.16", "1.17"):
        with StandInServer(master_key=MASTER_KEY, version=version) as server:
            meili = Meili(server)
            replies.append(meili.update(bad))
            meili.client.close()
    assert replies[0].status == replies[1].status == 400
    assert replies[0].raw == replies[1].raw
    assert replies[0].json["code"] == "invalid_settings_index_chat"


# -- what index chat-settings sends to each release --------------------------------------------


@pytest.fixture
def env(clean_env: dict[str, str], versioned_standin: StandInServer) -> dict[str, str]:
    return admin_env(clean_env, versioned_standin)


def _sent(server: StandInServer) -> list[Any]:
    return bodies(server, server.state.version.index_chat_method, PATH)


def test_a_change_sends_only_that_field_and_keeps_the_others(
    env: dict[str, str], versioned_standin: StandInServer
) -> None:
    before = dict(versioned_standin.state.indexes["movies"].chat)
    result = invoke(["index", "chat-settings", "movies", "--description", "Films"], env=env)
    assert result.exit_code == 0, result.stderr
    assert _sent(versioned_standin) == [{"description": "Films"}]
    assert versioned_standin.state.indexes["movies"].chat == {**before, "description": "Films"}


def test_a_search_parameter_change_keeps_the_stored_limit_on_every_release(
    env: dict[str, str], versioned_standin: StandInServer
) -> None:
    stored = versioned_standin.state.indexes["movies"].chat["searchParameters"]
    assert stored["limit"] == 5
    result = invoke(["index", "chat-settings", "movies", "--sort", "year:desc"], env=env)
    assert result.exit_code == 0, result.stderr
    after = versioned_standin.state.indexes["movies"].chat["searchParameters"]
    assert after == {"limit": 5, "sort": ["year:desc"]}
    if is_1_15(versioned_standin):
        assert _sent(versioned_standin) == [
            {"searchParameters": {"sort": ["year:desc"], "limit": 5}}
        ]
    else:
        assert _sent(versioned_standin) == [{"searchParameters": {"sort": ["year:desc"]}}]


def test_a_dry_run_shows_the_limit_sent_along_on_1_15(
    env: dict[str, str], versioned_standin: StandInServer
) -> None:
    args = ["index", "chat-settings", "movies", "--sort", "year:desc", "--dry-run"]
    shown = invoke(args, env=env)
    assert shown.exit_code == 0, shown.stderr
    verb = versioned_standin.state.version.index_chat_method
    pads = is_1_15(versioned_standin)
    body = {"searchParameters": {"sort": ["year:desc"], **({"limit": 5} if pads else {})}}
    assert f"Dry run: would {verb} {PATH} with {json.dumps(body)}\n" in shown.stderr
    as_json = invoke([*args, "--json"], env=env)
    result = json.loads(as_json.stdout)
    assert result["wouldSend"] == body
    # The settings as they would be: the stored limit kept on every release.
    assert result["chat"]["searchParameters"] == {"limit": 5, "sort": ["year:desc"]}
    assert _sent(versioned_standin) == []


def test_an_unset_limit_is_sent_as_given(
    env: dict[str, str], versioned_standin: StandInServer
) -> None:
    args = ["index", "chat-settings", "movies", "--sort", "year:desc", "--unset", "limit"]
    result = invoke(args, env=env)
    assert result.exit_code == 0, result.stderr
    assert _sent(versioned_standin) == [
        {"searchParameters": {"sort": ["year:desc"], "limit": None}}
    ]
    after = versioned_standin.state.indexes["movies"].chat["searchParameters"]
    assert after == {"sort": ["year:desc"]}


def _client(pkg_version: str | None, seen: list[tuple[str, Any]]) -> MeiliClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/version":
            if pkg_version is None:
                return httpx.Response(403, json={"message": "no", "code": "invalid_api_key"})
            return httpx.Response(200, json={"pkgVersion": pkg_version})
        if request.method == "GET":
            return httpx.Response(200, json={"searchParameters": {}})
        seen.append((request.method, json.loads(request.content)))
        return httpx.Response(202, json={"taskUid": 1, "status": "enqueued"})

    connection = local_connection("http://meili.test")
    return MeiliClient(connection, transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("pkg_version", "limit_sent"),
    [("1.15.1", True), ("1.15.2", True), ("1.16.0", False), ("1.50.0", False), (None, True)],
)
def test_the_stored_limit_goes_along_unless_the_server_keeps_it(
    pkg_version: str | None, limit_sent: bool
) -> None:
    seen: list[tuple[str, Any]] = []
    changes = {"searchParameters": {"sort": ["year:desc"]}}
    current = {"searchParameters": {"limit": 9}}
    with _client(pkg_version, seen) as client:
        admin.update_index_chat_settings(client, "movies", changes, current)
    params = seen[0][1]["searchParameters"]
    assert params == (
        {"sort": ["year:desc"], "limit": 9} if limit_sent else {"sort": ["year:desc"]}
    )
    assert changes == {"searchParameters": {"sort": ["year:desc"]}}  # the caller's is untouched


def test_no_stored_limit_is_sent_as_null_on_1_15() -> None:
    seen: list[tuple[str, Any]] = []
    with _client("1.15.1", seen) as client:
        admin.update_index_chat_settings(client, "movies", {"searchParameters": {"distinct": "x"}})
    assert seen == [("PUT", {"searchParameters": {"distinct": "x", "limit": None}})]
