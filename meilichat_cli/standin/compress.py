"""Response compression, as actix's `Compress` middleware does it for Meilisearch.

Meilisearch wraps every route in `actix_web::middleware::Compress` (crates/meilisearch/src/lib.rs),
built with the `compress-brotli` and `compress-gzip` features, so it offers `br`, `gzip` and
`deflate` besides `identity`:

* no `Accept-Encoding` header (or one that does not parse): answers go out as they are;
* otherwise the codings are ranked by quality, then by the server's preference (br > gzip >
  deflate), and the first one it supports wins; when none is acceptable, not even identity,
  the answer is a 406 whose body lists what the server offers, before any routing;
* the chosen coding applies to any answer with a body except images and videos and answers
  that already name their coding (the event stream says `content-encoding: identity`);
  compressed answers get `content-encoding` and `vary: accept-encoding` and are sent chunked.

Python's standard library has no brotli encoder: when `br` wins, the stand-in answers
uncompressed (Meilisearch would send brotli). meilichat asks for `gzip, deflate`.

Stdlib only; imports nothing from meilichat_cli.
"""

from __future__ import annotations

import gzip
import zlib

SUPPORTED_LIST = "br, gzip, deflate"  # the body of the 406, in actix's order
# actix's ranking of codings of equal quality (`encoding_rank`).
_RANK = {"br": 5, "zstd": 4, "gzip": 3, "deflate": 2, "identity": 0, "*": 0}
_SUPPORTED = ("identity", "br", "gzip", "deflate")


class NotAcceptable(Exception):
    """No coding the server offers is acceptable to the client: a 406."""


def _parse(header: str) -> list[tuple[str, float]] | None:
    """The header's (coding, quality) items, or None when it does not parse."""
    items: list[tuple[str, float]] = []
    for item in header.split(","):
        if not item.strip():
            continue
        coding, *params = (piece.strip() for piece in item.strip().split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() != "q":
                continue
            try:
                quality = float(value.strip())
            except ValueError:
                return None
            if not 0.0 <= quality <= 1.0:
                return None
        items.append((coding.lower(), quality))
    return items


def negotiate(header: str | None) -> str:
    """The coding actix picks for this `Accept-Encoding` value (`identity` for none);
    `NotAcceptable` when it would answer 406."""
    if header is None:
        return "identity"
    items = _parse(header)
    if items is None:
        return "identity"
    if not items:
        return "identity"
    ranked = sorted(
        items,
        key=lambda item: (-item[1], -(_RANK.get(item[0], 1) if item[1] > 0 else 0)),
    )
    identity_acceptable = True
    for coding, quality in ranked:
        if coding in ("identity", "*"):
            identity_acceptable = quality > 0
            break
    for coding, quality in ranked:
        if quality > 0 and coding in _SUPPORTED:
            return coding
    if identity_acceptable:
        return "identity"
    raise NotAcceptable()


def applies(coding: str, status: int, headers: dict[str, str], body: bytes) -> bool:
    """Whether an answer is compressed with `coding` (see the module docstring)."""
    if coding not in ("gzip", "deflate") or not body or status in (101, 204):
        return False
    lowered = {name.lower(): value for name, value in headers.items()}
    if "content-encoding" in lowered:
        return False
    mime = lowered.get("content-type", "").split(";", 1)[0].strip().lower()
    return not (
        mime.startswith("video/") or (mime.startswith("image/") and mime != "image/svg+xml")
    )


def encode(coding: str, body: bytes) -> bytes:
    """The body compressed with `coding` (gzip, or deflate as the zlib format actix sends)."""
    if coding == "gzip":
        return gzip.compress(body, compresslevel=1)
    return zlib.compress(body, 1)
