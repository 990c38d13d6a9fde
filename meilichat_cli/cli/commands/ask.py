"""`meilichat ask`: one question, answered as it streams.

Reads the prompt from the arguments and, when stdin is piped, from stdin (stdin first, a blank
line, then the arguments); with `--input json`, one JSON question object from stdin
(`question_input`: a prompt or a conversation to continue). Chooses one output mode
(terminal, plain, --json, --events); the question itself is asked by `chat.ask.ask_once`,
which raises the outcome as the documented error.

The command parses its options and calls `cli.quick.ask_question`, which does all of that.
The entry point usually parses an `ask` command line without typer (`cli/quick.py`) and calls
the same function; this module is what runs otherwise (help, unusual spellings, mistakes).
Only typer is imported at module level.
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
    from meilichat_cli.cli.quick import ask_question

    ask_question(
        run_context(typer_ctx),
        server.flags,
        prompt,
        system=turn.system,
        json_mode=turn.json_mode,
        events_mode=turn.events_mode,
        plain=turn.plain,
        sources=turn.sources,
        continue_=turn.continue_,
        conversation=turn.conversation,
        no_save=turn.no_save,
        input_format=input_format,
    )
