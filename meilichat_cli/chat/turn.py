"""One turn of a conversation: send the messages, fold the stream into a `Turn`, time it.

Shared by `ask`, the REPL and `batch`, so they agree on what a turn is, how long it took and
which outcome is a failure. Output is somebody else's job: each event is handed to an
`on_event` callback as it arrives. Never prints.

Imports the protocol layer and `errors`; the client is passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from meilichat_cli.chat.cost import estimate_turn
from meilichat_cli.errors import MeilichatError, OutputError, StreamError
from meilichat_cli.protocol.conversation import (
    ERROR,
    INTERRUPTED,
    TRUNCATED,
    Message,
    Turn,
    build_request,
)
from meilichat_cli.protocol.events import (
    ConversationMessage,
    ErrorEvent,
    Event,
    SearchProgress,
    SearchSources,
    TextDelta,
)
from meilichat_cli.values import Value

if TYPE_CHECKING:
    from meilichat_cli.api.client import MeiliClient

# Answer text kept per turn. Far beyond any model's output limit: a server that keeps sending
# is broken or hostile, and the answer lives in memory, on screen and in history.
MAX_ANSWER_BYTES = 16 * 1024 * 1024
# Sources and conversation messages (`_meiliSearchSources`, `_meiliAppendConversationMessage`)
# kept per turn, together. What comes beyond is dropped with a warning: never shown, never
# kept in memory, never saved, never sent back.
MAX_CONTEXT_BYTES = 16 * 1024 * 1024
# Searches kept per turn (Meilisearch stops the model after 20 rounds).
MAX_SEARCHES = 1000


class TurnOutcome(Value):
    """A finished (or abandoned) turn with its timings and the error that ended it, if any."""

    __slots__ = ("dropped", "error", "estimate", "reader_left", "timings", "turn")

    def __init__(
        self,
        turn: Turn,
        timings: dict[str, float | None] | None = None,
        error: MeilichatError | None = None,
        reader_left: bool = False,
        dropped: list[str] | None = None,
        estimate: dict[str, Any] | None = None,
    ) -> None:
        self.turn = turn
        self.timings: dict[str, float | None] = {} if timings is None else timings
        # A transport/stream failure or a provider error event.
        self.error = error
        # Whoever read the output went away mid-answer (`meilichat ask … | head -1`): the
        # turn is kept as interrupted, and the caller leaves quietly once it is saved.
        self.reader_left = reader_left
        # Why events were dropped (a per-turn cap was hit): reported as errors of the turn.
        self.dropped: list[str] = [] if dropped is None else dropped
        # The token estimate of the turn (`chat.cost.estimate_turn`), set once the stream is
        # over.
        self.estimate = estimate

    @property
    def status(self) -> str:
        return self.turn.status or TRUNCATED

    @property
    def interrupted(self) -> bool:
        return self.turn.status == INTERRUPTED and not self.output_failed

    @property
    def output_failed(self) -> bool:
        """The answer stopped because the output could not be written."""
        return isinstance(self.error, OutputError)

    def local_errors(self) -> list[ErrorEvent]:
        """A stream that died on our side (cut, timeout, a limit) is an error of the turn
        too, though no event reported it; a provider error is already among the events."""
        limits = [ErrorEvent("limit", "turn_limit", message) for message in self.dropped]
        error = self.error
        if error is None or self.turn.status == ERROR:
            return limits
        return [*limits, ErrorEvent(error.kind, error.code, error.message)]


def run_turn(
    client: MeiliClient,
    *,
    workspace: str,
    model: str,
    history: list[Message],
    new_messages: list[Message],
    on_event: Callable[[Event], None],
    on_sent: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> TurnOutcome:
    """Send `history + new_messages`; return the outcome. `on_sent` is called once the
    request has gone out (the time to get ready while the server works), `on_event` per event.

    Ctrl-C while streaming closes the HTTP stream and returns the partial turn with status
    `interrupted`; the caller decides what that means (exit 130, or back to the prompt). So
    does a closed stdout raised by `on_event` (`reader_left`), so the partial turn is saved."""
    turn = Turn(prompt_messages=list(new_messages))
    outcome = TurnOutcome(turn)
    start = clock()
    first_search: float | None = None
    first_token: float | None = None
    answer_bytes = 0
    context_bytes = 0
    searches = 0

    def drop(what: str) -> None:
        if what not in outcome.dropped:
            outcome.dropped.append(what)
            client.warn(f"{what}; the rest was dropped (not shown, not saved)")

    def elapsed(moment: float | None) -> float | None:
        return None if moment is None else round((moment - start) * 1000, 1)

    body = build_request(model, [*history, *new_messages])
    # Failures before the stream starts raise from here: there is no turn to keep.
    stream = client.stream_chat(workspace, body, on_sent=on_sent)
    try:
        for event in stream:
            if type(event) is TextDelta:
                # Nearly every event: only the answer's size and the first token's time to
                # keep here, and no clock read (the turn folds it in as any other event).
                text = event.text
                if text:
                    # One byte per character when ASCII (known without encoding it).
                    answer_bytes += (
                        len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
                    )
                    if answer_bytes > MAX_ANSWER_BYTES:
                        raise StreamError(
                            f"answer exceeds {MAX_ANSWER_BYTES // (1024 * 1024)} MiB limit",
                            hint="the partial answer is kept",
                        )
                    if first_token is None:
                        first_token = clock()
                turn.feed(event)
                on_event(event)
                continue
            if isinstance(event, (SearchSources, ConversationMessage)):
                context_bytes += _payload_bytes(event)
                if context_bytes > MAX_CONTEXT_BYTES:
                    drop(
                        f"sources and conversation messages exceed the"
                        f" {MAX_CONTEXT_BYTES // (1024 * 1024)} MiB limit of one turn"
                    )
                    continue
            elif isinstance(event, SearchProgress):
                searches += 1
                if searches > MAX_SEARCHES:
                    drop(f"more than {MAX_SEARCHES} searches in one turn")
                    continue
                if first_search is None:
                    first_search = clock()
            # Only searches are timed; a text delta (nearly every event) reads no clock.
            searching = isinstance(event, (SearchProgress, SearchSources))
            turn.feed(event, at_ms=elapsed(clock()) if searching else None)
            on_event(event)
    except (KeyboardInterrupt, BrokenPipeError) as stop:
        stream.close()
        turn.close(interrupted=True)
        outcome.reader_left = isinstance(stop, BrokenPipeError)
        outcome.timings = _timings(elapsed, first_search, first_token, clock())
        outcome.estimate = estimate_turn(history, new_messages, turn)
        return outcome
    except OSError as failure:
        # The output cannot be written (disk full, a file-size limit): stop reading, and
        # keep what arrived as interrupted, so the caller saves it before reporting.
        stream.close()
        turn.close(interrupted=True)
        outcome.error = output_error(failure)
        outcome.timings = _timings(elapsed, first_search, first_token, clock())
        outcome.estimate = estimate_turn(history, new_messages, turn)
        return outcome
    except MeilichatError as error:
        outcome.error = error
    finally:
        stream.close()
    status = turn.close()
    outcome.timings = _timings(elapsed, first_search, first_token, clock())
    outcome.estimate = estimate_turn(history, new_messages, turn)
    if outcome.error is None and status == ERROR:
        fatal = turn.fatal_error
        assert fatal is not None
        outcome.error = StreamError(
            f"The server reported an error: {fatal.message}",
            code=fatal.code,
            hint=_provider_hint(fatal.code, fatal.type),
        )
    if outcome.error is None and status == TRUNCATED:
        # [DONE] with no finish chunk: Meilisearch ends a turn that way only when the model
        # is still calling tools after its 20th round (docs/protocol.md#which-chunks-appear).
        outcome.error = StreamError(
            "The answer did not finish: Meilisearch gave up after 20 rounds of the model"
            " calling tools",
            hint="the partial answer is kept; ask a narrower question, or check the"
            " workspace's prompts (`meilichat workspace show`)",
        )
    if outcome.error is not None and turn.status not in (ERROR, INTERRUPTED):
        turn.status = TRUNCATED
    return outcome


def output_error(failure: OSError, *, saved: bool = True) -> OutputError:
    """The error for output that cannot be written (stdout, a batch output file)."""
    reason = failure.strerror or type(failure).__name__
    where = f" {failure.filename}" if failure.filename else ""
    kept = "; the answer so far is saved in history (`meilichat history list`)" if saved else ""
    return OutputError(
        f"cannot write the output{where}: {reason}",
        hint=f"free some space or write the output elsewhere{kept}",
    )


def _payload_bytes(event: SearchSources | ConversationMessage) -> int:
    """The size of what the event adds to the turn, as JSON (how it is stored)."""
    import json

    payload = event.sources if isinstance(event, SearchSources) else event.message
    try:
        return len(json.dumps(payload, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    except (ValueError, TypeError, RecursionError):
        return MAX_CONTEXT_BYTES + 1


def _timings(
    elapsed: Callable[[float | None], float | None],
    first_search: float | None,
    first_token: float | None,
    end: float,
) -> dict[str, float | None]:
    return {
        "first_search_ms": elapsed(first_search),
        "first_token_ms": elapsed(first_token),
        "total_ms": elapsed(end),
    }


def _provider_hint(code: str | None, kind: str) -> str | None:
    if code == "invalid_api_key":
        return "the workspace's LLM provider key was refused; fix it with `meilichat workspace set`"
    if code == "model_not_found":
        return "the model is unknown to the provider; pick another with -m/--model"
    if kind in ("transport_error", "internal_reqwest_error"):
        return "Meilisearch could not reach the LLM provider"
    return None


def summary(outcome: TurnOutcome, **identity: Any) -> dict[str, Any]:
    """The result object of `--json` (and the `done` event of `--events`).

    The answer and the sources are exact (JSON-escaped by the writer); the error messages are
    one-line texts for people and are cleaned like every other message (`sanitize_line`)."""
    from meilichat_cli.text.sanitize import sanitize_line

    turn = outcome.turn
    return {
        "answer": turn.answer,
        "complete": turn.complete and outcome.error is None,
        "finish_reason": turn.finish_reason,
        "searches": [search.to_json() for search in turn.searches],
        "errors": [
            {"type": error.type, "code": error.code, "message": sanitize_line(error.message)}
            for error in [*turn.errors, *outcome.local_errors()]
        ]
        + (
            [{"type": "interrupted", "code": None, "message": "stopped before the answer ended"}]
            if outcome.interrupted
            else []
        ),
        **identity,
        "usage": turn.usage,
        "timings": outcome.timings,
        "estimate": outcome.estimate,
    }
