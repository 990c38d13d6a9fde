"""Unit tests of the history store: schema migrations, exact round trips of the messages a
continuing request carries, id prefixes, search, removal, and the robustness rows 64-66 of
docs/reliability.md."""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meilichat_cli.errors import ExitCode, NotFoundError, UsageError
from meilichat_cli.history import database as history_db
from meilichat_cli.history.database import MIGRATIONS, applied_migrations
from meilichat_cli.history.store import HistoryStore, HistoryUnavailable, make_title
from meilichat_cli.protocol.conversation import COMPLETE, INTERRUPTED, TRUNCATED, Turn
from meilichat_cli.protocol.events import (
    ConversationMessage,
    Done,
    ErrorEvent,
    Event,
    Finished,
    SearchProgress,
    SearchSources,
    TextDelta,
    UsageReport,
)

TIMINGS: dict[str, float | None] = {
    "first_search_ms": 12.5,
    "first_token_ms": 40.0,
    "total_ms": 90.1,
}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "history.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[HistoryStore]:
    with HistoryStore.open(db_path, busy_timeout_ms=300) as opened:
        yield opened


def tool_call(call_id: str, index: str = "movies", q: str = "space") -> dict[str, Any]:
    arguments = json.dumps({"index_uid": index, "q": q, "filter": ""})
    return {
        "role": "assistant",
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": "_meiliSearchInIndex", "arguments": arguments},
            }
        ],
    }


def tool_result(call_id: str, content: str) -> dict[str, Any]:
    return {"role": "tool", "content": content, "tool_call_id": call_id}


