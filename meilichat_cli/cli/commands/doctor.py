"""`meilichat doctor [--fix]`: check a server step by step and say how to fix each failure.

Prints one line per check (stdout; `--json` for scripts) and exits 0 only when no check
failed, else with the exit code of the first failure (6 unreachable, 3 key, 4 workspace,
5 otherwise). `--fix` shows the changes it would make, asks (or takes --yes), makes them,
then checks again; nothing is changed without that. Only typer is imported at module level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meilichat_cli.cli.admin_options import (
    AdminKeyStdinOption,
    JsonOption,
    PromptAdminKeyOption,
    YesOption,
)
from meilichat_cli.cli.context import run_context
from meilichat_cli.cli.options import (
    ConnectionFlags,
    ServerConnection,
    TimeoutOption,
    option_group,
    with_option_groups,
)

if TYPE_CHECKING:
    from meilichat_cli.doctor.checks import FixInputs, Report, Target
    from meilichat_cli.local.context import RunContext


@option_group
@dataclass(frozen=True)
class DoctorConnection(ServerConnection):
    """As ServerConnection, with doctor's shorter wait."""

    timeout: TimeoutOption = 60.0


HELP = (
    "Check the server, version, chat feature, key, workspace and indexes, then try a"
    " completion; --fix repairs what it can after asking."
)
EPILOG = """[bold]Checks, in order[/bold]: server (/health), version (>= 1.15.1), feature
(chatCompletions), key (chatCompletions + search), workspace (source + provider key), each
index (description + template), completion (a short test question).

[bold]Examples[/bold]

  meilichat doctor

  MEILI_MASTER_KEY=… meilichat doctor --fix

  pass show openai | MEILI_MASTER_KEY=… meilichat doctor --fix --yes --provider-key-stdin

Checks that need more than a chat key (version, feature, key actions, workspace settings,
indexes) use MEILI_MASTER_KEY, --admin-key-stdin or --prompt-admin-key when given, and are
skipped with a note otherwise.

[bold]Environment[/bold]: MEILI_MASTER_KEY (the admin key), MEILICHAT_PROFILE, MEILICHAT_URL,
MEILICHAT_API_KEY, MEILICHAT_WORKSPACE, MEILICHAT_MODEL, MEILICHAT_CONFIG_DIR, SSL_CERT_FILE,
HTTPS_PROXY/NO_PROXY.
"""


@with_option_groups
def doctor(
    typer_ctx: typer.Context,
    fix: Annotated[
        bool, typer.Option("--fix", help="Offer to repair what failed (asks first).")
    ] = False,
    yes: YesOption = False,
    json_mode: JsonOption = False,
    no_completion: Annotated[
        bool,
        typer.Option("--no-completion", help="Skip the test completion (it calls the LLM)."),
    ] = False,
    source: Annotated[
        str, typer.Option("--source", metavar="SOURCE", help="Source of a workspace --fix creates.")
    ] = "openAi",
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url", metavar="URL", help="Base URL of a workspace --fix creates (vLlm, azure)."
        ),
    ] = None,
    provider_key_stdin: Annotated[
        bool,
        typer.Option("--provider-key-stdin", help="Read the provider key for --fix from stdin."),
    ] = False,
    prompt_provider_key: Annotated[
        bool,
        typer.Option("--prompt-provider-key", help="Ask for the provider key for --fix."),
    ] = False,
    admin_key_stdin: AdminKeyStdinOption = False,
    prompt_admin_key: PromptAdminKeyOption = False,
    *,
    server: DoctorConnection,
) -> None:
    from meilichat_cli.api import admin
    from meilichat_cli.cli.admin_options import explicit_admin_key
    from meilichat_cli.doctor.checks import FixInputs, Target
    from meilichat_cli.errors import UsageError

    ctx = run_context(typer_ctx)
    if admin_key_stdin and provider_key_stdin:
        raise UsageError(
            "stdin can carry only one key: use --prompt-admin-key or MEILI_MASTER_KEY for the"
            " admin key"
        )
    if (provider_key_stdin or prompt_provider_key) and not fix:
        raise UsageError("the provider key is only used by --fix")
    flags = server.flags
    admin_key = explicit_admin_key(ctx, from_stdin=admin_key_stdin, prompt=prompt_admin_key)
    inputs = FixInputs(source=admin.normalize_source(source), base_url=base_url)
    if provider_key_stdin:
        from dataclasses import replace

        from meilichat_cli.cli.admin_options import read_secret_stdin

        provider = read_secret_stdin(ctx, "the provider key", "--provider-key-stdin")
        inputs = replace(inputs, provider_key=provider)

    connection = flags.resolve(ctx)
    target = Target(
        connection,
        admin_key=admin_key,
        run_completion=not no_completion,
        key_storable=_key_storer(ctx, Target(connection)) is not None,
    )
    report = _run(ctx, flags, target)
    if not fix:
        _show(ctx, target, report, json_mode, fixes=None)
        _exit_with(report.exit_code)
        return
    if not json_mode:
        _show(ctx, target, report, False, fixes=None)
    applied = _fix(ctx, flags, target, report, inputs, yes=yes, prompt_key=prompt_provider_key)
    if applied is None:  # nothing to do, or declined
        if json_mode:
            _show(ctx, target, report, True, fixes=[])
        _exit_with(report.exit_code)
        return
    # A stored key changes what the profile resolves to: resolve again before re-checking.
    connection = flags.resolve(ctx)
    target = Target(
        connection,
        admin_key=admin_key,
        run_completion=not no_completion,
        key_storable=target.key_storable,
    )
    after = _run(ctx, flags, target)
    if not json_mode:
        ctx.stdout.write("\nAfter the fixes:\n")
    _show(ctx, target, after, json_mode, fixes=applied)
    _exit_with(after.exit_code)


