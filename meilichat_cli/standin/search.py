"""The bundled indexes and a small search engine over them (SQLite FTS5, in memory).

Each `data/<uid>.json` holds one index: its uid, primary key, searchable/filterable/sortable
attributes, the chat settings a well-run index would have, and its documents; `onlyWhenNamed`
marks an index the scripted model searches only when a question names it (the multi-tenant
`tickets`). At start the documents go into one FTS5 table per index (a few milliseconds).

Ranking mimics Meilisearch closely enough for a demo: every query word must match (the last
one as a prefix), and with the default `last` matching strategy words are dropped from the end
until something matches; hits are ordered by BM25 with earlier searchable attributes weighing
more. An empty query returns every document in stored order. Filters come from `filters.py`.

Stdlib only (sqlite3, json); imports `server.filters`.
"""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meilichat_cli.standin.filters import compile_filter

DATA_DIR = Path(__file__).with_name("data")
_WORD_RE = re.compile(r"\w+", re.UNICODE)


@dataclass
class IndexData:
    """One bundled index as loaded from its JSON file."""

    uid: str
    primary_key: str
    searchable: list[str]
    filterable: list[str]
    sortable: list[str]
    chat: dict[str, Any]
    documents: list[dict[str, Any]]
    by_id: dict[Any, dict[str, Any]] = field(default_factory=dict)
    # Searched only when a question names it (the multi-tenant tickets), not when unsure.
    only_when_named: bool = False


@dataclass
class SearchResult:
    hits: list[dict[str, Any]]
    estimated_total: int
    query: str


