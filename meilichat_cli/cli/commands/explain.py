"""`meilichat explain`: why this answer — each search of a saved turn replayed with scores.

Thin: reads the saved turn (`explain.view.load_turn`), replays its searches on the current
connection (`explain.replay.replay_turn`) and prints the lines of `explain.view` (or the data
with --json). Only typer is imported at module level.
"""

from __future__ import annotations

from typing import Annotated

import typer

from meilichat_cli.cli.context import errors_as_json, run_context
from meilichat_cli.cli.options import with_option_groups
from meilichat_cli.cli.replay_options import ConversationArgument, ReplayConnection, TurnOption

HELP = (
    "Why this answer: replay the searches of a saved turn with ranking scores, mark the"
    " documents the chat received, and say what changed since."
)
EPILOG = """[bold]Examples[/bold]

  meilichat explain                     # the last answer of the latest conversation

  meilichat explain 3f2a --turn 2

  meilichat explain --json | jq '.searches[].differences'

Each search is sent again to /indexes/{uid}/search with the same q and filter and the index's
chat search parameters, asking for showRankingScore and showRankingScoreDetails (a chat key
may search). ✓ marks the documents the chat received; "decided by" is the first ranking rule
on which a document differs from the next one. Differences: documents changed or gone since
the answer, a filter that now fails, renderings cut by documentTemplateMaxBytes.

A conversation held with `meilichat demo` is replayed on the bundled demo server, started for
the command, unless --profile, --url or --api-key name another server.

[bold]Environment[/bold]: MEILICHAT_PROFILE, MEILICHAT_URL, MEILICHAT_API_KEY,
MEILICHAT_DATA_DIR (the saved conversations), SSL_CERT_FILE, HTTPS_PROXY/NO_PROXY.
"""


# Said on stderr when a demo conversation is replayed on a demo server started for the command.
DEMO_NOTE = (
    "Replayed on the bundled demo server (started for this command; its dataset is the one"
    " the conversation searched)."
)


@with_option_groups
def explain(
    typer_ctx: typer.Context,
    conversation: ConversationArgument = None,
    turn: TurnOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", callback=errors_as_json, help="Print the replay as JSON.")
    ] = False,
    *,
    server: ReplayConnection,
) -> None:

    from meilichat_cli.explain.replay import replay_turn
    from meilichat_cli.explain.view import explain_lines, load_turn
    from meilichat_cli.local.config import DEMO_PROFILE
    from meilichat_cli.text.sanitize import cut, sanitize_line

    ctx = run_context(typer_ctx)
    record, chosen = load_turn(ctx.paths.history_db, conversation, turn, ctx.warn)
    with server.connect(ctx, record) as (flags, connection, on_demo):
        if on_demo:
            ctx.note(DEMO_NOTE)
        elif record.profile == DEMO_PROFILE:
            ctx.warn(
                "the conversation was held with the bundled demo server;"
                f" replaying on {connection.url}"
            )
        elif connection.url.rstrip("/") != record.server_url.rstrip("/"):
            ctx.warn(
                f"the conversation was held on {record.server_url}; replaying on {connection.url}"
            )
        with flags.open_client(ctx, connection) as client:
            result = replay_turn(client, chosen.searches)
    result = {
        "conversation_id": record.id,
        "turn": chosen.seq,
        "question": chosen.question,
        **result,
    }
    if as_json:
        from meilichat_cli.ui.json_output import write_json

        write_json(ctx.stdout, result, line=True)
        return
    head = f"Turn {chosen.seq} of {record.id[:8]} · {cut(sanitize_line(chosen.question), 80)}"
    ctx.stdout.write("\n".join([head, "", *explain_lines(result)]) + "\n")
