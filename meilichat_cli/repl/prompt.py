"""The REPL's line editor: one prompt_toolkit `PromptSession` for the whole session.

Enter sends; Alt+Enter (Esc Enter) and Ctrl+J insert a newline; a bracketed paste stays in the
buffer however many lines it has; Ctrl-X Ctrl-E opens $EDITOR on the current input and puts
the result back (without sending it); grey suggestions come from the history file; Tab
completes slash commands; Ctrl-C clears the line (the prompt raises KeyboardInterrupt) and
Ctrl-D on an empty line leaves (EOFError). The keys here are the ones `/help` lists
(`repl.loop.KEYS_HELP`).

The history file is private (0600, its directory 0700), loads in a background thread, and a
file that cannot be read or decoded never stops the REPL: bad bytes become U+FFFD, an
unreadable file an empty history, an unwritable one a history kept in memory.

prompt_toolkit is imported at module level: import this module only when the REPL starts.
The editor helper (`ui.editor`: subprocess, tempfile) loads on Ctrl-X Ctrl-E. Must not import
httpx, rich or typer.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

from prompt_toolkit import PromptSession
from prompt_toolkit.application import run_in_terminal
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory, History, InMemoryHistory, ThreadedHistory
from prompt_toolkit.input import Input, create_input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.output import Output, create_output

from meilichat_cli.errors import ConfigError
from meilichat_cli.local.files import check_trusted_dir, make_missing_dirs
from meilichat_cli.repl.loop import ALIASES, COMMANDS, CONTINUATION, PROMPT

__all__ = ["CONTINUATION", "PROMPT", "ReplPrompt", "TerminalStreams"]


# --------------------------------------------------------------------------- history file


def prepare_history_file(path: Path) -> str | None:
    """Create the history file private (or make an existing one private); a warning or None.

    Like the other files: not in a directory another user owns or can write, not through a
    symbolic link (the lines typed could hold secrets). Such a file is not used this session;
    the REPL itself goes on."""
    try:
        # Every missing parent 0700 too (~/.local/state on a new account), whatever the umask.
        make_missing_dirs(path.parent)
        check_trusted_dir(path.parent)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
        descriptor = os.open(path, flags, 0o600)
        try:
            if os.fstat(descriptor).st_mode & 0o077:
                os.fchmod(descriptor, 0o600)
        finally:
            os.close(descriptor)
    except OSError as error:
        return f"input history is not saved this session ({path}: {error.strerror or error})"
    except ConfigError as error:
        return f"input history is not saved this session ({error.message})"
    return None


class PrivateFileHistory(FileHistory):
    """`FileHistory` that never raises: a bad file reads as empty, a failed write is dropped."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.write_failed = False

    def load_history_strings(self) -> Iterable[str]:
        try:
            # prompt_toolkit decodes each line with errors="replace": bad bytes cannot stop us.
            return list(super().load_history_strings())
        except (OSError, ValueError):
            return []

    def store_string(self, string: str) -> None:
        if self.write_failed:
            return
        try:
            super().store_string(string)
        except OSError:
            self.write_failed = True  # full disk, read-only home: keep going without it


def make_history(path: Path | None) -> tuple[History, str | None]:
    """The session's input history and, when the file cannot be used, a warning."""
    if path is None:
        return InMemoryHistory(), None
    warning = prepare_history_file(path)
    if warning is not None:
        return InMemoryHistory(), warning
    return ThreadedHistory(PrivateFileHistory(path)), None


# --------------------------------------------------------------------------- completion


class SlashCompleter(Completer):
    """Completes the command name while the input is a single word starting with `/`."""

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        typed = document.text_before_cursor
        if not typed.startswith("/") or any(c.isspace() for c in typed):
            return
        word = typed.lower()
        for command in COMMANDS:
            if command.name.startswith(word):
                yield Completion(
                    command.name,
                    start_position=-len(typed),
                    display=command.usage,
                    display_meta=command.summary,
                )
        for alias, target in ALIASES.items():
            if alias.startswith(word) and len(word) > 1 and alias != word:
                yield Completion(alias, start_position=-len(typed), display_meta=f"= {target}")


