"""`meilichat source N`: source N of a saved answer, in full, fetched again from the server.

Thin: reads the saved turn, fetches the document (`explain.documents`), pages it on a
terminal, prints JSON with --json; --as-model shows it rendered through the index's document
template, as the model read it. Only typer is imported at module level.
"""

from __future__ import annotations

from typing import Annotated

import typer

from meilichat_cli.cli.context import errors_as_json, run_context
from meilichat_cli.cli.options import with_option_groups
from meilichat_cli.cli.replay_options import ConversationArgument, ReplayConnection, TurnOption

HELP = (
    "Show source N of a saved answer in full, as the server has it now (or as the model read it)."
)
EPILOG = """[bold]Examples[/bold]

  meilichat source 1                    # source 1 of the last answer

  meilichat source 3 3f2a --turn 2 --as-model

  meilichat source 1 --json | jq .document

The document comes from GET /indexes/{uid}/documents/{id} when the key may, else from a search
filtered on the primary key (chat keys may search), else the copy the chat received; the
output says which. --as-model renders it with the index's chat document template: on the
server (POST /indexes/{uid}/render, v1.48+ with the renderRoute feature) when it answers, else
locally.

A conversation held with `meilichat demo` is read from the bundled demo server, started for
the command, unless --profile, --url or --api-key name another server.

[bold]Environment[/bold]: MEILICHAT_PROFILE, MEILICHAT_URL, MEILICHAT_API_KEY,
MEILICHAT_DATA_DIR (the saved conversations), PAGER, SSL_CERT_FILE, HTTPS_PROXY/NO_PROXY.
"""


# Said on stderr when the source of a demo conversation is fetched from a demo server started
# for the command.
DEMO_NOTE = "Fetched from the bundled demo server (started for this command; the same dataset)."


@with_option_groups
def source(
    typer_ctx: typer.Context,
    number: Annotated[int, typer.Argument(min=1, help="The source's number (from 1).")],
    conversation: ConversationArgument = None,
    turn: TurnOption = None,
    as_model: Annotated[
        bool,
        typer.Option("--as-model", help="Show it rendered through the index's document template."),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", callback=errors_as_json, help="Print it as JSON.")
    ] = False,
    *,
    server: ReplayConnection,
) -> None:

    from meilichat_cli.explain.documents import show_source
    from meilichat_cli.explain.view import load_turn, source_at
    from meilichat_cli.ui.pager import page

    ctx = run_context(typer_ctx)
    record, chosen = load_turn(ctx.paths.history_db, conversation, turn, ctx.warn)
    search, received = source_at(chosen.searches, number)
    with server.connect(ctx, record) as (flags, connection, on_demo):
        if on_demo:
            ctx.note(DEMO_NOTE)
        with flags.open_client(ctx, connection) as client:
            shown = show_source(client, number, search, received, as_model=as_model)
    if as_json:
        from meilichat_cli.ui.json_output import write_json

        shown_json = {k: v for k, v in shown.items() if k != "text"}
        write_json(
            ctx.stdout,
            {"conversation_id": record.id, "turn": chosen.seq, **shown_json},
            line=True,
        )
        return
    for note in shown["notes"]:
        ctx.warn(note)
    page(ctx, shown["text"])
