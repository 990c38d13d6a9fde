"""`meilichat help [TOPIC]`: the reference topics (exit codes, environment, files, JSON shapes).

The text comes from `meilichat_cli.cli.help.topics`, the same data the tables of
`docs/reference.md` are generated from. `meilichat help COMMAND [SUBCOMMAND]` shows that
command's --help, as `git help` does. Only typer is imported at module level.
"""

from __future__ import annotations

from typing import Annotated

import typer

HELP = "Show a reference topic: exit codes, environment variables, files, JSON shapes."
EPILOG = """[bold]Topics[/bold]: exit-codes, environment, files, json.

[bold]Examples[/bold]

  meilichat help                  # list the topics

  meilichat help exit-codes

  meilichat help json | less

  meilichat help workspace set    # the same as: meilichat workspace set --help

[bold]Environment[/bold]: none; `meilichat help environment` lists every variable meilichat reads.
"""


def _complete_topic(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    from meilichat_cli.cli.help.topics import TOPICS

    return [(topic.name, topic.summary) for topic in TOPICS]


def help_command(
    ctx: typer.Context,
    words: Annotated[
        list[str] | None,
        typer.Argument(
            help="A topic (exit-codes, environment, files, json), or a command.",
            metavar="[TOPIC | COMMAND…]",
            autocompletion=_complete_topic,
            show_default=False,
        ),
    ] = None,
) -> None:
    from meilichat_cli.cli.help import render as reference_render
    from meilichat_cli.cli.help.topics import topic_names

    if not words:
        typer.echo(reference_render.topics_text(), nl=False)
        return
    if len(words) == 1 and words[0].lower() in topic_names():
        typer.echo(reference_render.text(words[0].lower()), nl=False)
        return
    _command_help(ctx, words)


def _command_help(ctx: typer.Context, words: list[str]) -> None:
    """Print the --help of the command named by `words` (e.g. ["workspace", "set"])."""
    from meilichat_cli.cli.help.topics import topic_names
    from meilichat_cli.errors import UsageError

    current = ctx.find_root()
    for word in words:
        group = current.command
        found = group.get_command(current, word) if hasattr(group, "get_command") else None
        if found is None:
            raise UsageError(
                f"no help topic or command {' '.join(words)!r}",
                hint=f"topics: {', '.join(topic_names())}; commands: meilichat --help",
            )
        # resilient_parsing: a command's required arguments are not needed to show its help.
        current = found.make_context(word, [], parent=current, resilient_parsing=True)
    # As --help does: typer's rich help prints itself and returns "", echoed as a last line.
    typer.echo(current.get_help())
