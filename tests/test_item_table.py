"""The item table is built from the log's columns with array operations; here it is checked against
its definition, written event by event (as it was built before ten million events needed less
than 10 GB), on random logs small enough to hit every cap: bulk baskets, shoppers with more
products than count as one basket, ties in time, prices known and unknown, views and purchases."""

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommendations.ranker import items
from recommendations.ranker.history import Event, LogArrays
from recommendations.ranker.items import item_table
from recommendations.services.ranker import CatalogRows

N = 7
DAY0 = datetime(2020, 9, 1, tzinfo=UTC)
# PAIRS_BLOCK: each product's partners are chosen a few pairs' rows at a time, as ten million events' are.
CAPS = {"BASKET_MAX": 3, "CO_BOUGHT_BASKET": 2, "BASKET_KEEP": 3, "CO_BOUGHT_KEEP": 3, "TYPE_PAIRS_KEEP": 2,
        "PAIRS_BLOCK": 4}  # fmt: skip


def catalog() -> CatalogRows:
    ids = np.arange(500, 500 + N, dtype=np.int64)
    return CatalogRows(
        ids=ids, index={int(pid): row for row, pid in enumerate(ids)},
        gender=np.array(["women", "men"] * 3 + ["unisex"]),
        name=[f"p{row}" for row in range(N)], description=[""] * N, group=[f"g{row // 2}" for row in range(N)],
        article_type=[("Dress", "Socks", "Bra", "Top", "Hat")[row % 5] for row in range(N)], subcategory=["Jersey"] * N,
        department=["Womens"] * N, colour=["Black"] * N, price=np.full(N, 9.99, np.float32),
        vectors=np.zeros((N, 8), np.float32),
    )  # fmt: skip


events_strategy = st.lists(
    st.tuples(
        st.integers(0, 3),  # shopper
        st.integers(500, 500 + N),  # product (500 + N: not in the catalog)
        st.sampled_from(["purchase", "purchase", "purchase", "view"]),
        # hours after DAY0: mostly whole days, as H&M's log, so that times tie and baskets fill up
        st.builds(lambda day, hour: day * 24 + hour, st.integers(0, 8), st.sampled_from([0, 0, 0, 7])),
        st.one_of(st.none(), st.sampled_from([5.0, 7.5, 19.99])),
    ),
    min_size=1,
    max_size=60,
)


