"""Workspace settings (docs/protocol.md#workspaces) and index chat settings with their tasks
(docs/protocol.md#index-chat-settings)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from standin_http import Client, Reply, ask_body

from meilichat_cli.standin import StandInServer
from meilichat_cli.standin.workspaces import DEFAULT_PROMPTS, MaskPanic, mask_secret

MASTER = "settings-master-key-0123456789"
SETTINGS_KEYS = [
    "source",
    "orgId",
    "projectId",
    "apiVersion",
    "deploymentId",
    "baseUrl",
    "apiKey",
    "prompts",
]
PROMPT_KEYS = [
    "system",
    "searchDescription",
    "searchQParam",
    "searchFilterParam",
    "searchIndexUidParam",
]


@pytest.fixture
def server() -> Iterator[StandInServer]:
    with StandInServer(master_key=MASTER) as srv:
        yield srv


@pytest.fixture
def admin(server: StandInServer) -> Iterator[Client]:
    c = Client(server.url, MASTER)
    yield c
    c.close()


def error_of(reply: Reply) -> tuple[int, str, str]:
    body = reply.json
    assert list(body) == ["message", "code", "type", "link"]
    return reply.status, body["code"], body["message"]


@pytest.mark.parametrize(
    ("secret", "shown"),
    [
        ("short", "XXX..."),
        ("123456789", "XXX..."),
        ("0123456789", "01XXXX..."),
        ("sk-test-placeholder-api-key", "sk-XXXXX..."),
        ("x" * 19, "xxXXXX..."),
        ("y" * 20, "yyyXXXXX..."),
        ("sk-proj-abcdefghijklmnopqrstuvwxyz012345", "sk-prXXXXXX..."),
        # Length and kept prefix are both counted in bytes (`String::replace_range`).
        ("é" * 5, "éXXXX..."),
        ("aé" + "b" * 18, "aéXXXXX..."),
    ],
)
def test_masking_table(secret: str, shown: str) -> None:
    assert mask_secret(secret) == shown
    assert mask_secret(None) is None


@pytest.mark.parametrize("secret", ["aé" + "b" * 8, "abcdé" + "b" * 25])
def test_masking_inside_a_character_is_meilisearchs_panic(secret: str) -> None:
    # `hide_secret` cuts at a byte offset; inside a multi-byte character Rust panics.
    with pytest.raises(MaskPanic):
        mask_secret(secret)


def test_a_key_masked_inside_a_character_is_stored_but_never_answered(
    server: StandInServer, admin: Client
) -> None:
    # PATCH stores the settings, then hides the key for its answer and panics: the connection
    # closes without an answer, and so does every later GET; DELETE answers (nothing to hide).
    import http.client

    body = {"apiKey": "aé" + "b" * 8}
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        Client(server.url, MASTER).call("PATCH", "/chats/panicky/settings", body)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        Client(server.url, MASTER).call("GET", "/chats/panicky/settings")
    assert admin.call("GET", "/chats/panicky").status == 200
    reset = admin.call("DELETE", "/chats/panicky/settings")
    assert reset.status == 200 and reset.json["apiKey"] is None


def test_demo_workspace_shows_a_masked_key(admin: Client) -> None:
    body = admin.call("GET", "/chats/demo/settings").json
    assert list(body) == SETTINGS_KEYS
    assert list(body["prompts"]) == PROMPT_KEYS
    assert body["source"] == "openAi"
    assert body["apiKey"].endswith("XXXXXX...") and "provider" not in body["apiKey"]


def test_patch_merges_resets_and_upserts(admin: Client) -> None:
    reply = admin.call(
        "PATCH",
        "/chats/new-ws/settings",
        {
            "source": "openAi",
            "apiKey": "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
            "prompts": {"system": "Answer from the provided context only."},
        },
    )
    assert reply.status == 200
    body = reply.json
    assert list(body) == SETTINGS_KEYS
    assert body["apiKey"] == "sk-prXXXXXX..."
    assert body["prompts"]["system"] == "Answer from the provided context only."
    assert body["prompts"]["searchQParam"] == DEFAULT_PROMPTS["searchQParam"]
    assert admin.call("GET", "/chats/new-ws").json == {"uid": "new-ws"}
    # Omitted fields are kept; null resets one field; prompts merge key by key.
    body = admin.call(
        "PATCH", "/chats/new-ws/settings", {"orgId": "org-1", "prompts": {"searchQParam": "q!"}}
    ).json
    assert body["orgId"] == "org-1" and body["apiKey"] == "sk-prXXXXXX..."
    assert body["prompts"]["system"] == "Answer from the provided context only."
    assert body["prompts"]["searchQParam"] == "q!"
    body = admin.call(
        "PATCH", "/chats/new-ws/settings", {"apiKey": None, "prompts": {"system": None}}
    ).json
    assert body["apiKey"] is None and body["orgId"] == "org-1"
    assert (
        body["prompts"]["system"] == DEFAULT_PROMPTS["system"]
        and body["prompts"]["searchQParam"] == "q!"
    )
    body = admin.call(
        "PATCH", "/chats/new-ws/settings", {"prompts": None, "source": "mistral"}
    ).json
    assert body["prompts"] == DEFAULT_PROMPTS and body["source"] == "mistral"
    body = admin.call("PATCH", "/chats/new-ws/settings", {"source": None}).json
    assert body["source"] == "openAi"


def test_delete_settings_resets_but_keeps_the_workspace(admin: Client) -> None:
    admin.call("PATCH", "/chats/demo/settings", {"orgId": "x", "prompts": {"system": "s"}})
    reply = admin.call("DELETE", "/chats/demo/settings")
    assert reply.status == 200
    body = reply.json
    assert body["apiKey"] is None and body["orgId"] is None and body["prompts"] == DEFAULT_PROMPTS
    assert admin.call("GET", "/chats/demo").status == 200
    assert "demo" in [r["uid"] for r in admin.call("GET", "/chats").json["results"]]


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (
            {"foo": 1},
            "bad_request",
            "Unknown field `foo`: expected one of `source`, `orgId`, `projectId`, `apiVersion`, "
            "`deploymentId`, `baseUrl`, `apiKey`, `prompts`",
        ),
        (
            {"source": "gemini"},
            "bad_request",
            "Unknown value `gemini` at `.source`: expected one of `openAi`, `mistral`, "
            "`azureOpenAi`, `vLlm`",
        ),
        (
            {"orgId": 1},
            "invalid_chat_completion_org_id",
            "Invalid value type at `.orgId`: expected a string, but found a positive integer: `1`",
        ),
        ({"projectId": True}, "invalid_chat_completion_project_id", None),
        ({"apiVersion": []}, "invalid_chat_completion_api_version", None),
        ({"deploymentId": {}}, "invalid_chat_completion_deployment_id", None),
        ({"baseUrl": 1.5}, "invalid_chat_completion_base_api", None),
        (
            {"apiKey": -3},
            "invalid_chat_completion_api_key",
            "Invalid value type at `.apiKey`: expected a string, "
            "but found a negative integer: `-3`",
        ),
        ({"prompts": "x"}, "bad_request", None),
        (
            {"prompts": {"x": "y"}},
            "bad_request",
            "Unknown field `x` inside `.prompts`: expected one of `system`, `searchDescription`, "
            "`searchQParam`, `searchFilterParam`, `searchIndexUidParam`",
        ),
        ({"prompts": {"system": 1}}, "invalid_chat_completion_system_prompt", None),
        (
            {"prompts": {"searchDescription": 1}},
            "invalid_chat_completion_search_description_prompt",
            None,
        ),
        (
            {"prompts": {"searchQParam": 1}},
            "invalid_chat_completion_search_query_param_prompt",
            None,
        ),
        (
            {"prompts": {"searchFilterParam": 1}},
            "invalid_chat_completion_search_filter_param_prompt",
            None,
        ),
        (
            {"prompts": {"searchIndexUidParam": 1}},
            "invalid_chat_completion_search_index_uid_param_prompt",
            None,
        ),
        (
            {"source": "azureOpenAi", "baseUrl": "https://x"},
            "bad_request",
            "azureOpenAi requires setting a valid `baseUrl`, `deploymentId`, and `apiVersion`",
        ),
        ({"source": "vLlm"}, "bad_request", "vLlm requires setting a valid `baseUrl`"),
    ],
)
def test_patch_validation(
    admin: Client, body: dict[str, Any], code: str, message: str | None
) -> None:
    before = admin.call("GET", "/chats/demo/settings").json
    status, got_code, got_message = error_of(admin.call("PATCH", "/chats/demo/settings", body))
    assert (status, got_code) == (400, code)
    if message is not None:
        assert got_message == message
    assert admin.call("GET", "/chats/demo/settings").json == before, "nothing stored"


def test_source_rules_apply_after_merging(admin: Client) -> None:
    ok = admin.call(
        "PATCH",
        "/chats/az/settings",
        {"baseUrl": "https://x", "deploymentId": "d", "apiVersion": "v"},
    )
    assert ok.status == 200
    assert admin.call("PATCH", "/chats/az/settings", {"source": "azureOpenAi"}).status == 200
    assert admin.call("PATCH", "/chats/az/settings", {"apiVersion": None}).status == 400
    assert (
        admin.call(
            "PATCH", "/chats/vl/settings", {"source": "vLlm", "baseUrl": "http://localhost:8000/v1"}
        ).status
        == 200
    )


def test_source_rules_count_an_empty_string_as_set(admin: Client) -> None:
    # `ChatCompletionSettings::validate` (crates/meilisearch-types/src/features.rs) tests
    # `is_none()`: an empty string is a value, so Meilisearch stores these settings.
    azure = admin.call(
        "PATCH",
        "/chats/az-empty/settings",
        {"source": "azureOpenAi", "baseUrl": "", "deploymentId": "", "apiVersion": ""},
    )
    assert azure.status == 200, azure.raw
    assert (azure.json["baseUrl"], azure.json["deploymentId"], azure.json["apiVersion"]) == (
        "",
        "",
        "",
    )
    vllm = admin.call("PATCH", "/chats/vl-empty/settings", {"source": "vLlm", "baseUrl": ""})
    assert vllm.status == 200, vllm.raw
    assert vllm.json["baseUrl"] == ""


def test_feature_flag_comes_after_body_parsing(admin: Client) -> None:
    admin.call("PATCH", "/experimental-features", {"chatCompletions": False})
    _, code, _ = error_of(admin.call("PATCH", "/chats/demo/settings", raw=b"{oops"))
    assert code == "malformed_payload"
    status, code, message = error_of(admin.call("PATCH", "/chats/demo/settings", {"foo": 1}))
    assert code == "bad_request", "deserr runs while parsing, before the flag"
    status, code, message = error_of(admin.call("PATCH", "/chats/demo/settings", {}))
    assert (status, code) == (400, "feature_not_enabled")
    assert message == (
        "using the /chats/settings route requires enabling the `chat completions` experimental "
        "feature. See https://github.com/orgs/meilisearch/discussions/835"
    )
    for method, path, what in [
        ("GET", "/chats", "listing the chats"),
        ("GET", "/chats/demo", "displaying a chat"),
        ("DELETE", "/chats/demo", "deleting a chat"),
        ("GET", "/chats/demo/settings", "using the /chats/settings route"),
        ("DELETE", "/chats/demo/settings", "using the /chats/settings route"),
    ]:
        _, code, message = error_of(admin.call(method, path))
        assert code == "feature_not_enabled" and message.startswith(what + " requires enabling")
    _, code, _ = error_of(admin.call("GET", "/chats?limit=x"))
    assert code == "invalid_index_limit"


# -- index chat settings -----------------------------------------------------------------------


def wait_task(admin: Client, uid: int) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while True:
        task = admin.call("GET", f"/tasks/{uid}").json
        if task["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return task  # type: ignore[no-any-return]
        time.sleep(0.01)


def test_index_chat_settings_round_trip(admin: Client) -> None:
    chat = admin.call("GET", "/indexes/movies/settings/chat").json
    assert list(chat) == [
        "description",
        "documentTemplate",
        "documentTemplateMaxBytes",
        "searchParameters",
    ]
    assert chat["description"] and chat["searchParameters"] == {"limit": 5}
    reply = admin.call(
        "PATCH",
        "/indexes/movies/settings/chat",
        {"description": "Films", "searchParameters": {"sort": [], "limit": 3}},
    )
    assert reply.status == 202
    summary = reply.json
    assert list(summary) == ["taskUid", "indexUid", "status", "type", "enqueuedAt"]
    assert summary["status"] == "enqueued" and summary["type"] == "settingsUpdate"
    task = wait_task(admin, summary["taskUid"])
    assert task["status"] == "succeeded" and task["error"] is None
    chat = admin.call("GET", "/indexes/movies/settings/chat").json
    assert chat["description"] == "Films"
    assert chat["searchParameters"] == {"limit": 3, "sort": []}
    wait_task(
        admin,
        admin.call(
            "PATCH", "/indexes/movies/settings/chat", {"searchParameters": {"limit": None}}
        ).json["taskUid"],
    )
    assert admin.call("GET", "/indexes/movies/settings/chat").json["searchParameters"] == {
        "sort": []
    }
    wait_task(admin, admin.call("DELETE", "/indexes/movies/settings/chat").json["taskUid"])
    chat = admin.call("GET", "/indexes/movies/settings/chat").json
    assert chat["description"] == "" and chat["documentTemplateMaxBytes"] == 400
    assert chat["documentTemplate"].startswith("{% for field in fields %}")


def test_index_chat_settings_affect_the_stream(server: StandInServer, admin: Client) -> None:
    task = admin.call(
        "PATCH",
        "/indexes/movies/settings/chat",
        {"documentTemplate": "TITLE={{ doc.title }}", "searchParameters": {"limit": 2}},
    ).json
    assert wait_task(admin, task["taskUid"])["status"] == "succeeded"
    events = (
        Client(server.url, server.chat_key)
        .call("POST", "/chats/demo/chat/completions", ask_body("space movies"))
        .events()
    )
    import json as _json

    tool_results = []
    for event in events[:-1]:
        for call in event["choices"][0]["delta"]["tool_calls"] or []:
            args = _json.loads(call["function"]["arguments"])
            if args.get("role") == "tool":
                tool_results.append(args["content"])
    assert tool_results and all(line.startswith("TITLE=") for line in tool_results[0].split("\n"))
    assert len(tool_results[0].split("\n")) == 2


def test_index_chat_task_failures(admin: Client) -> None:
    task = wait_task(
        admin,
        admin.call(
            "PATCH", "/indexes/movies/settings/chat", {"documentTemplate": "{% for x in doc %}"}
        ).json["taskUid"],
    )
    assert task["status"] == "failed"
    assert list(task["error"]) == ["message", "code", "type", "link"]
    assert task["error"]["code"] == "invalid_chat_setting_document_template"
    task = wait_task(
        admin,
        admin.call("PATCH", "/indexes/movies/settings/chat", {"documentTemplateMaxBytes": 0}).json[
            "taskUid"
        ],
    )
    assert task["status"] == "failed" and task["error"]["code"] == "invalid_settings_embedders"
    assert (
        admin.call("GET", "/indexes/movies/settings/chat").json["documentTemplateMaxBytes"] == 400
    )


@pytest.mark.parametrize(
    "body",
    [
        {"foo": 1},
        {"description": 1},
        {"documentTemplateMaxBytes": "x"},
        {"searchParameters": {"nope": 1}},
        {"searchParameters": {"limit": "x"}},
        {"searchParameters": {"matchingStrategy": "best"}},
        {"searchParameters": {"hybrid": {"semanticRatio": 0.5}}},
        "x",
    ],
)
def test_index_chat_settings_validation(admin: Client, body: Any) -> None:
    status, code, _ = error_of(admin.call("PATCH", "/indexes/movies/settings/chat", body))
    assert (status, code) == (400, "invalid_settings_index_chat")


def test_index_settings_show_chat_only_with_the_feature(admin: Client) -> None:
    assert "chat" in admin.call("GET", "/indexes/books/settings").json
    admin.call("PATCH", "/experimental-features", {"chatCompletions": False})
    assert "chat" not in admin.call("GET", "/indexes/books/settings").json
    assert admin.call("GET", "/indexes/books/settings/chat").status == 200
    status, code, message = error_of(
        admin.call("PATCH", "/indexes/books/settings/chat", {"description": "x"})
    )
    assert (status, code) == (400, "feature_not_enabled")
    assert message.startswith("setting `chat` in the index settings requires enabling")
    admin.call("PATCH", "/experimental-features", {"chatCompletions": True})
    task = admin.call("PATCH", "/indexes/books/settings", {"chat": {"description": "Books!"}}).json
    assert wait_task(admin, task["taskUid"])["status"] == "succeeded"
    assert admin.call("GET", "/indexes/books/settings").json["chat"]["description"] == "Books!"


def test_fresh_server_looks_like_a_new_meilisearch() -> None:
    with StandInServer(master_key=MASTER, fresh=True) as srv:
        admin = Client(srv.url, MASTER)
        assert admin.call("GET", "/experimental-features").json["chatCompletions"] is False
        assert admin.call("GET", "/indexes/movies/settings/chat").json == {
            "description": "",
            "documentTemplate": (
                "{% for field in fields %}{% if field.is_searchable and field.value != nil %}"
                "{{ field.name }}: {{ field.value }}\n{% endif %}{% endfor %}"
            ),
            "documentTemplateMaxBytes": 400,
            "searchParameters": {},
        }
        _, code, _ = error_of(admin.call("GET", "/chats"))
        assert code == "feature_not_enabled"
        admin.call("PATCH", "/experimental-features", {"chatCompletions": True})
        assert admin.call("GET", "/chats").json["total"] == 0
        assert admin.call("GET", "/indexes").json["total"] == 3
        assert srv.chat_key is not None


def test_chat_settings_errors_inside_the_whole_settings_say_where(admin: Client) -> None:
    # deserr places an error from the root of the body: inside `PATCH /indexes/{uid}/settings`
    # the chat settings sit under `.chat`.
    fields = "`description`, `documentTemplate`, `documentTemplateMaxBytes`, `searchParameters`"
    status, code, message = error_of(
        admin.call("PATCH", "/indexes/movies/settings", {"chat": {"foo": 1}})
    )
    assert (status, code) == (400, "invalid_settings_index_chat")
    assert message == f"Unknown field `foo` inside `.chat`: expected one of {fields}"
    _, _, message = error_of(
        admin.call(
            "PATCH", "/indexes/movies/settings", {"chat": {"searchParameters": {"limit": "x"}}}
        )
    )
    assert message == (
        "Invalid value type at `.chat.searchParameters.limit`: expected a positive integer,"
        ' but found a string: `"x"`'
    )
    # The chat route itself reads the chat settings at the root.
    _, _, message = error_of(admin.call("PATCH", "/indexes/movies/settings/chat", {"foo": 1}))
    assert message == f"Unknown field `foo`: expected one of {fields}"
