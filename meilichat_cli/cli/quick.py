"""`meilichat ask` and `meilichat chat` parsed without typer, so neither waits for it.

Importing typer and building a command's click command costs 20 to 40 ms: a fifth of the
time to `ask`'s first token, a quarter of the time to the REPL's prompt, and the same CPU
again in every `ask` of a script. Nothing about a plain `meilichat ask -w movies "…"` needs
it. The entry point asks `parse(args)` first. A command line made only of `--debug`, a
command of `QUICK_COMMANDS`, that command's own options in their plain spellings
(`-m NAME`, `--model NAME`, `--model=NAME`, a flag) and words gets back the parameters exactly
as click would have parsed them; so does one with `--`, which ends the options as it does for
click: every word after it is a word of the question, even `--` or one that starts with a
dash (`meilichat ask -- "-v is my question"`). Anything else (`--help`, bundled short flags, a
repeated option, an unknown one, a value click must check or refuse, a value starting with
`-`, `-` itself before `--`) gets None, and typer parses the line as always, with its help and
its error messages.

Each command has one table of its options (`CHAT_OPTIONS`, `ASK_OPTIONS`: the connection
options of `cli/options.py` and the command's own, as click lists them) and one body that
runs once the options are parsed, by typer or here: `start_chat` and `ask_question`. The
typer commands (`cli/commands/chat.py`, `cli/commands/ask.py`) call the same bodies. What an
option's callback does is done here too: `--json` and `--events` (`errors_as_json`) make the
run's errors JSON objects; `--timeout`'s (`finite`) refusals are left to typer.
tests/test_quick_parse.py keeps each table equal to its click command's parameters (names,
spellings, flags, defaults, callbacks) and each parse equal to click's.

Standard library only at module level: must not import typer, click, httpx, rich,
prompt_toolkit or sqlite3 (the REPL imports prompt_toolkit when it starts, `ask` httpx when
it connects).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from meilichat_cli.api.connect import DEFAULT_ANSWER_TIMEOUT, DEFAULT_READ_TIMEOUT

if TYPE_CHECKING:
    from meilichat_cli.api.connect import ConnectionFlags
    from meilichat_cli.local.context import RunContext


class Spec:
    """One option of a command: its parameter, its spellings, what its value is, and the
    name of its click callback (what it does is done by `QuickCommand.run`). A plain class:
    creating a NamedTuple class costs a millisecond, on every `ask`."""

    __slots__ = ("callback", "default", "kind", "name", "opts")

    def __init__(
        self,
        name: str,
        opts: tuple[str, ...],
        kind: str,  # "flag" (no value), "text", or "seconds" (a float, at least 0.1, finite)
        default: Any,
        callback: str | None = None,
    ) -> None:
        self.name = name
        self.opts = opts
        self.kind = kind
        self.default = default
        self.callback = callback


ERRORS_AS_JSON = "errors_as_json"  # cli/context.py: errors of this run become JSON objects
FINITE = "finite"  # cli/options.py: nan and inf refused (here: left to typer, see _convert)
# The click callbacks whose effect this module reproduces; a test refuses any other.
REPRODUCED_CALLBACKS = frozenset({ERRORS_AS_JSON, FINITE})

# The connection options (cli/options.py: ChatConnection), as click lists them.
CONNECTION_OPTIONS: tuple[Spec, ...] = (
    Spec("profile", ("--profile", "-p"), "text", None),
    Spec("url", ("--url",), "text", None),
    Spec("workspace", ("--workspace", "-w"), "text", None),
    Spec("model", ("--model", "-m"), "text", None),
    Spec("api_key", ("--api-key",), "text", None),
    Spec("timeout", ("--timeout",), "seconds", DEFAULT_READ_TIMEOUT, FINITE),
    Spec("ca_bundle", ("--ca-bundle",), "text", None),
    Spec("insecure", ("--insecure",), "flag", False),
    Spec("as_persona", ("--as",), "text", None),
    Spec("max_time", ("--max-time",), "seconds", DEFAULT_ANSWER_TIMEOUT, FINITE),
)
# The connection options, in ConnectionFlags' terms.
CONNECTION = tuple(spec.name for spec in CONNECTION_OPTIONS)

SYSTEM = Spec("system", ("--system", "-s"), "text", None)
CONTINUE = Spec("continue_", ("--continue", "-c"), "flag", False)
CONVERSATION = Spec("conversation", ("--conversation",), "text", None)
NO_SAVE = Spec("no_save", ("--no-save",), "flag", False)

# chat's own options (cli/commands/chat.py), then the connection options.
CHAT_OPTIONS: tuple[Spec, ...] = (SYSTEM, CONTINUE, CONVERSATION, NO_SAVE, *CONNECTION_OPTIONS)
# ask's: TurnOptions (cli/options.py), --input (cli/commands/ask.py), the connection options.
ASK_OPTIONS: tuple[Spec, ...] = (
    SYSTEM,
    Spec("json_mode", ("--json",), "flag", False, ERRORS_AS_JSON),
    Spec("events_mode", ("--events",), "flag", False, ERRORS_AS_JSON),
    Spec("plain", ("--plain",), "flag", False),
    Spec("sources", ("--sources",), "flag", False),
    CONTINUE,
    CONVERSATION,
    NO_SAVE,
    Spec("input_format", ("--input",), "text", None),
    *CONNECTION_OPTIONS,
)
MIN_TIMEOUT = 0.1


class QuickCommand:
    """`meilichat COMMAND …` as click would have parsed it: the root's `--debug`, the words
    (chat's first question, ask's prompt) and every option's value (its default when not
    given). A plain class: a dataclass costs most of a millisecond to create, and this one is
    built before the prompt or the request."""

    def __init__(
        self, command: str, *, debug: bool, words: tuple[str, ...], params: dict[str, Any]
    ) -> None:
        self.command = command
        self.debug = debug
        self.words = words
        self.params = params

    @property
    def flags(self) -> ConnectionFlags:
        from meilichat_cli.api.connect import ConnectionFlags

        return ConnectionFlags(**{name: self.params[name] for name in CONNECTION})

    def run(self, ctx: RunContext) -> None:
        """What the root callback, the options' callbacks and the command do with these
        parameters."""
        from meilichat_cli.cli.hints import remember_flags

        if self.debug:
            ctx.debug = True
        options, body = QUICK_COMMANDS[self.command]
        for spec in options:
            if spec.callback == ERRORS_AS_JSON and self.params[spec.name]:
                ctx.errors_as_json = True
        remember_flags(ctx, self.params)
        try:
            body(ctx, self)
        except KeyboardInterrupt:
            # As typer ends a command that a Ctrl-C escaped: exit 130, nothing more said.
            raise SystemExit(130) from None


def parse(args: list[str]) -> QuickCommand | None:
    """`args` (without the program name) as the parameters of a command of
    `QUICK_COMMANDS`, or None when typer must parse them (see the module docstring)."""
    debug = False
    position = 0
    while position < len(args) and args[position] == "--debug":
        debug = True
        position += 1
    if position >= len(args) or args[position] not in QUICK_COMMANDS:
        return None
    command = args[position]
    options = QUICK_COMMANDS[command][0]
    by_spelling = {spelling: spec for spec in options for spelling in spec.opts}
    params: dict[str, Any] = {spec.name: spec.default for spec in options}
    given: set[str] = set()
    words: list[str] = []
    rest = iter(args[position + 1 :])
    for word in rest:
        if word == "--":
            # The end of the options, as click's parser reads it: the rest are words.
            words.extend(rest)
            break
        if not word.startswith("-"):
            words.append(word)
            continue
        spelling, equals, value = word.partition("=") if word.startswith("--") else (word, "", "")
        spec = by_spelling.get(spelling)
        if spec is None or spec.name in given:
            return None
        given.add(spec.name)
        if spec.kind == "flag":
            if equals:
                return None
            params[spec.name] = True
            continue
        if not equals:
            value = next(rest, "-")  # a missing value: typer says so
            if value.startswith("-"):
                return None
        converted = _convert(spec, value)
        if converted is None:
            return None
        params[spec.name] = converted
    return QuickCommand(command, debug=debug, words=tuple(words), params=params)


def _convert(spec: Spec, value: str) -> Any:
    if spec.kind == "text":
        return value
    try:
        seconds = float(value)  # as click's FLOAT type reads it
    except ValueError:
        return None
    # The range click checks, and what the `finite` callback refuses.
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
    """The `chat` command, once its options are parsed (by typer or by `parse`)."""
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


def check_turn_flags(
    *, json_mode: bool, events_mode: bool, plain: bool, continue_: bool, conversation: str | None
) -> None:
    """Refuse conflicting output modes and conversations before anything is sent: for `ask`
    here, and for `demo` through its option group (`TurnOptions.check`)."""
    from meilichat_cli.chat.ask import check_resume_flags
    from meilichat_cli.ui.output import check_output_modes

    check_output_modes(json_mode=json_mode, events_mode=events_mode, plain=plain)
    check_resume_flags(continue_, conversation)


def ask_question(
    ctx: RunContext,
    flags: ConnectionFlags,
    prompt: list[str] | None,
    *,
    system: str | None,
    json_mode: bool,
    events_mode: bool,
    plain: bool,
    sources: bool,
    continue_: bool,
    conversation: str | None,
    no_save: bool,
    input_format: str | None,
) -> None:
    """The `ask` command, once its options are parsed (by typer or by `parse`): the prompt
    from the words and piped stdin, or one JSON question object with `--input json`; one
    output mode; the question asked by `chat.ask.ask_once`."""
    from meilichat_cli.chat.ask import ask_once, read_json_input, read_prompt
    from meilichat_cli.errors import UsageError
    from meilichat_cli.local.context import reader_may_leave
    from meilichat_cli.ui.output import choose_output

    check_turn_flags(
        json_mode=json_mode,
        events_mode=events_mode,
        plain=plain,
        continue_=continue_,
        conversation=conversation,
    )
    question = None
    if input_format is not None:
        question = read_json_input(ctx, input_format, prompt or [])
        if question.messages and (continue_ or conversation is not None):
            raise UsageError(
                'a "messages" conversation in the input cannot be combined with -c or'
                " --conversation",
                hint="send the whole conversation in the input, or continue a saved one",
            )
        text = question.text
    else:
        text = read_prompt(ctx, prompt or [])
    if question is not None:
        # The input's own fields are the most specific: they win over flags and environment.
        flags = flags.replace(
            workspace=question.workspace or flags.workspace,
            model=question.model or flags.model,
        )
    output = choose_output(
        ctx, json_mode=json_mode, events_mode=events_mode, plain=plain, show_sources=sources
    )
    with reader_may_leave(ctx):
        ask_once(
            ctx,
            flags,
            text,
            system=system,
            output=output,
            resume=conversation,
            resume_latest=continue_,
            save=not no_save,
            question=question,
        )


def _run_chat(ctx: RunContext, quick: QuickCommand) -> None:
    params = quick.params
    start_chat(
        ctx,
        quick.flags,
        question=list(quick.words),
        system=params["system"],
        continue_=params["continue_"],
        conversation=params["conversation"],
        no_save=params["no_save"],
    )


def _run_ask(ctx: RunContext, quick: QuickCommand) -> None:
    params = quick.params
    ask_question(
        ctx,
        quick.flags,
        list(quick.words),
        system=params["system"],
        json_mode=params["json_mode"],
        events_mode=params["events_mode"],
        plain=params["plain"],
        sources=params["sources"],
        continue_=params["continue_"],
        conversation=params["conversation"],
        no_save=params["no_save"],
        input_format=params["input_format"],
    )


# The commands parsed here: their options and what runs them. `__main__` names the same ones.
QUICK_COMMANDS: dict[str, tuple[tuple[Spec, ...], Callable[[RunContext, QuickCommand], None]]] = {
    "ask": (ASK_OPTIONS, _run_ask),
    "chat": (CHAT_OPTIONS, _run_chat),
}
