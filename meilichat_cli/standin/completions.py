"""`POST /chats/{ws}/chat/completions`: the checks of docs/protocol.md#order-of-checks, then the
streamed rounds of docs/protocol.md#the-stream.

`prepare()` runs the checks in Meilisearch's order and returns either an error (raised as
`MeiliError`) or a `CompletionStream` whose `run(writer)` produces the body:

    retry: 10000
    round 1 (id A): role chunk, "I'll search for … now.", then per search: progress,
                    assistant tool-call message, [search], sources, tool result message
                    (or an error event when the search failed)
    [round 2 (id B): a retry of failed searches, when the model decides to retry]
    last round:     role chunk, the answer in small deltas, finish chunk (stop)
    data: [DONE]

Only the `_meili*` tools the client declared produce chunks. Scenarios (`scenarios.py`) bend
this at named points: before the first byte, at the Nth answer delta, in the framing.

Stdlib only; imports `server.*`, `protocol.events` and `protocol.template`.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from meilichat_cli.errors import TemplateError
from meilichat_cli.protocol.events import APPEND_TOOL, PROGRESS_TOOL, SOURCES_TOOL
from meilichat_cli.standin import model, scenarios
from meilichat_cli.standin.apierror import (
    MeiliError,
    chat_not_found_settings,
    feature_not_enabled,
    invalid_api_key,
)
from meilichat_cli.standin.auth import Principal, index_allowed
from meilichat_cli.standin.chunked import ChunkedWriter, ClientGone
from meilichat_cli.standin.filters import FilterAttributeError, FilterSyntaxError
from meilichat_cli.standin.httpmsg import DropConnection, Request, Response
from meilichat_cli.standin.requestcheck import check_choices, check_request, declared_tools
from meilichat_cli.standin.scenarios import Scenario
from meilichat_cli.standin.state import ServerState
from meilichat_cli.standin.stream import (
    DONE_FRAME,
    RETRY_PREAMBLE,
    ChunkFactory,
    Round,
    assistant_call_message,
    compact_json,
    error_payload,
    frame,
    new_call_id,
    progress_arguments,
    search_arguments,
    sources_arguments,
    tool_result_message,
)
from meilichat_cli.text.template import parse, render_document

MAX_ROUNDS = 20
BROKEN_FILTER = "year >"  # what the `search-error` scenario makes the model write
FORCED_SEARCH_FAILURES = {
    "index_not_found": "Index `{index}` not found.",
    "invalid_api_key": "The provided API key is invalid.",
    "too_many_search_requests": (
        "Too many search requests running at the same time: 1000. Retry after 10s."
    ),
}
RETRYABLE = frozenset({"invalid_search_filter", "too_many_search_requests"})


class ServerClosing(Exception):
    """The server is shutting down: stop streaming now."""


@dataclass
class StreamSettings:
    """Per-server knobs a stream needs besides the request."""

    token_delay: float
    stopping: threading.Event


# ---------------------------------------------------------------------------------------------
# Before the stream.


def proxy_fault(request: Request, state: ServerState, default: Scenario | None) -> Response | None:
    """The answer of a scenario that replaces the whole response (a proxy or a 503)."""
    scenario = scenarios.select(_model_of(request.raw), default)
    if scenario is None or scenario.name not in scenarios.PRE_STREAM:
        return None
    if scenario.name == "http-502":
        return Response(502, scenarios.bad_gateway_page(), {"Content-Type": "text/html"})
    if scenario.name == "html-200":
        return Response(200, scenarios.captive_portal_page(), {"Content-Type": "text/html"})
    if scenario.name == "redirect":
        host = request.header("host") or "127.0.0.1"
        location = scenario.text("location", f"https://{host}{request.path}")
        return Response(
            301,
            scenarios.redirect_page(location),
            {"Location": location, "Content-Type": "text/html"},
        )
    if scenario.name == "unavailable-then-ok":
        if state.bump("unavailable-then-ok") > scenario.integer("times", 1):
            return None
        error = MeiliError(
            scenario.integer("status", 503),
            "too_many_search_requests",
            "Too many search requests running at the same time: 1000. Retry after 10s.",
        )
        response = Response.error(error)
        response.headers["Retry-After"] = scenario.text("retry_after", "10")
        return response
    if scenario.name == "stall-headers":
        raise DropConnection(delay=scenario.number("seconds", 5))
    return None


def _model_of(raw: bytes) -> Any:
    try:
        body = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    return body.get("model") if isinstance(body, dict) else None


def prepare(
    request: Request,
    workspace: str,
    who: Principal,
    state: ServerState,
    default: Scenario | None,
    settings: StreamSettings,
) -> CompletionStream:
    """Run the checks of docs/protocol.md#order-of-checks after authentication; return the
    stream to send."""
    body = request.json_body()
    check_request(body, request.raw)
    if not state.features["chatCompletions"]:
        raise feature_not_enabled("using the /chats chat completions route")
    check_choices(body)
    if body.get("stream") is not True:
        raise MeiliError(
            501,
            "unimplemented_non_streaming_chat_completions",
            "Non-streamed chat completions is not implemented",
        )
    with state.lock:
        workspace_settings = copy.deepcopy(state.workspaces.get(workspace))
    if workspace_settings is None:
        raise chat_not_found_settings(workspace)
    if state.master_key is None and request.header("authorization") is None:
        # Meilisearch unwraps the missing token here, before it looks at the tools, and the
        # worker panics (`streamed_chat`; docs/protocol.md#errors-before-the-stream).
        raise DropConnection()
    declared = declared_tools(body)
    return CompletionStream(
        body=body,
        who=who,
        state=state,
        workspace=workspace_settings,
        declared=declared,
        scenario=scenarios.select(body.get("model"), default),
        settings=settings,
        workspace_name=workspace,
    )


# ---------------------------------------------------------------------------------------------
# The stream.


@dataclass
class CompletionStream:
    body: dict[str, Any]
    who: Principal
    state: ServerState
    workspace: dict[str, Any]
    declared: set[str]
    scenario: Scenario | None
    settings: StreamSettings
    writer: ChunkedWriter | None = None
    workspace_name: str = ""
    factory: ChunkFactory = field(init=False)

    def __post_init__(self) -> None:
        self.factory = ChunkFactory(str(self.body.get("model")), self.workspace["source"])

    # -- framing ------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.scenario.name if self.scenario else ""

    @property
    def framing(self) -> frozenset[str]:
        return self.scenario.framing if self.scenario else frozenset()

    @property
    def content_type(self) -> str:
        if "latin1" in self.framing:
            return "text/event-stream; charset=latin-1"
        return "text/event-stream"

    def send(self, data: bytes) -> None:
        assert self.writer is not None
        if "tight" in self.framing:
            data = data.replace(b"data: ", b"data:")
        if "crlf" in self.framing:
            data = data.replace(b"\n", b"\r\n")
        elif "cr" in self.framing:
            data = data.replace(b"\n", b"\r")
        if "split-utf8" in self.framing:
            for i in range(len(data)):
                self.writer.write(data[i : i + 1])
            return
        self.writer.write(data)

    def event(self, payload: dict[str, Any]) -> None:
        if "comments" in self.framing:
            self.send(b": ping\n\nevent: ping\n\n")
        self.send(frame(payload))

    def pause(self, seconds: float) -> None:
        if seconds > 0 and self.settings.stopping.wait(seconds):
            raise ServerClosing()

    # -- the run ------------------------------------------------------------------------------

    def run(self, writer: ChunkedWriter) -> str:
        """Write the whole body; return how it ended ("done", "cut", "abort", "reset")."""
        self.writer = writer
        scenario = self.scenario
        if "bom" in self.framing:
            self.send(b"\xef\xbb\xbf")
        self.send(RETRY_PREAMBLE)
        if scenario and self.name == "first-delay":
            self.pause(scenario.number("ms", 300) / 1000)
        if scenario and not scenario.known:
            return self.provider_error(
                "invalid_request_error",
                "model_not_found",
                f"The model `{self.body.get('model')}` does not exist or you do not have "
                "access to it.",
            )
        if scenario and self.name == "provider-error" and "after" not in scenario.params:
            return self.scenario_provider_error(scenario)
        problem = self.provider_key_problem()
        if problem is not None:
            return self.provider_error("invalid_request_error", "invalid_api_key", problem)
        if self.name == "max-rounds":
            return self.run_max_rounds()
        answer = self.think()
        return self.answer_round(answer)

    def provider_key_problem(self) -> str | None:
        """Why the fake provider refuses the workspace's key, if it does
        (docs/protocol.md#in-band-errors)."""
        if self.workspace["source"] == "vLlm":
            return None
        key = self.workspace.get("apiKey")
        if not key:
            return (
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
        if "invalid" in key.lower():
            shown = key[:3] + "*" * max(len(key) - 7, 0) + key[-4:]
            return (
                f"Incorrect API key provided: {shown}. You can find your API key at "
                "https://platform.openai.com/account/api-keys."
            )
        return None

    def provider_error(self, error_type: str, code: str | None, message: str) -> str:
        self.event(error_payload(error_type, code, message))
        self.send(DONE_FRAME)
        return "done"

    def scenario_provider_error(self, scenario: Scenario) -> str:
        return self.provider_error(
            scenario.text("type", "invalid_request_error"),
            scenario.text("code", "invalid_api_key") or None,
            scenario.text(
                "message",
                "Incorrect API key provided: sk-inv**********7890. You can find your API key "
                "at https://platform.openai.com/account/api-keys.",
            ),
        )

    # -- the model's rounds ---------------------------------------------------------------

    def allowed_indexes(self) -> list[str]:
        """The indexes the search tool offers: those the key (and token) may access."""
        uids = list(self.state.indexes)
        if self.who.key is None:
            return uids
        allowed = [uid for uid in uids if index_allowed(self.who.key.indexes, uid)]
        if self.who.search_rules is not None:
            allowed = [uid for uid in allowed if index_allowed(list(self.who.search_rules), uid)]
        return allowed

    def think(self) -> str:
        """Rounds before the answer (searching); returns the answer text."""
        messages = [m for m in self.body["messages"] if isinstance(m, dict)]
        data = {uid: index.data for uid, index in self.state.indexes.items()}
        plan = model.plan(messages, self.allowed_indexes(), data)
        if plan.reference is not None:
            return model.compose_follow_up(plan.reference)
        if plan.small_talk:
            return model.compose_small_talk(self.allowed_indexes())
        if self.name == "no-search" or self.body.get("tool_choice") == "none":
            return (
                "I answered without searching, so I have no documents to cite for "
                f"“{plan.question}”."
            )
        if not plan.searches:
            return "There is no index I am allowed to search, so I cannot answer from documents."
        if not self.state.version.filter_argument:
            for planned in plan.searches:  # before 1.16 the search tool has no `filter`
                planned.filter = ""
        if self.name == "search-error":
            assert self.scenario is not None
            code = self.scenario.text("code", "invalid_search_filter")
            plan.searches[0].filter = (
                BROKEN_FILTER if code == "invalid_search_filter" else (plan.searches[0].filter)
            )
        first = self.factory.new_round()
        if self.name != "tool-first":
            self.event(self.factory.role(first))
            self.content(first, model.preface(plan.searches))
        outcomes = [
            self.search(first, planned, force=self.name == "search-error" and n == 0)
            for n, planned in enumerate(plan.searches)
        ]
        failed = [o for o in outcomes if o.failure_code in RETRYABLE]
        if failed:
            retry = self.factory.new_round()
            self.event(self.factory.role(retry))
            self.content(retry, model.retry_preface(failed))
            for position, outcome in enumerate(outcomes):
                if outcome.failure_code in RETRYABLE:
                    again = model.PlannedSearch(outcome.search.index_uid, outcome.search.q, "")
                    outcomes[position] = self.search(retry, again, force=False)
        answer = model.compose_answer(plan.question, outcomes)
        # The client concatenates every round's text: keep the preface its own paragraph.
        return answer if self.name == "tool-first" else "\n\n" + answer

    def content(self, round_: Round, text: str) -> None:
        self.event(self.factory.content(round_, text))
        self.pause(self.settings.token_delay)

    def tool(self, round_: Round, name: str, arguments: dict[str, Any]) -> None:
        if name in self.declared:
            self.event(self.factory.tool(round_, name, arguments))

    def search(
        self, round_: Round, planned: model.PlannedSearch, *, force: bool
    ) -> model.SearchOutcome:
        """One `_meiliSearchInIndex` call and its synthesized chunks
        (docs/protocol.md#the-_meili-tools)."""
        call_id = new_call_id()
        arguments = search_arguments(
            planned.index_uid,
            planned.q,
            planned.filter if self.state.version.filter_argument else None,
        )
        self.tool(round_, PROGRESS_TOOL, progress_arguments(call_id, arguments))
        self.tool(round_, APPEND_TOOL, assistant_call_message(call_id, arguments))
        outcome = self.execute(planned, force=force)
        if outcome.failure_code is None:
            sources = outcome.documents
            if self.name == "escapes" and sources:
                sources = [dict(sources[0], title=scenarios.ESCAPES_TITLE), *sources[1:]]
            self.tool(round_, SOURCES_TOOL, sources_arguments(call_id, sources))
            content = (
                outcome.failure
                if outcome.failure is not None
                else self.render(planned.index_uid, outcome.documents)
            )
            self.tool(round_, APPEND_TOOL, tool_result_message(call_id, content))
        else:
            assert outcome.failure is not None
            self.tool(
                round_,
                APPEND_TOOL,
                tool_result_message(call_id, f"the search tool call failed with {outcome.failure}"),
            )
            self.event(error_payload("response_error", outcome.failure_code, outcome.failure))
        return outcome

    def execute(self, planned: model.PlannedSearch, *, force: bool) -> model.SearchOutcome:
        """Run one search as Meilisearch would on the model's behalf."""
        outcome = model.SearchOutcome(search=planned)
        uid = planned.index_uid
        code = self.scenario.text("code", "invalid_search_filter") if self.scenario else ""
        if force and code in FORCED_SEARCH_FAILURES:
            outcome.failure_code = code
            outcome.failure = FORCED_SEARCH_FAILURES[code].format(index=uid)
            return outcome
        if not self.who.may("search", uid):
            outcome.failure_code, outcome.failure = "invalid_api_key", invalid_api_key().message
            return outcome
        index = self.state.indexes.get(uid)
        if index is None:
            outcome.failure_code, outcome.failure = "index_not_found", f"Index `{uid}` not found."
            return outcome
        chat = index.chat
        try:
            parse(chat["documentTemplate"])
        except TemplateError as exc:
            outcome.failure_code = "invalid_chat_setting_document_template"
            outcome.failure = (
                f"Index `{uid}`: the chat `documentTemplate` is invalid: {exc.message}"
            )
            return outcome
        params = chat.get("searchParameters", {})
        try:
            result = self.state.engine.search(
                uid,
                planned.q,
                filter_expr=planned.filter or None,
                extra_filter=self.who.tenant_filter(uid),
                limit=params.get("limit", 20),
                sort=params.get("sort"),
                matching_strategy=params.get("matchingStrategy", "last"),
            )
        except FilterSyntaxError as exc:
            outcome.failure_code, outcome.failure = "invalid_search_filter", str(exc)
            return outcome
        except FilterAttributeError as exc:
            # A "user error" raised while searching: empty sources, the message as content.
            outcome.failure = str(exc)
            return outcome
        outcome.documents = [copy.deepcopy(doc) for doc in result.hits]
        return outcome

    def render(self, uid: str, documents: list[dict[str, Any]]) -> str:
        index = self.state.indexes[uid]
        template = parse(index.chat["documentTemplate"])
        return "\n".join(
            render_document(
                template,
                doc,
                searchable=index.data.searchable,
                max_bytes=index.chat["documentTemplateMaxBytes"],
            )
            for doc in documents
        )

    def run_max_rounds(self) -> str:
        """A model that never stops searching: 20 rounds, then [DONE] with no finish chunk."""
        messages = [m for m in self.body["messages"] if isinstance(m, dict)]
        data = {uid: index.data for uid, index in self.state.indexes.items()}
        plan = model.plan(messages, self.allowed_indexes(), data)
        planned = plan.searches[0] if plan.searches else model.PlannedSearch("movies", "")
        for _ in range(MAX_ROUNDS):
            round_ = self.factory.new_round()
            self.event(self.factory.role(round_))
            self.content(round_, model.preface([planned]))
            self.search(round_, planned, force=False)
        self.send(DONE_FRAME)
        return "done"

    # -- the answer -----------------------------------------------------------------------

    def answer_deltas(self, answer: str) -> list[str]:
        scenario = self.scenario
        if scenario is None:
            return model.split_into_deltas(answer)
        if self.name in ("long", "paced"):
            deltas = scenarios.long_answer_deltas(scenario.integer("tokens", 2000))
            # When the composed answer opens a paragraph after the round's preface, so
            # does the long one, or its first heading would be glued to "… now.".
            if deltas and answer.startswith("\n\n"):
                deltas[0] = "\n\n" + deltas[0]
            return deltas
        if self.name == "flood":
            return scenarios.flood_deltas(scenario.integer("events", 10000))
        if self.name == "escapes":
            return scenarios.escapes_deltas()
        if self.name == "lone-surrogate":
            return ["Before ", "\ud800", " after."]
        if self.name == "invalid-utf8":
            return ["Bytes: ", "@@INVALID-UTF8@@", " end."]
        deltas = model.split_into_deltas(answer)
        if self.name == "length":
            return deltas[: max(len(deltas) // 2, 1)]
        return deltas

    def delta_interval(self) -> float:
        scenario = self.scenario
        if scenario and self.name == "drip":
            return scenario.number("interval", 0.2)
        if scenario and self.name == "paced":
            rate = scenario.number("rate", 100)
            return 1 / rate if rate > 0 else 0
        if self.name == "flood":  # as fast as the socket allows, whatever the token delay
            return 0
        return self.settings.token_delay

    def content_frame(self, round_: Round, text: str) -> bytes:
        payload = compact_json(self.factory.content(round_, text))
        if self.name == "lone-surrogate":
            payload = payload.replace("\ud800", "\\ud800")
        data = frame(payload)
        if self.name == "invalid-utf8":
            data = data.replace(b"@@INVALID-UTF8@@", b"\xff\xfe\xc3(")
        return data

    def fault_at(self, position: int) -> str | None:
        """Run the scenario's mid-answer fault if it fires at this delta; return its ending."""
        scenario = self.scenario
        if scenario is None or scenario.integer("after", 3) != position:
            return None
        assert self.writer is not None
        if self.name == "cut":
            return "cut"
        if self.name == "reset":
            self.writer.reset()
            return "reset"
        if self.name == "stall":
            self.pause(scenario.number("seconds", 5))
            self.writer.abort()
            return "abort"
        if self.name == "provider-error":
            return self.scenario_provider_error(scenario)
        if self.name == "malformed":
            self.send(b'data: {"choices":[\n\n')
            self.writer.abort()
            return "abort"
        return None

    def answer_round(self, answer: str) -> str:
        final = self.factory.new_round()
        self.event(self.factory.role(final))
        if self.name == "huge-line":
            return self.huge_line(final)
        if self.name == "wrong-shape":
            self.wrong_shape(final)
        interval = self.delta_interval()
        deltas = self.answer_deltas(answer)
        for position, text in enumerate(deltas):
            ending = self.fault_at(position)
            if ending is not None:
                return ending
            if "comments" in self.framing:
                self.send(b": ping\n\n")
            self.send(self.content_frame(final, text))
            if position + 1 < len(deltas):
                self.pause(interval)
        ending = self.fault_at(len(deltas))
        if ending is not None:
            return ending
        usage = None
        if self.name == "usage":
            usage = {
                "prompt_tokens": 512,
                "completion_tokens": len(deltas),
                "total_tokens": 512 + len(deltas),
            }
        reason = "length" if self.name == "length" else "stop"
        # The server-side counters of `/metrics`: the stand-in's tokens are characters / 4.
        prompt_chars = len(json.dumps(self.body.get("messages"), ensure_ascii=False))
        self.state.count_chat_tokens(
            self.workspace_name,
            str(self.body.get("model")),
            prompt_chars // 4 + 1,
            len(answer) // 4 + 1,
        )
        self.event(self.factory.finish(final, reason, usage))
        if self.name == "no-done":
            return "cut"
        self.send(DONE_FRAME)
        return "done"

    def huge_line(self, round_: Round) -> str:
        """One enormous `data:` line, streamed in pieces, never finished."""
        assert self.scenario is not None and self.writer is not None
        size = int(self.scenario.number("mib", 100) * 1024 * 1024)
        head = frame(self.factory.content(round_, "x"))
        prefix = head[: head.index(b'"content":"') + len(b'"content":"')]
        self.send(prefix)
        piece = b"a" * 65536
        sent = len(prefix)
        while sent < size:
            if self.settings.stopping.is_set():
                raise ServerClosing()
            chunk = piece[: min(len(piece), size - sent)]
            self.send(chunk)
            sent += len(chunk)
        self.writer.abort()
        return "abort"

    def wrong_shape(self, round_: Round) -> None:
        """Chunks that parse as JSON but bend the chunk shape (docs/reliability.md, row 12)."""
        assert self.scenario is not None
        kinds = self.scenario.text("kind", "empty-choices,null-delta").split(",")
        if "empty-choices" in kinds:
            chunk = self.factory.content(round_, "")
            chunk["choices"] = []
            self.event(chunk)
        if "null-delta" in kinds:
            chunk = self.factory.content(round_, "")
            chunk["choices"][0]["delta"] = None
            self.event(chunk)
        if "number-content" in kinds:
            chunk = self.factory.content(round_, "")
            chunk["choices"][0]["delta"]["content"] = 42
            self.event(chunk)


def run_stream(stream: CompletionStream, writer: ChunkedWriter) -> tuple[str, bool]:
    """Run a stream; (ending, client_went_away). ServerClosing ends it abruptly."""
    try:
        return stream.run(writer), False
    except ClientGone:
        return "gone", True
    except ServerClosing:
        writer.abort()
        return "abort", False
