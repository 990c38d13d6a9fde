"""How the admin commands show things: tables, `name  value` blocks, JSON.

On a terminal, tables are drawn with rich (imported inside the functions that draw); in a
pipe, the same rows come out as plain aligned columns without colour or box characters.
Every piece of server text is sanitized before it is shown (cells as one line, long values
such as prompts and templates keep their line breaks); JSON output escapes instead
(`ensure_ascii`, so ESC, DEL and C1 controls appear as `\\u001b`, `\\u007f`, `\\u009b`).

Must not import httpx, typer or prompt_toolkit; rich only inside functions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from meilichat_cli.text.sanitize import sanitize, sanitize_line

if TYPE_CHECKING:
    from meilichat_cli.local.context import RunContext

NONE = "-"


def write_json(ctx: RunContext, data: Any) -> None:
    """A JSON document on stdout (`text.json_text`: indented, ASCII-escaped)."""
    from meilichat_cli.ui.json_output import write_json as write

    write(ctx.stdout, data)


def write_line(ctx: RunContext, text: str) -> None:
    """One line of text on stdout: sanitized, line breaks and tabs turned into spaces, the
    spacing of aligned columns kept."""
    ctx.stdout.write(sanitize(text).translate(_ONE_LINE) + "\n")
    ctx.stdout.flush()


_ONE_LINE = str.maketrans({"\n": " ", "\t": " ", "\u2028": " ", "\u2029": " "})


def cell(value: Any) -> str:
    """One table cell or one-line value: sanitized, JSON for lists and objects."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, dict)):
        return sanitize_line(json.dumps(value, ensure_ascii=False))
    return sanitize_line(str(value))


def print_table(
    ctx: RunContext, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str = ""
) -> None:
    texts = [[cell(value) for value in row] for row in rows]
    if ctx.stdout_isatty:
        _rich_table(ctx, columns, texts, title)
        return
    widths = [len(name) for name in columns]
    for row in texts:
        widths = [max(width, len(text)) for width, text in zip(widths, row, strict=False)]
    for row in [list(columns), *texts]:
        line = "  ".join(text.ljust(width) for text, width in zip(row, widths, strict=False))
        ctx.stdout.write(line.rstrip() + "\n")
    ctx.stdout.flush()


def _rich_table(
    ctx: RunContext, columns: Sequence[str], rows: Sequence[Sequence[str]], title: str
) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title or None, show_edge=False, pad_edge=False, header_style="bold")
    for name in columns:
        table.add_column(name, overflow="fold")
    for row in rows:
        # Text objects, not strings: rich would read "[...]" in server text as markup.
        table.add_row(*(Text(value) for value in row))
    terminal_console(ctx).print(table)


def terminal_console(ctx: RunContext) -> Any:
    from rich.console import Console

    return Console(
        file=ctx.stdout,
        force_terminal=ctx.stdout_isatty,
        no_color=ctx.no_color,
        highlight=False,
        emoji=False,
        markup=False,
        # COLUMNS, TERM and friends come from the run's environment, not the process's.
        _environ=ctx.environ,
    )


def print_fields(ctx: RunContext, fields: Sequence[tuple[str, Any]]) -> None:
    """`name  value` lines; a value with line breaks continues on indented lines."""
    width = max((len(name) for name, _ in fields), default=0)
    out: list[str] = []
    for name, value in fields:
        if isinstance(value, str) and "\n" in value.strip("\n"):
            out.append(f"{name}:")
            out.extend(f"    {line}" for line in sanitize(value).rstrip("\n").split("\n"))
        else:
            out.append(f"{name.ljust(width)}  {cell(value)}")
    ctx.stdout.write("\n".join(out) + "\n")
    ctx.stdout.flush()


