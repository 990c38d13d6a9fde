"""Why this answer: the trace of each turn, `explain` (searches replayed with ranking scores),
`source N` (the document itself), the token estimate, and the REPL's /trace, /why and /open —
all against the stand-in server, in-process."""

from __future__ import annotations

import io
import json
import os
import re
from typing import TYPE_CHECKING, Any

import pytest
from inprocess import invoke

if TYPE_CHECKING:
    from meilichat_cli.standin import StandInServer

from conftest import MASTER_KEY as MASTER
from conftest import local_connection

QUESTION = "which space movies do you have?"
FILTERED = "space movies before 1990"


def ask_json(env: dict[str, str], question: str = QUESTION) -> dict[str, Any]:
    result = invoke(["ask", "--json", question], env=env)
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


# --------------------------------------------------------------------------- the trace


def test_json_result_carries_each_searchs_timing_hits_and_ids(server_env: dict[str, str]) -> None:
    data = ask_json(server_env)
    search = data["searches"][0]
    assert search["hits"] == len(search["sources"]) > 0
    assert search["ids"] == [doc["id"] for doc in search["sources"]]
    assert 0 <= search["started_ms"] <= data["timings"]["total_ms"]
    assert search["elapsed_ms"] >= 0
    assert search["started_ms"] + search["elapsed_ms"] <= data["timings"]["total_ms"]


def test_events_time_each_search_and_count_its_hits(server_env: dict[str, str]) -> None:
    result = invoke(["ask", "--events", QUESTION], env=server_env)
    assert result.exit_code == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    search = next(e for e in events if e["event"] == "search")
    sources = next(e for e in events if e["event"] == "sources")
    assert sources["at_ms"] >= search["at_ms"] >= 0
    assert sources["hits"] == len(sources["sources"])
    assert sources["ids"] == [doc["id"] for doc in sources["sources"]]
    done = events[-1]
    assert done["searches"][0]["elapsed_ms"] is not None
    assert done["estimate"]["total"] > 0


def test_history_show_trace_lists_each_search_with_timings(server_env: dict[str, str]) -> None:
    data = ask_json(server_env)
    result = invoke(["history", "show", "--trace", data["conversation_id"][:8]], env=server_env)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Turn 1 · {QUESTION}"
    assert "first token" in lines[1] and "total" in lines[1] and "tokens" in lines[1]
    ids = ", ".join(str(i) for i in data["searches"][0]["ids"])
    assert lines[2].startswith('  1. movies · "space"')
    assert "started " in lines[2] and "took " in lines[2] and lines[2].endswith(ids)


def test_the_trace_survives_in_history_json(server_env: dict[str, str]) -> None:
    data = ask_json(server_env)
    shown = invoke(["history", "show", "--json", data["conversation_id"]], env=server_env)
    turn = json.loads(shown.stdout)["turns"][0]
    assert turn["searches"][0]["started_ms"] == data["searches"][0]["started_ms"]
    assert turn["searches"][0]["elapsed_ms"] == data["searches"][0]["elapsed_ms"]
    assert turn["estimate"] == data["estimate"]


# --------------------------------------------------------------------------- the cost


def test_estimate_splits_question_history_tool_results_and_answer(
    server_env: dict[str, str],
) -> None:
    first = ask_json(server_env)
    estimate = first["estimate"]
    assert estimate["method"] == "chars/4" and estimate["exact"] is False
    assert estimate["error_band"] == 0.3
    sent = estimate["sent"]
    assert sent["history"] == 0
    assert sent["question"] >= len(QUESTION) // 4
    assert sent["tool_results"] > 0, "the rendered documents went to the model"
    assert estimate["received"]["answer"] >= len(first["answer"]) // 4
    assert estimate["total"] == sent["total"] + estimate["received"]["total"]
    follow = invoke(["ask", "--json", "-c", "and the first one?"], env=server_env)
    again = json.loads(follow.stdout)["estimate"]
    assert again["sent"]["history"] >= sent["question"] + sent["tool_results"]


