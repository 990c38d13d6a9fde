"""`meilichat batch` end to end against the stand-in server, in process (a real process for
Ctrl-C and `| head`): order, failures, concurrency bound, resume, Ctrl-C, retrieval figures,
--compare, --demo; plus the evaluation and summary arithmetic checked directly."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from meilichat_cli.batch.evaluation import PrimaryKeys, evaluate
from meilichat_cli.batch.summary import Tally, percentile
from meilichat_cli.chat.question import Expected
from tests.conftest import run_meilichat_into
from tests.inprocess import run_cli

if TYPE_CHECKING:
    from meilichat_cli.standin import StandInServer

ASK_KEYS = [
    "answer",
    "complete",
    "finish_reason",
    "searches",
    "errors",
    "conversation_id",
    "profile",
    "workspace",
    "model",
    "usage",
    "timings",
    "estimate",
]
GROUNDING_KEYS = ["cited", "cited_found", "filters", "valid_filters"]
SLOW_START = "scenario:first-delay?ms=400"


def write_questions(path: Path, questions: list[dict[str, Any] | str]) -> Path:
    lines = [q if isinstance(q, str) else json.dumps(q) for q in questions]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def result_lines(stdout: str) -> list[dict[str, Any]]:
    assert stdout.endswith("\n") or stdout == ""
    return [json.loads(line) for line in stdout.splitlines()]


def mixed_questions() -> list[dict[str, Any] | str]:
    return [
        {"id": "slow", "prompt": "Stanley Kubrick movies", "model": SLOW_START},
        {"id": "provider", "prompt": "cyberpunk novels", "model": "scenario:provider-error"},
        {"id": "dune", "prompt": "Dune"},
        "",  # blank lines are skipped but still count in line numbers
        {"id": "refused", "prompt": "Dune", "workspace": "nope"},
        {"prompt": "Ursula K. Le Guin books"},
        {"id": "cut", "prompt": "Dune", "model": "scenario:cut?after=3"},
    ]


def test_mixed_batch_keeps_input_order_and_exits_with_its_worst_failure(
    tmp_path: Path, server_env: dict[str, str], standin: StandInServer
) -> None:
    questions = write_questions(tmp_path / "q.jsonl", mixed_questions())
    result = run_cli(["batch", str(questions), "--concurrency", "3"], server_env)
    assert result.returncode == 4, "the missing workspace (4) outranks failed answers (5)"
    lines = result_lines(result.stdout)
    assert [(r["id"], r["line"]) for r in lines] == [
        ("slow", 1),
        ("provider", 2),
        ("dune", 3),
        ("refused", 5),
        (None, 6),
        ("cut", 7),
    ]
    for line in lines:
        assert list(line) == ["id", "line", "question", *ASK_KEYS, *GROUNDING_KEYS]
    assert [r["complete"] for r in lines] == [True, False, True, False, True, False]
    provider = lines[1]
    assert provider["errors"][0]["code"] == "invalid_api_key"
    refused = lines[3]
    # Refused before the stream: the same {type, code, message} shape as stream errors.
    assert refused["errors"] == [
        {
            "type": "not_found",
            "code": "chat_not_found",
            "message": f"Workspace 'nope' not found on {standin.url}",
        }
    ]
    assert refused["answer"] == "" and refused["searches"] == []
    assert refused["timings"]["total_ms"] is not None
    assert lines[5]["answer"], "the partial answer of a cut stream is kept"
    assert "3 complete, 3 failed" in result.stderr
    assert "failed provider:" in result.stderr
    assert "3 of 6 questions failed" in result.stderr
    assert standin.stats.max_open_streams <= 3


def test_unordered_writes_results_as_they_finish(
    tmp_path: Path, server_env: dict[str, str]
) -> None:
    questions = write_questions(
        tmp_path / "q.jsonl",
        [
            {"id": 1, "prompt": "Stanley Kubrick movies", "model": SLOW_START},
            {"id": 2, "prompt": "Dune"},
            {"id": 3, "prompt": "cyberpunk novels"},
        ],
    )
    result = run_cli(["batch", str(questions), "-j", "3", "--unordered"], server_env)
    assert result.returncode == 0, result.stderr
    ids = [r["id"] for r in result_lines(result.stdout)]
    assert sorted(ids) == [1, 2, 3]
    assert ids[-1] == 1, "the slow first question is written last"


def test_reader_leaving_ends_the_batch_quietly(tmp_path: Path, server_env: dict[str, str]) -> None:
    # Long answers: more than a pipe buffer of output, so the writer must meet the closed pipe.
    long_answer = {"prompt": "x", "model": "scenario:long?tokens=3000"}
    questions = write_questions(tmp_path / "q.jsonl", [dict(long_answer, id=n) for n in range(8)])
    result = run_meilichat_into(
        ["batch", str(questions), "-j", "2"], "head -1", server_env, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert json.loads(result.stdout)["id"] == 0
    assert len(result.stdout) > 10_000


def test_concurrency_bounds_open_streams(
    tmp_path: Path, server_env: dict[str, str], standin: StandInServer
) -> None:
    slow = {"prompt": "Dune", "model": "scenario:first-delay?ms=250"}
    questions = write_questions(tmp_path / "q.jsonl", [dict(slow, id=n) for n in range(6)])
    result = run_cli(["batch", str(questions), "-j", "2"], server_env)
    assert result.returncode == 0, result.stderr
    assert len(result_lines(result.stdout)) == 6
    assert standin.stats.completions == 6
    assert standin.stats.max_open_streams == 2, "two at once, never more"


@pytest.mark.parametrize("value", ["0", "33"])
def test_concurrency_out_of_range_is_a_usage_error(
    tmp_path: Path, server_env: dict[str, str], standin: StandInServer, value: str
) -> None:
    questions = write_questions(tmp_path / "q.jsonl", [{"prompt": "Dune"}])
    result = run_cli(["batch", str(questions), "-j", value], server_env)
    assert result.returncode == 2
    assert standin.completion_bodies() == []


def test_malformed_lines_refuse_the_batch_before_sending(
    tmp_path: Path, server_env: dict[str, str], standin: StandInServer
) -> None:
    questions = write_questions(
        tmp_path / "q.jsonl",
        [
            {"id": "a", "prompt": "Dune"},
            '{"id": "b", "prompt": ',
            {"id": "c", "messages": [{"role": "user", "content": 5}]},
            {"id": "a", "prompt": "again"},
        ],
    )
    result = run_cli(["batch", str(questions)], server_env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "3 bad lines, nothing was sent" in result.stderr
    assert "line 2: input is not valid JSON" in result.stderr
    assert "line 3: input.messages[0].content must be a string" in result.stderr
    assert 'line 4: id "a" repeats line 1' in result.stderr
    assert standin.completion_bodies() == []


def test_questions_from_stdin_and_messages_lines(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    conversation = [
        {"role": "user", "content": "Christopher Nolan movies"},
        {"role": "assistant", "content": "Inception, Memento and more."},
        {"role": "user", "content": "What about Ridley Scott films?"},
    ]
    lines = [{"id": "m", "messages": conversation, "system": "Be brief."}]
    result = run_cli(["batch", "-"], server_env, input="\n".join(json.dumps(q) for q in lines))
    assert result.returncode == 0, result.stderr
    (line,) = result_lines(result.stdout)
    assert line["question"] == "What about Ridley Scott films?"
    body = standin.completion_bodies()[-1]
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, *conversation]


def test_resume_from_a_file_not_written_yet_asks_everything(
    tmp_path: Path, server_env: dict[str, str], standin: StandInServer
) -> None:
    # A nightly job can always pass --resume OUT -o OUT: the first night, OUT does not exist.
    questions = write_questions(
        tmp_path / "q.jsonl", [{"id": "a", "prompt": "Dune"}, {"id": "b", "prompt": "Alien"}]
    )
    out = tmp_path / "answers.jsonl"
    result = run_cli(["batch", str(questions), "-o", str(out), "--resume", str(out)], server_env)
    assert result.returncode == 0, result.stderr
    assert len(standin.completion_bodies()) == 2
    assert [r["id"] for r in result_lines(out.read_text())] == ["a", "b"]


def test_resume_skips_what_was_answered_and_leaves_one_line_per_question(
    tmp_path: Path, server_env: dict[str, str], standin: StandInServer
) -> None:
    questions = write_questions(
        tmp_path / "q.jsonl",
        [
            {"id": "ok", "prompt": "Dune"},
            {"id": "bad", "prompt": "Dune", "model": "scenario:provider-error"},
            {"prompt": "cyberpunk novels"},
        ],
    )
    out = tmp_path / "answers.jsonl"
    first = run_cli(["batch", str(questions), "-o", str(out)], server_env)
    assert first.returncode == 5
    assert first.stdout == ""
    first_results = result_lines(out.read_text())
    assert [r["id"] for r in first_results] == ["ok", "bad", None]
    # A run killed mid-write leaves half a line; resume ignores it and starts a new line.
    with out.open("a") as handle:
        handle.write('{"id": "ok", "complete": tr')
    before = len(standin.completion_bodies())
    second = run_cli(["batch", str(questions), "-o", str(out), "--resume", str(out)], server_env)
    assert second.returncode == 5, "the failed question fails again"
    assert len(standin.completion_bodies()) == before + 1, "only the failed one is re-asked"
    assert "1 unreadable line(s) ignored" in second.stderr
    assert "2 skipped (already answered)" in second.stderr
    # The file ends as if the run had gone right the first time: one line per question, the
    # retried one's newest, in input order; the half line is gone.
    assert "dropped 1 line(s) that were not results" in second.stderr
    results = result_lines(out.read_text())
    assert [r["id"] for r in results] == ["ok", "bad", None]
    assert [r["line"] for r in results] == [1, 2, 3]
    # Everything answered: nothing to do, nothing sent.
    answered = tmp_path / "all.jsonl"
    answered.write_text(
        "".join(
            json.dumps({"id": i, "line": n, "complete": True}) + "\n"
            for n, i in ((1, "ok"), (2, "bad"), (3, None))
        )
    )
    third = run_cli(["batch", str(questions), "--resume", str(answered)], server_env)
    assert third.returncode == 0
    assert "nothing to do" in third.stderr
    assert len(standin.completion_bodies()) == before + 1


def test_ctrl_c_keeps_finished_lines_valid_and_exits_130(
    tmp_path: Path, server_env: dict[str, str], standin: StandInServer
) -> None:
    drip = "scenario:drip?interval=0.05"
    questions = write_questions(
        tmp_path / "q.jsonl",
        [{"id": "fast", "prompt": "Dune"}]
        + [{"id": f"slow{n}", "prompt": "Stanley Kubrick movies", "model": drip} for n in range(6)],
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "meilichat_cli", "batch", str(questions), "-j", "2"],
        env=server_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the fast question is answered and written
    assert json.loads(first)["id"] == "fast"
    deadline = time.monotonic() + 5
    while standin.stats.open_streams < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 130, err
    lines = [first.decode(), *out.decode().splitlines(keepends=True)]
    for line in lines:
        assert line.endswith("\n")
        json.loads(line)
    assert b"interrupted" in err
    assert b"interrupted; finish later with --resume OUT" in err  # how to go on
    assert b"Traceback" not in err
    deadline = time.monotonic() + 5
    while standin.stats.disconnects < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert standin.stats.disconnects >= 1, "the open streams were abandoned"


def test_retrieval_figures_on_known_answers(tmp_path: Path, server_env: dict[str, str]) -> None:
    questions = write_questions(
        tmp_path / "q.jsonl",
        [
            # The stand-in returns The Shining (75), Dr. Strangelove (76), 2001 (1).
            {"id": "rank3", "prompt": "Stanley Kubrick movies", "expect": ["movies:1"]},
            # books:1 Dune, then movies 7 (Dune, the exact title) and 8 (Part Two).
            {"id": "partial", "prompt": "Dune", "expect": ["books:1", "movies:7", "movies:99"]},
            {"id": "plain", "prompt": "Dune", "expect": [8]},
            # Only books are searched for novels: no movie can be among the sources.
            {"id": "miss", "prompt": "cyberpunk novels", "expect": ["movies:1"]},
            {"id": "none", "prompt": "Dune"},
        ],
    )
    result = run_cli(["batch", str(questions)], server_env)
    assert result.returncode == 0, result.stderr
    by_id = {r["id"]: r for r in result_lines(result.stdout)}
    figures = {
        ident: (r["hit"], r["recall"], r["first_hit_rank"], r["missing"])
        for ident, r in by_id.items()
        if ident != "none"
    }
    assert figures == {
        "rank3": (True, 1.0, 3, []),
        "partial": (True, 0.6667, 1, ["movies:99"]),
        "plain": (True, 1.0, 3, []),
        "miss": (False, 0.0, None, ["movies:1"]),
    }
    assert "hit" not in by_id["none"]
    assert "hit rate 3/4 (75%), mean recall 0.67" in result.stderr
    assert "first token p50" in result.stderr and "total p50" in result.stderr


def _create_workspace(standin: StandInServer, name: str, settings: dict[str, Any]) -> None:
    import httpx

    response = httpx.patch(
        f"{standin.url}/chats/{name}/settings",
        json=settings,
        headers={"Authorization": f"Bearer {standin.admin_key}"},
        timeout=5,
    )
    assert response.status_code == 200, response.text


def test_compare_reports_both_workspaces_side_by_side(
    tmp_path: Path, server_env: dict[str, str], standin: StandInServer
) -> None:
    _create_workspace(standin, "twin", {"source": "openAi", "apiKey": "sk-twin-0123456789abcdef"})
    _create_workspace(standin, "keyless", {"source": "openAi"})
    questions = write_questions(
        tmp_path / "q.jsonl",
        [
            {"id": "k", "prompt": "Stanley Kubrick movies", "expect": ["movies:1"]},
            {"id": "d", "prompt": "Dune", "expect": ["books:1"]},
        ],
    )
    same = run_cli(["batch", str(questions), "--compare", "twin"], server_env)
    assert same.returncode == 0, same.stderr
    lines = result_lines(same.stdout)
    assert [list(r) for r in lines] == [["id", "line", "question", "complete", "a", "b"]] * 2
    for line in lines:
        assert line["complete"] is True
        assert (line["a"]["workspace"], line["b"]["workspace"]) == ("demo", "twin")
        assert line["a"]["recall"] == line["b"]["recall"] == 1.0
        assert list(line["a"])[: len(ASK_KEYS)] == ASK_KEYS
    assert "0 differ in completion or retrieval" in same.stderr
    assert "twin" in same.stderr.splitlines()[0]

    broken = run_cli(["batch", str(questions), "--compare", "keyless"], server_env)
    assert broken.returncode == 5
    lines = result_lines(broken.stdout)
    assert [(r["a"]["complete"], r["b"]["complete"], r["complete"]) for r in lines] == [
        (True, False, False)
    ] * 2
    assert [r["b"]["hit"] for r in lines] == [False, False]
    assert "2 differ in completion or retrieval" in broken.stderr
    assert "failed k on keyless:" in broken.stderr
    table = [line for line in broken.stderr.splitlines() if line.startswith("* ")]
    assert len(table) == 2 and "FAIL" in table[0]


def test_batch_is_not_saved_unless_asked(tmp_path: Path, server_env: dict[str, str]) -> None:
    questions = write_questions(tmp_path / "q.jsonl", [{"prompt": "Dune"}])
    plain = run_cli(["batch", str(questions)], server_env)
    assert plain.returncode == 0, plain.stderr
    assert result_lines(plain.stdout)[0]["conversation_id"] is None
    listed = run_cli(["history", "list", "--json"], server_env)
    assert "Dune" not in listed.stdout
    saved = run_cli(["batch", str(questions), "--save"], server_env)
    assert saved.returncode == 0, saved.stderr
    conversation_id = result_lines(saved.stdout)[0]["conversation_id"]
    assert isinstance(conversation_id, str)
    shown = run_cli(["history", "show", conversation_id[:8]], server_env)
    assert shown.returncode == 0, shown.stderr
    assert "Dune" in shown.stdout


def test_demo_runs_the_bundled_question_set(clean_env: dict[str, str]) -> None:
    result = run_cli(["batch", "--demo", "-j", "8"], clean_env)
    assert result.returncode == 0, result.stderr
    lines = result_lines(result.stdout)
    shipped = Path(__file__).parent.parent / "meilichat_cli" / "examples" / "questions.jsonl"
    assert [r["id"] for r in lines] == [
        json.loads(line)["id"] for line in shipped.read_text().splitlines()
    ]
    assert all(r["complete"] for r in lines)
    # The expectations match what the stand-in's search returns. One question is a miss on
    # purpose, to show what a miss looks like: "novels" sends the model to the books index
    # only, so the films it should have found cannot be among the sources.
    assert [r["id"] for r in lines if not r["hit"]] == ["known-miss-villeneuve-novels"]
    assert "hit rate 13/14 (93%), mean recall 0.87" in result.stderr
    assert "Traceback" not in result.stderr, "the in-process server keeps quiet"


def test_demo_questions_do_not_go_through_the_users_proxy(clean_env: dict[str, str]) -> None:
    # A proxy that refuses every connection: the loopback demo server must be reached directly,
    # as `meilichat demo` reaches it.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_proxy = f"http://127.0.0.1:{closed.getsockname()[1]}"
    env = {**clean_env, "HTTP_PROXY": dead_proxy, "http_proxy": dead_proxy, "ALL_PROXY": dead_proxy}
    result = run_cli(["batch", "--demo", "-j", "8"], env)
    assert result.returncode == 0, result.stderr
    assert all(r["complete"] for r in result_lines(result.stdout))


def test_demo_batch_conversations_are_the_demos_and_explain_replays_them(
    clean_env: dict[str, str], tmp_path: Path
) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"prompt": "which space movies do you have?"}\n', encoding="utf-8")
    result = run_cli(["batch", str(questions), "--demo", "--save"], clean_env)
    assert result.returncode == 0, result.stderr
    (line,) = result_lines(result.stdout)
    assert line["profile"] == "demo"
    explained = run_cli(["explain", line["conversation_id"]], clean_env)
    assert explained.returncode == 0, explained.stderr
    assert "Replayed on the bundled demo server" in explained.stderr
    assert "differences: none" in explained.stdout


def test_example_questions_ship_inside_the_package(clean_env: dict[str, str]) -> None:
    from importlib.resources import files

    text = (files("meilichat_cli") / "examples" / "questions.jsonl").read_text("utf-8")
    assert len(text.splitlines()) == 14
    printed = run_cli(["batch", "--print-example"], clean_env)
    assert printed.returncode == 0
    assert printed.stdout == text


def test_progress_bar_on_a_terminal(tmp_path: Path, server_env: dict[str, str]) -> None:
    import pexpect

    questions = write_questions(
        tmp_path / "q.jsonl",
        [{"id": "ok", "prompt": "Dune"}, {"id": "bad", "prompt": "x", "workspace": "nope"}],
    )
    out = tmp_path / "out.jsonl"
    child = pexpect.spawn(
        sys.executable,
        ["-m", "meilichat_cli", "batch", str(questions), "-o", str(out)],
        env=server_env,
        encoding="utf-8",
        dimensions=(24, 120),
        timeout=20,
    )
    child.expect(pexpect.EOF)
    child.close()
    screen = child.before
    assert child.exitstatus == 4  # the failed question's workspace does not exist
    assert "2/2" in screen and "1 failed" in screen and "q/s" in screen and "ETA" in screen
    assert "failed bad: Workspace 'nope' not found" in screen
    assert "batch: 2 of 2 questions asked: 1 complete, 1 failed" in screen
    assert len(result_lines(out.read_text())) == 2


# -- pure pieces -------------------------------------------------------------------------------


def test_rank_counts_each_document_once_across_searches() -> None:
    searches = [
        {"index_uid": "movies", "sources": [{"id": 3}, {"id": 4}]},
        {"index_uid": "movies", "sources": [{"id": 3}, {"id": 9}]},
        {"index_uid": "books", "sources": [{"id": 9}, {"isbn": "x"}, "junk"]},
    ]
    figures = evaluate(searches, [Expected("9", "books")], PrimaryKeys())
    assert figures == {"hit": True, "recall": 1.0, "first_hit_rank": 4, "missing": []}
    any_index = evaluate(searches, [Expected("9")], PrimaryKeys())
    assert any_index["first_hit_rank"] == 3


def test_primary_key_per_index() -> None:
    keys = PrimaryKeys.parse(["sku", "books:isbn"])
    searches = [
        {"index_uid": "products", "sources": [{"id": 1, "sku": "A-1"}]},
        {"index_uid": "books", "sources": [{"isbn": "978"}]},
    ]
    figures = evaluate(searches, [Expected("A-1"), Expected("978", "books")], keys)
    assert (figures["recall"], figures["first_hit_rank"]) == (1.0, 1)


def test_percentiles_use_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.0
    assert percentile([float(n) for n in range(1, 11)], 0.9) == 9.0
    tally = Tally()
    tally.add({"complete": True, "hit": True, "recall": 0.5, "timings": {"total_ms": 10.0}})
    tally.add({"complete": False, "hit": False, "recall": 0.0, "timings": {"total_ms": None}})
    assert (tally.hit_rate, tally.mean_recall, tally.total_ms) == (0.5, 0.25, [10.0])


def test_blank_and_bom_lines_are_skipped() -> None:
    from meilichat_cli.batch.input import read_items

    items = read_items(['\ufeff{"prompt": "a"}', "   ", '{"prompt": "b"}'], source="x")
    assert [(i.line, i.key) for i in items] == [(1, "line:1"), (3, "line:3")]


def _items(count: int) -> list[Any]:
    from meilichat_cli.batch.input import BatchItem
    from meilichat_cli.chat.question import Question

    return [BatchItem(n, Question(prompt=f"q{n}", id=n)) for n in range(1, count + 1)]


def test_engine_keeps_input_order_and_survives_a_crash() -> None:
    import threading

    from meilichat_cli.batch.runner import has_internal_error, run_batch

    def answer(item: Any) -> dict[str, Any]:
        time.sleep(0.03 * (5 - item.line))  # later questions finish first
        if item.line == 3:
            raise ValueError("boom")
        return {"id": item.question.id, "complete": True}

    emitted: list[dict[str, Any]] = []
    stopped = run_batch(
        _items(5),
        answer,
        concurrency=5,
        ordered=True,
        emit=lambda _item, result: emitted.append(result),
        stop=threading.Event(),
    )
    assert stopped is False
    assert [r["id"] for r in emitted] == [1, 2, 3, 4, 5]
    assert emitted[2]["complete"] is False and has_internal_error(emitted[2])


def test_engine_stop_emits_finished_results_in_order_with_gaps() -> None:
    import threading

    from meilichat_cli.batch.runner import Stopped, run_batch

    stop = threading.Event()

    def answer(item: Any) -> dict[str, Any]:
        if item.line == 1:  # still streaming when Ctrl-C comes
            stop.wait(5)
            raise Stopped
        if item.line == 4:  # broken by the shutdown itself: not kept
            stop.wait(5)
            return {"id": 4, "complete": False}
        return {"id": item.question.id, "complete": True}

    emitted: list[dict[str, Any]] = []
    threading.Timer(0.3, stop.set).start()
    stopped = run_batch(
        _items(4),
        answer,
        concurrency=4,
        ordered=True,
        emit=lambda _item, result: emitted.append(result),
        stop=stop,
        poll_seconds=0.02,
    )
    assert stopped is True
    assert [r["id"] for r in emitted] == [2, 3]


def closed_port_url() -> str:
    """A loopback URL nothing listens on (the port was free a moment ago)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("change", "code", "kind"),
    [
        ({"MEILICHAT_API_KEY": "rejected-key-0123456789"}, 3, "auth"),
        ({"MEILICHAT_WORKSPACE": "nope"}, 4, "not_found"),
        ({"MEILICHAT_URL": None}, 6, "network"),
        ({"MEILICHAT_MODEL": "scenario:provider-error"}, 5, "api"),
    ],
    ids=["rejected-key", "missing-workspace", "network", "stream-error"],
)
def test_batch_exits_with_the_documented_code_of_its_failure_class(
    tmp_path: Path, server_env: dict[str, str], change: dict[str, str | None], code: int, kind: str
) -> None:
    from tests.inprocess import invoke

    env: dict[str, str | None] = {**server_env, **change}
    if "MEILICHAT_URL" in change:
        env["MEILICHAT_URL"] = closed_port_url()
    questions = write_questions(tmp_path / "q.jsonl", [{"prompt": "Dune"}, {"prompt": "Alien"}])
    outcome = invoke(["batch", str(questions)], env=env)
    assert outcome.exit_code == code, outcome.stderr
    assert [line["complete"] for line in result_lines(outcome.stdout)] == [False, False]
    assert getattr(outcome.exception, "kind", None) == kind
    assert "2 of 2 questions failed" in outcome.stderr


