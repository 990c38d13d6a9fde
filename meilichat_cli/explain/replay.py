"""Replay a turn's searches against `/indexes/{uid}/search` and say what differs.

For each search the model ran, `replay_turn` sends the same `q` and `filter` with the index's
chat search parameters (`searchParameters` of `/indexes/{uid}/settings/chat`: limit, sort,
matchingStrategy, distinct, attributesToSearchOn, rankingScoreThreshold, hybrid) and asks for
`showRankingScore` and `showRankingScoreDetails` (plus `showPerformanceDetails` on servers
from v1.35). Each hit gets its score, the ranking rule that decided its place (the first rule,
in ranking order, on which it differs from the hit ranked after it; the last hit is compared
with the one before) and whether the chat received it. Then the differences:

* a document the chat received that is no longer among the results, or a new one;
* a received document whose fields changed since the answer;
* a filter that now fails (`invalid_search_filter`);
* received documents whose rendering was cut by the index's `documentTemplateMaxBytes`.

A chat key may search but usually not read settings or indexes: then Meilisearch's defaults
are used (limit 20, or the number of received documents when larger) and `notes` says so.
The result is plain JSON-able data (`--json` prints it as it is). Never prints.

Imports `api` (the client and admin helpers), `protocol`, `text` and `errors`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from meilichat_cli.errors import ApiError, AuthError, MeilichatError, NotFoundError
from meilichat_cli.protocol.conversation import Search, document_id
from meilichat_cli.protocol.index_chat import CHAT_SEARCH_PARAMETERS

if TYPE_CHECKING:
    from meilichat_cli.api.client import MeiliClient

DEFAULT_LIMIT = 20
PERFORMANCE_DETAILS_SINCE = (1, 35, 0)
# Scores are shown to this many decimals; rules whose scores agree this far count as tied.
SCORE_DIGITS = 4


class IndexInfo:
    """What the key may learn about an index: primary key and chat settings, each or None."""

    def __init__(self, client: MeiliClient, uid: str) -> None:
        self.uid = uid
        self.notes: list[str] = []
        self.primary_key = self._primary_key(client)
        self.chat = self._chat_settings(client)

    def _primary_key(self, client: MeiliClient) -> str | None:
        try:
            body = client.request_json("GET", f"/indexes/{_segment(self.uid)}")
        except (AuthError, NotFoundError, ApiError):
            return None
        key = body.get("primaryKey") if isinstance(body, dict) else None
        return key if isinstance(key, str) else None

    def _chat_settings(self, client: MeiliClient) -> dict[str, Any] | None:
        try:
            body = client.request_json("GET", f"/indexes/{_segment(self.uid)}/settings/chat")
        except (AuthError, NotFoundError, ApiError):
            self.notes.append(
                f"index {self.uid}: the key may not read its chat settings; replayed with"
                " Meilisearch's default search parameters, and the template cut is not checked"
            )
            return None
        return body if isinstance(body, dict) else None

    def key_of(self, document: Mapping[str, Any]) -> str | int | None:
        if self.primary_key is not None:
            value = document.get(self.primary_key)
            if isinstance(value, (int, str)) and not isinstance(value, bool):
                return value
        return document_id(dict(document))

    @property
    def search_parameters(self) -> dict[str, Any]:
        params = (self.chat or {}).get("searchParameters")
        if not isinstance(params, dict):
            return {}
        return {
            name: params[name] for name in CHAT_SEARCH_PARAMETERS if params.get(name) is not None
        }


def server_version(client: MeiliClient) -> tuple[int, int, int] | None:
    """The server's version when the key may read `/version`, else None."""
    from meilichat_cli.api.admin import parse_version

    try:
        body = client.request_json("GET", "/version")
    except MeilichatError:
        return None
    text = body.get("pkgVersion") if isinstance(body, dict) else None
    return parse_version(text) if isinstance(text, str) else None


