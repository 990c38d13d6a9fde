"""Unit tests of the admin core: masked-key detection, settings diffs and merges, key actions,
expiry parsing, pagination and task polling (over httpx.MockTransport)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import httpx
import hypothesis_profiles  # noqa: F401 - loads the shared hypothesis profile
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from meilichat_cli.api import admin
from meilichat_cli.api.client import MeiliClient
from meilichat_cli.errors import (
    ApiError,
    AuthError,
    ExitCode,
    NotFoundError,
    TaskFailedError,
    TimeoutError_,
    UsageError,
)
from meilichat_cli.local.connection import Connection
from meilichat_cli.protocol.actions import action_granted
from meilichat_cli.standin.workspaces import MaskPanic, mask_secret

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _client(handler: Any) -> MeiliClient:
    connection = Connection(
        profile=None,
        url="http://127.0.0.1:7700",
        api_key="admin-key-0123456789",
        api_key_source="test",
        workspace=None,
        model="m",
    )
    return MeiliClient(connection, transport=httpx.MockTransport(handler))


# -- masked keys (docs/protocol.md#workspace-settings) ----------------------------------------


@pytest.mark.parametrize(
    "masked",
    ["XXX...", "skXXXX...", "sk-XXXXX...", "sk-prXXXXXX...", "ab\u00e9XXXXX..."],
)
def test_every_masking_band_is_recognised(masked: str) -> None:
    assert admin.is_masked_key(masked)
    with pytest.raises(UsageError, match="masked provider key"):
        admin.refuse_masked_key(masked)


@pytest.mark.parametrize(
    "real",
    [
        "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
        "XXX",
        "sk-XXXXX..x",
        "short",
        "",
        None,
        "sk-prXXXXXX...more",
    ],
)
def test_real_keys_are_not_taken_for_masked_ones(real: str | None) -> None:
    assert not admin.is_masked_key(real)
    admin.refuse_masked_key(real)


@given(st.text(min_size=1, max_size=80))
def test_whatever_the_server_masks_is_refused(secret: str) -> None:
    try:
        masked = mask_secret(secret)
    except MaskPanic:
        assume(False)  # Meilisearch answers nothing for such a key: there is no mask to see
        return
    assert masked is not None
    assert admin.is_masked_key(masked)


@pytest.mark.parametrize("masked", ["éXXXX...", "aéXXXXX...", "€abXXXXXX...", "XXX..."])
def test_masks_keeping_a_multibyte_character_are_recognised(masked: str) -> None:
    # Meilisearch keeps 2, 3 or 5 bytes of the key, not characters.
    assert admin.is_masked_key(masked)
    with pytest.raises(UsageError):
        admin.refuse_masked_key(masked)


@pytest.mark.parametrize("real", ["éééXXXX...", "abcXXXX...", "abXXXXX..."])
def test_byte_counts_that_no_mask_has_are_not_masks(real: str) -> None:
    assert not admin.is_masked_key(real)


# -- workspace settings ----------------------------------------------------------------------

SHOWN: dict[str, Any] = {
    "source": "openAi",
    "orgId": None,
    "projectId": None,
    "apiVersion": None,
    "deploymentId": None,
    "baseUrl": None,
    "apiKey": "sk-prXXXXXX...",
    "prompts": {"system": "Be kind.", "searchDescription": "d"},
}


def test_unchanged_settings_give_an_empty_patch() -> None:
    assert admin.workspace_changes(SHOWN, json.loads(json.dumps(SHOWN))) == {}


def test_only_changed_fields_and_prompts_are_sent_and_never_the_masked_key() -> None:
    edited = json.loads(json.dumps(SHOWN))
    edited["orgId"] = "org-1"
    edited["prompts"]["system"] = "Be brief."
    changes = admin.workspace_changes(SHOWN, edited)
    assert changes == {"orgId": "org-1", "prompts": {"system": "Be brief."}}


def test_a_new_real_key_or_null_is_sent() -> None:
    edited = dict(SHOWN, apiKey="sk-new-real-key-0123456789abcdef")
    assert admin.workspace_changes(SHOWN, edited) == {"apiKey": "sk-new-real-key-0123456789abcdef"}
    assert admin.workspace_changes(SHOWN, dict(SHOWN, apiKey=None)) == {"apiKey": None}


def test_another_masked_looking_key_is_refused() -> None:
    with pytest.raises(UsageError, match="masked"):
        admin.workspace_changes(SHOWN, dict(SHOWN, apiKey="sk-abXXXXXX..."))


def test_unknown_fields_are_refused_before_sending() -> None:
    with pytest.raises(UsageError, match="unknown workspace setting"):
        admin.workspace_changes(SHOWN, dict(SHOWN, temperature=0.2))
    with pytest.raises(UsageError, match="unknown prompt"):
        admin.workspace_changes(SHOWN, dict(SHOWN, prompts={"user": "x"}))


def test_azure_and_vllm_requirements_are_checked_on_the_merged_settings() -> None:
    azure = admin.merge_workspace_settings(None, {"source": "azureOpenAi", "baseUrl": "https://a"})
    with pytest.raises(UsageError, match="--deployment-id, --api-version"):
        admin.check_source_requirements(azure)
    complete = admin.merge_workspace_settings(
        azure, {"deploymentId": "gpt", "apiVersion": "2024-10-21"}
    )
    admin.check_source_requirements(complete)
    with pytest.raises(UsageError, match="vLlm requires a base URL"):
        admin.check_source_requirements(admin.merge_workspace_settings(None, {"source": "vLlm"}))
    # Resetting the base URL of a vLlm workspace breaks it too.
    vllm = admin.merge_workspace_settings(None, {"source": "vLlm", "baseUrl": "http://v"})
    with pytest.raises(UsageError):
        admin.check_source_requirements(admin.merge_workspace_settings(vllm, {"baseUrl": None}))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("openai", "openAi"),
        ("Azure-OpenAI", "azureOpenAi"),
        ("VLLM", "vLlm"),
        ("mistral", "mistral"),
    ],
)
def test_sources_are_normalised(given: str, expected: str) -> None:
    assert admin.normalize_source(given) == expected


def test_an_unknown_source_is_refused() -> None:
    with pytest.raises(UsageError, match="gemini"):
        admin.normalize_source("gemini")


# -- keys -----------------------------------------------------------------------------------


def test_actions_are_read_with_wildcards() -> None:
    assert admin.can_chat(["chatCompletions", "search"])
    assert admin.can_chat(["*"])
    assert not admin.can_chat(["chatCompletions"])
    assert not admin.can_chat(["chats.*", "search"])
    assert admin.admin_powers(["chatCompletions", "search"]) is None
    assert "every action" in (admin.admin_powers(["*"]) or "")
    assert "keys.create" in (admin.admin_powers(["keys.create", "search"]) or "")
    assert "keys" in (admin.admin_powers(["*.get", "keys.get"]) or "")


def test_star_get_is_every_read_meilisearch_counts() -> None:
    # `Action::is_read` (crates/meilisearch-types/src/keys.rs) counts searching and /version
    # as reads, not keys.get nor chatCompletions.
    assert action_granted(["*.get"], "search") and action_granted(["*.get"], "version")
    assert admin.can_chat(["chatCompletions", "*.get"])
    assert not action_granted(["*.get"], "keys.get")
    assert not action_granted(["*.get"], "chatCompletions")
    assert admin.admin_powers(["*.get"]) is None


def test_index_patterns() -> None:
    assert admin.index_allowed(["*"], "movies")
    assert admin.index_allowed(["mov*"], "movies")
    assert not admin.index_allowed(["books"], "movies")


def test_expiry_forms() -> None:
    assert admin.parse_expiry("30d", NOW) == "2026-01-31T00:00:00Z"
    assert admin.parse_expiry("12h", NOW) == "2026-01-01T12:00:00Z"
    assert admin.parse_expiry("2026-03-01", NOW) == "2026-03-01T00:00:00Z"
    assert admin.parse_expiry("2026-03-01T10:00:00+02:00", NOW) == "2026-03-01T08:00:00Z"
    with pytest.raises(UsageError, match="in the past"):
        admin.parse_expiry("2025-12-31", NOW)
    with pytest.raises(UsageError, match="cannot read"):
        admin.parse_expiry("next week", NOW)


def test_expired_keys() -> None:
    assert admin.key_expired({"expiresAt": "2025-01-01T00:00:00.000000000Z"}, NOW)
    assert not admin.key_expired({"expiresAt": "2027-01-01T00:00:00Z"}, NOW)
    assert not admin.key_expired({"expiresAt": None}, NOW)


def test_versions() -> None:
    assert admin.supports_chat("1.15.1")
    assert admin.supports_chat("v1.50.0")
    assert not admin.supports_chat("1.15.0")
    assert admin.supports_chat("garbage") is None


# -- HTTP: pagination, errors, tasks ---------------------------------------------------------


def test_list_workspaces_follows_every_page() -> None:
    names = [f"ws{i:03d}" for i in range(250)]
    seen: list[tuple[int, int]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        limit = int(request.url.params["limit"])
        seen.append((offset, limit))
        page = [{"uid": n} for n in names[offset : offset + limit]]
        body = {"results": page, "offset": offset, "limit": limit, "total": len(names)}
        return httpx.Response(200, json=body)

    with _client(handler) as client:
        assert admin.list_workspaces(client) == names
    assert seen == [(0, 100), (100, 100), (200, 100)]


def test_a_403_on_an_admin_route_names_the_missing_action() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            403, json={"message": "The provided API key is invalid.", "code": "invalid_api_key"}
        )

    with _client(handler) as client, pytest.raises(AuthError) as caught:
        admin.workspace_settings(client, "ws")
    assert "chatsSettings.get" in caught.value.message
    assert "MEILI_MASTER_KEY" in (caught.value.hint or "")
    assert caught.value.exit_code == ExitCode.AUTH


def test_missing_master_key_is_explained() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            401,
            json={
                "message": "Meilisearch is running without a master key.",
                "code": "missing_master_key",
            },
        )

    with _client(handler) as client, pytest.raises(AuthError, match="without a master key"):
        admin.list_keys(client)


def test_index_scoped_key_with_global_action_is_explained() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            json={
                "message": 'cannot create index-scoped API key with global action `"chats.get"`',
                "code": "index_scoped_api_key_with_global_action",
            },
        )

    with _client(handler) as client, pytest.raises(ApiError) as caught:
        admin.create_key(
            client,
            actions=["chatCompletions", "search", "chats.get"],
            indexes=["movies"],
            expires_at=None,
            name=None,
            description=None,
        )
    assert "chats.get" in caught.value.message
    assert caught.value.code == "index_scoped_api_key_with_global_action"


def test_a_missing_workspace_reads_as_none() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"message": "Chat `x` not found", "code": "chat_not_found"})

    with _client(handler) as client:
        assert admin.workspace_settings_or_none(client, "x") is None
        assert not admin.workspace_exists(client, "x")


def test_update_refuses_a_masked_key_without_a_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent")

    with _client(handler) as client, pytest.raises(UsageError):
        admin.update_workspace(client, "ws", {"apiKey": "sk-prXXXXXX..."})


def _task_handler(statuses: list[dict[str, Any]]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/tasks/7"
        return httpx.Response(200, json=statuses.pop(0) if len(statuses) > 1 else statuses[0])

    return handler


def test_wait_for_task_polls_with_backoff_until_success() -> None:
    sleeps: list[float] = []
    handler = _task_handler(
        [{"status": "enqueued"}, {"status": "processing"}, {"status": "succeeded", "uid": 7}]
    )
    with _client(handler) as client:
        task = admin.wait_for_task(client, 7, sleep=sleeps.append, clock=lambda: 0.0)
    assert task["status"] == "succeeded"
    assert sleeps == [0.05, 0.1]


def test_a_failed_task_raises_exit_7_with_the_task_error() -> None:
    failed = {
        "status": "failed",
        "error": {
            "message": "the template is invalid",
            "code": "invalid_chat_setting_document_template",
            "type": "invalid_request",
            "link": "https://docs.meilisearch.com/errors#invalid_chat_setting_document_template",
        },
    }
    with _client(_task_handler([failed])) as client, pytest.raises(TaskFailedError) as caught:
        admin.wait_for_task(client, 7, sleep=lambda _s: None)
    assert int(caught.value.exit_code) == int(ExitCode.TASK_FAILED) == 7
    assert "the template is invalid" in caught.value.message
    assert caught.value.code == "invalid_chat_setting_document_template"


def test_a_task_still_running_at_the_deadline_times_out() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    handler = _task_handler([{"status": "processing"}])
    with _client(handler) as client, pytest.raises(TimeoutError_, match="still processing"):
        admin.wait_for_task(client, 7, timeout=1.0, sleep=sleep, clock=lambda: now[0])
    assert now[0] <= 1.0


def test_index_not_found_gets_a_hint() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            404, json={"message": "Index `nope` not found.", "code": "index_not_found"}
        )

    with _client(handler) as client, pytest.raises(NotFoundError) as caught:
        admin.index_chat_settings(client, "nope")
    assert "meilichat index list" in (caught.value.hint or "")


def test_previews_render_the_template_and_cut_at_the_byte_limit() -> None:
    settings = {
        "documentTemplate": "{{ doc.title }}: {{ doc.plot }}",
        "documentTemplateMaxBytes": 12,
    }
    texts = admin.render_previews(settings, [{"title": "Alien", "plot": "in space"}], None)
    assert texts == ["Alien: in sp"]