def by_events(products: CatalogRows, events: list[Event]) -> dict:
    """The table's log-derived arrays, event by event, as the definition reads."""
    index = products.index
    events = [event for event in events if event.product_id in index]
    purchases = [event.at for event in events if event.kind == "purchase"]
    as_of = max(purchases) if purchases else max(event.at for event in events)
    oldest, paid = [None] * N, defaultdict(list)
    sales, baskets, days, newest = set(), defaultdict(dict), defaultdict(set), defaultdict(dict)
    for event in events:
        row, age = index[event.product_id], max((as_of - event.at).total_seconds(), 0.0)
        oldest[row] = age if oldest[row] is None else max(oldest[row], age)
        if event.kind != "purchase":
            continue
        age_days = int(age // 86400)
        if event.price is not None and age_days < 7:
            paid[row].append(event.price)
        sales.add((event.shopper, row, age_days))
        baskets[event.shopper, event.at.date()][row] = None
        days[event.shopper, row].add(age_days)
        newest[event.shopper][row] = max(event.at, newest[event.shopper].get(row, event.at))
    sold = Counter((row, age) for _, row, age in sales if age < 7)
    buyers = np.array([sum(1 for (_, r) in days if r == row) for row in range(N)], np.float32)
    rebuyers = np.array([sum(1 for (_, r), on in days.items() if r == row and len(on) > 1) for row in range(N)])
    lists = [list(rows)[: CAPS["BASKET_MAX"]] for rows in baskets.values()]
    decayed = np.array([sum(sold[row, age] / (1 + age) for age in range(7)) for row in range(N)], np.float32)
    return {
        "as_of": as_of,
        "days_on_sale": np.array([np.nan if o is None else o / 86400 for o in oldest], np.float32),
        "paid": np.array([np.mean(paid[row]) if paid[row] else np.nan for row in range(N)], np.float32),
        "sold_1d": np.array([sold[row, 0] for row in range(N)], np.float32),
        "sold_3d": np.array([sum(sold[row, age] for age in range(3)) for row in range(N)], np.float32),
        "sold_decayed": decayed,
        "buyers": buyers,
        "rebuy_rate": np.divide(rebuyers, buyers, out=np.zeros(N, np.float32), where=buyers > 0),
        "in_baskets": np.array([sum(row in basket for basket in lists) for row in range(N)], np.float32),
        "baskets": lists,
        "co_bought_lists": [
            sorted(rows, key=rows.get, reverse=True)[: CAPS["CO_BOUGHT_BASKET"]] for rows in newest.values()
        ],
    }  # fmt: skip


def pairs_by_definition(lists: list[list[int]], sold: np.ndarray, keep: int) -> dict[int, list[tuple[int, float]]]:
    """Each product's ``keep`` most frequent basket partners, P(other | this) in float32 as the table
    scores it, ties by what sells, then the row."""
    holding = Counter(row for basket in lists for row in basket)
    both = Counter((a, b) for basket in lists if len(basket) > 1 for a in basket for b in basket if a != b)
    out = {}
    for row in range(N):
        partners = [(b, np.float32(both[a, b]) / np.float32(holding[row])) for (a, b) in both if a == row]
        partners.sort(key=lambda p: (-p[1], -sold[p[0]], p[0]))
        out[row] = partners[:keep]
    return out


def co_bought_by_definition(lists: list[list[int]], buyers: np.ndarray, keep: int) -> dict[int, list[tuple]]:
    both = Counter((a, b) for rows in lists for a in rows for b in rows if a != b)
    norm = np.sqrt(np.maximum(buyers, 1))
    out = {}
    for row in range(N):
        partners = [(b, np.float32(count) / (norm[a] * norm[b])) for (a, b), count in both.items() if a == row]
        partners.sort(key=lambda p: (-p[1], p[0]))
        out[row] = partners[:keep]
    return out


def type_pairs_by_definition(article_type: np.ndarray, lists: list[list[int]], keep: int) -> list[tuple]:
    holding, both = Counter(), Counter()
    for basket in lists:
        kinds = sorted({str(article_type[row]) for row in basket})
        holding.update(kinds)
        both.update((a, b) for a in kinds for b in kinds if a != b)
    best = defaultdict(list)
    for (kind, other), count in both.items():
        best[kind].append((count / holding[kind], other))
    return [
        (kind, other, np.float32(p))
        for kind in sorted(best)
        for p, other in sorted(best[kind], key=lambda t: (-t[0], t[1]))[:keep]
    ]


def _neighbours(ptr: np.ndarray, rows: np.ndarray, scores: np.ndarray, row: int) -> list[tuple[int, float]]:
    return list(zip(rows[ptr[row] : ptr[row + 1]].tolist(), scores[ptr[row] : ptr[row + 1]].tolist(), strict=True))


@settings(max_examples=400, deadline=None)
@given(events_strategy, st.sets(st.integers(0, N - 1)))
def test_the_table_built_from_columns_is_the_one_the_events_define(raw, listed):
    products = catalog()
    events = [
        Event(("user", shopper), pid, kind, DAY0 + timedelta(hours=hours), price)
        for shopper, pid, kind, hours, price in raw
    ]  # fmt: skip
    if not any(event.product_id in products.index for event in events):
        return  # item_table refuses a log without a known product (another test)
    with mock.patch.multiple(items, **CAPS):
        table = item_table(products, events)
        expected = by_events(products, events)
    assert table.as_of == expected["as_of"]
    for name in ("days_on_sale", "paid", "sold_1d", "sold_3d", "buyers", "rebuy_rate", "in_baskets"):
        assert np.array_equal(getattr(table, name), expected[name], equal_nan=True), name
    assert np.allclose(table.sold_decayed, expected["sold_decayed"], rtol=1e-6)
    baskets = pairs_by_definition(expected["baskets"], table.sold_decayed, CAPS["BASKET_KEEP"])
    co_bought = co_bought_by_definition(expected["co_bought_lists"], table.buyers, CAPS["CO_BOUGHT_KEEP"])
    for row in range(N):
        assert _neighbours(table.basket_ptr, table.basket_rows, table.basket_score, row) == baskets[row]
        assert _neighbours(table.co_bought_ptr, table.co_bought_rows, table.co_bought_score, row) == co_bought[row]
    types = type_pairs_by_definition(table.article_type, expected["baskets"], CAPS["TYPE_PAIRS_KEEP"])
    got = list(
        zip(table.type_pair_from.tolist(), table.type_pair_to.tolist(), table.type_pair_score.tolist(), strict=False)
    )
    assert got == [(a, b, float(p)) for a, b, p in types]
    # A fold's table makes the lists of some rows only: each the whole table's, and the others refused.
    with mock.patch.multiple(items, **CAPS):
        part = item_table(products, events, listed=np.array(sorted(listed), dtype=np.int64))
    for row in range(N):
        for name in ("basket", "co_bought"):
            if row in listed:
                for got, whole in zip(getattr(part, name)(row), getattr(table, name)(row), strict=True):
                    assert np.array_equal(got, whole), (name, row)
            else:
                with pytest.raises(LookupError):
                    getattr(part, name)(row)


def test_the_log_as_columns_keeps_the_events_order_and_their_moments():
    products = catalog()
    at = DAY0 + timedelta(hours=30, microseconds=7)
    events = [
        Event(("visitor", "a"), 501, "view", at),
        Event(("user", 1), 999, "purchase", at),  # not in the catalog: left out
        Event(("user", 1), 503, "purchase", at + timedelta(days=1), 12.5),
        Event(("visitor", "a"), 500, "purchase", at),
    ]
    log = LogArrays.from_events(events, products.index)
    assert log.shopper.tolist() == [0, 1, 0]
    assert log.row.tolist() == [1, 3, 0]
    assert log.purchase.tolist() == [False, True, True]
    assert [log.moment(us) for us in log.at_us.tolist()] == [at, at + timedelta(days=1), at]
    assert log.day.tolist() == [at.date().toordinal(), at.date().toordinal() + 1, at.date().toordinal()]
    assert np.isnan(log.price[0]) and log.price[1] == 12.5
    assert log.before(at + timedelta(hours=1)).row.tolist() == [1, 0] and not len(log.before(at))
    assert item_table(products, log).as_of == item_table(products, events).as_of == at + timedelta(days=1)
