"""The history database file: create it privately, open it, migrate it, survive damage.

- The file is created 0600 in one step (missing directories 0700) before SQLite opens it;
  WAL mode, a busy timeout, `synchronous=NORMAL`, foreign keys on.
- Schema changes are named functions (`MIGRATIONS`), applied in order on open inside one
  `BEGIN IMMEDIATE` transaction and recorded in the `migrations` table (name, applied_at).
  A migration needing an optional SQLite feature (FTS5) stays unrecorded until it is there.
- A file that is not a database is renamed `<name>.corrupt-<timestamp>` (with its `-wal` and
  `-shm`) and a fresh one started; the caller gets the warning text to show.
- Every failure becomes `HistoryUnavailable`, whose message says what to do.

Stdlib, `errors`, `local.files` and `history.location` only. Never prints.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from meilichat_cli.errors import HistoryUnavailable
from meilichat_cli.history.location import check_history_location
from meilichat_cli.local.files import check_owner, make_missing_dirs

# SQLite result codes (sqlite3 exceptions carry them from Python 3.11 on).
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26


# --------------------------------------------------------------------------- migrations


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    apply: Callable[[sqlite3.Connection], None]
    # A migration that needs an optional SQLite feature waits (unrecorded) until it is there.
    possible: Callable[[], bool] = lambda: True


def m001_create_tables(db: sqlite3.Connection) -> None:
    statements = [
        """CREATE TABLE conversations (
            pk INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL,
            profile TEXT,
            server_url TEXT NOT NULL,
            workspace TEXT NOT NULL,
            model TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX conversations_updated ON conversations (updated_at)",
        """CREATE TABLE turns (
            pk INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            conversation_id TEXT NOT NULL
                REFERENCES conversations (id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            question TEXT NOT NULL,
            answer TEXT NOT NULL,
            status TEXT NOT NULL,
            finish_reason TEXT,
            usage TEXT,
            timings TEXT NOT NULL,
            workspace TEXT NOT NULL,
            model TEXT NOT NULL,
            created_at REAL NOT NULL,
            UNIQUE (conversation_id, seq)
        )""",
        """CREATE TABLE messages (
            conversation_id TEXT NOT NULL
                REFERENCES conversations (id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            turn_id TEXT NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
            role TEXT,
            json TEXT NOT NULL,
            PRIMARY KEY (conversation_id, seq)
        )""",
        "CREATE INDEX messages_turn ON messages (turn_id)",
        """CREATE TABLE searches (
            turn_id TEXT NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            call_id TEXT NOT NULL,
            index_uid TEXT,
            q TEXT,
            filter TEXT,
            sources TEXT NOT NULL,
            PRIMARY KEY (turn_id, seq)
        )""",
        """CREATE TABLE errors (
            turn_id TEXT NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            type TEXT NOT NULL,
            code TEXT,
            message TEXT NOT NULL,
            param TEXT,
            PRIMARY KEY (turn_id, seq)
        )""",
    ]
    for statement in statements:
        db.execute(statement)


def fts5_available() -> bool:
    """Whether this Python's SQLite was built with FTS5 (most are; some distributions not)."""
    probe = sqlite3.connect(":memory:")
    try:
        probe.execute("CREATE VIRTUAL TABLE probe USING fts5(text)")
    except sqlite3.Error:
        return False
    finally:
        probe.close()
    return True


def m002_search_index(db: sqlite3.Connection) -> None:
    # External-content index: the text lives once, in `turns`; triggers keep the index in step
    # (foreign-key cascades fire them too, so `history rm` cleans the index).
    statements = [
        """CREATE VIRTUAL TABLE turns_fts USING fts5(
            question, answer, content='turns', content_rowid='pk',
            tokenize='porter unicode61 remove_diacritics 2'
        )""",
        """CREATE TRIGGER turns_fts_insert AFTER INSERT ON turns BEGIN
            INSERT INTO turns_fts (rowid, question, answer)
            VALUES (new.pk, new.question, new.answer);
        END""",
        """CREATE TRIGGER turns_fts_delete AFTER DELETE ON turns BEGIN
            INSERT INTO turns_fts (turns_fts, rowid, question, answer)
            VALUES ('delete', old.pk, old.question, old.answer);
        END""",
        """CREATE TRIGGER turns_fts_update AFTER UPDATE ON turns BEGIN
            INSERT INTO turns_fts (turns_fts, rowid, question, answer)
            VALUES ('delete', old.pk, old.question, old.answer);
            INSERT INTO turns_fts (rowid, question, answer)
            VALUES (new.pk, new.question, new.answer);
        END""",
        # Turns saved while FTS5 was missing get indexed now.
        "INSERT INTO turns_fts (turns_fts) VALUES ('rebuild')",
    ]
    for statement in statements:
        db.execute(statement)


def m003_turn_persona(db: sqlite3.Connection) -> None:
    # Which persona asked (`--as NAME`, REPL `/as`); NULL for the profile's own key.
    db.execute("ALTER TABLE turns ADD COLUMN persona TEXT")


def m_turn_trace(db: sqlite3.Connection) -> None:
    # The retrieval trace and the cost of a turn: when each search started and ended (ms from
    # sending the request) and the turn's token estimate (JSON). Old rows keep NULLs.
    for statement in (
        "ALTER TABLE searches ADD COLUMN started_ms REAL",
        "ALTER TABLE searches ADD COLUMN ended_ms REAL",
        "ALTER TABLE turns ADD COLUMN estimate TEXT",
    ):
        db.execute(statement)


