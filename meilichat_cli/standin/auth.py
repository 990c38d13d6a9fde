"""API keys, actions, wildcards and tenant tokens: who may call which route
(docs/protocol.md#keys-and-actions).

* Key values are `hex(HMAC-SHA256(master_key, uid))`, so they are returned on every read.
* `*` grants every action, the `keys.*` ones included; `X.*` grants `X.<anything>`; `*.get`
  grants the read actions (every `.get` but `keys.get`, and `search`, `version`, `export`,
  `fields.post`). `chatCompletions` comes only from itself or `*`.
* Tenant tokens (JWT HS256/384/512 signed with a parent key's value) are accepted on the
  search and completions routes only; their `searchRules` narrow the indexes searched.

Stdlib only; imports `protocol.actions` (the wildcards, shared with the client),
`standin.apierror`, `standin.deserr`, `standin.requestcheck` (serde's positions) and
`standin.versions`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from meilichat_cli.protocol.actions import KEY_ACTIONS, action_granted
from meilichat_cli.standin.apierror import (
    MeiliError,
    invalid_api_key,
    missing_authorization,
    missing_master_key,
)
from meilichat_cli.standin.deserr import serde_invalid_type
from meilichat_cli.standin.requestcheck import Spans
from meilichat_cli.standin.versions import emulation

# Every action string `POST /keys` accepts, in the order Meilisearch lists them.
# Every action the newest emulated release knows (each release has its list: versions.py).
ALL_ACTIONS = emulation(None).actions

# Actions a tenant token may exercise (through its parent key).
TENANT_TOKEN_ACTIONS = ("search", "chatCompletions")


def derive_key(master_key: str, uid: str) -> str:
    """The key value Meilisearch derives from the master key and the key's uid."""
    return hmac.new(master_key.encode(), uid.encode(), hashlib.sha256).hexdigest()


def index_allowed(patterns: list[str], uid: str) -> bool:
    """Index patterns: `*`, an exact uid, or a prefix ending with `*`."""
    for pattern in patterns:
        if pattern in ("*", uid):
            return True
        if pattern.endswith("*") and uid.startswith(pattern[:-1]):
            return True
    return False


@dataclass
class ApiKey:
    """One API key as stored (the value is derived, never stored)."""

    uid: str
    value: str
    name: str | None
    description: str | None
    actions: list[str]
    indexes: list[str]
    expires_at: str | None
    expires_ts: float | None
    created_at: str
    updated_at: str

    def expired(self, now: float | None = None) -> bool:
        return self.expires_ts is not None and self.expires_ts <= (now or time.time())

    def view(self) -> dict[str, Any]:
        """The KeyView body, keys in Meilisearch's order."""
        return {
            "name": self.name,
            "description": self.description,
            "key": self.value,
            "uid": self.uid,
            "actions": list(self.actions),
            "indexes": list(self.indexes),
            "expiresAt": self.expires_at,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }


@dataclass
class Principal:
    """Who is calling: the master key, an API key, a tenant token, or anyone (no master key)."""

    master: bool = False
    key: ApiKey | None = None
    token: str | None = None
    # Tenant token search rules: index pattern -> extra filter (None = no filter).
    search_rules: dict[str, str | None] | None = None
    raw_rules: Any = field(default=None, repr=False)

    def may(self, action: str, index_uid: str | None = None) -> bool:
        """Whether this caller may perform `action` (on `index_uid` when given)."""
        if self.master or self.key is None:
            return True
        if self.key.expired():
            return False
        if not action_granted(self.key.actions, action):
            return False
        if index_uid is not None:
            if not index_allowed(self.key.indexes, index_uid):
                return False
            if self.search_rules is not None and not index_allowed(
                list(self.search_rules), index_uid
            ):
                return False
        return True

    def tenant_filter(self, index_uid: str) -> str | None:
        """The filter a tenant token adds to searches of `index_uid`."""
        if not self.search_rules:
            return None
        if index_uid in self.search_rules:
            return self.search_rules[index_uid]
        for pattern, rule in self.search_rules.items():
            if index_allowed([pattern], index_uid):
                return rule
        return None


KeyLookup = Callable[[str], "ApiKey | None"]


