"""Before signing a tenant token: what can be checked on the server, said plainly.

With a key that may read `/keys` (an admin or master key): that the parent key exists, that
the token's `apiKeyUid` is its uid, that it holds `search` and `chatCompletions` and has not
expired, that it may reach the indexes of the rules. With a key that may read `/indexes` and
their settings: that each index pattern matches an index, and that each filter compares only
filterable attributes. What cannot be read is listed as skipped, never guessed.

Imports api, tenancy and errors; never prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meilichat_cli.errors import AuthError, MeilichatError, UsageError
from meilichat_cli.protocol.actions import action_granted
from meilichat_cli.tenancy import rules as search_rules

if TYPE_CHECKING:
    from meilichat_cli.api.client import MeiliClient

PARENT_ACTIONS = ("search", "chatCompletions")
CREATE_PARENT_HINT = (
    "create a parent key that holds both: MEILI_MASTER_KEY=… meilichat key create"
    " --actions chatCompletions,search --save"
)


@dataclass(frozen=True)
class Problem:
    """One thing that would make the token fail, and its fix."""

    message: str
    hint: str
    error: type[MeilichatError] = UsageError

    def raise_it(self, more: int = 0) -> None:
        extra = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise self.error(self.message + extra, hint=self.hint)


@dataclass
class ParentCheck:
    uid: str | None = None  # the parent key's uid, when found
    name: str | None = None
    checked: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "parentUid": self.uid,
            "parentName": self.name,
            "checked": self.checked,
            "skipped": self.skipped,
            "problems": [{"message": p.message, "hint": p.hint} for p in self.problems],
        }


def check_parent(
    client: MeiliClient,
    *,
    parent_key: str,
    given_uid: str | None,
    rules: search_rules.SearchRules,
) -> ParentCheck:
    """Check what the key of `client` may read; see the module docstring."""
    from meilichat_cli.api import admin

    report = ParentCheck()
    key = _read(report, "the parent key (needs `keys.get`)", lambda: admin.list_keys(client))
    parent_indexes: list[str] | None = None
    if key is not None:
        found = admin.find_key(key, parent_key)
        _check_key(report, found, given_uid, key)
        if found is not None:
            parent_indexes = admin.key_indexes(found)
    indexes = _read(
        report, "the index patterns (needs `indexes.get`)", lambda: admin.list_indexes(client)
    )
    if indexes is not None:
        uids = [str(index.get("uid")) for index in indexes]
        report.checked.append("index patterns")
        for pattern, rule in rules.items():
            matched = [uid for uid in uids if search_rules.pattern_matches(pattern, uid)]
            if not matched:
                report.problems.append(
                    Problem(
                        f"no index matches {pattern!r} on this server"
                        f" (indexes: {', '.join(uids) or 'none'})",
                        "check the index uid; a token for a missing index searches nothing",
                    )
                )
                continue
            if parent_indexes is not None:
                unreachable = [u for u in matched if not admin.index_allowed(parent_indexes, u)]
                if unreachable:
                    report.problems.append(
                        Problem(
                            f"the parent key may not search {', '.join(unreachable)}"
                            f" (its indexes: {', '.join(parent_indexes)})",
                            "sign with a key whose indexes include them",
                            AuthError,
                        )
                    )
            expression = rule.get("filter") if isinstance(rule, dict) else None
            if expression is not None:
                for uid in matched:
                    _check_filter(report, client, uid, expression)
    return report


def _read(report: ParentCheck, what: str, read: Callable[[], Any]) -> Any:
    try:
        return read()
    except (AuthError, MeilichatError) as error:
        if isinstance(error, AuthError) or error.http_status in (401, 403):
            report.skipped.append(f"{what}: not readable with this key")
            return None
        raise


def _check_key(
    report: ParentCheck, found: Any, given_uid: str | None, keys: list[dict[str, Any]]
) -> None:
    from meilichat_cli.api import admin

    report.checked.append("parent key")
    if found is None:
        report.problems.append(
            Problem(
                "the parent key is not an API key of this server (a master key cannot sign"
                " tenant tokens)",
                CREATE_PARENT_HINT,
                AuthError,
            )
        )
        return
    report.uid = str(found.get("uid"))
    report.name = found.get("name") if isinstance(found.get("name"), str) else None
    if given_uid is not None and given_uid != report.uid:
        owner = admin.find_key(keys, given_uid)
        what = (
            f"the uid of another key ({owner.get('name') or 'unnamed'})"
            if owner is not None
            else "the uid of no key on this server"
        )
        report.problems.append(
            Problem(
                f"wrong apiKeyUid: {given_uid} is {what}; the key that signs has uid {report.uid}",
                f"pass --parent-uid {report.uid}, or drop --parent-uid to look it up",
                AuthError,
            )
        )
    actions = admin.key_actions(found)
    missing = [a for a in PARENT_ACTIONS if not action_granted(actions, a)]
    label = f"the parent key {report.name!r}" if report.name else "the parent key"
    if missing:
        consequence = (
            "the chat route refuses its tokens (403)"
            if "chatCompletions" in missing
            else "every search the model runs with its tokens is refused"
        )
        report.problems.append(
            Problem(
                f"{label} lacks {' and '.join(f'`{a}`' for a in missing)}: {consequence}",
                CREATE_PARENT_HINT,
                AuthError,
            )
        )
    if admin.key_expired(found):
        report.problems.append(
            Problem(
                f"{label} expired at {found.get('expiresAt')}; its tokens are refused",
                CREATE_PARENT_HINT,
                AuthError,
            )
        )


def _check_filter(report: ParentCheck, client: MeiliClient, uid: str, expression: Any) -> None:
    attributes = search_rules.filter_attributes(expression)
    if not attributes:
        return
    try:
        settings = client.request_json("GET", f"/indexes/{uid}/settings")
    except MeilichatError as error:
        if error.http_status in (401, 403):
            report.skipped.append(f"the filter on {uid} (needs `settings.get`)")
            return
        raise
    raw = settings.get("filterableAttributes") if isinstance(settings, dict) else None
    if not isinstance(raw, list):
        report.skipped.append(f"the filter on {uid} (no filterableAttributes in its settings)")
        return
    filterable = _filterable_names(raw)
    report.checked.append(f"filter attributes on {uid}")
    unknown = [a for a in attributes if not _covered(a, filterable)]
    if unknown:
        report.problems.append(
            Problem(
                f"the filter on {uid} uses {', '.join(unknown)}, which "
                f"{'is' if len(unknown) == 1 else 'are'} not filterable there (filterable:"
                f" {', '.join(filterable) or 'none'}); every search would fail",
                f"add {unknown[0]!r} to the filterableAttributes of {uid}, or change the filter",
            )
        )


def _filterable_names(raw: list[Any]) -> list[str]:
    names: list[str] = []
    for item in raw:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, dict):  # {"attributePatterns": [...], "features": {...}}
            patterns = item.get("attributePatterns")
            if isinstance(patterns, list):
                names.extend(p for p in patterns if isinstance(p, str))
    return names


def _covered(attribute: str, filterable: list[str]) -> bool:
    for name in filterable:
        if name in ("*", attribute) or attribute.startswith(name + "."):
            return True
        if name.endswith("*") and attribute.startswith(name[:-1]):
            return True
        if name.startswith("*") and attribute.endswith(name[1:]):
            return True
    return False
