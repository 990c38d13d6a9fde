"""The REPL's loop, and what its prompt shows: the prompt, the continuation of its lines,
the slash commands and their aliases (Tab completes them), the keys.

`run_loop` reads lines until Ctrl-D or /exit and hands each to whatever handles them (the
`ChatController` of `repl.slash_commands`, built once the prompt is on screen). Everything
here is needed to show the first prompt, so it stays small: stdlib only at module level
(`local.signals` when the loop runs). Never prints, and never imports typer, rich, httpx or
prompt_toolkit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, Protocol


class SlashCommand(NamedTuple):  # not a dataclass: created before the prompt, ten times cheaper
    name: str  # with its slash
    usage: str
    summary: str


COMMANDS: tuple[SlashCommand, ...] = (
    SlashCommand("/help", "/help", "list the commands and keys"),
    SlashCommand("/new", "/new", "start a fresh conversation"),
    SlashCommand(
        "/sources", "/sources [N]", "documents behind the last answer, or number N in full"
    ),
    SlashCommand("/searches", "/searches", "what the last answer searched: index, query, filter"),
    SlashCommand("/trace", "/trace", "the last answer's searches with timings, hits and cost"),
    SlashCommand("/why", "/why", "replay the last answer's searches with ranking scores"),
    SlashCommand("/open", "/open N", "source N fetched again from the server, in full"),
    SlashCommand("/retry", "/retry", "ask the last question again"),
    SlashCommand("/edit", "/edit", "edit the last question in $EDITOR and ask it again"),
    SlashCommand("/copy", "/copy", "copy the last answer to the clipboard"),
    SlashCommand("/workspace", "/workspace [NAME]", "show or switch the chat workspace"),
    SlashCommand("/model", "/model [NAME]", "show or switch the model"),
    SlashCommand("/as", "/as [PERSONA|-]", "chat as a persona (a tenant token), or - for your key"),
    SlashCommand("/system", "/system [TEXT]", "add a system message of your own (or show them)"),
    SlashCommand("/save", "/save [-f] FILE", "write the conversation as markdown, with sources"),
    SlashCommand("/history", "/history", "list saved conversations"),
    SlashCommand("/resume", "/resume ID", "continue a saved conversation (an id prefix will do)"),
    SlashCommand("/exit", "/exit", "leave (Ctrl-D does too)"),
)
ALIASES = {"/quit": "/exit", "/q": "/exit", "/?": "/help", "/clear": "/new"}
COMMAND_NAMES = frozenset(command.name for command in COMMANDS)

# Must match the bindings in repl/prompt.py.
KEYS_HELP = (
    ("Enter", "send"),
    ("Alt+Enter, Esc Enter, Ctrl+J", "new line"),
    ("Ctrl-X Ctrl-E", "edit the input in $EDITOR"),
    ("→ or Ctrl-E", "accept the grey suggestion from history"),
    ("Tab", "complete a /command"),
    ("Ctrl-C", "stop the answer; at the prompt, clear the line"),
    ("Ctrl-D", "leave"),
)
# The prompt and the continuation of its lines (the prompt shows them; echoed questions too).
PROMPT = "> "
CONTINUATION = ". "


if TYPE_CHECKING:  # a Protocol class costs a little to create, and is only a type here

    class LineHandler(Protocol):
        """Carries out one submitted line; False when the session should end (/exit)."""

        def handle(self, line: str) -> bool: ...


def run_loop(read_line: Callable[[], str], controller: LineHandler) -> None:
    """Read and carry out lines until Ctrl-D or /exit.

    Ctrl-C at the prompt clears the line (the prompt raises KeyboardInterrupt); Ctrl-C while
    an answer streams is handled by the turn runner; Ctrl-C anywhere else (an editor, a slow
    history query) abandons that command. None of them ends the session; SIGTERM and SIGHUP
    (raised as a KeyboardInterrupt too) do, once the partial answer is kept."""
    from meilichat_cli.local import signals

    while True:
        try:
            line = read_line()
        except KeyboardInterrupt:
            if signals.received() is not None:
                raise
            continue
        except EOFError:
            return
        try:
            if not controller.handle(line):
                return
        except KeyboardInterrupt:
            if signals.received() is not None:
                raise
            continue
        signum = signals.received()
        if signum is not None:
            raise signals.Terminated(signum)