def workspace_fields(name: str, settings: Mapping[str, Any]) -> list[tuple[str, Any]]:
    fields: list[tuple[str, Any]] = [("workspace", name)]
    for key in ("source", "baseUrl", "orgId", "projectId", "apiVersion", "deploymentId"):
        fields.append((key, settings.get(key)))
    api_key = settings.get("apiKey")
    fields.append(("apiKey", f"{api_key} (masked by the server)" if api_key else "not set"))
    prompts = settings.get("prompts")
    if isinstance(prompts, dict):
        for key, text in prompts.items():
            fields.append((f"prompts.{key}", text))
    return fields


def index_chat_fields(index: str, settings: Mapping[str, Any]) -> list[tuple[str, Any]]:
    fields: list[tuple[str, Any]] = [("index", index)]
    description = settings.get("description")
    fields.append(("description", description if description else "(none)"))
    fields.append(("documentTemplate", settings.get("documentTemplate")))
    fields.append(("documentTemplateMaxBytes", settings.get("documentTemplateMaxBytes")))
    params = settings.get("searchParameters")
    if isinstance(params, dict) and params:
        for key, value in params.items():
            fields.append((f"searchParameters.{key}", value))
    else:
        fields.append(("searchParameters", "(defaults)"))
    return fields


def print_previews(
    ctx: RunContext, docs: Sequence[Mapping[str, Any]], texts: Sequence[str], max_bytes: Any
) -> None:
    """Each rendered document under a header; an empty render is called out."""
    for number, (doc, text) in enumerate(zip(docs, texts, strict=False), start=1):
        ident = next((doc[k] for k in ("id", "uid", "_id") if k in doc), None)
        size = len(text.encode("utf-8", "surrogatepass"))
        label = f" (id {cell(ident)})" if ident is not None else ""
        ctx.stdout.write(
            f"--- document {number}{label}: {size} bytes (limit {cell(max_bytes)}) ---\n"
        )
        if text.strip():
            ctx.stdout.write(sanitize(text).rstrip("\n") + "\n")
        else:
            ctx.stdout.write("(empty: the model sees nothing for this document)\n")
    ctx.stdout.flush()


def workspace_change_text(changes: Mapping[str, Any]) -> str:
    """What a workspace PATCH changes, in words: `orgId reset, prompts.system set`."""
    parts: list[str] = []
    for name, value in changes.items():
        if name == "prompts":
            if value is None:
                parts.append("prompts reset")
            else:
                parts.extend(
                    f"prompts.{key} {'reset' if text is None else 'set'}"
                    for key, text in value.items()
                )
        elif name == "apiKey":
            parts.append("provider key " + ("removed" if value is None else "set"))
        else:
            parts.append(f"{name} {'reset' if value is None else '= ' + str(value)}")
    return ", ".join(parts)


def index_change_line(uid: str, result: Mapping[str, Any], body: Mapping[str, Any] | None) -> str:
    """What an update of an index's chat settings did (`result` of
    `api.admin.apply_index_chat_update`; `body` None: a reset): the request a dry run would
    send, the task that succeeded, or the task left running with --no-wait."""
    what = "reset to the defaults" if body is None else "changed: " + ", ".join(body)
    if result.get("dryRun"):
        # The request this server's version would get (see admin.index_chat_settings_request).
        request = result["wouldRequest"]
        line = f"Dry run: would {request['method']} {request['path']}"
        if body is None:
            line += " (reset every chat setting to its default)"
        else:
            # The body this version gets (on 1.15.x it may carry the stored limit along).
            line += " with " + json.dumps(result.get("wouldSend", body), ensure_ascii=False)
        if request.get("fallbackMethod"):
            line += (
                f" ({request['fallbackMethod']} instead if the server refuses"
                f" {request['method']}: its version could not be read)"
            )
        return line
    if result.get("status") == "succeeded":
        return f"Chat settings of '{uid}' {what} (task {result['taskUid']} succeeded)."
    return (
        f"Chat settings of '{uid}' {what}: task {result['taskUid']} is"
        f" {result.get('status')}; not waiting (--no-wait)."
    )
