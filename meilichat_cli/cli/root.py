"""The root command group: typer's side of the command line.

`build_app()` is the Typer app `app.execute` runs: the root options (`--version`, `--debug`)
and every command of the command table, each built only when click resolves its name
(`LazyCommands`). click's usage errors become meilichat's `UsageError` here.

Imports typer at module level, so only `cli.app` and the modules that need the click tree
(hints, completion, help) import it, inside functions: `meilichat chat` started by the entry
point's quick path (`cli/quick.py`) never loads it. Must not import httpx, rich,
prompt_toolkit or sqlite3 at module level.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

import typer

from meilichat_cli import __version__
from meilichat_cli.cli.command_table import COMMANDS
from meilichat_cli.cli.typer_compat import TyperGroup


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
        return command(cmd_name) if cmd_name in COMMANDS else None

    # A mistake on the command line is reported like every other error (one line, a hint,
    # the JSON object with --json, exit 2), not in typer's boxed format: the arguments of
    # the root are parsed in make_context, those of every command under it in invoke.
    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with _click_errors_as_ours():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        # The words after the root options, read before click consumes them: an error raised
        # without a context (an option missing its value) still names its command's help.
        words = [*getattr(ctx, "_protected_args", []), *ctx.args]
        with _click_errors_as_ours(lambda: _command_path(self, ctx, words)):
            return super().invoke(ctx)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        # typer suggests close names from `self.commands`, which a lazy group leaves empty:
        # offer them from the command table, in typer's words, as its sub-groups do.
        from meilichat_cli.cli.typer_compat import ClickUsageError

        try:
            return super().resolve_command(ctx, args)
        except ClickUsageError as error:
            import difflib

            close = difflib.get_close_matches(args[0], list(COMMANDS)) if args else []
            if close and "Did you mean" not in error.message:
                suggestions = ", ".join(repr(name) for name in close)
                error.message = f"{error.message.rstrip('.')}. Did you mean {suggestions}?"
            raise


class CarriedPastTyper(Exception):
    """An EOFError that escaped a command, carried past typer to the error boundary, which
    raises `error` again (`cli/app.py`).

    typer's `main` turns an EOFError into "Aborted." and exit 1 itself. Ctrl-D at a prompt
    never gets that far (`cli/prompts.py` makes it Interrupted, and click's prompts raise
    Abort, below), so one that does is a bug, and is reported as every other bug is, as it is
    on the quick path (`cli/quick.py`), where no typer stands in between: one line, exit 1,
    the traceback with --debug."""

    def __init__(self, error: EOFError) -> None:
        super().__init__(repr(error))
        self.error = error


def _command_path(group: Any, ctx: Any, words: list[str]) -> str:
    """`meilichat history list` for the words `history list -n`: the command they name."""
    path = [ctx.command_path]
    command = group
    for word in words:
        get_command = getattr(command, "get_command", None)
        if word.startswith("-") or get_command is None:
            break
        found = get_command(ctx, word)
        if found is None:
            break
        path.append(word)
        command = found
    return " ".join(path)


@contextlib.contextmanager
def _click_errors_as_ours(path_of: Callable[[], str] | None = None) -> Any:
    """click's usage errors become UsageError, and Ctrl-C or Ctrl-D at one of its prompts
    (Abort, which typer would report as "Aborted." with exit 1, the code of a bug) becomes
    Interrupted: exit 130, nothing changed. An EOFError goes past typer to the boundary
    (`CarriedPastTyper`)."""
    from meilichat_cli.cli.typer_compat import Abort, ClickUsageError, NoArgsIsHelpError
    from meilichat_cli.errors import Interrupted, UsageError

    try:
        yield
    except Abort:
        raise Interrupted("cancelled; nothing was changed") from None
    except EOFError as error:
        raise CarriedPastTyper(error) from error
    except NoArgsIsHelpError:
        raise  # the help page, printed by typer, is the answer to a bare group
    except ClickUsageError as error:
        if error.ctx is not None:
            path = error.ctx.command_path
        else:
            path = path_of() if path_of is not None else "meilichat"
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
def command(name: str) -> Any:
    """The click command of `name`, built as if registered on the root app."""
    import importlib

    from meilichat_cli.cli.typer_compat import click_command

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
    group: Any = click_command(holder)
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

    # Let `_MEILICHAT_COMPLETE=complete_<shell> meilichat` answer TAB.
    from meilichat_cli.cli.completion.scripts import register

    register()
    return app