def test_history_list_totals_the_estimated_tokens(server_env: dict[str, str]) -> None:
    data = ask_json(server_env)
    invoke(["ask", "--json", "-c", "and the first one?"], env=server_env)
    listed = json.loads(invoke(["history", "list", "--json"], env=server_env).stdout)
    shown = json.loads(
        invoke(["history", "show", "--json", data["conversation_id"]], env=server_env).stdout
    )
    assert listed[0]["tokens"] == sum(turn["estimate"]["total"] for turn in shown["turns"])
    assert listed[0]["tokens"] > data["estimate"]["total"]


def test_an_installed_tokenizer_makes_the_count_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    from meilichat_cli.chat import cost
    from meilichat_cli.protocol.conversation import Turn

    monkeypatch.setattr(
        cost, "_tiktoken", lambda: ("tiktoken:test", lambda text: len(text.split()))
    )
    turn = Turn(prompt_messages=[])
    turn.answer_parts.append("three words here")
    estimate = cost.estimate_turn([], [{"role": "user", "content": "two words"}], turn)
    assert estimate["method"] == "tiktoken:test" and estimate["exact"] is True
    assert estimate["error_band"] == 0.0
    assert estimate["sent"]["question"] == 2 + cost.MESSAGE_OVERHEAD
    assert estimate["received"]["answer"] == 3 + cost.MESSAGE_OVERHEAD


# --------------------------------------------------------------------------- explain


