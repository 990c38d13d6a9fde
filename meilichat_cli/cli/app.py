"""The one error boundary, and the command line's entry into it.

`run()` is what the `meilichat` script calls. It runs the Typer app (`cli/root.py`: command
modules are cheap to import, each imports only typer at top level and everything heavy inside
its functions), or a command line the entry point already parsed without typer (`cli/quick.py`:
a plain `meilichat ask` or `meilichat chat`), and turns every `MeilichatError` into one
sanitized line on stderr (or the `{"error": …}` object in `--json` mode) and the documented
exit code. Anything else is a bug: one line and a hint to rerun with `--debug`, which prints
the traceback.

Must not import typer, httpx, rich, prompt_toolkit or sqlite3 at module level: `meilichat ask`
reaches its request, and `meilichat chat` its prompt, through here without typer, and `--help`
and shell completion go through here too.
"""

from __future__ import annotations

import contextlib
import errno
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from meilichat_cli.errors import ExitCode, MeilichatError, ReportedFailure

if TYPE_CHECKING:
    import typer

    from meilichat_cli.cli.quick import QuickCommand
    from meilichat_cli.local.context import RunContext

__all__ = ["build_app", "execute", "run"]


def build_app() -> typer.Typer:
    """The root app (see `cli/root.py`), imported only when typer is needed."""
    from meilichat_cli.cli.root import build_app as build

    return build()


def _command(name: str) -> Any:
    """The click command of `name` (see `cli/root.py`)."""
    from meilichat_cli.cli.root import command

    return command(name)


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
        from meilichat_cli.ui.json_output import write_json

        shown = error.to_json()
        if not error.message:
            # A script has no "[interrupted]" line to read: the object says what happened.
            shown["error"]["message"] = error.kind
        # The message, hint, code and link are one-line texts for people, possibly from the
        # server: cleaned like every other message (terminal controls and BiDi controls
        # removed). ensure_ascii on top (write_json): nothing but ASCII reaches the stream.
        for name in ("message", "hint", "code", "link"):
            value = shown["error"].get(name)
            if isinstance(value, str):
                shown["error"][name] = sanitize_line(value)
        write_json(stderr, shown, line=True)
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


def execute(argv: list[str], context: RunContext, quick: QuickCommand | None = None) -> int:
    """Run meilichat with `argv` in `context` and return the exit code: the one error
    boundary. Tests call this in-process with a context of their own (streams, environment,
    an httpx transport); `run()` calls it for the real process. `quick` is `argv` already
    parsed without typer (`cli/quick.py`): it then runs without building the Typer app."""

    def with_typer() -> None:
        from meilichat_cli.cli.root import CarriedPastTyper

        escaped: EOFError | None = None
        try:
            build_app()(args=argv, prog_name="meilichat", obj=context, standalone_mode=True)
        except SystemExit as exit_:
            # click and typer answer a write into a closed pipe (EPIPE) with exit 1, the
            # code reserved for bugs: give the error back to `reader_may_leave`, which ends
            # the run as the quick path does (exit 0, nothing said).
            cause = exit_.__context__
            if exit_.code == 1 and isinstance(cause, OSError) and cause.errno == errno.EPIPE:
                raise BrokenPipeError(errno.EPIPE, "reader of stdout went away") from None
            raise
        except CarriedPastTyper as carried:
            escaped = carried.error
        if escaped is not None:
            # Raised again here, outside the handler, so that it is reported (and its
            # traceback shown) as it is when the quick path raises it: a bug.
            raise escaped

    return _guarded(argv, context, with_typer if quick is None else lambda: quick.run(context))


def _guarded(argv: list[str], context: RunContext, invoke: Callable[[], None]) -> int:
    """The exit code of `invoke()`, every error reported as the contract says."""
    from meilichat_cli.local.context import reader_may_leave

    try:
        with reader_may_leave(context):
            invoke()
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except ReportedFailure as error:  # the command has shown what failed
        return int(error.exit_code)
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


def run(argv: list[str] | None = None, quick: QuickCommand | None = None) -> NoReturn:
    """Run meilichat with `argv` (default: the process arguments; `quick`: the same already
    parsed, see `execute`) and exit.

    SIGTERM and SIGHUP end a run the way Ctrl-C does (the partial answer kept as
    interrupted, the terminal restored), with exit code 128 + the signal's number."""
    from meilichat_cli.local import signals
    from meilichat_cli.local.context import RunContext

    _never_fail_on_encoding()
    context = RunContext.from_process()
    with signals.handle_termination():
        code = execute(sys.argv[1:] if argv is None else argv, context, quick)
    signum = signals.received()
    if signum is not None and code in (int(ExitCode.INTERRUPTED), 0):
        code = signals.exit_code_for(signum)
    sys.exit(code)
