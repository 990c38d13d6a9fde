"""`meilichat doctor` as data: the checks, in order, and the plan of what `--fix` would change.

Checks run in the order a chat request depends on them: the server answers (`/health`), its
version has chat (≥ 1.15.1) and which of its release's pitfalls apply (a `baseUrl` ignored,
no `filter` argument, facet values ignoring tenant-token filters), the `chatCompletions`
feature is on, the profile's key is known
and holds `chatCompletions` and `search`, the workspace exists with a source and a provider
key, every index the key can see has a chat description and a template that renders text,
and a short test completion succeeds. Each check is a `Check` (name, status, detail, fix);
a check that cannot run (the key may not read what it needs, an earlier check failed) is
`skip`, with what would let it run.

Nothing here changes the server except `apply_fix`, which the command layer calls only after
the user has seen the plan and agreed. Never prints or prompts; text is left unsanitized (the
output layer sanitizes or JSON-escapes it).

Imports the core (`admin`, `session`, `errors`); must not import typer, rich or
prompt_toolkit.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meilichat_cli.api import admin
from meilichat_cli.errors import (
    AuthError,
    CertificateError,
    ExitCode,
    MeilichatError,
    NetworkError,
    NotFoundError,
    TemplateError,
    TimeoutError_,
    UsageError,
)
from meilichat_cli.protocol.actions import action_granted

if TYPE_CHECKING:
    from meilichat_cli.api.client import MeiliClient
    from meilichat_cli.local.connection import Connection

OK = "ok"
FAIL = "fail"
WARN = "warn"
SKIP = "skip"

MAX_INDEXES_CHECKED = 20
SAMPLE_DOCUMENTS = 3
TEST_PROMPT = "This is a connection check from `meilichat doctor`. Reply with one word: OK."
ADMIN_KEY_FIX = "give doctor an admin key: set MEILI_MASTER_KEY, or pass --admin-key-stdin"


@dataclass
class Check:
    """One line of the report."""

    name: str
    status: str
    detail: str
    fix: str | None = None
    exit_code: int = int(ExitCode.API)  # what a failure of this check means for `doctor`

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


@dataclass
class Findings:
    """What the checks learned that the fix plan needs (None = could not tell)."""

    reachable: bool = False
    feature_enabled: bool | None = None
    workspace: str | None = None
    workspace_state: str | None = None  # "missing" | "no_provider_key" | "ok"
    workspace_settings: dict[str, Any] | None = None
    key_state: str | None = None  # "missing" | "unknown" | "expired" | "lacks_actions" | "ok"
    key_indexes: list[str] | None = None
    admin_access: bool = False  # the admin client could read an admin route
    version: tuple[int, int, int] | None = None  # the server's, when /version was readable


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    findings: Findings = field(default_factory=Findings)

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if check.status == FAIL]

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def exit_code(self) -> int:
        """0 when nothing failed, else the exit code of the first failure."""
        failures = self.failures
        return failures[0].exit_code if failures else int(ExitCode.OK)

    def to_json(self) -> dict[str, Any]:
        counts = {status: 0 for status in (OK, FAIL, WARN, SKIP)}
        for check in self.checks:
            counts[check.status] += 1
        return {"ok": self.ok, "summary": counts, "checks": [c.to_json() for c in self.checks]}


@dataclass(frozen=True)
class Target:
    """What doctor checks: the resolved connection and whether a separate admin key exists."""

    connection: Connection
    admin_key: str | None = None
    run_completion: bool = True
    # A new key can be stored for the profile in use (`key create --save`): false without a
    # profile, or when --url / MEILICHAT_URL / a key from the environment is used instead.
    key_storable: bool = True

    @property
    def who(self) -> str:
        profile = self.connection.profile
        return f"profile '{profile}'" if profile else "this connection"


def run_checks(chat: MeiliClient, admin_client: MeiliClient, target: Target) -> Report:
    """Every check, in order. `chat` uses the profile's key, `admin_client` the admin key
    (or the profile's key again when no admin key was given)."""
    report = Report()
    report.findings.workspace = target.connection.workspace
    steps: Sequence[Callable[[_Run], list[Check]]] = (
        _check_server,
        _check_version,
        _check_feature,
        _check_key,
        _check_workspace,
        _check_version_pitfalls,
        _check_indexes,
        _check_completion,
    )
    run = _Run(chat, admin_client, target, report)
    for step in steps:
        if not report.findings.reachable and step is not _check_server:
            report.checks.append(
                Check(step.__name__.removeprefix("_check_"), SKIP, "the server is unreachable")
            )
            continue
        report.checks.extend(step(run))
    return report


@dataclass
class _Run:
    chat: MeiliClient
    admin: MeiliClient
    target: Target
    report: Report

    @property
    def findings(self) -> Findings:
        return self.report.findings

    @property
    def key(self) -> str | None:
        return self.target.connection.api_key


def _failure(name: str, error: MeilichatError, fix: str | None = None) -> Check:
    return Check(name, FAIL, error.message, fix or error.hint, int(error.exit_code))


def _check_server(run: _Run) -> list[Check]:
    url = run.target.connection.url
    try:
        body = admin.health(run.chat)
    except CertificateError as error:  # the server is there; its certificate is not trusted
        return [_failure("server", error)]
    except (NetworkError, TimeoutError_) as error:
        return [
            _failure(
                "server",
                error,
                f"start Meilisearch, or check the URL ({url}) with `meilichat profile show`",
            )
        ]
    except MeilichatError as error:
        http_status = error.http_status or 0
        if http_status == 429 or http_status >= 500:  # the right server (or its proxy) in trouble
            fix = error.hint or "the server is failing; try again later or read its logs"
            return [_failure("server", error, fix)]
        return [_failure("server", error, "check that the URL points at Meilisearch")]
    run.findings.reachable = True
    status = body.get("status")
    if status != "available":
        return [
            Check(
                "server",
                FAIL,
                f"{url} answers but reports status {status!r}",
                "restart Meilisearch",
            )
        ]
    return [Check("server", OK, f"{url} is available")]


def _check_version(run: _Run) -> list[Check]:
    try:
        body = admin.version(run.admin)
    except AuthError:
        return [Check("version", SKIP, "the key may not read /version", ADMIN_KEY_FIX)]
    except MeilichatError as error:
        return [_failure("version", error)]
    text = str(body.get("pkgVersion", ""))
    supported = admin.supports_chat(text)
    if supported is None:
        return [Check("version", WARN, f"cannot read the version {text!r}")]
    if not supported:
        minimum = ".".join(map(str, admin.MIN_CHAT_VERSION))
        return [
            Check(
                "version",
                FAIL,
                f"Meilisearch {text} has no chat workspaces (needs {minimum} or later)",
                f"upgrade Meilisearch to {minimum} or later",
            )
        ]
    run.findings.version = admin.parse_version(text)
    return [Check("version", OK, f"Meilisearch {text}")]


# Releases where a workspace `baseUrl` was ignored for these sources (the built-in URL won).
BASE_URL_IGNORED = ((1, 15, 2), (1, 40, 0))
BASE_URL_IGNORED_SOURCES = ("openAi", "mistral")
# Before this release the facet values shown to the model ignored tenant-token filters.
FACETS_RESPECT_TOKENS_SINCE = (1, 48, 3)


def _check_version_pitfalls(run: _Run) -> list[Check]:
    """What this server's release gets wrong or lacks for chat (docs/versions.md): nothing
    to report on a current server, one warning per pitfall otherwise."""
    found = run.findings.version
    if found is None:
        return []
    shown = ".".join(map(str, found))
    checks: list[Check] = []
    settings = run.findings.workspace_settings or {}
    source = settings.get("source") or "openAi"
    base_url = settings.get("baseUrl")
    low, high = BASE_URL_IGNORED
    if base_url and source in BASE_URL_IGNORED_SOURCES and low <= found < high:
        checks.append(
            Check(
                "version",
                WARN,
                f"Meilisearch {shown} ignores the workspace baseUrl {base_url!r} for source"
                f" {source} (1.15.2 to 1.39 always call the provider's own URL)",
                "upgrade Meilisearch to 1.40 or later, or use source vLlm for an"
                " OpenAI-compatible server at that URL",
            )
        )
    if found < admin.FILTER_ARGUMENT_SINCE:
        checks.append(
            Check(
                "version",
                WARN,
                f"Meilisearch {shown}'s search tool has no `filter` argument: the model cannot"
                " filter (e.g. by year or category), only query words",
                "upgrade Meilisearch to 1.16 or later",
            )
        )
    filters = _token_filters(run.key)
    if found < FACETS_RESPECT_TOKENS_SINCE and (filters or _scoped_chat_keys(run)):
        what = (
            "this tenant token's filters"
            if filters
            else "the filters of the tenant tokens signed with index-scoped chat keys"
        )
        checks.append(
            Check(
                "version",
                WARN,
                f"Meilisearch {shown} shows the model facet values of every document, ignoring"
                f" {what}: values from other tenants can leak into answers",
                "upgrade Meilisearch to 1.48.3 or later",
            )
        )
    return checks


def _token_filters(token: str | None) -> bool:
    """Whether `token` is a tenant token whose search rules hold a filter."""
    claims = _jwt_claims(token)
    rules = claims.get("searchRules") if claims else None
    if isinstance(rules, dict):
        return any(isinstance(rule, dict) and rule.get("filter") for rule in rules.values())
    return False


def _scoped_chat_keys(run: _Run) -> bool:
    """Whether some key that can chat is limited to some indexes (a tenant-token parent);
    False when the keys cannot be listed."""
    try:
        keys = admin.list_keys(run.admin)
    except MeilichatError:
        return False
    return any(
        admin.can_chat(admin.key_actions(key)) and admin.key_indexes(key) != ["*"] for key in keys
    )


def _jwt_claims(token: str | None) -> dict[str, Any] | None:
    if token is None or token.count(".") != 2:
        return None
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, TypeError):
        return None
    return claims if isinstance(claims, dict) else None


