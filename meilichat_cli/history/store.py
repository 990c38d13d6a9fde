"""Saved conversations: the store `ask`, `chat` and `history` use
(docs/design.md#the-conversation-model).

`HistoryStore.open(path)` gives a store over the SQLite file (see `history_db` for how the
file is created, migrated and rescued). It keeps conversations (random 32-hex id shown by
prefix as in git, title from the first question, profile, server, workspace, model), the
exact messages each turn added to the conversation (the user message, every
`_meiliAppendConversationMessage` tool-call and tool-result payload verbatim, the assistant
text), and per turn the question, answer, status, finish reason, usage, timings, searches
with their sources and errors. `history search` uses FTS5 (a LIKE scan without it).

Writes are single short transactions; a lock held past the busy timeout, like every other
reason history cannot work, raises `HistoryUnavailable` so the caller can warn and go on.
Text is stored exactly; whoever displays it sanitizes it.

Stdlib, `errors`, `protocol` and the `history.*` modules only (`history.location` inside
`load_conversation`). Never prints, prompts or exits.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from meilichat_cli.errors import HistoryUnavailable, NotFoundError, UsageError
from meilichat_cli.history.database import open_database, rollback, unavailable
from meilichat_cli.history.records import (
    ConversationRecord,
    ConversationSummary,
    SearchHit,
    TurnRecord,
    make_title,
)
from meilichat_cli.protocol.conversation import Message, Search, Turn, complete_tool_pairs
from meilichat_cli.protocol.events import ErrorEvent

__all__ = [
    "ConversationRecord",
    "ConversationSummary",
    "HistoryStore",
    "HistoryUnavailable",
    "SearchHit",
    "TurnRecord",
    "make_title",
]

ID_PREFIX_CHARS = 8  # how many characters of an id people are shown
MAX_CANDIDATES = 10  # how many matches an ambiguous-prefix error lists
EXCERPT_CHARS = 160  # how much of a matching question or answer `search` returns

# Aliases for signatures inside HistoryStore, where `list` names a method.
_Summaries = list[ConversationSummary]
_Hits = list[SearchHit]
_Messages = list[Message]


class HistoryStore:
    """An open history database. Build it with `HistoryStore.open(path)`; close it after."""

    def __init__(self, db: sqlite3.Connection, path: Path, warnings: list[str]) -> None:
        self._db = db
        self.path = path
        # Things the caller should tell the user (e.g. a corrupt file was moved aside).
        self.warnings = warnings

    # ---- opening

    @classmethod
    def open(cls, path: Path, *, busy_timeout_ms: int = 3000) -> HistoryStore:
        """Open (creating if needed) the database at `path` and bring its schema up to date.

        Raises HistoryUnavailable when that is impossible. A file that is not a database is
        moved aside first and a new one started; `warnings` then says so.
        """
        db, warnings = open_database(path, busy_timeout_ms)
        return cls(db, path, warnings)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction; a lock held past the busy timeout skips the write."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as error:
            raise unavailable(self.path, error) from error
        try:
            yield self._db
        except sqlite3.DatabaseError as error:
            rollback(self._db)
            raise unavailable(self.path, error) from error
        except BaseException:
            rollback(self._db)
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.DatabaseError as error:
            rollback(self._db)
            raise unavailable(self.path, error) from error

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as error:
            raise unavailable(self.path, error) from error

    # ---- writing

    def new_conversation(
        self,
        *,
        title: str,
        profile: str | None,
        server_url: str,
        workspace: str,
        model: str,
    ) -> str:
        """Start a conversation and return its id. `title` is cut with `make_title`.

        Call it right before the first `save_turn`, so a failed request leaves nothing behind.
        """
        conversation_id = uuid.uuid4().hex
        now = time.time()
        with self._write() as db:
            db.execute(
                "INSERT INTO conversations (id, title, profile, server_url, workspace, model,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    _text(make_title(title)),
                    profile,
                    _text(server_url),
                    _text(workspace),
                    _text(model),
                    now,
                    now,
                ),
            )
        return conversation_id

    def rename(self, conversation_id: str, title: str) -> str:
        """Give a conversation a new title (cut like a first question); return it.
        NotFoundError when the conversation does not exist."""
        from meilichat_cli.errors import NotFoundError

        new_title = make_title(title)
        with self._write() as db:
            changed = db.execute(
                "UPDATE conversations SET title = ? WHERE id = ?",
                (_text(new_title), conversation_id),
            ).rowcount
        if not changed:
            raise NotFoundError(f"no saved conversation with id {conversation_id}")
        return new_title

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
    ) -> str:
        """Save one turn in one short transaction and return the turn's id.

        Stores the turn row, the messages it adds to the conversation
        (`turn.history_messages()`: `turn.prompt_messages` must hold only this turn's new
        messages, not the earlier conversation), its searches with sources, its error events
        and `extra_errors` (failures outside the stream: a cut connection, a timeout), each
        search's start and end (the trace) and the turn's token `estimate`.
        A turn that was never closed is closed here to fix its status.
        """
        status = turn.status if turn.status is not None else turn.close()
        turn_id = uuid.uuid4().hex
        now = time.time()
        with self._write() as db:
            if (
                db.execute(
                    "SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)
                ).fetchone()
                is None
            ):
                raise NotFoundError(f"no saved conversation with id {conversation_id}")
            turn_seq = db.execute(
                "SELECT coalesce(max(seq), 0) + 1 FROM turns WHERE conversation_id = ?",
                (conversation_id,),
            ).fetchone()[0]
            db.execute(
                "INSERT INTO turns (id, conversation_id, seq, question, answer, status,"
                " finish_reason, usage, timings, workspace, model, created_at, estimate,"
                " persona) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    turn_id,
                    conversation_id,
                    turn_seq,
                    _text(question),
                    _text(turn.answer),
                    status,
                    _opt_text(turn.finish_reason),
                    None if turn.usage is None else _dump(turn.usage),
                    _dump(timings),
                    _text(workspace),
                    _text(model),
                    now,
                    None if estimate is None else _dump(estimate),
                    _opt_text(persona),
                ),
            )
            first_message = db.execute(
                "SELECT coalesce(max(seq), 0) + 1 FROM messages WHERE conversation_id = ?",
                (conversation_id,),
            ).fetchone()[0]
            db.executemany(
                "INSERT INTO messages (conversation_id, seq, turn_id, role, json)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        conversation_id,
                        first_message + offset,
                        turn_id,
                        _opt_text(_role(message)),
                        _dump(message),
                    )
                    for offset, message in enumerate(turn.history_messages())
                ],
            )
            db.executemany(
                "INSERT INTO searches (turn_id, seq, call_id, index_uid, q, filter, sources,"
                " started_ms, ended_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        turn_id,
                        seq,
                        _text(search.call_id),
                        _opt_text(search.index_uid),
                        _opt_text(search.q),
                        _opt_text(search.filter),
                        _dump(search.sources),
                        search.started_ms,
                        search.ended_ms,
                    )
                    for seq, search in enumerate(turn.searches, start=1)
                ],
            )
            db.executemany(
                "INSERT INTO errors (turn_id, seq, type, code, message, param)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        turn_id,
                        seq,
                        _text(error.type),
                        _opt_text(error.code),
                        _text(error.message),
                        _opt_text(error.param),
                    )
                    for seq, error in enumerate([*turn.errors, *extra_errors], start=1)
                ],
            )
            db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id)
            )
        return turn_id

    def remove(self, ids: Sequence[str]) -> int:
        """Delete these conversations (full ids) with everything in them; return how many."""
        with self._write() as db:
            removed = 0
            for conversation_id in ids:
                cursor = db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
                removed += cursor.rowcount
        return removed

    def remove_turn(self, turn_id: str) -> bool:
        """Delete one turn with its messages, searches and errors (the REPL's /retry and
        /edit replace the last turn); False when there was no such turn."""
        with self._write() as db:
            cursor = db.execute("DELETE FROM turns WHERE id = ?", (turn_id,))
            return cursor.rowcount > 0

    def remove_older_than(self, seconds: float, *, now: float | None = None) -> int:
        """Delete conversations not touched for `seconds`; return how many."""
        cutoff = (time.time() if now is None else now) - seconds
        with self._write() as db:
            cursor = db.execute("DELETE FROM conversations WHERE updated_at < ?", (cutoff,))
            return cursor.rowcount

    # ---- reading

    def ids_older_than(self, seconds: float, *, now: float | None = None) -> list[str]:
        """Conversations not touched for `seconds`, oldest first (to confirm before removing)."""
        cutoff = (time.time() if now is None else now) - seconds
        rows = self._read(
            "SELECT id FROM conversations WHERE updated_at < ? ORDER BY updated_at", (cutoff,)
        )
        return [str(row["id"]) for row in rows]

    def messages(self, conversation_id: str) -> _Messages:
        """The messages a request continuing this conversation carries
        (docs/protocol.md#conversation-state), in order.

        Exactly as stored, except that a tool call left without its result (a turn cut between
        the two) and a result without its call are left out: providers reject such a pair.
        """
        rows = self._read(
            "SELECT json FROM messages WHERE conversation_id = ? ORDER BY seq",
            (conversation_id,),
        )
        return complete_tool_pairs([json.loads(row["json"]) for row in rows])

    def latest_id(self, *, profile: str | None = None) -> str | None:
        """The most recently updated conversation (of `profile`, when given), for
        `-c/--continue`."""
        if profile is None:
            rows = self._read(
                "SELECT id FROM conversations ORDER BY updated_at DESC, pk DESC LIMIT 1"
            )
        else:
            rows = self._read(
                "SELECT id FROM conversations WHERE profile = ?"
                " ORDER BY updated_at DESC, pk DESC LIMIT 1",
                (profile,),
            )
        return str(rows[0]["id"]) if rows else None

    def latest_profile(self) -> str | None:
        """The profile of the most recently updated conversation."""
        rows = self._read(
            "SELECT profile FROM conversations ORDER BY updated_at DESC, pk DESC LIMIT 1"
        )
        return str(rows[0]["profile"]) if rows and rows[0]["profile"] is not None else None

    def resolve(self, prefix: str) -> str:
        """The one conversation id starting with `prefix` (case-insensitive, as in git)."""
        wanted = prefix.strip().lower()
        if not wanted:
            raise UsageError("a conversation id (or a prefix of one) is required")
        if not re.fullmatch(r"[0-9a-f]{1,32}", wanted):
            raise NotFoundError(
                f"no saved conversation with id {prefix!r}",
                hint="ids are hexadecimal; `meilichat history list` shows them",
            )
        rows = self._read(
            "SELECT id, title FROM conversations WHERE substr(id, 1, ?) = ?"
            " ORDER BY updated_at DESC LIMIT ?",
            (len(wanted), wanted, MAX_CANDIDATES + 1),
        )
        if not rows:
            raise NotFoundError(
                f"no saved conversation with id {prefix}",
                hint="`meilichat history list` shows the saved conversations",
            )
        if len(rows) > 1:
            width = max(len(wanted) + 4, ID_PREFIX_CHARS)
            candidates = "; ".join(
                f"{row['id'][:width]} {row['title']}" for row in rows[:MAX_CANDIDATES]
            )
            more = ", …" if len(rows) > MAX_CANDIDATES else ""
            raise UsageError(
                f"conversation id prefix {prefix} is ambiguous: {candidates}{more}",
                hint="give more characters of the id",
            )
        return str(rows[0]["id"])

    def get(self, conversation_id: str) -> ConversationRecord:
        """The whole conversation with its turns, searches, errors and messages."""
        found = self._read("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        if not found:
            raise NotFoundError(f"no saved conversation with id {conversation_id}")
        head = found[0]
        turn_rows = self._read(
            "SELECT * FROM turns WHERE conversation_id = ? ORDER BY seq", (conversation_id,)
        )
        searches: dict[str, list[Search]] = {}
        for row in self._read(
            "SELECT s.* FROM searches s JOIN turns t ON t.id = s.turn_id"
            " WHERE t.conversation_id = ? ORDER BY s.turn_id, s.seq",
            (conversation_id,),
        ):
            searches.setdefault(row["turn_id"], []).append(
                Search(
                    row["call_id"],
                    row["index_uid"],
                    row["q"],
                    row["filter"],
                    json.loads(row["sources"]),
                    started_ms=row["started_ms"],
                    ended_ms=row["ended_ms"],
                )
            )
        errors: dict[str, list[ErrorEvent]] = {}
        for row in self._read(
            "SELECT e.* FROM errors e JOIN turns t ON t.id = e.turn_id"
            " WHERE t.conversation_id = ? ORDER BY e.turn_id, e.seq",
            (conversation_id,),
        ):
            errors.setdefault(row["turn_id"], []).append(
                ErrorEvent(row["type"], row["code"], row["message"], row["param"])
            )
        messages: dict[str, list[Message]] = {}
        for row in self._read(
            "SELECT turn_id, json FROM messages WHERE conversation_id = ? ORDER BY seq",
            (conversation_id,),
        ):
            messages.setdefault(row["turn_id"], []).append(json.loads(row["json"]))
        turns = [
            TurnRecord(
                id=row["id"],
                seq=row["seq"],
                question=row["question"],
                answer=row["answer"],
                status=row["status"],
                finish_reason=row["finish_reason"],
                usage=None if row["usage"] is None else json.loads(row["usage"]),
                timings=json.loads(row["timings"]),
                workspace=row["workspace"],
                model=row["model"],
                created_at=row["created_at"],
                persona=row["persona"],
                searches=searches.get(row["id"], []),
                errors=errors.get(row["id"], []),
                messages=messages.get(row["id"], []),
                estimate=None if row["estimate"] is None else json.loads(row["estimate"]),
            )
            for row in turn_rows
        ]
        return ConversationRecord(
            id=head["id"],
            title=head["title"],
            profile=head["profile"],
            server_url=head["server_url"],
            workspace=head["workspace"],
            model=head["model"],
            created_at=head["created_at"],
            updated_at=head["updated_at"],
            turns=turns,
        )

    def list(self, *, limit: int = 20) -> _Summaries:
        """The most recently updated conversations first."""
        rows = self._read(
            "SELECT c.*,"
            " (SELECT count(*) FROM turns t WHERE t.conversation_id = c.id) AS turn_count,"
            " (SELECT t.status FROM turns t WHERE t.conversation_id = c.id"
            "  ORDER BY t.seq DESC LIMIT 1) AS last_status,"
            " (SELECT coalesce(sum(json_extract(t.estimate, '$.total')), 0) FROM turns t"
            "  WHERE t.conversation_id = c.id) AS tokens"
            " FROM conversations c ORDER BY c.updated_at DESC, c.pk DESC LIMIT ?",
            (_row_limit(limit),),
        )
        return [
            ConversationSummary(
                id=row["id"],
                title=row["title"],
                profile=row["profile"],
                server_url=row["server_url"],
                workspace=row["workspace"],
                model=row["model"],
                created_at=row["created_at"],
                updated_at=row["updated_at"],
                turns=row["turn_count"],
                last_status=row["last_status"],
                tokens=int(row["tokens"] or 0),
            )
            for row in rows
        ]

    @property
    def full_text(self) -> bool:
        """Whether `search` uses the FTS5 index (else a slower LIKE scan)."""
        rows = self._read("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'turns_fts'")
        return bool(rows)

    def search(self, text: str, *, limit: int = 20) -> _Hits:
        """Turns whose question or answer contains every word of `text`, best first."""
        words = text.split()
        if not words:
            raise UsageError("nothing to search for")
        select = (
            "SELECT t.conversation_id, c.title, t.seq, t.question, t.answer, t.workspace,"
            " t.created_at FROM turns t JOIN conversations c ON c.id = t.conversation_id"
        )
        if self.full_text:
            # Each word quoted: the user's text is words, never FTS5 query syntax.
            query = " ".join('"' + word.replace('"', '""') + '"' for word in words)
            rows = self._read(
                f"{select} JOIN turns_fts f ON f.rowid = t.pk WHERE f.turns_fts MATCH ?"
                " ORDER BY f.rank, t.created_at DESC LIMIT ?",
                (query, _row_limit(limit)),
            )
        else:
            clauses = " AND ".join(
                "(t.question LIKE ? ESCAPE '\\' OR t.answer LIKE ? ESCAPE '\\')" for _ in words
            )
            params: list[Any] = []
            for word in words:
                pattern = "%" + re.sub(r"([\\%_])", r"\\\1", word) + "%"
                params += [pattern, pattern]
            rows = self._read(
                f"{select} WHERE {clauses} ORDER BY t.created_at DESC LIMIT ?",
                [*params, _row_limit(limit)],
            )
        return [
            SearchHit(
                conversation_id=row["conversation_id"],
                title=row["title"],
                turn_seq=row["seq"],
                question=row["question"],
                excerpt=_excerpt(row["answer"], row["question"], words),
                workspace=row["workspace"],
                created_at=row["created_at"],
            )
            for row in rows
        ]


def _role(message: Message) -> str | None:
    role = message.get("role")
    return role if isinstance(role, str) else None


def _dump(value: object) -> str:
    # ensure_ascii keeps lone surrogates (possible in decoded JSON) exact and storable.
    return json.dumps(value, ensure_ascii=True)


def _text(value: str) -> str:
    # SQLite text must be valid UTF-8; a lone surrogate in model output would abort the save.
    return value.encode("utf-8", "replace").decode("utf-8")


def _opt_text(value: str | None) -> str | None:
    return None if value is None else _text(value)


def _excerpt(answer: str, question: str, words: list[str]) -> str:
    """About EXCERPT_CHARS of the answer around the first word found (else of the question)."""
    for text in (answer, question):
        lowered = text.lower()
        positions = [lowered.find(word.lower()) for word in words]
        found = [position for position in positions if position >= 0]
        if found:
            start = max(min(found) - EXCERPT_CHARS // 4, 0)
            piece = " ".join(text[start : start + EXCERPT_CHARS].split())
            prefix = "…" if start > 0 else ""
            suffix = "…" if start + EXCERPT_CHARS < len(text) else ""
            return prefix + piece + suffix
    # FTS5 matched a stemmed form: show the start of the answer.
    piece = " ".join(answer[:EXCERPT_CHARS].split())
    return piece + ("…" if len(answer) > EXCERPT_CHARS else "")


def _row_limit(limit: int) -> int:
    """A LIMIT SQLite can bind: `-n 99999999999999999999` means "all of them"."""
    return min(max(limit, 0), 2**62)


def conversation_not_found(prefix: str | None) -> NotFoundError:
    """The error for a conversation a reader asked for and history does not have: none saved
    yet (no `prefix`: the latest was asked for), or none with that id."""
    if prefix is None:
        return NotFoundError(
            "no saved conversation yet",
            hint="ask a question first (answers are saved unless --no-save)",
        )
    return NotFoundError(
        f"no saved conversation with id {prefix}",
        hint="`meilichat history list` shows the saved conversations",
    )


def load_conversation(
    path: Path, prefix: str | None, warn: Callable[[str], None]
) -> ConversationRecord:
    """The saved conversation `prefix` names (an id prefix), or the latest when it is None,
    for a reader (`history show`, `history export`, `explain`, `source`): nothing is created
    to look, and what opening the store has to say (a corrupt file moved aside) goes to `warn`
    before any "not found"."""
    from meilichat_cli.history.location import history_saved

    if not history_saved(path):
        raise conversation_not_found(prefix)
    with HistoryStore.open(path) as store:
        for warning in store.warnings:
            warn(warning)
        found = store.resolve(prefix) if prefix is not None else store.latest_id()
        if found is None:
            raise conversation_not_found(prefix)
        return store.get(found)