def test_batch_reports_the_worst_failure_class_when_failures_differ(
    tmp_path: Path, server_env: dict[str, str]
) -> None:
    from tests.inprocess import invoke

    questions = write_questions(
        tmp_path / "q.jsonl",
        [
            {"prompt": "Dune", "model": "scenario:provider-error"},
            {"prompt": "Dune", "workspace": "nope"},
            {"prompt": "Dune"},
        ],
    )
    outcome = invoke(["batch", str(questions)], env=server_env)
    assert outcome.exit_code == 4, "a missing workspace (4) outranks a failed answer (5)"
    assert "2 of 3 questions failed" in outcome.stderr


class _GoneReader:
    """A stdout whose reader has left: every write fails as a closed pipe does."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_batch_ends_quietly_when_the_reader_of_its_results_leaves(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    # In a process of its own meilichat leaves with exit 0 (`batch … | head -1`); run in
    # another program's process it returns the same way, without a summary.
    import io

    from meilichat_cli.cli.app import execute
    from meilichat_cli.local.context import RunContext

    questions = write_questions(tmp_path / "q.jsonl", [{"prompt": "Dune"}, {"prompt": "Alien"}])
    stderr = io.StringIO()
    context = RunContext(
        stdin=io.StringIO(),
        stdout=_GoneReader(),  # type: ignore[arg-type]
        stderr=stderr,
        environ=dict(server_env),
        stdin_isatty=False,
        stdout_isatty=False,
        stderr_isatty=False,
    )
    assert execute(["batch", str(questions)], context) == 0, stderr.getvalue()
    assert "Traceback" not in stderr.getvalue() and "questions asked" not in stderr.getvalue()