def _check_feature(run: _Run) -> list[Check]:
    try:
        enabled = admin.chat_feature_enabled(run.admin)
    except AuthError:
        return [
            Check("feature", SKIP, "the key may not read /experimental-features", ADMIN_KEY_FIX)
        ]
    except MeilichatError as error:
        return [_failure("feature", error)]
    run.findings.feature_enabled = enabled
    run.findings.admin_access = True
    if not enabled:
        return [
            Check(
                "feature",
                FAIL,
                "the experimental feature `chatCompletions` is disabled",
                "run `meilichat doctor --fix` (sends PATCH /experimental-features"
                ' {"chatCompletions": true})',
            )
        ]
    return [Check("feature", OK, "`chatCompletions` is enabled")]


def _check_key(run: _Run) -> list[Check]:
    findings, who = run.findings, run.target.who
    create_fix = _create_key_fix(run.target)
    if run.key is None:
        return [_check_missing_key(run, create_fix)]
    if run.target.admin_key is not None and run.key == run.target.admin_key:
        findings.key_state = "ok"
        return [
            Check(
                "key",
                WARN,
                f"{who} uses the admin key itself; a chat client should not hold it",
                create_fix,
            )
        ]
    try:
        keys = admin.list_keys(run.admin)
    except AuthError as error:
        if error.code == "missing_master_key":
            findings.key_state = "ok"
            return [Check("key", WARN, error.message, error.hint)]
        return [
            Check(
                "key",
                SKIP,
                "cannot see the key's actions without an admin key (the test completion"
                " below tries the key)",
                ADMIN_KEY_FIX,
            )
        ]
    except MeilichatError as error:
        return [_failure("key", error)]
    view = admin.find_key(keys, run.key) or _tenant_token_parent(keys, run.key)
    if view is None:
        if run.target.admin_key is None:
            # The profile's own key could list every key yet is not one of them: the master key.
            findings.key_state = "ok"
            return [
                Check(
                    "key",
                    WARN,
                    f"{who} uses the master key; a chat client should not hold it",
                    create_fix,
                )
            ]
        findings.key_state = "unknown"
        return [
            Check(
                "key",
                FAIL,
                f"the server does not know the key of {who} (deleted, or from another server)",
                create_fix,
                int(ExitCode.AUTH),
            )
        ]
    name = str(view.get("name") or view.get("uid") or "?")
    actions = admin.key_actions(view)
    findings.key_indexes = admin.key_indexes(view)
    if admin.key_expired(view):
        findings.key_state = "expired"
        return [
            Check(
                "key",
                FAIL,
                f"key '{name}' expired at {view.get('expiresAt')}",
                create_fix,
                int(ExitCode.AUTH),
            )
        ]
    missing = [action for action in admin.CHAT_ACTIONS if not action_granted(actions, action)]
    if missing:
        findings.key_state = "lacks_actions"
        return [
            Check(
                "key",
                FAIL,
                f"key '{name}' lacks {' and '.join(f'`{a}`' for a in missing)}",
                create_fix,
                int(ExitCode.AUTH),
            )
        ]
    findings.key_state = "ok"
    scope = ", ".join(findings.key_indexes) or "no index"
    powers = admin.admin_powers(actions)
    if powers is not None:
        return [
            Check(
                "key",
                WARN,
                f"key '{name}' can chat, but {powers}; a chat client should not hold it",
                create_fix,
            )
        ]
    return [Check("key", OK, f"key '{name}' holds chatCompletions and search (indexes: {scope})")]


