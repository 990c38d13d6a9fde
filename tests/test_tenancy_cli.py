"""Chatting as your users against the stand-in: `token create/inspect`, personas and `--as`,
`scope check` (clean, widened token, old server), `batch --as`, and each classic token mistake
named in words (in-process, through tests/inprocess.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from meilichat_cli.tenancy.token import decode, iso_time, sign
from tests.conftest import MASTER_KEY
from tests.inprocess import Outcome, invoke

if TYPE_CHECKING:
    from meilichat_cli.standin import StandInServer

ALICE = "tickets:customer_id = 42"
BOB = "tickets:customer_id = 7"


@pytest.fixture
def tenant_env(server_env: dict[str, str], standin: StandInServer) -> dict[str, str]:
    """A profile on the stand-in whose key (the Default Chat API Key) is the parent of the
    personas alice (customer 42) and bob (customer 7)."""
    env = {**server_env}
    added = invoke(
        ["profile", "add", "shop", "--url", standin.url, "-w", standin.workspace], env=env
    )
    assert added.exit_code == 0, added.output
    admin = {**env, "MEILI_MASTER_KEY": MASTER_KEY}
    for name, rule in (("alice", ALICE), ("bob", BOB)):
        result = invoke(["persona", "add", name, "--index", rule], env=admin)
        assert result.exit_code == 0, result.output
    return env


def with_master(env: dict[str, str]) -> dict[str, str]:
    return {**env, "MEILI_MASTER_KEY": MASTER_KEY}


def customers(result: dict[str, Any]) -> set[int]:
    return {s["customer_id"] for search in result["searches"] for s in search["sources"]}


def chat_key_uid(standin: StandInServer) -> str:
    key = standin.state.key_named("Default Chat API Key")
    assert key is not None
    return key.uid


def last_bearer(standin: StandInServer) -> str:
    request = [r for r in standin.recorded if r.path.endswith("/chat/completions")][-1]
    scheme, _, token = request.headers["authorization"].partition(" ")
    assert scheme == "Bearer"
    return token


def test_a_token_from_token_create_lets_ask_see_only_alices_documents(
    tenant_env: dict[str, str], standin: StandInServer
) -> None:
    created = invoke(
        ["token", "create", "--index", ALICE, "--expires", "1h"], env=with_master(tenant_env)
    )
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    claims = decode(token).claims
    assert claims["searchRules"] == {"tickets": {"filter": "customer_id = 42"}}
    assert claims["apiKeyUid"] == chat_key_uid(standin)
    assert 3500 < claims["exp"] - time.time() <= 3600

    asked = invoke(
        ["ask", "--json", "--no-save", "show me all support tickets"],
        env={**tenant_env, "MEILICHAT_API_KEY": token},
    )
    assert asked.exit_code == 0, asked.output
    assert customers(json.loads(asked.stdout)) == {42}
    assert last_bearer(standin) == token
    # Without the token, the same question reaches every customer: the filter did the work.
    everyone = invoke(["ask", "--json", "--no-save", "show me all support tickets"], env=tenant_env)
    assert customers(json.loads(everyone.stdout)) == {7, 13, 42}


def test_ask_as_a_persona_signs_a_token_for_the_run_and_history_records_who_asked(
    tenant_env: dict[str, str], standin: StandInServer
) -> None:
    asked = invoke(["ask", "--as", "alice", "--json", "show me all tickets"], env=tenant_env)
    assert asked.exit_code == 0, asked.output
    result = json.loads(asked.stdout)
    assert customers(result) == {42}
    assert result["persona"] == "alice"
    token = decode(last_bearer(standin))
    assert token.claims["searchRules"] == {"tickets": {"filter": "customer_id = 42"}}
    assert token.signature_matches(tenant_env["MEILICHAT_API_KEY"])
    assert token.expires is not None and token.expires - time.time() <= 3600
    shown = invoke(["history", "show", result["conversation_id"], "--json"], env=tenant_env)
    assert json.loads(shown.stdout)["turns"][0]["persona"] == "alice"

    as_bob = invoke(["ask", "--as", "bob", "--json", "show me all tickets"], env=tenant_env)
    assert customers(json.loads(as_bob.stdout)) == {7}


def test_an_unknown_persona_is_a_usage_error_naming_the_known_ones(
    tenant_env: dict[str, str],
) -> None:
    result = invoke(["ask", "--as", "carol", "hello"], env=tenant_env)
    assert result.exit_code == 2
    assert "no persona 'carol'" in result.stderr and "alice, bob" in result.stderr


def test_persona_list_show_and_rm(tenant_env: dict[str, str]) -> None:
    listed = invoke(["persona", "list", "--json"], env=tenant_env)
    assert [p["name"] for p in json.loads(listed.stdout)] == ["alice", "bob"]
    shown = invoke(["persona", "show", "bob"], env=tenant_env)
    assert "tickets: customer_id = 7" in shown.stdout
    assert invoke(["persona", "rm", "bob"], env=tenant_env).exit_code == 0
    listed = invoke(["persona", "list", "--json"], env=tenant_env)
    assert [p["name"] for p in json.loads(listed.stdout)] == ["alice"]


def test_persona_add_without_a_way_to_find_the_parent_uid_says_how(
    tenant_env: dict[str, str],
) -> None:
    result = invoke(
        ["persona", "add", "carol", "--index", "tickets:customer_id = 13"], env=tenant_env
    )
    assert result.exit_code == 2
    assert "--parent-uid" in result.stderr and "MEILI_MASTER_KEY" in result.stderr


def test_scope_check_is_clean_for_correct_personas(tenant_env: dict[str, str]) -> None:
    result = invoke(["scope", "check", "--as", "alice,bob", "--json"], env=with_master(tenant_env))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["clean"] is True
    assert [p["persona"] for p in report["personas"]] == ["alice", "bob"]
    assert all(p["sources_checked"] > 0 and not p["findings"] for p in report["personas"])


def test_scope_check_reports_the_leak_of_a_widened_token(
    tenant_env: dict[str, str], tmp_path: Path
) -> None:
    # The token an application hands alice has lost its filter: every customer's tickets.
    widened = invoke(["token", "create", "--index", "tickets"], env=with_master(tenant_env))
    assert widened.exit_code == 0, widened.output
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"alice": widened.stdout.strip()}))
    result = invoke(
        ["scope", "check", "--as", "alice,bob", "--tokens", str(tokens), "--json"],
        env=with_master(tenant_env),
    )
    assert result.exit_code == 9, result.output
    report = json.loads(result.stdout)
    assert report["clean"] is False
    alice, bob = report["personas"]
    leaked = {f["document_id"] for f in alice["findings"] if f["kind"] == "document"}
    assert leaked and leaked <= {105, 106, 107, 108, 109, 110, 111, 112}
    assert bob["clean"] is True
    assert json.loads(result.stderr)["error"]["kind"] == "leak"


def test_scope_check_reports_a_widened_persona_rule_against_the_token_in_use(
    tenant_env: dict[str, str], tmp_path: Path
) -> None:
    # alice's rule is widened to customers 42 and 7 while the check holds her to 42 only.
    wide = invoke(
        ["token", "create", "--index", "tickets:customer_id IN [42, 7]"],
        env=with_master(tenant_env),
    )
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"alice": wide.stdout.strip()}))
    result = invoke(
        ["scope", "check", "--as", "alice", "--tokens", str(tokens)], env=with_master(tenant_env)
    )
    assert result.exit_code == 9
    assert "LEAK document" in result.stdout and "outside alice's rules" in result.stdout


class OldServer(httpx.BaseTransport):
    """The stand-in, answering /version as Meilisearch 1.48.2 would."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/version":
            body = {"commitSha": "unknown", "commitDate": "unknown", "pkgVersion": "1.48.2"}
            return httpx.Response(200, json=body)
        return self.inner.handle_request(request)


