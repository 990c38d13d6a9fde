"""`meilichat history …` in process through the error boundary (exit codes, stdout/stderr
split, JSON, sanitizing) with stdin a pipe, and with a terminal-like context for what only a
terminal sees (aligned table, rendered Markdown, the delete confirmation). The database is
seeded through the store API."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from meilichat_cli.cli.commands.history import format_age, parse_duration
from meilichat_cli.errors import UsageError
from meilichat_cli.history.store import HistoryStore
from meilichat_cli.local.paths import Paths
from meilichat_cli.protocol.conversation import Turn
from meilichat_cli.protocol.events import (
    ConversationMessage,
    Done,
    ErrorEvent,
    Event,
    Finished,
    SearchProgress,
    SearchSources,
    TextDelta,
)
from tests.inprocess import Outcome, invoke, run_cli

HOSTILE = "\x1b]52;c;cHduZWQ=\x07\x1b[2J\x9b31m"  # clipboard write, clear screen, C1 CSI


def db_path(env: dict[str, str]) -> Path:
    return Paths.from_env(env).history_db


def seed(
    env: dict[str, str],
    question: str,
    answer: str,
    *,
    sources: list[dict[str, Any]] | None = None,
    workspace: str = "movies",
) -> str:
    """One conversation of one searched turn, saved through the store; returns its id."""
    turn = Turn(prompt_messages=[{"role": "user", "content": question}])
    call = {"id": "call_1", "type": "function", "function": {"name": "_meiliSearchInIndex"}}
    events: list[Event] = [
        SearchProgress("call_1", "movies", "space", "", "{}"),
        ConversationMessage({"role": "assistant", "tool_calls": [call]}),
        SearchSources("call_1", sources if sources is not None else [{"id": 1, "title": "Alien"}]),
        ConversationMessage({"role": "tool", "content": "Alien", "tool_call_id": "call_1"}),
        ErrorEvent("response_error", "index_not_found", "Index `books` not found."),
        TextDelta(answer),
        Finished("stop"),
        Done(),
    ]
    for event in events:
        turn.feed(event)
    turn.close()
    with HistoryStore.open(db_path(env)) as store:
        conversation = store.new_conversation(
            title=question,
            profile=None,
            server_url="http://127.0.0.1:7700",
            workspace=workspace,
            model="gpt-4o-mini",
        )
        store.save_turn(
            conversation,
            turn,
            question=question,
            workspace=workspace,
            model="gpt-4o-mini",
            timings={"first_search_ms": 1.0, "first_token_ms": 2.0, "total_ms": 3.0},
        )
    return conversation


def history(args: list[str], env: dict[str, str], **kwargs: Any) -> Any:
    return run_cli(["history", *args], env, **kwargs)


# --------------------------------------------------------------------------- in a pipe


def test_list_without_any_history_says_so_and_creates_nothing(clean_env: dict[str, str]) -> None:
    result = history(["list"], clean_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "No saved conversations" in result.stderr
    assert not db_path(clean_env).exists()
    as_json = history(["list", "--json"], clean_env)
    assert as_json.returncode == 0 and json.loads(as_json.stdout) == []


def test_list_is_newest_first_and_tab_separated_in_a_pipe(
    clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() - 3 * 86400)
    older = seed(clean_env, "Which films are set in space?", "Alien.", workspace="films")
    monkeypatch.setattr(time, "time", real_time)
    newer = seed(clean_env, "Which plans include SSO?\nsecond line", "Enterprise.")

    result = history(["list"], clean_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{newer[:8]}\tjust now\tmovies\t1\tcomplete\t-\tWhich plans include SSO?",
        f"{older[:8]}\t3 days ago\tfilms\t1\tcomplete\t-\tWhich films are set in space?",
    ]
    limited = history(["list", "--limit", "1", "--json"], clean_env)
    listed = json.loads(limited.stdout)
    assert [entry["id"] for entry in listed] == [newer]
    assert listed[0]["turns"] == 1 and listed[0]["last_status"] == "complete"


def test_show_prints_sanitized_markdown_with_numbered_sources(clean_env: dict[str, str]) -> None:
    conversation = seed(
        clean_env,
        f"Which films are set in space? {HOSTILE}",
        f"**Alien** and *Moon*.{HOSTILE}",
        sources=[{"id": 1, "title": f"Alien{HOSTILE}"}, {"id": 2, "name": "Moon"}, {"id": 3}],
    )
    result = history(["show", conversation[:6]], clean_env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for char in ("\x1b", "\x07", "\x9b"):
        assert char not in out
    assert "## Question 1" in out and "Which films are set in space?" in out
    assert "**Alien** and *Moon*." in out  # Markdown source in a pipe, not rendered
    assert "1. Alien" in out and "(`movies`)" in out
    assert "2. Moon (`movies`, id 2)" in out  # source ids, as in exports
    assert "3. id 3 (`movies`)" in out
    assert "Search failed (`index_not_found`)" in out


def test_show_json_is_the_exact_record(clean_env: dict[str, str]) -> None:
    answer = f"exact {HOSTILE} text 🚀"
    conversation = seed(clean_env, "q", answer)
    result = history(["show", conversation, "--json"], clean_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.isascii()  # escaped, so no control character reaches a terminal
    record = json.loads(result.stdout)
    assert record["id"] == conversation
    turn = record["turns"][0]
    assert turn["answer"] == answer
    assert turn["searches"][0]["sources"] == [{"id": 1, "title": "Alien"}]
    assert turn["errors"] == [
        {"type": "response_error", "code": "index_not_found", "message": "Index `books` not found."}
    ]
    assert [m["role"] for m in turn["messages"]] == ["user", "assistant", "tool", "assistant"]
    assert turn["timings"] == {"first_search_ms": 1.0, "first_token_ms": 2.0, "total_ms": 3.0}


def test_unknown_id_exits_4_and_an_ambiguous_prefix_exits_2(clean_env: dict[str, str]) -> None:
    ids = [seed(clean_env, f"question {n}", "answer") for n in range(17)]
    unknown = history(["show", "0123456789abcdef"], clean_env)
    assert unknown.returncode == 4
    assert "no saved conversation" in unknown.stderr and unknown.stdout == ""

    firsts = [conversation[0] for conversation in ids]
    shared = next(char for char in firsts if firsts.count(char) > 1)  # 17 ids, 16 digits
    ambiguous = history(["export", shared], clean_env)
    assert ambiguous.returncode == 2
    assert "ambiguous" in ambiguous.stderr
    for conversation in ids:
        if conversation.startswith(shared):
            assert conversation[:8] in ambiguous.stderr

    no_history = history(["show", "abc"], {**clean_env, "MEILICHAT_DATA_DIR": "/nonexistent/x"})
    assert no_history.returncode == 4


def test_search_finds_questions_and_answers(clean_env: dict[str, str]) -> None:
    space = seed(clean_env, "Which films are set in space?", "Alien, on the Nostromo.")
    seed(clean_env, "Which plans include SSO?", "The Enterprise plan.")
    result = history(["search", "nostromo"], clean_env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{space[:8]}\tjust now\t#1\tWhich films are set in space?\t")
    assert "Nostromo" in lines[0]
    as_json = json.loads(history(["search", "enterprise", "--json"], clean_env).stdout)
    assert [hit["title"] for hit in as_json] == ["Which plans include SSO?"]
    nothing = history(["search", "zeppelin"], clean_env)
    assert nothing.returncode == 0 and nothing.stdout == ""
    assert "No saved turn matches" in nothing.stderr


def test_rm_needs_yes_without_a_terminal_and_resolves_every_id_first(
    clean_env: dict[str, str],
) -> None:
    keep = seed(clean_env, "keep me", "kept")
    drop = seed(clean_env, "drop me", "dropped")

    refused = history(["rm", drop[:8]], clean_env)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    one_bad = history(["rm", drop[:8], "0" * 32, "--yes"], clean_env)
    assert one_bad.returncode == 4
    with HistoryStore.open(db_path(clean_env)) as store:
        assert len(store.list()) == 2

    done = history(["rm", drop[:8], "--yes"], clean_env)
    assert done.returncode == 0, done.stderr
    assert "Deleted 1 conversation." in done.stderr and done.stdout == ""
    with HistoryStore.open(db_path(clean_env)) as store:
        assert [c.id for c in store.list()] == [keep]
        assert store.search("dropped") == []


def test_rm_older_than_deletes_only_old_conversations(
    clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() - 40 * 86400)
    old = seed(clean_env, "old", "old")
    monkeypatch.setattr(time, "time", real_time)
    recent = seed(clean_env, "recent", "recent")

    result = history(["rm", "--older-than", "30d", "--yes"], clean_env)
    assert result.returncode == 0, result.stderr
    with HistoryStore.open(db_path(clean_env)) as store:
        assert [c.id for c in store.list()] == [recent]
        assert old not in [c.id for c in store.list()]
    again = history(["rm", "--older-than", "30d", "--yes"], clean_env)
    assert again.returncode == 0 and "No conversation is older than 30d" in again.stderr

    assert history(["rm", "--older-than", "soon", "--yes"], clean_env).returncode == 2
    assert history(["rm"], clean_env).returncode == 2


def test_show_and_export_default_to_the_latest_conversation_but_rm_needs_ids(
    clean_env: dict[str, str],
) -> None:
    nothing = history(["show"], clean_env)
    assert nothing.returncode == 4 and "no saved conversation yet" in nothing.stderr
    assert history(["export"], clean_env).returncode == 4
    assert not db_path(clean_env).exists()

    older = seed(clean_env, "older question", "older answer")
    latest = seed(clean_env, "latest question", "latest answer")
    shown = history(["show"], clean_env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == history(["show", latest[:8]], clean_env).stdout
    assert "latest answer" in shown.stdout and "older answer" not in shown.stdout
    assert json.loads(history(["show", "--json"], clean_env).stdout)["id"] == latest
    assert "latest question" in history(["show", "--trace"], clean_env).stdout
    exported = history(["export", "-f", "json"], clean_env)
    assert exported.returncode == 0 and json.loads(exported.stdout)["id"] == latest

    refused = history(["rm", "--yes"], clean_env)
    assert refused.returncode == 2 and "give conversation ids" in refused.stderr
    with HistoryStore.open(db_path(clean_env)) as store:
        assert {c.id for c in store.list()} == {older, latest}


def test_export_markdown_and_json_to_stdout_and_to_a_file(
    clean_env: dict[str, str], tmp_path: Path
) -> None:
    conversation = seed(clean_env, "Which films are set in space?", f"Alien.{HOSTILE}")
    markdown = history(["export", conversation[:8]], clean_env)
    assert markdown.returncode == 0, markdown.stderr
    assert markdown.stdout.startswith("# Which films are set in space?\n")
    assert "\x1b" not in markdown.stdout and "**Sources**\n\n1. Alien (`movies`" in markdown.stdout

    target = tmp_path / "out.json"
    to_file = history(
        ["export", conversation[:8], "--format", "json", "-o", str(target)], clean_env
    )
    assert to_file.returncode == 0, to_file.stderr
    assert to_file.stdout == "" and str(target) in to_file.stderr
    assert target.stat().st_mode & 0o777 == 0o600  # a conversation is private by default
    shown = history(["show", conversation, "--json"], clean_env).stdout
    assert json.loads(target.read_text()) == json.loads(shown)

    md_file = tmp_path / "out.md"
    assert (
        history(["export", conversation, "-f", "md", "-o", str(md_file)], clean_env).returncode == 0
    )
    assert md_file.read_text() == markdown.stdout

    bad = history(["export", conversation, "--format", "pdf"], clean_env)
    assert bad.returncode == 2 and bad.stdout == ""


def test_a_corrupt_history_file_is_moved_aside_with_a_warning(
    clean_env: dict[str, str],
) -> None:
    path = db_path(clean_env)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"definitely not SQLite " * 100)
    result = history(["list"], clean_env)
    assert result.returncode == 0, result.stderr
    assert "warning" in result.stderr and "moved it to history.sqlite3.corrupt-" in result.stderr
    assert len(list(path.parent.glob("history.sqlite3.corrupt-*"))) == 1


# --------------------------------------------------------------------------- terminal views


def run_on_terminal(args: list[str], env: dict[str, str], answer: str = "") -> Outcome:
    """`meilichat history ARGS` in-process, its streams claiming to be a terminal."""
    return invoke(
        ["history", *args],
        env=env,
        input=answer,
        stdin_isatty=True,
        stdout_isatty=True,
        stderr_isatty=True,
    )


def test_list_on_a_terminal_has_a_header_and_aligned_columns(
    clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = seed(clean_env, "Which films are set in space?", "Alien.")
    lines = run_on_terminal(["list"], clean_env).stdout.splitlines()
    assert lines[0].split() == ["ID", "AGE", "WORKSPACE", "TURNS", "STATUS", "TOKENS", "TITLE"]
    assert lines[1].startswith(f"{conversation[:8]}  just now")
    assert lines[0].index("TITLE") == lines[1].index("Which films")


def test_show_on_a_terminal_renders_markdown_and_strips_controls(
    clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = seed(clean_env, "Space films?", f"**Alien** and *Moon*.{HOSTILE}")
    raw = run_on_terminal(["show", conversation[:8]], clean_env).stdout
    # rich's own styling is the only escape sequence left: nothing from the stored text.
    out = re.sub(r"\x1b\[[0-9;]*m", "", raw)
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out
    assert "**Alien**" not in out and "Alien and Moon." in out  # rendered, not the source
    assert "## Question" not in out and "Question 1" in out
    assert "Sources" in out and "1 Alien (movies, id 1)" in out


def test_rm_on_a_terminal_asks_first(
    clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = seed(clean_env, f"drop me {HOSTILE}", "x")
    declined = run_on_terminal(["rm", conversation[:8]], clean_env, answer="n\n")
    prompt = declined.stderr
    assert "Delete 1 conversation? [y/N]" in prompt and "Nothing deleted." in prompt
    assert "\x1b" not in prompt and "drop me" in prompt
    with HistoryStore.open(db_path(clean_env)) as store:
        assert len(store.list()) == 1
    run_on_terminal(["rm", conversation[:8]], clean_env, answer="y\n")
    with HistoryStore.open(db_path(clean_env)) as store:
        assert store.list() == []


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (-5, "just now"),
        (3, "just now"),
        (42, "42 sec ago"),
        (3 * 60 + 5, "3 min ago"),
        (3600, "1 hour ago"),
        (5 * 3600, "5 hours ago"),
        (86400, "1 day ago"),
        (2 * 86400 + 60, "2 days ago"),
        (90 * 86400, "3 months ago"),
        (800 * 86400, "2 years ago"),
    ],
)
def test_format_age(seconds: float, expected: str) -> None:
    assert format_age(seconds) == expected


def test_parse_duration() -> None:
    assert parse_duration("30d") == 30 * 86400
    assert parse_duration(" 12H ") == 12 * 3600
    assert parse_duration("90m") == 5400
    assert parse_duration("2w") == 14 * 86400
    assert parse_duration("1.5h") == 5400
    for bad in ("", "30", "d", "-1d", "3 days", "1y"):
        with pytest.raises(UsageError):
            parse_duration(bad)


def test_loading_the_command_module_loads_no_store_and_no_rich() -> None:
    import subprocess
    import sys

    probe = (
        "import sys, meilichat_cli.cli.commands.history; "
        "print(sorted(m for m in ('sqlite3', 'rich', 'meilichat_cli.history.store')"
        " if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "args",
    [
        ["ask", "-c", "and the next one?"],
        ["ask", "--conversation", "3f2a", "and the next one?"],
        ["explain"],
        ["source", "1"],
    ],
    ids=["ask -c", "ask --conversation", "explain", "source"],
)
def test_every_reader_of_a_corrupt_history_file_says_it_was_moved_aside(
    server_env: dict[str, str], args: list[str]
) -> None:
    # The file is moved aside whoever opens it first; a command that then finds nothing to
    # continue or explain must still say where the user's conversations went.
    path = db_path(server_env)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"definitely not SQLite " * 100)
    result = invoke(args, env=server_env)
    assert result.exit_code == 4, result.stderr
    assert "moved it to history.sqlite3.corrupt-" in result.stderr
    assert len(list(path.parent.glob("history.sqlite3.corrupt-*"))) == 1


@pytest.mark.parametrize(
    "args", [["history", "list"], ["history", "show"], ["explain"]], ids=lambda a: " ".join(a)
)
def test_history_readers_name_a_file_that_stands_where_the_data_directory_should_be(
    clean_env: dict[str, str], tmp_path: Path, args: list[str]
) -> None:
    # "No saved conversations" would hide that every answer is going unsaved.
    in_the_way = tmp_path / "not-a-dir"
    in_the_way.write_text("x")
    env = {**clean_env, "MEILICHAT_DATA_DIR": str(in_the_way)}
    result = invoke(args, env=env)
    assert result.exit_code == 2, result.stderr
    assert f"{in_the_way} is a file, not a directory" in result.stderr
    assert "No saved conversations" not in result.stdout + result.stderr
