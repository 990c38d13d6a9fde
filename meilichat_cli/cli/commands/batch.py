"""`meilichat batch`: a file of questions in (JSON Lines), one result line per question out.

Reads every question first and refuses the whole file (exit 2, nothing sent) when a line is
malformed; then answers them on N connections, writes each result as one JSON line on stdout
(or `--output`), flushed as it is ready, shows progress on stderr, and ends with a summary
(counts, retrieval hit rate and recall, latency percentiles). Exit 0 when every question was
answered completely; when some failed, the code of the worst failure class (2 usage, then
3 key, 4 not found, 6 network, 8 timeout, 5 a failed answer); 130 on Ctrl-C (the lines
written stay valid).

`--demo` runs the bundled example question set (or FILE) on the bundled stand-in server.
Only typer is imported at module level.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meilichat_cli.cli.completion.completers import complete_workspace
from meilichat_cli.cli.context import run_context
from meilichat_cli.cli.options import ChatConnection, ConnectionFlags, with_option_groups

if TYPE_CHECKING:
    from meilichat_cli.batch.input import BatchItem
    from meilichat_cli.local.context import RunContext

HELP = "Answer a file of questions (JSON Lines), one JSON result line each, and score retrieval."
EPILOG = """[bold]Input[/bold]: one JSON object per line: "prompt" (or "messages"), and optionally
"id", "expect" (primary keys, or "index_uid:id", the answer should be grounded on),
"expect_index" (the index or indexes the searches should go to),
"workspace", "model", "system".

[bold]Output[/bold]: one line per question, the object of `ask --json` plus "id", "line",
"question", and "hit", "recall", "first_hit_rank", "missing" when "expect" is given. With
--compare: {"id", "line", "question", "complete", "a": {…}, "b": {…}}.

[bold]Examples[/bold]

  meilichat batch --demo > answers.jsonl

  meilichat batch --print-example > questions.jsonl   # a set to start from

  meilichat batch questions.jsonl -j 8 -o answers.jsonl

  meilichat batch questions.jsonl -o answers.jsonl --resume answers.jsonl

  meilichat batch questions.jsonl --compare staging-prompts > diff.jsonl

  jq -r 'select(.hit == false) | .id' answers.jsonl

[bold]Gates[/bold]: --min-hit-rate and --min-recall (0-1) make the run exit 5 when it falls
short; --max-tokens N stops before the estimated tokens would exceed N. Each line also gets
cited/cited_found, filters/valid_filters and, with "expect_index", routed.

[bold]Exit codes[/bold]: 0 all answered, 2 bad input (nothing sent); when a question failed,
the code of the worst failure: 3 key rejected, 4 workspace not found, 6 network, 8 timeout,
5 a failed answer; 5 when a threshold was not met or the token budget was reached; 130
interrupted (lines written so far are complete).