def test_scope_check_warns_of_the_facet_value_leak_before_1_48_3(
    tenant_env: dict[str, str],
) -> None:
    result = invoke(
        ["scope", "check", "--as", "alice", "--json"],
        env=with_master(tenant_env),
        transport=OldServer(),
    )
    assert result.exit_code == 9, result.output
    report = json.loads(result.stdout)
    assert report["server_version"] == "1.48.2"
    kinds = [f["kind"] for f in report["personas"][0]["findings"]]
    assert kinds == ["facet-values"]


def test_scope_check_questions_come_from_a_file(tenant_env: dict[str, str], tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"prompt": "billing tickets"}\n\n{"prompt": "urgent tickets"}\n')
    result = invoke(
        ["scope", "check", "--as", "bob", str(questions), "--json"], env=with_master(tenant_env)
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["personas"][0]["questions"] == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "no prompt"}\n')
    refused = invoke(["scope", "check", "--as", "bob", str(bad)], env=with_master(tenant_env))
    assert refused.exit_code == 2 and "bad.jsonl:1" in refused.stderr


def test_batch_as_two_personas_puts_their_answers_and_sources_side_by_side(
    tenant_env: dict[str, str], tmp_path: Path
) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "all", "prompt": "show me all tickets"}\n')
    result = invoke(["batch", "--as", "alice,bob", str(questions)], env=tenant_env)
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout)
    assert set(line["as"]) == {"alice", "bob"}
    assert customers(line["as"]["alice"]) == {42}
    assert customers(line["as"]["bob"]) == {7}
    assert "alice  ok    tickets:101" in result.stderr
    assert "bob    ok    tickets:105" in result.stderr


