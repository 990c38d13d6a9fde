"""`meilichat chat` parsed without typer, so the REPL's prompt is not kept waiting.

Importing typer and building the click command of `chat` costs about 40 ms, a quarter of the
time to the prompt, and nothing about a plain `meilichat chat -m MODEL` needs it. The entry
point asks `parse_chat(args)` first. A command line made only of `--debug`, `chat`, chat's own
options in their plain spellings (`-m NAME`, `--model NAME`, `--model=NAME`, a flag) and
question words gets back the parameters exactly as click would have parsed them; anything
else (`--help`, `--`, bundled short flags, a repeated option, an unknown one, a value click
must check or refuse, a value starting with `-`) gets None, and typer parses the line as
always, with its help and its error messages. Both ways run `start_chat`.

`CHAT_OPTIONS` repeats the options of `cli/commands/chat.py` and `cli/options.py`:
tests/test_quick_chat.py keeps the table equal to the click command's parameters (names,
spellings, flags, defaults) and each parse equal to click's.

Standard library only at module level: must not import typer, click, httpx, rich,
prompt_toolkit or sqlite3 (the REPL imports prompt_toolkit when it starts).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from meilichat_cli.api.connect import ConnectionFlags
    from meilichat_cli.local.context import RunContext


class Spec(NamedTuple):
    """One option of `chat`: its parameter, its spellings, and what its value is."""

    name: str
    opts: tuple[str, ...]
    kind: str  # "flag" (no value), "text", or "seconds" (a float, at least 0.1, finite)
    default: Any


# The connection options (cli/options.py: ChatConnection), then chat's own, as click lists them.
CHAT_OPTIONS: tuple[Spec, ...] = (
    Spec("system", ("--system", "-s"), "text", None),
    Spec("continue_", ("--continue", "-c"), "flag", False),
    Spec("conversation", ("--conversation",), "text", None),
    Spec("no_save", ("--no-save",), "flag", False),
    Spec("profile", ("--profile", "-p"), "text", None),
    Spec("url", ("--url",), "text", None),
    Spec("workspace", ("--workspace", "-w"), "text", None),
    Spec("model", ("--model", "-m"), "text", None),
    Spec("api_key", ("--api-key",), "text", None),
    Spec("timeout", ("--timeout",), "seconds", 120.0),
    Spec("ca_bundle", ("--ca-bundle",), "text", None),
    Spec("insecure", ("--insecure",), "flag", False),
    Spec("as_persona", ("--as",), "text", None),
)
# The connection options, in ConnectionFlags' terms.
CONNECTION = (
    "profile",
    "url",
    "workspace",
    "model",
    "api_key",
    "timeout",
    "ca_bundle",
    "insecure",
    "as_persona",
)
_BY_SPELLING = {spelling: spec for spec in CHAT_OPTIONS for spelling in spec.opts}
MIN_TIMEOUT = 0.1


class QuickChat:
    """`meilichat chat …` as click would have parsed it: the root's `--debug`, the question
    words and every option's value (its default when not given). A plain class: a dataclass
    costs most of a millisecond to create, and this one is built before the prompt."""

    def __init__(self, *, debug: bool, question: tuple[str, ...], params: dict[str, Any]) -> None:
        self.debug = debug
        self.question = question
        self.params = params

    @property
    def flags(self) -> ConnectionFlags:
        from meilichat_cli.api.connect import ConnectionFlags

        return ConnectionFlags(**{name: self.params[name] for name in CONNECTION})

    def run(self, ctx: RunContext) -> None:
        """What the root callback and the `chat` command do with these parameters."""
        from meilichat_cli.cli.hints import remember_flags

        if self.debug:
            ctx.debug = True
        remember_flags(ctx, self.params)
        try:
            start_chat(
                ctx,
                self.flags,
                question=list(self.question),
                system=self.params["system"],
                continue_=self.params["continue_"],
                conversation=self.params["conversation"],
                no_save=self.params["no_save"],
            )
        except KeyboardInterrupt:
            # As typer ends a command that a Ctrl-C escaped: exit 130, nothing more said.
            raise SystemExit(130) from None


def parse_chat(args: list[str]) -> QuickChat | None:
    """`args` (without the program name) as `meilichat chat` parameters, or None when
    typer must parse them (see the module docstring)."""
    debug = False
    position = 0
    while position < len(args) and args[position] == "--debug":
        debug = True
        position += 1
    if position >= len(args) or args[position] != "chat":
        return None
    params: dict[str, Any] = {spec.name: spec.default for spec in CHAT_OPTIONS}
    given: set[str] = set()
    question: list[str] = []
    words = iter(args[position + 1 :])
    for word in words:
        if not word.startswith("-"):
            question.append(word)
            continue
        spelling, equals, value = word.partition("=") if word.startswith("--") else (word, "", "")
        spec = _BY_SPELLING.get(spelling)
        if spec is None or spec.name in given:
            return None
        given.add(spec.name)
        if spec.kind == "flag":
            if equals:
                return None
            params[spec.name] = True
            continue
        if not equals:
            value = next(words, "-")  # a missing value: typer says so
            if value.startswith("-"):
                return None
        converted = _convert(spec, value)
        if converted is None:
            return None
        params[spec.name] = converted
    return QuickChat(debug=debug, question=tuple(question), params=params)


def _convert(spec: Spec, value: str) -> Any:
    if spec.kind == "text":
        return value
    try:
        seconds = float(value)  # as click's FLOAT type reads it
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= MIN_TIMEOUT else None


def start_chat(
    ctx: RunContext,
    flags: ConnectionFlags,
    *,
    question: list[str] | None,
    system: str | None,
    continue_: bool,
    conversation: str | None,
    no_save: bool,
) -> None:
    """The `chat` command, once its options are parsed (by typer or by `parse_chat`)."""
    from meilichat_cli.repl.session import start_repl

    if continue_ or conversation is not None:  # nothing to check otherwise (nor to import)
        from meilichat_cli.chat.ask import check_resume_flags

        check_resume_flags(continue_, conversation)
    start_repl(
        ctx,
        flags,
        question=" ".join(question or []).strip() or None,
        system=system,
        resume=conversation,
        resume_latest=continue_,
        save=not no_save,
    )
