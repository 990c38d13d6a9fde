"""The bundled indexes and a small search engine over them (SQLite FTS5, in memory).

Each `data/<uid>.json` holds one index: its uid, primary key, searchable/filterable/sortable
attributes, the chat settings a well-run index would have, and its documents; `onlyWhenNamed`
marks an index the scripted model searches only when a question names it (the multi-tenant
`tickets`). At start the documents go into one FTS5 table per index (a few milliseconds).

Matching: every query word must match (itself, its crude stem as a prefix, a term within
the typo budget; the last one also as a prefix), and with the default `last` matching strategy
words are dropped from the end until something matches (Meilisearch would go on to return
documents matching fewer words after those; the stand-in stops at the first count that
matches). An empty query returns every document in stored order. Filters come from `filters.py`.

Ranking works as Meilisearch's bucket sort: each rule judges a hit with a rank from 1 (worst)
to a max rank (best), and hits are ordered by the rules one after the other — words (query
words kept), typo (typos used out of the words' budget), proximity (distance between
consecutive words in one attribute, 0 to 7 each), attribute (which searchable attribute each
word is first in, then how near its start, positions bucketed as Meilisearch stores them),
the request's `sort` rules, then exactness (an attribute that is the query or starts with it,
then how many words match exactly). FTS5's BM25 only breaks ties left by every rule.
`_rankingScore` is Meilisearch's composition of the ranks (sort rules excluded): each rule's
rank is a digit of a mixed-radix number, the first rule the most significant, divided by the
largest such number. A hit that wins on an earlier rule therefore always scores higher, and
without `sort` the scores never rise down the list. Word positions are counted as Meilisearch
counts them (8 across a clause-ending separator or into the next value of an array); the typo
budget and stems are approximations.

Stdlib only (sqlite3, json); imports `standin.filters` and nothing else of meilichat.
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
# Letters and digits, as the FTS5 unicode61 tokenizer splits words (underscore separates).
_WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)


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
    # How the ranking rules judged each hit, in the same order as `hits`.
    rankings: list[Ranking] = field(default_factory=list)


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
    return " ".join(_leaves(value))


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
        ranked = [(doc, rank_document(data, doc, q, sort)) for doc in docs]
        # The bucket sort, as stable sorts from the least significant key up: the BM25 order
        # the rows came in, then the rules after `sort` (exactness), the sort rules, and the
        # rules before `sort` (words, typo, proximity, attribute).
        ranked.sort(key=lambda pair: pair[1].after_sort, reverse=True)
        for rule in reversed(sort or []):
            attribute, _, direction = rule.partition(":")
            ranked = _sort_rule(ranked, attribute, descending=direction == "desc")
        ranked.sort(key=lambda pair: pair[1].before_sort, reverse=True)
        page = ranked[offset : offset + limit]
        return SearchResult(
            hits=[doc for doc, _ in page],
            estimated_total=len(ranked),
            query=q,
            rankings=[ranking for _, ranking in page],
        )


# Meilisearch's default ranking rules, in order (`sort` takes effect only with a `sort` param).
RANKING_RULES = ("words", "typo", "proximity", "attribute", "sort", "exactness")

# One rule's verdict on a document: (rank, max_rank), max_rank the best and 1 the worst a
# returned document can get (0 would mean "does not match").
Rank = tuple[int, int]

# Proximity of two words farther apart than this (or in different attributes) is the worst.
_MAX_PROXIMITY = 8
# Typo budget per word: 1 typo from 5 letters, 2 from 9 (Meilisearch's minWordSizeForTypos).
_ONE_TYPO, _TWO_TYPOS = 5, 9


@dataclass
class Ranking:
    """How the ranking rules judged one hit: the ranks before a `sort` (words, typo,
    proximity, attribute's two halves), after it (exactness's two halves), the details
    shaped like Meilisearch's `_rankingScoreDetails`, and the global score."""

    before_sort: tuple[int, ...]
    after_sort: tuple[int, ...]
    details: dict[str, Any]
    score: float


def merge_ranks(outer: Rank, inner: Rank) -> Rank:
    """Nest `inner` inside `outer`'s last step: a mixed-radix number whose digits are the
    rules' ranks, most significant first (Meilisearch's `Rank::merge`)."""
    rank, max_rank = outer
    return ((max(rank - 1, 0)) * inner[1] + inner[0], max_rank * inner[1])


def global_score(ranks: list[Rank]) -> float:
    """`_rankingScore` from the ranks of the rules in order (sort rules take no part): one
    rank per rule composed by `merge_ranks`, so a document that wins on an earlier rule
    always scores higher. No rule at all (a placeholder search) scores 1."""
    composed: Rank = (1, 1)
    for rank in ranks:
        composed = merge_ranks(composed, rank)
    return composed[0] / composed[1]


def _local(rank: Rank) -> float:
    return rank[0] / rank[1]


