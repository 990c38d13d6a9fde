"""`meilichat ask`: one question, answered as it streams.

Reads the prompt from the arguments and, when stdin is piped, from stdin (stdin first, a blank
line, then the arguments); with `--input json`, one JSON question object from stdin
(`question_input`: a prompt or a conversation to continue). Chooses one output mode
(terminal, plain, --json, --events) and maps the outcome to the documented exit code by
raising. Only typer is imported at module level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from meilichat_cli.cli.completion.completers import complete_conversation
from meilichat_cli.cli.context import errors_as_json, run_context
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
    from meilichat_cli.chat.question import Question
    from meilichat_cli.local.context import RunContext
    from meilichat_cli.ui.output import Output

HELP = "Ask one question and stream the answer, with the searches and sources behind it."
EPILOG = """[bold]Examples[/bold]

  meilichat ask "which plans include SSO?"

  cat notes.md | meilichat ask "summarise these notes"

  meilichat ask --json "top 3 sci-fi movies" | jq -r .answer

  echo '{"prompt": "top 3", "model": "gpt-4o"}' | meilichat ask --input json

[bold]Environment[/bold]: MEILICHAT_PROFILE, MEILICHAT_URL, MEILICHAT_API_KEY,
MEILICHAT_WORKSPACE, MEILICHAT_MODEL, NO_COLOR, SSL_CERT_FILE, HTTPS_PROXY/NO_PROXY.
"""

# Larger prompts are refused before anything is sent; LLM context windows are far smaller,
# and Meilisearch's own request limit (100 MB) would fail much later and less clearly.
MAX_PROMPT_BYTES = 2 * 1024 * 1024


# The question and output options, declared once: `demo` takes the same ones.
SystemOption = Annotated[
    str | None,
    typer.Option("--system", "-s", help="Add a system message of your own."),
]
JsonOption = Annotated[
    bool,
    typer.Option(
        "--json", callback=errors_as_json, help="Print one JSON result object at the end."
    ),
]
EventsOption = Annotated[
    bool,
    typer.Option("--events", callback=errors_as_json, help="Print NDJSON events as they happen."),
]
PlainOption = Annotated[
    bool, typer.Option("--plain", help="Answer text only, no formatting (default in pipes).")
]
SourcesOption = Annotated[
    bool, typer.Option("--sources", help="In plain mode, list the sources on stderr.")
]
ContinueOption = Annotated[
    bool,
    typer.Option("--continue", "-c", help="Continue the latest saved conversation."),
]
ConversationOption = Annotated[
    str | None,
    typer.Option(
        "--conversation",
        help="Continue the saved conversation with this id (a unique prefix is enough).",
        show_default=False,
        autocompletion=complete_conversation,
    ),
]
NoSaveOption = Annotated[
    bool, typer.Option("--no-save", help="Do not save this question and answer.")
]


def ask(
    typer_ctx: typer.Context,
    prompt: Annotated[
        list[str] | None, typer.Argument(help="The question (joined with spaces).")
    ] = None,
    system: SystemOption = None,
    json_mode: JsonOption = False,
    events_mode: EventsOption = False,
    plain: PlainOption = False,
    sources: SourcesOption = False,
    continue_: ContinueOption = False,
    conversation: ConversationOption = None,
    no_save: NoSaveOption = False,
    input_format: Annotated[
        str | None,
        typer.Option(
            "--input",
            help='Read the question as one JSON object from stdin: --input json ({"prompt"} '
            'or {"messages"}, optional "workspace", "model", "system").',
            metavar="json",
            show_default=False,
        ),
    ] = None,
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
    from meilichat_cli.errors import UsageError
    from meilichat_cli.local.context import reader_may_leave

    check_output_modes(json_mode=json_mode, events_mode=events_mode, plain=plain)
    check_resume_flags(continue_, conversation)
    ctx = run_context(typer_ctx)
    question = None
    if input_format is not None:
        question = read_json_input(ctx, input_format, prompt or [])
        if question.messages and (continue_ or conversation is not None):
            raise UsageError(
                'a "messages" conversation in the input cannot be combined with -c or'
                " --conversation",
                hint="send the whole conversation in the input, or continue a saved one",
            )
        text = question.text
    else:
        text = read_prompt(ctx, prompt or [])
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
    if question is not None:
        from dataclasses import replace

        # The input's own fields are the most specific: they win over flags and environment.
        flags = replace(
            flags, workspace=question.workspace or workspace, model=question.model or model
        )
    from meilichat_cli.ui.output import choose_output

    output = choose_output(
        ctx, json_mode=json_mode, events_mode=events_mode, plain=plain, show_sources=sources
    )
    with reader_may_leave(ctx):
        ask_once(
            ctx,
            flags,
            text,
            system=system,
            output=output,
            resume=conversation,
            resume_latest=continue_,
            save=not no_save,
            question=question,
        )


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


def read_prompt(ctx: RunContext, words: list[str]) -> str:
    """stdin (when piped) first, a blank line, then the arguments; refuse empty or huge."""
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
            "Prompt is empty", hint='give a question: meilichat ask "…" (or pipe text in)'
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
    output: Output,
    resume: str | None = None,
    resume_latest: bool = False,
    save: bool = True,
    question: Question | None = None,
) -> None:
    from meilichat_cli.chat.recorder import Recorder, history_enabled, refuse_demo_latest
    from meilichat_cli.chat.turn import run_turn
    from meilichat_cli.errors import Interrupted, MeilichatError, NotFoundError, UsageError
    from meilichat_cli.local.connection import validate_workspace

    try:
        connection = flags.resolve(ctx)
    except MeilichatError:
        if resume_latest:  # `ask -c` right after `meilichat demo "…"`: say where it goes on
            refuse_demo_latest(ctx.paths.history_db)
        raise
    if not connection.workspace:
        raise UsageError(
            "No workspace given",
            hint="pass -w WORKSPACE, set MEILICHAT_WORKSPACE or `meilichat profile set NAME -w WS`",
        )
    workspace = validate_workspace(connection.workspace)
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