def test_batch_as_one_persona_uses_its_token_for_every_question(
    tenant_env: dict[str, str], tmp_path: Path
) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"prompt": "show me all tickets"}\n{"prompt": "billing tickets"}\n')
    result = invoke(["batch", "--as", "bob", str(questions)], env=tenant_env)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(customers(line) == {7} and line["persona"] == "bob" for line in lines)


# --- the classic mistakes, in words ---------------------------------------------------------


def test_an_expired_token_names_its_expiry(
    tenant_env: dict[str, str], standin: StandInServer
) -> None:
    exp = int(time.time()) - 120
    claims = {"searchRules": ["tickets"], "apiKeyUid": chat_key_uid(standin), "exp": exp}
    token = sign(claims, tenant_env["MEILICHAT_API_KEY"])
    result = invoke(["ask", "hello"], env={**tenant_env, "MEILICHAT_API_KEY": token})
    assert result.exit_code == 3
    assert f"Tenant token expired at {iso_time(exp)}" in result.stderr
    assert "token create --expires" in result.stderr


def _parent_key(standin: StandInServer, actions: list[str]) -> tuple[str, str]:
    import uuid

    key = standin.state.add_key(
        uid=str(uuid.uuid4()),
        name="narrow",
        description=None,
        actions=actions,
        indexes=["*"],
        expires_at=None,
        expires_ts=None,
    )
    return key.value, key.uid


@pytest.mark.parametrize(
    ("actions", "missing"),
    [(["chatCompletions"], "`search`"), (["search"], "`chatCompletions`")],
)
def test_a_parent_key_without_search_or_chat_completions_is_refused_before_signing(
    tenant_env: dict[str, str], standin: StandInServer, actions: list[str], missing: str
) -> None:
    value, _uid = _parent_key(standin, actions)
    result = invoke(
        ["token", "create", "--parent-key-stdin", "--index", ALICE],
        env=with_master(tenant_env),
        input=value + "\n",
    )
    assert result.exit_code == 3
    assert f"the parent key 'narrow' lacks {missing}" in result.stderr
    assert "key create --actions chatCompletions,search" in result.stderr
    assert value not in result.output


def test_a_wrong_api_key_uid_is_named_before_signing_and_when_refused(
    tenant_env: dict[str, str], standin: StandInServer
) -> None:
    _value, other_uid = _parent_key(standin, ["search", "chatCompletions"])
    before = invoke(
        ["token", "create", "--index", ALICE, "--parent-uid", other_uid],
        env=with_master(tenant_env),
    )
    assert before.exit_code == 3
    assert f"wrong apiKeyUid: {other_uid} is the uid of another key (narrow)" in before.stderr
    assert f"--parent-uid {chat_key_uid(standin)}" in before.stderr
    # Signed anyway (no admin key to check with): the server refuses it, and we say why.
    unchecked = invoke(
        ["token", "create", "--index", ALICE, "--parent-uid", other_uid], env=tenant_env
    )
    assert unchecked.exit_code == 0
    assert "not checked" in unchecked.stderr
    refused = invoke(
        ["ask", "hello"], env={**tenant_env, "MEILICHAT_API_KEY": unchecked.stdout.strip()}
    )
    assert refused.exit_code == 3
    assert "its apiKeyUid must be the uid of the key that signed it" in refused.stderr


