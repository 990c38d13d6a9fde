"""The root command group and the one error boundary.

`run()` is what the `meilichat` script calls. It builds the Typer app (command modules are
cheap to import: each imports only typer at top level and everything heavy inside its
functions), runs it, and turns every `MeilichatError` into one sanitized line on stderr (or
the `{"error": …}` object in `--json` mode) and the documented exit code. Anything else is a
bug: one line and a hint to rerun with `--debug`, which prints the traceback.

Must not import httpx, rich, prompt_toolkit or sqlite3 at module level: `--version`, `--help`
and shell completion go through here.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import typer

from meilichat_cli import __version__
from meilichat_cli.errors import ExitCode, MeilichatError

HELP = """Chat with Meilisearch chat workspaces from the terminal and from scripts.

Start with [bold]meilichat demo[/bold] (no server needed), then
[bold]meilichat profile add local --url http://127.0.0.1:7700 -w WORKSPACE[/bold].
"""


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"meilichat {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    """The whole command tree. Command modules register themselves here, nowhere else."""
    from meilichat_cli.commands import (
        ask,
        batch,
        chat,
        demo,
        doctor,
        history,
        index,
        key,
        profile,
        workspace,
    )

    app = typer.Typer(
        name="meilichat",
        help=HELP,
        no_args_is_help=True,
        rich_markup_mode="rich",
        pretty_exceptions_enable=False,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def root(
        version: bool = typer.Option(
            False,
            "--version",
            help="Print the version and exit.",
            callback=_version_callback,
            is_eager=True,
        ),
        debug: bool = typer.Option(
            False,
            "--debug",
            help="Show tracebacks and request details on errors (also MEILICHAT_DEBUG=1).",
        ),
    ) -> None:
        # --debug is read by run() before parsing (the boundary needs it even when parsing
        # fails); declaring it here documents it and lets it appear before a subcommand.
        del version, debug

    app.command("ask", help=ask.HELP, epilog=ask.EPILOG)(ask.ask)
    app.command("chat", help=chat.HELP, epilog=chat.EPILOG)(chat.chat)
    app.command("demo", help=demo.HELP, epilog=demo.EPILOG)(demo.demo)
    app.command("batch", help=batch.HELP, epilog=batch.EPILOG)(batch.batch)
    app.add_typer(profile.app, name="profile")
    app.add_typer(key.app, name="key")
    app.add_typer(history.app, name="history")
    app.add_typer(workspace.app, name="workspace")
    app.add_typer(index.app, name="index")
    app.command("doctor", help=doctor.HELP, epilog=doctor.EPILOG)(doctor.doctor)
    return app


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("MEILICHAT_DEBUG", "") not in ("", "0")


def _json_requested(argv: list[str]) -> bool:
    return "--json" in argv or "--events" in argv


def _print_error(error: MeilichatError, *, as_json: bool) -> None:
    from meilichat_cli.protocol.sanitize import sanitize_line

    if not error.message:  # already told (e.g. "[interrupted]" under the partial answer)
        return
    if as_json:
        import json

        sys.stderr.write(json.dumps(error.to_json(), ensure_ascii=False) + "\n")
        return
    line = f"meilichat: error: {sanitize_line(error.message)}"
    sys.stderr.write(line + "\n")
    if error.hint:
        sys.stderr.write(f"hint: {sanitize_line(error.hint)}\n")
    if error.link:
        sys.stderr.write(f"see: {sanitize_line(error.link)}\n")


def run(argv: list[str] | None = None) -> NoReturn:
    """Run meilichat with `argv` (default: the process arguments) and exit."""
    from meilichat_cli.context import reader_may_leave

    args = sys.argv[1:] if argv is None else argv
    debug = _debug_requested(args)
    try:
        app = build_app()
        with reader_may_leave():
            app(args=args, prog_name="meilichat")
    except SystemExit as exit_:
        code = exit_.code
        sys.exit(code if isinstance(code, int) else (0 if code is None else 1))
    except MeilichatError as error:
        if debug:
            import traceback

            traceback.print_exc()
        _print_error(error, as_json=_json_requested(args))
        sys.exit(int(error.exit_code))
    except KeyboardInterrupt:
        sys.stderr.write("\nmeilichat: interrupted\n")
        sys.exit(int(ExitCode.INTERRUPTED))
    except Exception as error:  # the boundary: anything else is a bug
        if debug:
            import traceback

            traceback.print_exc()
        name = type(error).__name__
        sys.stderr.write(f"meilichat: internal error ({name}); rerun with --debug for details\n")
        sys.exit(int(ExitCode.INTERNAL))
    sys.exit(0)