def searched_turn(question: str, answer: str, call_id: str = "call_1") -> Turn:
    """A complete turn with one search, its sources, both appended tool messages and text."""
    turn = Turn(prompt_messages=[{"role": "user", "content": question}])
    events: list[Event] = [
        TextDelta(""),
        SearchProgress(call_id, "movies", "space", "", '{"index_uid":"movies"}'),
        ConversationMessage(tool_call(call_id)),
        SearchSources(call_id, [{"id": 1, "title": "Interstellar"}, {"id": 2, "name": "Solaris"}]),
        ConversationMessage(tool_result(call_id, "Interstellar\nSolaris")),
        TextDelta(answer[: len(answer) // 2]),
        TextDelta(answer[len(answer) // 2 :]),
        Finished("stop"),
        UsageReport({"prompt_tokens": 10, "completion_tokens": 5}),
        Done(),
    ]
    for event in events:
        turn.feed(event)
    turn.close()
    return turn


def new_conversation(store: HistoryStore, title: str = "Which films are set in space?") -> str:
    return store.new_conversation(
        title=title,
        profile="local",
        server_url="http://127.0.0.1:7700",
        workspace="movies",
        model="gpt-4o-mini",
    )


def save(store: HistoryStore, conversation_id: str, turn: Turn) -> str:
    """Save `turn` with its own user message as the question."""
    question = turn.prompt_messages[-1]["content"]
    return store.save_turn(
        conversation_id,
        turn,
        question=question,
        workspace="movies",
        model="gpt-4o-mini",
        timings=TIMINGS,
    )


# --------------------------------------------------------------------------- migrations


def test_migrations_from_empty_create_every_table_and_record_each_name(
    store: HistoryStore, db_path: Path
) -> None:
    assert applied_migrations(db_path) == [migration.name for migration in MIGRATIONS]
    db = sqlite3.connect(db_path)
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    journal = db.execute("PRAGMA journal_mode").fetchone()[0]
    db.close()
    assert {"migrations", "conversations", "messages", "turns", "searches", "errors"} <= tables
    assert "turns_fts" in tables
    assert journal == "wal"
    assert store.full_text


def test_reopening_applies_nothing_twice(db_path: Path) -> None:
    HistoryStore.open(db_path).close()
    db = sqlite3.connect(db_path)
    first = db.execute("SELECT name, applied_at FROM migrations ORDER BY rowid").fetchall()
    db.close()
    HistoryStore.open(db_path).close()
    db = sqlite3.connect(db_path)
    second = db.execute("SELECT name, applied_at FROM migrations ORDER BY rowid").fetchall()
    db.close()
    assert first == second


def test_a_migration_waiting_for_fts5_is_applied_later_and_indexes_old_turns(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    without_fts = tuple(
        dataclasses.replace(m, possible=lambda: False) if m.name == "m002_search_index" else m
        for m in MIGRATIONS
    )
    monkeypatch.setattr(history_db, "MIGRATIONS", without_fts)
    with HistoryStore.open(db_path) as store:
        assert not store.full_text
        conversation = new_conversation(store)
        save(store, conversation, searched_turn("Is Solaris slow?", "Rather contemplative."))
        # The LIKE fallback finds words in questions and answers, and treats % and _ literally.
        assert [hit.conversation_id for hit in store.search("contemplative")] == [conversation]
        assert [hit.conversation_id for hit in store.search("SOLARIS slow")] == [conversation]
        assert store.search("100%") == []
        assert store.search("s_laris") == []
    # The others do not wait for it.
    others = [m.name for m in MIGRATIONS if m.name != "m002_search_index"]
    assert applied_migrations(db_path) == others

    monkeypatch.setattr(history_db, "MIGRATIONS", MIGRATIONS)
    with HistoryStore.open(db_path) as store:
        assert store.full_text
        assert [hit.conversation_id for hit in store.search("contemplative")] == [conversation]
    assert applied_migrations(db_path) == [*others, "m002_search_index"]


# --------------------------------------------------------------------------- round trips


def test_every_message_kind_comes_back_exactly(store: HistoryStore) -> None:
    conversation = new_conversation(store)
    first = Turn(
        prompt_messages=[
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "Films in space?\n\u2028 tab\t ünïcödé 🚀 \ud800 \x1b[31m"},
        ]
    )
    events: list[Event] = [
        SearchProgress("call_A", "movies", "space", None, "{}"),
        ConversationMessage(tool_call("call_A")),
        SearchSources("call_A", [{"id": 1, "title": "Interstellar", "score": 0.5, "tags": []}]),
        ConversationMessage(tool_result("call_A", 'Interstellar (2014)\n"quoted" \\ back')),
        SearchProgress("call_B", "books", "mars", "year > 2000", "{}"),
        ConversationMessage(tool_call("call_B", "books", "mars")),
        ErrorEvent("response_error", "index_not_found", "Index `books` not found."),
        ConversationMessage(tool_result("call_B", "the search tool call failed with …")),
        TextDelta("Interstellar, "),
        TextDelta("mostly."),
        Finished("stop"),
        Done(),
    ]
    for event in events:
        first.feed(event)
    first.close()
    save(store, conversation, first)
    second = searched_turn("And on Mars?", "The Martian.", call_id="call_C")
    save(store, conversation, second)

    expected = first.history_messages() + second.history_messages()
    stored = store.messages(conversation)
    assert stored == expected
    # Key order too: the request body must be byte-for-byte what the server sent.
    assert json.dumps(stored) == json.dumps(expected)
    assert [m["role"] for m in stored] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
        "user",
        "assistant",
        "tool",
        "assistant",
    ]

    record = store.get(conversation)
    assert [turn.seq for turn in record.turns] == [1, 2]
    one = record.turns[0]
    assert one.answer == "Interstellar, mostly."
    assert one.status == COMPLETE and one.finish_reason == "stop"
    assert one.timings == TIMINGS
    assert [s.to_json() for s in one.searches] == [s.to_json() for s in first.searches]
    assert one.errors == [
        ErrorEvent("response_error", "index_not_found", "Index `books` not found.")
    ]
    assert one.messages == first.history_messages()
    assert record.turns[1].usage == {"prompt_tokens": 10, "completion_tokens": 5}


def test_continuing_leaves_out_a_tool_call_cut_from_its_result(store: HistoryStore) -> None:
    conversation = new_conversation(store)
    cut = Turn(prompt_messages=[{"role": "user", "content": "first"}])
    cut.feed(ConversationMessage(tool_call("call_cut")))
    cut.feed(TextDelta("partial"))
    cut.close(interrupted=True)
    save(store, conversation, cut)
    save(store, conversation, searched_turn("second", "answer", call_id="call_ok"))

    messages = store.messages(conversation)
    assert {"role": "user", "content": "first"} in messages
    assert {"role": "assistant", "content": "partial"} in messages
    assert all("call_cut" not in json.dumps(message) for message in messages)
    assert sum(1 for message in messages if message["role"] == "tool") == 1
    # The record still keeps everything the turn produced.
    assert store.get(conversation).turns[0].messages[1] == tool_call("call_cut")
    assert store.get(conversation).turns[0].status == INTERRUPTED


def test_an_unclosed_turn_is_closed_and_extra_errors_are_kept(store: HistoryStore) -> None:
    conversation = new_conversation(store)
    turn = Turn(prompt_messages=[{"role": "user", "content": "q"}])
    turn.feed(TextDelta("half an ans"))
    cut = ErrorEvent("stream", None, "the connection closed before [DONE]")
    store.save_turn(
        conversation, turn, question="q", workspace="w", model="m", timings={}, extra_errors=[cut]
    )
    saved = store.get(conversation).turns[0]
    assert saved.status == TRUNCATED
    assert saved.errors == [cut]


def test_saving_into_an_unknown_conversation_is_not_found(store: HistoryStore) -> None:
    with pytest.raises(NotFoundError):
        save(store, "0" * 32, searched_turn("q", "a"))


def test_new_conversation_ids_are_32_hex_and_titles_are_first_lines(store: HistoryStore) -> None:
    conversation = new_conversation(store, title="\n\n  which   plans\tinclude SSO?  \nsecond")
    assert len(conversation) == 32 and int(conversation, 16) >= 0
    assert store.get(conversation).title == "which plans include SSO?"
    assert make_title("x" * 200) == "x" * 59 + "…"
    assert make_title("   \n ") == "(empty question)"


# --------------------------------------------------------------------------- lookups


def test_list_is_newest_first_with_turn_counts_and_last_status(store: HistoryStore) -> None:
    older = new_conversation(store, "older")
    newer = new_conversation(store, "newer")
    save(store, newer, searched_turn("q", "a"))
    save(store, older, searched_turn("q", "a"))
    interrupted = Turn(prompt_messages=[{"role": "user", "content": "again"}])
    interrupted.close(interrupted=True)
    save(store, older, interrupted)

    listed = store.list()
    assert [(c.id, c.title, c.turns, c.last_status) for c in listed] == [
        (older, "older", 2, INTERRUPTED),
        (newer, "newer", 1, COMPLETE),
    ]
    assert [c.id for c in store.list(limit=1)] == [older]
    assert store.latest_id() == older
    assert listed[0].to_json()["updated_at"].endswith("Z")


def test_latest_id_of_an_empty_store_is_none(store: HistoryStore) -> None:
    assert store.latest_id() is None
    assert store.list() == []


def test_unique_prefixes_resolve_and_unknown_ones_are_not_found(store: HistoryStore) -> None:
    conversation = new_conversation(store)
    assert store.resolve(conversation) == conversation
    assert store.resolve(conversation[:6]) == conversation
    assert store.resolve(conversation[:8].upper()) == conversation
    other = "f" if conversation[0] != "f" else "0"
    with pytest.raises(NotFoundError) as missing:
        store.resolve(other * 8)
    assert missing.value.exit_code == ExitCode.NOT_FOUND
    with pytest.raises(NotFoundError):
        store.resolve("not-hex")
    with pytest.raises(UsageError):
        store.resolve("  ")


def test_an_ambiguous_prefix_is_a_usage_error_listing_the_candidates(store: HistoryStore) -> None:
    # 17 random ids over 16 first characters: at least two share their first character.
    ids = [new_conversation(store, f"conversation {n}") for n in range(17)]
    first_chars = [conversation[0] for conversation in ids]
    shared = next(char for char in first_chars if first_chars.count(char) > 1)
    with pytest.raises(UsageError) as ambiguous:
        store.resolve(shared)
    assert ambiguous.value.exit_code == ExitCode.USAGE
    for conversation in ids:
        if conversation.startswith(shared):
            assert conversation[:8] in ambiguous.value.message


def test_full_text_search_matches_questions_and_answers_and_ignores_query_syntax(
    store: HistoryStore,
) -> None:
    space = new_conversation(store, "space")
    save(store, space, searched_turn("Which films are set in space?", "Interstellar travels far."))
    plans = new_conversation(store, "plans")
    save(store, plans, searched_turn("Which plans include SSO?", "The Enterprise plan does."))

    assert [hit.conversation_id for hit in store.search("interstellar")] == [space]
    assert [hit.conversation_id for hit in store.search("plan")] == [plans]  # stemmed
    hit = store.search("enterprise sso")[0]
    assert hit.conversation_id == plans and hit.turn_seq == 1
    assert "Enterprise" in hit.excerpt
    for syntax in ['"', "AND", "NEAR(", "a*", "-x", "col:1", "^"]:
        store.search(syntax)  # words, never FTS5 query syntax: no error
    with pytest.raises(UsageError):
        store.search("   ")


def test_remove_and_remove_older_than_delete_everything_of_a_conversation(
    store: HistoryStore, db_path: Path
) -> None:
    keep = new_conversation(store, "keep")
    gone = new_conversation(store, "gone")
    save(store, keep, searched_turn("kept question", "kept"))
    save(store, gone, searched_turn("doomed question", "doomed"))
    assert store.remove([gone, "0" * 32]) == 1
    assert [c.id for c in store.list()] == [keep]
    assert store.search("doomed") == []
    assert store.messages(gone) == []
    db = sqlite3.connect(db_path)
    counts = {
        table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("conversations", "turns", "messages", "searches")
    }
    # What is left is exactly the kept conversation: 1 turn of 4 messages and 1 search.
    assert counts == {"conversations": 1, "turns": 1, "messages": 4, "searches": 1}
    # The search index lost the removed turn too (this raises if index and table disagree).
    db.execute("INSERT INTO turns_fts (turns_fts, rank) VALUES ('integrity-check', 1)")
    db.close()

    assert store.remove_older_than(3600) == 0
    assert store.remove_older_than(3600, now=time.time() + 7200) == 1
    assert store.list() == []


# --------------------------------------------------------------------------- robustness


def test_file_is_created_0600_in_a_0700_directory_even_under_umask_0(db_path: Path) -> None:
    previous = os.umask(0)
    try:
        with HistoryStore.open(db_path) as store:
            save(store, new_conversation(store), searched_turn("q", "a"))
            files = [db_path, *db_path.parent.glob("history.sqlite3-*")]
            modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in files}
    finally:
        os.umask(previous)
    assert set(modes) == {"history.sqlite3", "history.sqlite3-wal", "history.sqlite3-shm"}
    assert all(mode == 0o600 for mode in modes.values()), modes  # the WAL files too
    assert stat.S_IMODE(db_path.parent.stat().st_mode) == 0o700


def test_an_unwritable_data_dir_makes_history_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "home"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(HistoryUnavailable) as unavailable:
        HistoryStore.open(blocker / "data" / "history.sqlite3")
    assert "history database" in unavailable.value.message
    assert unavailable.value.hint and "--no-save" in unavailable.value.hint


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permissions")
def test_a_read_only_home_makes_history_unavailable(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o500)
    try:
        with pytest.raises(HistoryUnavailable):
            HistoryStore.open(home / ".local" / "share" / "meilichat" / "history.sqlite3")
    finally:
        home.chmod(0o700)


def test_a_corrupt_database_is_moved_aside_and_a_new_one_started(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    garbage = b"this is not a database, just some bytes " * 200
    db_path.write_bytes(garbage)
    with HistoryStore.open(db_path) as store:
        assert len(store.warnings) == 1
        assert "moved it to history.sqlite3.corrupt-" in store.warnings[0]
        save(store, new_conversation(store), searched_turn("q", "a"))
        assert len(store.list()) == 1
    aside = list(db_path.parent.glob("history.sqlite3.corrupt-*"))
    assert len(aside) == 1
    assert aside[0].read_bytes() == garbage
    with HistoryStore.open(db_path) as again:
        assert again.warnings == []


def test_a_locked_database_waits_for_the_busy_timeout_then_skips_the_save(
    db_path: Path,
) -> None:
    with HistoryStore.open(db_path, busy_timeout_ms=250) as store:
        conversation = new_conversation(store)
        holder = sqlite3.connect(db_path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            started = time.monotonic()
            with pytest.raises(HistoryUnavailable) as locked:
                save(store, conversation, searched_turn("q", "a"))
            waited = time.monotonic() - started
            # Reading, and opening an up-to-date database, still work meanwhile (WAL).
            assert [c.id for c in store.list()] == [conversation]
            with HistoryStore.open(db_path, busy_timeout_ms=50) as reader:
                assert reader.latest_id() == conversation
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert waited >= 0.2
        assert "locked" in locked.value.message
        assert store.get(conversation).turns == []
        save(store, conversation, searched_turn("q", "a"))  # once released, saving works
        assert len(store.get(conversation).turns) == 1


PARALLEL_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from meilichat_cli.history.store import HistoryStore
    from meilichat_cli.protocol.conversation import Turn
    from meilichat_cli.protocol.events import Done, Finished, TextDelta

    path, shared, worker = Path(sys.argv[1]), sys.argv[2], sys.argv[3]

    def turn(text):
        t = Turn(prompt_messages=[{"role": "user", "content": text}])
        for event in (TextDelta("answer " + text), Finished("stop"), Done()):
            t.feed(event)
        t.close()
        return t

    with HistoryStore.open(path, busy_timeout_ms=10000) as store:
        target = shared
        if shared == "-":
            target = store.new_conversation(
                title="worker " + worker, profile=None, server_url="http://127.0.0.1:1",
                workspace="w", model="m")
        for n in range(3):
            text = f"worker {worker} turn {n}"
            store.save_turn(target, turn(text), question=text, workspace="w", model="m",
                            timings={})
    """
)


def run_writers(path: Path, shared: str) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", PARALLEL_WRITER, str(path), shared, str(worker)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(10)
    ]
    errors = [process.communicate(timeout=60)[1] for process in processes]
    assert [p.returncode for p in processes] == [0] * 10, errors


@pytest.mark.slow
def test_ten_parallel_processes_lose_no_turn(db_path: Path) -> None:
    # Round 1: ten processes race to create and migrate a brand-new file, each saving three
    # turns into a conversation of its own.
    run_writers(db_path, "-")
    with HistoryStore.open(db_path) as store:
        conversations = store.list(limit=100)
        assert sorted(c.title for c in conversations) == sorted(f"worker {n}" for n in range(10))
        assert all(c.turns == 3 for c in conversations)
        shared = new_conversation(store, "shared")
    assert applied_migrations(db_path) == [migration.name for migration in MIGRATIONS]

    # Round 2: the same ten append to one conversation at once; every turn and message lands,
    # with distinct sequence numbers.
    run_writers(db_path, shared)
    with HistoryStore.open(db_path) as store:
        record = store.get(shared)
        assert [turn.seq for turn in record.turns] == list(range(1, 31))
        questions = sorted(turn.question for turn in record.turns)
        assert questions == sorted(f"worker {w} turn {n}" for w in range(10) for n in range(3))
        assert len(store.messages(shared)) == 60
