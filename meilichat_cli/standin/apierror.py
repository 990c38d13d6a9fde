"""Meilisearch error responses: one exception type and the exact JSON body it becomes.

Every non-stream error of the stand-in server is raised as `MeiliError` and turned into `{"message",
"code", "type", "link"}` (that key order) by the HTTP layer (docs/protocol.md#http-conventions). The
constructors below hold the exact messages of the errors several routes share.

Stdlib only; imports nothing from meilichat_cli.
"""

from __future__ import annotations

from typing import Any

DOCS_ERRORS = "https://docs.meilisearch.com/errors#"
FEATURE_DISCUSSION = "https://github.com/orgs/meilisearch/discussions/835"

# Codes whose `type` is not `invalid_request` (Meilisearch's error table).
_AUTH_CODES = {"missing_authorization_header", "invalid_api_key", "missing_master_key"}
_SYSTEM_CODES = {"too_many_search_requests", "no_space_left_on_device"}
_INTERNAL_CODES = {"internal"}


def error_type(code: str) -> str:
    """The `type` Meilisearch reports for an error code."""
    if code in _AUTH_CODES:
        return "auth"
    if code in _SYSTEM_CODES:
        return "system"
    if code in _INTERNAL_CODES:
        return "internal"
    return "invalid_request"


def error_body(code: str, message: str) -> dict[str, Any]:
    """The JSON error object, keys in Meilisearch's order."""
    return {"message": message, "code": code, "type": error_type(code), "link": DOCS_ERRORS + code}


class MeiliError(Exception):
    """An HTTP error answer: status, code and message (type and link are derived)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message)

    @property
    def headers(self) -> dict[str, str]:
        # Meilisearch adds Retry-After to every 503 it sends.
        return {"Retry-After": "10"} if self.status == 503 else {}


def missing_authorization() -> MeiliError:
    return MeiliError(
        401,
        "missing_authorization_header",
        "The Authorization header is missing. It must use the bearer authorization method.",
    )


def invalid_api_key() -> MeiliError:
    return MeiliError(403, "invalid_api_key", "The provided API key is invalid.")


def missing_master_key() -> MeiliError:
    return MeiliError(
        401,
        "missing_master_key",
        "Meilisearch is running without a master key. To access this API endpoint, "
        "you must have set a master key at launch.",
    )


def feature_not_enabled(what: str) -> MeiliError:
    return MeiliError(
        400,
        "feature_not_enabled",
        f"{what} requires enabling the `chat completions` experimental feature. "
        f"See {FEATURE_DISCUSSION}",
    )


def bad_request(message: str) -> MeiliError:
    return MeiliError(400, "bad_request", message)


def index_not_found(uid: str) -> MeiliError:
    return MeiliError(404, "index_not_found", f"Index `{uid}` not found.")


def invalid_index_uid(uid: str) -> MeiliError:
    return MeiliError(
        400,
        "invalid_index_uid",
        f"`{uid}` is not a valid index uid. Index uid can be an integer or a string containing "
        "only alphanumeric characters, hyphens (-) and underscores (_), and can not be more "
        "than 512 bytes.",
    )


def chat_not_found_settings(uid: str) -> MeiliError:
    """The settings and completions routes' wording (backticks, capital C)."""
    return MeiliError(404, "chat_not_found", f"Chat `{uid}` not found")


def chat_not_found_plain(uid: str) -> MeiliError:
    """GET/DELETE /chats/{ws}: lower-case, no backticks
    (docs/protocol.md#listing-and-reading-a-workspace)."""
    return MeiliError(404, "chat_not_found", f"chat {uid} not found")