def replay_turn(client: MeiliClient, searches: Sequence[Search]) -> dict[str, Any]:
    """Replay every search of a turn; `{"searches": [...], "notes": [...]}`."""
    version = server_version(client)
    performance = version is not None and version >= PERFORMANCE_DETAILS_SINCE
    infos: dict[str, IndexInfo] = {}
    replays = []
    for number, search in enumerate(searches, start=1):
        if not search.index_uid:
            replays.append(_unreplayable(number, search, "the search named no index"))
            continue
        if search.index_uid not in infos:
            infos[search.index_uid] = IndexInfo(client, search.index_uid)
        replays.append(
            replay_search(client, number, search, infos[search.index_uid], performance=performance)
        )
    notes = [note for info in infos.values() for note in info.notes]
    if version is None:
        notes.append("the key may not read /version: performance details were not asked for")
    return {"searches": replays, "notes": notes}


def replay_search(
    client: MeiliClient,
    number: int,
    search: Search,
    info: IndexInfo,
    *,
    performance: bool = False,
) -> dict[str, Any]:
    """Run one search again and compare it with what the chat received."""
    params = info.search_parameters
    received_ids = [info.key_of(doc) for doc in search.sources]
    if "limit" not in params:
        params["limit"] = max(DEFAULT_LIMIT, len(search.sources))
    body: dict[str, Any] = {"q": search.q or "", **params}
    if search.filter:
        body["filter"] = search.filter
    body["showRankingScore"] = True
    body["showRankingScoreDetails"] = True
    if performance:
        body["showPerformanceDetails"] = True
    result: dict[str, Any] = {
        "number": number,
        "call_id": search.call_id,
        "index_uid": search.index_uid,
        "q": search.q,
        "filter": search.filter,
        "parameters": {k: v for k, v in body.items() if not k.startswith("show")},
        "received_ids": received_ids,
        "hits": [],
        "estimated_total_hits": None,
        "processing_ms": None,
        "performance": None,
        "error": None,
        "differences": [],
    }
    try:
        answer = client.request_json(
            "POST", f"/indexes/{_segment(info.uid)}/search", json_body=body
        )
    except ApiError as error:
        result["error"] = {"code": error.code, "message": error.message}
        if error.code == "invalid_search_filter":
            result["differences"].append(
                {"kind": "filter_fails", "message": f"the filter now fails: {error.message}"}
            )
        else:
            result["differences"].append(
                {"kind": "search_fails", "message": f"the search now fails: {error.message}"}
            )
        result["differences"] += template_cuts(search, info)
        return result
    except NotFoundError as error:
        result["error"] = {"code": error.code, "message": error.message}
        result["differences"].append(
            {"kind": "search_fails", "message": f"the search now fails: {error.message}"}
        )
        return result
    if not isinstance(answer, dict):
        answer = {}
    raw_hits = answer.get("hits")
    hits = [hit for hit in raw_hits if isinstance(hit, dict)] if isinstance(raw_hits, list) else []
    result["estimated_total_hits"] = answer.get("estimatedTotalHits")
    result["processing_ms"] = answer.get("processingTimeMs")
    result["performance"] = answer.get("performanceDetails")
    received = {key for key in received_ids if key is not None}
    rows: list[dict[str, Any]] = []
    for rank, hit in enumerate(hits, start=1):
        details = hit.get("_rankingScoreDetails")
        document = {k: v for k, v in hit.items() if not k.startswith("_")}
        key = info.key_of(document)
        rows.append(
            {
                "rank": rank,
                "id": key,
                "document": document,
                "score": hit.get("_rankingScore"),
                "details": details if isinstance(details, dict) else None,
                "deciding_rule": None,
                "received": key is not None and key in received,
            }
        )
    for position, row in enumerate(rows):
        other = rows[position + 1] if position + 1 < len(rows) else None
        if other is None and position > 0:
            other = rows[position - 1]
        row["deciding_rule"] = deciding_rule(
            row["details"], None if other is None else other["details"]
        )
    result["hits"] = rows
    result["differences"] = differences(search, info, rows)
    return result


