"""The terminal side of the REPL (`repl_commands.ReplHost`): answers streamed on screen,
notes, errors, sources, and the desktop helpers (clipboard, $EDITOR) the slash commands use.

Sending is injected (`run_turn`: a callable that runs one request on the session's client),
so this module never touches HTTP. While an answer streams, keys typed ahead are neither
echoed into the answer (which would tear the live region) nor turned from Enter into a line
feed by the terminal driver: they wait, unchanged, for the next prompt. Ctrl-C still
interrupts. Every piece of text is sanitized here, so the controller
hands over model output, documents and history as they are. rich is imported only when an
answer or the sources are drawn.

Must not import httpx, typer or prompt_toolkit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TextIO

from meilichat_cli.errors import MeilichatError
from meilichat_cli.text.sanitize import sanitize, sanitize_line

if TYPE_CHECKING:
    from rich.console import Console

    from meilichat_cli.chat.turn import TurnOutcome
    from meilichat_cli.local.context import RunContext
    from meilichat_cli.protocol.conversation import Message, Search
    from meilichat_cli.protocol.events import Event
    from meilichat_cli.repl.state import ChatState
    from meilichat_cli.ui.output import Output

# Runs one request: (state, new messages, event callback) -> outcome; raises MeilichatError
# when the request fails before any answer, KeyboardInterrupt on Ctrl-C while connecting.
# (state, prompt, on_event, on_sent): see chat.turn.run_turn.
TurnRunner = Callable[
    ["ChatState", "list[Message]", "Callable[[Event], None]", "Callable[[], None]"],
    "TurnOutcome",
]


class TerminalHost:
    """Shows everything the REPL shows. `terminal` receives the OSC 52 sequence of /copy."""

    def __init__(
        self,
        ctx: RunContext,
        *,
        terminal: TextIO,
        run_turn: TurnRunner,
        keyboard_fd: int | None = None,
    ) -> None:
        self.ctx = ctx
        self.terminal = terminal
        self._run_turn = run_turn
        self._keyboard_fd = keyboard_fd  # the terminal the prompt reads, when there is one
        self._console: Console | None = None
        # The prompt's bottom toolbar; kept under the answer while it streams.
        self.toolbar: Callable[[], str] | None = None

    # ---- answers

    def send(self, state: ChatState, prompt: list[Message]) -> TurnOutcome | None:
        output = self.output_for_turn()
        try:
            with hold_typeahead(self._keyboard_fd):
                output.before_request(state.model)
                try:
                    outcome = self._run_turn(state, prompt, output.on_event, output.request_sent)
                except BaseException:
                    output.cancel()
                    raise
        except MeilichatError as error:  # the request failed before any answer
            self.error(error.message, error.hint)
            return None
        except KeyboardInterrupt:  # Ctrl-C while connecting: nothing to keep
            self.say("[interrupted]")
            return None
        # A second Ctrl-C while the last lines are drawn: the turn still counts.
        with contextlib.suppress(KeyboardInterrupt):
            output.finish(outcome, {})
        if outcome.error is not None and not outcome.interrupted:
            self.error(outcome.error.message, outcome.error.hint)
        return outcome

    def output_for_turn(self) -> Output:
        """A fresh answer renderer: markdown on a terminal, plain text otherwise."""
        from meilichat_cli.ui.output import choose_output

        return choose_output(
            self.ctx,
            json_mode=False,
            events_mode=False,
            plain=False,
            show_sources=True,
            footer=self.toolbar,
        )

    # ---- text

    @property
    def console(self) -> Console:
        if self._console is None:
            from meilichat_cli.ui.output import make_console

            self._console = make_console(self.ctx)
        return self._console

    def say(self, text: str) -> None:
        self.ctx.stdout.write(sanitize(text) + "\n")
        self.ctx.stdout.flush()

    def echo_question(self, text: str) -> None:
        from meilichat_cli.repl.loop import CONTINUATION, PROMPT

        lines = sanitize(text).split("\n")
        shown = [PROMPT + lines[0], *(CONTINUATION + line for line in lines[1:])]
        self.ctx.stdout.write("\n".join(shown) + "\n")
        self.ctx.stdout.flush()

    def say_wrapped(self, text: str) -> None:
        width = self.console.width if self.ctx.stdout_isatty else 0
        self.say("\n".join(wrap_lines(sanitize(text).split("\n"), width)))

    def error(self, message: str, hint: str | None = None) -> None:
        self.ctx.stdout.flush()
        lines = [f"error: {sanitize_line(message)}"]
        if hint:
            lines.append(f"hint: {sanitize_line(hint)}")
        self.ctx.stderr.write("\n".join(lines) + "\n")
        self.ctx.stderr.flush()

    def warn(self, message: str) -> None:
        self.ctx.stdout.flush()
        self.ctx.stderr.write(f"warning: {sanitize_line(message)}\n")
        self.ctx.stderr.flush()

    def show_sources(self, searches: list[Search]) -> None:
        if self.ctx.stdout_isatty:
            from meilichat_cli.ui.sources import print_sources

            print_sources(self.console, searches)
            return
        from meilichat_cli.ui.output import plain_source_lines

        for line in plain_source_lines(searches):
            self.say(line)

    def source_title(self, document: dict[str, Any]) -> str:
        from meilichat_cli.ui.sources import source_title

        return source_title(document)

    def source_label(self, document: dict[str, Any]) -> tuple[str, str | None]:
        from meilichat_cli.ui.sources import source_label

        return source_label(document)

    # ---- the desktop

    def copy(self, text: str) -> str:
        from meilichat_cli.ui.clipboard import copy_text

        return copy_text(sanitize(text), environ=self.ctx.environ, terminal=self.terminal)

    def edit(self, text: str) -> str | None:
        from meilichat_cli.ui.editor import edit_text

        return edit_text(text, self.ctx.environ)


@contextlib.contextmanager
def hold_typeahead(fd: int | None) -> Iterator[None]:
    """While the block runs, the terminal on `fd` neither echoes keys nor edits them
    (no echo, no line editing, no CR→LF), but Ctrl-C still raises KeyboardInterrupt.

    What the user types meanwhile stays queued, byte for byte, for the next prompt: Enter
    there is still Enter, not Ctrl+J (a new line in our prompt). A no-op without a terminal."""
    if fd is None:
        yield
        return
    import termios

    try:
        saved = termios.tcgetattr(fd)
    except (termios.error, OSError):
        yield
        return
    quiet = list(saved)
    quiet[0] &= ~termios.ICRNL  # iflag
    quiet[3] &= ~(termios.ECHO | termios.ICANON)  # lflag; ISIG stays on for Ctrl-C
    # TCSANOW, not TCSAFLUSH: flushing would throw away what was typed ahead.
    with contextlib.suppress(termios.error, OSError):
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSANOW, saved)


def wrap_lines(lines: list[str], width: int) -> list[str]:
    """Each line wrapped to `width` at spaces (words are never broken, unless one alone is
    wider than the screen), continuing under the text after its indent and label
    (`  title: …`, `1. …`); width 0 leaves the lines as they are."""
    import re
    import textwrap

    if width <= 0:
        return lines
    wrapped: list[str] = []
    for line in lines:
        if len(line) <= width:
            wrapped.append(line)
            continue
        lead = re.match(r"\s*(?:\d+\. |\[\d+\] |[^\s:]{1,40}: )?", line)
        hang = min(len(lead.group(0)) if lead else 0, width // 2)
        wrapped += textwrap.wrap(
            line,
            width=width,
            subsequent_indent=" " * hang,
            break_long_words=True,
            break_on_hyphens=False,
            drop_whitespace=True,
        ) or [""]
    return wrapped
