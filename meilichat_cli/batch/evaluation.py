"""Retrieval evaluation: did an answer's searches return the documents it should rest on?

Meilisearch reports the documents every search returned (`_meiliSearchSources`), so a question
that lists the primary keys a good answer needs (`expect`) can be scored:

* `hit`: at least one expected document is among the sources;
* `recall`: the fraction of expected documents found;
* `first_hit_rank`: the 1-based rank of the first expected document in the sources of all
  searches taken in order, each document counted once (a document two searches returned keeps
  its first rank); null when none was found;
* `missing`: the expected documents that were not found, as given.

A document is identified by its index and its primary key value, compared as text (`7` and
`"7"` are the same key). An expectation without an index (`7`) matches that key in any index;
`movies:7` only in `movies`. Sources are restricted to an index's displayed attributes, so the
primary key field must be displayed; its name is `id` unless `PrimaryKeys` says otherwise.

Pure functions over the `--json` result's `searches`; stdlib only, no I/O; imports
`question_input` for the expectation type.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from meilichat_cli.chat.question import Expected
from meilichat_cli.errors import UsageError

DEFAULT_PRIMARY_KEY = "id"

DocumentRef = tuple[str | None, str]  # (index uid, primary key value as text)


@dataclass(frozen=True)
class PrimaryKeys:
    """The primary key field of each index: `default` unless an index is named in `by_index`."""

    default: str = DEFAULT_PRIMARY_KEY
    by_index: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, specs: Iterable[str]) -> PrimaryKeys:
        """From `--primary-key` values: `FIELD` (every index) or `INDEX:FIELD`."""
        default = DEFAULT_PRIMARY_KEY
        by_index: dict[str, str] = {}
        for spec in specs:
            index_uid, colon, name = spec.partition(":")
            if colon:
                if not index_uid or not name:
                    raise UsageError(f"--primary-key {spec!r}: use FIELD or INDEX:FIELD")
                by_index[index_uid] = name
            elif spec:
                default = spec
            else:
                raise UsageError("--primary-key needs a field name")
        return cls(default, by_index)

    def field_for(self, index_uid: str | None) -> str:
        if index_uid is not None and index_uid in self.by_index:
            return self.by_index[index_uid]
        return self.default


def ranked_documents(searches: Sequence[dict[str, Any]], keys: PrimaryKeys) -> list[DocumentRef]:
    """Every distinct document the searches returned, in order of first appearance."""
    ranked: list[DocumentRef] = []
    seen: set[DocumentRef] = set()
    for search in searches:
        index_uid = search.get("index_uid")
        if not isinstance(index_uid, str):
            index_uid = None
        name = keys.field_for(index_uid)
        for document in search.get("sources") or []:
            if not isinstance(document, dict):
                continue
            value = document.get(name)
            # Meilisearch primary keys are integers or strings; anything else identifies nothing.
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                continue
            ref = (index_uid, str(value))
            if ref not in seen:
                seen.add(ref)
                ranked.append(ref)
    return ranked


def matches(expected: Expected, ref: DocumentRef) -> bool:
    index_uid, key = ref
    return expected.key == key and expected.index_uid in (None, index_uid)


def evaluate(
    searches: Sequence[dict[str, Any]], expect: Sequence[Expected], keys: PrimaryKeys
) -> dict[str, Any]:
    """`hit`, `recall`, `first_hit_rank` and `missing` for one answer."""
    ranked = ranked_documents(searches, keys)
    found = [e for e in expect if any(matches(e, ref) for ref in ranked)]
    first_hit_rank = next(
        (rank for rank, ref in enumerate(ranked, start=1) if any(matches(e, ref) for e in expect)),
        None,
    )
    recall = len(found) / len(expect) if expect else 0.0
    return {
        "hit": bool(found),
        "recall": round(recall, 4),
        "first_hit_rank": first_hit_rank,
        "missing": [str(e) for e in expect if e not in found],
    }


# An answer cites a document by writing its id: "id 16", "(id: 16)", "ID #16", "[id=abc-1]".
_CITATION = re.compile(r"\bid\s*[:#=]?\s*([A-Za-z0-9][\w-]*)", re.IGNORECASE)


def cited_ids(answer: str) -> list[str]:
    """The document ids the answer cites (see _CITATION), each once, in order."""
    found: list[str] = []
    for match in _CITATION.finditer(answer):
        key = match.group(1)
        if key not in found:
            found.append(key)
    return found


def grounding(
    result: dict[str, Any], keys: PrimaryKeys, expect_index: Sequence[str] | None
) -> dict[str, Any]:
    """The figures every batch line gets (no `expect` needed):

    * `cited`: ids the answer cites, and `cited_found`: the share of them among the sources
      (null when it cites none) — an answer citing ids it was never given made them up;
    * `filters` / `valid_filters`: searches with a filter, and how many of them Meilisearch
      accepted (each `invalid_search_filter` error is one rejected filter);
    * with `expect_index`: `routed`, every search went to one of the expected indexes (false
      when nothing was searched)."""
    searches = result.get("searches") or []
    returned = {key for _index, key in ranked_documents(searches, keys)}
    cited = cited_ids(str(result.get("answer") or ""))
    found = [key for key in cited if key in returned]
    filtered = sum(1 for search in searches if search.get("filter"))
    rejected = sum(
        1 for error in result.get("errors") or [] if error.get("code") == "invalid_search_filter"
    )
    figures: dict[str, Any] = {
        "cited": cited,
        "cited_found": round(len(found) / len(cited), 4) if cited else None,
        "filters": filtered,
        "valid_filters": max(filtered - rejected, 0),
    }
    if expect_index is not None:
        indexes = [search.get("index_uid") for search in searches]
        figures["routed"] = bool(indexes) and all(uid in expect_index for uid in indexes)
    return figures
