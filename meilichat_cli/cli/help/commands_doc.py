"""Every command and option as markdown, read from the click command tree `build_app()` makes.

`commands_markdown()` walks the root group the way `meilichat --help` does (commands in the
order of `cli.command_table.COMMANDS`, sub-commands in their group's order) and writes, for
each command that is not hidden: its usage line, its help text, its arguments and options
(as `--help` shows them: names, value type, help, default) and the examples of its epilog.
`render.reference_document()` puts this in front of the reference tables, in
`docs/reference.md`.

Nothing here depends on the machine: the text is the same wherever it is generated, so a test
can compare the committed file with it.

Imports: the standard library at module level; typer and the command table inside the
function (this module is only used to write and check the reference, never by a command).
"""

from __future__ import annotations

import re
from typing import Any

# Rich style tags used in help texts and epilogs; other square brackets are text.
_STYLE_TAG = re.compile(r"\[/?(?:bold|dim|italic|b|i)\]")


def _plain(text: str) -> str:
    return _STYLE_TAG.sub("", text).rstrip()


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _epilog(text: str) -> str:
    """An epilog as markdown, in its order: headings in bold, runs of indented paragraphs
    (examples) as one code block each, prose as paragraphs."""
    parts: list[str] = []
    code: list[str] = []

    def flush() -> None:
        if code:
            parts.append("```sh\n" + "\n".join(code) + "\n```")
            code.clear()

    for raw in text.split("\n\n"):
        paragraph = raw.strip("\n")
        if not paragraph.strip():
            continue
        if paragraph.startswith("  "):
            code.extend(line[2:] for line in _plain(paragraph).split("\n"))
            continue
        flush()
        heading = re.fullmatch(r"\[bold\](.*)\[/bold\]", paragraph.strip())
        parts.append(f"**{heading.group(1)}**" if heading else " ".join(_plain(paragraph).split()))
    flush()
    return "\n\n".join(parts)


def _command_section(command: Any, context: Any, level: int) -> list[str]:
    path = context.command_path
    usage = " ".join([path, *command.collect_usage_pieces(context)])
    parts = [f"{'#' * level} `{path}`", f"```\n{usage}\n```"]
    if command.help:
        parts.append(_plain(command.help))
    rows = []
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        record = param.get_help_record(context)
        if record is None:  # an argument: click gives it no help record
            name = param.human_readable_name
            rows.append((f"`{name}`", _cell(_plain(getattr(param, "help", None) or ""))))
            continue
        names, help_text = record
        rows.append((f"`{names}`", _cell(_plain(help_text))))
    help_names = ", ".join(context.help_option_names)
    rows.append((f"`{help_names}`", "Show the help of this command and exit."))
    parts.append(
        "| argument or option | meaning |\n| --- | --- |\n"
        + "\n".join(f"| {name} | {meaning} |" for name, meaning in rows)
    )
    if command.epilog:
        parts.append(_epilog(command.epilog))
    return parts


def _walk(command: Any, context: Any, level: int) -> list[str]:
    from meilichat_cli.cli.typer_compat import Context

    parts: list[str] = []
    for name in command.list_commands(context):
        sub = command.get_command(context, name)
        if sub is None or getattr(sub, "hidden", False):
            continue
        sub_context = Context(sub, info_name=name, parent=context)
        parts += _command_section(sub, sub_context, level)
        if hasattr(sub, "list_commands"):
            parts += _walk(sub, sub_context, level + 1)
    return parts


def commands_markdown(level: int = 3) -> str:
    """Every command under `meilichat`, each under a heading of `level`, as markdown."""
    from meilichat_cli.cli.app import build_app
    from meilichat_cli.cli.typer_compat import Context, click_command

    root = click_command(build_app())
    context = Context(root, info_name="meilichat", **root.context_settings)
    usage = " ".join(["meilichat", *root.collect_usage_pieces(context)])
    options = []
    for param in root.params:
        record = param.get_help_record(context)
        if record is not None and not getattr(param, "hidden", False):
            options.append(f"| `{record[0]}` | {_cell(_plain(record[1]))} |")
    help_names = ", ".join(context.help_option_names)
    options.append(f"| `{help_names}` | Show the help and exit. |")
    parts = [
        f"```\n{usage}\n```",
        "Options of `meilichat` itself, given before the command:",
        "| option | meaning |\n| --- | --- |\n" + "\n".join(options),
        *_walk(root, context, level),
    ]
    return "\n\n".join(parts)