def rank_document(
    data: IndexData, doc: dict[str, Any], q: str, sort: list[str] | None = None
) -> Ranking:
    """Judge one document against the query with each ranking rule, as Meilisearch's rules
    would (see the module docstring for what each rule measures here)."""
    words = [_fold(w) for w in query_words(q)]
    placed = [_placed_words(doc.get(attr)) for attr in data.searchable]
    fields = [[term for term, _ in words_placed] for words_placed in placed]
    ranks: list[Rank] = []
    details: dict[str, Any] = {}
    order = 0
    kept: list[str] = []
    if words:
        known: dict[tuple[str, bool], _WordCost] = {}

        def cost_of(word: str, prefix: bool) -> _WordCost:
            if (word, prefix) not in known:
                known[word, prefix] = _word_cost(word, placed, prefix=prefix)
            return known[word, prefix]

        kept = words[: _words_matched(words, cost_of)]
        costs = [cost_of(w, n == len(kept) - 1) for n, w in enumerate(kept)]
        words_rank = (len(kept), len(words))
        typo_rank = _typo_rank(kept, costs)
        proximity_rank = _proximity_rank(kept, costs, len(fields))
        fid_rank, position_rank = _attribute_ranks(costs, len(fields))
        ranks += [words_rank, typo_rank, proximity_rank, fid_rank, position_rank]
        details["words"] = {
            "order": order,
            "matchingWords": words_rank[0],
            "maxMatchingWords": words_rank[1],
            "score": _local(words_rank),
        }
        details["typo"] = {
            "order": order + 1,
            "typoCount": typo_rank[1] - typo_rank[0],
            "maxTypoCount": typo_rank[1] - 1,
            "score": _local(typo_rank),
        }
        details["proximity"] = {"order": order + 2, "score": _local(proximity_rank)}
        details["attribute"] = {
            "order": order + 3,
            "attributeRankingOrderScore": _local(fid_rank),
            "queryWordDistanceScore": _local(position_rank),
            "score": global_score([fid_rank, position_rank]),
        }
        order += 4
    for rule in sort or []:
        attribute, _, direction = rule.partition(":")
        details[f"{attribute}:{direction or 'asc'}"] = {
            "order": order,
            "value": doc.get(attribute),
        }
        order += 1
    after: list[Rank] = []
    if words:
        match_type, attribute_rank = _exact_attribute(kept, fields)
        exact_words = sum(any(w in terms for terms in fields) for w in kept)
        words_exact_rank = (exact_words + 1, len(kept) + 1)
        after = [attribute_rank, words_exact_rank]
        exactness: dict[str, Any] = {"order": order, "matchType": match_type}
        if match_type == "noExactMatch":
            exactness["matchingWords"] = exact_words
            exactness["maxMatchingWords"] = len(kept)
            exactness["score"] = global_score(after)
        else:
            exactness["score"] = _local(attribute_rank)
        details["exactness"] = exactness
    return Ranking(
        before_sort=tuple(rank for rank, _ in ranks),
        after_sort=tuple(rank for rank, _ in after),
        details=details,
        score=global_score(ranks + after),
    )


# A word's cost in one document: None when absent, else (typos, best attribute index,
# best position cost, positions per attribute).
_WordCost = tuple[int, int, int, list[list[int]]] | None


def _words_matched(words: list[str], cost_of: Callable[[str, bool], _WordCost]) -> int:
    """The `words` rule with the `last` strategy: how many query words, from the first,
    the document matches (the last one kept as a prefix, as the engine searched them)."""
    for kept in range(len(words), 0, -1):
        if all(cost_of(word, n == kept - 1) is not None for n, word in enumerate(words[:kept])):
            return kept
    return 0


def _typo_budget(word: str) -> int:
    return 0 if len(word) < _ONE_TYPO else 1 if len(word) < _TWO_TYPOS else 2


def _word_cost(word: str, fields: list[list[tuple[str, int]]], *, prefix: bool) -> _WordCost:
    """Where and how well `word` occurs in the document's attributes, with the same
    derivations the engine searched: itself (a prefix when last), its stem as a prefix,
    and terms within the typo budget."""
    stem = _stem(word)
    budget = _typo_budget(word)
    best_typos: int | None = None
    positions: list[list[int]] = []
    for terms in fields:
        found: list[int] = []
        for term, position in terms:
            exact = term == word or (prefix and term.startswith(word))
            if exact or (stem != word and term.startswith(stem)):
                typos = 0
            elif not budget or (typos := _distance(word, term, budget)) > budget:
                continue
            found.append(position)
            best_typos = typos if best_typos is None else min(best_typos, typos)
        positions.append(found)
    if best_typos is None:
        return None
    first_field = next(n for n, found in enumerate(positions) if found)
    position_cost = min(_position_cost(p) for found in positions for p in found)
    return (best_typos, first_field, position_cost, positions)


def _typo_rank(kept: list[str], costs: list[_WordCost]) -> Rank:
    """`typo`: the typos the document needed, out of every kept word's budget."""
    max_typos = sum(_typo_budget(word) for word in kept)
    typos = sum(
        cost[0] if cost else _typo_budget(word) for word, cost in zip(kept, costs, strict=True)
    )
    return (max_typos + 1 - min(typos, max_typos), max_typos + 1)


