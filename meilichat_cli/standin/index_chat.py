"""Index-level `chat` settings (docs/protocol.md#index-chat-settings): defaults, body validation,
merging, task checks.

An update (PUT until 1.16.x, PATCH from 1.17: one handler, only the verb changed) is
validated synchronously (400 `invalid_settings_index_chat` for unknown keys and wrong types),
read as Meilisearch's deserializer reads it (`parsed`: fields in declared order, the defaults
it fills in), merged field by field into the stored settings (absent = kept, `null` = reset,
`searchParameters` per subfield; a `null` body resets everything), and the deeper checks run
later, when the settings task is processed: a Liquid syntax error fails the task with
`invalid_chat_setting_document_template`, `documentTemplateMaxBytes: 0` with
`invalid_settings_embedders`. docs/versions.md#index-chat-settings-updates says where in
Meilisearch each rule comes from.

Stdlib only; imports `errors`, `protocol.index_chat`, `text.template` and the stand-in's
`apierror` and `deserr`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from meilichat_cli.errors import TemplateError
from meilichat_cli.protocol.index_chat import CHAT_SEARCH_PARAMETERS, CHAT_SETTINGS_FIELDS
from meilichat_cli.standin import deserr
from meilichat_cli.standin.apierror import MeiliError
from meilichat_cli.text.template import DEFAULT_DOCUMENT_TEMPLATE, DEFAULT_MAX_BYTES, parse

MATCHING_STRATEGIES = ("last", "all", "frequency")
CODE = "invalid_settings_index_chat"


def default_chat_settings() -> dict[str, Any]:
    """The chat settings of an index nobody configured."""
    return {
        "description": "",
        "documentTemplate": DEFAULT_DOCUMENT_TEMPLATE,
        "documentTemplateMaxBytes": DEFAULT_MAX_BYTES,
        "searchParameters": {},
    }


def _fail(message: str) -> MeiliError:
    return MeiliError(400, CODE, message)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_ratio(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1


def _string_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def validate_body(body: Any, at: str = "") -> None:
    """Reject unknown keys and wrong types the way the settings route does. deserr places
    each error from the root of the body: `at` is `.chat` when the chat settings come
    inside `PATCH /indexes/{uid}/settings`."""
    if body is None:
        return
    if not isinstance(body, dict):
        raise _fail(deserr.invalid_type(at, "an object", body))
    for name in body:
        if name not in CHAT_SETTINGS_FIELDS:
            raise _fail(deserr.unknown_field(name, CHAT_SETTINGS_FIELDS, inside=at))
    checks: dict[str, tuple[Callable[[Any], bool], str]] = {
        "description": (lambda v: isinstance(v, str), "a string"),
        "documentTemplate": (lambda v: isinstance(v, str), "a string"),
        "documentTemplateMaxBytes": (lambda v: _is_int(v) and v >= 0, "a positive integer"),
    }
    for name, value in body.items():
        if value is None:
            continue
        if name in checks:
            ok, expected = checks[name]
            if not ok(value):
                raise _fail(deserr.invalid_type(f"{at}.{name}", expected, value))
        else:
            _validate_search_parameters(value, f"{at}.searchParameters")


def _validate_search_parameters(params: Any, at: str) -> None:
    if not isinstance(params, dict):
        raise _fail(deserr.invalid_type(at, "an object", params))
    for name in params:
        if name not in CHAT_SEARCH_PARAMETERS:
            raise _fail(deserr.unknown_field(name, CHAT_SEARCH_PARAMETERS, inside=at))
    for name, value in params.items():
        path = f"{at}.{name}"
        if value is None:
            continue
        if name == "hybrid":
            _validate_hybrid(value, path)
        elif name == "limit" and not (_is_int(value) and value >= 0):
            raise _fail(deserr.invalid_type(path, "a positive integer", value))
        elif name in ("sort", "attributesToSearchOn") and not _string_list(value):
            raise _fail(deserr.invalid_type(path, "an array of strings", value))
        elif name == "distinct" and not isinstance(value, str):
            raise _fail(deserr.invalid_type(path, "a string", value))
        elif name == "matchingStrategy":
            if not isinstance(value, str):
                raise _fail(deserr.invalid_type(path, "a string", value))
            if value not in MATCHING_STRATEGIES:
                raise _fail(deserr.unknown_value(value, path, MATCHING_STRATEGIES))
        elif name == "rankingScoreThreshold" and not _is_ratio(value):
            raise _fail(
                f"Invalid value at `{path}`: the value of `rankingScoreThreshold` is "
                f"invalid, expected a float between `0.0` and `1.0`."
            )


def _validate_hybrid(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise _fail(deserr.invalid_type(path, "an object", value))
    for name in value:
        if name not in ("embedder", "semanticRatio"):
            raise _fail(deserr.unknown_field(name, ("embedder", "semanticRatio"), inside=path))
    if not isinstance(value.get("embedder"), str):
        if "embedder" not in value:
            raise _fail(deserr.missing_field("embedder", inside=path))
        raise _fail(deserr.invalid_type(f"{path}.embedder", "a string", value["embedder"]))
    ratio = value.get("semanticRatio", 0.5)
    if not _is_ratio(ratio):
        raise _fail(
            f"Invalid value at `{path}.semanticRatio`: the value of `semanticRatio` is "
            "invalid, expected a float between `0.0` and `1.0`."
        )


def parsed(body: dict[str, Any] | None, *, limit_default: int | None) -> dict[str, Any] | None:
    """A validated body as Meilisearch holds it once deserialized (what the task's `details`
    show and what `merge` applies): the fields in declared order, a `hybrid` with its
    `semanticRatio` (0.5 when absent) before its `embedder`, and, when `limit_default` is
    given (1.15.x), a `searchParameters` object without `limit` gets that limit."""
    if body is None:
        return None
    result = {name: body[name] for name in CHAT_SETTINGS_FIELDS if name in body}
    params = result.get("searchParameters")
    if isinstance(params, dict):
        params = dict(params)
        if limit_default is not None and "limit" not in params:
            params["limit"] = limit_default
        hybrid = params.get("hybrid")
        if isinstance(hybrid, dict):
            params["hybrid"] = {
                "semanticRatio": hybrid.get("semanticRatio", 0.5),
                "embedder": hybrid["embedder"],
            }
        result["searchParameters"] = {k: params[k] for k in CHAT_SEARCH_PARAMETERS if k in params}
    return result


def merge(current: dict[str, Any], body: dict[str, Any] | None) -> dict[str, Any]:
    """`current` with `body` applied (None resets everything): a field the body lacks keeps
    its stored value, a `null` one goes back to its default."""
    if body is None:
        return default_chat_settings()
    merged = copy.deepcopy(current)
    defaults = default_chat_settings()
    for name, value in body.items():
        if name != "searchParameters":
            merged[name] = defaults[name] if value is None else value
        elif value is None:
            merged["searchParameters"] = {}
        else:
            params = merged["searchParameters"]
            for key, sub in value.items():
                if sub is None:
                    params.pop(key, None)
                elif key == "hybrid":
                    params[key] = {
                        "semanticRatio": sub.get("semanticRatio", 0.5),
                        "embedder": sub["embedder"],
                    }
                else:
                    params[key] = sub
            # Serialized in the declared order, only the subfields that are set.
            merged["searchParameters"] = {
                k: params[k] for k in CHAT_SEARCH_PARAMETERS if k in params
            }
    return merged


def task_error(
    index_uid: str, settings: dict[str, Any], *, check_template: bool = True
) -> tuple[str, str] | None:
    """(code, message) when processing these settings must fail the task, else None.

    Worded as Meilisearch's task errors: the index, then the setting's path. The template is
    checked here from 1.42 on (`check_template`); before, only a chat using it failed."""
    if settings["documentTemplateMaxBytes"] == 0:
        return (
            "invalid_settings_embedders",
            f"Index `{index_uid}`: `.chat.documentTemplateMaxBytes`: `documentTemplateMaxBytes`"
            " cannot be zero",
        )
    if not check_template:
        return None
    try:
        parse(settings["documentTemplate"])
    except TemplateError as exc:
        return (
            "invalid_chat_setting_document_template",
            f"Index `{index_uid}`: `.chat.documentTemplate`: Invalid document template: user "
            f"error: cannot parse template: {exc.message}.",
        )
    return None