def _check_missing_key(run: _Run, create_fix: str) -> Check:
    # Without a master key, Meilisearch accepts anything: the placeholder token reads /version.
    try:
        admin.version(run.chat)
    except AuthError:
        run.findings.key_state = "missing"
        return Check(
            "key", FAIL, f"no API key for {run.target.who}", create_fix, int(ExitCode.AUTH)
        )
    except MeilichatError as error:
        return _failure("key", error)
    run.findings.key_state = "ok"
    return Check(
        "key",
        WARN,
        "the server has no master key: anyone who can reach it may use and change it",
        "start Meilisearch with --master-key",
    )


def _create_key_fix(target: Target) -> str:
    profile = target.connection.profile
    # No profile, or one whose stored key is not what this connection sends (--url
    # elsewhere, a key from the environment): saving into it would be refused. A new
    # profile for this server takes it.
    where = f" --profile {profile}" if profile and target.key_storable else " --profile NAME"
    return f"run `meilichat key create --save{where}` (a key with only chatCompletions + search)"


def _tenant_token_parent(keys: Sequence[dict[str, Any]], token: str) -> dict[str, Any] | None:
    """A tenant token is a JWT naming its parent key's uid; its rights are the parent's."""
    claims = _jwt_claims(token)
    uid = claims.get("apiKeyUid") if claims else None
    if not isinstance(uid, str):
        return None
    return next((key for key in keys if key.get("uid") == uid), None)