def authenticate(
    *,
    master_key: str | None,
    header: str | None,
    action: str,
    index_uid: str | None,
    find_by_value: KeyLookup,
    find_by_uid: KeyLookup,
    allow_tenant_token: bool = False,
) -> Principal:
    """Check the Authorization header for `action`; raise the 401/403 Meilisearch would.

    The header's form is checked first, with or without a master key, as Meilisearch's
    `extract_token_from_request` does: a value that is not visible ASCII reads as empty,
    it is split once on a space, the first word must be exactly `Bearer` (else 401) and a
    second part must follow (`Bearer` alone: 403; `Bearer ` gives an empty token)."""
    token = bearer_token(header)
    if master_key is None:
        if action in KEY_ACTIONS:
            raise missing_master_key()
        return Principal(token=token if header is not None else None)
    if header is None:
        raise missing_authorization()
    if not token:
        raise invalid_api_key()
    if hmac.compare_digest(token.encode(), master_key.encode()):
        return Principal(master=True, token=token)
    key = find_by_value(token)
    if key is not None:
        principal = Principal(key=key, token=token)
    elif allow_tenant_token and token.count(".") == 2:
        principal = decode_tenant_token(token, find_by_uid, master_key)
    else:
        raise invalid_api_key()
    if index_uid is not None:
        _check_index_scope(principal, index_uid)
    if not principal.may(action, index_uid):
        raise invalid_api_key()
    return principal


def _rust_list(names: list[str]) -> str:
    """A sorted `Vec<String>` as Rust's `{:?}` prints it: `["a", "b"]`."""
    return "[" + ", ".join(json.dumps(name) for name in sorted(names)) + "]"


def _check_index_scope(principal: Principal, index_uid: str) -> None:
    """On a route about one index, Meilisearch checks the index before the action
    (`ActionPolicy::authenticate`): the tenant token's rules first, then the key's indexes,
    each refusal naming the index (and the list, except a tenant token's parent's)."""
    key = principal.key
    if key is None:
        return
    rules = principal.search_rules
    if rules is not None and not index_allowed(list(rules), index_uid):
        raise MeiliError(
            403,
            "invalid_api_key",
            f"The provided tenant token cannot acces the index `{index_uid}`, allowed indexes"
            f" are {_rust_list(list(rules))}.",
        )
    if not index_allowed(key.indexes, index_uid):
        if rules is not None:
            message = (
                "The API key used to generate this tenant token cannot acces the index "
                f"`{index_uid}`."
            )
        else:
            message = (
                f"The API key cannot acces the index `{index_uid}`, authorized indexes are "
                f"{_rust_list(key.indexes)}."
            )
        raise MeiliError(403, "invalid_api_key", message)


def bearer_token(header: str | None) -> str:
    """The token of a well-formed header ("" when there is no header); raise the errors
    `extract_token_from_request` raises at once for a malformed one. Everything else about
    the caller is checked later, on Meilisearch's blocking pool, so another extractor's
    immediate error (a wrong Content-Type) is answered first."""
    if header is None:
        return ""
    if not _visible_ascii(header):
        header = ""
    scheme, space, token = header.partition(" ")
    if scheme != "Bearer":
        raise missing_authorization()
    if not space:
        raise invalid_api_key()
    return token


def _visible_ascii(value: str) -> bool:
    """What actix's `HeaderValue::to_str` accepts: tab and the printable ASCII range."""
    return all(char == "\t" or " " <= char <= "~" for char in value)


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


_JWT_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


# Algorithms the JWT library knows; only the HS ones pass Meilisearch's tenant-token check.
_KNOWN_JWT_ALGORITHMS = frozenset(
    {"HS256", "HS384", "HS512", "ES256", "ES384", "RS256", "RS384", "RS512"}
    | {"PS256", "PS384", "PS512", "EdDSA"}
)


def _undecodable(detail: str) -> MeiliError:
    """What Meilisearch says when the JWT library refuses a tenant token."""
    return MeiliError(403, "invalid_api_key", f"Could not decode tenant token, {detail}.")


