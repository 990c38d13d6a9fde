"""A tiny HTTP client for the stand-in server tests (plain http.client, keep-alive).

Shared by tests/test_server_*.py; not a test module itself.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from meilichat_cli.protocol.events import DECLARED_TOOLS

NO_KEY = object()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    def frames(self) -> list[str]:
        """The payloads of a complete SSE body (after the `retry:` preamble)."""
        text = self.raw.decode("utf-8")
        assert text.startswith("retry: 10000\n\n"), text[:40]
        blocks = text[len("retry: 10000\n\n") :].split("\n\n")
        assert blocks[-1] == "", "body must end with a blank line"
        payloads = []
        for block in blocks[:-1]:
            assert block.startswith("data: ") and "\n" not in block, block[:80]
            payloads.append(block[len("data: ") :])
        return payloads

    def events(self) -> list[Any]:
        """Parsed payloads; `[DONE]` stays a string."""
        return [p if p == "[DONE]" else json.loads(p) for p in self.frames()]


class Client:
    """One keep-alive connection to a server, with a default bearer key."""

    def __init__(self, url: str, key: str | None = None, timeout: float = 10) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        self.key = key

    def close(self) -> None:
        self.conn.close()

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        content_type: str | None = "application/json",
    ) -> Reply:
        sent = dict(headers or {})
        token = self.key if key is None else key
        if token is not NO_KEY and token is not None:
            sent["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None and content_type is not None:
            sent.setdefault("Content-Type", content_type)
        self.conn.request(method, path, body=data, headers=sent)
        response = self.conn.getresponse()
        payload = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, payload)


def ask_body(
    question: str = "Which space movies do you have?",
    *,
    model: str = "gpt-4o-mini",
    tools: tuple[str, ...] = DECLARED_TOOLS,
    messages: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    history = list(messages or [])
    history.append({"role": "user", "content": question})
    body: dict[str, Any] = {"model": model, "stream": True, "messages": history}
    if tools:
        body["tools"] = [{"type": "function", "function": {"name": name}} for name in tools]
    body.update(extra)
    return body


def tool_calls(events: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    """(tool name, parsed arguments) of every synthesized `_meili*` chunk, in order."""
    calls = []
    for event in events:
        if not isinstance(event, dict) or "choices" not in event or not event["choices"]:
            continue
        delta = event["choices"][0]["delta"] or {}
        for call in delta.get("tool_calls") or []:
            calls.append((call["function"]["name"], json.loads(call["function"]["arguments"])))
    return calls


def answer_text(events: list[Any], completion_id: str | None = None) -> str:
    parts = []
    for event in events:
        if not isinstance(event, dict) or not event.get("choices"):
            continue
        if completion_id is not None and event["id"] != completion_id:
            continue
        content = (event["choices"][0]["delta"] or {}).get("content")
        if isinstance(content, str):
            parts.append(content)
    return "".join(parts)


@dataclass
class RawStream:
    """A response read straight off the socket: each HTTP chunk with its arrival time."""

    status: int
    headers: dict[str, str]
    chunks: list[tuple[float, bytes]]
    clean_end: bool  # the terminating zero-length chunk (or the full Content-Length) arrived
    error: BaseException | None
    started: float
    ended: float = 0.0  # when the connection closed (or the read failed)

    @property
    def body(self) -> bytes:
        return b"".join(data for _, data in self.chunks)


def raw_stream(url: str, body: Any, key: str | None, *, timeout: float = 10) -> RawStream:
    """POST `body` to the completions route of `url` and read the reply chunk by chunk."""
    import socket
    import time

    parts = urlsplit(url)
    data = json.dumps(body).encode()
    head = (
        f"POST {parts.path or '/chats/demo/chat/completions'} HTTP/1.1\r\n"
        f"Host: {parts.hostname}:{parts.port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n"
    )
    if key is not None:
        head += f"Authorization: Bearer {key}\r\n"
    sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
    started = time.monotonic()
    sock.sendall(head.encode() + b"\r\n" + data)
    reader = sock.makefile("rb")
    chunks: list[tuple[float, bytes]] = []
    status, headers, clean, error = 0, {}, False, None
    try:
        status_line = reader.readline()
        if not status_line:
            raise ConnectionError("closed before any response")
        status = int(status_line.split()[1])
        while (line := reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding") == "chunked":
            while True:
                size_line = reader.readline()
                if not size_line:
                    break
                size = int(size_line.strip(), 16)
                if size == 0:
                    reader.readline()
                    clean = True
                    break
                payload = reader.read(size)
                if len(payload) < size:
                    chunks.append((time.monotonic(), payload))
                    break
                chunks.append((time.monotonic(), payload))
                reader.readline()
        else:
            length = int(headers.get("content-length", "0"))
            payload = reader.read(length)
            chunks.append((time.monotonic(), payload))
            clean = len(payload) == length
    except (OSError, ValueError) as exc:
        error = exc
    finally:
        reader.close()
        sock.close()
    return RawStream(status, headers, chunks, clean, error, started, time.monotonic())