def _check_workspace(run: _Run) -> list[Check]:
    findings = run.findings
    workspace = findings.workspace
    if workspace is None:
        return [
            Check(
                "workspace",
                FAIL,
                "no workspace configured",
                "pass -w WORKSPACE, set MEILICHAT_WORKSPACE, or set one on the profile",
                int(ExitCode.USAGE),
            )
        ]
    if findings.feature_enabled is False:
        return [Check("workspace", SKIP, "needs `chatCompletions` enabled")]
    try:
        settings = admin.workspace_settings_or_none(run.admin, workspace)
    except AuthError:
        return [Check("workspace", SKIP, "the key may not read workspace settings", ADMIN_KEY_FIX)]
    except MeilichatError as error:
        return [_failure("workspace", error)]
    set_fix = (
        "run `meilichat doctor --fix`, or `meilichat workspace set"
        f" {workspace} --source openAi --prompt-provider-key`"
    )
    if settings is None:
        findings.workspace_state = "missing"
        return [
            Check(
                "workspace",
                FAIL,
                f"workspace '{workspace}' does not exist",
                set_fix,
                int(ExitCode.NOT_FOUND),
            )
        ]
    findings.workspace_settings = settings
    source = settings.get("source") or "openAi"
    if settings.get("apiKey") is None:
        if source == "vLlm":  # a local vLLM server often needs no key
            findings.workspace_state = "ok"
            return [
                Check(
                    "workspace",
                    WARN,
                    f"workspace '{workspace}' (vLlm at {settings.get('baseUrl')}) has no"
                    " provider key; fine if your vLLM server needs none",
                )
            ]
        findings.workspace_state = "no_provider_key"
        return [
            Check(
                "workspace",
                FAIL,
                f"workspace '{workspace}' (source {source}) has no provider API key",
                f"run `meilichat doctor --fix`, or `meilichat workspace set {workspace}"
                " --prompt-provider-key`",
            )
        ]
    try:
        admin.check_source_requirements(settings)
    except UsageError as error:
        findings.workspace_state = "ok"
        return [Check("workspace", FAIL, error.message, error.hint)]
    findings.workspace_state = "ok"
    return [
        Check(
            "workspace",
            OK,
            f"workspace '{workspace}' uses {source} with provider key {settings.get('apiKey')}",
        )
    ]


