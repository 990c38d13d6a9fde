"""One `meilichat batch` run as a whole, from the parsed options to the exit code.

`run_job` reads every question first (`batch.source`: a malformed line refuses the whole file,
exit 2, nothing sent), resolves the connection (and one per persona for `--as A,B`), checks
what can be checked before sending (a workspace for every question, the `--compare`
workspace, thresholds that have questions to judge), skips what `--resume` says is answered,
then answers the rest on `concurrency` connections (`batch.runner`). Each result is written
as one JSON line to stdout or `--output` (`batch.output`) as soon as it may be, counted
(`batch.summary`) and shown on the progress display (`batch.progress`). Ctrl-C
(`batch.ctrl_c`) and the `--max-tokens` budget (`batch.budget`) wind the run down and keep
what it finished. At the end: the summary on stderr, the server's own token counters when it
shows them, and the outcome raised as the documented error: 5 for a reached budget,
130 when interrupted, the worst failure class when questions failed, 5 when the run falls
short of its thresholds (`batch.gates`).

Imports the batch modules, `api.metrics`, `chat.recorder`, `local`, `ui.json_output`, `text`
and `errors` (httpx and rich load only with a client and a progress bar). Must not import
typer or `cli`: the command parses the options into `BatchOptions` and calls `run_job`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from meilichat_cli.api.metrics import change_text, chat_token_counters, counter_change
from meilichat_cli.batch.budget import TokenBudget
from meilichat_cli.batch.ctrl_c import StopOnCtrlC
from meilichat_cli.batch.evaluation import PrimaryKeys
from meilichat_cli.batch.gates import gate_failures, require_expectations
from meilichat_cli.batch.input import BatchItem, read_answered
from meilichat_cli.batch.output import OutputFile, finish_compaction
from meilichat_cli.batch.personas import persona_connections
from meilichat_cli.batch.progress import BatchProgress, failure_line, make_progress
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
from meilichat_cli.chat.recorder import check_before_saving, history_enabled
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
from meilichat_cli.text.sanitize import sanitize
from meilichat_cli.ui.json_output import write_json

if TYPE_CHECKING:
    from meilichat_cli.api.connect import ConnectionFlags
    from meilichat_cli.local.connection import Connection
    from meilichat_cli.local.context import RunContext


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


def run_job(ctx: RunContext, flags: ConnectionFlags, options: BatchOptions) -> None:
    """Everything after option parsing: shared by `batch` and `batch --demo`."""
    items, source = read_questions(ctx, options.file, bundled_example=options.bundled_example)
    primary_keys = PrimaryKeys.parse(options.primary_keys)
    personas = persona_connections(ctx, flags, options.personas, compare=options.compare)
    if len(options.personas) == 1:
        flags = flags.replace(as_persona=options.personas[0])
    connection = flags.resolve(ctx)
    _check_before_sending(items, connection, options)
    total = len(items)
    resume_path = Path(options.resume) if options.resume else None
    if resume_path is not None:
        items = _skip_answered(ctx, items, resume_path)
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
    one_workspace = options.compare is None and all(
        item.question.workspace in (None, connection.workspace) for item in items
    )
    counter_scope = connection.workspace if one_workspace else None
    budget = TokenBudget(options.max_tokens, stop)
    tallies = RunTallies(("a", "b") if options.compare else tuple(personas))
    reader_left = True  # until run_batch returns: reader_may_leave ends a run quietly
    try:
        # Opened here (reading the server's counters), so closed whatever happens next,
        # an output file that cannot be opened included.
        counters_before = chat_token_counters(clients.get(), counter_scope)
        with OutputFile(ctx, options.output, resume_path) as sink, StopOnCtrlC(stop):
            progress = make_progress(
                ctx,
                len(items),
                results_on_terminal=sink is ctx.stdout and ctx.stdout_isatty,
                description=f"batch {source}",
            )
            results = _ResultLines(sink, tallies, progress)
            try:
                # `batch … | head -1`: exit 0 quietly (after the bar has put the cursor back).
                with reader_may_leave(ctx), progress:
                    interrupted = run_batch(
                        items,
                        budget.guard(answerer.answer),
                        concurrency=options.concurrency,
                        ordered=options.ordered,
                        emit=results.emit,
                        stop=stop,
                    )
                    reader_left = False
            finally:
                counters_after = (
                    None
                    if counters_before is None
                    else chat_token_counters(clients.get(), counter_scope)
                )
    finally:
        clients.close_all()
        for persona_clients_of in persona_clients.values():
            persona_clients_of.close_all()
    if reader_left:
        return  # nobody reads the results any more: no summary, exit 0 (as `ask | head`)

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
        change = counter_change(counters_before, counters_after)
        ctx.stderr.write(f"  server:    {change_text(change)} (Meilisearch's chat counters)\n")
    _raise_outcome(ctx, options, results, budget, interrupted=interrupted, asked=len(items))


def _skip_answered(ctx: RunContext, items: list[BatchItem], resume_path: Path) -> list[BatchItem]:
    """--resume: the questions not yet answered completely in the earlier output."""
    state = read_answered(resume_path)
    if state.unreadable_lines:
        ctx.warn(f"{resume_path}: {state.unreadable_lines} unreadable line(s) ignored")
    return [item for item in items if item.key not in state.answered]


def _raise_outcome(
    ctx: RunContext,
    options: BatchOptions,
    results: _ResultLines,
    budget: TokenBudget,
    *,
    interrupted: bool,
    asked: int,
) -> None:
    """The run's end as the documented error (`asked`: the questions this run set out to
    answer); nothing when every question was answered and the thresholds are met."""
    if budget.reached:
        raise ApiError(
            f"token budget reached: ~{budget.spent:,} tokens spent of --max-tokens"
            f" {options.max_tokens:,}; stopped after {results.tallies.asked} of {asked}"
            " questions",
            hint=_resume_hint(options.output),
        )
    if interrupted:
        ctx.note("interrupted; " + _resume_hint(options.output))
        raise Interrupted("")
    if results.crashed:
        raise MeilichatError(
            f"internal error in {results.crashed} question(s)",
            hint="rerun with --debug for details",
        )
    if results.failure_codes:
        # The code of the worst failure class: a rejected key is 3, the network 6, …
        raise error_for_exit_code(
            worst_exit_code(results.failure_codes),
            f"{len(results.failure_codes)} of {asked} questions failed (complete: false)",
        )
    short = gate_failures(
        results.tallies.first, min_hit_rate=options.min_hit_rate, min_recall=options.min_recall
    )
    if short:
        raise ApiError(
            "; ".join(short),
            hint="the run fell short of its thresholds (see the summary above)",
        )


def _check_before_sending(
    items: Sequence[BatchItem], connection: Connection, options: BatchOptions
) -> None:
    """What would make the run fail as a whole, refused before anything is sent (exit 2)."""
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


class _ResultLines:
    """Where each finished result goes, in the calling thread: one JSON line on the sink,
    the run's tallies and the progress display; and what failed, for the exit code."""

    def __init__(self, sink: TextIO, tallies: RunTallies, progress: BatchProgress) -> None:
        self.sink = sink
        self.tallies = tallies
        self.progress = progress
        self.crashed = 0
        self.failure_codes: list[ExitCode] = []  # one per failed question

    def emit(self, item: BatchItem, result: dict[str, Any]) -> None:
        # One write per line, then flush: a reader (or Ctrl-C) never sees half a line.
        write_json(self.sink, result, line=True)
        self.tallies.add(item.name, result)
        failed = result.get("complete") is not True
        if failed:
            self.failure_codes.append(failure_exit_code(result))
        self.crashed += has_internal_error(result)
        self.progress.advance(failed=failed)
        if failed:
            self.progress.failure(failure_line(item.name, result))


def _history_on(ctx: RunContext) -> bool:
    enabled = history_enabled(ctx.paths.config_file, no_save=False)
    if not enabled:
        ctx.warn("--save ignored: save_history = false in config.toml")
    else:  # refused before the first question is sent, not at the first answer
        check_before_saving(ctx.paths.history_db, alternative="or run without --save")
    return enabled


def _print_summary(ctx: RunContext, lines: list[str]) -> None:
    # Not ctx.note: that folds runs of spaces, and the compare table is aligned with them.
    for line in lines:
        ctx.stderr.write(sanitize(line.replace("\n", " ")) + "\n")
    ctx.stderr.flush()


def _resume_hint(output: str | None) -> str:
    if output:
        return f"finish with: meilichat batch … -o {output} --resume {output}"
    return "finish later with --resume OUT (the file the results went to)"
