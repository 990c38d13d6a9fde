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

import contextlib
import functools
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from typer.core import TyperGroup

from meilichat_cli import __version__
from meilichat_cli.cli.command_table import COMMANDS
from meilichat_cli.errors import ExitCode, MeilichatError

if TYPE_CHECKING:
    from meilichat_cli.local.context import RunContext


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"meilichat {__version__}")
        raise typer.Exit()


class LazyCommands(TyperGroup):
    """The root group, building each command only when it is asked for.

    Typer turns every registered function into a click command by inspecting its signature
    before parsing anything: ~45 ms for the whole tree. Here a command's module is imported
    and its click command built when click resolves its name, so `ask` pays for `ask` alone
    and `--version` for none; `--help` and completion still list every command.
    """

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        # The root page comes from the command table (see cli/help/root.py), the same page
        # the entry point prints before typer is imported; commands keep typer's help.
        from meilichat_cli.cli.context import run_context
        from meilichat_cli.cli.help.root import print_root_help

        context = run_context(ctx)
        print_root_help(
            context.stdout,
            color=context.stdout_isatty and not context.no_color,
            width=context.columns,
        )

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        return _command(cmd_name) if cmd_name in COMMANDS else None

    # A mistake on the command line is reported like every other error (one line, a hint,
    # the JSON object with --json, exit 2), not in typer's boxed format: the arguments of
    # the root are parsed in make_context, those of every command under it in invoke.
    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with _click_errors_as_ours():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        with _click_errors_as_ours():
            return super().invoke(ctx)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        # typer suggests close names from `self.commands`, which a lazy group leaves empty:
        # offer them from the command table, in typer's words, as its sub-groups do.
        from typer._click.exceptions import UsageError as ClickUsageError

        try:
            return super().resolve_command(ctx, args)
        except ClickUsageError as error:
            import difflib

            close = difflib.get_close_matches(args[0], list(COMMANDS)) if args else []
            if close and "Did you mean" not in error.message:
                suggestions = ", ".join(repr(name) for name in close)
                error.message = f"{error.message.rstrip('.')}. Did you mean {suggestions}?"
            raise


@contextlib.contextmanager
def _click_errors_as_ours() -> Any:
    """click's usage errors become UsageError, and Ctrl-C or Ctrl-D at one of its prompts
    (Abort, which typer would report as "Aborted." with exit 1, the code of a bug) becomes
    Interrupted: exit 130, nothing changed."""
    from typer import Abort
    from typer._click.exceptions import NoArgsIsHelpError
    from typer._click.exceptions import UsageError as ClickUsageError

    from meilichat_cli.errors import Interrupted, UsageError

    try:
        yield
    except Abort:
        raise Interrupted("cancelled; nothing was changed") from None
    except NoArgsIsHelpError:
        raise  # the help page, printed by typer, is the answer to a bare group
    except ClickUsageError as error:
        path = error.ctx.command_path if error.ctx is not None else "meilichat"
        raise UsageError(
            plain_click_message(error.format_message()), hint=f"see `{path} --help`"
        ) from None


# click's words for a value of the wrong type, and what a person would say.
_CLICK_TYPE_WORDS = (
    ("is not a valid float range", "is not a number"),
    ("is not a valid float", "is not a number"),
    ("is not a valid integer range", "is not a whole number"),
    ("is not a valid int range", "is not a whole number"),
    ("is not a valid integer", "is not a whole number"),
    ("is not a valid boolean", "is not yes or no (true/false, 1/0)"),
)


def plain_click_message(message: str) -> str:
    """click's type errors in plain language: `'abc' is not a number`, not `… float range`."""
    for click_words, plain in _CLICK_TYPE_WORDS:
        if click_words in message:
            return message.replace(click_words, plain)
    return message


@functools.cache
def _command(name: str) -> Any:
    """The click command of `name`, built as if registered on the root app."""
    import importlib

    import typer.main

    module_name, attribute, _summary = COMMANDS[name]
    module = importlib.import_module(module_name)
    target = getattr(module, attribute)
    # A holder group gives the command what the root would: markup mode, no completion flags.
    holder = typer.Typer(rich_markup_mode="rich", add_completion=False)
    holder.callback()(_no_options)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name, help=module.HELP, epilog=module.EPILOG)(target)
    group: Any = typer.main.get_command(holder)
    command = group.commands[name]
    _reflow_epilogs(command)
    return command


def _reflow_epilogs(command: Any) -> None:
    """Let the terminal wrap the prose of every epilog in `command`'s tree (see help_text)."""
    from meilichat_cli.cli.help.text import reflow

    if command.epilog:
        command.epilog = reflow(command.epilog)
    for sub in getattr(command, "commands", {}).values():
        _reflow_epilogs(sub)


def _no_options() -> None:
    """The holder group's callback (never run: only the command is taken out of it)."""


