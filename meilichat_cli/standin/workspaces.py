"""Chat workspace settings: defaults, API-key masking, PATCH merging and validation
(docs/protocol.md#workspaces).

Settings are stored unmasked as plain dicts in Meilisearch's key order; `public_view` masks
the provider key for every response. `apply_patch` validates a PATCH body with deserr's codes
and messages, merges it field by field (omitted = keep, null = reset, `prompts` key by key),
then runs the source checks Meilisearch runs after merging.

Stdlib only; imports only `server.apierror` and `server.deserr`.
"""

from __future__ import annotations

import copy
from typing import Any

from meilichat_cli.standin import deserr
from meilichat_cli.standin.apierror import MeiliError, bad_request

SOURCES = ("openAi", "mistral", "azureOpenAi", "vLlm")

DEFAULT_PROMPTS: dict[str, str] = {
    "system": (
        "You are a highly capable research assistant with access to powerful search tools. "
        "IMPORTANT INSTRUCTIONS: 1. When answering questions, you MUST make multiple tool "
        "calls (at least 2-3) to gather comprehensive information. 2. Before each tool call, "
        'say what you are about to do, e.g. "I\'ll search for … now." 3. Answer only from '
        "the documents the searches return, and say so when they do not contain the answer."
    ),
    "searchDescription": (
        "Search the database for relevant JSON documents using an optional query. "
        "Examples: to find movies about space travel, search the movies index for "
        '"space travel"; to find a book by an author, search the books index for the '
        "author's name. The indexes you may search are:"
    ),
    "searchQParam": (
        "The search query string used to find relevant documents in the index. It should "
        "contain the key words of the question, without filler words."
    ),
    "searchFilterParam": (
        "The search filter string used to restrict results, using Meilisearch filter syntax "
        "(e.g. `year > 2010 AND genres = Drama`). Use an empty string when no filter applies. "
        "The filterable attributes and their most frequent values are:"
    ),
    "searchIndexUidParam": "The name of the index to search in.",
}

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


def default_settings() -> dict[str, Any]:
    """A fresh workspace's settings, keys in Meilisearch's serialization order."""
    return {
        "source": "openAi",
        "orgId": None,
        "projectId": None,
        "apiVersion": None,
        "deploymentId": None,
        "baseUrl": None,
        "apiKey": None,
        "prompts": dict(DEFAULT_PROMPTS),
    }


def mask_secret(secret: str | None) -> str | None:
    """Meilisearch's `hide_secret`: keep a prefix whose length depends on the byte length."""
    if secret is None:
        return None
    size = len(secret.encode())
    if size < 10:
        return "XXX..."
    if size < 20:
        keep, mask = 2, "XXXX..."
    elif size < 30:
        keep, mask = 3, "XXXXX..."
    else:
        keep, mask = 5, "XXXXXX..."
    return secret[:keep] + mask


def public_view(settings: dict[str, Any]) -> dict[str, Any]:
    """What GET/PATCH/DELETE return: everything, with the provider key masked."""
    view = copy.deepcopy(settings)
    view["apiKey"] = mask_secret(settings.get("apiKey"))
    return view


def validate_body(body: Any) -> None:
    """Reject what deserr rejects, with its codes and messages
    (docs/protocol.md#updating-settings)."""
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
            if value not in SOURCES:
                raise bad_request(deserr.unknown_value(value, ".source", SOURCES))
        elif name in NULLABLE_STRINGS:
            if value is not None and not isinstance(value, str):
                raise MeiliError(
                    400, NULLABLE_STRINGS[name], deserr.invalid_type(f".{name}", "a string", value)
                )
        elif name == "prompts" and value is not None:
            _validate_prompts(value)


def _validate_prompts(prompts: Any) -> None:
    if not isinstance(prompts, dict):
        raise bad_request(deserr.invalid_type(".prompts", "an object", prompts))
    for key in prompts:
        if key not in PROMPT_CODES:
            raise bad_request(deserr.unknown_field(key, PROMPT_CODES, inside=".prompts"))
    for key, value in prompts.items():
        if value is not None and not isinstance(value, str):
            raise MeiliError(
                400, PROMPT_CODES[key], deserr.invalid_type(f".prompts.{key}", "a string", value)
            )


def check_source_requirements(settings: dict[str, Any]) -> None:
    """The checks Meilisearch runs on the merged settings before storing them."""
    if settings["source"] == "azureOpenAi" and not all(
        settings[name] for name in ("baseUrl", "deploymentId", "apiVersion")
    ):
        raise bad_request(
            "azureOpenAi requires setting a valid `baseUrl`, `deploymentId`, and `apiVersion`"
        )
    if settings["source"] == "vLlm" and not settings["baseUrl"]:
        raise bad_request("vLlm requires setting a valid `baseUrl`")


def apply_patch(current: dict[str, Any] | None, body: dict[str, Any]) -> dict[str, Any]:
    """The settings after PATCHing `body` (already validated) onto `current` (None = new)."""
    merged = copy.deepcopy(current) if current is not None else default_settings()
    for name, value in body.items():
        if name == "source":
            merged["source"] = "openAi" if value is None else value
        elif name == "prompts":
            if value is None:
                merged["prompts"] = dict(DEFAULT_PROMPTS)
                continue
            for key, text in value.items():
                merged["prompts"][key] = DEFAULT_PROMPTS[key] if text is None else text
        else:
            merged[name] = value
    check_source_requirements(merged)
    return merged
