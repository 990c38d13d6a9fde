"""The `/keys` bodies: validating a new key, parsing `expiresAt`, PATCH rules
(docs/protocol.md#the-keys-routes).

Stdlib only; imports `protocol.actions`, `standin.apierror`, `standin.deserr` and
`standin.versions`.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from typing import Any

from meilichat_cli.protocol.actions import GLOBAL_ACTIONS
from meilichat_cli.standin import deserr
from meilichat_cli.standin.apierror import MeiliError, bad_request
from meilichat_cli.standin.versions import Emulation, emulation

CREATE_FIELDS = ("description", "name", "uid", "actions", "indexes", "expiresAt")
PATCH_FIELDS = ("description", "name")
IMMUTABLE = {
    "actions": "immutable_api_key_actions",
    "indexes": "immutable_api_key_indexes",
    "expiresAt": "immutable_api_key_expires_at",
    "key": "immutable_api_key_key",
    "uid": "immutable_api_key_uid",
    "createdAt": "immutable_api_key_created_at",
    "updatedAt": "immutable_api_key_updated_at",
}
_INDEX_PATTERN_RE = re.compile(r"[A-Za-z0-9_-]+\*?|\*")
_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC as the `time` crate prints it for Meilisearch: the fraction of a second
    without its trailing zeros (`…22.589631Z`), and none at all on a whole second."""
    moment = moment.astimezone(timezone.utc)
    fraction = f"{moment.microsecond * 1000:09d}".rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def now_text() -> str:
    return format_time(datetime.now(timezone.utc))


def _date_error(raw: Any) -> MeiliError:
    shown = raw if isinstance(raw, str) else deserr.compact(raw)
    return MeiliError(
        400,
        "invalid_api_key_expires_at",
        f"`{shown}` is not a valid date. It should follow the RFC 3339 format to represents a "
        "date or datetime in the future or specified as a null value. e.g. 'YYYY-MM-DD' or "
        "'YYYY-MM-DD HH:MM:SS'.",
    )


def parse_expires_at(raw: Any) -> tuple[str | None, float | None]:
    """(the value shown in KeyView, unix time) for an `expiresAt` field; must be future."""
    if raw is None:
        return None, None
    if not isinstance(raw, str):
        raise MeiliError(
            400,
            "invalid_api_key_expires_at",
            deserr.invalid_type(".expiresAt", "a string", raw),
        )
    moment: datetime | None = None
    text = raw.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        for fmt in _DATE_FORMATS:
            try:
                moment = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if moment is None:
        raise _date_error(raw)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    if moment.timestamp() <= datetime.now(timezone.utc).timestamp():
        raise _date_error(raw)
    shown = moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return shown, moment.timestamp()


def validate_new_key(body: Any, version: Emulation | None = None) -> dict[str, Any]:
    """Check a `POST /keys` body; return it normalized (uid filled in).

    As deserr does: each field in the order the body gives them (an unknown one is an error
    where it stands), then the missing required fields (so `{"actions": "doggo"}` reports
    `actions`, not the missing `indexes`)."""
    version = version or emulation(None)
    if not isinstance(body, dict):
        raise bad_request(deserr.invalid_type("", "an object", body))
    checks = {
        "name": lambda value: _check_text("name", value),
        "description": lambda value: _check_text("description", value),
        "uid": _check_uid,
        "actions": lambda value: _check_actions(value, version.actions),
        "indexes": _check_indexes,
        "expiresAt": parse_expires_at,
    }
    for name, value in body.items():
        if name not in checks:
            raise bad_request(deserr.unknown_field(name, CREATE_FIELDS))
        checks[name](value)
    for required, code in (
        ("actions", "missing_api_key_actions"),
        ("indexes", "missing_api_key_indexes"),
        ("expiresAt", "missing_api_key_expires_at"),
    ):
        if required not in body:
            raise MeiliError(400, code, deserr.missing_field(required))
    actions, indexes = body["actions"], body["indexes"]
    if version.scoped_global_actions_refused and indexes != ["*"]:
        for action in actions:
            if action in GLOBAL_ACTIONS:
                raise MeiliError(
                    400,
                    "index_scoped_api_key_with_global_action",
                    f'cannot create index-scoped API key with global action `"{action}"`\n'
                    'Hint: use `["*"]` as the `indexes` of a key holding global actions, or '
                    "create a separate key for them.",
                )
    expires_at, expires_ts = parse_expires_at(body["expiresAt"])
    return {
        "uid": _check_uid(body.get("uid")),
        "name": body.get("name"),
        "description": body.get("description"),
        "actions": list(actions),
        "indexes": list(indexes),
        "expires_at": expires_at,
        "expires_ts": expires_ts,
    }