MIGRATIONS: tuple[Migration, ...] = (
    Migration("m001_create_tables", m001_create_tables),
    Migration("m002_search_index", m002_search_index, possible=fts5_available),
    Migration("m003_turn_persona", m003_turn_persona),
    Migration("m_turn_trace", m_turn_trace),
)


def open_database(path: Path, busy_timeout_ms: int) -> tuple[sqlite3.Connection, list[str]]:
    """Open (creating if needed) and migrate the database; return it with any warnings."""
    warnings: list[str] = []
    inode = _create_private_file(path)
    try:
        db = _connect(path, busy_timeout_ms)
    except sqlite3.DatabaseError as error:
        if not _is_corruption(error):
            raise unavailable(path, error) from error
        aside = _move_aside(path, inode)
        warnings.append(
            f"history database {path} was damaged ({error}); moved it to {aside.name} "
            "and started a new one"
        )
        _create_private_file(path)
        try:
            db = _connect(path, busy_timeout_ms)
        except sqlite3.DatabaseError as again:
            raise unavailable(path, again) from again
    return db, warnings


def _create_private_file(path: Path) -> int:
    """Create the directory (0700) and the file (0600) if missing; return the file's inode.

    The data directory must be the user's and not writable by others, and the database must
    be a regular file of the user's, never a symlink (another account could point it at a
    file of theirs and read every conversation): refused with exit 2."""
    try:
        make_missing_dirs(path.parent)
        check_history_location(path)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            info = os.fstat(fd)
            check_owner(path, info)
            return info.st_ino
        finally:
            os.close(fd)
    except OSError as error:
        reason = error.strerror or str(error)
        raise HistoryUnavailable(
            f"cannot open the history database {path}: {reason}",
            hint="set MEILICHAT_DATA_DIR to a writable directory, or use --no-save",
        ) from error


def _connect(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    """Connect, switch to WAL and migrate. sqlite3 errors propagate to `open`."""
    db = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None)
    try:
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA journal_mode = WAL")
        # With WAL, NORMAL stays consistent after a crash without an fsync on every commit.
        db.execute("PRAGMA synchronous = NORMAL")
        _migrate(db)
    except BaseException:
        db.close()
        raise
    return db


def _migrate(db: sqlite3.Connection) -> None:
    def pending() -> list[Migration]:
        exists = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations'"
        ).fetchone()
        done = {row[0] for row in db.execute("SELECT name FROM migrations")} if exists else set()
        return [m for m in MIGRATIONS if m.name not in done and m.possible()]

    # Look first without a write lock: opening an up-to-date database must not wait for
    # another process's write.
    if not pending():
        return
    db.execute("BEGIN IMMEDIATE")  # waits up to the busy timeout for other writers
    try:
        db.execute(
            "CREATE TABLE IF NOT EXISTS migrations"
            " (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
        )
        for migration in pending():  # again, under the lock: another process may have won
            migration.apply(db)
            db.execute(
                "INSERT INTO migrations (name, applied_at) VALUES (?, ?)",
                (migration.name, time.time()),
            )
        db.execute("COMMIT")
    except BaseException:
        rollback(db)
        raise


def rollback(db: sqlite3.Connection) -> None:
    """Roll back if a transaction is still open (SQLite ends some on its own after errors)."""
    if db.in_transaction:
        db.execute("ROLLBACK")


def applied_migrations(path: Path) -> list[str]:
    """The migration names recorded in the database at `path`, in the order applied."""
    db = sqlite3.connect(path)
    try:
        return [row[0] for row in db.execute("SELECT name FROM migrations ORDER BY rowid")]
    finally:
        db.close()


def _error_code(error: sqlite3.Error) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _is_corruption(error: sqlite3.Error) -> bool:
    if _error_code(error) in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return True
    text = str(error)
    return "file is not a database" in text or "malformed" in text


def is_busy(error: sqlite3.Error) -> bool:
    text = str(error)
    return "locked" in text or "busy" in text


def unavailable(path: Path, error: sqlite3.Error) -> HistoryUnavailable:
    if is_busy(error):
        return HistoryUnavailable(
            f"the history database {path} is locked by another process",
            hint="the turn was not saved; try again when the other meilichat is done",
        )
    return HistoryUnavailable(
        f"cannot use the history database {path}: {error}",
        hint="set MEILICHAT_DATA_DIR to a writable directory, or use --no-save",
    )


def _move_aside(path: Path, inode: int) -> Path:
    """Rename a damaged database (and its WAL files) out of the way; return the new name."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    counter = 1
    while aside.exists():
        counter += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{counter}")
    try:
        # Another process may already have replaced the damaged file with a fresh database;
        # only move the file that was found damaged.
        if os.stat(path).st_ino == inode:
            os.replace(path, aside)
            for suffix in ("-wal", "-shm"):
                side = path.with_name(path.name + suffix)
                if side.exists():
                    os.replace(side, aside.with_name(aside.name + suffix))
    except FileNotFoundError:
        pass
    except OSError as error:
        raise HistoryUnavailable(
            f"the history database {path} is damaged and cannot be moved aside: "
            f"{error.strerror or error}",
        ) from error
    return aside