def test_a_token_on_a_route_that_refuses_tokens_says_so(tenant_env: dict[str, str]) -> None:
    token = invoke(["token", "create", "--index", ALICE], env=with_master(tenant_env)).stdout
    result = invoke(["workspace", "list"], env={**tenant_env, "MEILICHAT_API_KEY": token.strip()})
    assert result.exit_code == 3
    assert "A tenant token was sent to GET /chats" in result.stderr
    assert "only for searches and chat completions" in result.stderr


def test_token_create_checks_index_patterns_and_filter_attributes(
    tenant_env: dict[str, str],
) -> None:
    env = with_master(tenant_env)
    unknown = invoke(["token", "create", "--index", "tickes:customer_id = 1"], env=env)
    assert unknown.exit_code == 2 and "no index matches 'tickes'" in unknown.stderr
    not_filterable = invoke(["token", "create", "--index", "tickets:customer = 'Globex'"], env=env)
    assert not_filterable.exit_code == 2
    assert "uses customer, which is not filterable there" in not_filterable.stderr


def test_token_create_json_shows_the_decoded_claims_and_the_checks(
    tenant_env: dict[str, str],
) -> None:
    result = invoke(
        ["token", "create", "--index", ALICE, "--algorithm", "HS512", "--json"],
        env=with_master(tenant_env),
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["header"] == {"alg": "HS512", "typ": "JWT"}
    assert body["claims"]["searchRules"] == {"tickets": {"filter": "customer_id = 42"}}
    assert body["checks"]["problems"] == []
    assert "parent key" in body["checks"]["checked"]


def run_inspect(token: str, env: dict[str, str], key: str | None = None) -> Outcome:
    args = ["token", "inspect", token, "--json"] + (["--key-stdin"] if key else [])
    return invoke(args, env=env, input=(key + "\n") if key else None)


def test_token_inspect_explains_expiry_rules_and_signature(tenant_env: dict[str, str]) -> None:
    token = sign({"searchRules": {"tickets": None}, "apiKeyUid": "u", "exp": 1_000}, "the-key")
    plain = invoke(["token", "inspect", token], env=tenant_env)
    assert plain.exit_code == 0
    assert "EXPIRED at 1970-01-01T00:16:40Z" in plain.stdout
    assert "tickets: every document" in plain.stdout
    good = run_inspect(token, tenant_env, key="the-key")
    assert good.exit_code == 0 and json.loads(good.stdout)["signatureMatches"] is True
    bad = run_inspect(token, tenant_env, key="another-key")
    assert bad.exit_code == 3 and json.loads(bad.stdout)["signatureMatches"] is False
    assert invoke(["token", "inspect", "not-a-token"], env=tenant_env).exit_code == 2


def test_scope_check_on_a_stand_in_emulating_1_48_reports_the_facet_value_leak(
    clean_env: dict[str, str],
) -> None:
    from meilichat_cli.standin import StandInServer

    with StandInServer(master_key=MASTER_KEY, version="1.48") as old:
        old.start()
        assert old.chat_key is not None
        env = {**clean_env, "MEILICHAT_API_KEY": old.chat_key, "MEILICHAT_MODEL": "gpt-4o-mini"}
        added = invoke(["profile", "add", "old", "--url", old.url, "-w", old.workspace], env=env)
        assert added.exit_code == 0, added.output
        added = invoke(["persona", "add", "alice", "--index", ALICE], env=with_master(env))
        assert added.exit_code == 0, added.output
        result = invoke(["scope", "check", "--as", "alice", "--json"], env=with_master(env))
    assert result.exit_code == 9, result.output
    report = json.loads(result.stdout)
    assert report["server_version"].startswith("1.48.")
    alice = report["personas"][0]
    assert [f["kind"] for f in alice["findings"]] == ["facet-values"]
    assert alice["sources_checked"] > 0
