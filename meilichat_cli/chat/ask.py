"""Asking one question: the prompt as the user gave it, one turn, recorded in history.

`ask` and `demo` (with a question) parse their options and call these: `read_prompt` or
`read_json_input` for the question, `ask_once` for the turn. The answer goes to whatever
`TurnOutput` the caller chose (the terminal, plain text, JSON, events; see ui/output.py);
the outcome is raised as the documented error (interrupted, a failed stream).

Never prints itself. Must not import rich, typer or prompt_toolkit, nor ui, repl or cli.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from meilichat_cli.api.connect import ConnectionFlags
    from meilichat_cli.chat.question import Question
    from meilichat_cli.chat.turn import TurnOutcome
    from meilichat_cli.local.context import RunContext
    from meilichat_cli.protocol.events import Event

# Larger prompts are refused before anything is sent; LLM context windows are far smaller,
# and Meilisearch's own request limit (100 MB) would fail much later and less clearly.
MAX_PROMPT_BYTES = 2 * 1024 * 1024


class TurnOutput(Protocol):
    """Where the answer of one turn goes (ui/output.py implements it four ways)."""

    def before_request(self, model: str | None = None) -> None: ...

    def request_sent(self) -> None: ...

    def on_event(self, event: Event) -> None: ...

    def cancel(self) -> None: ...

    def finish(self, outcome: TurnOutcome, identity: dict[str, Any]) -> None: ...


def check_resume_flags(continue_: bool, conversation: str | None) -> None:
    """-c and --conversation each name the conversation to continue: one at a time."""
    from meilichat_cli.errors import UsageError

    if continue_ and conversation is not None:
        raise UsageError(
            "-c/--continue and --conversation cannot be used together",
            hint="-c continues the latest conversation, --conversation ID a given one",
        )
    if conversation is not None and not conversation.strip():
        raise UsageError("--conversation needs an id (or a unique prefix of one)")


def read_json_input(ctx: RunContext, input_format: str, words: list[str]) -> Question:
    """`--input json`: one question object on stdin (see `question_input`)."""
    from meilichat_cli.chat.question import read_question
    from meilichat_cli.errors import UsageError

    if input_format.lower() != "json":
        raise UsageError(f"--input {input_format!r}: the only input format is json")
    if words:
        raise UsageError(
            "--input json reads the question from stdin; give it no PROMPT arguments",
            hint='put the question in the object: {"prompt": "…"}',
        )
    if ctx.stdin_isatty:
        raise UsageError(
            "--input json reads one JSON object from stdin, and stdin is a terminal",
            hint='echo \'{"prompt": "…"}\' | meilichat ask --input json',
        )
    return read_question(ctx.stdin)


def read_prompt(ctx: RunContext, words: list[str], *, command: str = "ask") -> str:
    """stdin (when piped) first, a blank line, then the arguments; refuse empty or huge.
    `command` is the one the hint of an empty prompt shows (`ask`, `demo`)."""
    from meilichat_cli.errors import UsageError

    parts: list[str] = []
    if not ctx.stdin_isatty:
        piped = ctx.stdin.read(MAX_PROMPT_BYTES + 1)
        if len(piped) > MAX_PROMPT_BYTES:
            # Even when all of it is blank: the question may come after it, unread.
            raise UsageError(
                f"Prompt is larger than the {MAX_PROMPT_BYTES // (1024 * 1024)} MiB limit",
                hint="send a shorter excerpt",
            )
        if piped.strip():
            parts.append(piped.rstrip("\n"))
    argument = " ".join(words)
    if argument.strip():
        parts.append(argument)
    text = "\n\n".join(parts)
    if not text.strip():
        raise UsageError(
            "Prompt is empty", hint=f'give a question: meilichat {command} "…" (or pipe text in)'
        )
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_PROMPT_BYTES:
        raise UsageError(
            f"Prompt is larger than the {MAX_PROMPT_BYTES // (1024 * 1024)} MiB limit",
            hint="send a shorter excerpt",
        )
    return text


def ask_once(
    ctx: RunContext,
    flags: ConnectionFlags,
    text: str,
    *,
    system: str | None,
    output: TurnOutput,
    resume: str | None = None,
    resume_latest: bool = False,
    save: bool = True,
    question: Question | None = None,
) -> None:
    from meilichat_cli.chat.recorder import Recorder, history_enabled, refuse_demo_latest
    from meilichat_cli.chat.turn import run_turn
    from meilichat_cli.errors import Interrupted, MeilichatError, NotFoundError
    from meilichat_cli.local.connection import require_workspace

    try:
        connection = flags.resolve(ctx)
    except MeilichatError:
        if resume_latest:  # `ask -c` right after `meilichat demo "…"`: say where it goes on
            refuse_demo_latest(ctx.paths.history_db, ctx.warn)
        raise
    workspace = require_workspace(connection)
    new_messages: list[dict[str, Any]] = []
    if question is not None:
        new_messages = question.new_messages(system)
    else:
        if system:
            new_messages.append({"role": "system", "content": system})
        new_messages.append({"role": "user", "content": text})
    paths = ctx.paths
    recorder = Recorder(
        paths.history_db,
        enabled=history_enabled(paths.config_file, no_save=not save),
        warn=ctx.warn,
    )
    recorder.check_before_sending()
    if resume or resume_latest:
        recorder.resume(resume, latest=resume_latest, connection=connection)
    identity: dict[str, Any] = {
        "conversation_id": None,
        "profile": connection.profile,
        "workspace": workspace,
        "model": connection.model,
    }
    if connection.persona is not None:
        identity["persona"] = connection.persona
    with flags.open_client(ctx, connection) as client:
        output.before_request(connection.model)
        try:
            outcome = run_turn(
                client,
                workspace=workspace,
                model=connection.model,
                history=recorder.messages,
                new_messages=new_messages,
                on_event=output.on_event,
                on_sent=output.request_sent,
            )
        except BaseException as error:
            output.cancel()  # the waiting status goes before the error is shown
            if isinstance(error, NotFoundError) and error.code == "chat_not_found":
                from meilichat_cli.chat.workspace_hint import missing_workspace_hint

                error.hint = missing_workspace_hint(client)
            raise
    recorder.record(outcome, question=text, connection=connection, workspace=workspace)
    recorder.close()
    if outcome.reader_left:
        raise BrokenPipeError  # saved; now leave as quietly as the reader did
    if outcome.output_failed and outcome.error is not None:
        raise outcome.error  # saved; the output itself cannot take more
    identity["conversation_id"] = recorder.conversation_id
    output.finish(outcome, identity)
    if outcome.interrupted:
        raise Interrupted("")
    if outcome.error is not None:
        raise outcome.error
