"""The official clients against the stand-in server: meilisearch-python's chat methods and the
`openai` package's streaming client, unchanged but for the one workaround every Meilisearch
stream needs with openai-python (it reads the leading `retry: 10000` frame as JSON).

Both packages are in the `test` extra, so CI runs these; each test is skipped, saying why,
where a package is not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from meilichat_cli.standin import StandInServer
from tests.conftest import MASTER_KEY

QUESTION = [{"role": "user", "content": "which space movies do you have?"}]
MEILI_TOOLS = [
    {"type": "function", "function": {"name": name}}
    for name in ("_meiliSearchProgress", "_meiliSearchSources", "_meiliAppendConversationMessage")
]


def _require(package: str) -> Any:
    return pytest.importorskip(
        package, reason=f"the `{package}` package is not installed (pip install -e '.[test]')"
    )


@pytest.fixture
def served(clean_env: dict[str, str]) -> Iterator[tuple[str, str]]:
    """`meilichat demo --serve` in a process of its own: (URL, chat key)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "meilichat_cli", "demo", "--serve", "--master-key", MASTER_KEY],
        env=clean_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        url = lines[0].split(" on ", 1)[1].split()[0]
        chat_key = lines[2].split(":", 1)[1].strip()
        yield url, chat_key
    finally:
        process.terminate()
        process.wait(timeout=10)


class DropRetryFrame(httpx.SyncByteStream):
    """The body of an event stream without its leading `retry: …` frame."""

    def __init__(self, inner: httpx.SyncByteStream) -> None:
        self.inner = inner

    def __iter__(self) -> Iterator[bytes]:
        head = b""
        chunks = iter(self.inner)
        for chunk in chunks:
            head += chunk
            if b"\n\n" in head or len(head) > 64:
                break
        if head.startswith(b"retry:") and b"\n\n" in head:
            head = head.split(b"\n\n", 1)[1]
        yield head
        yield from chunks

    def close(self) -> None:
        self.inner.close()


class RetryFrameWorkaround(httpx.BaseTransport):
    """openai-python parses `retry: 10000` as a JSON event and fails: drop that frame."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            return response
        assert isinstance(response.stream, httpx.SyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=DropRetryFrame(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self.inner.close()


def test_meilisearch_python_chat_methods_work_against_demo_serve(
    served: tuple[str, str],
) -> None:
    meilisearch = _require("meilisearch")
    url, chat_key = served
    admin = meilisearch.Client(url, MASTER_KEY)
    assert {"uid": "demo"} in admin.get_chat_workspaces()["results"]
    settings = admin.update_chat_workspace_settings("demo", {"prompts": {"system": "Be brief."}})
    assert settings["prompts"]["system"] == "Be brief."
    assert admin.get_chat_workspace_settings("demo")["apiKey"].endswith("XXXXXX...")

    chunks = list(
        meilisearch.Client(url, chat_key).create_chat_completion(
            "demo", messages=QUESTION, model="gpt-4o-mini"
        )
    )
    text = "".join(c["choices"][0]["delta"]["content"] or "" for c in chunks if c.get("choices"))
    assert "Interstellar" in text or "Space" in text, text
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_meilisearch_python_reports_meilisearch_errors(served: tuple[str, str]) -> None:
    meilisearch = _require("meilisearch")
    from meilisearch.errors import MeilisearchApiError

    url, _chat_key = served
    with pytest.raises(MeilisearchApiError) as caught:
        meilisearch.Client(url, MASTER_KEY).get_chat_workspace_settings("nope")
    assert caught.value.code == "chat_not_found"


def openai_client(
    server: StandInServer, *, workspace: str | None = None, workaround: bool = True
) -> Any:
    """The OpenAI SDK pointed at a workspace of `server`, with the retry-frame workaround."""
    openai = _require("openai")
    return openai.OpenAI(
        base_url=f"{server.url}/chats/{workspace or server.workspace}",
        api_key=server.chat_key,
        max_retries=0,
        http_client=httpx.Client(transport=RetryFrameWorkaround()) if workaround else None,
    )


def test_openai_streaming_client_reads_the_stream_with_the_retry_workaround() -> None:
    with StandInServer(master_key=MASTER_KEY) as server:
        client = openai_client(server)
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=QUESTION, stream=True, tools=MEILI_TOOLS
        )
        text, calls = "", []
        for chunk in stream:
            delta = chunk.choices[0].delta
            text += delta.content or ""
            # Every `_meili*` call is complete in its own chunk, all at index 0: read each one
            # on its own (the SDK's `.stream()` helper would merge them).
            for call in delta.tool_calls or []:
                calls.append((call.function.name, json.loads(call.function.arguments)))
    names = [name for name, _ in calls]
    assert names[:4] == [
        "_meiliSearchProgress",
        "_meiliAppendConversationMessage",
        "_meiliSearchSources",
        "_meiliAppendConversationMessage",
    ]
    sources = next(args["sources"] for name, args in calls if name == "_meiliSearchSources")
    assert sources and text


def test_openai_without_the_workaround_fails_on_the_retry_frame() -> None:
    """What the workaround is for: true against real Meilisearch too."""
    with StandInServer(master_key=MASTER_KEY) as server:
        client = openai_client(server, workaround=False)
        with pytest.raises(json.JSONDecodeError):
            for _chunk in client.chat.completions.create(
                model="gpt-4o-mini", messages=QUESTION, stream=True
            ):
                pass


def test_openai_sees_meilisearch_http_errors_with_their_body() -> None:
    openai = _require("openai")
    with StandInServer(master_key=MASTER_KEY) as server:
        client = openai_client(server, workspace="nope")
        with pytest.raises(openai.NotFoundError) as caught:
            client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION, stream=True)
    assert "Chat `nope` not found" in str(caught.value)
