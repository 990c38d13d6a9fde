"""What the REPL does with each line you submit: questions and slash commands.

`parse_line` turns a submitted line into a `Question`, a `Command`, an `UnknownCommand` or
nothing (a blank line). `ChatController` owns the conversation (`ChatState`) and carries out
questions and commands through a `ReplHost`, the terminal side, injected; `repl.loop.run_loop`
hands it the lines. Together they are the whole REPL minus the terminal, so tests drive them
without a terminal, a server or prompt_toolkit.

The REPL imports this module once its prompt is on screen (it is not needed to show it).
Stdlib, `errors`, `text.sanitize`, `repl.loop` and `repl.state` at module level; `protocol`,
`history` (through `repl.transcript`) and `local.files` load inside the commands that use them.
Never prints or prompts, and never imports typer, rich, httpx or prompt_toolkit.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from meilichat_cli.errors import MeilichatError, UsageError
from meilichat_cli.repl.loop import ALIASES, COMMAND_NAMES, COMMANDS, KEYS_HELP
from meilichat_cli.repl.state import ChatState, ChatTurn
from meilichat_cli.text.sanitize import sanitize_line

if TYPE_CHECKING:
    from meilichat_cli.chat.turn import TurnOutcome
    from meilichat_cli.history.records import ConversationRecord, ConversationSummary
    from meilichat_cli.protocol.conversation import Message, Search, Turn
    from meilichat_cli.protocol.events import ErrorEvent


HISTORY_LIST_LIMIT = 20


@dataclass(frozen=True, slots=True)
class Question:
    text: str


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # canonical, with its slash
    argument: str


@dataclass(frozen=True, slots=True)
class UnknownCommand:
    name: str


Parsed = Question | Command | UnknownCommand | None

_COMMAND = re.compile(r"(/\S*)\s*(.*)", re.DOTALL)


def parse_line(line: str) -> Parsed:
    """What a submitted line is. A line starting with `//` is a question starting with `/`."""
    text = _trim(line)
    if not text:
        return None
    if text.startswith("//"):
        return Question(text[1:])
    if text.startswith("/"):
        match = _COMMAND.fullmatch(text)
        assert match is not None  # `/\S*` always matches a leading slash
        head = match.group(1).lower()
        name = ALIASES.get(head, head)
        if name in COMMAND_NAMES:
            return Command(name, match.group(2).strip())
        return UnknownCommand(match.group(1))
    return Question(text)


def _trim(text: str) -> str:
    """Without trailing whitespace and leading blank lines; a pasted block keeps its indent."""
    lines = text.rstrip().split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines)


# --------------------------------------------------------------------------- the collaborators


class ReplHost(Protocol):
    """The terminal side: runs requests on screen, shows text, talks to the desktop."""

    def send(self, state: ChatState, prompt: list[Message]) -> TurnOutcome | None:
        """Send `state.messages + prompt`, rendering the answer as it streams; None when the
        request could not even start (the host has said why)."""
        ...

    def say(self, text: str) -> None:
        """Informational text (the host sanitizes it)."""
        ...

    def error(self, message: str, hint: str | None = None) -> None: ...

    def echo_question(self, text: str) -> None:
        """Show a question sent without being typed at the prompt (/retry, /edit, the first
        question on the command line) as if it had been typed."""
        ...

    def say_wrapped(self, text: str) -> None:
        """Like `say`, each line wrapped to the terminal with a hanging indent."""
        ...

    def show_sources(self, searches: list[Search]) -> None: ...

    def source_title(self, document: dict[str, Any]) -> str: ...

    def source_label(self, document: dict[str, Any]) -> tuple[str, str | None]:
        """A document's name and, apart, its id ("id 16")."""
        ...

    def copy(self, text: str) -> str:
        """Put `text` on the clipboard; return how (for the confirmation line)."""
        ...

    def edit(self, text: str) -> str | None:
        """`text` edited in $EDITOR; None when no editor ran successfully."""
        ...


class RetrievalPort(Protocol):
    """What /why and /open ask the server (the session's client, injected)."""

    def why(self, searches: list[Search]) -> list[str]:
        """Lines explaining the searches (each replayed with ranking scores)."""
        ...

    def open_source(self, number: int, search: Search, document: dict[str, Any]) -> str:
        """Source `number` (from `search`, as received) fetched again, as text to show."""
        ...