def _exit_with(code: int) -> None:
    """The report is shown: a failing one ends the run with its exit code, nothing more said."""
    from meilichat_cli.errors import ReportedFailure

    if code:
        raise ReportedFailure(code)


def _run(ctx: RunContext, flags: ConnectionFlags, target: Target) -> Report:
    from meilichat_cli.cli.admin_options import with_admin_key
    from meilichat_cli.doctor.checks import run_checks

    with flags.open_client(ctx, target.connection) as chat:
        if target.admin_key is None:
            return run_checks(chat, chat, target)
        admin_connection = with_admin_key(ctx, target.connection, target.admin_key)
        with flags.open_client(ctx, admin_connection) as admin_client:
            return run_checks(chat, admin_client, target)


def _show(
    ctx: RunContext, target: Target, report: Report, json_mode: bool, fixes: list[str] | None
) -> None:
    from meilichat_cli.cli.hints import pasteable
    from meilichat_cli.ui import admin_view

    for check in report.checks:  # a fix pasted as shown talks to the server checked here
        check.fix = pasteable(check.fix, ctx)
    if json_mode:
        connection = target.connection
        data: dict[str, Any] = {
            "url": connection.url,
            "profile": connection.profile,
            "workspace": connection.workspace,
            "model": connection.model,
            **report.to_json(),
        }
        if fixes is not None:
            data["fixesApplied"] = fixes
        admin_view.write_json(ctx, data)
    else:
        from meilichat_cli.doctor.view import print_report

        print_report(ctx, report)


def _fix(
    ctx: RunContext,
    flags: ConnectionFlags,
    target: Target,
    report: Report,
    inputs: FixInputs,
    *,
    yes: bool,
    prompt_key: bool,
) -> list[str] | None:
    """Plan, ask, apply; the list of what was done, or None when nothing was."""
    from dataclasses import replace

    from meilichat_cli.cli.admin_options import (
        confirm,
        declined,
        prompt_secret,
        with_admin_key,
    )
    from meilichat_cli.doctor.checks import apply_fix, check_fix_inputs, plan_fixes

    inputs = replace(inputs, store_key=_key_storer(ctx, target))
    steps = plan_fixes(report, target, inputs)
    if not steps:
        if report.ok:
            ctx.note("Nothing to fix.")
        else:
            ctx.note(
                "doctor --fix cannot repair these failures by itself; follow the fix lines above."
            )
        return None
    if target.admin_key is None and not report.findings.admin_access:
        from meilichat_cli.errors import UsageError

        raise UsageError(
            "--fix needs an admin or master key to change the server",
            hint="set MEILI_MASTER_KEY, or pass --admin-key-stdin or --prompt-admin-key",
        )
    ctx.note(f"doctor --fix will make these changes on {target.connection.url}:")
    for number, step in enumerate(steps, start=1):
        ctx.note(f"  {number}. {step.description}")
    needs_key = any(step.needs_provider_key for step in steps) and not inputs.provider_key
    if needs_key and (prompt_key or (ctx.stdin_isatty and not yes)):
        inputs = replace(
            inputs, provider_key=prompt_secret(ctx, "provider API key", "--prompt-provider-key")
        )
    check_fix_inputs(steps, report.findings, inputs)
    if not confirm(ctx, "Make these changes?", yes=yes):
        declined(ctx)
        return None
    admin_connection = (
        with_admin_key(ctx, target.connection, target.admin_key)
        if target.admin_key is not None
        else target.connection
    )
    done: list[str] = []
    with flags.open_client(ctx, admin_connection) as client:
        for step in steps:
            line = apply_fix(step, client, report.findings, inputs)
            ctx.note(f"done: {line}")
            done.append(line)
    return done


def _key_storer(ctx: RunContext, target: Target) -> Any:
    """Stores a new chat key for the profile in use; None when there is no profile."""
    profile = target.connection.profile
    if profile is None or target.connection.api_key_source in ("--api-key", "MEILICHAT_API_KEY"):
        return None  # a stored key would not be the one used
    if not _profile_serves(ctx, profile, target.connection.url):
        # --url or MEILICHAT_URL points elsewhere: the profile's key is never sent there, so a
        # key stored in it would replace a working key and fix nothing.
        return None

    def store(value: str) -> str:
        from meilichat_cli.local.credentials import store_profile_key
        from meilichat_cli.local.paths import paths_from_env
        from meilichat_cli.local.profiles import read_config

        paths = paths_from_env(ctx.environ)
        config = read_config(paths, warn=ctx.warn)
        stored = store_profile_key(
            config, config.get_profile(profile), value, paths.credentials_file, warn=ctx.warn
        )
        return f"{stored.location} (profile '{profile}')"

    return store


def _profile_serves(ctx: RunContext, profile: str, url: str) -> bool:
    from meilichat_cli.local.connection import profile_serves
    from meilichat_cli.local.paths import paths_from_env
    from meilichat_cli.local.profiles import read_config

    config = read_config(paths_from_env(ctx.environ), warn=ctx.warn)
    return profile_serves(config.get_profile(profile), url)
