"""`meilichat --help`: the root help, printed from the command table without building commands.

typer would import every command module and inspect every signature, and its rich help
imports markdown-it, to print a page that only needs the table in `cli/command_table.py`.
This module draws the same page (usage, description, the Options and Commands panels, the
epilog) with rich's console, panels and tables only, so the entry point can answer
`meilichat`, `meilichat -h` and `meilichat --help` before typer is even imported; the root
group of `cli/app.py` prints this same page.

Must not import typer or any command module; rich only inside `print_root_help`.
"""

from __future__ import annotations

import io
from typing import TextIO

from meilichat_cli.cli.command_table import COMMANDS

USAGE = "meilichat [OPTIONS] COMMAND [ARGS]..."
HELP = """Chat with Meilisearch chat workspaces from the terminal and from scripts.

Start with [bold]meilichat demo[/bold] (no server needed), then
[bold]meilichat profile add local --url http://127.0.0.1:7700 -w WORKSPACE[/bold].
"""
EPILOG = """[bold]Examples[/bold]

  meilichat demo "which space movies do you have?"

  meilichat profile add local --url http://127.0.0.1:7700 -w movies && meilichat key set

  meilichat ask "which plans include SSO?"

  meilichat chat -c

[bold]Environment[/bold]: MEILICHAT_PROFILE, MEILICHAT_URL, MEILICHAT_API_KEY,
MEILICHAT_WORKSPACE, MEILICHAT_MODEL, MEILICHAT_DEBUG, NO_COLOR and more: `meilichat help
environment`. Exit codes: `meilichat help exit-codes`. TAB completion: `meilichat completions
--help`.
"""
# The root group's own options: (long name, short name, help).
OPTIONS = (
    ("--version", "", "Print the version and exit."),
    ("--debug", "", "Show tracebacks and request details on errors (also MEILICHAT_DEBUG=1)."),
    ("--help", "-h", "Show this message and exit."),
)
ROOT_HELP_ARGS: tuple[list[str], ...] = ([], ["--help"], ["-h"])


def print_root_help(stream: TextIO, *, color: bool, width: int | None = None) -> None:
    """Write the root help page to `stream`, with colour when `color`."""
    from rich import box
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from meilichat_cli.cli.help.text import reflow

    page = io.StringIO()
    console = Console(
        file=page,
        width=width,
        color_system="auto" if color else None,
        force_terminal=color,
        no_color=not color,
        highlight=False,
        emoji=False,
    )
    from rich.padding import Padding

    def prose(markup: str) -> None:
        # Indented lines (examples) keep their indent when the terminal is too narrow for
        # them: each wraps under its own start. No padding to the full width either, so
        # nothing but the text reaches the scrollback.
        lines = markup.split("\n")
        if any(line.startswith(" ") for line in lines):
            for line in lines:
                indent = 1 + len(line) - len(line.lstrip(" "))
                console.print(
                    Padding(Text.from_markup(line.lstrip(" ")), (0, 0, 0, indent), expand=False)
                )
        else:
            console.print(Padding(Text.from_markup(markup), (0, 0, 0, 1), expand=False))
        console.print()

    usage = Text("Usage: ", style="yellow")
    usage.append(USAGE, style="bold")
    console.print()
    console.print(Padding(usage, (0, 0, 0, 1), expand=False))
    console.print()
    for paragraph in HELP.strip().split("\n\n"):
        prose(paragraph)

    def panel(title: str, rows: list[tuple[Text, ...]], widths: int) -> None:
        table = Table(
            highlight=False,
            show_header=False,
            expand=True,
            box=None,
            padding=(0, 1),
            pad_edge=False,
        )
        for column in range(widths):
            table.add_column(no_wrap=column < widths - 1, ratio=1 if column == widths - 1 else None)
        for row in rows:
            table.add_row(*row)
        console.print(
            Panel(table, title=title, title_align="left", border_style="dim", box=box.ROUNDED)
        )

    panel(
        "Options",
        [
            # The empty column is where typer shows an option's metavar; the root has none.
            (Text(long, style="bold cyan"), Text(short, style="bold green"), Text(), Text(text))
            for long, short, text in OPTIONS
        ],
        4,
    )
    panel(
        "Commands",
        [(Text(name, style="bold cyan"), Text(entry.summary)) for name, entry in COMMANDS.items()],
        2,
    )
    console.print()
    for paragraph in reflow(EPILOG).strip().split("\n\n"):
        prose(paragraph)
    # rich pads wrapped lines to the width; the scrollback gets the text alone.
    stream.write("\n".join(line.rstrip(" ") for line in page.getvalue().split("\n")))
    stream.flush()