def _check_indexes(run: _Run) -> list[Check]:
    try:
        indexes = admin.list_indexes(run.admin)
    except AuthError:
        return [Check("indexes", SKIP, "the key may not list indexes", ADMIN_KEY_FIX)]
    except MeilichatError as error:
        return [_failure("indexes", error)]
    uids = [str(item["uid"]) for item in indexes if isinstance(item.get("uid"), str)]
    patterns = run.findings.key_indexes
    if patterns is not None:
        uids = [uid for uid in uids if admin.index_allowed(patterns, uid)]
    if not uids:
        return [
            Check(
                "indexes",
                WARN,
                "no index is visible to the key: the model has nothing to search",
                "add documents to an index (and give the key access to it)",
            )
        ]
    checks = [_check_index(run, uid) for uid in uids[:MAX_INDEXES_CHECKED]]
    if len(uids) > MAX_INDEXES_CHECKED:
        checks.append(
            Check(
                "indexes",
                SKIP,
                f"{len(uids) - MAX_INDEXES_CHECKED} more indexes not checked",
                "check one with `meilichat index chat-settings INDEX --preview`",
            )
        )
    return checks


def _check_index(run: _Run, uid: str) -> Check:
    name = f"index {uid}"
    try:
        settings = admin.index_chat_settings(run.admin, uid)
    except AuthError:
        return Check(name, SKIP, "the key may not read index settings", ADMIN_KEY_FIX)
    except MeilichatError as error:
        return _failure(name, error)
    problems: list[tuple[str, str, str]] = []  # (status, detail, fix)
    describe = f'meilichat index chat-settings {uid} --description "what this index holds"'
    if not str(settings.get("description") or "").strip():
        problems.append(
            (WARN, "no chat description (the model sees only the index name)", describe)
        )
    problems.extend(_template_problems(run, uid, settings))
    if not problems:
        return Check(name, OK, "has a description and a template that renders text")
    worst = FAIL if any(status == FAIL for status, _, _ in problems) else WARN
    detail = "; ".join(text for _, text, _ in problems)
    fixes = " ; ".join(dict.fromkeys(fix for _, _, fix in problems))
    return Check(name, worst, detail, fixes)


