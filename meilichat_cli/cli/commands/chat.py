"""`meilichat chat`: the REPL. A conversation that keeps its search context, streamed
answers, slash commands, and a session that survives Ctrl-C.

`start_repl(ctx, flags, ...)` is the REPL itself (also what `meilichat demo` opens): it checks
there is a terminal to read from, shows the prompt as soon as prompt_toolkit is loaded, and
imports httpx, rich and the history store in a background thread while the user types. One
HTTP client serves the whole session, so the connection is reused across turns.

Only typer is imported at module level; everything else loads inside the functions.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from meilichat_cli.cli.completion.completers import complete_conversation
from meilichat_cli.cli.context import run_context
from meilichat_cli.cli.options import (
    ApiKeyOption,
    AsOption,
    CaBundleOption,
    ConnectionFlags,
    InsecureOption,
    ModelOption,
    ProfileOption,
    TimeoutOption,
    UrlOption,
    WorkspaceOption,
)

if TYPE_CHECKING:
    from meilichat_cli.api.client import MeiliClient
    from meilichat_cli.chat.recorder import LazyHistory
    from meilichat_cli.chat.turn import TurnOutcome
    from meilichat_cli.local.connection import Connection
    from meilichat_cli.local.context import RunContext
    from meilichat_cli.protocol.conversation import Message, Search
    from meilichat_cli.protocol.events import Event
    from meilichat_cli.repl.slash_commands import ChatController
    from meilichat_cli.repl.state import ChatState

HELP = "Open the REPL: a conversation with search context, streamed answers and /commands."
EPILOG = """[bold]Keys[/bold]: Enter sends · Alt+Enter or Ctrl+J new line · Ctrl-X Ctrl-E
$EDITOR · Tab completes /commands · Ctrl-C stops an answer (or clears the line) · Ctrl-D leaves.

[bold]Commands[/bold]: /help /new /sources [N] /searches /retry /edit /copy /workspace NAME
/model NAME /system TEXT /save FILE /history /resume ID /exit

[bold]Examples[/bold]

  meilichat chat

  meilichat chat -c                       # continue the last conversation

  cat notes.md | meilichat chat           # the notes go with your first question

[bold]Files[/bold]: the input history is `repl-history` in the state directory (0600); set
MEILICHAT_STATE_DIR to move it. Conversations are saved like `ask`'s (see `meilichat history`).

