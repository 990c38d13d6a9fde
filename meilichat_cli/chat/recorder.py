"""Saving the turns of one conversation, for `ask` and the REPL alike.

A `Recorder` decides once whether history is on (`--no-save`, `save_history = false` in
config.toml), opens the store lazily, resumes a conversation (`-c`, `--conversation ID`)
and saves each finished turn. History is a convenience: when the database is locked,
corrupt or unwritable, the recorder warns and the answer goes on. Never prints (warnings go
through `warn`).

Imports the history store, config and protocol types; not httpx, rich, typer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from meilichat_cli.local.config import DEMO_PROFILE
from meilichat_cli.protocol.conversation import Message
from meilichat_cli.values import Value

if TYPE_CHECKING:
    from meilichat_cli.chat.turn import TurnOutcome
    from meilichat_cli.history.store import HistoryStore
    from meilichat_cli.local.connection import Connection


class LazyHistory:
    """The history store, opened on first use. One that cannot be opened warns once and
    stays off for the rest of the run (or REPL session); call the object to get the store."""

    def __init__(self, path: Path, warn: Callable[[str], None]) -> None:
        self.path = path
        self.warn = warn
        self._store: HistoryStore | None = None
        self._broken = False

    def __call__(self) -> HistoryStore | None:
        if self._store is None and not self._broken:
            from meilichat_cli.history.store import HistoryStore, HistoryUnavailable

            try:
                self._store = HistoryStore.open(self.path)
            except HistoryUnavailable as error:
                self._broken = True
                self.warn(f"history is off for this run: {error.message}")
                return None
            for warning in self._store.warnings:
                self.warn(warning)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


class Recorder(Value):
    """One conversation's link to the history store."""

    __slots__ = ("_history", "conversation_id", "db_path", "enabled", "messages", "warn")

    def __init__(
        self,
        db_path: Path,
        enabled: bool,
        warn: Callable[[str], None],
        conversation_id: str | None = None,
        messages: list[Message] | None = None,
        _history: LazyHistory | None = None,
    ) -> None:
        self.db_path = db_path
        self.enabled = enabled
        self.warn = warn
        self.conversation_id = conversation_id
        self.messages: list[Message] = [] if messages is None else messages
        self._history = _history

    def check_before_sending(self) -> None:
        """When this recorder will save: refuse an untrusted history location before the
        request is sent (see `check_before_saving`)."""
        if self.enabled:
            check_before_saving(self.db_path)

    def _open(self) -> HistoryStore | None:
        if not self.enabled:
            return None
        if self._history is None:
            self._history = LazyHistory(self.db_path, self.warn)
        return self._history()

    def resume(self, reference: str | None, *, latest: bool, connection: Connection) -> None:
        """Load a saved conversation (by id prefix, or the latest) as this one's context.

        Raises NotFoundError / UsageError when the reference matches nothing or several."""
        from meilichat_cli.errors import NotFoundError
        from meilichat_cli.history.store import HistoryStore, HistoryUnavailable

        try:
            store = HistoryStore.open(self.db_path)
        except HistoryUnavailable as error:
            raise NotFoundError(f"cannot read saved conversations: {error.message}") from error
        for warning in store.warnings:  # a corrupt file moved aside: say so before "not found"
            self.warn(warning)
        try:
            if reference:
                conversation_id = store.resolve(reference)
            else:
                conversation_id = latest_to_continue(store, connection)
            record = store.get(conversation_id)
        except BaseException:
            store.close()
            raise
        if not is_demo(connection) and (
            record.server_url != connection.url or record.workspace != connection.workspace
        ):
            self.warn(
                f"continuing conversation {conversation_id[:8]} from {record.workspace} on "
                f"{record.server_url} against {connection.workspace} on {connection.url}"
            )
        self.conversation_id = conversation_id
        self.messages = store.messages(conversation_id)
        store.close()

    def reset(self) -> None:
        """Start a new conversation on the next save (the REPL's /new)."""
        self.conversation_id = None
        self.messages = []

    def record(
        self, outcome: TurnOutcome, *, question: str, connection: Connection, workspace: str
    ) -> None:
        """Append the turn to the context, and save it when history is on."""
        self.messages.extend(outcome.turn.history_messages())
        store = self._open()
        if store is None:
            return  # history is off: sqlite3 and the store are never imported
        from meilichat_cli.errors import NotFoundError
        from meilichat_cli.history.store import HistoryUnavailable

        try:
            if self.conversation_id is None:
                self.conversation_id = store.new_conversation(
                    title=question,
                    profile=connection.profile,
                    server_url=connection.url,
                    workspace=workspace,
                    model=connection.model,
                )
            store.save_turn(
                self.conversation_id,
                outcome.turn,
                question=question,
                workspace=workspace,
                model=connection.model,
                timings=outcome.timings,
                extra_errors=outcome.local_errors(),
                estimate=outcome.estimate,
                persona=connection.persona,
            )
        except (HistoryUnavailable, NotFoundError) as error:
            # The answer was already shown; losing its record must not fail the command
            # (NotFoundError: the conversation was deleted while this turn ran).
            self.warn(f"this turn was not saved: {error.message}")

    def close(self) -> None:
        if self._history is not None:
            self._history.close()


