"""`meilichat ask`: one question, answered as it streams.

Reads the prompt from the arguments and, when stdin is piped, from stdin (stdin first, a blank
line, then the arguments); with `--input json`, one JSON question object from stdin
(`question_input`: a prompt or a conversation to continue). Chooses one output mode
(terminal, plain, --json, --events); the question itself is asked by `chat.ask.ask_once`,
which raises the outcome as the documented error. Only typer is imported at module level.
"""

from __future__ import annotations

from typing import Annotated

import typer

from meilichat_cli.cli.context import run_context
from meilichat_cli.cli.options import (
    ChatConnection,
    TurnOptions,
    with_option_groups,
)

HELP = "Ask one question and stream the answer, with the searches and sources behind it."
EPILOG = """[bold]Examples[/bold]

  meilichat ask "which plans include SSO?"

  cat notes.md | meilichat ask "summarise these notes"

  meilichat ask --json "top 3 sci-fi movies" | jq -r .answer

  echo '{"prompt": "top 3", "model": "gpt-4o"}' | meilichat ask --input json

[bold]Environment[/bold]: MEILICHAT_PROFILE, MEILICHAT_URL, MEILICHAT_API_KEY,
MEILICHAT_WORKSPACE, MEILICHAT_MODEL, NO_COLOR, SSL_CERT_FILE, HTTPS_PROXY/NO_PROXY.
"""


@with_option_groups
def ask(
    typer_ctx: typer.Context,
    prompt: Annotated[
        list[str] | None, typer.Argument(help="The question (joined with spaces).")
    ] = None,
    *,
    turn: TurnOptions,
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
    server: ChatConnection,
) -> None:
    from meilichat_cli.chat.ask import ask_once, read_json_input, read_prompt
    from meilichat_cli.errors import UsageError
    from meilichat_cli.local.context import reader_may_leave

    turn.check()
    ctx = run_context(typer_ctx)
    question = None
    if input_format is not None:
        question = read_json_input(ctx, input_format, prompt or [])
        if question.messages and (turn.continue_ or turn.conversation is not None):
            raise UsageError(
                'a "messages" conversation in the input cannot be combined with -c or'
                " --conversation",
                hint="send the whole conversation in the input, or continue a saved one",
            )
        text = question.text
    else:
        text = read_prompt(ctx, prompt or [])
    flags = server.flags
    if question is not None:
        from dataclasses import replace

        # The input's own fields are the most specific: they win over flags and environment.
        flags = replace(
            flags,
            workspace=question.workspace or server.workspace,
            model=question.model or server.model,
        )
    from meilichat_cli.ui.output import choose_output

    output = choose_output(
        ctx,
        json_mode=turn.json_mode,
        events_mode=turn.events_mode,
        plain=turn.plain,
        show_sources=turn.sources,
    )
    with reader_may_leave(ctx):
        ask_once(
            ctx,
            flags,
            text,
            system=turn.system,
            output=output,
            resume=turn.conversation,
            resume_latest=turn.continue_,
            save=not turn.no_save,
            question=question,
        )
