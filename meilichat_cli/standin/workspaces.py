"""Chat workspace settings: defaults, API-key masking, PATCH merging and validation
(docs/protocol.md#workspaces).

Settings are stored unmasked as plain dicts in Meilisearch's key order; `public_view` masks
the provider key for every response. `apply_patch` validates a PATCH body with deserr's codes
and messages, merges it field by field (omitted = keep, null = reset, `prompts` key by key),
then runs the source checks Meilisearch runs after merging.

Stdlib only; imports `standin.apierror`, `standin.deserr`, `standin.requestcheck` (serde's
positions) and `standin.versions`.
"""

from __future__ import annotations

import copy
from typing import Any

from meilichat_cli.standin import deserr
from meilichat_cli.standin.apierror import MeiliError, bad_request
from meilichat_cli.standin.requestcheck import Spans
from meilichat_cli.standin.versions import Emulation, emulation

NEWEST = emulation(None)

SOURCES = NEWEST.sources
# Meilisearch's DEFAULT_CHAT_* constants of the newest emulated release (versions.py).
DEFAULT_PROMPTS: dict[str, str] = dict(NEWEST.prompts)

NULLABLE_STRINGS: dict[str, str] = {
    # field -> error code for a wrong type (docs/protocol.md#updating-settings)
    "orgId": "invalid_chat_completion_org_id",
    "projectId": "invalid_chat_completion_project_id",
    "apiVersion": "invalid_chat_completion_api_version",
    "deploymentId": "invalid_chat_completion_deployment_id",
    "baseUrl": "invalid_chat_completion_base_api",
    "apiKey": "invalid_chat_completion_api_key",
}

PROMPT_CODES: dict[str, str] = {
    "system": "invalid_chat_completion_system_prompt",
    "searchDescription": "invalid_chat_completion_search_description_prompt",
    "searchQParam": "invalid_chat_completion_search_query_param_prompt",
    "searchFilterParam": "invalid_chat_completion_search_filter_param_prompt",
    "searchIndexUidParam": "invalid_chat_completion_search_index_uid_param_prompt",
}

TOP_LEVEL_FIELDS = (
    "source",
    "orgId",
    "projectId",
    "apiVersion",
    "deploymentId",
    "baseUrl",
    "apiKey",
    "prompts",
)


def default_settings(version: Emulation = NEWEST) -> dict[str, Any]:
    """A fresh workspace's settings, keys in Meilisearch's serialization order."""
    return {
        "source": "openAi",
        "orgId": None,
        "projectId": None,
        "apiVersion": None,
        "deploymentId": None,
        "baseUrl": None,
        "apiKey": None,
        "prompts": dict(version.prompts),
    }


class MaskPanic(Exception):
    """The key cannot be masked: Meilisearch's `hide_secret` panics on it."""


def mask_secret(secret: str | None) -> str | None:
    """Meilisearch's `hide_secret`: keep a prefix of 0, 2, 3 or 5 **bytes**, chosen by the
    key's length in bytes. It cuts with `String::replace_range`, which panics when the cut
    falls inside a multi-byte character: `MaskPanic` then."""
    if secret is None:
        return None
    raw = secret.encode()
    size = len(raw)
    if size < 10:
        return "XXX..."
    if size < 20:
        keep, mask = 2, "XXXX..."
    elif size < 30:
        keep, mask = 3, "XXXXX..."
    else:
        keep, mask = 5, "XXXXXX..."
    try:
        return raw[:keep].decode() + mask
    except UnicodeDecodeError as exc:
        raise MaskPanic(f"byte index {keep} is not a char boundary") from exc


def public_view(settings: dict[str, Any]) -> dict[str, Any]:
    """What GET/PATCH return: everything, with the provider key masked (`MaskPanic` when
    Meilisearch would panic masking it)."""
    view = copy.deepcopy(settings)
    view["apiKey"] = mask_secret(settings.get("apiKey"))
    return view


def validate_body(body: Any, version: Emulation = NEWEST, raw: bytes | None = None) -> None:
    """Reject what deserr rejects, with its codes and messages
    (docs/protocol.md#updating-settings). Releases before 1.47 parsed the body with serde:
    every problem is a `bad_request` worded by serde, placed in `raw` (the body as sent)."""
    if not version.deserr_workspace_body:
        _validate_serde(body, version, raw)
        return
    if not isinstance(body, dict):
        raise bad_request(deserr.invalid_type("", "an object", body))
    for name in body:
        if name not in TOP_LEVEL_FIELDS:
            raise bad_request(deserr.unknown_field(name, TOP_LEVEL_FIELDS))
    for name, value in body.items():
        if name == "source":
            if value is None:
                continue
            if not isinstance(value, str):
                raise bad_request(deserr.invalid_type(".source", "a string", value))
            if value not in version.sources:
                raise bad_request(deserr.unknown_value(value, ".source", version.sources))
        elif name in NULLABLE_STRINGS:
            if value is not None and not isinstance(value, str):
                raise MeiliError(
                    400, NULLABLE_STRINGS[name], deserr.invalid_type(f".{name}", "a string", value)
                )
        elif name == "prompts" and value is not None:
            _validate_prompts(value, version)