# Conversations with `meilichat demo` are saved under the profile name DEMO_PROFILE (reserved:
# no new profile may take it): the demo server lives only as long as the command, on a new
# port each time, so they continue only there.


def is_demo(connection: Connection) -> bool:
    return connection.profile == DEMO_PROFILE and connection.api_key_source == DEMO_PROFILE


def latest_to_continue(store: HistoryStore, connection: Connection) -> str:
    """The conversation `-c` continues: the latest one, or for the demo the latest demo
    conversation. Raises NotFoundError when there is none, UsageError when the latest one
    was held with the demo server (only `meilichat demo -c` can reach that again)."""
    from meilichat_cli.errors import NotFoundError

    if is_demo(connection):
        found = store.latest_id(profile=DEMO_PROFILE)
        if found is None:
            raise NotFoundError(
                "No demo conversation to continue",
                hint='ask the demo something first: meilichat demo "which space movies do you'
                ' have?"',
            )
        return found
    found = store.latest_id()
    if found is None:
        raise NotFoundError("No saved conversation to continue", hint="ask something first")
    if store.latest_profile() == DEMO_PROFILE and connection.profile != DEMO_PROFILE:
        raise _demo_latest_error()
    return found


def _demo_latest_error() -> Exception:
    from meilichat_cli.errors import UsageError

    return UsageError(
        "The latest conversation was with the demo server, which runs only inside `meilichat demo`",
        hint='continue it there: meilichat demo -c "tell me more" (or pick another with'
        " --conversation ID; `meilichat history list` shows them)",
    )


def refuse_demo_latest(db_path: Path, warn: Callable[[str], None]) -> None:
    """Raise the demo error when the latest saved conversation is a demo one (for `ask -c`
    when no server is configured at all); otherwise do nothing. What opening the store has
    to say (a corrupt file moved aside) goes to `warn`."""
    from meilichat_cli.history.store import HistoryStore, HistoryUnavailable

    if not db_path.exists():
        return
    try:
        store = HistoryStore.open(db_path)
    except HistoryUnavailable:
        return
    for warning in store.warnings:
        warn(warning)
    try:
        latest = store.latest_profile()
    finally:
        store.close()
    if latest == DEMO_PROFILE:
        raise _demo_latest_error()


def check_before_saving(
    db_path: Path, *, alternative: str = "or ask without saving: --no-save"
) -> None:
    """For a command that will save its answer, before it sends the request: refuse a history
    database that cannot be trusted (ConfigError, exit 2) now, not after the model call; the
    hint ends with `alternative`, how to go on without saving."""
    from meilichat_cli.errors import ConfigError
    from meilichat_cli.history.location import check_history_location

    try:
        check_history_location(db_path)
    except ConfigError as error:
        if error.hint and "--no-save" not in error.hint:
            error.hint += f"; {alternative}"
        raise


def history_enabled(config_file: Path, *, no_save: bool) -> bool:
    """Saving is on unless `--no-save` or `save_history = false` in config.toml."""
    if no_save:
        return False
    from meilichat_cli.errors import ConfigError
    from meilichat_cli.local.config import load_config

    try:
        # Warnings about the file were already given when the connection was resolved.
        return load_config(config_file, warn=lambda _message: None).save_history
    except ConfigError:
        return True
