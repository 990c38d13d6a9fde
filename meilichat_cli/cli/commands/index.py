"""`meilichat index list` and `meilichat index chat-settings INDEX`: what the model is told
about each index and how each document is shown to it.

Without change options, `chat-settings` shows the settings. With them it sends only the
fields given (PATCH, or PUT before Meilisearch 1.17: both keep the fields left out), waits
for the settings task (`--no-wait` skips) and exits 7 when the task fails. `--preview`
renders a few documents through the template exactly as the model will see them (template,
then the byte limit); with `--dry-run` nothing is sent, so a template can be tried before it
is saved. Only typer is imported at module level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meilichat_cli.cli.admin_options import AdminConnection, JsonOption, YesOption
from meilichat_cli.cli.completion.completers import choices, complete_index
from meilichat_cli.cli.context import run_context
from meilichat_cli.cli.help.text import ADMIN_ENV, epilog
from meilichat_cli.cli.options import (
    finite,
    option_group,
    with_option_groups,
)

if TYPE_CHECKING:
    from meilichat_cli.local.context import RunContext

app = typer.Typer(
    help="Read and change the chat settings of indexes (description, document template).",
    epilog=epilog(
        "meilichat index list",
        "meilichat index chat-settings movies",
        'meilichat index chat-settings movies --description "Films with title, year and plot"',
        env=ADMIN_ENV,
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
)

# --unset NAME → path of the field it resets in the PATCH body.
UNSETTABLE: dict[str, tuple[str, ...]] = {
    "description": ("description",),
    "template": ("documentTemplate",),
    "max-bytes": ("documentTemplateMaxBytes",),
    "search-parameters": ("searchParameters",),
    "limit": ("searchParameters", "limit"),
    "hybrid": ("searchParameters", "hybrid"),
    "sort": ("searchParameters", "sort"),
    "distinct": ("searchParameters", "distinct"),
    "matching-strategy": ("searchParameters", "matchingStrategy"),
    "search-on": ("searchParameters", "attributesToSearchOn"),
    "ranking-score-threshold": ("searchParameters", "rankingScoreThreshold"),
}
MATCHING_STRATEGIES = ("last", "all", "frequency")
INDEX_UID_RULE = "index names use letters, digits, '-' and '_' (max 400 bytes)"

EPILOG = """[bold]Examples[/bold]

  meilichat index chat-settings movies

  meilichat index chat-settings movies --description "Films with title, year, genres and plot"

  meilichat index chat-settings movies --template-file movie.liquid --preview --dry-run

  meilichat index chat-settings movies --limit 5 --sort "year:desc" --matching-strategy all

  meilichat index chat-settings movies --reset --yes

Exit 7 when Meilisearch fails the settings task (e.g. a template with a Liquid syntax error).

