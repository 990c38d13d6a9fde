"""One source document in full, fetched again from the server, and as the model read it.

`fetch_source` asks `GET /indexes/{uid}/documents/{id}` (action `documents.get`); a key that
may not (a chat key) gets it through a search filtered on the primary key (action `search`,
which chat keys have); when neither works (the primary key is not filterable, the document is
gone) the copy the chat received is shown, and `how` says which it was.

`render_as_model` renders it with the index's chat document template: the server's
`POST /indexes/{uid}/render` (`chatCompletions.documentTemplate`, experimental `renderRoute`,
v1.48+) when it answers, else the local renderer (`text.template`), cut to the index's
`documentTemplateMaxBytes`; `how` says which. Never prints.

Imports `api`, `protocol`, `text` and `errors`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from meilichat_cli.errors import ApiError, AuthError, MeilichatError, NotFoundError

if TYPE_CHECKING:
    from meilichat_cli.api.client import MeiliClient
    from meilichat_cli.protocol.conversation import Search

FROM_DOCUMENTS = "GET /indexes/{uid}/documents/{id}"
FROM_SEARCH = "a search filtered on the primary key"
FROM_ANSWER = "the copy the chat received (the server would not give it again)"


@dataclass
class FetchedDocument:
    document: dict[str, Any]
    how: str
    note: str | None = None


def _segment(value: str) -> str:
    return quote(value, safe="")


def filter_on(primary_key: str, key: str | int) -> str:
    """`id = 16` / `slug = "a \\"b\\""`: a filter matching one primary key value."""
    value = str(key) if isinstance(key, int) else json.dumps(key, ensure_ascii=False)
    return f"{primary_key} = {value}"


def fetch_source(
    client: MeiliClient,
    index_uid: str,
    key: str | int,
    primary_key: str,
    received: Mapping[str, Any],
) -> FetchedDocument:
    """The document as the server has it now (see the module docstring for the fallbacks)."""
    path = f"/indexes/{_segment(index_uid)}/documents/{_segment(str(key))}"
    reasons: list[str] = []
    try:
        body = client.request_json("GET", path)
        if isinstance(body, dict):
            return FetchedDocument(body, FROM_DOCUMENTS.format(uid=index_uid, id=key))
    except NotFoundError as error:
        if error.code == "document_not_found":
            return FetchedDocument(
                dict(received), FROM_ANSWER, note=f"document {key} is no longer in {index_uid}"
            )
        reasons.append(f"GET documents: {error.message}")
    except AuthError:
        reasons.append("the key may not read documents (documents.get)")
    except ApiError as error:
        reasons.append(f"GET documents: {error.message}")
    try:
        answer = client.request_json(
            "POST",
            f"/indexes/{_segment(index_uid)}/search",
            json_body={"q": "", "filter": filter_on(primary_key, key), "limit": 1},
        )
    except MeilichatError as error:
        if error.code == "invalid_search_filter":
            reasons.append(f"the primary key {primary_key} is not filterable")
        else:
            reasons.append(f"a search filtered on {primary_key}: {error.message}")
        return FetchedDocument(dict(received), FROM_ANSWER, note="; ".join(reasons))
    hits = answer.get("hits") if isinstance(answer, dict) else None
    if isinstance(hits, list) and hits and isinstance(hits[0], dict):
        return FetchedDocument(hits[0], FROM_SEARCH)
    return FetchedDocument(
        dict(received), FROM_ANSWER, note=f"document {key} is no longer in {index_uid}"
    )


def render_as_model(
    client: MeiliClient,
    index_uid: str,
    key: str | int,
    document: Mapping[str, Any],
) -> tuple[str, str]:
    """(text, how): the document rendered through the index's chat document template."""
    from meilichat_cli.text.template import (
        DEFAULT_DOCUMENT_TEMPLATE,
        DEFAULT_MAX_BYTES,
        render_document,
    )

    try:
        body = client.request_json(
            "POST",
            f"/indexes/{_segment(index_uid)}/render",
            json_body={
                "template": {"id": "chatCompletions.documentTemplate"},
                "input": {"documentId": str(key)},
            },
        )
        rendered = body.get("rendered") if isinstance(body, dict) else None
        if isinstance(rendered, str):
            return rendered, f"rendered by the server (POST /indexes/{index_uid}/render)"
    except MeilichatError:
        pass
    settings: dict[str, Any] = {}
    how = "rendered locally with the index's chat document template"
    try:
        body = client.request_json("GET", f"/indexes/{_segment(index_uid)}/settings/chat")
        if isinstance(body, dict):
            settings = body
    except MeilichatError:
        how = (
            "rendered locally with Meilisearch's default document template (the key may not"
            " read the index's chat settings)"
        )
    searchable: list[str] | None = None
    try:
        index_settings = client.request_json("GET", f"/indexes/{_segment(index_uid)}/settings")
        attributes = (
            index_settings.get("searchableAttributes") if isinstance(index_settings, dict) else None
        )
        if isinstance(attributes, list):
            searchable = [str(name) for name in attributes]
    except MeilichatError:
        pass
    source = settings.get("documentTemplate")
    limit = settings.get("documentTemplateMaxBytes")
    max_bytes = limit if isinstance(limit, int) and limit > 0 else DEFAULT_MAX_BYTES
    text = render_document(
        source if isinstance(source, str) else DEFAULT_DOCUMENT_TEMPLATE,
        document,
        searchable=searchable,
        max_bytes=max_bytes,
    )
    return text, f"{how}, cut to {max_bytes} bytes"