def _template_problems(run: _Run, uid: str, settings: dict[str, Any]) -> list[tuple[str, str, str]]:
    preview_fix = f"meilichat index chat-settings {uid} --template-file FILE --preview"
    try:
        docs = admin.documents(run.admin, uid, SAMPLE_DOCUMENTS)
    except AuthError:
        return [(WARN, "cannot read documents to try the template", ADMIN_KEY_FIX)]
    except NotFoundError as error:
        return [(WARN, error.message, preview_fix)]
    except MeilichatError as error:
        return [(WARN, f"cannot read documents: {error.message}", preview_fix)]
    if not docs:
        return [(WARN, "the index has no documents", "add documents to the index")]
    searchable = admin.searchable_attributes(run.admin, uid)
    try:
        texts = admin.render_previews(settings, docs, searchable)
    except TemplateError as error:
        # The preview renderer knows a Liquid subset: the server may still accept it.
        return [(WARN, f"cannot preview the template: {error.message}", preview_fix)]
    empty = sum(1 for text in texts if not text.strip())
    if empty == len(texts):
        return [
            (
                FAIL,
                f"the template renders no text for {empty} sample documents: the model sees"
                " nothing",
                preview_fix,
            )
        ]
    if empty:
        return [
            (WARN, f"the template renders no text for {empty} of {len(texts)} samples", preview_fix)
        ]
    return []


def _check_completion(run: _Run) -> list[Check]:
    findings = run.findings
    if not run.target.run_completion:
        return [Check("completion", SKIP, "skipped (--no-completion)")]
    blocked = (
        "`chatCompletions` is disabled"
        if findings.feature_enabled is False
        else "the workspace is not ready"
        if findings.workspace_state in ("missing", "no_provider_key") or findings.workspace is None
        else "the profile has no key"
        if findings.key_state == "missing"
        else None
    )
    if blocked is not None:
        return [Check("completion", SKIP, f"not tried: {blocked}")]
    from meilichat_cli.api.metrics import change_text, chat_token_counters, counter_change
    from meilichat_cli.chat.turn import run_turn

    assert findings.workspace is not None
    counters_before = chat_token_counters(run.admin, findings.workspace)
    try:
        outcome = run_turn(
            run.chat,
            workspace=findings.workspace,
            model=run.target.connection.model,
            history=[],
            new_messages=[{"role": "user", "content": TEST_PROMPT}],
            on_event=lambda _event: None,
        )
    except MeilichatError as error:  # refused before the stream started
        if error.code == "feature_not_enabled":
            findings.feature_enabled = False
        return [_failure("completion", error)]
    if outcome.error is not None:
        return [_failure("completion", outcome.error)]
    turn = outcome.turn
    total = outcome.timings.get("total_ms")
    took = f" in {total:.0f} ms" if isinstance(total, (int, float)) else ""
    searches = len(turn.searches)
    server_tokens = ""
    counters_after = chat_token_counters(run.admin, findings.workspace)
    if counters_before is not None and counters_after is not None:
        change = counter_change(counters_before, counters_after)
        server_tokens = f"; the server counted {change_text(change)}"
    if not turn.answer.strip():
        return [
            Check(
                "completion",
                WARN,
                f"the test completion ({run.target.connection.model}) finished with an empty"
                " answer",
            )
        ]
    return [
        Check(
            "completion",
            OK,
            f"model {run.target.connection.model} answered{took}"
            f" ({searches} search{'es' if searches != 1 else ''})" + server_tokens,
        )
    ]


# -- the fix plan -------------------------------------------------------------------------


ENABLE_FEATURE = "enable_feature"
CONFIGURE_WORKSPACE = "configure_workspace"
CREATE_CHAT_KEY = "create_chat_key"


@dataclass(frozen=True)
class FixStep:
    kind: str
    description: str
    needs_provider_key: bool = False


@dataclass(frozen=True)
class FixInputs:
    """What the user gave for the fixes: the provider key (when a step needs it), the source
    and base URL of a new workspace, and how to store a new chat key for the profile."""

    provider_key: str | None = None
    source: str = "openAi"
    base_url: str | None = None
    store_key: Callable[[str], str] | None = None  # stores a key, returns where


