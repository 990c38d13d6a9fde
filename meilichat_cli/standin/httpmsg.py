"""Requests and responses as the routes see them, and Meilisearch's JSON body rules.

`Request.json_body()` applies the checks Meilisearch's JSON extractor applies, in its order:
Content-Type missing (415 `missing_content_type`) or not JSON (415 `invalid_content_type`),
empty body (400 `missing_payload`), unparsable JSON (400 `malformed_payload`).

Stdlib only; imports `server.apierror`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from meilichat_cli.standin.apierror import MeiliError

ACCEPTED_CONTENT_TYPES = "Accepted values for the Content-Type header are: `application/json`"


@dataclass
class Request:
    method: str
    path: str  # normalized: no trailing slash, no repeated slashes
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-case names
    raw: bytes
    client_host: str = "127.0.0.1"
    # Set when the body went over the size limit and was not read: the JSON extractor's
    # error, raised once the Content-Type is checked.
    body_error: MeiliError | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def check_content_type(self) -> None:
        """The JSON extractor's first check, made before it reads any of the body."""
        content_type = self.header("content-type")
        if content_type is None:
            raise MeiliError(
                415,
                "missing_content_type",
                f"A Content-Type header is missing. {ACCEPTED_CONTENT_TYPES}",
            )
        mime = content_type.split(";", 1)[0].strip().lower()
        if not (mime.endswith("/json") or mime.endswith("+json")):
            raise MeiliError(
                415,
                "invalid_content_type",
                f"The Content-Type `{content_type}` is invalid. {ACCEPTED_CONTENT_TYPES}",
            )

    def json_body(self) -> Any:
        self.check_content_type()
        if self.body_error is not None:
            raise self.body_error
        if not self.raw:
            raise MeiliError(400, "missing_payload", "A json payload is missing.")
        try:
            return json.loads(self.raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise MeiliError(
                400,
                "malformed_payload",
                f"The json payload provided is malformed. `invalid unicode code point at "
                f"line 1 column {exc.start + 1}`.",
            ) from exc
        except json.JSONDecodeError as exc:
            raise MeiliError(
                400,
                "malformed_payload",
                f"The json payload provided is malformed. `{serde_style(exc)}`.",
            ) from exc


def serde_style(exc: json.JSONDecodeError) -> str:
    """A Python JSON error worded like serde_json's, at the position serde reports: at the end
    of the input, the last character read and what was open there (`EOF while parsing an
    object at line 1 column 1` for `{`)."""
    if exc.pos >= len(exc.doc.rstrip()) or exc.msg.startswith("Unterminated string"):
        doc = exc.doc
        line = doc.count("\n") + 1
        column = len(doc) - (doc.rfind("\n") + 1)
        return f"EOF while parsing {_open_at_end(doc)} at line {line} column {column}"
    where = f"at line {exc.lineno} column {exc.colno}"
    if exc.msg.startswith("Expecting value"):
        return f"expected value {where}"
    if exc.msg.startswith("Extra data"):
        return f"trailing characters {where}"
    return f"{exc.msg[:1].lower()}{exc.msg[1:]} {where}"


def _open_at_end(doc: str) -> str:
    """What serde was in the middle of when the input ran out."""
    stack: list[str] = []
    in_string = escaped = False
    for char in doc:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            stack.append(char)
        elif char in "}]" and stack:
            stack.pop()
    if in_string:
        return "a string"
    if stack:
        return "an object" if stack[-1] == "{" else "a list"
    return "a value"


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, value: Any, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        return cls(status, body, {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def error(cls, error: MeiliError) -> Response:
        return cls.json(error.status, error.body(), error.headers)


class DropConnection(Exception):
    """Close the connection without any response (what a panicking handler does), after
    `delay` seconds of silence (a stalled proxy)."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__("connection dropped")
        self.delay = delay