def _proximity_rank(kept: list[str], costs: list[_WordCost], field_count: int) -> Rank:
    """`proximity`: for each pair of consecutive kept words, how far apart they stand in the
    same attribute (next to each other costs 0, the wrong way round one more, 8 words or
    more apart or never in one attribute 7)."""
    worst = _MAX_PROXIMITY - 1
    max_cost = worst * max(len(kept) - 1, 0)
    total = 0
    for left, right in itertools.pairwise(costs):
        best = worst
        if left and right:
            for field in range(field_count):
                for a in left[3][field]:
                    for b in right[3][field]:
                        distance = b - a if b > a else a - b + 1
                        best = min(best, min(distance, _MAX_PROXIMITY) - 1)
        total += best
    return (max_cost + 1 - total, max_cost + 1)


def _attribute_ranks(costs: list[_WordCost], field_count: int) -> tuple[Rank, Rank]:
    """`attribute`, in its two halves: the attribute each word is first found in (the
    first searchable attribute costs 0, each later one 1 more), then how close to the start
    of an attribute it stands (positions bucketed as Meilisearch does, 0 to 10)."""
    worst_field = field_count - 1
    fid_max = 1 + worst_field * len(costs)
    fid_cost = sum(cost[1] if cost else worst_field for cost in costs)
    position_max = 1 + _POSITION_WORST * len(costs)
    position_cost = sum(cost[2] if cost else _POSITION_WORST for cost in costs)
    return (fid_max - fid_cost, fid_max), (position_max - position_cost, position_max)


# Word positions to cost, as Meilisearch buckets them: (last position of a bucket, cost).
_POSITION_BUCKETS = ((0, 0), (1, 1), (4, 2), (7, 3), (11, 4), (16, 5), (24, 6), (64, 7), (256, 8))
_POSITION_WORST = 10


def _position_cost(position: int) -> int:
    """Positions from 16 on are first rounded up (to 24, then to a power of two), as
    Meilisearch stores them, then mapped to a cost."""
    if position >= 16:
        position = 24 if position < 24 else 1 << (position - 1).bit_length()
    for bound, cost in _POSITION_BUCKETS:
        if position <= bound:
            return cost
    return 9 if position <= 1024 else _POSITION_WORST


def _exact_attribute(kept: list[str], fields: list[list[str]]) -> tuple[str, Rank]:
    """`exactness`, first half: an attribute that is exactly the query, or starts with it."""
    if any(terms == kept for terms in fields):
        return "exactMatch", (3, 3)
    if any(terms[: len(kept)] == kept for terms in fields):
        return "matchesStart", (2, 3)
    return "noExactMatch", (1, 3)


# Separators that end a clause (charabia's Latin "context" separators): the next word stands
# 8 positions further instead of 1. A lone "." or "," (as in "2.5") is not one.
_HARD_SEPARATORS = (". ", ", ", "!", "?", ":", ";", "¡", "¿", "\u00a7", "\u00b6")


def _placed_words(value: Any) -> list[tuple[str, int]]:
    """An attribute's words (lower-case, no diacritics) with their positions, counted as
    Meilisearch counts them: 1 between words, 8 across a clause-ending separator, and each
    further value of an array starting 8 after the last word of the one before."""
    placed: list[tuple[str, int]] = []
    for leaf in _leaves(value):
        text = _fold(leaf)
        position = placed[-1][1] + _MAX_PROXIMITY if placed else 0
        previous_end: int | None = None
        for match in _WORD_RE.finditer(text):
            if previous_end is not None:
                gap = text[previous_end : match.start()]
                hard = any(separator in gap for separator in _HARD_SEPARATORS)
                position += _MAX_PROXIMITY if hard else 1
            placed.append((match.group(), position))
            previous_end = match.end()
    return placed


def _leaves(value: Any) -> list[str]:
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    return [] if value is None else [str(value)]


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
    budget = _typo_budget(folded) if typos else 0
    if budget:
        options += [
            f'"{term}"'
            for term in sorted(vocabulary)
            if term != folded and _distance(folded, term, budget) <= budget
        ]
    return "(" + " OR ".join(options) + ")"


def _sort_rule(
    ranked: list[tuple[dict[str, Any], Ranking]], attribute: str, *, descending: bool
) -> list[tuple[dict[str, Any], Ranking]]:
    """A stable sort on one attribute, as Meilisearch's sort rule orders facet values:
    numbers, then strings, each ascending or descending; documents without it last."""

    def value(pair: tuple[dict[str, Any], Ranking]) -> Any:
        return pair[0].get(attribute)

    def is_number(item: Any) -> bool:
        return isinstance(item, (int, float)) and not isinstance(item, bool)

    numbers = [pair for pair in ranked if is_number(value(pair))]
    strings = [pair for pair in ranked if isinstance(value(pair), str)]
    rest = [
        pair for pair in ranked if not is_number(value(pair)) and not isinstance(value(pair), str)
    ]
    numbers.sort(key=lambda pair: float(value(pair)), reverse=descending)
    strings.sort(key=lambda pair: str(value(pair)), reverse=descending)
    return numbers + strings + rest
