"""Every use of typer's (and its vendored click's) private or internal API, in one place.

typer 0.28 carries its own copy of click as `typer._click`; meilichat relies on a few parts
of it that are not typer's public API:

- the click exception classes typer raises while parsing (`UsageError`, its subclass
  `NoArgsIsHelpError`, `Abort`), turned into meilichat's errors by the boundary;
- `TyperGroup` (the root group class, subclassed to build commands lazily) and
  `typer.main.get_command` (a Typer app as a click command);
- the shell-completion machinery (`ShellComplete`, `CompletionItem`, `add_completion_class`,
  `split_arg_string` and the private `_resolve_context` / `_resolve_incomplete`), and a
  parameter's `_custom_shell_complete`;
- typer reading a command function's parameters through `inspect.signature`, which lets
  `cli/options.py` declare the connection options once (`__signature__`).

`tests/test_typer_compat.py` checks each of these against the installed typer and says which
one broke, so a typer upgrade fails there, clearly, rather than somewhere in a command.
Imports typer only.
"""

from __future__ import annotations

from typing import Any

from typer import Abort
from typer._click.core import Context, Parameter
from typer._click.exceptions import NoArgsIsHelpError
from typer._click.exceptions import UsageError as ClickUsageError
from typer._click.shell_completion import (
    CompletionItem,
    ShellComplete,
    _resolve_context,
    _resolve_incomplete,
    add_completion_class,
    split_arg_string,
)
from typer._click.types import StringParamType
from typer.core import TyperGroup

__all__ = [
    "Abort",
    "ClickUsageError",
    "CompletionItem",
    "Context",
    "NoArgsIsHelpError",
    "Parameter",
    "ShellComplete",
    "StringParamType",
    "TyperGroup",
    "add_completion_class",
    "click_command",
    "has_custom_completion",
    "resolve_context",
    "resolve_incomplete",
    "split_arg_string",
]


def click_command(app: Any) -> Any:
    """The click command (a group for a Typer with several commands) typer builds for `app`."""
    import typer.main

    return typer.main.get_command(app)


def resolve_context(cli: Any, ctx_args: Any, prog_name: str, args: list[str]) -> Context:
    """The click context of a partly typed command line, built without running callbacks."""
    context: Context = _resolve_context(cli, ctx_args, prog_name, args)
    return context


def resolve_incomplete(ctx: Context, args: list[str], incomplete: str) -> tuple[Any, str]:
    """What the word under the cursor completes (a command, a parameter) and its text."""
    target, text = _resolve_incomplete(ctx, args, incomplete)
    return target, text


def has_custom_completion(parameter: Parameter) -> bool:
    """Whether the parameter has its own completion (`autocompletion=` in typer)."""
    return parameter._custom_shell_complete is not None
