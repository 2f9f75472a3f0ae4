"""Known answers for the offline evaluation's metrics and split."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.metrics import (
    average_precision_at_k,
    catalog_coverage,
    hit_rate_at_k,
    intra_list_diversity,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)
from recommendations.evaluation.split import Event, time_split

ALL = (precision_at_k, recall_at_k, average_precision_at_k, ndcg_at_k, hit_rate_at_k)


def test_a_strategy_that_returns_the_held_out_items_scores_one():
    relevant = {3, 7, 9}
    for metric in (recall_at_k, average_precision_at_k, ndcg_at_k, hit_rate_at_k):
        assert metric([9, 3, 7], relevant, 12) == 1.0
    assert precision_at_k([9, 3, 7], relevant, 3) == 1.0


def test_known_values():
    assert precision_at_k([1, 2, 3, 4], {2, 4}, 4) == 0.5
    assert recall_at_k([1, 2, 3, 4], {2, 4, 8, 9}, 4) == 0.5
    # Hits at ranks 2 and 4: (1/2 + 2/4) / min(12, 2) = 0.5
    assert average_precision_at_k([1, 2, 3, 4], {2, 4}, 12) == 0.5
    assert ndcg_at_k([2, 1], {2}, 2) == 1.0
    assert ndcg_at_k([1, 2], {2}, 2) == pytest.approx(1 / 1.5849625, rel=1e-6)
    assert hit_rate_at_k([1, 2], {5}, 2) == 0.0
    assert catalog_coverage([[1, 2], [2, 3]], 10, 2) == 0.3
    assert intra_list_diversity([1, 2, 3], {1: "a", 2: "a", 3: "b"}, 3) == pytest.approx(2 / 3)


def test_a_random_strategy_scores_near_its_expected_value():
    rng = random.Random(4)
    catalog, k, relevant_size, shoppers = list(range(1000)), 12, 10, 3000
    precisions = []
    for _ in range(shoppers):
        relevant = set(rng.sample(catalog, relevant_size))
        precisions.append(precision_at_k(rng.sample(catalog, k), relevant, k))
    expected = relevant_size / len(catalog)  # each recommended item is relevant with this chance
    assert sum(precisions) / shoppers == pytest.approx(expected, rel=0.15)


@given(recommended=st.lists(st.integers(0, 30), max_size=20, unique=True), relevant=st.sets(st.integers(0, 30)))
def test_every_metric_stays_in_zero_one(recommended, relevant):
    for metric in ALL:
        assert 0.0 <= metric(recommended, relevant, 12) <= 1.0


def test_the_split_never_leaks_test_weeks_into_training():
    start = datetime(2020, 1, 1, tzinfo=UTC)
    events = [Event(s, p, kind, start + timedelta(days=d)) for s in range(5) for p, d, kind in
              ((1, 10, "purchase"), (2, 50, "view"), (3, 55, "purchase"), (4, 58, "purchase"))]  # fmt: skip
    split = time_split(events, test_weeks=1)
    assert split.cutoff == start + timedelta(days=51)
    assert all(event.at < split.cutoff for event in split.train)
    assert {product for _, product, *_ in split.train} == {1, 2}
    assert split.held_out == {s: {3, 4} for s in range(5)}  # only purchases are ground truth
    with pytest.raises(ValueError):
        time_split([])


def test_test_days_hold_out_the_last_calendar_days_of_a_log_of_dates():
    day = datetime(2020, 9, 16, tzinfo=UTC)
    events = [Event(s, p, "purchase", day + timedelta(days=d)) for s, p, d in
              ((1, 1, 0), (1, 2, 2), (2, 3, 3), (3, 4, 4), (3, 5, 4))]  # 09-16, 09-18, 09-19, 09-20 x2  # fmt: skip
    split = time_split(events, test_days=2)
    assert split.cutoff == datetime(2020, 9, 19, tzinfo=UTC)
    assert {e.product_id for e in split.train} == {1, 2}
    assert split.held_out == {2: {3}, 3: {4, 5}}


def test_the_hindsight_list_is_what_most_new_shoppers_bought_and_bounds_any_single_list():
    """Known answer: three new shoppers bought 7, two bought 5, one bought 9. The hindsight list of
    two is [7, 5]; no other list of two scores a higher MAP@2 for them."""
    import itertools

    from recommendations.evaluation.headroom import hindsight_list, new_shopper_hindsight

    held_out = {"a": {7, 5}, "b": {7}, "c": {7, 9}, "d": {5}}
    assert hindsight_list(held_out, k=2) == [7, 5]
    bound = new_shopper_hindsight([held_out], k=2)
    assert bound["shoppers"] == 4
    assert bound["map"] == pytest.approx((1 + 1 + 0.5 + 0.5) / 4)  # a: both; b: 7 first; c: 7 of {7, 9}; d: 5 second
    every_list = itertools.permutations({5, 7, 9}, 2)
    best_other = max(sum(average_precision_at_k(list(pair), items, 2) for items in held_out.values()) / 4
                     for pair in every_list)  # fmt: skip
    assert bound["map"] == pytest.approx(best_other)
    assert new_shopper_hindsight([{}], k=2) is None


def test_candidate_reach_counts_held_out_purchases_by_the_source_that_proposed_them():
    from recommendations.evaluation.headroom import candidate_reach

    held_out = {"a": {1, 2, 3, 4}, "b": {5}, "c": {6}}
    candidates = {"a": {1: "buy_again", 2: "same_product", 9: "trending"}, "b": {5: "buy_again"}, "c": {}}
    reach = candidate_reach(held_out, candidates, k=12)  # c was not scored: not counted
    assert reach == {
        "shoppers": 2, "purchases": 5, "share": 3 / 5, "by_source": {"buy_again": 2 / 5, "same_product": 1 / 5},
        # a: 1 and 2 first, two of four found (AP (1 + 1) / 4); b: 5 first, all found
        "perfect_ranking": {"map": (0.5 + 1) / 2, "recall": (0.5 + 1) / 2},
    }  # fmt: skip
    assert candidate_reach(held_out, {}, k=12) is None
