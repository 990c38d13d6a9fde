"""A REPL session: from the resolved connection to Ctrl-D, for `chat` and `demo`.

`start_repl(ctx, flags, ...)` checks there is a terminal to read from and shows the prompt as
soon as prompt_toolkit is loaded: before it, only the connection is resolved (the banner shows
it) and the state, the terminal host and the prompt are built. The slash commands, the history
store, httpx and rich are imported in a background thread once the prompt is on screen, while
the user types; the controller is built for the first line (`_DeferredController`). One HTTP
client serves the whole session, so the connection is reused across turns.

Must not import typer or `cli`; heavy modules load inside the functions.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from pathlib import Path

    from meilichat_cli.api.client import MeiliClient
    from meilichat_cli.api.connect import ConnectionFlags
    from meilichat_cli.chat.recorder import LazyHistory
    from meilichat_cli.chat.turn import TurnOutcome
    from meilichat_cli.local.connection import Connection
    from meilichat_cli.local.context import RunContext
    from meilichat_cli.protocol.conversation import Message, Search
    from meilichat_cli.protocol.events import Event
    from meilichat_cli.repl.slash_commands import ChatController
    from meilichat_cli.repl.state import ChatState

# Text piped into `chat` larger than this is refused, as `ask` refuses such prompts.
MAX_SEED_BYTES = 2 * 1024 * 1024


def start_repl(
    ctx: RunContext,
    flags: ConnectionFlags,
    *,
    question: str | None = None,
    system: str | None = None,
    resume: str | None = None,
    resume_latest: bool = False,
    save: bool = True,
) -> None:
    """Run the REPL until Ctrl-D or /exit. Raises UsageError (exit 2) when there is no
    terminal to read questions from or the connection settings are incomplete, and
    NotFoundError (exit 4) when the conversation to continue does not exist."""
    from meilichat_cli.errors import UsageError
    from meilichat_cli.local.connection import require_workspace
    from meilichat_cli.repl.state import ChatState

    # The profile's own connection; `--as` and `/as` sign a token from it for each persona.
    connection = flags.replace(as_persona=None).resolve(ctx)
    workspace = require_workspace(connection)

    def check_persona(name: str) -> str:
        from meilichat_cli.tenancy.personas import persona_connection

        persona_connection(ctx.environ, connection, name, warn=ctx.warn)
        return name

    if flags.as_persona:
        check_persona(flags.as_persona)

    # prompt_toolkit first: the prompt is what the user waits for.
    from meilichat_cli.repl.host import TerminalHost
    from meilichat_cli.repl.loop import run_loop
    from meilichat_cli.repl.prompt import ReplPrompt, TerminalStreams

    try:
        streams = TerminalStreams.open(
            stdin_isatty=ctx.stdin_isatty, stdout_isatty=ctx.stdout_isatty
        )
    except OSError as error:
        raise UsageError(
            "meilichat chat needs a terminal to read questions from, and there is none",
            hint='in scripts and pipes use `meilichat ask "…"` (it reads stdin too)',
        ) from error
    warmup = _Warmup()
    client = _SessionClient(ctx, flags, connection, warmup)
    controller: _DeferredController | None = None
    try:
        state = ChatState(
            workspace=workspace,
            model=connection.model,
            persona=flags.as_persona or None,
            base_system=[system] if system else [],
            seed=None if ctx.stdin_isatty else _read_seed(ctx.stdin),
        )
        host = TerminalHost(
            ctx,
            terminal=streams.screen or ctx.stdout,
            run_turn=client.run_turn,
            keyboard_fd=_fileno(streams.keyboard or ctx.stdin),
        )

        def build(store: LazyHistory) -> ChatController:
            from meilichat_cli.chat.recorder import check_before_saving
            from meilichat_cli.repl.slash_commands import ChatController, Identity

            return ChatController(
                state,
                host,
                identity=Identity(profile=connection.profile, server_url=connection.url),
                history=store,
                save=_saving(ctx, save),
                check_saving=lambda: check_before_saving(
                    ctx.paths.history_db,
                    alternative="or chat without saving: meilichat chat --no-save",
                ),
                workspace_exists=client.workspace_exists,
                workspace_hint=client.workspace_hint,
                retrieval=client,
                check_persona=check_persona if connection.profile else None,
            )

        controller = _DeferredController(build, ctx.paths.history_db, host.warn)
        if resume or resume_latest:
            _resume_at_start(controller.get(), controller.store, connection, reference=resume)
        host.say(_banner(state, connection.url))
        if state.seed is not None:
            lines = state.seed.count("\n") + 1
            host.say(f"Read {lines} line(s) from stdin; they go with your first question.")

        def toolbar() -> str:
            who = f"as {state.persona} · " if state.persona else ""
            text = (
                f" {who}{state.workspace} · {state.model} · /help · Alt+Enter new line · "
                "Ctrl-C stop · Ctrl-D quit"
            )
            return ellipsize(text, prompt.session.app.output.get_size().columns)

        host.toolbar = toolbar
        prompt = ReplPrompt(
            history_path=ctx.paths.repl_history,
            toolbar=toolbar,
            environ=ctx.environ,
            input=streams.input,
            output=streams.output,
            after_first_render=warmup.start,
        )
        if prompt.warning:
            host.warn(prompt.warning)
        if question:
            prompt.remember(question)
            host.echo_question(question)  # sent as if typed: the scrollback says so
            controller.handle(question)
        run_loop(prompt.read, controller)
    finally:
        client.close()
        if controller is not None:
            controller.close()
        streams.close()


class _DeferredController:
    """The session's `ChatController` and history store, built when first needed: for the
    first line typed (the prompt is on screen by then, and the warm-up has usually imported
    the slash commands, the history records and the protocol already), or before the prompt
    when the start needs them (`-c`, `--conversation`, a first question)."""

    def __init__(
        self,
        build: Callable[[LazyHistory], ChatController],
        history_path: Path,
        warn: Callable[[str], None],
    ) -> None:
        self._build = build
        self._history_path = history_path
        self._warn = warn
        self._controller: ChatController | None = None
        self.store: LazyHistory | None = None

    def get(self) -> ChatController:
        if self._controller is None:
            from meilichat_cli.chat.recorder import LazyHistory

            self.store = LazyHistory(self._history_path, self._warn)
            self._controller = self._build(self.store)
        return self._controller

    def handle(self, line: str) -> bool:
        return self.get().handle(line)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def _resume_at_start(
    controller: ChatController,
    store: LazyHistory | None,
    connection: Connection,
    *,
    reference: str | None,
) -> None:
    """`-c` / `--conversation ID`: continue on the connection resolved for this run (as `ask`
    does), and say so when the conversation was held somewhere else."""
    from meilichat_cli.chat.recorder import is_demo, latest_to_continue
    from meilichat_cli.errors import NotFoundError

    opened = store() if store is not None else None
    if opened is None:
        raise NotFoundError("cannot read saved conversations", hint="see the warning above")
    if reference is None:
        reference = latest_to_continue(opened, connection)
    conversation_id = opened.resolve(reference)
    record = opened.get(conversation_id)
    if not is_demo(connection) and (
        record.server_url != connection.url or record.workspace != controller.state.workspace
    ):
        controller.host.say(
            f"(conversation {conversation_id[:8]} was held with {record.workspace} on "
            f"{record.server_url}; it continues with {controller.state.workspace} on "
            f"{connection.url})"
        )
    controller.resume(conversation_id, switch=False)


def ellipsize(text: str, width: int) -> str:
    """`text` cut to `width` columns with an ellipsis when it is longer."""
    if width <= 0 or len(text) <= width:
        return text
    return text[: max(0, width - 1)] + "…"


def _banner(state: ChatState, url: str) -> str:
    who = f" · as {state.persona}" if state.persona else ""
    return (
        f"meilichat chat · workspace {state.workspace} · model {state.model} · {url}{who}\n"
        "Enter sends, Alt+Enter adds a line, /help lists the commands, Ctrl-D leaves."
    )


def _read_seed(stdin: TextIO) -> str | None:
    """Text piped into `chat`: it goes with the first question."""
    from meilichat_cli.errors import UsageError

    piped = stdin.read(MAX_SEED_BYTES + 1)
    if len(piped.encode("utf-8", "surrogatepass")) > MAX_SEED_BYTES:
        raise UsageError(
            f"stdin is larger than the {MAX_SEED_BYTES // (1024 * 1024)} MiB limit",
            hint="pipe a shorter excerpt",
        )
    text = piped.rstrip("\n")
    return text if text.strip() else None


def _fileno(stream: TextIO) -> int | None:
    try:
        return stream.fileno()
    except (OSError, ValueError):  # not a real file (tests pass text buffers)
        return None


def _saving(ctx: RunContext, save: bool) -> bool:
    from meilichat_cli.chat.recorder import history_enabled

    return history_enabled(ctx.paths.config_file, no_save=not save)


class _Warmup:
    """Imports what the first answer needs (httpx, rich, markdown-it, sqlite3) in the
    background, started once the prompt is on screen so it does not delay it."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=_import_heavy, daemon=True)
            self._thread.start()

    def wait(self) -> None:
        self.start()
        assert self._thread is not None
        self._thread.join()


