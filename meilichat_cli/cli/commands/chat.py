"""`meilichat chat`: the REPL. A conversation that keeps its search context, streamed
answers, slash commands, and a session that survives Ctrl-C.

The command parses its options and calls `cli.quick.start_chat`, which opens the REPL
(`repl.session.start_repl`, also what `meilichat demo` opens). The entry point usually parses
a `chat` command line without typer (`cli/quick.py`); this module is what runs otherwise
(help, unusual spellings, mistakes). Only typer is imported at module level.
"""

from __future__ import annotations

from typing import Annotated

import typer

from meilichat_cli.cli.completion.completers import complete_conversation
from meilichat_cli.cli.context import run_context
from meilichat_cli.cli.options import ChatConnection, with_option_groups

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


@with_option_groups
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
    *,
    server: ChatConnection,
) -> None:
    from meilichat_cli.cli.quick import start_chat

    start_chat(
        run_context(typer_ctx),
        server.flags,
        question=question,
        system=system,
        continue_=continue_,
        conversation=conversation,
        no_save=no_save,
    )