def _validate_prompts(prompts: Any, version: Emulation) -> None:
    if not isinstance(prompts, dict):
        raise bad_request(deserr.invalid_type(".prompts", "an object", prompts))
    for key in prompts:
        if key not in version.prompt_fields:
            raise bad_request(deserr.unknown_field(key, version.prompt_fields, inside=".prompts"))
    for key, value in prompts.items():
        if value is not None and not isinstance(value, str):
            raise MeiliError(
                400, PROMPT_CODES[key], deserr.invalid_type(f".prompts.{key}", "a string", value)
            )


def check_source_requirements(settings: dict[str, Any]) -> None:
    """The checks Meilisearch runs on the merged settings before storing them. Only a
    missing value (null) fails them: an empty string counts as set, as in Meilisearch's
    `ChatCompletionSettings::validate`, which tests `is_none()`."""
    if settings["source"] == "azureOpenAi" and any(
        settings[name] is None for name in ("baseUrl", "deploymentId", "apiVersion")
    ):
        raise bad_request(
            "azureOpenAi requires setting a valid `baseUrl`, `deploymentId`, and `apiVersion`"
        )
    if settings["source"] == "vLlm" and settings["baseUrl"] is None:
        raise bad_request("vLlm requires setting a valid `baseUrl`")


def _validate_serde(body: Any, version: Emulation, raw: bytes | None) -> None:
    """serde's wording of 1.15–1.46, where actix's `web::Json` parsed the body: every problem
    is a 400 `bad_request` saying `Json deserialize error: …` and where serde_json stood when
    it gave up (`at line L column C`): after a scalar of the wrong type, at the start of a
    list or object where a string belongs, after the name of an unknown field (and the
    blanks after it). A `source` that is no string is a JSON syntax error to serde_json's
    `deserialize_enum`: 400 `malformed_payload`, `expected value` at that token.
    (A list where the settings or `prompts` object belongs, which serde reads field by
    field, is only refused here, without a position.)"""
    spans = Spans(raw if raw is not None else deserr.compact(body).encode())

    def fail(detail: str, where: str) -> MeiliError:
        return bad_request(f"Json deserialize error: {detail} {where}".rstrip())

    def wrong_type(value: Any, expected: str, path: tuple[str, ...]) -> MeiliError:
        if isinstance(value, (list, dict)):  # not read: serde stops where it starts
            where = spans.at(spans.starts.get(path, 0))
        else:
            where = spans.where(path)
        return fail(deserr.serde_invalid_type(value, expected), where)

    def unknown_field(name: str, expected: tuple[str, ...], path: tuple[str, ...]) -> MeiliError:
        where = spans.at(spans.blanks_after(spans.key_ends.get(path, 0)))
        return fail(
            f"unknown field `{name}`, expected one of {deserr.expected_list(expected)}", where
        )

    if isinstance(body, list):
        raise fail(deserr.serde_invalid_type(body, "struct ChatWorkspaceSettings"), "")
    if not isinstance(body, dict):
        raise wrong_type(body, "struct ChatWorkspaceSettings", ())
    for name, value in body.items():
        if name not in TOP_LEVEL_FIELDS:
            raise unknown_field(name, TOP_LEVEL_FIELDS, (name,))
        if value is None:
            continue
        if name == "source":
            if not isinstance(value, str):
                start = spans.starts.get((name,), 0)
                raise MeiliError(
                    400,
                    "malformed_payload",
                    f"The json payload provided is malformed. `expected value "
                    f"{spans.at(start + 1)}`.",
                )
            if value not in version.sources:
                raise fail(
                    f"unknown variant `{value}`, expected one of "
                    + deserr.expected_list(version.sources),
                    spans.where((name,)),
                )
        elif name in NULLABLE_STRINGS and not isinstance(value, str):
            raise wrong_type(value, "a string", (name,))
        elif name == "prompts":
            if isinstance(value, list):
                raise fail(deserr.serde_invalid_type(value, "struct ChatPrompts"), "")
            if not isinstance(value, dict):
                raise wrong_type(value, "struct ChatPrompts", (name,))
            for key, text in value.items():
                if key not in version.prompt_fields:
                    raise unknown_field(key, version.prompt_fields, (name, key))
                if text is not None and not isinstance(text, str):
                    raise wrong_type(text, "a string", (name, key))


def apply_patch(
    current: dict[str, Any] | None, body: dict[str, Any], version: Emulation = NEWEST
) -> dict[str, Any]:
    """The settings after PATCHing `body` (already validated) onto `current` (None = new)."""
    merged = copy.deepcopy(current) if current is not None else default_settings(version)
    for name, value in body.items():
        if name == "source":
            merged["source"] = "openAi" if value is None else value
        elif name == "prompts":
            if value is None:
                merged["prompts"] = dict(version.prompts)
                continue
            for key, text in value.items():
                merged["prompts"][key] = version.prompts[key] if text is None else text
        else:
            merged[name] = value
    check_source_requirements(merged)
    return merged
