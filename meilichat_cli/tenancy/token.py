"""Tenant tokens: JSON Web Tokens signed with HMAC (HS256, HS384, HS512), as Meilisearch reads them.

A token is `base64url(header).base64url(claims).base64url(signature)`, the signature being
HMAC over the first two parts with the parent API key's `key` string as the secret. The claims
Meilisearch reads: `searchRules` (index pattern -> null or {"filter": ...}, or a list of
patterns), `apiKeyUid` (the parent key's uid) and an optional `exp` (Unix seconds).

Also: `--expires` values (`1h`, `30m`, `2d`, or an ISO 8601 time) and the "is this a token"
test the HTTP layer uses to explain a refused request.

Stdlib, `errors` and `values` only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from meilichat_cli.errors import UsageError
from meilichat_cli.values import FrozenValue

ALGORITHMS: dict[str, Callable[..., Any]] = {
    "HS256": hashlib.sha256,
    "HS384": hashlib.sha384,
    "HS512": hashlib.sha512,
}
DEFAULT_ALGORITHM = "HS256"
MAX_TOKEN_CHARS = 64 * 1024

_DURATION = re.compile(r"(?P<n>\d+)\s*(?P<unit>s|m|h|d|w)", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515, section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding; ValueError when it is not base64url."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as error:
        raise ValueError(str(error)) from error


def _secret(key: str | bytes) -> bytes:
    return key if isinstance(key, bytes) else key.encode("utf-8")


def sign(claims: dict[str, Any], key: str | bytes, *, algorithm: str = DEFAULT_ALGORITHM) -> str:
    """A compact JWT of `claims` signed with `key` (a Meilisearch key's `key` string)."""
    digest = ALGORITHMS.get(algorithm)
    if digest is None:
        raise UsageError(
            f"unknown signing algorithm {algorithm!r}", hint="use HS256, HS384 or HS512"
        )
    header = {"alg": algorithm, "typ": "JWT"}
    signing_input = ".".join(
        b64url(json.dumps(part, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        for part in (header, claims)
    )
    signature = hmac.new(_secret(key), signing_input.encode("ascii"), digest).digest()
    return f"{signing_input}.{b64url(signature)}"


class DecodedToken(FrozenValue):
    """A token taken apart (nothing verified yet: see `signature_matches`)."""

    __slots__ = ("claims", "header", "raw", "signature")
    raw: str
    header: dict[str, Any]
    claims: dict[str, Any]
    signature: bytes

    def __init__(
        self, raw: str, header: dict[str, Any], claims: dict[str, Any], signature: bytes
    ) -> None:
        self._set(raw=raw, header=header, claims=claims, signature=signature)

    @property
    def algorithm(self) -> str:
        return str(self.header.get("alg"))

    @property
    def parent_uid(self) -> str | None:
        uid = self.claims.get("apiKeyUid")
        return uid if isinstance(uid, str) else None

    @property
    def expires(self) -> float | None:
        exp = self.claims.get("exp")
        if isinstance(exp, (int, float)) and not isinstance(exp, bool):
            return float(exp)
        return None

    def expired(self, now: float | None = None) -> bool:
        """As Meilisearch decides it: once the current whole second is past `exp` (a token
        is still good during the second `exp` names)."""
        exp = self.expires
        return exp is not None and past(exp, now)

    def signature_matches(self, key: str | bytes) -> bool:
        digest = ALGORITHMS.get(self.algorithm)
        if digest is None:
            return False
        signing_input = self.raw.rsplit(".", 1)[0].encode("ascii")
        expected = hmac.new(_secret(key), signing_input, digest).digest()
        return hmac.compare_digest(expected, self.signature)


def decode(token: str) -> DecodedToken:
    """Take a token apart; UsageError (exit 2) saying what is wrong when it is not a JWT."""
    text = token.strip()
    if len(text) > MAX_TOKEN_CHARS:
        raise UsageError(f"the token is longer than {MAX_TOKEN_CHARS} characters")
    parts = text.split(".")
    if len(parts) != 3:
        raise UsageError(
            f"not a tenant token: a JWT has 3 parts separated by '.', this has {len(parts)}"
        )
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError) as error:
        raise UsageError(f"not a tenant token: a part is not base64url JSON ({error})") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise UsageError("not a tenant token: its header and claims must be JSON objects")
    return DecodedToken(raw=text, header=header, claims=claims, signature=signature)


def looks_like_token(value: str | None) -> bool:
    """Whether a bearer value is a JWT (three base64url parts, a header naming `alg`)."""
    if not value or value.count(".") != 2 or len(value) > MAX_TOKEN_CHARS:
        return False
    try:
        header = json.loads(b64url_decode(value.split(".")[0]))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(header, dict) and "alg" in header


def expiry_of(value: str | None) -> float | None:
    """The `exp` of a bearer value that is a token, else None (not verified)."""
    if not looks_like_token(value):
        return None
    assert value is not None
    try:
        return decode(value).expires
    except UsageError:
        return None


def iso_time(timestamp: float) -> str:
    """A Unix time as ISO 8601 UTC, to the second (`2025-12-31T00:00:00Z`)."""
    moment = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_expires(text: str, *, now: float | None = None) -> int:
    """`--expires`: a duration (`90s`, `30m`, `1h`, `2d`, `1w`, `1h30m`) from now, or an ISO
    8601 time (`2025-12-31`, `2025-12-31T00:00:00Z`; no zone means UTC). Returns Unix seconds;
    UsageError for anything else or a time already past."""
    value = text.strip()
    current = time.time() if now is None else now
    if not value:
        raise UsageError("--expires needs a duration (1h, 30m, 2d) or an ISO time")
    if _DURATION.match(value) and not _DURATION.sub("", value).strip():
        seconds = sum(
            int(m.group("n")) * _UNIT_SECONDS[m.group("unit").lower()]
            for m in _DURATION.finditer(value)
        )
        if seconds <= 0:
            raise UsageError(f"--expires {value!r}: the duration must be more than 0")
        return int(current) + seconds
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--expires {value!r} is neither a duration nor an ISO time",
            hint="e.g. --expires 1h, --expires 30m, --expires 2030-12-31T00:00:00Z",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    stamp = int(moment.timestamp())
    if stamp <= current:
        raise UsageError(f"--expires {value!r} is in the past ({iso_time(stamp)})")
    return stamp


def past(exp: float, now: float | None = None) -> bool:
    """Whether a token expiring at `exp` has expired: Meilisearch compares the whole seconds
    of its clock (`now > exp`)."""
    return math.floor(time.time() if now is None else now) > exp


def describe_remaining(exp: float, now: float | None = None) -> str:
    """`expires 2025-… (in 59 min)` or `EXPIRED 2025-… (3 h ago)`."""
    current = time.time() if now is None else now
    delta = exp - current
    span = _span(abs(delta))
    if past(exp, current):
        return f"EXPIRED at {iso_time(exp)} ({span} ago)"
    return f"expires {iso_time(exp)} (in {span})"


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
