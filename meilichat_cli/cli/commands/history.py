"""`meilichat history`: list, show, search, remove and export saved conversations.

Conversation ids are 32 hex characters; any unique prefix works, as with git. The commands that
only read a conversation (`show`, `export`) take the latest one when no id is given, as
`explain` and `ask -c` do; those that change or delete one (`rename`, `rm`) need its id.
Everything shown to people is sanitized (the store keeps exact text); `--json` escapes instead.
When there is no history file yet, nothing is created: listing shows nothing and ids are not
found.

Only typer is imported at module level; the store, rich and the renderers load inside the
commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from meilichat_cli.cli.completion.completers import choices, complete_conversation
from meilichat_cli.cli.context import errors_as_json, run_context
from meilichat_cli.cli.help.text import HISTORY_ENV, epilog

if TYPE_CHECKING:
    from typing import NoReturn

    from meilichat_cli.history.store import ConversationRecord, HistoryStore
    from meilichat_cli.local.context import RunContext

app = typer.Typer(
    help="Saved conversations: list, show, search, remove and export them.",
    epilog=epilog(
        "meilichat history list",
        "meilichat history show 3f2a",
        'meilichat ask --conversation 3f2a "and the cheapest one?"',
        env=HISTORY_ENV,
        note="Ids are hexadecimal; any unique prefix works. Turn saving off with --no-save"
        " or save_history = false in config.toml.",
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
)

ID_CHARS = 8  # the id prefix shown in lists
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

JsonOption = Annotated[
    bool, typer.Option("--json", callback=errors_as_json, help="Print JSON instead of text.")
]
IdArgument = Annotated[
    str,
    typer.Argument(
        help="Conversation id or a unique prefix of it.", autocompletion=complete_conversation
    ),
]
# For the commands that only read a conversation: without an id, the latest one.
LatestIdArgument = Annotated[
    Optional[str],  # noqa: UP045 - typer reads this annotation at runtime on 3.10
    typer.Argument(
        help="Conversation id or a unique prefix of it (default: the latest).",
        autocompletion=complete_conversation,
        show_default=False,
    ),
]


@app.command(
    "list",
    epilog=epilog(
        "meilichat history list -n 5",
        "meilichat history list --json | jq -r '.[0].id'",
        env=HISTORY_ENV,
    ),
)
def list_conversations(
    typer_ctx: typer.Context,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="How many conversations to show.")
    ] = 20,
    as_json: JsonOption = False,
) -> None:
    """List saved conversations, the most recent first."""
    import time

    from meilichat_cli.ui.admin_view import write_json

    ctx = run_context(typer_ctx)
    summaries = []
    store = _open(ctx)
    if store is not None:
        with store:
            summaries = store.list(limit=limit)
    if as_json:
        write_json(ctx, [s.to_json() for s in summaries])
        return
    if not summaries:
        ctx.note("No saved conversations.")
        return
    now = time.time()
    rows = [
        [
            s.id[:ID_CHARS],
            format_age(now - s.updated_at),
            s.workspace,
            str(s.turns),
            s.last_status or "-",
            f"~{s.tokens:,}" if s.tokens else "-",
            s.title,
        ]
        for s in summaries
    ]
    _write_table(ctx, ["ID", "AGE", "WORKSPACE", "TURNS", "STATUS", "TOKENS", "TITLE"], rows)


@app.command(
    "show",
    epilog=epilog(
        "meilichat history show                # the latest conversation",
        "meilichat history show 3f2a --json",
        env=HISTORY_ENV,
    ),
)
def show(
    typer_ctx: typer.Context,
    conversation: LatestIdArgument = None,
    as_json: JsonOption = False,
    trace: Annotated[
        bool,
        typer.Option(
            "--trace",
            help="Show each turn's retrieval trace instead: searches with their timings, hits"
            " and ids, time to first token, total time and the token estimate.",
        ),
    ] = False,
) -> None:
    """Show a conversation: each question, its answer and the numbered sources."""
    from meilichat_cli.history.export import to_json, to_markdown
    from meilichat_cli.ui.sources import source_label

    ctx = run_context(typer_ctx)
    record = _record(ctx, conversation)
    if as_json:
        ctx.stdout.write(to_json(record))
        return
    if trace:
        from meilichat_cli.explain.trace import trace_lines
        from meilichat_cli.text.sanitize import cut, sanitize_line

        lines: list[str] = []
        for turn in record.turns:
            if lines:
                lines.append("")
            lines.append(f"Turn {turn.seq} · {cut(sanitize_line(turn.question), 80)}")
            lines += [
                "  " + line for line in trace_lines(turn.searches, turn.timings, turn.estimate)
            ]
        ctx.stdout.write("\n".join(lines) + "\n")
        return
    _write_markdown(ctx, to_markdown(record, label_of=source_label), page=True)


@app.command(
    "rename",
    epilog=epilog('meilichat history rename 3f2a "SSO plans compared"', env=HISTORY_ENV),
)
def rename(
    typer_ctx: typer.Context,
    conversation: IdArgument,
    title: Annotated[list[str], typer.Argument(help="The new title (words joined by spaces).")],
) -> None:
    """Give a conversation a title of your own (it starts as its first question)."""
    from meilichat_cli.errors import UsageError
    from meilichat_cli.text.sanitize import sanitize_line

    ctx = run_context(typer_ctx)
    text = " ".join(title).strip()
    if not text:
        raise UsageError("the title is empty", hint='meilichat history rename ID "new title"')
    store = _open(ctx)
    if store is None:
        _not_found(conversation)
    with store:
        conversation_id = store.resolve(conversation)
        new_title = store.rename(conversation_id, text)
    ctx.note(f"Renamed {conversation_id[:ID_CHARS]}: {sanitize_line(new_title)}")


@app.command(
    "search",
    epilog=epilog(
        'meilichat history search "single sign-on"',
        "meilichat history search pricing --json",
        env=HISTORY_ENV,
    ),
)
def search(
    typer_ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="Words to find in questions and answers.")],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many matches.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Find saved turns whose question or answer contains every word of TEXT."""
    import time

    from meilichat_cli.errors import UsageError
    from meilichat_cli.ui.admin_view import write_json

    ctx = run_context(typer_ctx)
    if not text.split():
        raise UsageError("nothing to search for")
    hits = []
    store = _open(ctx)
    if store is not None:
        with store:
            hits = store.search(text, limit=limit)
    if as_json:
        write_json(ctx, [hit.to_json() for hit in hits])
        return
    if not hits:
        ctx.note("No saved turn matches.")
        return
    now = time.time()
    rows = [
        [
            hit.conversation_id[:ID_CHARS],
            format_age(now - hit.created_at),
            f"#{hit.turn_seq}",
            hit.title,
            hit.excerpt,
        ]
        for hit in hits
    ]
    _write_table(ctx, ["ID", "AGE", "TURN", "TITLE", "MATCH"], rows)