# --------------------------------------------------------------------------- keys


def key_bindings(environ: Mapping[str, str] | None = None) -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("escape", "enter")  # Alt+Enter sends Esc Enter in most terminals
    @bindings.add("c-j")  # Ctrl+J is a line feed; Enter is a carriage return
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    @bindings.add("c-x", "c-e")
    def _edit(event: KeyPressEvent) -> None:
        buffer = event.current_buffer

        async def run() -> None:
            from meilichat_cli.ui.editor import edit_text  # subprocess and tempfile, on use

            edited = await run_in_terminal(
                lambda: edit_text(buffer.text, environ or {}), in_executor=True
            )
            if edited is not None:
                buffer.document = Document(edited, cursor_position=len(edited))

        event.app.create_background_task(run())

    return bindings


# --------------------------------------------------------------------------- the prompt


class ReplPrompt:
    """Reads one submitted input at a time. Built once; reused for every question."""

    def __init__(
        self,
        *,
        history_path: Path | None,
        toolbar: Callable[[], str] | None = None,
        environ: Mapping[str, str] | None = None,
        input: Input | None = None,
        output: Output | None = None,
        after_first_render: Callable[[], None] | None = None,
    ) -> None:
        history, self.warning = make_history(history_path)
        self.session: PromptSession[str] = PromptSession(
            history=history,
            auto_suggest=AutoSuggestFromHistory(),
            completer=SlashCompleter(),
            complete_while_typing=True,
            key_bindings=key_bindings(environ),
            multiline=False,
            enable_open_in_editor=False,  # ours puts the text back instead of sending it
            prompt_continuation=lambda width, _line, _wrap: CONTINUATION.rjust(width),
            bottom_toolbar=toolbar,
            input=input,
            output=output,
            erase_when_done=False,
        )
        if after_first_render is not None:
            self._after_render_once(after_first_render)

    def _after_render_once(self, callback: Callable[[], None]) -> None:
        def handler(_app: Any) -> None:
            self.session.app.after_render.remove_handler(handler)
            callback()

        self.session.app.after_render.add_handler(handler)

    def read(self) -> str:
        """The next submitted input. KeyboardInterrupt on Ctrl-C, EOFError on Ctrl-D."""
        return self.session.prompt(PROMPT)

    def remember(self, text: str) -> None:
        """Put a line that did not come from the prompt (a first question) into history."""
        self.session.history.append_string(text)


class TerminalStreams:
    """Where the prompt reads keys and draws when stdin or stdout is not the terminal.

    Piped stdin (`cat notes | meilichat chat`) leaves the keyboard on /dev/tty; a redirected
    stdout leaves the prompt (and OSC 52) on /dev/tty too. None means stdin / stdout. (A plain
    class: built before the prompt, where a dataclass would cost most of a millisecond.)"""

    def __init__(self) -> None:
        self.input: Input | None = None
        self.output: Output | None = None
        self.keyboard: TextIO | None = None  # /dev/tty opened for reading
        self.screen: TextIO | None = None  # /dev/tty opened for writing

    @classmethod
    def open(cls, *, stdin_isatty: bool, stdout_isatty: bool) -> TerminalStreams:
        """Raises OSError when a terminal is needed and there is none (no controlling tty)."""
        streams = cls()
        try:
            if not stdin_isatty:
                streams.keyboard = open("/dev/tty", encoding="utf-8", errors="replace")  # noqa: SIM115
                streams.input = create_input(streams.keyboard)
            if not stdout_isatty:
                streams.screen = open("/dev/tty", "w", encoding="utf-8", errors="replace")  # noqa: SIM115
                streams.output = create_output(streams.screen)
        except OSError:
            streams.close()
            raise
        return streams

    def close(self) -> None:
        for file in (self.keyboard, self.screen):
            if file is not None:
                file.close()
