"""Tenant tokens, search rules and personas without a server: signing against known JWT
vectors, decoding, expiry values, rule parsing, and personas kept in config.toml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meilichat_cli.errors import ConfigError, UsageError
from meilichat_cli.local.config import load_config
from meilichat_cli.local.connection import Connection
from meilichat_cli.standin.auth import ApiKey, decode_tenant_token
from meilichat_cli.tenancy import rules as search_rules
from meilichat_cli.tenancy.personas import (
    Persona,
    connection_as,
    find_persona,
    personas_of,
    remove_persona,
    save_persona,
)
from meilichat_cli.tenancy.token import (
    b64url_decode,
    decode,
    describe_remaining,
    looks_like_token,
    parse_expires,
    sign,
)

# RFC 7515, appendix A.1: an HS256 JWS and its key (a JWK "k" value, base64url).
RFC7515_A1_TOKEN = (
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)
RFC7515_A1_KEY = (
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
)

# Computed independently with `openssl dgst -shaN -hmac parent-key-value` over
# base64url('{"alg":"HSN","typ":"JWT"}') + "." + base64url(CLAIMS).
CLAIMS = {
    "searchRules": {"tickets": {"filter": "customer_id = 42"}},
    "apiKeyUid": "6062abda-a5aa-4414-ac91-ecd7944c0f8d",
    "exp": 1767225600,
}
_PAYLOAD = (
    "eyJzZWFyY2hSdWxlcyI6eyJ0aWNrZXRzIjp7ImZpbHRlciI6ImN1c3RvbWVyX2lkID0gNDIifX0sImFwaUtleVVp"
    "ZCI6IjYwNjJhYmRhLWE1YWEtNDQxNC1hYzkxLWVjZDc5NDRjMGY4ZCIsImV4cCI6MTc2NzIyNTYwMH0"
)
OPENSSL_VECTORS = {
    "HS256": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    + _PAYLOAD
    + ".POxSEAj2gQBsX_YK-ycOeZlmq2cXWoSgMgKuOXFGweE",
    "HS384": "eyJhbGciOiJIUzM4NCIsInR5cCI6IkpXVCJ9."
    + _PAYLOAD
    + ".oYQeS2DDXfDtdEn4oj_5qq3L9TQnLhHIYjx4_pLoC9H0WBOxECyP6x_n1BB8P_9k",
    "HS512": "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9."
    + _PAYLOAD
    + ".ltEefQBPo-mj598U6zUhum-TyFfQuoz1J28iv8dqohQbhzh8nFtyJrdlw3OJ8bpPmh-AO16IOIZAdRfSWXPhdQ",
}


def test_the_rfc_7515_example_token_verifies_with_its_key_and_not_another() -> None:
    token = decode(RFC7515_A1_TOKEN)
    assert token.header == {"typ": "JWT", "alg": "HS256"}
    assert token.claims["iss"] == "joe"
    assert token.signature_matches(b64url_decode(RFC7515_A1_KEY))
    assert not token.signature_matches(b"another key")


@pytest.mark.parametrize("algorithm", sorted(OPENSSL_VECTORS))
def test_signing_gives_the_token_openssl_computes(algorithm: str) -> None:
    assert sign(CLAIMS, "parent-key-value", algorithm=algorithm) == OPENSSL_VECTORS[algorithm]
    assert decode(OPENSSL_VECTORS[algorithm]).signature_matches("parent-key-value")


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_the_stand_in_accepts_what_meilichat_signs(algorithm: str) -> None:
    parent = ApiKey(
        uid=CLAIMS["apiKeyUid"],
        value="parent-key-value",
        name=None,
        description=None,
        actions=["search", "chatCompletions"],
        indexes=["*"],
        expires_at=None,
        expires_ts=None,
        created_at="",
        updated_at="",
    )
    claims = {**CLAIMS, "exp": 4102444800}
    token = sign(claims, "parent-key-value", algorithm=algorithm)
    principal = decode_tenant_token(token, lambda uid: parent if uid == parent.uid else None)
    assert principal.tenant_filter("tickets") == "customer_id = 42"
    assert not principal.may("search", "movies")


def test_an_unknown_algorithm_is_refused() -> None:
    with pytest.raises(UsageError, match="unknown signing algorithm 'none'"):
        sign(CLAIMS, "k", algorithm="none")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("abc", "3 parts"),
        ("a.b", "3 parts"),
        ("!!.e30.x", "base64url"),
        ("WyJhIl0.e30.", "JSON objects"),
    ],
)
def test_what_is_not_a_token_is_said_plainly(text: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        decode(text)


def test_api_keys_do_not_look_like_tokens_and_tokens_do() -> None:
    assert not looks_like_token("d0552b41536279a0ad88bd595327b96f01176a60c2243e906c52ac02375f9bc4")
    assert not looks_like_token(None)
    assert not looks_like_token("a.b.c")
    assert looks_like_token(OPENSSL_VECTORS["HS256"])


def test_expires_takes_durations_and_iso_times() -> None:
    now = 1_700_000_000.0
    assert parse_expires("1h", now=now) == 1_700_003_600
    assert parse_expires("30m", now=now) == 1_700_001_800
    assert parse_expires("1h30m", now=now) == 1_700_005_400
    assert parse_expires("2d", now=now) == 1_700_172_800
    assert parse_expires("2030-01-01T00:00:00Z", now=now) == 1_893_456_000
    assert parse_expires("2030-01-01", now=now) == 1_893_456_000


@pytest.mark.parametrize("text", ["", "soon", "0h", "2001-01-01T00:00:00Z", "1h later"])
def test_expires_refuses_nonsense_and_the_past(text: str) -> None:
    with pytest.raises(UsageError):
        parse_expires(text, now=1_700_000_000.0)


def test_an_expiry_reads_as_a_time_and_a_span() -> None:
    assert describe_remaining(1_700_003_600, now=1_700_000_000) == (
        "expires 2023-11-14T23:13:20Z (in 60 min)"
    )
    assert describe_remaining(1_699_999_000, now=1_700_000_000).startswith("EXPIRED at")


def test_index_options_become_search_rules() -> None:
    rules = search_rules.from_index_options(["tickets:customer_id = 42", "faq", "docs-*"])
    assert rules == {"tickets": {"filter": "customer_id = 42"}, "faq": None, "docs-*": None}


@pytest.mark.parametrize(
    "values", [["tickets:"], ["bad uid:x = 1"], ["tickets", "tickets:a = 1"], ["*x"]]
)
def test_bad_index_options_are_refused(values: list[str]) -> None:
    with pytest.raises(UsageError):
        search_rules.from_index_options(values)


def test_rules_json_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text('{"tickets": {"filter": ["customer_id = 42", ["a = 1", "b = 2"]]}}')
    rules = search_rules.from_json_option("@" + str(path))
    assert search_rules.filter_text(rules["tickets"]["filter"]) == (
        "(customer_id = 42) AND ((a = 1) OR (b = 2))"
    )
    assert search_rules.from_json_option('["movies", "books"]') == {"movies": None, "books": None}
    for bad in ("{}", '{"t": 3}', '{"t": {"filter": 3}}', '{"t": {"sort": "x"}}', "nope"):
        with pytest.raises(UsageError):
            search_rules.from_json_option(bad)


def test_an_exact_uid_wins_over_a_pattern() -> None:
    rules = {"*": {"filter": "public = true"}, "tickets": {"filter": "customer_id = 42"}}
    assert search_rules.rule_for(rules, "tickets") == (True, "customer_id = 42")
    assert search_rules.rule_for(rules, "faq") == (True, "public = true")
    assert search_rules.rule_for({"doc*": None}, "movies") == (False, None)


@pytest.mark.parametrize(
    ("expression", "attributes"),
    [
        ("customer_id = 42", ["customer_id"]),
        ("customer_id = 42 AND status != 'closed'", ["customer_id", "status"]),
        ("year 1990 TO 2000 OR genres IN [a, b]", ["year", "genres"]),
        ("NOT tag EXISTS", ["tag"]),
        ('title = "a = b"', ["title"]),
        (["a = 1", ["b > 2", "c IS NULL"]], ["a", "b", "c"]),
    ],
)
def test_the_attributes_a_filter_compares_are_found(
    expression: object, attributes: list[str]
) -> None:
    assert search_rules.filter_attributes(expression) == attributes


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text('default_profile = "local"\n[profiles.local]\nurl = "http://127.0.0.1:7700"\n')
    return path


def test_personas_are_kept_in_config_per_profile_and_read_back(tmp_path: Path) -> None:
    path = _config(tmp_path)
    alice = Persona(
        "alice",
        "local",
        {"tickets": {"filter": "customer_id = 42"}, "faq": None},
        "30m",
        "6062abda-a5aa-4414-ac91-ecd7944c0f8d",
    )
    assert save_persona(path, alice, warn=pytest.fail, replace_existing=False) is False
    text = path.read_text()
    assert "[profiles.local.personas.alice.rules.tickets]" in text
    config = load_config(path, warn=pytest.fail)
    assert personas_of(config, config.profiles["local"]) == {"alice": alice}
    with pytest.raises(UsageError, match="already exists"):
        save_persona(path, alice, warn=pytest.fail, replace_existing=False)
    remove_persona(path, "local", "alice", warn=pytest.fail)
    config = load_config(path, warn=pytest.fail)
    with pytest.raises(ConfigError, match="no persona 'alice'"):
        find_persona(config, config.profiles["local"], "alice")


def test_a_malformed_persona_in_config_names_its_key_path(tmp_path: Path) -> None:
    path = _config(tmp_path)
    with path.open("a") as handle:
        handle.write('[profiles.local.personas.bob]\nexpires = "soon"\n')
        handle.write("[profiles.local.personas.bob.rules.t]\n")
    config = load_config(path, warn=pytest.fail)
    with pytest.raises(ConfigError, match=r"profiles\.local\.personas\.bob: --expires 'soon'"):
        personas_of(config, config.profiles["local"])


def test_chatting_as_a_persona_sends_a_short_lived_token_signed_with_the_profile_key() -> None:
    base = Connection("local", "http://127.0.0.1:7700", "parent-key-value", "file", "ws", "m")
    persona = Persona(
        "alice",
        "local",
        {"tickets": {"filter": "customer_id = 42"}},
        "1h",
        "6062abda-a5aa-4414-ac91-ecd7944c0f8d",
    )
    signed = connection_as(base, persona, now=1_700_000_000)
    assert signed.persona == "alice"
    token = decode(signed.api_key or "")
    assert token.signature_matches("parent-key-value")
    assert token.claims == {
        "searchRules": {"tickets": {"filter": "customer_id = 42"}},
        "apiKeyUid": "6062abda-a5aa-4414-ac91-ecd7944c0f8d",
        "exp": 1_700_003_600,
    }
    assert "parent-key-value" not in repr(signed) and signed.api_key not in repr(signed)
    with pytest.raises(ConfigError, match="itself a tenant token"):
        connection_as(signed, persona)
    with pytest.raises(ConfigError, match="no parent key uid"):
        connection_as(base, Persona("x", "local", {"t": None}))


def test_signed_claims_are_compact_json() -> None:
    token = sign({"a": "é"}, "k")
    assert json.loads(b64url_decode(token.split(".")[1])) == {"a": "é"}


def test_a_token_expires_when_meilisearch_says_so_after_its_last_second() -> None:
    # Meilisearch refuses a token once the whole seconds of its clock pass `exp`
    # (`now > exp`): during the second `exp` names it still answers.
    token = decode(sign({"searchRules": ["*"], "apiKeyUid": "u", "exp": 1000}, "k" * 32))
    assert not token.expired(now=999.0)
    assert not token.expired(now=1000.9)
    assert token.expired(now=1001.0)
    assert describe_remaining(1000, now=1000.5).startswith("expires")
    assert describe_remaining(1000, now=1001.0).startswith("EXPIRED")