[bold]Environment[/bold]: MEILICHAT_PROFILE, MEILICHAT_URL, MEILICHAT_API_KEY,
MEILICHAT_WORKSPACE, MEILICHAT_MODEL, MEILICHAT_REQUIRE_HTTPS, SSL_CERT_FILE,
HTTPS_PROXY/NO_PROXY, MEILICHAT_CONFIG_DIR, MEILICHAT_DATA_DIR, MEILICHAT_STATE_DIR,
VISUAL/EDITOR, NO_COLOR.
"""

# Text piped into `chat` larger than this is refused, as `ask` refuses such prompts.
MAX_SEED_BYTES = 2 * 1024 * 1024


def chat(
    typer_ctx: typer.Context,
    question: Annotated[
        list[str] | None,
        typer.Argument(help="A first question, sent at once; the REPL then goes on."),
    ] = None,
    system: Annotated[
        str | None,
        typer.Option(
            "--system", "-s", help="Add a system message of your own to each conversation."
        ),
    ] = None,
    continue_: Annotated[
        bool, typer.Option("--continue", "-c", help="Continue the most recent conversation.")
    ] = False,
    conversation: Annotated[
        str | None,
        typer.Option(
            "--conversation",
            help="Continue a saved conversation (id or unique prefix).",
            show_default=False,
            autocompletion=complete_conversation,
        ),
    ] = None,
    no_save: Annotated[
        bool, typer.Option("--no-save", help="Do not save this session's turns to history.")
    ] = False,
    profile: ProfileOption = None,
    url: UrlOption = None,
    workspace: WorkspaceOption = None,
    model: ModelOption = None,
    api_key: ApiKeyOption = None,
    timeout: TimeoutOption = 120.0,
    ca_bundle: CaBundleOption = None,
    insecure: InsecureOption = False,
    as_persona: AsOption = None,
) -> None:
    from meilichat_cli.cli.commands.ask import check_resume_flags

    check_resume_flags(continue_, conversation)
    ctx = run_context(typer_ctx)
    flags = ConnectionFlags(
        profile=profile,
        url=url,
        workspace=workspace,
        model=model,
        api_key=api_key,
        timeout=timeout,
        ca_bundle=ca_bundle,
        insecure=insecure,
        as_persona=as_persona,
    )
    start_repl(
        ctx,
        flags,
        question=" ".join(question or []).strip() or None,
        system=system,
        resume=conversation,
        resume_latest=continue_,
        save=not no_save,
    )


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
    from dataclasses import replace

    from meilichat_cli.errors import UsageError
    from meilichat_cli.local.connection import validate_workspace
    from meilichat_cli.repl.slash_commands import ChatController, Identity, run_loop
    from meilichat_cli.repl.state import ChatState

    # The profile's own connection; `--as` and `/as` sign a token from it for each persona.
    connection = replace(flags, as_persona=None).resolve(ctx)
    if not connection.workspace:
        raise UsageError(
            "No workspace given",
            hint="pass -w WORKSPACE, set MEILICHAT_WORKSPACE or `meilichat profile set NAME -w WS`",
        )
    workspace = validate_workspace(connection.workspace)

    def check_persona(name: str) -> str:
        from meilichat_cli.tenancy.personas import connection_as, load_persona

        connection_as(connection, load_persona(ctx.environ, connection, name, warn=ctx.warn))
        return name

    if flags.as_persona:
        check_persona(flags.as_persona)

    # prompt_toolkit first: the prompt is what the user waits for.
    from meilichat_cli.repl.host import TerminalHost
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
    from meilichat_cli.chat.recorder import LazyHistory

    store = LazyHistory(ctx.paths.history_db, ctx.warn)
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
        store.warn = host.warn
        controller = ChatController(
            state,
            host,
            identity=Identity(profile=connection.profile, server_url=connection.url),
            history=store,
            save=_saving(ctx, save),
            workspace_exists=client.workspace_exists,
            workspace_hint=client.workspace_hint,
            retrieval=client,
            check_persona=check_persona if connection.profile else None,
        )
        if resume or resume_latest:
            _resume_at_start(controller, store, connection, reference=resume)
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
        store.close()
        streams.close()


def _resume_at_start(
    controller: ChatController,
    store: LazyHistory,
    connection: Connection,
    *,
    reference: str | None,
) -> None:
    """`-c` / `--conversation ID`: continue on the connection resolved for this run (as `ask`
    does), and say so when the conversation was held somewhere else."""
    from meilichat_cli.chat.recorder import is_demo, latest_to_continue
    from meilichat_cli.errors import NotFoundError

    opened = store()
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


def _import_heavy() -> None:
    import meilichat_cli.api.client
    import meilichat_cli.chat.turn
    import meilichat_cli.history.store
    import meilichat_cli.ui.output
    import meilichat_cli.ui.sources
    import meilichat_cli.ui.stream  # noqa: F401


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
        self._token_expires: float | None = None

    def _connection_for(self, persona: str | None) -> Connection:
        if persona is None:
            return self.connection
        from meilichat_cli.tenancy.personas import connection_as, load_persona
        from meilichat_cli.tenancy.token import expiry_of

        chosen = load_persona(self.ctx.environ, self.connection, persona, warn=self.ctx.warn)
        signed = connection_as(self.connection, chosen)
        self._token_expires = expiry_of(signed.api_key)
        return signed

    def run_turn(
        self, state: ChatState, prompt: list[Message], on_event: Callable[[Event], None]
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

        return explain_lines(replay_turn(self._open(self._persona), searches))

    def open_source(self, number: int, search: Search, document: dict[str, Any]) -> str:
        """/open N: the document fetched again (`meilichat source N`)."""
        from meilichat_cli.explain.documents import show_source

        shown = show_source(self._open(self._persona), number, search, document)
        notes = [f"note: {note}" for note in shown["notes"]]
        return "\n".join([shown["text"], *notes])

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
