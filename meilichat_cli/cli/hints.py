"""Hints that work when pasted: a `meilichat …` command suggested by a hint gets the `-p`,
`--url` and `-w` the failing command ran with, when the suggested command takes that option
and does not already name it. Without them, a pasted hint would talk to another server
(the default profile's) than the one that just failed.

`remember_flags` records the connection options of the running command (called by
`cli.context.run_context`); `pasteable(text, ctx)` rewrites a hint or a `fix:` line. Which
options a suggested command takes is read from the click command tree, built only on this
error path. Only typer (through `cli.app`) and the stdlib are imported.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meilichat_cli.local.context import RunContext

# The connection options a hint repeats: parameter name, spelling used, every spelling.
_REPEATED = (
    ("profile", "-p", ("-p", "--profile")),
    ("url", "--url", ("--url",)),
    ("workspace", "-w", ("-w", "--workspace")),
)
# Commands whose -p/--url/-w are settings being written, not where to connect.
_SETTINGS_COMMANDS = frozenset({"profile"})
# `meilichat …` inside backquotes, or a hint that is one command line. Compiled (and cached
# by `re`) on the error path that uses them, not by every run that remembers its flags.
_QUOTED = r"`(meilichat [^`]*)`"
_WHOLE = r"\A(?:[A-Z_]+=\S+ )*meilichat [^`]*\Z"

# (command path words) -> the option strings that command takes, or None when unknown.
OptionLookup = Callable[[list[str]], "tuple[int, set[str]] | None"]


def remember_flags(ctx: RunContext, params: Mapping[str, Any]) -> None:
    flags = {
        name: value
        for name, _, _ in _REPEATED
        if isinstance(value := params.get(name), str) and value.strip()
    }
    if flags:
        ctx.command_flags = flags


def with_flags(text: str, flags: Mapping[str, str], lookup: OptionLookup) -> str:
    """`text` with `flags` added to every `meilichat …` command in it that takes them."""
    if not flags or "meilichat " not in text:
        return text

    def rewrite(command: str) -> str:
        words = command.split(" ")
        found = lookup(words[1:])
        if found is None:
            return command
        path_length, accepted = found
        present = set(words)
        extra: list[str] = []
        for name, spelling, spellings in _REPEATED:
            value = flags.get(name)
            if value is None or not accepted.intersection(spellings):
                continue
            if present.intersection(spellings) or any(
                word.startswith(f"{s}=") for word in words for s in spellings
            ):
                continue
            extra += [spelling, shlex.quote(value)]
        if not extra:
            return command
        if "--" in words:  # what follows is text, not options: they go before it
            cut = words.index("--")
            return " ".join([*words[:cut], *extra, *words[cut:]])
        del path_length  # options go last, where a reader adds them too
        return " ".join([*words, *extra])

    if re.match(_WHOLE, text.strip()):
        prefix_end = text.index("meilichat ")
        return text[:prefix_end] + rewrite(text[prefix_end:].rstrip()) + text[len(text.rstrip()) :]
    return re.sub(_QUOTED, lambda match: f"`{rewrite(match.group(1))}`", text)


def pasteable(text: str | None, ctx: RunContext) -> str | None:
    """A hint with the running command's connection options repeated (see `with_flags`)."""
    if not text or not ctx.command_flags:
        return text
    try:
        return with_flags(text, ctx.command_flags, command_options)
    except Exception:  # a hint is never worth failing the error report over
        return text


def command_options(words: list[str]) -> tuple[int, set[str]] | None:
    """How many of `words` name a meilichat command, and the options it takes."""
    from meilichat_cli.cli.app import _command
    from meilichat_cli.cli.command_table import COMMANDS

    if not words or words[0] not in COMMANDS or words[0] in _SETTINGS_COMMANDS:
        return None
    command: Any = _command(words[0])
    length = 1
    while length < len(words) and hasattr(command, "commands"):
        sub = command.commands.get(words[length])
        if sub is None:
            break
        command = sub
        length += 1
    if hasattr(command, "commands"):
        return None  # a group: the hint names no command
    options: set[str] = set()
    for param in command.params:
        options.update(getattr(param, "opts", ()))
    return length, options