class HistoryPort(Protocol):
    """The parts of `history.HistoryStore` the REPL uses."""

    def new_conversation(
        self, *, title: str, profile: str | None, server_url: str, workspace: str, model: str
    ) -> str: ...

    def save_turn(
        self,
        conversation_id: str,
        turn: Turn,
        *,
        question: str,
        workspace: str,
        model: str,
        timings: dict[str, float | None],
        extra_errors: Sequence[ErrorEvent] = (),
        estimate: dict[str, Any] | None = None,
        persona: str | None = None,
    ) -> str: ...

    def remove_turn(self, turn_id: str) -> bool: ...

    def resolve(self, prefix: str) -> str: ...

    def get(self, conversation_id: str) -> ConversationRecord: ...

    def list(self, *, limit: int = 20) -> list[ConversationSummary]: ...


@dataclass(frozen=True, slots=True)
class Identity:
    """Where the conversation happens, as the history store records it."""

    profile: str | None
    server_url: str


@dataclass(slots=True)
class _Attempt:
    """The last question sent, kept or not, for /retry and /edit."""

    question: str
    prompt: list[Message]
    seed: str | None
    kept: bool


# --------------------------------------------------------------------------- the controller


class ChatController:
    """Carries out each submitted line against the conversation."""

    def __init__(
        self,
        state: ChatState,
        host: ReplHost,
        *,
        identity: Identity,
        history: Callable[[], HistoryPort | None] = lambda: None,
        save: bool = True,
        validate_workspace: Callable[[str], str] | None = None,
        workspace_exists: Callable[[str], bool | None] | None = None,
        workspace_hint: Callable[[], str] | None = None,
        retrieval: RetrievalPort | None = None,
        check_persona: Callable[[str], str] | None = None,
        check_saving: Callable[[], None] | None = None,
    ) -> None:
        self.state = state
        self.host = host
        self.identity = identity
        self._history = history
        self.save = save
        self._validate_workspace = validate_workspace or _validate_workspace
        # Asks the server whether a workspace exists: None when the key may not tell.
        self._workspace_exists = workspace_exists
        self._workspace_hint = workspace_hint
        self._check_persona = check_persona
        # Raises when the history location cannot be trusted: checked before each request
        # while saving, so the user learns it before spending a model call.
        self._check_saving = check_saving
        self._last: _Attempt | None = None
        self.retrieval = retrieval

    # ---- the entry point

    def handle(self, line: str) -> bool:
        """Carry out one submitted line; False when the REPL should end."""
        parsed = parse_line(line)
        if parsed is None:
            return True
        if isinstance(parsed, Question):
            self.ask(parsed.text)
            return True
        if isinstance(parsed, UnknownCommand):
            self.host.error(
                f"unknown command {sanitize_line(parsed.name)}; nothing was sent",
                hint="/help lists the commands; start with // to send a line beginning with /",
            )
            return True
        if parsed.name == "/exit":
            return False
        handler = getattr(self, "cmd_" + parsed.name[1:])
        try:
            handler(parsed.argument)
        except MeilichatError as error:
            self.host.error(error.message, error.hint)
        return True

    # ---- asking

    def ask(self, question: str) -> None:
        seed = self.state.seed
        self._send(question, self.state.prompt_for(question), seed)

    def _send(self, question: str, prompt: list[Message], seed: str | None) -> None:
        if self.save and self._check_saving is not None:
            try:
                self._check_saving()
            except MeilichatError as error:
                self.host.error(f"{error.message}; nothing was sent", error.hint)
                return
        attempt = _Attempt(question, prompt, seed, kept=False)
        self._last = attempt
        try:
            outcome = self.host.send(self.state, prompt)
        except MeilichatError as error:  # e.g. an unreadable CA bundle when opening the client
            self.host.error(error.message, error.hint)
            return
        if outcome is None:
            return
        entry = self.state.record(question, prompt, outcome.turn)
        if entry is None:
            return
        attempt.kept = True
        entry.timings = dict(outcome.timings)
        entry.estimate = outcome.estimate
        self._save(entry, outcome)
        from meilichat_cli.protocol.conversation import INTERRUPTED

        if outcome.turn.status == INTERRUPTED:
            self.host.say("(the partial answer stays in the conversation; /retry asks again)")

    def _save(self, entry: ChatTurn, outcome: TurnOutcome) -> None:
        if not self.save:
            return
        store = self._history()
        if store is None:
            return
        state = self.state
        try:
            if state.conversation_id is None:
                state.conversation_id = store.new_conversation(
                    title=entry.question,
                    profile=self.identity.profile,
                    server_url=self.identity.server_url,
                    workspace=state.workspace,
                    model=state.model,
                )
            entry.turn_id = store.save_turn(
                state.conversation_id,
                outcome.turn,
                question=_user_text(entry.prompt),
                workspace=state.workspace,
                model=state.model,
                timings=outcome.timings,
                extra_errors=outcome.local_errors(),
                estimate=outcome.estimate,
                persona=state.persona,
            )
        except MeilichatError as error:
            self.host.error(f"the turn was not saved: {error.message}", error.hint)

    # ---- commands (one method each, named after the command)

    def cmd_help(self, _argument: str) -> None:
        width = max(len(command.usage) for command in COMMANDS)
        lines = ["Commands:"]
        lines += [f"  {c.usage.ljust(width)}  {c.summary}" for c in COMMANDS]
        lines.append(f"  {'//text'.ljust(width)}  send a message that starts with /")
        key_width = max(len(key) for key, _ in KEYS_HELP)
        lines.append("Keys:")
        lines += [f"  {key.ljust(key_width)}  {what}" for key, what in KEYS_HELP]
        self.host.say("\n".join(lines))

    def cmd_new(self, _argument: str) -> None:
        self.state.reset()
        self._last = None
        self.host.say("New conversation.")

    def cmd_sources(self, argument: str) -> None:
        entry = self._searched_turn()
        numbered = numbered_sources(entry.searches)
        if not argument:
            if not numbered:
                self.host.say("The search found no documents.")
                return
            self.host.show_sources(entry.searches)
            return
        if not argument.isdigit() or not 1 <= int(argument) <= len(numbered):
            raise UsageError(
                f"no source {sanitize_line(argument)}",
                hint=f"give a number from 1 to {len(numbered)}" if numbered else None,
            )
        number = int(argument)
        search, document = numbered[number - 1]
        self.host.say_wrapped(
            document_text(number, search, document, self.host.source_title(document))
        )

    def cmd_searches(self, _argument: str) -> None:
        entry = self._searched_turn()
        self.host.say_wrapped("\n".join(search_lines(entry.searches)))

    def cmd_trace(self, _argument: str) -> None:
        from meilichat_cli.explain.trace import trace_lines

        entry = self._require_turn()
        self.host.say("\n".join(trace_lines(entry.searches, entry.timings, entry.estimate)))

    def cmd_why(self, _argument: str) -> None:
        entry = self._searched_turn()
        self.host.say("\n".join(self._require_retrieval().why(entry.searches)))

    def cmd_open(self, argument: str) -> None:
        entry = self._searched_turn()
        numbered = numbered_sources(entry.searches)
        if not argument.isdigit() or not 1 <= int(argument) <= len(numbered):
            raise UsageError(
                f"no source {sanitize_line(argument)}" if argument else "/open needs a number",
                hint=f"give a number from 1 to {len(numbered)}" if numbered else None,
            )
        number = int(argument)
        search, document = numbered[number - 1]
        self.host.say(self._require_retrieval().open_source(number, search, document))

    def _require_retrieval(self) -> RetrievalPort:
        if self.retrieval is None:
            raise UsageError("this session cannot reach the server for that")
        return self.retrieval

    def cmd_retry(self, _argument: str) -> None:
        last = self._require_attempt("retry")
        self._forget_last(last)
        self.host.echo_question(last.question)
        self._send(last.question, last.prompt, last.seed)

    def cmd_edit(self, _argument: str) -> None:
        last = self._require_attempt("edit")
        edited = self.host.edit(last.question)
        if edited is None:
            raise UsageError("the editor did not finish; nothing was sent", hint="set $EDITOR")
        edited = _trim(edited)
        if not edited:
            self.host.say("Empty question; nothing was sent.")
            return
        self._forget_last(last)
        content = edited if last.seed is None else f"{last.seed}\n\n{edited}"
        prompt = [m for m in last.prompt if m.get("role") != "user"]
        prompt.append({"role": "user", "content": content})
        self.host.echo_question(edited)
        self._send(edited, prompt, last.seed)

    def cmd_copy(self, _argument: str) -> None:
        entry = self._require_turn()
        if not entry.answer:
            self.host.say("The last answer is empty; nothing to copy.")
            return
        how = self.host.copy(entry.answer)
        self.host.say(f"Copied the last answer ({how}).")

    def cmd_workspace(self, argument: str) -> None:
        if not argument:
            self.host.say(f"Workspace: {self.state.workspace}")
            return
        name = self._validate_workspace(argument)
        if self._workspace_exists is not None and self._workspace_exists(name) is False:
            from meilichat_cli.errors import NotFoundError

            raise NotFoundError(
                f"Workspace '{sanitize_line(name)}' not found on {self.identity.server_url}",
                hint=f"the workspace stays {self.state.workspace}; "
                + (self._workspace_hint() if self._workspace_hint else "check the name"),
            )
        self.state.workspace = name
        self.host.say(f"Workspace: {self.state.workspace} (the conversation goes on)")

    def cmd_model(self, argument: str) -> None:
        if not argument:
            self.host.say(f"Model: {self.state.model}")
            return
        if any(character.isspace() for character in argument):
            raise UsageError("a model name has no spaces")
        self.state.model = argument
        self.host.say(f"Model: {self.state.model}")

    def cmd_as(self, argument: str) -> None:
        if not argument:
            who = self.state.persona or "yourself (the profile's key)"
            self.host.say(f"Asking as {who}.")
            return
        if argument == "-":
            self.state.persona = None
            self.host.say("Asking as yourself (the profile's key); the conversation goes on.")
            return
        if self._check_persona is None:
            raise UsageError("personas are not available here (no profile in use)")
        self.state.persona = self._check_persona(argument)
        self.host.say(
            f"Asking as {self.state.persona} (a tenant token from its rules); the conversation"
            " goes on. /as - goes back to your key."
        )

    def cmd_system(self, argument: str) -> None:
        if argument:
            self.state.system.append(argument)
            self.host.say("System message added; it goes with your next question.")
            return
        sent = [m for m in self.state.messages if m.get("role") == "system"]
        lines = [f"sent: {_content(m)}" for m in sent]
        lines += [f"next: {text}" for text in self.state.system]
        if not lines:
            self.host.say("No system message of your own (the workspace's prompt always applies).")
            return
        self.host.say("\n".join(lines))

    def cmd_save(self, argument: str) -> None:
        force, _, name = argument.partition(" ")
        if force not in ("-f", "--force"):
            force, name = "", argument
        name = name.strip()
        if not name:
            raise UsageError("/save needs a file name", hint="/save notes.md")
        if not self.state.turns:
            raise UsageError("nothing to save yet")
        from meilichat_cli.local.files import open_private_text
        from meilichat_cli.repl.transcript import conversation_markdown

        path = Path(name).expanduser()
        text = conversation_markdown(
            self.state.turns,
            workspace=self.state.workspace,
            model=self.state.model,
            conversation_id=self.state.conversation_id,
            label_of=self.host.source_label,
            profile=self.identity.profile,
            server_url=self.identity.server_url,
        )
        try:
            with open_private_text(path, overwrite=bool(force)) as file:
                file.write(text)
        except FileExistsError as error:
            raise UsageError(
                f"{path} exists; nothing was written", hint=f"/save -f {name} overwrites it"
            ) from error
        except OSError as error:
            raise UsageError(f"cannot write {path}: {error.strerror or error}") from error
        self.host.say(f"Saved {len(self.state.turns)} turn(s) to {path}.")

    def cmd_history(self, _argument: str) -> None:
        store = self._require_history()
        summaries = store.list(limit=HISTORY_LIST_LIMIT)
        if not summaries:
            self.host.say("No saved conversations yet.")
            return
        current = self.state.conversation_id
        lines = [history_line(s, current=s.id == current) for s in summaries]
        lines.append("/resume ID continues one (a prefix of the id is enough).")
        self.host.say("\n".join(lines))

    def cmd_resume(self, argument: str) -> None:
        if not argument:
            raise UsageError("/resume needs a conversation id", hint="/history lists them")
        self.resume(argument, switch=True)

    # ---- resuming (also `chat -c` and `chat --conversation ID`)

    def resume(self, prefix: str, *, switch: bool) -> None:
        """Continue a saved conversation; with `switch`, on its workspace and model too."""
        store = self._require_history()
        record = store.get(store.resolve(prefix))
        if switch and record.server_url != self.identity.server_url:
            # As `ask -c` warns: the conversation goes on here, not where it was held.
            self.host.say(
                f"(conversation {record.id[:8]} was held on {sanitize_line(record.server_url)};"
                f" it continues on {sanitize_line(self.identity.server_url)})"
            )
        turns = [_chat_turn(saved) for saved in record.turns]
        messages = [message for turn in turns for message in turn.added]
        self.state.load(record.id, messages, turns)
        self._last = None
        if switch:
            self.state.workspace = record.workspace
            self.state.model = record.model
        self.host.say(
            f"Continuing {record.id[:8]} “{sanitize_line(record.title)}”: "
            f"{len(turns)} turn(s) · workspace {self.state.workspace} · model {self.state.model}"
        )

    # ---- helpers

    def _require_turn(self) -> ChatTurn:
        entry = self.state.last_turn
        if entry is None:
            raise UsageError("no answer yet in this conversation")
        return entry

    def _searched_turn(self) -> ChatTurn:
        """The last turn that searched. A follow-up ("tell me more about the second one") is
        often answered from the documents an earlier turn found, which the conversation
        still carries: those are the ones to show, and we say where they come from."""
        last = self._require_turn()
        for entry in reversed(self.state.turns):
            if entry.searches:
                if entry is not last:
                    self.host.say(
                        "The last answer ran no new search; these are from the question "
                        f"“{sanitize_line(entry.question)[:60]}”."
                    )
                return entry
        raise UsageError("no search has run in this conversation yet")

    def _require_attempt(self, what: str) -> _Attempt:
        if self._last is None:
            raise UsageError(f"no question to {what} yet")
        return self._last

    def _require_history(self) -> HistoryPort:
        store = self._history()
        if store is None:
            raise UsageError("history is not available in this session")
        return store

    def _forget_last(self, last: _Attempt) -> None:
        """Take the last answered turn out before asking it again (it was superseded)."""
        if not last.kept:
            return
        entry = self.state.forget_last()
        if entry is None or entry.turn_id is None or not self.save:
            return
        store = self._history()
        if store is None:
            return
        try:
            store.remove_turn(entry.turn_id)
        except MeilichatError as error:
            self.host.error(f"the old turn stays in history: {error.message}", error.hint)


