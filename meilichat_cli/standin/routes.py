"""The route table and every route except chat completions.

`ROUTES` maps (method, path pattern) to the action a key needs and the handler. The dispatcher
(`app.py`) authenticates with that action before calling the handler; each handler then follows
Meilisearch's order: parse the body or query, check the `chatCompletions` feature where the route
needs it, then existence and validation (docs/protocol.md#routes, docs/protocol.md#workspaces,
docs/protocol.md#order-of-checks).

Stdlib only; imports `server.*` helpers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from meilichat_cli.standin import deserr, index_chat, keys, render, workspaces
from meilichat_cli.standin.apierror import (
    MeiliError,
    bad_request,
    chat_not_found_plain,
    chat_not_found_settings,
    feature_not_enabled,
    index_not_found,
    invalid_index_uid,
)
from meilichat_cli.standin.auth import Principal
from meilichat_cli.standin.filters import FilterAttributeError, FilterSyntaxError
from meilichat_cli.standin.httpmsg import DropConnection, Request, Response
from meilichat_cli.standin.keys import now_text
from meilichat_cli.standin.state import IndexState, ServerState
from meilichat_cli.standin.versions import Emulation

_UID_RE = re.compile(r"[A-Za-z0-9_-]{1,400}")

Handler = Callable[["Api", Request, dict[str, str], Principal], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    action: str | None  # None = no authentication (/health)
    handler: Handler
    tenant_token: bool = False  # tenant tokens accepted (search, completions)
    # Whether the emulated release has this route (None: every release).
    exists: Callable[[Emulation], bool] | None = None


def valid_uid(uid: str) -> bool:
    return bool(_UID_RE.fullmatch(uid))


def _pagination(
    request: Request, limit_code: str, offset_code: str, default_limit: int = 20
) -> tuple[int, int]:
    """`offset`/`limit` query parameters, deserr-checked; other parameters are refused."""
    values = {"offset": 0, "limit": default_limit}
    codes = {"offset": offset_code, "limit": limit_code}
    for name, raw in request.query:
        if name not in values:
            raise bad_request(deserr.unknown_parameter(name, ("offset", "limit")))
        value = deserr.parse_unsigned(raw)
        if value is None:
            raise MeiliError(400, codes[name], deserr.unparsable_parameter(name, raw))
        values[name] = value
    return values["offset"], values["limit"]


def _page(items: list[Any], offset: int, limit: int) -> dict[str, Any]:
    return {
        "results": items[offset : offset + limit],
        "offset": offset,
        "limit": limit,
        "total": len(items),
    }


class Api:
    """Route handlers over one `ServerState`."""

    def __init__(self, state: ServerState) -> None:
        self.state = state

    def require_chat_feature(self, what: str) -> None:
        if not self.state.features["chatCompletions"]:
            raise feature_not_enabled(what)

    def index(self, uid: str) -> IndexState:
        index = self.state.indexes.get(uid)
        if index is None:
            raise index_not_found(uid)
        return index

    # -- server ---------------------------------------------------------------------------

    def health(self, request: Request, params: dict[str, str], who: Principal) -> Response:
        return Response.json(200, {"status": "available"})

    def version(self, request: Request, params: dict[str, str], who: Principal) -> Response:
        version = self.state.version
        return Response.json(
            200,
            {
                "commitSha": version.commit_sha,
                "commitDate": version.commit_date,
                "pkgVersion": version.pkg_version,
            },
        )

    def get_features(self, request: Request, params: dict[str, str], who: Principal) -> Response:
        with self.state.lock:
            return Response.json(200, dict(self.state.features))

    def patch_features(self, request: Request, params: dict[str, str], who: Principal) -> Response:
        body = request.json_body()
        if not isinstance(body, dict):
            raise bad_request(deserr.invalid_type("", "an object", body))
        flags = self.state.version.feature_flags
        for name, value in body.items():
            if name not in flags:
                raise bad_request(deserr.unknown_field(name, flags))
            if value is not None and not isinstance(value, bool):
                raise bad_request(deserr.invalid_type(f".{name}", "a boolean", value))
        with self.state.lock:
            for name, value in body.items():
                if value is not None:
                    self.state.features[name] = value
            return Response.json(200, dict(self.state.features))

    # -- keys -----------------------------------------------------------------------------

    def metrics(self, request: Request, params: dict[str, str], who: Principal) -> Response:
        if not self.state.features["metrics"]:
            raise MeiliError(
                400,
                "feature_not_enabled",
                "Getting metrics requires enabling the `metrics` experimental feature.",
            )
        body = self.state.metrics_text().encode()
        return Response(200, body, {"Content-Type": "text/plain; version=0.0.4"})

    def list_keys(self, request: Request, params: dict[str, str], who: Principal) -> Response:
        offset, limit = _pagination(request, "invalid_api_key_limit", "invalid_api_key_offset")
        views = [key.view() for key in self.state.keys_newest_first()]
        return Response.json(200, _page(views, offset, limit))

    def create_key(self, request: Request, params: dict[str, str], who: Principal) -> Response:
        fields = keys.validate_new_key(request.json_body(), self.state.version)
        with self.state.lock:
            if self.state.key_by_uid(fields["uid"]) is not None:
                raise MeiliError(
                    409,
                    "api_key_already_exists",
                    f"`uid` field value `{fields['uid']}` is already an existing API key.",
                )
            key = self.state.add_key(**fields)
        return Response.json(201, key.view())

    def _key(self, key_or_uid: str) -> Any:
        key = self.state.find_key(key_or_uid)
        if key is None:
            raise MeiliError(404, "api_key_not_found", f"API key `{key_or_uid}` not found.")
        return key

    def get_key(self, request: Request, params: dict[str, str], who: Principal) -> Response:
        return Response.json(200, self._key(params["key"]).view())

    def patch_key(self, request: Request, params: dict[str, str], who: Principal) -> Response:
        changes = keys.validate_key_patch(request.json_body())
        with self.state.lock:
            key = self._key(params["key"])
            for name, value in changes.items():
                setattr(key, name, value)
            key.updated_at = now_text()
            return Response.json(200, key.view())

    def delete_key(self, request: Request, params: dict[str, str], who: Principal) -> Response:
        with self.state.lock:
            key = self._key(params["key"])
            del self.state.keys[key.uid]
        return Response(204)

    # -- chat workspaces ------------------------------------------------------------------

    def list_chats(self, request: Request, params: dict[str, str], who: Principal) -> Response:
        offset, limit = _pagination(request, "invalid_index_limit", "invalid_index_offset")
        self.require_chat_feature("listing the chats")
        with self.state.lock:
            # LMDB key order: byte-lexicographic.
            uids = sorted(self.state.workspaces, key=lambda uid: uid.encode())
        return Response.json(200, _page([{"uid": uid} for uid in uids], offset, limit))

    def get_chat(self, request: Request, params: dict[str, str], who: Principal) -> Response:
        self.require_chat_feature("displaying a chat")
        uid = params["workspace"]
        if not valid_uid(uid):
            raise invalid_index_uid(uid)
        if uid not in self.state.workspaces:
            raise chat_not_found_plain(uid)
        return Response.json(200, {"uid": uid})

    def delete_chat(self, request: Request, params: dict[str, str], who: Principal) -> Response:
        self.require_chat_feature("deleting a chat")
        uid = params["workspace"]
        with self.state.lock:
            if self.state.workspaces.pop(uid, None) is None:
                raise chat_not_found_plain(uid)
        return Response(204)

    def get_chat_settings(
        self, request: Request, params: dict[str, str], who: Principal
    ) -> Response:
        self.require_chat_feature("using the /chats/settings route")
        uid = params["workspace"]
        with self.state.lock:
            settings = self.state.workspaces.get(uid)
            if settings is None:
                raise chat_not_found_settings(uid)
            return Response.json(200, _masked(settings))

    def patch_chat_settings(
        self, request: Request, params: dict[str, str], who: Principal
    ) -> Response:
        body = request.json_body()
        # deserr validates while extracting the body, before the handler checks the flag.
        version = self.state.version
        workspaces.validate_body(body, version, request.raw)
        self.require_chat_feature("using the /chats/settings route")
        uid = params["workspace"]
        with self.state.lock:
            merged = workspaces.apply_patch(self.state.workspaces.get(uid), body, version)
            self.state.workspaces[uid] = merged
        # Stored first, masked for the answer afterwards: a key Meilisearch cannot mask is
        # kept even though the worker panics before answering.
        return Response.json(200, _masked(merged))

    def reset_chat_settings(
        self, request: Request, params: dict[str, str], who: Principal
    ) -> Response:
        self.require_chat_feature("using the /chats/settings route")
        uid = params["workspace"]
        with self.state.lock:
            if uid not in self.state.workspaces:
                raise chat_not_found_settings(uid)
            self.state.workspaces[uid] = workspaces.default_settings(self.state.version)
            return Response.json(200, workspaces.public_view(self.state.workspaces[uid]))

    # -- indexes --------------------------------------------------------------------------

    def list_indexes(self, request: Request, params: dict[str, str], who: Principal) -> Response:
        offset, limit = _pagination(request, "invalid_index_limit", "invalid_index_offset")
        views = [
            index.view()
            for index in self.state.indexes.values()
            if who.may("indexes.get", index.uid)
        ]
        return Response.json(200, _page(views, offset, limit))

    def get_index(self, request: Request, params: dict[str, str], who: Principal) -> Response:
        return Response.json(200, self.index(params["index"]).view())

    def get_documents(self, request: Request, params: dict[str, str], who: Principal) -> Response:
        index = self.index(params["index"])
        offset, limit = _documents_query(request)
        docs = index.data.documents
        return Response.json(
            200,
            {
                "results": docs[offset : offset + limit],
                "offset": offset,
                "limit": limit,
                "total": len(docs),
            },
        )

    def get_document(self, request: Request, params: dict[str, str], who: Principal) -> Response:
        index = self.index(params["index"])
        raw = params["document"]
        doc = index.data.by_id.get(int(raw) if raw.isascii() and raw.isdigit() else raw)
        if doc is None:
            raise MeiliError(404, "document_not_found", f"Document `{raw}` not found.")
        return Response.json(200, doc)

    def search(self, request: Request, params: dict[str, str], who: Principal) -> Response:
        uid = params["index"]
        if request.method == "POST":
            body = request.json_body()
            if not isinstance(body, dict):
                raise MeiliError(400, "bad_request", deserr.invalid_type("", "an object", body))
        else:
            body = dict(request.query)
        self.index(uid)
        q = body.get("q") or ""
        if not isinstance(q, str):
            raise MeiliError(400, "invalid_search_q", deserr.invalid_type(".q", "a string", q))
        limit = _int_param(body, "limit", 20, "invalid_search_limit")
        offset = _int_param(body, "offset", 0, "invalid_search_offset")
        filter_expr = body.get("filter")
        if filter_expr is not None and not isinstance(filter_expr, str):
            raise MeiliError(
                400,
                "invalid_search_filter",
                deserr.invalid_type(".filter", "a string", filter_expr),
            )
        sort = body.get("sort")
        if isinstance(sort, str):  # GET: comma-separated
            sort = [rule for rule in sort.split(",") if rule]
        if sort is not None and not (
            isinstance(sort, list) and all(isinstance(rule, str) for rule in sort)
        ):
            raise MeiliError(
                400, "invalid_search_sort", deserr.invalid_type(".sort", "an array", sort)
            )
        strategy = body.get("matchingStrategy") or "last"
        if strategy not in ("last", "all", "frequency"):
            raise MeiliError(
                400,
                "invalid_search_matching_strategy",
                f"Unknown value `{strategy}` at `.matchingStrategy`: expected one of `last`,"
                " `all`, `frequency`",
            )
        shown = {
            name: body.get(name) in (True, "true")
            for name in ("showRankingScore", "showRankingScoreDetails", "showPerformanceDetails")
        }
        started = time.perf_counter()
        try:
            result = self.state.engine.search(
                uid,
                q,
                filter_expr=filter_expr,
                extra_filter=who.tenant_filter(uid),
                limit=limit,
                offset=offset,
                sort=sort,
                matching_strategy="last" if strategy == "frequency" else strategy,
            )
        except (FilterSyntaxError, FilterAttributeError) as exc:
            raise MeiliError(400, "invalid_search_filter", str(exc)) from exc
        hits = result.hits
        if shown["showRankingScore"] or shown["showRankingScoreDetails"]:
            hits = []
            for hit, ranking in zip(result.hits, result.rankings, strict=True):
                scored = dict(hit)
                if shown["showRankingScore"]:
                    scored["_rankingScore"] = ranking.score
                if shown["showRankingScoreDetails"]:
                    scored["_rankingScoreDetails"] = ranking.details
                hits.append(scored)
        took = round((time.perf_counter() - started) * 1000)
        answer: dict[str, Any] = {
            "hits": hits,
            "query": q,
            "processingTimeMs": took,
            "limit": limit,
            "offset": offset,
            "estimatedTotalHits": result.estimated_total,
        }
        if shown["showPerformanceDetails"] and _release(self.state.version) >= (1, 35, 0):
            answer["performanceDetails"] = {
                "search": f"{took}.00ms",
                "search > keyword search": f"{took}.00ms",
            }
        return Response.json(200, answer)

    def get_settings(self, request: Request, params: dict[str, str], who: Principal) -> Response:
        index = self.index(params["index"])
        data = index.data
        # The 20 settings of Meilisearch 1.50, in its serialization order (`chat` last, and
        # only while the feature is on).
        settings: dict[str, Any] = {
            "displayedAttributes": ["*"],
            "searchableAttributes": list(data.searchable),
            "filterableAttributes": list(data.filterable),
            "sortableAttributes": list(data.sortable),
            "rankingRules": [
                "words",
                "typo",
                "proximity",
                "attributeRank",
                "sort",
                "wordPosition",
                "exactness",
            ],
            "stopWords": [],
            "nonSeparatorTokens": [],
            "separatorTokens": [],
            "dictionary": [],
            "synonyms": {},
            "distinctAttribute": None,
            "proximityPrecision": "byWord",
            "typoTolerance": {
                "enabled": True,
                "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9},
                "disableOnWords": [],
                "disableOnAttributes": [],
                "disableOnNumbers": False,
            },
            "faceting": {"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "alpha"}},
            "pagination": {"maxTotalHits": 1000},
            "embedders": {},
            "searchCutoffMs": None,
            "localizedAttributes": None,
            "facetSearch": True,
            "prefixSearch": "indexingTime",
        }
        with self.state.lock:
            if self.state.features["chatCompletions"]:
                settings["chat"] = dict(index.chat)
        return Response.json(200, settings)

    def patch_settings(self, request: Request, params: dict[str, str], who: Principal) -> Response:
        body = request.json_body()
        if not isinstance(body, dict):
            raise bad_request(deserr.invalid_type("", "an object", body))
        for name in body:
            if name != "chat":
                raise bad_request(
                    f"The stand-in server only supports the `chat` setting, not `{name}`."
                )
        if "chat" not in body:
            return self._enqueue_chat(params["index"], {})
        return self._update_chat(params["index"], body["chat"], at=".chat")

    def get_chat_index_settings(
        self, request: Request, params: dict[str, str], who: Principal
    ) -> Response:
        index = self.index(params["index"])
        with self.state.lock:
            return Response.json(200, dict(index.chat))

    def patch_chat_index_settings(
        self, request: Request, params: dict[str, str], who: Principal
    ) -> Response:
        return self._update_chat(params["index"], request.json_body())

    def reset_chat_index_settings(
        self, request: Request, params: dict[str, str], who: Principal
    ) -> Response:
        # A reset is accepted while the feature is off (Meilisearch checks only a set value).
        return self._enqueue_chat(params["index"], None)

    def _update_chat(self, uid: str, body: Any, at: str = "") -> Response:
        """PUT (until 1.16.x) or PATCH (from 1.17) of an index's chat settings: the same
        handler in Meilisearch, only the verb changed. A `null` body is a reset. `at`: where
        the chat settings sit in the body (`.chat` inside the whole settings)."""
        index_chat.validate_body(body, at)
        if body is not None and not self.state.features["chatCompletions"]:
            raise feature_not_enabled("setting `chat` in the index settings")
        limit = self.state.version.chat_search_limit_default
        return self._enqueue_chat(uid, index_chat.parsed(body, limit_default=limit))

    def _enqueue_chat(self, uid: str, body: dict[str, Any] | None) -> Response:
        """Enqueue a chat-settings task (`None` resets to the defaults). An unknown index is
        not an error: like any settings task, this one creates the index."""
        if not valid_uid(uid):
            raise invalid_index_uid(uid)
        return Response.json(202, self.state.enqueue_chat_settings(uid, body))

    def render_template(self, request: Request, params: dict[str, str], who: Principal) -> Response:
        """`POST /render-template` (1.48+, `renderRoute`): a chat document template rendered
        for one document, as the model sees it."""
        body = request.json_body()
        return render.render_template(self.state, body, who)

    # -- tasks ----------------------------------------------------------------------------

    def get_task(self, request: Request, params: dict[str, str], who: Principal) -> Response:
        raw = params["task"]
        task_uid = deserr.parse_unsigned(raw, bits=32)  # Meilisearch parses a u32
        if task_uid is None:
            raise MeiliError(
                400,
                "invalid_task_uids",
                f"Task uid `{raw}` is invalid. It should only contain numeric characters.",
            )
        task = self.state.task_view(task_uid)
        if task is None or (task["indexUid"] and not who.may("tasks.get", task["indexUid"])):
            raise MeiliError(404, "task_not_found", f"Task `{raw}` not found.")
        return Response.json(200, task)

    def list_tasks(self, request: Request, params: dict[str, str], who: Principal) -> Response:
        with self.state.lock:
            count = len(self.state.tasks)
        views = [self.state.task_view(uid) for uid in reversed(range(count))]
        visible = [t for t in views if t is not None and who.may("tasks.get", t["indexUid"])]
        return Response.json(
            200,
            {
                "results": visible[:20],
                "total": len(visible),
                "limit": 20,
                "from": visible[0]["uid"] if visible else None,
                "next": None,
            },
        )


def _masked(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings as answered; a key whose masking panics in Meilisearch (a cut inside a
    multi-byte character) closes the connection without an answer, as the panic does."""
    try:
        return workspaces.public_view(settings)
    except workspaces.MaskPanic as exc:
        raise DropConnection() from exc


