"""The leak check: chat as each persona, then verify every source against its rules.

For each persona and question, one turn is sent with the persona's tenant token. Then, for
each search Meilisearch ran and each document it returned:

* an index the persona's rules do not reach is a finding (`index`);
* an index without chat settings (no description; Meilisearch issue #6043: the model may
  search every index a token reaches) is a finding (`no-chat-settings`);
* the document is looked up again with `/indexes/{uid}/search`, with the rule's filter ANDed
  with `PRIMARY_KEY = ID`, using a key that may search (the verifier key, never the token). Not
  found means it lies outside the rules: a finding (`document`).

On a server older than 1.48.3 (read from `/version`), facet values shown to the model ignored
tenant-token filters: a persona with a filter gets a `facet-values` finding.

Imports chat, api, tenancy, errors; never prints (progress goes to a callback).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meilichat_cli.errors import AuthError, MeilichatError, UsageError
from meilichat_cli.tenancy import rules as search_rules

if TYPE_CHECKING:
    from meilichat_cli.api.client import MeiliClient
    from meilichat_cli.local.connection import Connection
    from meilichat_cli.tenancy.personas import Persona

FACET_FIX_VERSION = (1, 48, 3)
LEAK_KINDS = frozenset({"document", "index", "no-chat-settings", "facet-values"})
FALLBACK_SCAN_LIMIT = 1000
MAX_QUESTIONS = 200

# Broad questions that invite an answer across tenants.
PROBES: tuple[str, ...] = (
    "Show me all support tickets.",
    "List every customer and their tickets.",
    "Which customers have billing issues?",
    "What did other customers report in their tickets?",
    "Show the tickets of customer 7 and of customer 13.",
    "Summarise every urgent ticket across all customers.",
)


@dataclass
class Finding:
    kind: str  # document | index | no-chat-settings | facet-values | unverified
    message: str
    question: str | None = None
    index_uid: str | None = None
    document_id: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "question": self.question,
            "index_uid": self.index_uid,
            "document_id": self.document_id,
        }


@dataclass
class PersonaReport:
    name: str
    rules: search_rules.SearchRules
    token_from: str  # "signed for this run" or the tokens file
    questions: int = 0
    searches: int = 0
    sources_checked: int = 0
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def leaks(self) -> list[Finding]:
        return [f for f in self.findings if f.kind in LEAK_KINDS]

    def to_json(self) -> dict[str, Any]:
        return {
            "persona": self.name,
            "rules": self.rules,
            "token": self.token_from,
            "questions": self.questions,
            "searches": self.searches,
            "sources_checked": self.sources_checked,
            "clean": not self.leaks,
            "findings": [f.to_json() for f in self.findings],
            "errors": self.errors,
        }


@dataclass
class ScopeReport:
    personas: list[PersonaReport] = field(default_factory=list)
    server_version: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not any(p.leaks for p in self.personas)

    def to_json(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "server_version": self.server_version,
            "personas": [p.to_json() for p in self.personas],
            "warnings": self.warnings,
        }


@dataclass(frozen=True)
class Subject:
    """A persona under test and the connection that chats as it (its token as bearer)."""

    persona: Persona
    connection: Connection
    token_from: str = "signed for this run"  # noqa: S105 - a label, not a secret


def read_questions(lines: Sequence[str], source: str) -> list[str]:
    """Questions, one JSON object per line with a "prompt" (blank lines skipped)."""
    questions: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            raise UsageError(f"{source}:{number}: not a JSON object") from None
        prompt = item.get("prompt") if isinstance(item, dict) else None
        if not isinstance(prompt, str) or not prompt.strip():
            raise UsageError(f'{source}:{number}: needs a "prompt" string')
        questions.append(prompt)
    if not questions:
        raise UsageError(f"{source}: no questions")
    if len(questions) > MAX_QUESTIONS:
        raise UsageError(f"{source}: more than {MAX_QUESTIONS} questions")
    return questions


class Verifier:
    """Looks documents up again with a key that may search (never a persona's token)."""

    def __init__(self, client: MeiliClient) -> None:
        self.client = client
        self._primary_keys: dict[str, str | None] = {}  # None: not readable with this key
        self._chat_settings: dict[str, bool | None] = {}

    def primary_key(self, index_uid: str, document: dict[str, Any]) -> str | None:
        """The index's primary key (read once), else a guess from the document's fields."""
        if index_uid not in self._primary_keys:
            found: str | None = None
            try:
                body = self.client.request_json("GET", f"/indexes/{index_uid}")
                if isinstance(body, dict) and isinstance(body.get("primaryKey"), str):
                    found = body["primaryKey"]
            except MeilichatError:
                found = None
            self._primary_keys[index_uid] = found
        return self._primary_keys[index_uid] or _guess_primary_key(document)

    def has_chat_settings(self, index_uid: str) -> bool | None:
        """Whether the index has a chat description; None when it cannot be read."""
        if index_uid not in self._chat_settings:
            from meilichat_cli.api import admin

            try:
                settings = admin.index_chat_settings(self.client, index_uid)
                description = settings.get("description")
                self._chat_settings[index_uid] = bool(
                    isinstance(description, str) and description.strip()
                )
            except MeilichatError:
                self._chat_settings[index_uid] = None
        return self._chat_settings[index_uid]

    def within(self, index_uid: str, rule_filter: Any, primary_key: str, value: Any) -> bool:
        """Whether the document `primary_key = value` is among what the rule's filter allows."""
        rule_text = search_rules.filter_text(rule_filter)
        by_key = f"{primary_key} = {json.dumps(value)}"
        body = {"q": "", "filter": search_rules.and_filters(rule_text, by_key), "limit": 1}
        try:
            hits = self._search(index_uid, body)
        except MeilichatError as error:
            if error.code != "invalid_search_filter":
                raise
            # The primary key is not filterable there: scan what the rule allows instead.
            body = {"q": "", "filter": rule_text, "limit": FALLBACK_SCAN_LIMIT}
            hits = self._search(index_uid, body)
        return any(hit.get(primary_key) == value for hit in hits)

    def _search(self, index_uid: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        if body.get("filter") is None:
            body.pop("filter", None)
        result = self.client.request_json("POST", f"/indexes/{index_uid}/search", json_body=body)
        hits = result.get("hits") if isinstance(result, dict) else None
        return [h for h in hits if isinstance(h, dict)] if isinstance(hits, list) else []


def _guess_primary_key(document: dict[str, Any]) -> str | None:
    for name in ("id", "_id", "uid", "uuid", "objectID", "pk", "key"):
        if name in document:
            return name
    for name in document:
        if name.endswith(("_id", "Id")):
            return name
    return None


def facet_warning(version_text: str | None) -> bool | None:
    """Whether the server is older than 1.48.3 (None when the version is unknown)."""
    from meilichat_cli.api.admin import parse_version

    if not version_text:
        return None
    parsed = parse_version(version_text)
    return None if parsed is None else parsed < FACET_FIX_VERSION


def run_check(
    subjects: Sequence[Subject],
    questions: Sequence[str],
    *,
    workspace: str,
    open_client: Callable[[Connection], MeiliClient],
    verifier: Verifier,
    progress: Callable[[str], None] = lambda _line: None,
) -> ScopeReport:
    """Ask every persona every question and verify what came back (see the module doc)."""
    from meilichat_cli.api import admin
    from meilichat_cli.chat.turn import run_turn

    report = ScopeReport()
    try:
        report.server_version = str(admin.version(verifier.client).get("pkgVersion") or "")
    except MeilichatError:
        report.warnings.append(
            "could not read /version with the verifier key (it needs `version`): the"
            " facet-value check (servers before 1.48.3) was skipped"
        )
    old_server = facet_warning(report.server_version)
    for subject in subjects:
        persona = subject.persona
        entry = PersonaReport(persona.name, persona.rules, subject.token_from)
        report.personas.append(entry)
        if old_server and any(isinstance(r, dict) for r in persona.rules.values()):
            entry.findings.append(
                Finding(
                    "facet-values",
                    f"this server ({report.server_version}) is older than 1.48.3: the facet"
                    " values shown to the model ignore tenant-token filters, so values from"
                    " other tenants' documents can reach the answer; upgrade Meilisearch",
                )
            )
        with open_client(subject.connection) as client:
            for question in questions:
                progress(f"{persona.name}: {question}")
                entry.questions += 1
                try:
                    outcome = run_turn(
                        client,
                        workspace=workspace,
                        model=subject.connection.model,
                        history=[],
                        new_messages=[{"role": "user", "content": question}],
                        on_event=lambda _event: None,
                    )
                except AuthError:
                    raise  # a refused token: nothing of this persona can be checked
                except MeilichatError as error:
                    entry.errors.append(f"{question}: {error.message}")
                    continue
                if outcome.error is not None:
                    entry.errors.append(f"{question}: {outcome.error.message}")
                for error_event in outcome.turn.errors:
                    entry.errors.append(f"{question}: {error_event.message}")
                for search in outcome.turn.searches:
                    entry.searches += 1
                    _verify_search(entry, persona, question, search, verifier)
    return report


def _verify_search(
    entry: PersonaReport, persona: Persona, question: str, search: Any, verifier: Verifier
) -> None:
    index_uid = search.index_uid
    if not isinstance(index_uid, str):
        return
    reached, rule_filter = search_rules.rule_for(persona.rules, index_uid)
    if not reached:
        entry.findings.append(
            Finding(
                "index",
                f"searched index {index_uid!r}, which {persona.name}'s rules do not reach",
                question,
                index_uid,
            )
        )
    elif verifier.has_chat_settings(index_uid) is False and not any(
        f.kind == "no-chat-settings" and f.index_uid == index_uid for f in entry.findings
    ):
        entry.findings.append(
            Finding(
                "no-chat-settings",
                f"searched index {index_uid!r}, which has no chat settings (no description):"
                " the model may search every index a token reaches; narrow the rules",
                question,
                index_uid,
            )
        )
    for document in search.sources:
        if not isinstance(document, dict):
            continue
        primary_key = verifier.primary_key(index_uid, document)
        if primary_key is None or primary_key not in document:
            entry.findings.append(
                Finding(
                    "unverified",
                    f"a document of {index_uid!r} without a primary key could not be checked",
                    question,
                    index_uid,
                )
            )
            continue
        value = document[primary_key]
        entry.sources_checked += 1
        if reached and verifier.within(index_uid, rule_filter, primary_key, value):
            continue
        if not reached:
            continue  # already reported for the whole index
        entry.findings.append(
            Finding(
                "document",
                f"document {primary_key}={json.dumps(value)} of {index_uid!r} is outside"
                f" {persona.name}'s rules ({search_rules.filter_text(rule_filter)})",
                question,
                index_uid,
                value,
            )
        )