# --------------------------------------------------------------------------- formatting


def numbered_sources(searches: list[Search]) -> list[tuple[Search, dict[str, Any]]]:
    """Every document of every search, in the order the sources list numbers them (from 1)."""
    return [(search, document) for search in searches for document in search.sources]


def search_lines(searches: list[Search]) -> list[str]:
    lines = []
    for number, search in enumerate(searches, start=1):
        parts = [sanitize_line(search.index_uid or "(index not reported)")]
        parts.append(f"“{sanitize_line(search.q or '')}”")
        if search.filter:
            parts.append(f"filter: {sanitize_line(search.filter)}")
        count = len(search.sources)
        parts.append(f"{count} document{'' if count == 1 else 's'}")
        lines.append(f"{number}. " + " · ".join(parts))
    return lines


def document_text(number: int, search: Search, document: dict[str, Any], title: str) -> str:
    """One source document in full: a heading, then each field on its own line(s)."""
    where = sanitize_line(search.index_uid or "?")
    lines = [f"[{number}] {sanitize_line(title)}  ({where})"]
    for key, value in document.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        lines.append(f"  {sanitize_line(str(key))}: {shown}")
    return "\n".join(lines)


def history_line(summary: ConversationSummary, *, current: bool) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(summary.updated_at))
    marker = "*" if current else " "
    turns = f"{summary.turns} turn{'' if summary.turns == 1 else 's'}"
    return (
        f"{marker} {summary.id[:8]}  {when}  {sanitize_line(summary.workspace)}  {turns}  "
        f"{sanitize_line(summary.title)}"
    )


def _content(message: Message) -> str:
    content = message.get("content")
    return sanitize_line(content if isinstance(content, str) else json.dumps(content))


def _user_text(prompt: list[Message]) -> str:
    for message in reversed(prompt):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return str(message["content"])
    return ""


def _chat_turn(saved: Any) -> ChatTurn:
    """A saved `TurnRecord` as the REPL remembers turns."""
    from meilichat_cli.protocol.conversation import complete_tool_pairs

    added = complete_tool_pairs(list(saved.messages))
    prompt: list[Message] = []
    for message in added:
        if message.get("role") not in ("system", "user"):
            break
        prompt.append(message)
    return ChatTurn(
        question=saved.question,
        prompt=prompt,
        answer=saved.answer,
        searches=list(saved.searches),
        status=saved.status,
        added=added,
        turn_id=saved.id,
        timings=dict(saved.timings or {}),
        estimate=saved.estimate,
    )


def _validate_workspace(name: str) -> str:
    from meilichat_cli.local.connection import validate_workspace

    return validate_workspace(name)