def plan_fixes(report: Report, target: Target, inputs: FixInputs) -> list[FixStep]:
    """The changes `--fix` would make, in the order it makes them; never more than the
    failures it can repair."""
    findings = report.findings
    steps: list[FixStep] = []
    if findings.feature_enabled is False:
        steps.append(
            FixStep(
                ENABLE_FEATURE,
                "enable the experimental feature `chatCompletions` (PATCH /experimental-features)",
            )
        )
    workspace = findings.workspace
    if workspace is not None and (
        findings.workspace_state in ("missing", "no_provider_key")
        or (findings.feature_enabled is False and findings.workspace_state is None)
    ):
        steps.append(_workspace_step(findings, workspace, inputs))
    if (
        findings.key_state in ("missing", "unknown", "expired", "lacks_actions")
        and target.connection.profile is not None
        and inputs.store_key is not None
    ):
        steps.append(
            FixStep(
                CREATE_CHAT_KEY,
                "create an API key with only `chatCompletions` and `search` (all indexes)"
                f" and store it for profile '{target.connection.profile}'",
            )
        )
    return steps


def _workspace_step(findings: Findings, workspace: str, inputs: FixInputs) -> FixStep:
    if findings.workspace_state == "no_provider_key":
        return FixStep(
            CONFIGURE_WORKSPACE,
            f"set the provider API key of workspace '{workspace}' (the key you give)",
            needs_provider_key=True,
        )
    base = f", base URL {inputs.base_url}" if inputs.base_url else ""
    condition = "" if findings.workspace_state == "missing" else ", unless it already has one"
    return FixStep(
        CONFIGURE_WORKSPACE,
        f"create workspace '{workspace}' (source {inputs.source}{base}) with the provider API"
        f" key you give{condition}",
        needs_provider_key=True,
    )


def check_fix_inputs(steps: Sequence[FixStep], findings: Findings, inputs: FixInputs) -> None:
    """Refuse before anything changes when a step could not succeed."""
    for step in steps:
        if step.kind != CONFIGURE_WORKSPACE:
            continue
        if not inputs.provider_key:
            raise UsageError(
                "the workspace fix needs the LLM provider's API key",
                hint="pass --provider-key-stdin (or --prompt-provider-key on a terminal)",
            )
        admin.refuse_masked_key(inputs.provider_key)
        current = findings.workspace_settings
        admin.check_source_requirements(
            admin.merge_workspace_settings(current, _workspace_changes(current, inputs))
        )


def _workspace_changes(current: dict[str, Any] | None, inputs: FixInputs) -> dict[str, Any]:
    changes: dict[str, Any] = {"apiKey": inputs.provider_key}
    if current is None:
        changes["source"] = inputs.source
        if inputs.base_url:
            changes["baseUrl"] = inputs.base_url
    return changes


def apply_fix(
    step: FixStep, admin_client: MeiliClient, findings: Findings, inputs: FixInputs
) -> str:
    """Make one change; returns a line saying what was done."""
    if step.kind == ENABLE_FEATURE:
        admin.enable_chat_feature(admin_client)
        return "enabled `chatCompletions`"
    if step.kind == CONFIGURE_WORKSPACE:
        workspace = findings.workspace
        assert workspace is not None
        # The feature may have been off when the checks ran: look again now that it is on.
        current = admin.workspace_settings_or_none(admin_client, workspace)
        if current is not None and current.get("apiKey") is not None:
            return f"workspace '{workspace}' already has a provider key; left unchanged"
        settings = admin.update_workspace(
            admin_client, workspace, _workspace_changes(current, inputs)
        )
        return (
            f"workspace '{workspace}' now uses {settings.get('source')} with provider"
            f" key {settings.get('apiKey')}"
        )
    if step.kind == CREATE_CHAT_KEY:
        assert inputs.store_key is not None
        created = admin.create_key(
            admin_client,
            actions=admin.CHAT_ACTIONS,
            indexes=["*"],
            expires_at=None,
            name="meilichat chat key",
            description="Created by `meilichat doctor --fix`",
        )
        where = inputs.store_key(str(created["key"]))
        return f"created key {created.get('uid')} and stored it in {where}"
    raise ValueError(f"unknown fix step {step.kind!r}")
