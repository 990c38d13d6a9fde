"""`POST /render-template` (Meilisearch 1.48+, behind the experimental `renderRoute`): a
document template rendered for one document, exactly as the model sees it.

Only the chat kinds a chat client needs are served: template `chatDocumentTemplate` (the
index's stored template) or `inlineDocumentTemplate` (a template given inline), with input
`indexDocument` (a document of an index, by id) or `inlineDocument` (a document given inline).
Answers `{"template": …, "rendered": …}`; without an `input`, `rendered` is null.

Stdlib only; imports `standin.*` helpers and `text.template`.
"""

from __future__ import annotations

from typing import Any

from meilichat_cli.errors import TemplateError
from meilichat_cli.standin import deserr
from meilichat_cli.standin.apierror import MeiliError, feature_not_enabled, index_not_found
from meilichat_cli.standin.auth import Principal
from meilichat_cli.standin.httpmsg import Response
from meilichat_cli.text.template import DEFAULT_MAX_BYTES, parse, render_document

RENDER_DISCUSSION = "https://github.com/orgs/meilisearch/discussions/888"
TEMPLATE_FIELDS = ("kind", "indexUid", "embedder", "fragment", "inline", "documentTemplateMaxBytes")
INPUT_FIELDS = ("kind", "indexUid", "id", "inline")
TEMPLATE_KINDS = (
    "documentTemplate",
    "chatDocumentTemplate",
    "indexingFragment",
    "searchFragment",
    "inlineDocumentTemplate",
    "inlineFragment",
)
INPUT_KINDS = ("indexDocument", "inlineDocument", "inlineSearch")


def _template_error(message: str) -> MeiliError:
    return MeiliError(400, "invalid_render_template", message)


def _input_error(message: str) -> MeiliError:
    return MeiliError(400, "invalid_render_input", message)


def _object(value: Any, path: str, fields: tuple[str, ...], fail: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail(deserr.invalid_type(path, "an object", value))
    for name in value:
        if name not in fields:
            raise fail(deserr.unknown_field(name, fields, inside=path))
    return value


def render_template(state: Any, body: Any, who: Principal) -> Response:
    """Validate, check the feature, fetch the template and the input, render."""
    if not isinstance(body, dict):
        raise MeiliError(400, "bad_request", deserr.invalid_type("", "an object", body))
    for name in body:
        if name not in ("template", "input"):
            raise MeiliError(400, "bad_request", deserr.unknown_field(name, ("template", "input")))
    if "template" not in body:
        raise _template_error(deserr.missing_field("template"))
    template = _object(body["template"], ".template", TEMPLATE_FIELDS, _template_error)
    given = body.get("input")
    source_input = None if given is None else _object(given, ".input", INPUT_FIELDS, _input_error)
    if not state.features.get("renderRoute"):
        raise MeiliError(
            400,
            "feature_not_enabled",
            "calling the /render-template route requires enabling the `render_route` "
            f"experimental feature. See {RENDER_DISCUSSION}",
        )
    kind = template.get("kind")
    if kind not in TEMPLATE_KINDS:
        raise _template_error(
            deserr.unknown_value(str(kind), ".template.kind", TEMPLATE_KINDS)
            if kind is not None
            else deserr.missing_field("kind", inside=".template")
        )
    max_bytes = template.get("documentTemplateMaxBytes")
    searchable: list[str] | None = None
    if kind == "chatDocumentTemplate":
        if not state.features.get("chatCompletions"):
            raise feature_not_enabled("accessing chat settings")
        uid = template.get("indexUid")
        if not isinstance(uid, str):
            raise _template_error(
                "error while fetching template: parameter `index_uid` missing for kind "
                "`chatDocumentTemplate`"
            )
        if not who.may("settings.get", uid):
            raise MeiliError(403, "invalid_api_key", "The provided API key is invalid.")
        index = state.indexes.get(uid)
        if index is None:
            raise index_not_found(uid)
        text = index.chat["documentTemplate"]
        if max_bytes is None:
            max_bytes = index.chat["documentTemplateMaxBytes"]
        searchable = list(index.data.searchable)
    elif kind == "inlineDocumentTemplate":
        text = template.get("inline")
        if not isinstance(text, str):
            raise _template_error(
                "error while fetching template: parameter `inline` missing for kind "
                "`inlineDocumentTemplate`"
            )
    else:
        raise _template_error(
            f"error while fetching template: the stand-in server renders chat templates only, "
            f"not `{kind}`"
        )
    if source_input is None:
        return Response.json(200, {"template": text, "rendered": None})
    document, input_searchable = _document(state, source_input, who)
    if input_searchable is not None:
        searchable = input_searchable
    try:
        rendered = render_document(
            parse(text),
            document,
            searchable=searchable,
            max_bytes=max_bytes
            if isinstance(max_bytes, int) and max_bytes > 0
            else DEFAULT_MAX_BYTES,
        )
    except TemplateError as exc:
        raise MeiliError(
            400, "template_rendering_error", f"error while rendering template: {exc.message}"
        ) from exc
    return Response.json(200, {"template": text, "rendered": rendered})


def _document(
    state: Any, source: dict[str, Any], who: Principal
) -> tuple[dict[str, Any], list[str] | None]:
    kind = source.get("kind")
    if kind == "inlineDocument":
        inline = source.get("inline")
        if not isinstance(inline, dict):
            raise _input_error(
                "error while fetching input: parsing inline document: invalid type\n"
                "  - Note: the inline document must be a JSON map"
            )
        return inline, None
    if kind == "indexDocument":
        uid, docid = source.get("indexUid"), source.get("id")
        if not isinstance(uid, str):
            raise _input_error(
                "error while fetching input: parameter `index_uid` missing for kind `indexDocument`"
            )
        if not isinstance(docid, str):
            raise _input_error(
                "error while fetching input: parameter `id` missing for kind `indexDocument`"
            )
        if not who.may("documents.get", uid):
            raise MeiliError(403, "invalid_api_key", "The provided API key is invalid.")
        index = state.indexes.get(uid)
        if index is None:
            raise index_not_found(uid)
        doc = index.data.by_id.get(int(docid) if docid.isascii() and docid.isdigit() else docid)
        if doc is None:
            doc = index.data.by_id.get(docid)
        if doc is None:
            raise MeiliError(
                404,
                "render_document_not_found",
                f"error while fetching input: document `{docid}` not found in `{uid}`",
            )
        return doc, list(index.data.searchable)
    raise _input_error(
        deserr.unknown_value(str(kind), ".input.kind", INPUT_KINDS)
        if kind is not None
        else deserr.missing_field("kind", inside=".input")
    )