def _release(version: Emulation) -> tuple[int, ...]:
    """The emulated release as numbers, e.g. (1, 35, 0)."""
    return tuple(int(part) for part in re.findall(r"\d+", version.pkg_version)[:3])


def _int_param(body: dict[str, Any], name: str, default: int, code: str) -> int:
    raw = body.get(name, default)
    parsed = deserr.parse_unsigned(raw) if isinstance(raw, str) else None
    if parsed is not None:
        return parsed
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    raise MeiliError(400, code, deserr.invalid_type(f".{name}", "a positive integer", raw))


def _documents_query(request: Request) -> tuple[int, int]:
    offset, limit = 0, 20
    for name, raw in request.query:
        if name not in ("offset", "limit", "fields"):
            raise bad_request(deserr.unknown_parameter(name, ("offset", "limit", "fields")))
        if name == "fields":
            continue
        value = deserr.parse_unsigned(raw)
        if value is None:
            code = "invalid_document_offset" if name == "offset" else "invalid_document_limit"
            raise MeiliError(400, code, deserr.unparsable_parameter(name, raw))
        if name == "offset":
            offset = value
        else:
            limit = value
    return offset, limit


def _route(
    method: str,
    path: str,
    action: str | None,
    handler: Handler,
    *,
    tenant: bool = False,
    exists: Callable[[Emulation], bool] | None = None,
) -> Route:
    # `{name}` matches one path segment.
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
    return Route(method, re.compile(regex + r"\Z"), action, handler, tenant, exists)


