"""Running a batch of questions: N worker threads, one connection each, results in order.

`run_batch` hands the questions to `concurrency` daemon worker threads and gives each result
back to the calling thread (`emit`), in input order by default or as they finish. Each worker
thread owns one `MeiliClient` (`ThreadClients`) and runs one question at a time, so no more
than `concurrency` connections (and streams) are ever open.

`QuestionAnswerer` answers one question the way `ask --json` would (`session.run_turn` and
`session.summary`) and never raises for a failed question: a request refused before the stream
(HTTP error, refused connection) becomes a result with `complete: false` and the error in
`errors`, in the same `{type, code, message}` shape as stream errors. With `expect`, the
result also carries the retrieval figures (`retrieval_eval`). In a `--compare` run each
question is answered on both workspaces, one after the other, by the same worker; with
`--as A,B`, as each persona in turn (each persona has its own clients: its own bearer).

Stopping (Ctrl-C): the caller sets `stop`. Workers abandon the stream they are reading at
the next event, results already finished are still emitted (in order, skipping the
unfinished ones), and `run_batch` returns True. Nothing half-written ever reaches `emit`.

Never prints: failures are results, warnings go through `warn`. Imports the core (session,
client type, recorder, evaluation); not rich, typer or prompt_toolkit.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meilichat_cli.batch.evaluation import PrimaryKeys, evaluate, grounding
from meilichat_cli.batch.input import BatchItem
from meilichat_cli.chat.turn import TurnOutcome, run_turn, summary
from meilichat_cli.errors import ExitCode, MeilichatError, exit_code_for_kind, worst_exit_code
from meilichat_cli.protocol.conversation import Turn
from meilichat_cli.protocol.events import Event

if TYPE_CHECKING:
    from meilichat_cli.api.client import MeiliClient
    from meilichat_cli.local.connection import Connection

Result = dict[str, Any]
MIN_CONCURRENCY = 1
MAX_CONCURRENCY = 32
DEFAULT_CONCURRENCY = 4
SIDES = ("a", "b")


class Stopped(Exception):
    """Raised inside a worker to abandon its stream once the batch is being stopped."""


class ThreadClients:
    """One client per worker thread, created on first use, all closed together."""

    def __init__(self, open_client: Callable[[], MeiliClient]) -> None:
        self._open_client = open_client
        self._local = threading.local()
        self._lock = threading.Lock()
        self._clients: list[MeiliClient] = []

    def get(self) -> MeiliClient:
        client: MeiliClient | None = getattr(self._local, "client", None)
        if client is None:
            client = self._open_client()
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def close_all(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            # A worker may still be reading from it (Ctrl-C); closing is what stops it.
            with contextlib.suppress(Exception):
                client.close()


@dataclass
class BatchSettings:
    """Everything a question needs besides its own fields."""

    connection: Connection
    system: str | None = None
    primary_keys: PrimaryKeys = field(default_factory=PrimaryKeys)
    compare_with: str | None = None  # the second workspace of a --compare run
    # `--as A,B`: each question is answered as each persona, side by side (name -> connection
    # sending a tenant token signed for it).
    personas: dict[str, Connection] = field(default_factory=dict)
    save: bool = False
    history_db: Path | None = None


class QuestionAnswerer:
    """Answers one question (on one or two workspaces) and builds its result line."""

    def __init__(
        self,
        settings: BatchSettings,
        clients: ThreadClients,
        stop: threading.Event,
        *,
        warn: Callable[[str], None] = lambda _message: None,
        debug: Callable[[str], None] = lambda _message: None,
        clock: Callable[[], float] = time.monotonic,
        persona_clients: dict[str, ThreadClients] | None = None,
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.persona_clients = persona_clients or {}
        self.stop = stop
        self.warn = warn
        self.debug = debug
        self.clock = clock

    def workspace_for(self, item: BatchItem) -> str | None:
        return item.question.workspace or self.settings.connection.workspace

    def answer(self, item: BatchItem) -> Result:
        head: Result = {"id": item.question.id, "line": item.line, "question": item.question.text}
        workspace = self.workspace_for(item)
        assert workspace is not None, "checked before the batch starts"
        if self.settings.personas:
            sides = {
                name: self._answer_on(
                    item, workspace, connection=connection, clients=self.persona_clients[name]
                )
                for name, connection in self.settings.personas.items()
            }
            complete = all(side["complete"] for side in sides.values())
            return {**head, "complete": complete, "as": sides}
        other = self.settings.compare_with
        if other is None:
            return {**head, **self._answer_on(item, workspace)}
        a = self._answer_on(item, workspace)
        b = self._answer_on(item, other)
        return {**head, "complete": bool(a["complete"] and b["complete"]), "a": a, "b": b}

    def _check_stop(self, _event: Event) -> None:
        if self.stop.is_set():
            raise Stopped

    def _answer_on(
        self,
        item: BatchItem,
        workspace: str,
        *,
        connection: Connection | None = None,
        clients: ThreadClients | None = None,
    ) -> Result:
        if self.stop.is_set():
            raise Stopped
        question = item.question
        connection = connection or self.settings.connection
        clients = clients or self.clients
        model = question.model or connection.model
        new_messages = question.new_messages(self.settings.system)
        start = self.clock()
        refused = False
        try:
            outcome = run_turn(
                clients.get(),
                workspace=workspace,
                model=model,
                history=[],
                new_messages=new_messages,
                on_event=self._check_stop,
                clock=self.clock,
            )
        except MeilichatError as error:
            # Refused before the stream: no turn, but a result line like any other failure.
            outcome = self._refused(new_messages, error, start)
            refused = True
        except Stopped:
            raise
        except Exception as error:  # a bug: reported in the result (type "internal"), exit 1
            self.debug("".join(traceback.format_exception(error)))
            failure = MeilichatError(f"internal error ({type(error).__name__}: {error})")
            outcome = self._refused(new_messages, failure, start)
            refused = True
        conversation_id = None
        if self.settings.save and not refused:
            conversation_id = self._save(outcome, question.text, workspace, model, connection)
        identity: dict[str, Any] = {}
        if connection.persona is not None:
            identity["persona"] = connection.persona
        result = summary(
            outcome,
            conversation_id=conversation_id,
            profile=connection.profile,
            workspace=workspace,
            model=model,
            **identity,
        )
        if question.expect is not None:
            result.update(evaluate(result["searches"], question.expect, self.settings.primary_keys))
        result.update(grounding(result, self.settings.primary_keys, question.expect_index))
        return result

    def _refused(
        self, new_messages: list[dict[str, Any]], error: MeilichatError, start: float
    ) -> TurnOutcome:
        turn = Turn(prompt_messages=list(new_messages))
        turn.close()
        total = round((self.clock() - start) * 1000, 1)
        timings: dict[str, float | None] = {
            "first_search_ms": None,
            "first_token_ms": None,
            "total_ms": total,
        }
        return TurnOutcome(turn, timings=timings, error=error)

    def _save(
        self,
        outcome: TurnOutcome,
        question: str,
        workspace: str,
        model: str,
        connection: Connection,
    ) -> str | None:
        from meilichat_cli.chat.recorder import Recorder

        assert self.settings.history_db is not None
        recorder = Recorder(self.settings.history_db, enabled=True, warn=self.warn)
        try:
            recorder.record(
                outcome,
                question=question,
                connection=connection.replace(model=model),
                workspace=workspace,
            )
            return recorder.conversation_id
        finally:
            recorder.close()


def crash_result(item: BatchItem, error: Exception) -> Result:
    """The line written for a question whose answering crashed (a bug)."""
    message = f"internal error ({type(error).__name__}: {error})"
    return {
        "id": item.question.id,
        "line": item.line,
        "question": item.question.text,
        "complete": False,
        "errors": [{"type": "internal", "code": None, "message": message}],
    }


def has_internal_error(result: Result) -> bool:
    """Whether a result (or either side of a compare result) records a bug."""
    parts = [result, *(result[side] for side in SIDES if isinstance(result.get(side), dict))]
    personas = result.get("as")
    if isinstance(personas, dict):
        parts += [side for side in personas.values() if isinstance(side, dict)]
    return any(
        isinstance(error, dict) and error.get("type") == "internal"
        for part in parts
        for error in part.get("errors") or []
    )


def failure_exit_code(result: Result) -> ExitCode:
    """The exit code a failed result (or compare result) stands for: the worst class among
    its errors (a rejected key 3, the network 6, …); a failure that names none is 5."""
    parts = [result, *(result[side] for side in SIDES if isinstance(result.get(side), dict))]
    if isinstance(result.get("as"), dict):  # --as A,B: one answer per persona
        parts += [side for side in result["as"].values() if isinstance(side, dict)]
    codes = [
        exit_code_for_kind(error.get("type") if isinstance(error, dict) else None)
        for part in parts
        if part.get("complete") is not True
        for error in part.get("errors") or [None]
    ]
    worst = worst_exit_code(codes)
    return worst if worst != ExitCode.OK else ExitCode.API


def run_batch(
    items: Sequence[BatchItem],
    answer: Callable[[BatchItem], Result],
    *,
    concurrency: int,
    ordered: bool,
    emit: Callable[[BatchItem, Result], None],
    stop: threading.Event,
    poll_seconds: float = 0.1,
) -> bool:
    """Answer every item on `concurrency` threads; return True if stopped before the end."""
    concurrency = max(MIN_CONCURRENCY, min(MAX_CONCURRENCY, concurrency))
    work: queue.Queue[int | None] = queue.Queue()
    finished: queue.Queue[tuple[int, Result]] = queue.Queue()
    for index in range(len(items)):
        work.put(index)
    workers = min(concurrency, len(items))
    for _ in range(workers):
        work.put(None)

    def worker() -> None:
        while not stop.is_set():
            index = work.get()
            if index is None:
                return
            try:
                result = answer(items[index])
            except Stopped:
                return
            except Exception as error:  # never let a worker die silently: the batch would wait
                result = crash_result(items[index], error)
            # A stream broken by the shutdown itself is not a result worth keeping.
            if stop.is_set() and result.get("complete") is not True:
                return
            finished.put((index, result))

    for number in range(workers):
        # Daemon threads: after Ctrl-C the process may exit while one still waits on a socket.
        threading.Thread(target=worker, name=f"batch-worker-{number}", daemon=True).start()

    held: dict[int, Result] = {}
    next_index = 0
    remaining = len(items)

    def deliver(index: int, result: Result) -> None:
        nonlocal next_index
        if not ordered:
            emit(items[index], result)
            return
        held[index] = result
        while next_index in held:
            emit(items[next_index], held.pop(next_index))
            next_index += 1

    try:
        while remaining:
            if stop.is_set():
                break
            try:
                index, result = finished.get(timeout=poll_seconds)
            except queue.Empty:
                continue
            remaining -= 1
            deliver(index, result)
    except KeyboardInterrupt:
        stop.set()
    if not stop.is_set():
        return False
    # Stopped: keep every result that did finish, in input order, with gaps for the rest.
    while True:
        try:
            index, result = finished.get_nowait()
        except queue.Empty:
            break
        held[index] = result
    for index in sorted(held):
        emit(items[index], held[index])
    return True
