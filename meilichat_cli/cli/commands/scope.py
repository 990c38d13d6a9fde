"""`meilichat scope check`: chat as each persona; verify nothing outside its rules came back.

The check itself is `meilichat_cli.scoping.check`; this module reads the options, builds one
connection per persona (a token signed for the run, or one given in `--tokens FILE`), opens the
verifier (an admin key when given, else the profile's key) and prints the report. Exit 0 when
clean, 9 when a leak is found. Only typer is imported at module level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from meilichat_cli.api.connect import DEFAULT_READ_TIMEOUT
from meilichat_cli.cli.admin_options import AdminKeyStdinOption, JsonOption
from meilichat_cli.cli.context import run_context
from meilichat_cli.cli.help.text import epilog
from meilichat_cli.cli.options import (
    ModelOption,
    ProfileOption,
    TimeoutOption,
    UrlOption,
    WorkspaceOption,
)

if TYPE_CHECKING:
    from meilichat_cli.local.context import RunContext
    from meilichat_cli.scoping.check import ScopeReport

ENV = (
    "MEILICHAT_PROFILE, MEILICHAT_URL, MEILICHAT_API_KEY (the parent key), MEILICHAT_WORKSPACE,"
    " MEILI_MASTER_KEY (the verifier key)"
)
MAX_TOKENS_FILE_BYTES = 1024 * 1024

app = typer.Typer(
    help="Check what each persona's chat can reach: no document or index outside its rules.",
    epilog=epilog("meilichat scope check --as alice,bob", env=ENV),
    no_args_is_help=True,
    rich_markup_mode="rich",
)


@app.command(
    "check",
    epilog=epilog(
        "meilichat scope check --as alice,bob",
        "meilichat scope check --as alice questions.jsonl --json > scope.json",
        "meilichat scope check --as alice --tokens tokens-from-my-backend.json",
        env=ENV,
        note="Each persona is asked every question (a built-in set of broad, cross-tenant"
        ' questions when no file is given: one JSON object per line with a "prompt"); every'
        " returned document is looked up again with the persona's filter AND its primary key."
        " Exit 0 when clean, 9 when a leak is found (documents or indexes outside the rules,"
        " an index without chat settings, or a server before 1.48.3 with filtered rules).",
    ),
)
def check(
    typer_ctx: typer.Context,
    questions: Annotated[
        str | None,
        typer.Argument(
            help='Questions, one JSON object per line with a "prompt" (default: built-in probes).',
            metavar="[QUESTIONS.jsonl]",
            show_default=False,
        ),
    ] = None,
    as_personas: Annotated[
        str,
        typer.Option(
            "--as",
            help="The personas to check, separated by commas (alice,bob).",
            metavar="PERSONA[,PERSONA…]",
        ),
    ] = "",
    tokens: Annotated[
        str | None,
        typer.Option(
            "--tokens",
            help='A JSON file {"PERSONA": "TOKEN"}: check these tokens (as your backend'
            " issues them) against the personas' rules instead of signing new ones.",
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
    admin_key_stdin: AdminKeyStdinOption = False,
    json_mode: JsonOption = False,
    profile: ProfileOption = None,
    url: UrlOption = None,
    workspace: WorkspaceOption = None,
    model: ModelOption = None,
    timeout: TimeoutOption = DEFAULT_READ_TIMEOUT,
) -> None:
    """Ask as each persona and verify every source against its rules."""
    from pathlib import Path

    from meilichat_cli.cli.admin_options import explicit_admin_key, with_admin_key
    from meilichat_cli.cli.options import ConnectionFlags
    from meilichat_cli.errors import LeakFound, UsageError
    from meilichat_cli.local.connection import require_workspace
    from meilichat_cli.scoping.check import PROBES, Subject, Verifier, read_questions, run_check
    from meilichat_cli.tenancy.personas import connection_as, load_persona

    ctx = run_context(typer_ctx)
    names = [name.strip() for name in as_personas.split(",") if name.strip()]
    if not names:
        raise UsageError("--as names no persona", hint="e.g. --as alice,bob")
    if len(set(names)) != len(names):
        raise UsageError("--as names a persona twice")
    flags = ConnectionFlags(
        profile=profile, url=url, workspace=workspace, model=model, timeout=timeout
    )
    connection = flags.resolve(ctx)
    workspace = require_workspace(connection)
    given = _read_tokens(Path(tokens)) if tokens else {}
    unknown = sorted(set(given) - set(names))
    if unknown:
        ctx.warn(f"--tokens: no --as for {', '.join(unknown)}; ignored")
    subjects = []
    for name in names:
        persona = load_persona(ctx.environ, connection, name, warn=ctx.warn)
        if name in given:
            subject_connection = connection.replace(
                api_key=given[name], api_key_source="--tokens", persona=name
            )
            subjects.append(Subject(persona, subject_connection, f"from {tokens}"))
        else:
            subjects.append(Subject(persona, connection_as(connection, persona)))
    if questions is None:
        asked = list(PROBES)
    else:
        asked = read_questions(_read_lines(ctx, questions), questions)
    admin_key = explicit_admin_key(ctx, from_stdin=admin_key_stdin, prompt=False)
    verifier_connection = connection
    if admin_key is not None:
        verifier_connection = with_admin_key(ctx, connection, admin_key)

    def progress(line: str) -> None:
        if ctx.stderr_isatty and not json_mode:
            ctx.note(f"asking {line}")

    with flags.open_client(ctx, verifier_connection) as verifier_client:
        report = run_check(
            subjects,
            asked,
            workspace=workspace,
            open_client=lambda c: flags.open_client(ctx, c),
            verifier=Verifier(verifier_client),
            progress=progress,
        )
    if json_mode:
        from meilichat_cli.ui.admin_view import write_json

        write_json(ctx, report.to_json())
    else:
        _print_report(ctx, report, len(asked))
    if not report.clean:
        leaks = sum(len(p.leaks) for p in report.personas)
        raise LeakFound(
            f"scope check found {leaks} leak{'s' if leaks != 1 else ''}"
            f" ({', '.join(p.name for p in report.personas if p.leaks)})",
            hint="each finding above names the document, index or server version and the fix",
        )


def _read_tokens(path: Any) -> dict[str, str]:
    import json

    from meilichat_cli.errors import UsageError

    try:
        raw = path.read_bytes()[: MAX_TOKENS_FILE_BYTES + 1]
    except OSError as error:
        raise UsageError(f"--tokens: cannot read {path}: {error.strerror}") from None
    try:
        data = json.loads(raw)
    except ValueError:
        raise UsageError(f"--tokens: {path} is not JSON") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise UsageError(f'--tokens: {path} must be an object {{"PERSONA": "TOKEN"}}')
    return {k: v.strip() for k, v in data.items()}


def _read_lines(ctx: RunContext, name: str) -> list[str]:
    from meilichat_cli.errors import UsageError

    if name == "-":
        return ctx.stdin.read(8 * 1024 * 1024).splitlines()
    try:
        with open(name, encoding="utf-8-sig") as handle:
            return handle.read(8 * 1024 * 1024).splitlines()
    except FileNotFoundError:
        raise UsageError(f"no such question file: {name}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read {name}: {error}") from None


def _print_report(ctx: RunContext, report: ScopeReport, questions: int) -> None:
    from meilichat_cli.tenancy.rules import describe
    from meilichat_cli.ui.admin_view import write_line

    version = report.server_version or "unknown version"
    write_line(
        ctx,
        f"scope check · {len(report.personas)} persona(s) · {questions} question(s) · server"
        f" {version}",
    )
    for warning in report.warnings:
        ctx.warn(warning)
    for entry in report.personas:
        write_line(ctx, "")
        write_line(
            ctx, f"{entry.name}  ({'; '.join(describe(entry.rules))}; token {entry.token_from})"
        )
        state = "clean" if not entry.leaks else f"LEAK ({len(entry.leaks)})"
        write_line(
            ctx,
            f"  {entry.questions} questions, {entry.searches} searches,"
            f" {entry.sources_checked} sources verified: {state}",
        )
        for finding in entry.findings:
            label = "LEAK" if finding in entry.leaks else "note"
            where = f" (asked: {finding.question!r})" if finding.question else ""
            write_line(ctx, f"  {label} {finding.kind}: {finding.message}{where}")
        for error in entry.errors:
            write_line(ctx, f"  error: {error}")
    write_line(ctx, "")
    write_line(ctx, "result: clean" if report.clean else "result: LEAK FOUND (exit 9)")