def decode_tenant_token(
    token: str, find_by_uid: KeyLookup, master_key: str | None = None
) -> Principal:
    """Verify a tenant token and return the principal it stands for (403 when invalid).

    Meilisearch's order (`ActionPolicy::authenticate_tenant_token`): the claims are read
    first (their serde errors are reported with serde's words and position), then the
    algorithm and the signature are checked against the key derived from the master key
    for `apiKeyUid` (whether or not such a key exists), then `exp` (expired once the clock
    is past it), and only then the parent key itself. Base64 and header problems, and an
    `apiKeyUid` that is no UUID, are answered with the generic message (their exact
    wording is the JWT library's and is not reproduced)."""
    head_b64, payload_b64, signature_b64 = token.split(".")
    try:
        header = json.loads(_b64decode(head_b64))
        payload_raw = _b64decode(payload_b64)
        payload = json.loads(payload_raw)
        signature = _b64decode(signature_b64)
    except (ValueError, binascii.Error) as exc:
        raise invalid_api_key() from exc
    if not isinstance(header, dict) or header.get("alg") not in _KNOWN_JWT_ALGORITHMS:
        raise invalid_api_key()
    if not isinstance(payload, dict):
        raise invalid_api_key()
    problem = _claims_problem(payload, payload_raw)
    if problem is not None:
        raise _undecodable(f"JSON error: {problem}")
    parent_uid = payload["apiKeyUid"]
    if not isinstance(parent_uid, str) or not _is_uuid(parent_uid):
        raise invalid_api_key()
    digest = _JWT_HASHES.get(str(header["alg"]))
    if digest is None:
        raise _undecodable("InvalidAlgorithm")
    parent = find_by_uid(parent_uid)
    if parent is not None:
        secret = parent.value
    elif master_key is not None:
        secret = derive_key(master_key, parent_uid)
    else:
        raise invalid_api_key()
    expected = hmac.new(secret.encode(), f"{head_b64}.{payload_b64}".encode(), digest).digest()
    if not hmac.compare_digest(expected, signature):
        raise _undecodable("InvalidSignature")
    exp = payload.get("exp")
    now = int(time.time())
    if isinstance(exp, int) and now > exp:
        raise MeiliError(
            403,
            "invalid_api_key",
            f"Tenant token expired. Was valid up to `{exp}` and we're now `{now}`.",
        )
    if parent is None or parent.expired():
        raise invalid_api_key()
    rules = _search_rules(payload.get("searchRules"))
    if rules is None:
        raise invalid_api_key()
    # A token acts through its parent, limited to searching and chatting.
    narrowed = ApiKey(
        uid=parent.uid,
        value=parent.value,
        name=parent.name,
        description=parent.description,
        actions=[a for a in TENANT_TOKEN_ACTIONS if action_granted(parent.actions, a)],
        indexes=parent.indexes,
        expires_at=parent.expires_at,
        expires_ts=parent.expires_ts,
        created_at=parent.created_at,
        updated_at=parent.updated_at,
    )
    return Principal(key=narrowed, token=token, search_rules=rules, raw_rules=payload)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _claims_problem(claims: dict[str, Any], raw: bytes) -> str | None:
    """serde's error for the claims `{searchRules, exp?, apiKeyUid}`, or None.

    Fields are read in the order they come; an error inside `exp` is placed right after its
    value, one the untagged `SearchRules` raises after the closing `}` when the object ends
    there (before the next `,` otherwise), a missing field after the closing `}`."""
    spans = Spans(raw)

    def after_field(name: str) -> str:
        at = spans.ends.get((name,), spans.ends[()])
        while raw[at : at + 1] in (b" ", b"\t", b"\r", b"\n"):
            at += 1
        if raw[at : at + 1] == b"}":
            at += 1
        return spans.at(at)

    for name, value in claims.items():
        if name == "searchRules" and _search_rules(value) is None:
            return "data did not match any variant of untagged enum SearchRules " + after_field(
                name
            )
        if name == "exp" and value is not None:
            where = spans.where((name,))
            if isinstance(value, bool) or not isinstance(value, int):
                return f"{serde_invalid_type(value, 'i64')} {where}"
            if not -(2**63) <= value < 2**63:
                return f"invalid value: integer `{value}`, expected i64 {where}"
    for name in ("searchRules", "apiKeyUid"):
        if name not in claims:
            return f"missing field `{name}` {spans.where(())}"
    return None


def _search_rules(raw: Any) -> dict[str, str | None] | None:
    """`searchRules` as index pattern -> filter; None when the claim is malformed."""
    if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        if not all(_index_pattern(item) for item in raw):
            return None
        return dict.fromkeys(raw)
    if not isinstance(raw, Mapping):
        return None
    rules: dict[str, str | None] = {}
    for pattern, rule in raw.items():
        if not _index_pattern(str(pattern)):
            return None
        if rule is None:
            rules[str(pattern)] = None
        elif isinstance(rule, Mapping):
            filt = rule.get("filter")
            rules[str(pattern)] = filt if isinstance(filt, str) else None
        else:
            return None
    return rules


def _index_pattern(pattern: str) -> bool:
    """Meilisearch's `IndexUidPattern`: `*`, or an index uid optionally followed by `*`."""
    uid = pattern[:-1] if pattern.endswith("*") else pattern
    if pattern == "*":
        return True
    return 0 < len(uid) <= 400 and all(c.isascii() and (c.isalnum() or c in "-_") for c in uid)