def build_app() -> typer.Typer:
    """The root app: its options; the commands come from COMMANDS (see LazyCommands)."""
    from meilichat_cli.cli.context import run_context
    from meilichat_cli.cli.help.root import EPILOG, HELP
    from meilichat_cli.cli.help.text import reflow

    app = typer.Typer(
        name="meilichat",
        help=HELP,
        epilog=reflow(EPILOG),
        cls=LazyCommands,
        no_args_is_help=True,
        rich_markup_mode="rich",
        pretty_exceptions_enable=False,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def root(
        ctx: typer.Context,
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
        del version
        if debug:
            run_context(ctx).debug = True

    from meilichat_cli.cli.commands import completions

    completions.enable_shell_completion()
    return app


def _json_before_separator(argv: list[str]) -> bool:
    """For errors raised while click is still parsing (an unknown option, a missing value),
    before any option callback ran: did the user ask for JSON? Words after `--` are text."""
    words = argv[: argv.index("--")] if "--" in argv else argv
    return "--json" in words or "--events" in words


def _print_error(error: MeilichatError, context: RunContext) -> None:
    from meilichat_cli.cli.hints import pasteable
    from meilichat_cli.text.sanitize import sanitize_line

    stderr = context.stderr
    error.hint = pasteable(error.hint, context)
    if context.errors_as_json:
        import json

        shown = error.to_json()
        if not error.message:
            # A script has no "[interrupted]" line to read: the object says what happened.
            shown["error"]["message"] = error.kind
        # The message, hint, code and link are one-line texts for people, possibly from the
        # server: cleaned like every other message (terminal controls and BiDi controls
        # removed). ensure_ascii on top: nothing but ASCII reaches the stream.
        for name in ("message", "hint", "code", "link"):
            value = shown["error"].get(name)
            if isinstance(value, str):
                shown["error"][name] = sanitize_line(value)
        stderr.write(json.dumps(shown, ensure_ascii=True) + "\n")
        stderr.flush()
        return
    if not error.message:  # already told (e.g. "[interrupted]" under the partial answer)
        return
    stderr.write(f"meilichat: error: {sanitize_line(error.message)}\n")
    if error.hint:
        stderr.write(f"hint: {sanitize_line(error.hint)}\n")
    if error.link:
        stderr.write(f"see: {sanitize_line(error.link)}\n")
    stderr.flush()


def _print_traceback(context: RunContext) -> None:
    """The traceback for --debug, cleaned: exception messages may quote the server."""
    import traceback

    from meilichat_cli.text.sanitize import sanitize

    context.stderr.write(sanitize(traceback.format_exc()))
    context.stderr.flush()


def _never_fail_on_encoding() -> None:
    """A character the terminal's encoding cannot show becomes `?` (PYTHONIOENCODING=ascii,
    a legacy code page), and undecodable input bytes become U+FFFD, instead of a crash."""
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            # A closed or detached stream cannot be reconfigured; nothing to protect then.
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="replace")


def execute(argv: list[str], context: RunContext) -> int:
    """Run meilichat with `argv` in `context` and return the exit code: the one error
    boundary. Tests call this in-process with a context of their own (streams, environment,
    an httpx transport); `run()` calls it for the real process."""
    from meilichat_cli.local.context import reader_may_leave

    try:
        app = build_app()
        with reader_may_leave(context):
            app(args=argv, prog_name="meilichat", obj=context, standalone_mode=True)
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except MeilichatError as error:
        context.failed_with = error
        if context.debug:
            _print_traceback(context)
        if error.exit_code == ExitCode.USAGE and _json_before_separator(argv):
            context.errors_as_json = True
        _print_error(error, context)
        return int(error.exit_code)
    except OSError as error:
        # Writing the output failed (disk full, a file-size limit) or another local I/O
        # failure no layer turned into an error of its own: the machine's, not a bug.
        from meilichat_cli.chat.turn import output_error

        failure = output_error(error, saved=False)
        context.failed_with = failure
        if context.debug:
            _print_traceback(context)
        with contextlib.suppress(OSError, ValueError):
            _print_error(failure, context)
        return int(failure.exit_code)
    except KeyboardInterrupt:
        if context.errors_as_json:  # a script reads the object, as for every other failure
            from meilichat_cli.errors import Interrupted

            _print_error(Interrupted("interrupted"), context)
        else:
            context.stderr.write("\nmeilichat: interrupted\n")
        return int(ExitCode.INTERRUPTED)
    except Exception as error:  # the boundary: anything else is a bug
        context.failed_with = error
        if context.debug:
            _print_traceback(context)
        name = type(error).__name__
        context.stderr.write(
            f"meilichat: internal error ({name}); rerun with --debug for details\n"
        )
        return int(ExitCode.INTERNAL)
    return 0


def run(argv: list[str] | None = None) -> NoReturn:
    """Run meilichat with `argv` (default: the process arguments) and exit.

    SIGTERM and SIGHUP end a run the way Ctrl-C does (the partial answer kept as
    interrupted, the terminal restored), with exit code 128 + the signal's number."""
    from meilichat_cli.local import signals
    from meilichat_cli.local.context import RunContext

    _never_fail_on_encoding()
    context = RunContext.from_process()
    with signals.handle_termination():
        code = execute(sys.argv[1:] if argv is None else argv, context)
    signum = signals.received()
    if signum is not None and code in (int(ExitCode.INTERRUPTED), 0):
        code = signals.exit_code_for(signum)
    sys.exit(code)