def deciding_rule(details: Mapping[str, Any] | None, other: Mapping[str, Any] | None) -> str | None:
    """The first ranking rule (in order) on which two hits differ; "tie" when none does."""
    if not isinstance(details, Mapping) or not isinstance(other, Mapping):
        return None
    ordered = sorted(
        (item for item in details.items() if isinstance(item[1], Mapping)),
        key=lambda item: item[1].get("order", 0),
    )
    for name, rule in ordered:
        theirs = other.get(name)
        if not isinstance(theirs, Mapping):
            return str(name)
        if _rule_value(rule) != _rule_value(theirs):
            return str(name)
    return "tie"


def _rule_value(rule: Mapping[str, Any]) -> Any:
    if "score" in rule:
        score = rule["score"]
        return round(score, SCORE_DIGITS) if isinstance(score, (int, float)) else score
    return json.dumps(rule.get("value", rule.get("similarity")), sort_keys=True)


def differences(
    search: Search, info: IndexInfo, rows: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """What differs between the answer's sources and the replay."""
    found: list[dict[str, Any]] = []
    by_id = {row["id"]: row for row in rows if row["id"] is not None}
    received_ids = []
    for document in search.sources:
        key = info.key_of(document)
        if key is None:
            continue
        received_ids.append(key)
        row = by_id.get(key)
        if row is None:
            found.append(
                {
                    "kind": "missing",
                    "id": key,
                    "message": f"document {key} was received but is no longer among the results",
                }
            )
            continue
        changed = sorted(
            str(name)
            for name, value in document.items()
            if not str(name).startswith("_") and row["document"].get(name) != value
        )
        if changed:
            found.append(
                {
                    "kind": "changed",
                    "id": key,
                    "fields": changed,
                    "message": f"document {key} changed since the answer: {', '.join(changed)}",
                }
            )
    limit = len(search.sources)
    for row in rows[:limit]:
        if row["id"] is not None and row["id"] not in received_ids:
            found.append(
                {
                    "kind": "new",
                    "id": row["id"],
                    "message": f"document {row['id']} now ranks {row['rank']} and was not received",
                }
            )
    kept = [row["id"] for row in rows if row["id"] in received_ids]
    if not found and kept != received_ids[: len(kept)]:
        found.append({"kind": "order", "message": "the received documents now rank differently"})
    found += template_cuts(search, info)
    return found


def template_cuts(search: Search, info: IndexInfo) -> list[dict[str, Any]]:
    """Received documents whose rendering exceeds the index's `documentTemplateMaxBytes`."""
    from meilichat_cli.text.template import (
        DEFAULT_DOCUMENT_TEMPLATE,
        DEFAULT_MAX_BYTES,
        TemplateError,
        parse,
    )
    from meilichat_cli.text.template import document_variables as variables

    if info.chat is None:
        return []
    source = info.chat.get("documentTemplate")
    limit = info.chat.get("documentTemplateMaxBytes")
    max_bytes = limit if isinstance(limit, int) and limit > 0 else DEFAULT_MAX_BYTES
    try:
        template = parse(source if isinstance(source, str) else DEFAULT_DOCUMENT_TEMPLATE)
    except TemplateError as error:
        return [{"kind": "template", "message": f"the document template fails: {error.message}"}]
    found = []
    for document in search.sources:
        try:
            size = len(template.render(variables(document, None)).encode("utf-8", "replace"))
        except TemplateError:
            continue
        if size > max_bytes:
            key = info.key_of(document)
            found.append(
                {
                    "kind": "cut",
                    "id": key,
                    "bytes": size,
                    "max_bytes": max_bytes,
                    "message": f"document {key} renders to {size} bytes: the model read only"
                    f" the first {max_bytes} (documentTemplateMaxBytes)",
                }
            )
    return found


def _unreplayable(number: int, search: Search, why: str) -> dict[str, Any]:
    return {
        "number": number,
        "call_id": search.call_id,
        "index_uid": search.index_uid,
        "q": search.q,
        "filter": search.filter,
        "parameters": {},
        "received_ids": [document_id(doc) for doc in search.sources],
        "hits": [],
        "estimated_total_hits": None,
        "processing_ms": None,
        "performance": None,
        "error": {"code": None, "message": why},
        "differences": [],
    }


def _segment(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")