def test_explain_replays_each_search_with_scores_and_marks_received_documents(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    data = ask_json(server_env)
    received = data["searches"][0]["ids"]
    result = invoke(["explain", "--json"], env=server_env)
    assert result.exit_code == 0, result.stderr
    replay = json.loads(result.stdout)
    assert replay["conversation_id"] == data["conversation_id"] and replay["turn"] == 1
    search = replay["searches"][0]
    assert (search["index_uid"], search["q"]) == ("movies", "space")
    assert search["received_ids"] == received
    assert [hit["id"] for hit in search["hits"] if hit["received"]] == received
    for hit in search["hits"]:
        assert 0 <= hit["score"] <= 1
        assert set(hit["details"]) >= {"words", "typo", "proximity", "attribute", "exactness"}
        assert hit["deciding_rule"] in (*hit["details"], "tie")
    assert search["differences"] == []
    replayed = [r for r in standin.recorded if r.path == "/indexes/movies/search"]
    body = replayed[-1].body
    assert body["showRankingScore"] is True and body["showRankingScoreDetails"] is True


def test_explain_text_marks_received_documents(server_env: dict[str, str]) -> None:
    ask_json(server_env)
    result = invoke(["explain"], env=server_env)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Turn 1 of ") and lines[0].endswith(QUESTION)
    assert any(line.startswith('search 1 · movies · "space"') for line in lines)
    marked = [line for line in lines if line.startswith("  ✓    1  ")]
    assert marked and "2001: A Space Odyssey (id 1)" in marked[0]
    assert "  differences: none" in lines


def test_explain_reports_a_document_changed_since_the_answer(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    data = ask_json(server_env)
    changed = data["searches"][0]["ids"][1]
    standin.state.engine.indexes["movies"].by_id[changed]["title"] = "Renamed since"
    replay = json.loads(invoke(["explain", "--json"], env=server_env).stdout)
    differences = replay["searches"][0]["differences"]
    assert {"kind": "changed", "id": changed, "fields": ["title"]}.items() <= differences[0].items()
    text = invoke(["explain"], env=server_env).stdout
    assert f"document {changed} changed since the answer: title" in text


def test_explain_reports_a_filter_that_now_fails(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    data = ask_json(server_env, FILTERED)
    assert data["searches"][0]["filter"]
    standin.state.engine.indexes["movies"].filterable.remove("year")
    replay = json.loads(invoke(["explain", "--json"], env=server_env).stdout)
    search = replay["searches"][0]
    assert search["error"]["code"] == "invalid_search_filter"
    assert search["differences"][0]["kind"] == "filter_fails"


def test_explain_with_a_key_that_reads_settings_uses_the_chat_parameters_and_checks_the_cut(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    ask_json(server_env)
    standin.state.indexes["movies"].chat["documentTemplateMaxBytes"] = 40
    admin = {**server_env, "MEILICHAT_API_KEY": standin.admin_key or ""}
    replay = json.loads(invoke(["explain", "--json"], env=admin).stdout)
    search = replay["searches"][0]
    assert search["parameters"]["limit"] == 5  # the index's chat searchParameters
    assert search["performance"], "a v1.35+ server reports performance details"
    cuts = [d for d in search["differences"] if d["kind"] == "cut"]
    assert cuts and all(d["max_bytes"] == 40 and d["bytes"] > 40 for d in cuts)
    assert replay["notes"] == []


def test_explain_turn_out_of_range_is_a_usage_error(server_env: dict[str, str]) -> None:
    ask_json(server_env)
    result = invoke(["explain", "--turn", "3"], env=server_env)
    assert result.exit_code == 2
    assert "has no turn 3" in result.stderr


def test_explain_without_history_is_not_found(server_env: dict[str, str]) -> None:
    result = invoke(["explain"], env=server_env)
    assert result.exit_code == 4
    assert "no saved conversation" in result.stderr


# --------------------------------------------------------------------------- a demo conversation


def demo_json(env: dict[str, str], question: str = QUESTION) -> dict[str, Any]:
    result = invoke(["demo", "--delay", "0", "--json", question], env=env)
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    assert data["profile"] == "demo"
    return data


def test_explain_on_a_demo_conversation_replays_it_on_the_bundled_demo_server(
    clean_env: dict[str, str],
) -> None:
    nothing = invoke(["explain"], env=clean_env)
    assert nothing.exit_code == 4 and "no saved conversation yet" in nothing.stderr

    data = demo_json(clean_env)
    result = invoke(["explain"], env=clean_env)  # no server configured: the demo's is used
    assert result.exit_code == 0, result.stderr
    assert "Replayed on the bundled demo server" in result.stderr
    assert "warning" not in result.stderr  # a new port each time is not a different server
    lines = result.stdout.splitlines()
    assert lines[0] == f"Turn 1 of {data['conversation_id'][:8]} · {QUESTION}"
    assert any(line.startswith('search 1 · movies · "space" · limit 5 · ') for line in lines)
    marked = [line for line in lines if line.startswith("  ✓  ")]
    assert len(marked) == len(data["searches"][0]["ids"])
    assert all(re.match(r"  ✓ +\d+  [01]\.\d{4}  \w+ +\S", line) for line in marked)
    assert "2001: A Space Odyssey (id 1)" in marked[0]
    assert any("Gravity (id 16)" in line for line in marked)
    assert "  differences: none" in lines  # the bundled dataset is the same on every start


def test_explain_json_on_a_demo_conversation_has_the_usual_shape(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    ask_json(server_env)
    admin = {**server_env, "MEILICHAT_API_KEY": standin.admin_key or ""}
    usual = json.loads(invoke(["explain", "--json"], env=admin).stdout)
    data = demo_json(server_env)
    result = invoke(["explain", "--json", data["conversation_id"]], env=server_env)
    assert result.exit_code == 0, result.stderr
    assert "Replayed on the bundled demo server" in result.stderr
    replay = json.loads(result.stdout)
    assert set(replay) == set(usual)
    assert (replay["conversation_id"], replay["turn"], replay["question"]) == (
        data["conversation_id"],
        1,
        QUESTION,
    )
    search = replay["searches"][0]
    assert set(search) == set(usual["searches"][0])
    assert set(search["hits"][0]) == set(usual["searches"][0]["hits"][0])
    assert search["parameters"]["limit"] == 5  # the index's chat settings, as the chat used
    assert [hit["id"] for hit in search["hits"] if hit["received"]] == data["searches"][0]["ids"]
    assert all(0 <= hit["score"] <= 1 for hit in search["hits"])
    assert search["differences"] == [] and replay["notes"] == []
    # MEILICHAT_URL points at another server: defaults do not take a demo conversation there.
    assert len([r for r in standin.recorded if r.path == "/indexes/movies/search"]) == 1


def test_explain_on_a_demo_conversation_goes_where_the_options_say(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    demo_json(server_env)
    result = invoke(["explain", "--json", "--url", standin.url], env=server_env)
    assert result.exit_code == 0, result.stderr
    assert f"held with the bundled demo server; replaying on {standin.url}" in result.stderr
    assert "Replayed on the bundled demo server" not in result.stderr
    assert [r.path for r in standin.recorded].count("/indexes/movies/search") == 1
    assert json.loads(result.stdout)["searches"][0]["hits"]


def test_source_of_a_demo_conversation_is_fetched_from_the_bundled_demo_server(
    clean_env: dict[str, str],
) -> None:
    data = demo_json(clean_env)
    result = invoke(["source", "2", "--json"], env=clean_env)
    assert result.exit_code == 0, result.stderr
    assert "Fetched from the bundled demo server" in result.stderr
    shown = json.loads(result.stdout)
    assert shown["document"] == data["searches"][0]["sources"][1]
    assert shown["from"] == f"GET /indexes/movies/documents/{shown['id']}"


# --------------------------------------------------------------------------- the documents


def test_source_with_a_chat_key_falls_back_to_the_received_copy_and_says_why(
    server_env: dict[str, str],
) -> None:
    data = ask_json(server_env)
    result = invoke(["source", "1", "--json"], env=server_env)
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["document"] == data["searches"][0]["sources"][0]
    assert shown["from"].startswith("the copy the chat received")
    assert "documents.get" in shown["notes"][0]


def test_source_fetches_the_document_from_the_server_when_the_key_may(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    data = ask_json(server_env)
    first = data["searches"][0]["ids"][0]
    standin.state.engine.indexes["movies"].by_id[first]["title"] = "Now different"
    admin = {**server_env, "MEILICHAT_API_KEY": standin.admin_key or ""}
    result = invoke(["source", "1"], env=admin)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"[1] Now different (id {first})  (movies)"
    assert "title: Now different" in lines
    assert lines[-1] == f"(from GET /indexes/movies/documents/{first})"


def test_source_as_model_renders_through_the_index_template(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    ask_json(server_env)
    admin = {**server_env, "MEILICHAT_API_KEY": standin.admin_key or ""}
    result = invoke(["source", "2", "--as-model", "--json"], env=admin)
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    document = shown["document"]
    assert shown["rendered"].startswith(f"{document['title']} ({document['year']}), directed by")
    assert shown["rendered_by"].startswith("rendered locally with the index's chat document")


def test_source_number_out_of_range_is_a_usage_error(server_env: dict[str, str]) -> None:
    ask_json(server_env)
    result = invoke(["source", "99"], env=server_env)
    assert result.exit_code == 2
    assert "no source 99" in result.stderr


# --------------------------------------------------------------------------- the REPL


def repl_on(ctx: Any, flags: Any, connection: Any) -> Any:
    """A REPL controller wired like `meilichat chat` (session client), and its client."""
    from meilichat_cli.repl.host import TerminalHost
    from meilichat_cli.repl.session import _SessionClient, _Warmup
    from meilichat_cli.repl.slash_commands import ChatController, Identity
    from meilichat_cli.repl.state import ChatState

    client = _SessionClient(ctx, flags, connection, _Warmup())
    host = TerminalHost(ctx, terminal=io.StringIO(), run_turn=client.run_turn)
    controller = ChatController(
        ChatState(workspace=connection.workspace or "", model=connection.model),
        host,
        identity=Identity(profile=connection.profile, server_url=connection.url),
        save=False,
        retrieval=client,
    )
    return controller, client


def quiet_context(environ: dict[str, str]) -> Any:
    from meilichat_cli.local.context import RunContext

    return RunContext(
        stdin=io.StringIO(),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        environ={**environ, "PATH": os.environ.get("PATH", "")},
        stdin_isatty=False,
        stdout_isatty=False,
        stderr_isatty=False,
    )


@pytest.fixture
def repl(server_env: dict[str, str], tmp_path: Any) -> Any:
    """A REPL controller on the stand-in, wired like `meilichat chat` (session client)."""
    from meilichat_cli.cli.options import ConnectionFlags
    from meilichat_cli.local.connection import resolve_connection

    ctx = quiet_context(server_env)
    connection = resolve_connection(ctx.environ, warn=ctx.warn)
    controller, client = repl_on(ctx, ConnectionFlags(), connection)
    yield controller, ctx
    client.close()


def test_repl_trace_why_and_open_after_a_question(repl: Any) -> None:
    controller, ctx = repl
    controller.handle(QUESTION)
    start = len(ctx.stdout.getvalue())
    controller.handle("/trace")
    trace = ctx.stdout.getvalue()[start:].splitlines()
    assert trace[0].startswith("first token ")
    assert trace[1].startswith('1. movies · "space" · started ')
    start = len(ctx.stdout.getvalue())
    controller.handle("/why")
    why = ctx.stdout.getvalue()[start:]
    assert 'search 1 · movies · "space"' in why
    assert "✓    1  " in why
    start = len(ctx.stdout.getvalue())
    controller.handle("/open 1")
    opened = ctx.stdout.getvalue()[start:].splitlines()
    assert opened[0] == "[1] 2001: A Space Odyssey (id 1)  (movies)"
    assert "director: Stanley Kubrick" in opened
    controller.handle("/open 42")
    assert "no source 42" in ctx.stderr.getvalue()


def test_demo_repl_replays_searches_with_the_demo_servers_admin_key(
    clean_env: dict[str, str],
) -> None:
    # The demo chats with its chat key, which may not read an index's chat settings nor the
    # version; /why and /open replay with the admin key of the server the demo runs, as
    # `explain` on a demo conversation does, so no "may not read" note is shown.
    from meilichat_cli.cli.demo_server import demo_server

    ctx = quiet_context(clean_env)
    with demo_server(ctx) as flags:
        connection = flags.resolve(ctx)
        controller, client = repl_on(ctx, flags, connection)
        try:
            controller.handle(QUESTION)
            start = len(ctx.stdout.getvalue())
            controller.handle("/why")
            controller.handle("/open 1")
            shown = ctx.stdout.getvalue()[start:] + ctx.stderr.getvalue()
        finally:
            client.close()
    assert 'search 1 · movies · "space"' in shown
    assert "[1] 2001: A Space Odyssey (id 1)  (movies)" in shown
    assert "may not read" not in shown


def test_demo_replays_keep_a_personas_token() -> None:
    from meilichat_cli.cli.demo_server import DemoFlags

    chat = local_connection("http://127.0.0.1:7700").replace(api_key="chat-key")
    flags = DemoFlags(fixed=chat, replay=chat.replace(api_key="admin-key"))
    assert flags.replay_connection(chat).api_key == "admin-key"
    persona = chat.replace(api_key="tenant-token", persona="reader")
    assert flags.replay_connection(persona) is persona


# --------------------------------------------------------------------------- batch


def write_lines(path: Any, questions: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8")
    return str(path)


def batch_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_batch_min_hit_rate_fails_when_an_expected_id_is_missing(
    server_env: dict[str, str], tmp_path: Any
) -> None:
    questions = write_lines(
        tmp_path / "q.jsonl",
        [
            {"id": "found", "prompt": "Stanley Kubrick movies", "expect": ["movies:1"]},
            {"id": "missing", "prompt": "cyberpunk novels", "expect": ["movies:1"]},
        ],
    )
    result = invoke(["batch", questions, "--min-hit-rate", "1.0"], env=server_env)
    assert result.exit_code == 5
    assert "hit rate 1/2 (50%) is below --min-hit-rate 1" in result.stderr
    assert len(batch_lines(result.stdout)) == 2, "every result line is still written"
    passing = invoke(
        ["batch", questions, "--min-hit-rate", "0.5", "--min-recall", "0.5"], env=server_env
    )
    assert passing.exit_code == 0, passing.stderr
    failing = invoke(["batch", questions, "--min-recall", "0.9"], env=server_env)
    assert failing.exit_code == 5
    assert "mean recall 0.50 is below --min-recall 0.9" in failing.stderr


def test_batch_thresholds_without_expectations_are_refused_before_sending(
    server_env: dict[str, str], standin: StandInServer, tmp_path: Any
) -> None:
    questions = write_lines(tmp_path / "q.jsonl", [{"prompt": "Dune"}])
    result = invoke(["batch", questions, "--min-recall", "0.5"], env=server_env)
    assert result.exit_code == 2
    assert "need questions with `expect`" in result.stderr
    assert standin.completion_bodies() == []


def test_batch_reports_grounding_routing_and_cost(
    server_env: dict[str, str], tmp_path: Any
) -> None:
    questions = write_lines(
        tmp_path / "q.jsonl",
        [
            {"id": "movies", "prompt": "Stanley Kubrick movies", "expect_index": "movies"},
            {"id": "books", "prompt": "cyberpunk novels", "expect_index": ["movies"]},
            {"id": "filtered", "prompt": FILTERED},
        ],
    )
    result = invoke(["batch", questions], env=server_env)
    assert result.exit_code == 0, result.stderr
    by_id = {line["id"]: line for line in batch_lines(result.stdout)}
    assert by_id["movies"]["routed"] is True
    assert by_id["books"]["routed"] is False
    assert "routed" not in by_id["filtered"]
    assert by_id["filtered"]["filters"] == by_id["filtered"]["valid_filters"] == 1
    assert all(line["estimate"]["total"] > 0 for line in by_id.values())
    assert "index routing 1/2 (50%)" in result.stderr
    assert "valid filters 1/1" in result.stderr
    spent = sum(line["estimate"]["total"] for line in by_id.values())
    assert f"~{spent:,} tokens sent and received" in result.stderr


def test_cited_ids_are_checked_against_the_sources() -> None:
    from meilichat_cli.batch.evaluation import PrimaryKeys, grounding

    result = {
        "answer": "See Gravity (id 16) and also ID: 999.",
        "searches": [{"index_uid": "movies", "sources": [{"id": 16}, {"id": 1}]}],
        "errors": [],
    }
    figures = grounding(result, PrimaryKeys(), None)
    assert figures["cited"] == ["16", "999"]
    assert figures["cited_found"] == 0.5


def test_batch_max_tokens_stops_before_the_budget_is_exceeded(
    server_env: dict[str, str], standin: StandInServer, tmp_path: Any
) -> None:
    questions = write_lines(
        tmp_path / "q.jsonl", [{"id": n, "prompt": "Stanley Kubrick movies"} for n in range(5)]
    )
    first = batch_lines(invoke(["batch", questions, "-j", "1"], env=server_env).stdout)
    cost = first[0]["estimate"]["total"]
    sent_before = len(standin.completion_bodies())
    result = invoke(
        ["batch", questions, "-j", "1", "--max-tokens", str(cost * 2 + cost // 2)], env=server_env
    )
    assert result.exit_code == 5
    assert "token budget reached" in result.stderr
    # How to go on, without calling a budget stop an interruption.
    assert "hint: finish later with --resume OUT" in result.stderr
    assert "interrupted" not in result.stderr
    lines = batch_lines(result.stdout)
    assert len(lines) == 2
    assert sum(line["estimate"]["total"] for line in lines) <= cost * 2 + cost // 2
    assert len(standin.completion_bodies()) - sent_before == 2


def test_batch_and_doctor_report_the_servers_token_counters(
    server_env: dict[str, str], standin: StandInServer, tmp_path: Any
) -> None:
    standin.state.features["metrics"] = True
    questions = write_lines(tmp_path / "q.jsonl", [{"prompt": "Dune"}])
    with_chat_key = invoke(["batch", questions], env=server_env)
    assert "Meilisearch's chat counters" not in with_chat_key.stderr  # no metrics.get
    admin = {**server_env, "MEILICHAT_API_KEY": standin.admin_key or ""}
    result = invoke(["batch", questions], env=admin)
    assert result.exit_code == 0, result.stderr
    line = next(x for x in result.stderr.splitlines() if "chat counters" in x)
    assert line.startswith("  server:    +") and "prompt +" in line
    doctor = invoke(["doctor", "--json"], env={**server_env, "MEILI_MASTER_KEY": MASTER})
    completion = next(c for c in json.loads(doctor.stdout)["checks"] if c["name"] == "completion")
    assert "the server counted +" in completion["detail"]


def test_metrics_route_exposes_meilisearchs_chat_counter_names(
    server_env: dict[str, str], standin: StandInServer
) -> None:
    import httpx

    ask_json(server_env)
    headers = {"Authorization": f"Bearer {standin.admin_key}"}
    refused = httpx.get(f"{standin.url}/metrics", headers=headers, timeout=5)
    assert refused.status_code == 400 and refused.json()["code"] == "feature_not_enabled"
    standin.state.features["metrics"] = True
    text = httpx.get(f"{standin.url}/metrics", headers=headers, timeout=5).text
    for name in (
        "meilisearch_chat_prompt_tokens_total",
        "meilisearch_chat_completion_tokens_total",
        "meilisearch_chat_tokens_total",
    ):
        assert f'{name}{{model="gpt-4o-mini",workspace="{standin.workspace}"}} ' in text


def test_deciding_rule_is_the_first_rule_in_order_that_differs() -> None:
    from meilichat_cli.explain.replay import deciding_rule

    first = {
        "words": {"order": 0, "score": 1.0},
        "year:desc": {"order": 1, "value": 2014},
        "exactness": {"order": 2, "score": 0.5},
    }
    same_year = {**first, "exactness": {"order": 2, "score": 0.3}}
    older = {**first, "year:desc": {"order": 1, "value": 1999}}
    assert deciding_rule(first, same_year) == "exactness"
    assert deciding_rule(first, older) == "year:desc"
    assert deciding_rule(first, dict(first)) == "tie"
    assert deciding_rule(first, None) is None


def test_prometheus_counters_are_summed_per_workspace() -> None:
    from meilichat_cli.api.metrics import counter_change, parse_counters

    text = (
        "# HELP meilisearch_chat_tokens_total Total\n"
        'meilisearch_chat_tokens_total{model="a",workspace="w"} 10\n'
        'meilisearch_chat_tokens_total{model="b",workspace="w"} 5\n'
        'meilisearch_chat_tokens_total{model="a",workspace="other"} 100\n'
        'meilisearch_chat_prompt_tokens_total{model="a",workspace="w"} 12\n'
        "meilisearch_http_requests_total 7\n"
    )
    assert parse_counters(text, "w") == {"prompt": 12, "completion": 0, "total": 15}
    assert parse_counters(text)["total"] == 115
    assert counter_change(
        {"prompt": 1, "completion": 2, "total": 3}, parse_counters(text, "w")
    ) == {
        "prompt": 11,
        "completion": -2,
        "total": 12,
    }
