"""`meilichat batch`: a file of questions in (JSON Lines), one result line per question out.

Reads every question first and refuses the whole file (exit 2, nothing sent) when a line is
malformed; then answers them on N connections, writes each result as one JSON line on stdout
(or `--output`), flushed as it is ready, shows progress on stderr, and ends with a summary
(counts, retrieval hit rate and recall, latency percentiles). Exit 0 when every question was
answered completely; when some failed, the code of the worst failure class (2 usage, then
3 key, 4 not found, 6 network, 8 timeout, 5 a failed answer); 130 on Ctrl-C (the lines
written stay valid).

The command parses its options into `BatchOptions` and calls `batch.job.run_job`, which
does all of that. `--demo` runs the bundled example question set (or FILE) on the bundled
stand-in server, started here (`cli/demo_server.py`) for the length of the run.
Only typer is imported at module level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from meilichat_cli.cli.completion.completers import complete_workspace
from meilichat_cli.cli.context import run_context
from meilichat_cli.cli.options import ChatConnection, ConnectionFlags, with_option_groups

if TYPE_CHECKING:
    from meilichat_cli.batch.job import BatchOptions
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
    from meilichat_cli.batch.job import BatchOptions, run_job

    # `--as A,B` names personas for the batch, not one connection: see batch/personas.py.
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
        run_job(ctx, flags, options)
        return
    if any((server.profile, server.url, server.workspace, server.api_key)):
        from meilichat_cli.errors import UsageError

        raise UsageError("--demo uses its own server: drop --profile, --url, -w and --api-key")
    _run_on_demo_server(ctx, flags, options)


def _run_on_demo_server(ctx: RunContext, flags: ConnectionFlags, options: BatchOptions) -> None:
    """The batch on the bundled demo server, started for it as `meilichat demo` starts one
    (so its saved conversations are the demo's, and `explain` replays them there)."""
    from meilichat_cli.batch.job import run_job
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
        run_job(ctx, demo_flags, options)