def load_datasets(directory: Path = DATA_DIR) -> dict[str, IndexData]:
    """Every bundled index, keyed by uid, in uid order."""
    indexes: dict[str, IndexData] = {}
    for path in sorted(directory.glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        data = IndexData(
            uid=raw["uid"],
            primary_key=raw["primaryKey"],
            searchable=list(raw["searchableAttributes"]),
            filterable=list(raw["filterableAttributes"]),
            sortable=list(raw.get("sortableAttributes", [])),
            chat=raw["chat"],
            documents=raw["documents"],
            only_when_named=bool(raw.get("onlyWhenNamed", False)),
        )
        data.by_id = {doc[data.primary_key]: doc for doc in data.documents}
        indexes[data.uid] = data
    return indexes


def query_words(q: str) -> list[str]:
    return [word.lower() for word in _WORD_RE.findall(q)]


def _flatten(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(_flatten(item) for item in value)
    if isinstance(value, dict):
        return " ".join(_flatten(item) for item in value.values())
    return "" if value is None else str(value)


class SearchEngine:
    """Full-text search over the bundled indexes; safe to share between threads."""

    def __init__(self, indexes: dict[str, IndexData]) -> None:
        self.indexes = indexes
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        for number, data in enumerate(indexes.values()):
            table = f"fts_{number}"
            columns = ", ".join(f"c{i}" for i in range(len(data.searchable)))
            self._db.execute(
                f"CREATE VIRTUAL TABLE {table} USING fts5({columns}, "
                "tokenize='unicode61 remove_diacritics 2')"
            )
            rows = [
                (rowid, *(_flatten(doc.get(attr)) for attr in data.searchable))
                for rowid, doc in enumerate(data.documents)
            ]
            marks = ", ".join("?" * (len(data.searchable) + 1))
            # Table and column names are generated here, never taken from a request.
            insert = f"INSERT INTO {table}(rowid, {columns}) VALUES ({marks})"  # noqa: S608
            self._db.executemany(insert, rows)
        self._tables = {uid: f"fts_{n}" for n, uid in enumerate(indexes)}
        self._vocabulary: dict[str, frozenset[str]] = {}
        for uid, table in self._tables.items():
            self._db.execute(f"CREATE VIRTUAL TABLE {table}_terms USING fts5vocab({table}, 'row')")
            terms = self._db.execute(f"SELECT term FROM {table}_terms").fetchall()  # noqa: S608
            self._vocabulary[uid] = frozenset(row[0] for row in terms)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _matching_rows(self, uid: str, words: list[str], strategy: str) -> list[int]:
        if uid not in self._tables:  # created after start-up by a settings task: empty
            return []
        data = self.indexes[uid]
        table = self._tables[uid]
        # Earlier searchable attributes weigh more (Meilisearch's attribute ranking rule).
        weights = ", ".join(str(max(10 - 3 * i, 1)) for i in range(len(data.searchable)))
        attempts = [words] if strategy == "all" else [words[:n] for n in range(len(words), 0, -1)]
        vocabulary = self._vocabulary[uid]
        for attempt in attempts:
            last = len(attempt) - 1
            found: list[int] = []
            # Exact (and prefix/stem) matches rank before typo matches: the `typo` rule.
            for typos in (False, True):
                groups = [
                    _term_group(w, vocabulary, prefix=n == last, typos=typos)
                    for n, w in enumerate(attempt)
                ]
                with self._lock:
                    rows = self._db.execute(
                        f"SELECT rowid FROM {table} WHERE {table} MATCH ? "  # noqa: S608
                        f"ORDER BY bm25({table}, {weights}), rowid",
                        (" AND ".join(groups),),
                    ).fetchall()
                found += [row[0] for row in rows if row[0] not in found]
            if found:
                return found
        return []

    def search(
        self,
        uid: str,
        q: str,
        *,
        filter_expr: str | None = None,
        extra_filter: str | None = None,
        limit: int = 20,
        offset: int = 0,
        sort: list[str] | None = None,
        matching_strategy: str = "last",
    ) -> SearchResult:
        """Search one index. Raises FilterSyntaxError / FilterAttributeError for bad filters."""
        data = self.indexes[uid]
        predicates = [
            compile_filter(expr, data.filterable, uid)
            for expr in (filter_expr, extra_filter)
            if expr
        ]
        words = query_words(q)
        if words:
            docs = [
                data.documents[row] for row in self._matching_rows(uid, words, matching_strategy)
            ]
        else:
            docs = list(data.documents)
        docs = [doc for doc in docs if all(p(doc) for p in predicates)]
        for rule in reversed(sort or []):
            attribute, _, direction = rule.partition(":")
            docs.sort(key=_sort_key(attribute), reverse=direction == "desc")
        return SearchResult(hits=docs[offset : offset + limit], estimated_total=len(docs), query=q)


# Meilisearch's default ranking rules, in order (`sort` takes effect only with a `sort` param).
RANKING_RULES = ("words", "typo", "proximity", "attribute", "sort", "exactness")


def ranking_details(
    data: IndexData, doc: dict[str, Any], q: str, sort: list[str] | None = None
) -> dict[str, Any]:
    """`_rankingScoreDetails` for one hit, shaped like Meilisearch's (score_details.rs):
    `words`, `typo`, `proximity`, `attribute`, the sort rules, `exactness`, each with its
    `order`. The numbers are the stand-in's own approximation of each rule."""
    words = query_words(q)
    fields = [_fold(_flatten(doc.get(attr))) for attr in data.searchable]
    terms = [_WORD_RE.findall(text) for text in fields]
    flat = [term for field_terms in terms for term in field_terms]
    details: dict[str, Any] = {}
    order = 0
    if words:
        folded = [_fold(w) for w in words]

        def matches(word: str, last: bool) -> bool:
            return any(t == word or (last and t.startswith(word)) for t in flat)

        matching = sum(matches(w, n == len(folded) - 1) for n, w in enumerate(folded))
        details["words"] = {
            "order": order,
            "matchingWords": matching,
            "maxMatchingWords": len(folded),
            "score": round(matching / len(folded), 6),
        }
        order += 1
        max_typos = min(len(folded), 2)
        exact = sum(any(t == w or t.startswith(w) for t in flat) for w in folded)
        typo_count = min(max(matching - exact, 0), max_typos)
        details["typo"] = {
            "order": order,
            "typoCount": typo_count,
            "maxTypoCount": max_typos,
            "score": round(1 - typo_count / (max_typos + 1), 6),
        }
        order += 1
        details["proximity"] = {"order": order, "score": _proximity(terms, folded)}
        order += 1
        first_field = next(
            (n for n, field_terms in enumerate(terms) if any(w in field_terms for w in folded)),
            len(terms),
        )
        field_score = 1 - first_field / (len(terms) + 1)
        position = min(
            (field_terms.index(w) for field_terms in terms for w in folded if w in field_terms),
            default=10,
        )
        position_score = round(1 / (1 + position / 4), 6)
        details["attribute"] = {
            "order": order,
            "attributeRankingOrderScore": round(field_score, 6),
            "queryWordDistanceScore": position_score,
            "score": round((field_score * 3 + position_score) / 4, 6),
        }
        order += 1
    for rule in sort or []:
        attribute, _, direction = rule.partition(":")
        details[f"{attribute}:{direction or 'asc'}"] = {
            "order": order,
            "value": doc.get(attribute),
        }
        order += 1
    if words:
        phrase = " ".join(_fold(w) for w in words)
        if any(text.strip() == phrase for text in fields):
            details["exactness"] = {"order": order, "matchType": "exactMatch", "score": 1.0}
        elif any(text.strip().startswith(phrase) for text in fields):
            details["exactness"] = {"order": order, "matchType": "matchesStart", "score": 0.5}
        else:
            exact_words = sum(any(t == _fold(w) for t in flat) for w in words)
            details["exactness"] = {
                "order": order,
                "matchType": "noExactMatch",
                "matchingWords": exact_words,
                "maxMatchingWords": len(words),
                "score": round(exact_words / len(words) / 3, 6),
            }
    return details


def ranking_score(details: dict[str, Any]) -> float:
    """`_rankingScore`: the rule scores combined, earlier rules weighing more (sort rules and
    an empty query count for nothing, as in Meilisearch, where a placeholder search scores 1)."""
    scored = sorted(
        (entry for entry in details.values() if "score" in entry), key=lambda e: e["order"]
    )
    if not scored:
        return 1.0
    weights = [0.5**n for n in range(len(scored))]
    total = sum(w * e["score"] for w, e in zip(weights, scored, strict=False))
    return float(round(total / sum(weights), 6))


def _proximity(terms: list[list[str]], words: list[str]) -> float:
    if len(words) < 2:
        return 1.0
    best = 8
    for field_terms in terms:
        positions = [[i for i, term in enumerate(field_terms) if term.startswith(w)] for w in words]
        for left, right in itertools.pairwise(positions):
            for a in left:
                for b in right:
                    best = min(best, abs(b - a))
    return round(1 - (max(best, 1) - 1) / 8, 6)


_SUFFIXES = (
    "ations",
    "ation",
    "ings",
    "ing",
    "ions",
    "ion",
    "ians",
    "ian",
    "ical",
    "ic",
    "ed",
    "es",
    "s",
    "al",
    "ly",
)


def _fold(word: str) -> str:
    """Lower-case without diacritics, as the FTS5 tokenizer stores terms."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _stem(word: str) -> str:
    """A crude suffix strip ("animated" -> "animat") used as an extra prefix term."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def _distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance, giving up (returning limit + 1) once it exceeds `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def _term_group(word: str, vocabulary: frozenset[str], *, prefix: bool, typos: bool) -> str:
    """An FTS5 OR-group for one query word: itself (a prefix when last), its stem as a
    prefix, and vocabulary terms within Meilisearch's typo budget (1 typo from 5 letters,
    2 from 9)."""
    folded = _fold(word)
    options = [f'"{folded}"*' if prefix else f'"{folded}"']
    stem = _stem(folded)
    if stem != folded:
        options.append(f'"{stem}"*')
    budget = 0 if len(folded) < 5 or not typos else 1 if len(folded) < 9 else 2
    if budget:
        options += [
            f'"{term}"'
            for term in sorted(vocabulary)
            if term != folded and _distance(folded, term, budget) <= budget
        ]
    return "(" + " OR ".join(options) + ")"


def _sort_key(attribute: str) -> Callable[[dict[str, Any]], tuple[bool, str, float]]:
    """Documents without the attribute go last; numbers before text."""

    def key(doc: dict[str, Any]) -> tuple[bool, str, float]:
        value = doc.get(attribute)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return (False, "", float(value))
        return (value is None, "" if value is None else str(value), 0.0)

    return key