[bold]Environment[/bold]: MEILI_MASTER_KEY (the admin key), MEILICHAT_PROFILE, MEILICHAT_URL,
MEILICHAT_API_KEY, MEILICHAT_CONFIG_DIR, SSL_CERT_FILE, HTTPS_PROXY/NO_PROXY.
"""


def validate_index_uid(uid: str) -> str:
    import re

    from meilichat_cli.errors import UsageError

    if not re.fullmatch(r"[A-Za-z0-9_-]+", uid) or len(uid) > 400:
        shown = repr(uid[:40]) + ("…" if len(uid) > 40 else "")
        raise UsageError(f"invalid index {shown}: {INDEX_UID_RULE}")
    return uid


@app.command(
    "list",
    epilog=epilog(
        "meilichat index list", "meilichat index list --json | jq -r '.[].uid'", env=ADMIN_ENV
    ),
)
@with_option_groups
def list_(
    typer_ctx: typer.Context,
    json_mode: JsonOption = False,
    *,
    server: AdminConnection,
) -> None:
    """List the indexes with the chat description the model sees for each."""
    from meilichat_cli.api import admin
    from meilichat_cli.ui import admin_view

    ctx = run_context(typer_ctx)
    with server.client(ctx) as (_connection, client):
        indexes = admin.list_indexes(client)
        uids = [str(item["uid"]) for item in indexes if isinstance(item.get("uid"), str)]
        chat = {uid: admin.index_chat_settings(client, uid) for uid in uids}
    if json_mode:
        admin_view.write_json(ctx, [{"uid": uid, "chat": chat[uid]} for uid in uids])
        return
    if not uids:
        ctx.note("No indexes on this server.")
        return
    rows = [[uid, chat[uid].get("description") or "(none)"] for uid in uids]
    admin_view.print_table(ctx, ["INDEX", "CHAT DESCRIPTION"], rows)


@option_group
@dataclass(frozen=True)
class IndexChatChange:
    """The change options of `index chat-settings`, as given."""

    description: Annotated[
        str | None,
        typer.Option(
            "--description", metavar="TEXT", help="What the index holds, told to the model."
        ),
    ] = None
    template: Annotated[
        str | None,
        typer.Option(
            "--template", metavar="LIQUID", help="Liquid template rendering each document."
        ),
    ] = None
    template_file: Annotated[
        str | None,
        typer.Option(
            "--template-file", metavar="FILE", help="The template from a file ('-' = stdin)."
        ),
    ] = None
    max_bytes: Annotated[
        int | None,
        typer.Option(
            "--max-bytes",
            metavar="BYTES",
            min=1,
            help="Cut each rendered document to this many bytes.",
        ),
    ] = None
    limit: Annotated[
        int | None,
        typer.Option("--limit", metavar="N", min=0, help="Hits per search the model gets."),
    ] = None
    hybrid_embedder: Annotated[
        str | None,
        typer.Option("--hybrid-embedder", metavar="EMBEDDER", help="Embedder for hybrid search."),
    ] = None
    semantic_ratio: Annotated[
        float | None,
        typer.Option(
            "--semantic-ratio",
            metavar="RATIO",
            min=0.0,
            max=1.0,
            help="Hybrid semantic ratio (needs an embedder).",
            callback=finite,
        ),
    ] = None
    sort: Annotated[
        list[str] | None,
        typer.Option("--sort", metavar="RULE", help="Sort rule, e.g. year:desc (repeatable)."),
    ] = None
    distinct: Annotated[
        str | None, typer.Option("--distinct", metavar="ATTRIBUTE", help="Distinct attribute.")
    ] = None
    matching_strategy: Annotated[
        str | None,
        typer.Option(
            "--matching-strategy",
            metavar="STRATEGY",
            help="last, all or frequency.",
            autocompletion=choices(*MATCHING_STRATEGIES),
        ),
    ] = None
    search_on: Annotated[
        list[str] | None,
        typer.Option(
            "--search-on", metavar="ATTRIBUTE", help="Attribute to search on (repeatable)."
        ),
    ] = None
    search_parameters: Annotated[
        str | None,
        typer.Option(
            "--search-parameters",
            metavar="JSON",
            help="More search parameters as a JSON object, sent as given (merged with the"
            " options above).",
        ),
    ] = None
    ranking_score_threshold: Annotated[
        float | None,
        typer.Option(
            "--ranking-score-threshold",
            metavar="SCORE",
            min=0.0,
            max=1.0,
            help="Minimum ranking score.",
            callback=finite,
        ),
    ] = None
    unset: Annotated[
        list[str] | None,
        typer.Option(
            "--unset",
            metavar="SETTING",
            help="Reset one setting to its default (repeatable): " + ", ".join(UNSETTABLE) + ".",
            autocompletion=choices(*UNSETTABLE),
        ),
    ] = None
    reset: Annotated[
        bool,
        typer.Option("--reset", help="Reset every chat setting of the index (asks first)."),
    ] = False

    def body(self, ctx: RunContext) -> dict[str, Any] | None:
        """The PATCH these options ask for ({} when none is given), or None for --reset."""
        from meilichat_cli.cli.admin_options import apply_unset, value_or_file
        from meilichat_cli.errors import UsageError

        params = self.search_params()
        changes: dict[str, Any] = {}
        if self.description is not None:
            changes["description"] = self.description
        template = value_or_file(
            ctx, self.template, self.template_file, "the template", "--template"
        )
        if template is not None:
            changes["documentTemplate"] = template
        if self.max_bytes is not None:
            changes["documentTemplateMaxBytes"] = self.max_bytes
        if params:
            changes["searchParameters"] = params
        apply_unset(changes, self.unset or [], UNSETTABLE)
        if self.reset and changes:
            raise UsageError("--reset cannot be combined with other changes")
        return None if self.reset else changes

    def search_params(self) -> dict[str, Any]:
        """The `searchParameters` these options set (--search-parameters, then each one)."""
        from meilichat_cli.errors import UsageError

        params: dict[str, Any] = (
            _json_object(self.search_parameters) if self.search_parameters else {}
        )
        if self.limit is not None:
            params["limit"] = self.limit
        if self.hybrid_embedder is not None:
            params["hybrid"] = {"embedder": self.hybrid_embedder}
            if self.semantic_ratio is not None:
                params["hybrid"]["semanticRatio"] = self.semantic_ratio
        elif self.semantic_ratio is not None:
            raise UsageError("--semantic-ratio needs --hybrid-embedder (Meilisearch requires both)")
        if self.sort:
            params["sort"] = list(self.sort)
        if self.distinct is not None:
            params["distinct"] = self.distinct
        if self.matching_strategy is not None:
            if self.matching_strategy not in MATCHING_STRATEGIES:
                raise UsageError(
                    f"--matching-strategy must be one of {', '.join(MATCHING_STRATEGIES)}"
                )
            params["matchingStrategy"] = self.matching_strategy
        if self.search_on:
            params["attributesToSearchOn"] = list(self.search_on)
        if self.ranking_score_threshold is not None:
            params["rankingScoreThreshold"] = self.ranking_score_threshold
        return params


@option_group
@dataclass(frozen=True)
class IndexChatRun:
    """How `index chat-settings` runs: confirmation, preview, dry run, waiting."""

    yes: YesOption = False
    preview: Annotated[
        bool,
        typer.Option("--preview", help="Render a few documents as the model will see them."),
    ] = False
    preview_count: Annotated[
        int,
        typer.Option("--preview-count", metavar="N", min=1, max=50, help="Documents to preview."),
    ] = 3
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Show what would be sent (and --preview it); send nothing."),
    ] = False
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Do not wait for the settings task.")
    ] = False
    wait_timeout: Annotated[
        float,
        typer.Option(
            "--wait-timeout",
            metavar="SECONDS",
            min=0.1,
            help="Seconds to wait for the settings task.",
            callback=finite,
        ),
    ] = 60.0


@app.command("chat-settings", epilog=EPILOG)
@with_option_groups
def chat_settings(
    typer_ctx: typer.Context,
    index: Annotated[
        str, typer.Argument(help="Index uid.", metavar="INDEX", autocompletion=complete_index)
    ],
    change: IndexChatChange,
    run: IndexChatRun,
    json_mode: JsonOption = False,
    *,
    server: AdminConnection,
) -> None:
    """Show an index's chat settings; with options, change them and wait for the task."""
    from meilichat_cli.api import admin
    from meilichat_cli.api.previews import preview_documents
    from meilichat_cli.cli.admin_options import confirm, declined
    from meilichat_cli.errors import UsageError
    from meilichat_cli.ui import admin_view

    ctx = run_context(typer_ctx)
    uid = validate_index_uid(index)
    if change.template_file == "-" and server.admin_key_stdin:
        raise UsageError("stdin can be read only once: --template-file - and --admin-key-stdin")
    body = change.body(ctx)
    updating = body is None or bool(body)
    if run.dry_run and not updating and not run.preview:
        raise UsageError("--dry-run shows a change: give the settings to change, or --preview")
    update = admin.IndexChatUpdate(
        body, dry_run=run.dry_run, wait=not run.no_wait, wait_timeout=run.wait_timeout
    )

    with server.client(ctx) as (connection, client):
        current = admin.index_chat_settings(client, uid)
        question = (
            f"Reset every chat setting of index '{uid}' on {connection.url} (its description,"
            " document template and search parameters)?"
        )
        if body is None and not run.dry_run and not confirm(ctx, question, yes=run.yes):
            declined(ctx)
            return
        result: dict[str, Any] = {"uid": uid, "chat": current}
        if updating:
            result = admin.apply_index_chat_update(client, uid, current, update)
        settings = result["chat"]
        previews: list[str] = []
        docs: list[dict[str, Any]] = []
        if run.preview:
            sent = updating and not run.dry_run
            docs, previews, renderer = preview_documents(
                client,
                uid,
                settings,
                run.preview_count,
                strict=not sent,
                inline=run.dry_run,
                note=ctx.note,
                warn=ctx.warn,
            )
            result["previewRenderer"] = renderer
            result["preview"] = [
                {"document": doc, "text": text} for doc, text in zip(docs, previews, strict=False)
            ]
    if json_mode:
        admin_view.write_json(ctx, result)
        return
    if updating:
        ctx.note(admin_view.index_change_line(uid, result, body))
    if not updating or not run.preview:
        admin_view.print_fields(ctx, admin_view.index_chat_fields(uid, settings))
    if run.preview:
        if not docs:
            ctx.note(f"Index '{uid}' has no documents to preview.")
        elif len(previews) != len(docs):
            return
        admin_view.print_previews(ctx, docs, previews, settings.get("documentTemplateMaxBytes"))
        if previews and not any(text.strip() for text in previews):
            ctx.warn(
                "the template renders no text for any previewed document: the model would see"
                " nothing from this index"
            )


def _json_object(text: str) -> dict[str, Any]:
    import json

    from meilichat_cli.errors import UsageError

    try:
        value = json.loads(text)
    except ValueError as error:
        raise UsageError(f"--search-parameters is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise UsageError("--search-parameters must be a JSON object")
    return value
