"""Stand-in server routes: error bodies, check order, auth, keys, features (docs/protocol.md,
from its HTTP conventions to the completions request, and its keys and actions)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import time
import uuid
import zlib
from collections.abc import Iterator

import pytest
from standin_http import NO_KEY, Client, ask_body

from meilichat_cli.standin import StandInServer

MASTER = "routes-master-key-0123456789"
LINK = "https://docs.meilisearch.com/errors#"


@pytest.fixture(scope="module")
def server() -> Iterator[StandInServer]:
    with StandInServer(master_key=MASTER) as srv:
        yield srv


@pytest.fixture
def admin(server: StandInServer) -> Iterator[Client]:
    c = Client(server.url, MASTER)
    yield c
    c.close()


def assert_error(
    reply, status: int, code: str, message: str | None = None, kind: str = "invalid_request"
) -> None:  # type: ignore[no-untyped-def]
    assert reply.status == status, reply.raw
    body = reply.json
    assert list(body) == ["message", "code", "type", "link"]
    assert body["code"] == code
    assert body["type"] == kind
    assert body["link"] == LINK + code
    if message is not None:
        assert body["message"] == message
    assert reply.headers["content-type"] == "application/json"


def make_key(
    admin: Client, actions: list[str], indexes: list[str] | None = None, expires: str | None = None
) -> dict:  # type: ignore[type-arg]
    reply = admin.call(
        "POST", "/keys", {"actions": actions, "indexes": indexes or ["*"], "expiresAt": expires}
    )
    assert reply.status == 201, reply.raw
    return reply.json  # type: ignore[no-any-return]


# -- server routes -----------------------------------------------------------------------------


def test_health_needs_no_key(server: StandInServer) -> None:
    c = Client(server.url)
    reply = c.call("GET", "/health", key=NO_KEY)
    assert reply.status == 200 and reply.json == {"status": "available"}


def test_version(admin: Client) -> None:
    body = admin.call("GET", "/version").json
    assert list(body) == ["commitSha", "commitDate", "pkgVersion"]
    assert body["pkgVersion"] == "1.50.0"


def test_trailing_slash_is_trimmed(admin: Client) -> None:
    assert admin.call("GET", "/chats/").json == admin.call("GET", "/chats").json
    assert admin.call("GET", "/chats/demo/settings/").status == 200


def test_unknown_route_is_404_and_wrong_method_405(admin: Client) -> None:
    assert admin.call("GET", "/nope").status == 404
    assert admin.call("PUT", "/chats").status == 405


def test_keep_alive_serves_several_requests_on_one_connection(server: StandInServer) -> None:
    c = Client(server.url, server.chat_key)
    first = c.call("POST", "/chats/demo/chat/completions", ask_body())
    sock = c.conn.sock
    second = c.call("POST", "/chats/demo/chat/completions", ask_body("books by Le Guin"))
    third = c.call("GET", "/health")
    assert first.status == second.status == third.status == 200
    assert c.conn.sock is sock, "the connection was reused"
    c.close()


# -- experimental features ---------------------------------------------------------------------


def test_features_object_and_patch(server: StandInServer, admin: Client) -> None:
    body = admin.call("GET", "/experimental-features").json
    assert list(body)[:3] == ["metrics", "logsRoute", "editDocumentsByFunction"]
    assert body["chatCompletions"] is True
    reply = admin.call(
        "PATCH", "/experimental-features", {"metrics": True, "chatCompletions": None}
    )
    assert reply.status == 200
    assert reply.json["metrics"] is True and reply.json["chatCompletions"] is True
    admin.call("PATCH", "/experimental-features", {"metrics": False})


def test_features_errors(admin: Client) -> None:
    reply = admin.call("PATCH", "/experimental-features", {"foo": True})
    assert_error(reply, 400, "bad_request")
    assert reply.json["message"].startswith(
        "Unknown field `foo`: expected one of `metrics`, `logsRoute`"
    )
    reply = admin.call("PATCH", "/experimental-features", {"chatCompletions": "true"})
    assert_error(
        reply,
        400,
        "bad_request",
        "Invalid value type at `.chatCompletions`: expected a boolean, "
        'but found a string: `"true"`',
    )


# -- body rules --------------------------------------------------------------------------------


def test_body_content_type_and_payload_errors(admin: Client) -> None:
    path = "/chats/demo/settings"
    assert_error(
        admin.call("PATCH", path, {"source": "openAi"}, content_type=None),
        415,
        "missing_content_type",
        "A Content-Type header is missing. Accepted values for the Content-Type header are: "
        "`application/json`",
    )
    assert_error(
        admin.call("PATCH", path, raw=b"{}", content_type="text/plain"),
        415,
        "invalid_content_type",
        "The Content-Type `text/plain` is invalid. Accepted values for the Content-Type header "
        "are: `application/json`",
    )
    assert_error(
        admin.call("PATCH", path, raw=b""), 400, "missing_payload", "A json payload is missing."
    )
    reply = admin.call("PATCH", path, raw=b'{"source":')
    assert_error(reply, 400, "malformed_payload")
    assert reply.json["message"].startswith(
        "The json payload provided is malformed. `EOF while parsing"
    )
    ok = admin.call(
        "PATCH", path, raw=b"{}", content_type="application/vnd.api+json; charset=utf-8"
    )
    assert ok.status == 200


# -- auth --------------------------------------------------------------------------------------


def test_missing_and_malformed_authorization(server: StandInServer) -> None:
    c = Client(server.url)
    message = "The Authorization header is missing. It must use the bearer authorization method."
    assert_error(
        c.call("GET", "/chats", key=NO_KEY), 401, "missing_authorization_header", message, "auth"
    )
    assert_error(
        c.call("GET", "/chats", key=NO_KEY, headers={"Authorization": "Basic abc"}),
        401,
        "missing_authorization_header",
        message,
        "auth",
    )
    assert_error(
        c.call("GET", "/chats", key=NO_KEY, headers={"Authorization": "Bearer "}),
        403,
        "invalid_api_key",
        "The provided API key is invalid.",
        "auth",
    )
    assert_error(c.call("GET", "/chats", key="nope"), 403, "invalid_api_key", kind="auth")


def test_key_values_are_derived_from_the_master_key(server: StandInServer, admin: Client) -> None:
    keys = admin.call("GET", "/keys").json["results"]
    names = {k["name"] for k in keys}
    assert {"Default Search API Key", "Default Admin API Key", "Default Chat API Key"} <= names
    for key in keys:
        assert list(key) == [
            "name",
            "description",
            "key",
            "uid",
            "actions",
            "indexes",
            "expiresAt",
            "createdAt",
            "updatedAt",
        ]
        expected = hmac.new(MASTER.encode(), key["uid"].encode(), hashlib.sha256).hexdigest()
        assert key["key"] == expected
    chat = next(k for k in keys if k["name"] == "Default Chat API Key")
    assert chat["actions"] == ["chatCompletions", "search"] and chat["indexes"] == ["*"]
    assert server.chat_key == chat["key"]
    assert server.search_key and server.admin_key


def test_chat_key_cannot_manage_workspaces_and_admin_key_can_do_everything(
    server: StandInServer,
) -> None:
    chat = Client(server.url, server.chat_key)
    assert_error(chat.call("GET", "/chats"), 403, "invalid_api_key", kind="auth")
    admin_key = Client(server.url, server.admin_key)
    assert admin_key.call("GET", "/chats").status == 200
    assert admin_key.call("POST", "/chats/demo/chat/completions", ask_body()).status == 200
    # `*` expands to every action, the keys ones included (`HeedAuthStore::put_api_key`;
    # Meilisearch's `access_authorized_no_index_restriction` test lets `["*"]` use /keys).
    assert admin_key.call("GET", "/keys").status == 200
    made = admin_key.call(
        "POST", "/keys", {"actions": ["search"], "indexes": ["*"], "expiresAt": None}
    )
    assert made.status == 201, made.raw


@pytest.mark.parametrize(
    ("actions", "route", "allowed"),
    [
        (["chats.*"], ("GET", "/chats/demo"), True),
        (["chats.*"], ("DELETE", "/chats/nope"), True),
        (["chats.*"], ("GET", "/chats/demo/settings"), False),
        (["*.get"], ("GET", "/chats/demo/settings"), True),
        (["*.get"], ("GET", "/chats"), True),
        (["*.get"], ("PATCH", "/chats/demo/settings"), False),
        (["chatsSettings.*"], ("PATCH", "/chats/demo/settings"), True),
        (["chatsSettings.get"], ("GET", "/chats/demo/settings"), True),
        (["chatsSettings.get"], ("DELETE", "/chats/demo/settings"), False),
        (["chats.*", "*.get"], ("POST", "/chats/demo/chat/completions"), False),
        (["chatCompletions"], ("POST", "/chats/demo/chat/completions"), True),
        (["*"], ("POST", "/chats/demo/chat/completions"), True),
        # `*.get` is every action `Action::is_read` calls a read, not only the `….get` ones:
        # searching and /version too, but never keys.get nor chatCompletions.
        (["*.get"], ("GET", "/version"), True),
        (["*.get"], ("POST", "/indexes/movies/search"), True),
        (["*.get"], ("GET", "/experimental-features"), True),
        (["*.get"], ("GET", "/keys"), False),
        (["*.get"], ("PATCH", "/experimental-features"), False),
        (["keys.get"], ("GET", "/keys"), True),
    ],
)
def test_action_wildcards(
    admin: Client, server: StandInServer, actions: list[str], route: tuple[str, str], allowed: bool
) -> None:
    key = make_key(admin, actions)
    c = Client(server.url, key["key"])
    method, path = route
    body = (
        ask_body()
        if path.endswith("completions")
        else ({} if method in ("PATCH", "POST") else None)
    )
    reply = c.call(method, path, body)
    if allowed:
        assert reply.status != 403, reply.raw
    else:
        assert_error(reply, 403, "invalid_api_key", kind="auth")


def test_expired_key_is_rejected(admin: Client, server: StandInServer) -> None:
    key = make_key(admin, ["chats.get"], expires="2099-01-01")
    assert key["expiresAt"] == "2099-01-01T00:00:00Z"
    server.state.keys[key["uid"]].expires_ts = time.time() - 1  # let it expire
    c = Client(server.url, key["key"])
    assert_error(c.call("GET", "/chats"), 403, "invalid_api_key", kind="auth")


def test_auth_comes_before_body_parsing_and_the_feature_flag(server: StandInServer) -> None:
    c = Client(server.url)
    reply = c.call("POST", "/chats/demo/chat/completions", raw=b"{not json", key=NO_KEY)
    assert_error(reply, 401, "missing_authorization_header", kind="auth")
    reply = c.call("POST", "/chats/demo/chat/completions", raw=b"{not json", key="wrong")
    assert_error(reply, 403, "invalid_api_key", kind="auth")


@pytest.mark.parametrize(("version", "concurrent"), [("1.17", True), ("1.42", False)])
def test_which_of_a_bad_key_and_a_bad_content_type_is_reported(
    version: str, concurrent: bool
) -> None:
    # Until 1.37 the completions handler was registered as is, so actix polled its
    # extractors together: a malformed Authorization header fails at once, but a key (or a
    # missing header) is checked on the blocking pool (`GuardedData` uses `spawn_blocking`),
    # and meanwhile the JSON extractor refuses a wrong Content-Type. Every other body route,
    # and completions from 1.38, go through `SeqHandler`
    # (crates/meilisearch/src/extractors/sequential_extractor.rs), which reports the
    # extractors' errors in their order: authentication first.
    with StandInServer(master_key=MASTER, version=version) as srv:
        c = Client(srv.url)
        completions = "/chats/demo/chat/completions"
        for key in ("wrong", NO_KEY):
            reply = c.call("POST", completions, raw=b"{}", key=key, content_type="text/plain")
            if concurrent:
                assert_error(reply, 415, "invalid_content_type")
            else:
                assert reply.status in (401, 403), reply.raw
        reply = c.call("POST", completions, raw=b"{}", key="wrong", content_type=None)
        assert reply.status == (415 if concurrent else 403)
        for method, path in (("PATCH", "/chats/demo/settings"), ("POST", "/keys")):
            reply = c.call(method, path, raw=b"{}", key="wrong", content_type="text/plain")
            assert_error(reply, 403, "invalid_api_key", kind="auth")
        # A malformed header fails at once, whatever the handler.
        reply = c.call(
            "POST",
            completions,
            raw=b"{}",
            key=NO_KEY,
            headers={"Authorization": "Basic x"},
            content_type="text/plain",
        )
        assert_error(reply, 401, "missing_authorization_header", kind="auth")


# -- /keys -------------------------------------------------------------------------------------


def test_create_key_returns_201_keyview(admin: Client) -> None:
    uid = str(uuid.uuid4())
    reply = admin.call(
        "POST",
        "/keys",
        {
            "name": "chat-cli",
            "description": "CLI chat key",
            "uid": uid,
            "actions": ["chatCompletions", "search"],
            "indexes": ["movies"],
            "expiresAt": None,
        },
    )
    assert reply.status == 201
    key = reply.json
    assert list(key) == [
        "name",
        "description",
        "key",
        "uid",
        "actions",
        "indexes",
        "expiresAt",
        "createdAt",
        "updatedAt",
    ]
    assert key["uid"] == uid and key["name"] == "chat-cli" and key["expiresAt"] is None
    assert admin.call("GET", f"/keys/{uid}").json == key
    assert admin.call("GET", f"/keys/{key['key']}").json == key
    patched = admin.call("PATCH", f"/keys/{uid}", {"name": "renamed"}).json
    assert patched["name"] == "renamed" and patched["key"] == key["key"]
    assert_error(
        admin.call("PATCH", f"/keys/{uid}", {"actions": ["*"]}), 400, "immutable_api_key_actions"
    )
    assert admin.call("DELETE", f"/keys/{uid}").status == 204
    assert_error(
        admin.call("GET", f"/keys/{uid}"), 404, "api_key_not_found", f"API key `{uid}` not found."
    )
    again = admin.call(
        "POST", "/keys", {"uid": uid, "actions": [], "indexes": ["*"], "expiresAt": None}
    )
    assert again.status == 201, "a deleted uid can be reused"
    assert_error(
        admin.call(
            "POST",
            "/keys",
            {"uid": patched["uid"], "actions": [], "indexes": ["*"], "expiresAt": None},
        ),
        409,
        "api_key_already_exists",
    )


@pytest.mark.parametrize(
    ("body", "code", "message_start"),
    [
        (
            {"indexes": ["*"], "expiresAt": None},
            "missing_api_key_actions",
            "Missing field `actions`",
        ),
        (
            {"actions": ["search"], "expiresAt": None},
            "missing_api_key_indexes",
            "Missing field `indexes`",
        ),
        (
            {"actions": ["search"], "indexes": ["*"]},
            "missing_api_key_expires_at",
            "Missing field `expiresAt`",
        ),
        (
            {"actions": ["chats.settings.get"], "indexes": ["*"], "expiresAt": None},
            "invalid_api_key_actions",
            # The spelling of the public docs; deserr points at the real one.
            "Unknown value `chats.settings.get` at `.actions[0]`: did you mean"
            " `chatsSettings.get`? expected one of `*`, `search`",
        ),
        (
            {"actions": ["chatsCompletions"], "indexes": ["*"], "expiresAt": None},
            "invalid_api_key_actions",
            "Unknown value `chatsCompletions`",
        ),
        (
            {"actions": ["chats.get"], "indexes": ["movies"], "expiresAt": None},
            "index_scoped_api_key_with_global_action",
            'cannot create index-scoped API key with global action `"chats.get"`',
        ),
        (
            {"actions": ["search"], "indexes": ["*"], "expiresAt": "2001-01-01"},
            "invalid_api_key_expires_at",
            "`2001-01-01` is not a valid date.",
        ),
        (
            {"actions": ["search"], "indexes": ["*"], "expiresAt": "tomorrow"},
            "invalid_api_key_expires_at",
            "`tomorrow` is not a valid date.",
        ),
        (
            {"actions": ["search"], "indexes": ["a b"], "expiresAt": None},
            "invalid_api_key_indexes",
            "Invalid value at `.indexes[0]`: `a b` is not a valid index uid pattern.",
        ),
        (
            {"actions": ["search"], "indexes": ["*"], "expiresAt": None, "foo": 1},
            "bad_request",
            "Unknown field `foo`",
        ),
    ],
)
def test_create_key_validation(admin: Client, body: dict, code: str, message_start: str) -> None:  # type: ignore[type-arg]
    reply = admin.call("POST", "/keys", body)
    assert_error(reply, 400, code)
    assert reply.json["message"].startswith(message_start), reply.json["message"]


def test_index_scoped_chat_key_searches_only_its_indexes(
    admin: Client, server: StandInServer
) -> None:
    key = make_key(admin, ["chatCompletions", "search"], indexes=["books"])
    c = Client(server.url, key["key"])
    events = c.call(
        "POST", "/chats/demo/chat/completions", ask_body("anything about space")
    ).events()
    progress = [
        json.loads(
            json.loads(e["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"])[
                "function_arguments"
            ]
        )
        for e in events[:-1]
        if e["choices"][0]["delta"]["tool_calls"]
        and e["choices"][0]["delta"]["tool_calls"][0]["function"]["name"] == "_meiliSearchProgress"
    ]
    assert [p["index_uid"] for p in progress] == ["books"]


def test_key_without_search_action_gets_in_band_search_errors(
    admin: Client, server: StandInServer
) -> None:
    key = make_key(admin, ["chatCompletions"])
    c = Client(server.url, key["key"])
    reply = c.call("POST", "/chats/demo/chat/completions", ask_body("space movies"))
    assert reply.status == 200
    errors = [e for e in reply.events()[:-1] if e.get("type") == "error"]
    assert errors and all(e["error"]["type"] == "response_error" for e in errors)
    assert {e["error"]["code"] for e in errors} == {"invalid_api_key"}
    assert reply.frames()[-1] == "[DONE]"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(claims: object, secret: str, alg: str = "HS256") -> str:
    """A JWT whose payload is `claims` as compact JSON (a str is sent as is)."""
    header = _b64(json.dumps({"typ": "JWT", "alg": alg}).encode())
    text = claims if isinstance(claims, str) else json.dumps(claims, separators=(",", ":"))
    payload = _b64(text.encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def _tenant_token(parent: dict, rules: object, exp: int | None = None) -> str:  # type: ignore[type-arg]
    claims = {"searchRules": rules, "apiKeyUid": parent["uid"]}
    if exp is not None:
        claims["exp"] = exp
    return _jwt(claims, parent["key"])


def test_tenant_tokens_on_completions_only(admin: Client, server: StandInServer) -> None:
    parent = make_key(admin, ["chatCompletions", "search"])
    token = _tenant_token(parent, {"movies": {"filter": "year < 1980"}})
    c = Client(server.url, token)
    reply = c.call("POST", "/chats/demo/chat/completions", ask_body("space"))
    assert reply.status == 200
    sources = [
        json.loads(e["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"])
        for e in reply.events()[:-1]
        if e["choices"][0]["delta"]["tool_calls"]
        and e["choices"][0]["delta"]["tool_calls"][0]["function"]["name"] == "_meiliSearchSources"
    ]
    docs = [d for s in sources for d in s["sources"]]
    assert docs and all(d["year"] < 1980 for d in docs)
    assert_error(c.call("GET", "/chats"), 403, "invalid_api_key", kind="auth")
    expired = _tenant_token(parent, ["*"], exp=int(time.time()) - 10)
    reply = Client(server.url, expired).call("POST", "/chats/demo/chat/completions", ask_body())
    assert_error(reply, 403, "invalid_api_key", kind="auth")
    assert reply.json["message"].startswith("Tenant token expired. Was valid up to `")


def _completion_403(server: StandInServer, token: str) -> str:
    reply = Client(server.url, token).call("POST", "/chats/demo/chat/completions", ask_body())
    assert_error(reply, 403, "invalid_api_key", kind="auth")
    return str(reply.json["message"])


def test_tenant_token_errors_carry_the_decoders_words(admin: Client, server: StandInServer) -> None:
    # Meilisearch's own expectations (crates/meilisearch/tests/auth/errors.rs,
    # `invalid_tenant_token`): what the JWT decoder says is passed on after
    # "Could not decode tenant token, ".
    parent = make_key(admin, ["chatCompletions", "search"])
    undecodable = "Could not decode tenant token, "
    assert _completion_403(server, _jwt({"tamo": "kefir"}, "tamo")) == (
        undecodable + "JSON error: missing field `searchRules` at line 1 column 16."
    )
    assert _completion_403(server, _jwt({"searchRules": "kefir"}, "tamo")) == (
        undecodable + "JSON error: data did not match any variant of untagged enum "
        "SearchRules at line 1 column 23."
    )
    # A field that follows: the position is where serde stopped, before the comma.
    claims = '{"searchRules":"kefir","apiKeyUid":"' + parent["uid"] + '"}'
    assert _completion_403(server, _jwt(claims, parent["key"])) == (
        undecodable + "JSON error: data did not match any variant of untagged enum "
        "SearchRules at line 1 column 22."
    )
    assert _completion_403(server, _jwt({"searchRules": ["*"]}, "tamo")) == (
        undecodable + "JSON error: missing field `apiKeyUid` at line 1 column 21."
    )
    claims = {"searchRules": ["*"], "exp": "soon", "apiKeyUid": parent["uid"]}
    assert _completion_403(server, _jwt(claims, parent["key"])) == (
        undecodable + 'JSON error: invalid type: string "soon", expected i64 at line 1 column 33.'
    )
    # Signed with something else than the parent key's value, or for a uid no key has.
    wrong = {"searchRules": ["*"], "apiKeyUid": parent["uid"]}
    assert _completion_403(server, _jwt(wrong, "tamo")) == undecodable + "InvalidSignature."
    nobody = {"searchRules": ["kefir"], "apiKeyUid": str(uuid.UUID(int=0))}
    assert _completion_403(server, _jwt(nobody, "tamo")) == undecodable + "InvalidSignature."
    # A known algorithm the tenant-token validation does not allow.
    rs256 = _jwt({"searchRules": ["*"], "apiKeyUid": parent["uid"]}, parent["key"], "RS256")
    assert _completion_403(server, rs256) == undecodable + "InvalidAlgorithm."
    # Well signed for a key that is gone: the key is what is refused.
    gone = make_key(admin, ["chatCompletions", "search"])
    token = _tenant_token(gone, ["*"])
    assert admin.call("DELETE", f"/keys/{gone['uid']}").status == 204
    assert _completion_403(server, token) == "The provided API key is invalid."


def test_index_scope_refusals_name_the_index(admin: Client, server: StandInServer) -> None:
    # Meilisearch's own expectations (crates/meilisearch/tests/auth/errors.rs): on a route
    # about one index, the index is checked before the action, and the refusal says which
    # indexes the token or the key may use (a tenant token's parent key's list stays secret).
    key = make_key(admin, ["search"], ["dog"])
    reply = Client(server.url, key["key"]).call("POST", "/indexes/doggo/search", {"q": ""})
    assert_error(
        reply,
        403,
        "invalid_api_key",
        'The API key cannot acces the index `doggo`, authorized indexes are ["dog"].',
        "auth",
    )
    token = _tenant_token(key, ["doggo", "catto"])
    reply = Client(server.url, token).call("POST", "/indexes/dog/search", {"q": ""})
    assert_error(
        reply,
        403,
        "invalid_api_key",
        'The provided tenant token cannot acces the index `dog`, allowed indexes are ["catto",'
        ' "doggo"].',
        "auth",
    )
    reply = Client(server.url, token).call("POST", "/indexes/doggo/search", {"q": ""})
    assert_error(
        reply,
        403,
        "invalid_api_key",
        "The API key used to generate this tenant token cannot acces the index `doggo`.",
        "auth",
    )
    # The right index but not the action: the generic refusal.
    reply = Client(server.url, key["key"]).call("GET", "/indexes/dog/settings")
    assert_error(reply, 403, "invalid_api_key", "The provided API key is invalid.", "auth")


def test_a_tenant_token_expires_after_its_exp_second(
    admin: Client, server: StandInServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `now > exp` refuses it (crates/meilisearch/src/extractors/authentication/mod.rs):
    # during the second `exp` itself the token still works.
    from meilichat_cli.standin import auth

    parent = make_key(admin, ["chatCompletions", "search"])
    monkeypatch.setattr(auth.time, "time", lambda: 2_000_000_000.5)
    token = _tenant_token(parent, ["*"], exp=2_000_000_000)
    reply = Client(server.url, token).call("POST", "/chats/demo/chat/completions", ask_body())
    assert reply.status == 200, reply.raw
    late = _tenant_token(parent, ["*"], exp=1_999_999_999)
    assert _completion_403(server, late) == (
        "Tenant token expired. Was valid up to `1999999999` and we're now `2000000000`."
    )


# -- /chats ------------------------------------------------------------------------------------


def test_list_chats_pagination_and_errors(admin: Client) -> None:
    for uid in ("zeta", "Alpha", "beta"):
        assert admin.call("PATCH", f"/chats/{uid}/settings", {}).status == 200
    body = admin.call("GET", "/chats").json
    assert list(body) == ["results", "offset", "limit", "total"]
    uids = [r["uid"] for r in body["results"]]
    assert (
        uids == sorted(uids, key=str.encode)
        and "Alpha" in uids
        and uids.index("Alpha") < uids.index("beta")
    )
    page = admin.call("GET", "/chats?offset=1&limit=1").json
    assert page["offset"] == 1 and page["limit"] == 1 and len(page["results"]) == 1
    assert page["total"] == body["total"]
    assert_error(
        admin.call("GET", "/chats?offset=x"),
        400,
        "invalid_index_offset",
        "Invalid value in parameter `offset`: could not parse `x` as a positive integer",
    )
    assert_error(admin.call("GET", "/chats?limit=-1"), 400, "invalid_index_limit")
    assert_error(
        admin.call("GET", "/chats?foo=1"),
        400,
        "bad_request",
        "Unknown parameter `foo`: expected one of `offset`, `limit`",
    )
    for uid in ("zeta", "Alpha", "beta"):
        assert admin.call("DELETE", f"/chats/{uid}").status == 204


@pytest.mark.parametrize(
    ("query", "offset", "limit"),
    [
        ("offset=%2B1", 1, 20),  # Rust's usize::from_str takes a leading `+`
        ("limit=%2B0", 0, 0),
        ("limit=18446744073709551615", 0, 18446744073709551615),  # usize::MAX
    ],
)
def test_list_chats_reads_numbers_as_rust_parses_a_usize(
    admin: Client, query: str, offset: int, limit: int
) -> None:
    page = admin.call("GET", f"/chats?{query}")
    assert page.status == 200, page.raw
    assert (page.json["offset"], page.json["limit"]) == (offset, limit)


@pytest.mark.parametrize(
    ("query", "code", "raw"),
    [
        ("offset=18446744073709551616", "invalid_index_offset", "18446744073709551616"),
        ("offset=%C2%B2", "invalid_index_offset", "\u00b2"),  # a digit, but not an ASCII one
        ("limit=%D9%A3", "invalid_index_limit", "\u0663"),
        ("limit=%2B", "invalid_index_limit", "+"),
        ("limit=-0", "invalid_index_limit", "-0"),
        ("limit=", "invalid_index_limit", ""),
    ],
)
def test_list_chats_refuses_what_a_usize_cannot_hold(
    admin: Client, query: str, code: str, raw: str
) -> None:
    name = query.partition("=")[0]
    assert_error(
        admin.call("GET", f"/chats?{query}"),
        400,
        code,
        f"Invalid value in parameter `{name}`: could not parse `{raw}` as a positive integer",
    )


def test_get_and_delete_chat(admin: Client) -> None:
    assert admin.call("GET", "/chats/demo").json == {"uid": "demo"}
    assert_error(admin.call("GET", "/chats/nope"), 404, "chat_not_found", "chat nope not found")
    assert_error(admin.call("DELETE", "/chats/nope"), 404, "chat_not_found", "chat nope not found")
    reply = admin.call("GET", "/chats/bad%20uid")
    assert_error(reply, 400, "invalid_index_uid")
    assert reply.json["message"].startswith("`bad uid` is not a valid index uid.")
    assert_error(
        admin.call("GET", "/chats/nope/settings"), 404, "chat_not_found", "Chat `nope` not found"
    )
    assert_error(
        admin.call("DELETE", "/chats/nope/settings"), 404, "chat_not_found", "Chat `nope` not found"
    )


# -- indexes and tasks -------------------------------------------------------------------------


def test_indexes_documents_and_search(admin: Client) -> None:
    body = admin.call("GET", "/indexes").json
    assert [r["uid"] for r in body["results"]] == ["books", "movies", "tickets"]
    assert list(body["results"][0]) == ["uid", "createdAt", "updatedAt", "primaryKey"]
    assert admin.call("GET", "/indexes/movies").json["primaryKey"] == "id"
    assert_error(
        admin.call("GET", "/indexes/nope"), 404, "index_not_found", "Index `nope` not found."
    )
    docs = admin.call("GET", "/indexes/books/documents?limit=3&offset=1").json
    assert len(docs["results"]) == 3 and docs["offset"] == 1 and docs["total"] >= 40
    hits = admin.call(
        "POST", "/indexes/movies/search", {"q": "nolan", "filter": "year > 2010", "limit": 3}
    ).json
    assert hits["hits"] and all(h["year"] > 2010 and "Nolan" in h["director"] for h in hits["hits"])
    reply = admin.call("POST", "/indexes/movies/search", {"q": "x", "filter": "year >"})
    assert_error(reply, 400, "invalid_search_filter")


def test_task_errors(admin: Client) -> None:
    assert admin.call("GET", "/tasks/0").json["status"] == "succeeded"
    assert_error(
        admin.call("GET", "/tasks/99999"), 404, "task_not_found", "Task `99999` not found."
    )
    assert_error(admin.call("GET", "/tasks/abc"), 400, "invalid_task_uids")
    # The uid is parsed as Rust parses a u32: a `+` is fine, other digits and overflow are not.
    assert admin.call("GET", "/tasks/%2B0").json["uid"] == 0
    assert_error(admin.call("GET", "/tasks/%C2%B2"), 400, "invalid_task_uids")
    assert_error(admin.call("GET", "/tasks/4294967296"), 400, "invalid_task_uids")


# -- no master key -----------------------------------------------------------------------------


def test_without_master_key_everything_is_open_but_keys() -> None:
    with StandInServer() as srv:
        assert srv.chat_key is None and srv.admin_key is None and srv.search_key is None
        c = Client(srv.url)
        assert c.call("GET", "/chats", key=NO_KEY).status == 200
        assert_error(
            c.call("GET", "/keys", key=NO_KEY),
            401,
            "missing_master_key",
            "Meilisearch is running without a master key. To access this API endpoint, you "
            "must have set a master key at launch.",
            "auth",
        )
        reply = c.call("POST", "/chats/demo/chat/completions", ask_body(), key="anything")
        assert reply.status == 200 and reply.frames()[-1] == "[DONE]"


def test_without_master_key_a_malformed_authorization_header_is_still_refused() -> None:
    # `extract_token_from_request` (crates/meilisearch/src/extractors/authentication/mod.rs)
    # runs before the master-key question: a header that is not `Bearer <token>` is refused
    # even by a server without a master key.
    missing = "The Authorization header is missing. It must use the bearer authorization method."
    with StandInServer() as srv:
        c = Client(srv.url)
        for header in ("Basic abc", "bearer x", "Token", "Bearer\tx"):
            assert_error(
                c.call("GET", "/chats", key=NO_KEY, headers={"Authorization": header}),
                401,
                "missing_authorization_header",
                missing,
                "auth",
            )
        assert_error(
            c.call("GET", "/chats", key=NO_KEY, headers={"Authorization": "Bearer"}),
            403,
            "invalid_api_key",
            "The provided API key is invalid.",
            "auth",
        )
        assert_error(
            c.call(
                "POST",
                "/chats/demo/chat/completions",
                ask_body(),
                key=NO_KEY,
                headers={"Authorization": "Basic abc"},
            ),
            401,
            "missing_authorization_header",
            missing,
            "auth",
        )
        # `Bearer ` with an empty token is a token: open, like any other.
        assert (
            c.call("GET", "/chats", key=NO_KEY, headers={"Authorization": "Bearer "}).status == 200
        )


def test_a_header_that_is_not_visible_ascii_counts_as_missing(server: StandInServer) -> None:
    # actix's HeaderValue::to_str fails on such bytes and Meilisearch reads "" instead.
    c = Client(server.url)
    assert_error(
        c.call("GET", "/chats", key=NO_KEY, headers={"Authorization": "Bearer cl\u00e9"}),
        401,
        "missing_authorization_header",
        kind="auth",
    )


def test_without_master_key_a_completion_without_authorization_gets_no_response() -> None:
    import http.client

    with StandInServer() as srv:
        c = Client(srv.url)
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            c.call("POST", "/chats/demo/chat/completions", ask_body(), key=NO_KEY)
        # Errors found before that point are still reported normally.
        c2 = Client(srv.url)
        reply = c2.call("POST", "/chats/demo/chat/completions", ask_body(stream=False), key=NO_KEY)
        assert reply.status == 501
        assert (
            Client(srv.url)
            .call("POST", "/chats/nope/chat/completions", ask_body(), key=NO_KEY)
            .status
            == 404
        )
        # The tools are checked after the token is unwrapped (`streamed_chat`): an unknown
        # tool does not get its 501 first.
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            Client(srv.url).call(
                "POST",
                "/chats/demo/chat/completions",
                ask_body(tools=("get_weather",)),
                key=NO_KEY,
            )


def test_serve_forever_in_the_foreground_stops_on_close() -> None:
    import threading

    srv = StandInServer(master_key=MASTER)
    runner = threading.Thread(target=srv.serve_forever, daemon=True)
    runner.start()
    reply = Client(srv.url).call("GET", "/health", key=NO_KEY)
    assert reply.status == 200
    srv.close()
    runner.join(timeout=2)
    assert not runner.is_alive()


def test_recorded_requests(server: StandInServer) -> None:
    c = Client(server.url, server.chat_key)
    c.call("GET", "/health?x=1&y=2", headers={"X-Probe": "yes"})
    item = server.recorded[-1]
    assert (item.method, item.path, item.query) == ("GET", "/health", {"x": "1", "y": "2"})
    assert item.headers["x-probe"] == "yes" and item.body is None and item.raw == b""
    assert c.call("GET", PATH_COMPLETIONS).status == 405


PATH_COMPLETIONS = "/chats/demo/chat/completions"


# -- response compression ------------------------------------------------------------------------
# Meilisearch wraps every route in actix's `Compress` middleware (crates/meilisearch/src/lib.rs,
# built with the compress-brotli and compress-gzip features): answers are compressed when the
# client asks for it, except the event stream, which says `content-encoding: identity`.


def test_json_answers_are_gzipped_when_the_client_accepts_gzip(server: StandInServer) -> None:
    c = Client(server.url, MASTER)
    plain = c.call("GET", "/chats")
    assert "content-encoding" not in plain.headers and "content-length" in plain.headers
    reply = c.call("GET", "/chats", headers={"Accept-Encoding": "gzip, deflate"})
    assert reply.status == 200
    assert reply.headers["content-encoding"] == "gzip"
    assert reply.headers["vary"] == "accept-encoding"
    assert reply.headers["transfer-encoding"] == "chunked" and "content-length" not in reply.headers
    assert json.loads(gzip.decompress(reply.raw)) == plain.json
    # Errors too: the middleware wraps every answer.
    error = c.call("GET", "/chats/nope", headers={"Accept-Encoding": "gzip"})
    assert error.status == 404 and error.headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(error.raw))["code"] == "chat_not_found"


def test_deflate_is_zlib_and_quality_values_decide(server: StandInServer) -> None:
    c = Client(server.url, MASTER)
    reply = c.call("GET", "/version", headers={"Accept-Encoding": "gzip;q=0.5, deflate"})
    assert reply.headers["content-encoding"] == "deflate"
    assert json.loads(zlib.decompress(reply.raw))["pkgVersion"]
    ranked = c.call("GET", "/version", headers={"Accept-Encoding": "deflate, gzip"})
    assert ranked.headers["content-encoding"] == "gzip", "equal quality: the server's ranking"
    unknown = c.call("GET", "/version", headers={"Accept-Encoding": "compress"})
    assert "content-encoding" not in unknown.headers, "nothing it knows: identity"


def test_no_acceptable_encoding_is_a_406_before_anything_else(server: StandInServer) -> None:
    c = Client(server.url)
    reply = c.call("GET", "/chats", key=NO_KEY, headers={"Accept-Encoding": "identity;q=0"})
    assert reply.status == 406
    assert reply.raw == b"br, gzip, deflate"
    assert reply.headers["vary"] == "Accept-Encoding"


def test_the_stream_and_empty_answers_are_never_compressed(server: StandInServer) -> None:
    c = Client(server.url, MASTER)
    gz = {"Accept-Encoding": "gzip"}
    stream = c.call("POST", "/chats/demo/chat/completions", ask_body(), headers=gz)
    assert stream.headers["content-encoding"] == "identity" and "vary" not in stream.headers
    assert stream.frames()[-1] == "[DONE]"
    assert c.call("PATCH", "/chats/gone/settings", {}).status == 200
    deleted = c.call("DELETE", "/chats/gone", headers=gz)
    assert deleted.status == 204 and "content-encoding" not in deleted.headers
