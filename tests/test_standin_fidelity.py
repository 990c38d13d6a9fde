"""A replay of Meilisearch's own expectations against the stand-in server, one test per
fidelity point: the request/response pairs are transcribed from Meilisearch's integration
tests (`crates/meilisearch/tests/…`, named in each case) and from its code (default prompts,
default keys, error wording, what changed in which release).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from meilichat_cli.standin import StandInServer
from meilichat_cli.standin.versions import EMULATIONS
from tests.conftest import MASTER_KEY
from tests.standin_http import Client

# sha256 (first 16 hex digits) and length of Meilisearch's DEFAULT_CHAT_* constants, computed
# from crates/meilisearch-types/src/features.rs at v1.15.1 and v1.16.0 (unchanged to v1.50.0).
PROMPTS_1_15 = {
    "system": ("d42140d74465796f", 725),
    "searchDescription": ("d37c70cf954452ce", 72),
    "searchQParam": ("c5016f069ee17c95", 214),
    "searchIndexUidParam": ("0ebef228f3365972", 179),
}
PROMPTS_1_16 = {
    "system": ("2c5394078ee0b755", 1141),
    "searchDescription": ("223e23db1ff03142", 680),
    "searchQParam": ("c5016f069ee17c95", 214),
    "searchFilterParam": ("ce4cd8bf5d9a0654", 388),
    "searchIndexUidParam": ("0ebef228f3365972", 179),
}

# crates/meilisearch/tests/auth/errors.rs, create_api_key_bad_actions (v1.50.0).
ACTIONS_1_50 = (
    "`*`, `search`, `documents.*`, `documents.add`, `documents.get`, `documents.delete`, "
    "`indexes.*`, `indexes.create`, `indexes.get`, `indexes.update`, `indexes.delete`, "
    "`indexes.swap`, `tasks.*`, `tasks.cancel`, `tasks.delete`, `tasks.get`, `settings.*`, "
    "`settings.get`, `settings.update`, `stats.*`, `stats.get`, `metrics.*`, `metrics.get`, "
    "`dumps.*`, `dumps.create`, `snapshots.*`, `snapshots.create`, `version`, `keys.create`, "
    "`keys.get`, `keys.update`, `keys.delete`, `experimental.get`, `experimental.update`, "
    "`export`, `network.get`, `network.update`, `chatCompletions`, `chats.*`, `chats.get`, "
    "`chats.delete`, `chatsSettings.*`, `chatsSettings.get`, `chatsSettings.update`, `*.get`, "
    "`webhooks.get`, `webhooks.update`, `webhooks.delete`, `webhooks.create`, `webhooks.*`, "
    "`indexes.compact`, `fields.post`, `tasks.compact`, `dynamicSearchRules.get`, "
    "`dynamicSearchRules.create`, `dynamicSearchRules.update`, `dynamicSearchRules.delete`, "
    "`dynamicSearchRules.*`"
)


def _server(version: str = "1.50", *, fresh: bool = False) -> StandInServer:
    return StandInServer(master_key=MASTER_KEY, version=version, fresh=fresh)


@pytest.fixture
def master() -> Iterator[Client]:
    with _server() as server:
        client = Client(server.url, MASTER_KEY)
        try:
            yield client
        finally:
            client.close()


def error(reply: Any, status: int, code: str, message: str) -> None:
    assert reply.status == status, reply.raw
    assert reply.json == {
        "message": message,
        "code": code,
        "type": "invalid_request",
        "link": f"https://docs.meilisearch.com/errors#{code}",
    }


def wait(client: Client, task_uid: int) -> dict[str, Any]:
    for _ in range(200):
        task = client.call("GET", f"/tasks/{task_uid}").json
        if task["status"] in ("succeeded", "failed"):
            return dict(task)
        time.sleep(0.02)
    raise AssertionError(f"task {task_uid} never finished")


# -- defaults --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "expected"),
    [("1.15.1", PROMPTS_1_15), ("1.16", PROMPTS_1_16), ("1.50", PROMPTS_1_16)],
)
def test_default_prompts_are_meilisearchs_constants(
    version: str, expected: dict[str, tuple[str, int]]
) -> None:
    with _server(version) as server:
        client = Client(server.url, MASTER_KEY)
        client.call("PATCH", "/chats/new-ws/settings", {"source": "openAi"})
        prompts = client.call("GET", "/chats/new-ws/settings").json["prompts"]
    assert list(prompts) == list(expected)
    for name, (digest, length) in expected.items():
        text = prompts[name]
        assert (hashlib.sha256(text.encode()).hexdigest()[:16], len(text)) == (digest, length)


def test_default_keys_are_listed_search_admin_read_only_chat(master: Client) -> None:
    # crates/meilisearch/tests/auth/api_keys.rs, list_api_keys.
    results = master.call("GET", "/keys").json["results"]
    assert [(key["name"], key["description"], key["actions"]) for key in results] == [
        ("Default Search API Key", "Use it to search from the frontend", ["search"]),
        (
            "Default Admin API Key",
            "Use it for anything that is not a search operation. Caution! Do not expose it on "
            "a public frontend",
            ["*"],
        ),
        (
            "Default Read-Only Admin API Key",
            "Use it to read information across the whole database. Caution! Do not expose this "
            "key on a public frontend",
            ["*.get", "keys.get"],
        ),
        (
            "Default Chat API Key",
            "Use it to chat and search from the frontend",
            ["chatCompletions", "search"],
        ),
    ]
    assert list(results[0]) == [
        "name",
        "description",
        "key",
        "uid",
        "actions",
        "indexes",
        "expiresAt",
        "createdAt",
        "updatedAt",
    ]


def test_1_15_1_has_no_read_only_default_key() -> None:
    # crates/meilisearch-auth/src/lib.rs at v1.15.1 creates chat, admin and search keys.
    with _server("1.15.1") as server:
        names = [
            k["name"] for k in Client(server.url, MASTER_KEY).call("GET", "/keys").json["results"]
        ]
    assert names == ["Default Search API Key", "Default Admin API Key", "Default Chat API Key"]


def test_timestamps_drop_trailing_zeros_of_the_fraction(master: Client) -> None:
    stamps = [k["createdAt"] for k in master.call("GET", "/keys").json["results"]]
    for stamp in stamps:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z", stamp), stamp


def test_index_settings_have_meilisearchs_20_keys_with_chat_last(master: Client) -> None:
    # crates/meilisearch/tests/settings/get_settings.rs, get_settings.
    master.call("PATCH", "/experimental-features", {"chatCompletions": False})
    settings = master.call("GET", "/indexes/movies/settings").json
    assert len(settings) == 20
    assert settings["rankingRules"] == [
        "words",
        "typo",
        "proximity",
        "attributeRank",
        "sort",
        "wordPosition",
        "exactness",
    ]
    assert settings["faceting"] == {"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "alpha"}}
    assert settings["prefixSearch"] == "indexingTime" and settings["facetSearch"] is True
    master.call("PATCH", "/experimental-features", {"chatCompletions": True})
    assert list(master.call("GET", "/indexes/movies/settings").json)[-1] == "chat"


# -- deserr and serde wording --------------------------------------------------------------------


def test_a_type_error_says_found_an_object(master: Client) -> None:
    reply = master.call("POST", "/keys", {"name": {"a": 1}})
    error(
        reply,
        400,
        "invalid_api_key_name",
        'Invalid value type at `.name`: expected a string, but found an object: `{"a":1}`',
    )


def test_keys_errors_follow_the_body_order(master: Client) -> None:
    # crates/meilisearch/tests/auth/errors.rs, create_api_key_bad_actions.
    error(
        master.call("POST", "/keys", {"actions": "doggo"}),
        400,
        "invalid_api_key_actions",
        'Invalid value type at `.actions`: expected an array, but found a string: `"doggo"`',
    )
    error(
        master.call("POST", "/keys", {"actions": ["doggo"]}),
        400,
        "invalid_api_key_actions",
        f"Unknown value `doggo` at `.actions[0]`: expected one of {ACTIONS_1_50}",
    )
    # create_api_key_missing_indexes: the missing field comes after the given ones.
    error(
        master.call(
            "POST",
            "/keys",
            {"uid": "00000000-0000-0000-0000-000000000000", "actions": ["*"], "expiresAt": None},
        ),
        400,
        "missing_api_key_indexes",
        "Missing field `indexes`",
    )
    # create_api_key_bad_indexes.
    error(
        master.call("POST", "/keys", {"indexes": ["good doggo"]}),
        400,
        "invalid_api_key_indexes",
        "Invalid value at `.indexes[0]`: `good doggo` is not a valid index uid pattern. Index "
        "uid patterns can be an integer or a string containing only alphanumeric characters, "
        "hyphens (-), underscores (_), and optionally end with a star (*).",
    )


def test_the_1_50_actions_are_accepted(master: Client) -> None:
    for action in ("indexes.compact", "fields.post", "tasks.compact", "dynamicSearchRules.*"):
        body = {"actions": [action], "indexes": ["*"], "expiresAt": None}
        assert master.call("POST", "/keys", body).status == 201, action


def test_json_syntax_errors_give_serdes_positions(master: Client) -> None:
    reply = master.call("PATCH", "/chats/demo/settings", raw=b"{")
    error(
        reply,
        400,
        "malformed_payload",
        "The json payload provided is malformed. `EOF while parsing an object at line 1 column 1`.",
    )


def test_completion_body_errors_point_where_serde_noticed(master: Client) -> None:
    raw = b'{"model": 5, "messages": [], "stream": true}'
    error(
        master.call("POST", "/chats/demo/chat/completions", raw=raw),
        400,
        "bad_request",
        "Json deserialize error: invalid type: integer `5`, expected a string at line 1 column 11",
    )
    raw = b'{"messages": [{"role": "user"}], "model": "m", "stream": true}'
    error(
        master.call("POST", "/chats/demo/chat/completions", raw=raw),
        400,
        "bad_request",
        "Json deserialize error: missing field `content` at line 1 column 30",
    )


# -- index chat settings -------------------------------------------------------------------------


def test_chat_settings_on_an_unknown_index_create_it(master: Client) -> None:
    # crates/meilisearch/tests/settings/chat.rs, set_reset_chat_issue_5772 (unique_index()).
    reply = master.call("PATCH", "/indexes/brand-new/settings/chat", {"description": "test!"})
    assert reply.status == 202 and reply.json["indexUid"] == "brand-new"
    assert wait(master, reply.json["taskUid"])["status"] == "succeeded"
    assert master.call("GET", "/indexes/brand-new").status == 200
    chat = master.call("GET", "/indexes/brand-new/settings").json["chat"]
    assert chat["description"] == "test!"


def test_resetting_chat_settings_works_while_the_feature_is_off(master: Client) -> None:
    master.call("PATCH", "/experimental-features", {"chatCompletions": False})
    reply = master.call("DELETE", "/indexes/movies/settings/chat")
    assert reply.status == 202
    assert wait(master, reply.json["taskUid"])["status"] == "succeeded"
    refused = master.call("PATCH", "/indexes/movies/settings/chat", {"description": "x"})
    assert refused.status == 400 and refused.json["code"] == "feature_not_enabled"


def test_task_errors_use_meilisearchs_wording(master: Client) -> None:
    reply = master.call("PATCH", "/indexes/movies/settings/chat", {"documentTemplateMaxBytes": 0})
    task = wait(master, reply.json["taskUid"])
    assert task["status"] == "failed"
    assert task["error"]["message"] == (
        "Index `movies`: `.chat.documentTemplateMaxBytes`: `documentTemplateMaxBytes` cannot be"
        " zero"
    )
    assert task["error"]["code"] == "invalid_settings_embedders"


# -- what changed when -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", list(EMULATIONS))
def test_version_answers_the_emulated_release(version: str) -> None:
    with _server(version) as server:
        body = Client(server.url, MASTER_KEY).call("GET", "/version").json
    assert body["pkgVersion"] == EMULATIONS[version].pkg_version
    assert list(body) == ["commitSha", "commitDate", "pkgVersion"]


@pytest.mark.parametrize(
    ("version", "sha", "date"),
    [
        ("1.15.1", "9275ce15032b7543a030762fec7058b2f68f1b72", "2025-06-11T14:54:01"),
        ("1.50", "2ecfd54ca7f3dd1c76d304efce86c9b8af9f82aa", "2026-07-16T14:59:12"),
    ],
)
def test_version_names_the_release_tags_commit(version: str, sha: str, date: str) -> None:
    # A release binary reports the commit its tag points at (`git rev-parse vX.Y.Z^{commit}`)
    # and that commit's time, with nanoseconds.
    with _server(version) as server:
        body = Client(server.url, MASTER_KEY).call("GET", "/version").json
    assert body["commitSha"] == sha
    assert body["commitDate"] == date + ".000000000Z"


@pytest.mark.parametrize(("version", "allowed"), [("1.16", "PUT"), ("1.17", "PATCH")])
def test_index_chat_settings_verb_changed_in_1_17(version: str, allowed: str) -> None:
    refused = "PATCH" if allowed == "PUT" else "PUT"
    with _server(version) as server:
        client = Client(server.url, MASTER_KEY)
        ok = client.call(allowed, "/indexes/movies/settings/chat", {"description": "x"})
        no = client.call(refused, "/indexes/movies/settings/chat", {"description": "x"})
    assert ok.status == 202
    assert no.status == 405


@pytest.mark.parametrize(("version", "accepted"), [("1.15.1", True), ("1.16", False)])
def test_gemini_source_was_removed_in_1_16(version: str, accepted: bool) -> None:
    with _server(version) as server:
        reply = Client(server.url, MASTER_KEY).call(
            "PATCH", "/chats/demo/settings", {"source": "gemini"}
        )
    assert (reply.status == 200) == accepted


SOURCES_1_15 = "`openAi`, `mistral`, `gemini`, `azureOpenAi`, `vLlm`"
FIELDS = (
    "`source`, `orgId`, `projectId`, `apiVersion`, `deploymentId`, `baseUrl`, `apiKey`, `prompts`"
)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        # A scalar of the wrong type: right after it.
        (b'{"orgId":1}', "invalid type: integer `1`, expected a string at line 1 column 10"),
        (
            b'{"apiKey": true, "x": 1}',
            "invalid type: boolean `true`, expected a string at line 1 column 15",
        ),
        # A list or an object where a string belongs: where it starts (serde does not read it).
        (b'{"baseUrl":["a"]}', "invalid type: sequence, expected a string at line 1 column 11"),
        # An unknown field: after its name and the blanks that follow, however deep.
        (b'{"foo":1}', f"unknown field `foo`, expected one of {FIELDS} at line 1 column 6"),
        (
            b'{"prompts": {"system": "s", "x" : 1}}',
            "unknown field `x`, expected one of `system`, `searchDescription`, `searchQParam`,"
            " `searchIndexUidParam` at line 1 column 32",
        ),
        (
            b'{"source":"nope"}',
            f"unknown variant `nope`, expected one of {SOURCES_1_15} at line 1 column 16",
        ),
        (
            b'{"prompts":1}',
            "invalid type: integer `1`, expected struct ChatPrompts at line 1 column 12",
        ),
        (
            b'{"prompts":{"searchQParam":2.5}}',
            "invalid type: floating point `2.5`, expected a string at line 1 column 30",
        ),
        (
            b'"x"',
            'invalid type: string "x", expected struct ChatWorkspaceSettings at line 1 column 3',
        ),
        (b"null", "invalid type: null, expected struct ChatWorkspaceSettings at line 1 column 4"),
    ],
)
def test_before_1_47_workspace_bodies_get_serdes_messages(raw: bytes, message: str) -> None:
    # actix's `web::Json` (the extractor of 1.15.1 to 1.46) words serde_json's error, which
    # ends with where the parser stood when it gave up.
    with _server("1.15.1") as server:
        reply = Client(server.url, MASTER_KEY).call("PATCH", "/chats/demo/settings", raw=raw)
    error(reply, 400, "bad_request", f"Json deserialize error: {message}")


def test_before_1_47_a_source_that_is_no_string_is_malformed_json() -> None:
    # serde_json's `deserialize_enum` only takes a string (or an object) and says
    # "expected value" where the other token starts: a syntax error, so `malformed_payload`.
    with _server("1.42") as server:
        reply = Client(server.url, MASTER_KEY).call(
            "PATCH", "/chats/demo/settings", raw=b'{"source": 1}'
        )
    error(
        reply,
        400,
        "malformed_payload",
        "The json payload provided is malformed. `expected value at line 1 column 12`.",
    )


def test_filter_argument_and_filter_prompt_arrived_in_1_16() -> None:
    body = {
        "model": "m",
        "stream": True,
        "messages": [{"role": "user", "content": "space movies before 1990"}],
        "tools": [{"type": "function", "function": {"name": "_meiliSearchProgress"}}],
    }
    arguments = {}
    for version in ("1.15.1", "1.16"):
        with _server(version) as server:
            client = Client(server.url, server.chat_key)
            events = client.call("POST", "/chats/demo/chat/completions", body).events()
        calls = [
            e["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
            for e in events
            if isinstance(e, dict) and e.get("choices") and e["choices"][0]["delta"]["tool_calls"]
        ]
        arguments[version] = calls[0]
    assert '\\"filter\\"' not in arguments["1.15.1"]
    assert '\\"filter\\"' in arguments["1.16"]


@pytest.mark.parametrize(("version", "status"), [("1.42", 404), ("1.48", 400)])
def test_render_template_exists_from_1_48_behind_its_feature(version: str, status: int) -> None:
    body = {
        "template": {"kind": "chatDocumentTemplate", "indexUid": "movies"},
        "input": {"kind": "indexDocument", "indexUid": "movies", "id": "1"},
    }
    with _server(version) as server:
        client = Client(server.url, MASTER_KEY)
        reply = client.call("POST", "/render-template", body)
        assert reply.status == status
        if status == 400:
            assert reply.json["code"] == "feature_not_enabled"
            client.call("PATCH", "/experimental-features", {"renderRoute": True})
            rendered = client.call("POST", "/render-template", body).json
            assert rendered["template"] == server.state.indexes["movies"].chat["documentTemplate"]
            assert isinstance(rendered["rendered"], str) and rendered["rendered"]


def test_stream_header_x_accel_buffering_arrived_in_1_39() -> None:
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    headers = {}
    for version in ("1.17", "1.42"):
        with _server(version) as server:
            reply = Client(server.url, server.chat_key).call(
                "POST", "/chats/demo/chat/completions", body
            )
            headers[version] = reply.headers
    assert "x-accel-buffering" not in headers["1.17"]
    assert headers["1.42"]["x-accel-buffering"] == "no"


# -- deserr's "did you mean" ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        # Meilisearch's own expectation (crates/meilisearch/tests/auth/errors.rs).
        (
            "POST",
            "/keys",
            {"expires_at": "doggo"},
            "Unknown field `expires_at`: did you mean `expiresAt`? expected one of `description`,"
            " `name`, `uid`, `actions`, `indexes`, `expiresAt`",
        ),
        (
            "PATCH",
            "/chats/demo/settings",
            {"apikey": "x"},
            "Unknown field `apikey`: did you mean `apiKey`? expected one of `source`, `orgId`,"
            " `projectId`, `apiVersion`, `deploymentId`, `baseUrl`, `apiKey`, `prompts`",
        ),
        (
            "PATCH",
            "/chats/demo/settings",
            {"source": "mistrall"},
            "Unknown value `mistrall` at `.source`: did you mean `mistral`? expected one of"
            " `openAi`, `mistral`, `azureOpenAi`, `vLlm`",
        ),
        (
            "PATCH",
            "/experimental-features",
            {"chatCompletion": True},
            "Unknown field `chatCompletion`: did you mean `chatCompletions`? expected one of "
            + ", ".join(f"`{flag}`" for flag in EMULATIONS["1.50"].feature_flags),
        ),
        # Three letters or fewer: no suggestion at all.
        (
            "PATCH",
            "/chats/demo/settings",
            {"api": "x"},
            "Unknown field `api`: expected one of `source`, `orgId`, `projectId`, `apiVersion`,"
            " `deploymentId`, `baseUrl`, `apiKey`, `prompts`",
        ),
    ],
)
def test_deserr_suggests_the_closest_name(
    master: Client, method: str, path: str, body: Any, message: str
) -> None:
    # deserr's `did_you_mean` (src/errors/helpers.rs): the accepted name at the smallest
    # Damerau-Levenshtein distance, within 1 edit for 4-7 bytes, 2 for 8-12, 3 for 13-17…
    reply = master.call(method, path, body)
    assert reply.status == 400, reply.raw
    assert reply.json["message"] == message


def test_query_parameters_get_suggestions_too(master: Client) -> None:
    reply = master.call("GET", "/chats?ofset=1")
    assert reply.json["message"] == (
        "Unknown parameter `ofset`: did you mean `offset`? expected one of `offset`, `limit`"
    )


@pytest.mark.parametrize(
    ("uid", "message"),
    [
        # crates/meilisearch/tests/auth/errors.rs and api_keys.rs
        ("doggo", "Invalid value at `.uid`: invalid character: found `o` at 1"),
        ("aaaaabbbbbccc", "Invalid value at `.uid`: invalid length: found 13"),
    ],
)
def test_a_key_uid_that_is_no_uuid_is_worded_as_meilisearch_does(
    master: Client, uid: str, message: str
) -> None:
    body = {"uid": uid, "actions": ["search"], "indexes": ["*"], "expiresAt": None}
    reply = master.call("POST", "/keys", body)
    error(reply, 400, "invalid_api_key_uid", message)