def _check_text(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise MeiliError(
            400, f"invalid_api_key_{name}", deserr.invalid_type(f".{name}", "a string", value)
        )


def _check_uid(uid: Any) -> str:
    if uid is None:
        return str(uuid.uuid4())
    if not isinstance(uid, str):
        raise MeiliError(400, "invalid_api_key_uid", deserr.invalid_type(".uid", "a string", uid))
    try:
        return str(uuid.UUID(uid))
    except ValueError as exc:
        raise MeiliError(
            400, "invalid_api_key_uid", f"Invalid value at `.uid`: {_uuid_problem(uid)}"
        ) from exc


def _uuid_problem(text: str) -> str:
    """How the uuid crate of Meilisearch's lock file words a string it cannot parse, as
    Meilisearch's tests pin it (crates/meilisearch/tests/auth/: `doggo` is "invalid
    character: found `o` at 1", `aaaaabbbbbccc` "invalid length: found 13"). Other shapes
    (wrong hyphen groups) get a generic wording."""
    for index, char in enumerate(text):
        if char != "-" and char not in "0123456789abcdefABCDEF":
            return f"invalid character: found `{char}` at {index}"
    if "-" not in text:
        return f"invalid length: found {len(text)}"
    return f"invalid uuid `{text}`"


def _check_actions(actions: Any, known: tuple[str, ...]) -> None:
    if not isinstance(actions, list):
        raise MeiliError(
            400, "invalid_api_key_actions", deserr.invalid_type(".actions", "an array", actions)
        )
    for position, action in enumerate(actions):
        if not isinstance(action, str):
            raise MeiliError(
                400,
                "invalid_api_key_actions",
                deserr.invalid_type(f".actions[{position}]", "a string", action),
            )
        if action not in known:
            raise MeiliError(
                400,
                "invalid_api_key_actions",
                deserr.unknown_value(action, f".actions[{position}]", known),
            )


def _check_indexes(indexes: Any) -> None:
    if not isinstance(indexes, list):
        raise MeiliError(
            400, "invalid_api_key_indexes", deserr.invalid_type(".indexes", "an array", indexes)
        )
    for position, pattern in enumerate(indexes):
        if not isinstance(pattern, str):
            raise MeiliError(
                400,
                "invalid_api_key_indexes",
                deserr.invalid_type(f".indexes[{position}]", "a string", pattern),
            )
        if not _INDEX_PATTERN_RE.fullmatch(pattern):
            raise MeiliError(
                400,
                "invalid_api_key_indexes",
                f"Invalid value at `.indexes[{position}]`: `{pattern}` is not a valid index uid "
                "pattern. Index uid patterns can be an integer or a string containing only "
                "alphanumeric characters, hyphens (-), underscores (_), and optionally end "
                "with a star (*).",
            )


def validate_key_patch(body: Any) -> dict[str, Any]:
    """Check a `PATCH /keys/{key}` body: only `name` and `description` may change."""
    if not isinstance(body, dict):
        raise bad_request(deserr.invalid_type("", "an object", body))
    for name in body:
        if name in IMMUTABLE:
            raise MeiliError(
                400,
                IMMUTABLE[name],
                f"Immutable field `{name}`: expected one of {deserr.expected_list(PATCH_FIELDS)}",
            )
        if name not in PATCH_FIELDS:
            raise bad_request(deserr.unknown_field(name, PATCH_FIELDS))
    for name, value in body.items():
        if value is not None and not isinstance(value, str):
            raise MeiliError(
                400, f"invalid_api_key_{name}", deserr.invalid_type(f".{name}", "a string", value)
            )
    return dict(body)