def primary_key_of(client: MeiliClient, index_uid: str) -> str | None:
    """The index's primary key when the key may read the index (`indexes.get`), else None."""
    try:
        body = client.request_json("GET", f"/indexes/{_segment(index_uid)}")
    except MeilichatError:
        return None
    key = body.get("primaryKey") if isinstance(body, dict) else None
    return key if isinstance(key, str) else None


def show_source(
    client: MeiliClient,
    number: int,
    search: Search,
    received: Mapping[str, Any],
    *,
    as_model: bool = False,
) -> dict[str, Any]:
    """Source `number` fetched again (and rendered with `as_model`): the data of `--json`
    plus `text`, the lines for people."""
    from meilichat_cli.explain.view import document_lines
    from meilichat_cli.protocol.conversation import ID_FIELDS
    from meilichat_cli.text.sanitize import sanitize, sanitize_line

    index_uid = search.index_uid
    notes: list[str] = []
    primary_key = primary_key_of(client, index_uid) if index_uid else None
    if primary_key is None:
        lowered = {str(name).lower(): str(name) for name in received}
        primary_key = next((lowered[name] for name in ID_FIELDS if name in lowered), None)
    key = received.get(primary_key) if primary_key else None
    if index_uid is None or primary_key is None or not isinstance(key, (int, str)):
        fetched = FetchedDocument(
            dict(received), FROM_ANSWER, note="the document's index or primary key is unknown"
        )
    else:
        fetched = fetch_source(client, index_uid, key, primary_key, received)
    if fetched.note:
        notes.append(fetched.note)
    result: dict[str, Any] = {
        "number": number,
        "index_uid": index_uid,
        "id": key,
        "primary_key": primary_key,
        "from": fetched.how,
        "document": fetched.document,
        "rendered": None,
        "rendered_by": None,
        "notes": notes,
    }
    if as_model and index_uid is not None and isinstance(key, (int, str)):
        text, how = render_as_model(client, index_uid, key, fetched.document)
        result["rendered"] = text
        result["rendered_by"] = how
        title = document_lines(number, index_uid, fetched.document, fetched.how)[0]
        result["text"] = "\n".join(
            [title, f"(as the model read it: {sanitize_line(how)})", "", sanitize(text)]
        )
    else:
        result["text"] = "\n".join(document_lines(number, index_uid, fetched.document, fetched.how))
    return result