[bold]Environment[/bold]: MEILICHAT_PROFILE, MEILICHAT_URL, MEILICHAT_API_KEY,
MEILICHAT_WORKSPACE, MEILICHAT_MODEL, MEILICHAT_REQUIRE_HTTPS, SSL_CERT_FILE,
HTTPS_PROXY/NO_PROXY, MEILICHAT_CONFIG_DIR, MEILICHAT_DATA_DIR (with --save).
"""

DEMO_TOKEN_DELAY = 0.004  # slow enough to watch the bar move, fast enough to finish in seconds


@with_option_groups
def batch(
    typer_ctx: typer.Context,
    file: Annotated[
        str | None,
        typer.Argument(
            help="Questions, one JSON object per line ('-' or nothing: stdin; with --demo: "
            "the bundled example set).",
            metavar="[FILE|-]",
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            "-j",
            min=1,
            max=32,
            help="Questions answered at once; never more connections than this (1-32).",
        ),
    ] = 4,
    unordered: Annotated[
        bool,
        typer.Option("--unordered", help="Write results as they finish, not in input order."),
    ] = False,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="Write results to FILE instead of stdout (with --resume FILE: appended, then"
            " left with one line per question).",
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume",
            help="Skip the questions already answered completely in this earlier output.",
            metavar="OUT",
            show_default=False,
        ),
    ] = None,
    compare: Annotated[
        str | None,
        typer.Option(
            "--compare",
            help="Also answer every question on this workspace and report both side by side.",
            metavar="WORKSPACE",
            show_default=False,
            autocompletion=complete_workspace,
        ),
    ] = None,
    primary_key: Annotated[
        list[str] | None,
        typer.Option(
            "--primary-key",
            help="Primary key field for `expect` (default id): FIELD, or INDEX:FIELD; repeatable.",
            metavar="FIELD",
            show_default=False,
        ),
    ] = None,
    system: Annotated[
        str | None,
        typer.Option(
            "--system", "-s", help="A system message for questions that have none of their own."
        ),
    ] = None,
    save: Annotated[
        bool,
        typer.Option("--save", help="Save each question and answer to history (off by default)."),
    ] = False,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo", help="Run on the bundled demo server (the bundled question set by default)."
        ),
    ] = False,
    min_hit_rate: Annotated[
        float | None,
        typer.Option(
            "--min-hit-rate",
            min=0.0,
            max=1.0,
            help="Exit 5 when the share of questions whose `expect` was hit is below this (0-1).",
            show_default=False,
        ),
    ] = None,
    min_recall: Annotated[
        float | None,
        typer.Option(
            "--min-recall",
            min=0.0,
            max=1.0,
            help="Exit 5 when the mean recall of the `expect` documents is below this (0-1).",
            show_default=False,
        ),
    ] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option(
            "--max-tokens",
            min=1,
            help="Stop before the run's estimated tokens would exceed N (exit 5; --resume"
            " goes on).",
            metavar="N",
            show_default=False,
        ),
    ] = None,
    print_example: Annotated[
        bool,
        typer.Option(
            "--print-example",
            help="Print the bundled example question set (a starting point) and exit.",
        ),
    ] = False,
    *,
    server: ChatConnection,
) -> None:

    ctx = run_context(typer_ctx)
    if print_example:
        from meilichat_cli.batch.source import example_questions_text

        ctx.stdout.write(example_questions_text())
        ctx.stdout.flush()
        return
    # `--as A,B` names personas for the batch, not one connection: see run_batch_command.
    flags = server.flags.replace(as_persona=None)
    options = BatchOptions(
        file=file,
        concurrency=concurrency,
        ordered=not unordered,
        output=output,
        resume=resume,
        compare=compare,
        primary_keys=primary_key or [],
        system=system,
        save=save,
        min_hit_rate=min_hit_rate,
        min_recall=min_recall,
        max_tokens=max_tokens,
        personas=[name.strip() for name in (server.as_persona or "").split(",") if name.strip()],
    )
    if not demo:
        run_batch_command(ctx, flags, options)
        return
    if any((server.profile, server.url, server.workspace, server.api_key)):
        from meilichat_cli.errors import UsageError

        raise UsageError("--demo uses its own server: drop --profile, --url, -w and --api-key")
    _run_on_demo_server(ctx, flags, options)


@dataclass
class BatchOptions:
    """The batch-specific options, as given on the command line."""

    file: str | None
    concurrency: int
    ordered: bool
    output: str | None
    resume: str | None
    compare: str | None
    primary_keys: list[str]
    system: str | None
    save: bool
    personas: list[str] = field(default_factory=list)  # --as A[,B…]
    bundled_example: bool = False
    min_hit_rate: float | None = None
    min_recall: float | None = None
    max_tokens: int | None = None


def _run_on_demo_server(ctx: RunContext, flags: ConnectionFlags, options: BatchOptions) -> None:
    """The batch on the bundled demo server, started for it as `meilichat demo` starts one
    (so its saved conversations are the demo's, and `explain` replays them there)."""
    from meilichat_cli.cli.demo_server import demo_server

    with demo_server(
        ctx,
        token_delay=DEMO_TOKEN_DELAY,
        model=flags.model,
        timeout=flags.timeout,
        max_time=flags.max_time,
    ) as demo_flags:
        if options.file is None:
            options.bundled_example = True
        run_batch_command(ctx, demo_flags, options)


def run_batch_command(ctx: RunContext, flags: ConnectionFlags, options: BatchOptions) -> None:
    """Everything after option parsing: shared by `batch` and `batch --demo`."""
    import threading
    from pathlib import Path

    from meilichat_cli.batch.budget import TokenBudget
    from meilichat_cli.batch.ctrl_c import StopOnCtrlC
    from meilichat_cli.batch.evaluation import PrimaryKeys
    from meilichat_cli.batch.gates import gate_failures, require_expectations
    from meilichat_cli.batch.input import read_answered
    from meilichat_cli.batch.output import OutputFile, finish_compaction
    from meilichat_cli.batch.personas import persona_connections
    from meilichat_cli.batch.progress import make_progress
    from meilichat_cli.batch.runner import (
        BatchSettings,
        QuestionAnswerer,
        ThreadClients,
        failure_exit_code,
        has_internal_error,
        run_batch,
    )
    from meilichat_cli.batch.source import read_questions
    from meilichat_cli.batch.summary import RunTallies
    from meilichat_cli.errors import (
        ApiError,
        ExitCode,
        Interrupted,
        MeilichatError,
        UsageError,
        error_for_exit_code,
        worst_exit_code,
    )
    from meilichat_cli.local.connection import validate_workspace
    from meilichat_cli.local.context import reader_may_leave
    from meilichat_cli.ui.json_output import write_json

    items, source = read_questions(ctx, options.file, bundled_example=options.bundled_example)
    primary_keys = PrimaryKeys.parse(options.primary_keys)
    personas = persona_connections(ctx, flags, options.personas, compare=options.compare)
    if len(options.personas) == 1:
        flags = flags.replace(as_persona=options.personas[0])
    connection = flags.resolve(ctx)
    if connection.workspace is None:
        homeless = [item for item in items if item.question.workspace is None]
        if homeless:
            raise UsageError(
                f"{len(homeless)} question(s) name no workspace (first: {homeless[0].name}) "
                "and none is configured",
                hint='pass -w WORKSPACE, set MEILICHAT_WORKSPACE, or add "workspace" to the lines',
            )
    if options.compare is not None:
        validate_workspace(options.compare)
    require_expectations(items, min_hit_rate=options.min_hit_rate, min_recall=options.min_recall)
    total = len(items)
    skipped = 0
    resume_path = Path(options.resume) if options.resume else None
    if resume_path is not None:
        state = read_answered(resume_path)
        if state.unreadable_lines:
            ctx.warn(f"{resume_path}: {state.unreadable_lines} unreadable line(s) ignored")
        items = [item for item in items if item.key not in state.answered]
        skipped = total - len(items)
    if not items:
        ctx.note(f"batch: nothing to do, all {total} questions of {source} are already answered")
        if resume_path is not None:
            finish_compaction(ctx, options.output, resume_path)
        return

    stop = threading.Event()
    settings = BatchSettings(
        connection=connection,
        system=options.system,
        primary_keys=primary_keys,
        compare_with=options.compare,
        save=options.save and _history_on(ctx),
        history_db=ctx.paths.history_db,
        personas=personas,
    )
    clients = ThreadClients(lambda: flags.open_client(ctx, connection))
    persona_clients = {
        name: ThreadClients(lambda c=persona_connection: flags.open_client(ctx, c))  # type: ignore[misc]
        for name, persona_connection in personas.items()
    }
    answerer = QuestionAnswerer(
        settings,
        clients,
        stop,
        warn=ctx.warn,
        debug=ctx.debug_log,
        persona_clients=persona_clients,
    )
    from meilichat_cli.api.metrics import chat_token_counters

    one_workspace = options.compare is None and all(
        item.question.workspace in (None, connection.workspace) for item in items
    )
    counter_scope = connection.workspace if one_workspace else None
    counters_before = chat_token_counters(clients.get(), counter_scope)
    budget = TokenBudget(options.max_tokens, stop)
    tallies = RunTallies(("a", "b") if options.compare else tuple(personas))
    failed = 0
    crashed = 0
    failure_codes: list[ExitCode] = []

    with OutputFile(ctx, options.output, resume_path) as sink, StopOnCtrlC(stop):
        progress = make_progress(
            ctx,
            len(items),
            results_on_terminal=sink is ctx.stdout and ctx.stdout_isatty,
            description=f"batch {source}",
        )

        def emit(item: BatchItem, result: dict[str, Any]) -> None:
            nonlocal failed, crashed

            # One write per line, then flush: a reader (or Ctrl-C) never sees half a line.
            write_json(sink, result, line=True)
            tallies.add(item.name, result)
            ok = result.get("complete") is True
            failed += not ok
            if not ok:
                failure_codes.append(failure_exit_code(result))
            crashed += has_internal_error(result)
            progress.advance(failed=not ok)
            if not ok:
                from meilichat_cli.batch.progress import failure_line

                progress.failure(failure_line(item.name, result))

        try:
            # `batch … | head -1`: exit 0 quietly (after the bar has put the cursor back).
            with reader_may_leave(ctx), progress:
                interrupted = run_batch(
                    items,
                    budget.guard(answerer.answer),
                    concurrency=options.concurrency,
                    ordered=options.ordered,
                    emit=emit,
                    stop=stop,
                )
        finally:
            counters_after = (
                None
                if counters_before is None
                else chat_token_counters(clients.get(), counter_scope)
            )
            clients.close_all()
            for persona_clients_of in persona_clients.values():
                persona_clients_of.close_all()

    _print_summary(
        ctx,
        tallies.lines(
            workspaces=(
                None if options.compare is None else (connection.workspace or "a", options.compare)
            ),
            total=total,
            skipped=skipped,
            interrupted=interrupted and not budget.reached,
        ),
    )
    if counters_before is not None and counters_after is not None:
        from meilichat_cli.api.metrics import change_text, counter_change

        change = counter_change(counters_before, counters_after)
        ctx.stderr.write(f"  server:    {change_text(change)} (Meilisearch's chat counters)\n")
    if budget.reached:
        raise ApiError(
            f"token budget reached: ~{budget.spent:,} tokens spent of --max-tokens"
            f" {options.max_tokens:,}; stopped after {tallies.asked} of {len(items)} questions",
            hint=_resume_hint(options).replace("interrupted; ", ""),
        )
    if interrupted:
        ctx.note(_resume_hint(options))
        raise Interrupted("")
    if crashed:
        raise MeilichatError(
            f"internal error in {crashed} question(s)",
            hint="rerun with --debug for details",
        )
    if failed:
        # The code of the worst failure class: a rejected key is 3, the network 6, …
        raise error_for_exit_code(
            worst_exit_code(failure_codes),
            f"{failed} of {len(items)} questions failed (complete: false)",
        )
    short = gate_failures(
        tallies.first,
        min_hit_rate=options.min_hit_rate,
        min_recall=options.min_recall,
    )
    if short:
        raise ApiError(
            "; ".join(short),
            hint="the run fell short of its thresholds (see the summary above)",
        )


def _history_on(ctx: RunContext) -> bool:
    from meilichat_cli.chat.recorder import check_before_saving, history_enabled

    enabled = history_enabled(ctx.paths.config_file, no_save=False)
    if not enabled:
        ctx.warn("--save ignored: save_history = false in config.toml")
    else:  # refused before the first question is sent, not at the first answer
        check_before_saving(ctx.paths.history_db, alternative="or run without --save")
    return enabled


def _print_summary(ctx: RunContext, lines: list[str]) -> None:
    from meilichat_cli.text.sanitize import sanitize

    # Not ctx.note: that folds runs of spaces, and the compare table is aligned with them.
    for line in lines:
        ctx.stderr.write(sanitize(line.replace("\n", " ")) + "\n")
    ctx.stderr.flush()


def _resume_hint(options: BatchOptions) -> str:
    if options.output:
        return (
            f"interrupted; finish with: meilichat batch … -o {options.output} "
            f"--resume {options.output}"
        )
    return "interrupted; finish later with --resume OUT (the file the results went to)"
