"""The four ways an answer leaves meilichat, chosen once per run.

- `TerminalOutput`: streamed markdown (block-commit renderer), a transient search status,
  the sources after the answer.
- `PlainOutput`: the answer text alone on stdout as it arrives; notes on stderr.
- `JsonOutput`: one result object on stdout when the turn is over.
- `EventsOutput`: NDJSON, one line per event as it happens, ending with `done`.

Every sink gets the same events (`on_event`) and then `finish(outcome, identity)`. Text meant
for people is sanitized here (the terminal's answer text by the renderer's `feed`, which
sanitizes whatever it is given); JSON escapes instead. rich is imported only by the terminal
sink, and only when the first thing needs painting. Must not import httpx or typer.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from meilichat_cli.protocol.events import (
    ConversationMessage,
    ErrorEvent,
    Event,
    Finished,
    SearchProgress,
    SearchSources,
    TextDelta,
)
from meilichat_cli.text.sanitize import sanitize, sanitize_line
from meilichat_cli.ui.json_output import write_json

if TYPE_CHECKING:
    from rich.console import Console

    from meilichat_cli.chat.turn import TurnOutcome
    from meilichat_cli.local.context import RunContext
    from meilichat_cli.protocol.conversation import Search
    from meilichat_cli.ui.stream import MarkdownStream


class Output(Protocol):
    def before_request(self, model: str | None = None) -> None:
        """The request is about to go out: note when, and that we wait for `model`."""

    def request_sent(self) -> None:
        """The request has gone out: get ready while the server searches and the model
        thinks (and, on a terminal, show that we are waiting)."""

    def on_event(self, event: Event) -> None: ...

    def cancel(self) -> None:
        """The request failed (or was interrupted) before any outcome: take down whatever
        `before_request` put up, leaving no trace."""

    def finish(self, outcome: TurnOutcome, identity: dict[str, Any]) -> None: ...


def search_status(progress: SearchProgress) -> str:
    index = progress.index_uid or "the indexes"
    text = f'searching {index} for "{progress.q or ""}"'
    if progress.filter:
        text += f" where {progress.filter}"
    return sanitize_line(text)


def waiting_status(model: str | None) -> str:
    return sanitize_line(f"waiting for {model or 'the model'}…")


def warnings_for(outcome: TurnOutcome) -> list[str]:
    """The non-fatal problems a person should hear about after an answer."""
    notes = [f"search failed: {e.message}" for e in outcome.turn.errors if e.is_search_error]
    if outcome.turn.finish_reason == "length":
        notes.append("answer was cut off by the model's length limit")
    elif outcome.turn.finish_reason == "content_filter":
        notes.append("answer was stopped by the provider's content filter")
    return notes


class StatusLine:
    """A transient one-line status on a terminal stderr, redrawn in place (`\\r`, erase line)
    and erased for good by `clear()`. With `since`, it counts the seconds from then; a daemon
    thread redraws it a few times a second. Thread-safe."""

    _ERASE = "\r\x1b[2K"

    def __init__(self, stream: TextIO, width: int = 80) -> None:
        self._stream = stream
        self._width = max(10, width)
        self._lock = threading.Lock()
        self._text: str | None = None
        self._since: float | None = None
        self._drawn = False
        self._closed = False
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def show(self, text: str, *, since: float | None = None) -> None:
        with self._lock:
            if self._closed:
                return
            self._text, self._since = sanitize_line(text), since
            self._draw()
            if since is not None and self._thread is None:
                self._thread = threading.Thread(target=self._tick, daemon=True)
                self._thread.start()

    def clear(self) -> None:
        """Erase the status and never draw again."""
        with self._lock:
            self._closed = True
            self._wake.set()
            if self._drawn:
                self._write(self._ERASE)
                self._drawn = False
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _tick(self) -> None:
        while not self._wake.wait(0.1):
            with self._lock:
                if self._closed:
                    return
                self._draw()

    def _draw(self) -> None:
        if self._text is None:
            return
        text = self._text
        if self._since is not None:
            text += f" {max(0.0, time.monotonic() - self._since):.1f}s"
        if len(text) >= self._width:
            text = text[: self._width - 2] + "…"
        self._write(self._ERASE + text)
        self._drawn = True

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            self._closed = True


class PlainOutput:
    """Answer text to stdout, unadorned, flushed as it arrives.

    With stderr on a terminal, a transient status (waiting, then searching) is drawn there
    until the answer starts, and erased before its first character: stdout may be that same
    terminal (`meilichat ask … | cat`), so status and answer never share a line. Searches run
    after the answer started are not drawn."""

    def __init__(self, ctx: RunContext, *, show_sources: bool = False) -> None:
        self.ctx = ctx
        self.show_sources = show_sources
        self._last_char = "\n"
        self._status = StatusLine(ctx.stderr, _terminal_width(ctx)) if ctx.stderr_isatty else None

    def before_request(self, model: str | None = None) -> None:
        if self._status is not None:
            self._status.show(waiting_status(model), since=time.monotonic())

    def request_sent(self) -> None:
        pass

    def cancel(self) -> None:
        self._clear_status()

    def _clear_status(self) -> None:
        if self._status is not None:
            self._status.clear()
            self._status = None

    def on_event(self, event: Event) -> None:
        if type(event) is TextDelta:
            text = sanitize(event.text)
            if text:
                if self._status is not None:
                    self._clear_status()
                stdout = self.ctx.stdout
                stdout.write(text)
                stdout.flush()
                self._last_char = text[-1]
        elif isinstance(event, SearchProgress) and self._status is not None:
            self._status.show(f"{search_status(event)}…")

    def finish(self, outcome: TurnOutcome, identity: dict[str, Any]) -> None:
        self._clear_status()
        if self._last_char != "\n":
            self.ctx.stdout.write("\n")
            self.ctx.stdout.flush()
        if outcome.turn.status == "interrupted":
            self.ctx.note("[interrupted]")
        for note in warnings_for(outcome):
            self.ctx.warn(note, once=False)
        if self.show_sources:
            for line in plain_source_lines(outcome.turn.searches):
                self.ctx.note(line)


def plain_source_lines(searches: list[Search]) -> list[str]:
    from meilichat_cli.ui.sources import source_title

    lines: list[str] = []
    number = 0
    for search in searches:
        header = f'{search.index_uid or "?"} · "{search.q or ""}"'
        if search.filter:
            header += f" · filter {search.filter}"
        lines.append(sanitize_line(header))
        for document in search.sources:
            number += 1
            lines.append(f"  [{number}] {source_title(document)}")
    return lines


class JsonOutput:
    """Nothing while streaming; one object at the end."""

    def __init__(self, stdout: TextIO) -> None:
        self.stdout = stdout

    def before_request(self, model: str | None = None) -> None:
        pass

    def request_sent(self) -> None:
        pass

    def cancel(self) -> None:
        pass

    def on_event(self, event: Event) -> None:
        pass

    def finish(self, outcome: TurnOutcome, identity: dict[str, Any]) -> None:
        from meilichat_cli.chat.turn import summary

        write_json(self.stdout, summary(outcome, **identity), line=True)


# `json_text({"event": "delta", "text": TEXT}, line=True)`, TEXT given as a JSON string.
_DELTA_LINE = '{"event": "delta", "text": %s}\n'


class EventsOutput:
    """NDJSON: one line per event, flushed per line. `search` and `sources` events carry
    `at_ms`, the time since the request was sent (the trace); `sources` also `hits`, `ids`."""

    def __init__(self, stdout: TextIO) -> None:
        self.stdout = stdout
        self._start: float | None = None

    def before_request(self, model: str | None = None) -> None:
        self._start = time.monotonic()

    def request_sent(self) -> None:
        pass

    def cancel(self) -> None:
        pass

    def _at_ms(self) -> float | None:
        if self._start is None:
            return None
        return round((time.monotonic() - self._start) * 1000, 1)

    def _emit(self, kind: str, **fields: Any) -> None:
        write_json(self.stdout, {"event": kind, **fields}, line=True)

    def on_event(self, event: Event) -> None:
        if type(event) is TextDelta:
            if event.text:
                # Nearly every line: written as `_emit` would write it (`json_text` of
                # {"event": "delta", "text": …}), without `json.dumps` around the one string.
                self.stdout.write(_DELTA_LINE % encode_basestring_ascii(event.text))
                self.stdout.flush()
        elif isinstance(event, SearchProgress):
            self._emit(
                "search",
                call_id=event.call_id,
                index_uid=event.index_uid,
                q=event.q,
                filter=event.filter,
                at_ms=self._at_ms(),
            )
        elif isinstance(event, SearchSources):
            from meilichat_cli.protocol.conversation import document_id

            ids = [key for key in map(document_id, event.sources) if key is not None]
            self._emit(
                "sources",
                call_id=event.call_id,
                sources=event.sources,
                at_ms=self._at_ms(),
                hits=len(event.sources),
                ids=ids,
            )
        elif isinstance(event, ConversationMessage):
            self._emit("message", message=event.message)
        elif isinstance(event, ErrorEvent):
            self._emit("error", type=event.type, code=event.code, message=event.message)

    def finish(self, outcome: TurnOutcome, identity: dict[str, Any]) -> None:
        from meilichat_cli.chat.turn import summary

        self._emit("done", **summary(outcome, **identity))


class TerminalOutput:
    """Streamed markdown with a live status (waiting for the model, then searching), then
    the sources. `footer` is a line kept under the live region while it is up (the REPL
    passes its toolbar, so the toolbar stays while an answer streams)."""

    def __init__(
        self,
        ctx: RunContext,
        *,
        show_sources: bool = True,
        footer: Callable[[], str] | None = None,
    ) -> None:
        self.ctx = ctx
        self.show_sources = show_sources
        self.footer = footer
        self._stream: MarkdownStream | None = None
        self._console: Console | None = None
        self._warmup: threading.Thread | None = None
        self._waiting: tuple[str, float] | None = None  # (status, since) from before_request
        self._lock = threading.RLock()
        self._heard = False  # an event arrived: the wait is over
        self._done = False
        # Whether a status may be up (waiting, searching): text clears it, once.
        self._status_shown = True

    def before_request(self, model: str | None = None) -> None:
        self._waiting = (waiting_status(model), time.monotonic())

    def request_sent(self) -> None:
        # rich.markdown and markdown-it take tens of milliseconds to import; do it while
        # Meilisearch searches and the model thinks, not when the first token arrives. Not
        # before the request is out: under the GIL the imports would hold it up. Once
        # imported, the same thread puts up the waiting status.
        if self._warmup is None and self._waiting is not None:
            self._warmup = threading.Thread(
                target=self._show_waiting, args=self._waiting, daemon=True
            )
            self._warmup.start()

    def _show_waiting(self, status: str, since: float) -> None:
        _import_renderer(freeze=self.ctx.owns_process)
        with self._lock:
            if self._heard or self._done:
                return
            self.stream.set_status(status, since=since)

    @property
    def stream(self) -> MarkdownStream:
        warmup = self._warmup
        if self._stream is None and warmup is not None and warmup is not threading.current_thread():
            warmup.join()
        with self._lock:
            if self._stream is None:
                from meilichat_cli.ui.stream import MarkdownStream

                self._console = make_console(self.ctx)
                self._stream = MarkdownStream(self._console)
                self._stream.__enter__()
                if self.footer is not None:
                    self._stream.set_footer(self.footer())
            return self._stream

    def cancel(self) -> None:
        warmup = self._warmup
        with self._lock:
            self._done = True
        if warmup is not None and warmup is not threading.current_thread():
            warmup.join()
        if self._stream is not None:
            self._stream.finish()

    def on_event(self, event: Event) -> None:
        if not self._heard:
            with self._lock:
                self._heard = True
        if type(event) is TextDelta:
            # The hot path: one call per token; `feed` sanitizes the text. The status is
            # cleared once, by the first text that shows something (so sanitized here, that
            # once), which also creates the stream: the property (a lock, a join check) is
            # used only until then.
            if self._status_shown:
                if not sanitize(event.text):
                    return
                self._status_shown = False
                self.stream.set_status(None)
            (self._stream or self.stream).feed(event.text)
        elif isinstance(event, SearchProgress):
            self._status_shown = True
            self.stream.set_status(search_status(event))
        elif isinstance(event, Finished):
            pass

    def finish(self, outcome: TurnOutcome, identity: dict[str, Any]) -> None:
        stream = self.stream
        with self._lock:
            self._done = True
        if outcome.turn.status == "interrupted":
            stream.interrupt("[interrupted]")
        else:
            stream.finish()
        assert self._console is not None
        if self.show_sources and outcome.turn.searches:
            from meilichat_cli.ui.sources import print_sources

            print_sources(self._console, outcome.turn.searches)
        for note in warnings_for(outcome):
            self.ctx.warn(note, once=False)


def make_console(ctx: RunContext) -> Console:
    from rich.console import Console

    return Console(
        file=ctx.stdout,
        force_terminal=ctx.stdout_isatty,
        no_color=ctx.no_color,
        highlight=False,
        emoji=False,
        markup=False,
        # COLUMNS, TERM and friends come from the run's environment, not the process's.
        _environ=ctx.environ,
    )


def _terminal_width(ctx: RunContext) -> int:
    import os

    try:
        return os.get_terminal_size(ctx.stderr.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 80


def _import_renderer(*, freeze: bool) -> None:
    import meilichat_cli.ui.stream  # noqa: F401

    if freeze:
        _freeze_loaded_libraries()


@functools.cache  # once per process
def _freeze_loaded_libraries() -> None:
    """Everything loaded so far (rich, markdown-it, pygments and their tables) lives until the
    process ends, yet each full pass of the cyclic collector, which an answer's objects set
    off as they pile up, walks all of it again. Frozen, it is skipped: the renderer's CPU for
    a 4,000 or 8,000-token answer drops by 15 to 20 ms. Once: a later REPL turn would freeze
    the earlier turns' objects, which must stay collectable. Only in a process of our own
    (the caller checks): a host program's objects are not ours to exempt."""
    import gc

    gc.freeze()


def check_output_modes(*, json_mode: bool, events_mode: bool, plain: bool) -> None:
    """--json, --events and --plain each choose the whole output: one at a time."""
    from meilichat_cli.errors import UsageError

    chosen = [
        name
        for name, on in (("--json", json_mode), ("--events", events_mode), ("--plain", plain))
        if on
    ]
    if len(chosen) > 1:
        raise UsageError(f"{' and '.join(chosen)} cannot be used together")


def choose_output(
    ctx: RunContext,
    *,
    json_mode: bool,
    events_mode: bool,
    plain: bool,
    show_sources: bool,
    footer: Callable[[], str] | None = None,
) -> Output:
    if json_mode:
        return JsonOutput(ctx.stdout)
    if events_mode:
        return EventsOutput(ctx.stdout)
    if plain or not ctx.stdout_isatty:
        return PlainOutput(ctx, show_sources=show_sources)
    return TerminalOutput(ctx, footer=footer)