# In this order: what the first line typed needs (even /help), then what the first answer needs.
_WARM_UP = (
    "meilichat_cli.repl.slash_commands",
    "meilichat_cli.chat.recorder",
    "meilichat_cli.api.client",
    "meilichat_cli.chat.turn",
    "meilichat_cli.history.store",
    "meilichat_cli.ui.output",
    "meilichat_cli.ui.sources",
    "meilichat_cli.ui.stream",
)


def _import_heavy() -> None:
    import importlib

    for name in _WARM_UP:
        importlib.import_module(name)


class _SessionClient:
    """One HTTP client for the whole session (the connection is reused across turns),
    created when the first question is sent."""

    def __init__(
        self, ctx: RunContext, flags: ConnectionFlags, connection: Connection, warmup: _Warmup
    ) -> None:
        self.ctx = ctx
        self.flags = flags
        self.connection = connection
        self.warmup = warmup
        self._client: MeiliClient | None = None
        self._persona: str | None = None  # whose token the open client sends
        self._replay_client: MeiliClient | None = None  # see _replaying
        self._token_expires: float | None = None

    def _connection_for(self, persona: str | None) -> Connection:
        if persona is None:
            return self.connection
        from meilichat_cli.tenancy.personas import persona_connection
        from meilichat_cli.tenancy.token import expiry_of

        signed = persona_connection(self.ctx.environ, self.connection, persona, warn=self.ctx.warn)
        self._token_expires = expiry_of(signed.api_key)
        return signed

    def run_turn(
        self,
        state: ChatState,
        prompt: list[Message],
        on_event: Callable[[Event], None],
        on_sent: Callable[[], None] | None = None,
    ) -> TurnOutcome:
        from meilichat_cli.chat.turn import run_turn
        from meilichat_cli.errors import NotFoundError

        client = self._open(state.persona)
        try:
            return run_turn(
                client,
                workspace=state.workspace,
                model=state.model,
                history=state.messages,
                new_messages=prompt,
                on_event=on_event,
                on_sent=on_sent,
            )
        except NotFoundError as error:
            if error.code == "chat_not_found":
                from meilichat_cli.chat.workspace_hint import missing_workspace_hint

                error.hint = missing_workspace_hint(client, repl=True)
            raise

    def _open(self, persona: str | None) -> MeiliClient:
        """The session's client for `persona` (None: the profile's own key)."""
        import time

        stale = self._token_expires is not None and self._token_expires - time.time() < 60
        if self._client is not None and (persona != self._persona or stale):
            self.close()  # another persona, or a token about to expire: sign a new one
        if self._client is None:
            self.warmup.wait()
            self._token_expires = None
            connection = self._connection_for(persona)
            self._client = self.flags.open_client(self.ctx, connection)
            self._persona = persona
        return self._client

    def workspace_exists(self, name: str) -> bool | None:
        """Whether the server has this workspace; None when the key may not tell (a chat
        key) or the server could not be asked: the next question will say."""
        from meilichat_cli.api.admin import workspace_exists
        from meilichat_cli.errors import MeilichatError

        try:
            return workspace_exists(self._open(self._persona), name)
        except MeilichatError:
            return None

    def workspace_hint(self) -> str:
        from meilichat_cli.chat.workspace_hint import missing_workspace_hint

        return missing_workspace_hint(self._open(self._persona), repl=True)

    def why(self, searches: list[Search]) -> list[str]:
        """/why: the searches replayed with ranking scores (`meilichat explain`)."""
        from meilichat_cli.explain.replay import replay_turn
        from meilichat_cli.explain.view import explain_lines

        return explain_lines(replay_turn(self._replaying(), searches))

    def open_source(self, number: int, search: Search, document: dict[str, Any]) -> str:
        """/open N: the document fetched again (`meilichat source N`)."""
        from meilichat_cli.explain.documents import show_source

        shown = show_source(self._replaying(), number, search, document)
        notes = [f"note: {note}" for note in shown["notes"]]
        return "\n".join([shown["text"], *notes])

    def _replaying(self) -> MeiliClient:
        """The client that replays the chat's searches (/why, /open): the chat's own, unless
        the flags replay on another connection (the demo's admin key, see DemoFlags)."""
        chat = self._open(self._persona)
        replay = self.flags.replay_connection(chat.connection)
        if replay is chat.connection:
            return chat
        if self._replay_client is None:
            self._replay_client = self.flags.open_client(self.ctx, replay)
        return self._replay_client

    def close(self) -> None:
        if self._replay_client is not None:
            self._replay_client.close()
            self._replay_client = None
        if self._client is not None:
            self._client.close()
            self._client = None