ROUTES: tuple[Route, ...] = (
    _route("GET", "/health", None, Api.health),
    _route("GET", "/version", "version", Api.version),
    _route("GET", "/experimental-features", "experimental.get", Api.get_features),
    _route("PATCH", "/experimental-features", "experimental.update", Api.patch_features),
    _route("GET", "/metrics", "metrics.get", Api.metrics),
    _route("GET", "/keys", "keys.get", Api.list_keys),
    _route("POST", "/keys", "keys.create", Api.create_key),
    _route("GET", "/keys/{key}", "keys.get", Api.get_key),
    _route("PATCH", "/keys/{key}", "keys.update", Api.patch_key),
    _route("DELETE", "/keys/{key}", "keys.delete", Api.delete_key),
    _route("GET", "/chats", "chats.get", Api.list_chats),
    _route("GET", "/chats/{workspace}", "chats.get", Api.get_chat),
    _route("DELETE", "/chats/{workspace}", "chats.delete", Api.delete_chat),
    _route("GET", "/chats/{workspace}/settings", "chatsSettings.get", Api.get_chat_settings),
    _route("PATCH", "/chats/{workspace}/settings", "chatsSettings.update", Api.patch_chat_settings),
    _route(
        "DELETE", "/chats/{workspace}/settings", "chatsSettings.update", Api.reset_chat_settings
    ),
    _route("GET", "/indexes", "indexes.get", Api.list_indexes),
    _route("GET", "/indexes/{index}", "indexes.get", Api.get_index),
    _route("GET", "/indexes/{index}/documents", "documents.get", Api.get_documents),
    _route("GET", "/indexes/{index}/documents/{document}", "documents.get", Api.get_document),
    _route("POST", "/indexes/{index}/search", "search", Api.search, tenant=True),
    _route("GET", "/indexes/{index}/search", "search", Api.search, tenant=True),
    _route("GET", "/indexes/{index}/settings", "settings.get", Api.get_settings),
    _route("PATCH", "/indexes/{index}/settings", "settings.update", Api.patch_settings),
    _route("GET", "/indexes/{index}/settings/chat", "settings.get", Api.get_chat_index_settings),
    # PUT until 1.16.x, PATCH from 1.17: the emulated release has one of the two.
    _route(
        "PATCH",
        "/indexes/{index}/settings/chat",
        "settings.update",
        Api.patch_chat_index_settings,
        exists=lambda version: version.index_chat_method == "PATCH",
    ),
    _route(
        "PUT",
        "/indexes/{index}/settings/chat",
        "settings.update",
        Api.patch_chat_index_settings,
        exists=lambda version: version.index_chat_method == "PUT",
    ),
    _route(
        "DELETE", "/indexes/{index}/settings/chat", "settings.update", Api.reset_chat_index_settings
    ),
    _route(
        "POST",
        "/render-template",
        "settings.get",
        Api.render_template,
        exists=lambda version: version.render_route,
    ),
    _route("GET", "/tasks", "tasks.get", Api.list_tasks),
    _route("GET", "/tasks/{task}", "tasks.get", Api.get_task),
)
