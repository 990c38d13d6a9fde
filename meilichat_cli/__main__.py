"""Entry point for `meilichat` and `python -m meilichat_cli`; must import nothing heavy.

Before anything else, `main()` tells Python that three optional imports will not be needed in
this process, so they fail at once instead of costing time on every run that talks HTTP:

- `httpx._main`, httpx's own command-line tool, which `import httpx` loads whenever click is
  installed, pulling in click, pygments and rich's console, progress, syntax and table
  (~40 ms, and rich is then loaded even where meilichat prints to a pipe);
- `trio`, which httpcore imports whenever it is installed, for the async locks of its async
  client (~50 ms on the first `httpx.Client()`); meilichat runs no async code;
- `anyio`, which httpcore imports for the same async locks and its async network backend
  (~3 ms on every `import httpx`: it is one of httpx's own dependencies, so always there).

All three imports sit in `try: … except ImportError` in those libraries, which is what a `None`
entry in `sys.modules` triggers. A process that already imported them keeps them.

`meilichat --version` and the root help (`meilichat`, `-h`, `--help`) are answered here,
before typer is imported: they need only the version string and the command table. A plain
`meilichat ask …` or `meilichat chat …` line is parsed here too (`cli/quick.py`) and runs
without typer; every other command line, and any such line the quick parser declines (help,
unusual spellings, mistakes), goes to the Typer app.
"""

from __future__ import annotations

import os
import sys

COMPLETION_VAR = "_MEILICHAT_COMPLETE"
NOT_NEEDED = ("httpx._main", "trio", "anyio")
# What asks for the root help page (a bare `meilichat` is a mistake that gets it too). Here,
# not in cli/help/root.py, so that no other command line loads the help module.
ROOT_HELP_ARGS: tuple[list[str], ...] = ([], ["--help"], ["-h"])
# The commands cli/quick.py parses without typer (its QUICK_COMMANDS): a command line naming
# neither does not even import the parser.
QUICK_COMMANDS = frozenset({"ask", "chat"})


def main() -> None:
    args = sys.argv[1:]
    if args == ["--version"]:
        from meilichat_cli import __version__

        try:
            sys.stdout.write(f"meilichat {__version__}\n")
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader went away: end as every command does then (exit 0, nothing said).
            from meilichat_cli.local.context import RunContext, reader_may_leave

            with reader_may_leave(RunContext.from_process()):
                raise
        return
    # With click's completion variable set, a command line is what is being completed:
    # that goes to the app, and an empty one is a TAB, not a request for help.
    completing = COMPLETION_VAR in os.environ
    if args in ROOT_HELP_ARGS and not completing:
        _print_root_help()
        # A bare `meilichat` is a usage mistake that gets the help page (exit 2, as click).
        sys.exit(2 if not args else 0)
    for name in NOT_NEEDED:
        # None in sys.modules makes `import name` raise ImportError (documented behaviour).
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    quick = None
    if not completing and not QUICK_COMMANDS.isdisjoint(args):
        from meilichat_cli.cli.quick import parse

        quick = parse(args)
    from meilichat_cli.cli.app import run

    run(quick=quick)


def _print_root_help() -> None:
    from meilichat_cli.cli.help.root import print_root_help
    from meilichat_cli.local.context import RunContext, reader_may_leave

    context = RunContext.from_process()
    with reader_may_leave(context):
        print_root_help(
            context.stdout,
            color=context.stdout_isatty and not context.no_color,
            width=context.columns,
        )
        # click ends a help page with one more newline (it echoes what typer printed).
        context.stdout.write("\n")


if __name__ == "__main__":
    main()
