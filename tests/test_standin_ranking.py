"""The stand-in's ranking: hits bucket-sorted by the ranking rules, `_rankingScore` composed
from the rules' ranks as Meilisearch composes them (so scores follow the order)."""

from __future__ import annotations

from functools import cache
from typing import Any

import httpx
import hypothesis_profiles  # noqa: F401 - loads the shared hypothesis profile
import pytest
from conftest import MASTER_KEY
from hypothesis import given
from hypothesis import strategies as st

from meilichat_cli.standin import StandInServer
from meilichat_cli.standin.search import (
    IndexData,
    SearchEngine,
    global_score,
    load_datasets,
    merge_ranks,
    rank_document,
)


@cache
def engine() -> SearchEngine:
    return SearchEngine(load_datasets())


def vocabulary(uid: str) -> list[str]:
    data = engine().indexes[uid]
    words: set[str] = set()
    for doc in data.documents:
        for attribute in data.searchable:
            words.update(str(doc.get(attribute, "")).lower().split())
    return sorted(word.strip(".,:;!?'\"()") for word in words if word.strip(".,:;!?'\"()"))


def one_typo(word: str) -> str:
    return word[:-2] + word[-1] + word[-2] if len(word) > 2 else word


@st.composite
def queries(draw: st.DrawFn) -> tuple[str, str, str]:
    uid = draw(st.sampled_from(["movies", "books", "tickets"]))
    words = vocabulary(uid)
    word = st.one_of(
        st.sampled_from(words),
        st.sampled_from(words).map(lambda w: w[: max(1, len(w) // 2)]),  # a prefix
        st.sampled_from(words).map(one_typo),
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8),
    )
    q = " ".join(draw(st.lists(word, min_size=1, max_size=4)))
    return uid, q, draw(st.sampled_from(["last", "all"]))


@given(queries())
def test_scores_never_increase_down_the_hits_and_equal_details_score_equal(
    query: tuple[str, str, str],
) -> None:
    uid, q, strategy = query
    result = engine().search(uid, q, limit=1000, matching_strategy=strategy)
    scores = [ranking.score for ranking in result.rankings]
    assert scores == sorted(scores, reverse=True), (q, scores)
    by_details: dict[str, float] = {}
    for ranking in result.rankings:
        key = repr(ranking.details)
        assert by_details.setdefault(key, ranking.score) == ranking.score
        assert 0 < ranking.score <= 1


def test_a_query_that_matches_orders_hits_by_their_rules_not_by_bm25() -> None:
    # "Dune" is exactly the title of movie 7 and only the start of movie 8's: exactness
    # puts the exact title first.
    result = engine().search("movies", "dune", limit=5)
    ids = [hit["id"] for hit in result.hits]
    assert ids.index(7) < ids.index(8)
    exactness = [ranking.details["exactness"]["matchType"] for ranking in result.rankings[:2]]
    assert exactness == ["exactMatch", "matchesStart"]
    assert result.rankings[0].score > result.rankings[1].score


# Hand-computed from Meilisearch's rule semantics (score_details.rs: a rank counts from 1,
# the worst a returned document gets, to max_rank, the best; ranks compose as the digits of a
# mixed-radix number, the first rule the most significant).


def test_no_ranking_rule_scores_one() -> None:
    assert global_score([]) == 1.0


def test_one_rule_scores_its_rank_over_its_max() -> None:
    # Two of three query words matched.
    assert global_score([(2, 3)]) == pytest.approx(2 / 3)


def test_ranks_compose_as_a_mixed_radix_number() -> None:
    # words 2/3 then typo 2/2 (no typo out of one allowed): ((2 - 1) * 2 + 2) / (3 * 2).
    assert merge_ranks((2, 3), (2, 2)) == (4, 6)
    assert global_score([(2, 3), (2, 2)]) == pytest.approx(4 / 6)
    # attribute's two halves, as in `_rankingScoreDetails.attribute.score`: the word in the
    # second of four attributes (rank 3 of 4), at the start of it (11 of 11): 33 / 44.
    assert global_score([(3, 4), (11, 11)]) == pytest.approx(0.75)
    # exactness with no exact attribute (1 of 3) and none of two words exact (1 of 3): 1 / 9.
    assert global_score([(1, 3), (1, 3)]) == pytest.approx(1 / 9)


def test_winning_an_earlier_rule_outscores_any_later_ranks() -> None:
    assert global_score([(2, 3), (1, 5)]) > global_score([(1, 3), (5, 5)])
    assert global_score([(2, 3), (1, 5)]) == pytest.approx(6 / 15)
    assert global_score([(1, 3), (5, 5)]) == pytest.approx(5 / 15)


def tiny_index(documents: list[dict[str, Any]]) -> IndexData:
    return IndexData(
        uid="tiny",
        primary_key="id",
        searchable=["title", "overview"],
        filterable=[],
        sortable=[],
        chat={},
        documents=documents,
    )


def test_a_word_in_the_second_attribute_at_position_two() -> None:
    data = tiny_index([{"id": 1, "title": "Gravity", "overview": "Stranded in space"}])
    ranking = rank_document(data, data.documents[0], "space")
    # words 1/1, typo 2/2 ("space" allows one typo, none used), proximity 1/1 (one word),
    # attribute: second of two attributes 1/2, position 2 costs 2 of 10: 9/11,
    # exactness: no exact attribute 1/3, the word exact 2/2.
    assert ranking.details["words"]["score"] == 1.0
    assert ranking.details["typo"] == {"order": 1, "typoCount": 0, "maxTypoCount": 1, "score": 1.0}
    assert ranking.details["attribute"]["attributeRankingOrderScore"] == 0.5
    assert ranking.details["attribute"]["queryWordDistanceScore"] == pytest.approx(9 / 11)
    assert ranking.details["attribute"]["score"] == pytest.approx(9 / 22)
    assert ranking.details["exactness"]["score"] == pytest.approx(2 / 6)
    # (1,1) (2,2) (1,1) (1,2) (9,11) (1,3) (2,2) compose to (2,2), (3,4), (31,44), (91,132),
    # then (182,264).
    assert ranking.score == pytest.approx(182 / 264)


def test_a_typo_costs_a_rank_and_a_partial_match_a_word() -> None:
    data = tiny_index([{"id": 1, "title": "Dune", "overview": "a desert planet of spice"}])
    typo = rank_document(data, data.documents[0], "space")
    assert typo.details["typo"]["typoCount"] == 1 and typo.details["typo"]["score"] == 0.5
    partial = rank_document(data, data.documents[0], "desert moon")
    assert partial.details["words"]["matchingWords"] == 1
    assert partial.details["words"]["maxMatchingWords"] == 2


def test_an_attribute_that_is_the_query_or_starts_with_it() -> None:
    data = tiny_index(
        [{"id": 1, "title": "Dune", "overview": ""}, {"id": 2, "title": "Dune Part Two"}]
    )
    exact = rank_document(data, data.documents[0], "dune")
    start = rank_document(data, data.documents[1], "dune")
    assert exact.details["exactness"] == {"order": 4, "matchType": "exactMatch", "score": 1.0}
    assert start.details["exactness"]["matchType"] == "matchesStart"
    assert start.details["exactness"]["score"] == pytest.approx(2 / 3)
    assert exact.score > start.score


def test_sort_orders_within_the_buckets_of_earlier_rules_and_takes_no_part_in_the_score() -> None:
    # Meilisearch's default rules put `sort` after `attribute`: "thriller" in an earlier
    # position of the genres wins over a more recent year.
    result = engine().search("movies", "thriller", limit=50, sort=["year:desc"])
    unsorted = engine().search("movies", "thriller", limit=50)
    score_of = {h["id"]: r.score for h, r in zip(unsorted.hits, unsorted.rankings, strict=True)}
    buckets: dict[tuple[int, ...], list[int]] = {}
    for hit, ranking in zip(result.hits, result.rankings, strict=True):
        assert ranking.score == score_of[hit["id"]]
        assert ranking.details["year:desc"]["value"] == hit["year"]
        buckets.setdefault(ranking.before_sort, []).append(hit["year"])
    assert len(buckets) > 1 and any(len(years) > 1 for years in buckets.values())
    assert all(years == sorted(years, reverse=True) for years in buckets.values())
    assert list(buckets) == sorted(buckets, reverse=True)


def test_the_search_route_returns_the_scores_in_order(standin: StandInServer) -> None:
    response = httpx.post(
        f"{standin.url}/indexes/movies/search",
        json={"q": "space", "showRankingScore": True, "showRankingScoreDetails": True},
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
    )
    hits = response.json()["hits"]
    scores = [hit["_rankingScore"] for hit in hits]
    assert len(scores) > 2 and scores == sorted(scores, reverse=True)
    assert [hit["title"] for hit in hits[:2]] == ["2001: A Space Odyssey", "Gravity"]
    assert list(hits[0]["_rankingScoreDetails"]) == [
        "words",
        "typo",
        "proximity",
        "attribute",
        "exactness",
    ]