@app.command(
    "rm",
    epilog=epilog(
        "meilichat history rm 3f2a 9b1c",
        "meilichat history rm --older-than 30d --yes",
        env=HISTORY_ENV,
    ),
)
def remove(
    typer_ctx: typer.Context,
    conversations: Annotated[
        Optional[list[str]],  # noqa: UP045 - typer reads this annotation at runtime on 3.10
        typer.Argument(
            help="Conversation ids (or unique prefixes) to delete.",
            autocompletion=complete_conversation,
        ),
    ] = None,
    older_than: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--older-than",
            metavar="AGE",
            help="Also delete conversations untouched for AGE (e.g. 30d, 12h, 2w).",
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete saved conversations by id, or every conversation older than an age."""
    from meilichat_cli.errors import UsageError

    ctx = run_context(typer_ctx)
    if not conversations and older_than is None:
        raise UsageError("give conversation ids or --older-than AGE")
    seconds = None if older_than is None else parse_duration(older_than)
    store = _open(ctx)
    if store is None:
        if conversations:
            _not_found(conversations[0])
        ctx.note("No saved conversations.")
        return
    with store:
        # Every id is resolved before anything is deleted: one bad id deletes nothing.
        ids = [store.resolve(prefix) for prefix in conversations or []]
        if seconds is not None:
            ids += [found for found in store.ids_older_than(seconds) if found not in ids]
        if not ids:
            ctx.note(f"No conversation is older than {older_than}.")
            return
        if not yes and not _confirmed(ctx, store, ids):
            ctx.note("Nothing deleted.")
            return
        removed = store.remove(ids)
    ctx.note(f"Deleted {removed} conversation{'s' if removed != 1 else ''}.")


@app.command(
    "export",
    epilog=epilog(
        "meilichat history export > conversation.md    # the latest conversation",
        "meilichat history export 3f2a -f json -o conversation.json",
        env=HISTORY_ENV,
    ),
)
def export(
    typer_ctx: typer.Context,
    conversation: LatestIdArgument = None,
    format_: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            metavar="md|json",
            help="Markdown (default) or the raw JSON record.",
            autocompletion=choices("md", "json"),
        ),
    ] = "md",
    output: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--output", "-o", metavar="FILE", help="Write to FILE instead of stdout."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="With -o: overwrite FILE when it exists.")
    ] = False,
) -> None:
    """Export a conversation as Markdown (numbered sources under each answer) or JSON."""
    from meilichat_cli.errors import UsageError
    from meilichat_cli.history.export import to_json, to_markdown
    from meilichat_cli.text.sanitize import sanitize

    kind = format_.strip().lower()
    if kind not in ("md", "markdown", "json"):
        raise UsageError(f"unknown export format {format_!r}", hint="use --format md or json")
    from meilichat_cli.ui.sources import source_label

    ctx = run_context(typer_ctx)
    record = _record(ctx, conversation)
    text = (
        to_json(record) if kind == "json" else sanitize(to_markdown(record, label_of=source_label))
    )
    if output is None or output == "-":
        ctx.stdout.write(text)
        return
    from pathlib import Path

    from meilichat_cli.local.files import open_private_text

    try:
        with open_private_text(Path(output), overwrite=force) as file:
            file.write(text)
    except FileExistsError as error:
        raise UsageError(
            f"{output} exists; nothing was written",
            hint=f"add --force to overwrite it (meilichat history export {record.id[:ID_CHARS]}"
            f" -o {output} --force)",
        ) from error
    except OSError as error:
        raise UsageError(f"cannot write {output}: {error.strerror or error}") from error
    ctx.note(f"Exported {record.id[:ID_CHARS]} to {output}")


# --------------------------------------------------------------------------- helpers


def format_age(seconds: float) -> str:
    """'just now', '42 sec ago', '3 min ago', '5 hours ago', '2 days ago', '4 months ago'..."""
    seconds = max(seconds, 0)
    if seconds < 10:
        return "just now"
    if seconds < 60:
        return f"{int(seconds)} sec ago"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    day = 86400
    if seconds < day:
        count, unit = int(seconds // 3600), "hour"
    elif seconds < 60 * day:
        count, unit = int(seconds // day), "day"
    elif seconds < 730 * day:
        count, unit = int(seconds // (30 * day)), "month"
    else:
        count, unit = int(seconds // (365 * day)), "year"
    return f"{count} {unit}{'' if count == 1 else 's'} ago"


def parse_duration(text: str) -> float:
    """'30d' → seconds. Units: s, m (minutes), h, d, w."""
    import re

    from meilichat_cli.errors import UsageError

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text.lower())
    if match is None:
        raise UsageError(
            f"cannot read the age {text!r}",
            hint="write a number and a unit: 45s, 90m, 12h, 30d or 2w",
        )
    return float(match.group(1)) * DURATION_UNITS[match.group(2)]


def _open(ctx: RunContext) -> HistoryStore | None:
    """The store, or None when no history was ever saved (nothing is created to look)."""
    from meilichat_cli.history.location import history_saved
    from meilichat_cli.history.store import HistoryStore

    path = ctx.paths.history_db
    if not history_saved(path):
        return None
    store = HistoryStore.open(path)
    for warning in store.warnings:
        ctx.warn(warning)
    return store


def _not_found(prefix: str | None) -> NoReturn:
    from meilichat_cli.history.store import conversation_not_found

    raise conversation_not_found(prefix)


def _record(ctx: RunContext, prefix: str | None) -> ConversationRecord:
    """The conversation `prefix` names, or the latest one when it is None."""
    from meilichat_cli.history.store import load_conversation

    return load_conversation(ctx.paths.history_db, prefix, ctx.warn)


def _confirmed(ctx: RunContext, store: HistoryStore, ids: list[str]) -> bool:
    """Ask on the terminal; without one, refuse (a script must say --yes)."""
    from meilichat_cli.errors import UsageError
    from meilichat_cli.text.sanitize import sanitize_line

    if not ctx.stdin_isatty:
        raise UsageError(
            f"refusing to delete {len(ids)} conversation(s) without confirmation",
            hint="pass --yes to delete when stdin is not a terminal",
        )
    titles = {summary.id: summary.title for summary in store.list(limit=1_000_000)}
    for conversation_id in ids[:10]:
        title = sanitize_line(titles.get(conversation_id, ""))
        ctx.stderr.write(f"  {conversation_id[:ID_CHARS]}  {title}\n")
    if len(ids) > 10:
        ctx.stderr.write(f"  … and {len(ids) - 10} more\n")
    from meilichat_cli.cli.prompts import ask_yes_no

    return ask_yes_no(ctx, f"Delete {len(ids)} conversation{'s' if len(ids) != 1 else ''}?")


def _write_table(ctx: RunContext, header: list[str], rows: list[list[str]]) -> None:
    """Aligned columns under a header on a terminal; tab-separated, no header, in a pipe."""
    from meilichat_cli.text.sanitize import sanitize_line

    clean = [[sanitize_line(cell).replace("\t", " ") for cell in row] for row in rows]
    if not ctx.stdout_isatty:
        for row in clean:
            ctx.stdout.write("\t".join(row) + "\n")
        return
    widths = [max(len(cell) for cell in column) for column in zip(header, *clean, strict=True)]
    for row in [header, *clean]:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        ctx.stdout.write("  ".join([*cells, row[-1]]).rstrip() + "\n")


def _write_markdown(ctx: RunContext, text: str, *, page: bool = False) -> None:
    """Rendered on a terminal, the Markdown source itself in a pipe; sanitized either way.
    With `page`, a terminal gets it through the pager (`ui/pager.py`)."""
    from meilichat_cli.text.sanitize import sanitize

    clean = sanitize(text)
    if not ctx.stdout_isatty:
        ctx.stdout.write(clean)
        return
    from meilichat_cli.ui.markdown import render_once
    from meilichat_cli.ui.output import make_console

    console = make_console(ctx)
    if not page:
        render_once(console, clean)
        return
    with console.capture() as captured:
        render_once(console, clean)
    from meilichat_cli.ui.pager import page as through_pager

    through_pager(ctx, captured.get())
