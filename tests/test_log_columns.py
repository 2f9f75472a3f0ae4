"""The rankers' training reads the log as columns (LogArrays) and never builds an Event per event:
here each step it takes from the columns is checked against its definition over Events (what the
training did before ten million events needed 4.6 GB of them): the log read from PostgreSQL, the
labelled shoppers' histories, the basket completions and the label window."""

import random
from collections import defaultdict
from datetime import UTC, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from hypothesis import given, settings
from hypothesis import strategies as st

from recommendations.models import Interaction, Visitor
from recommendations.ranker import history
from recommendations.ranker.click_training import BasketTask, basket_tasks
from recommendations.ranker.history import Event, LogArrays, shoppers_from_events, shoppers_from_log
from recommendations.ranker.training import LABEL_WINDOWS, MIN_SHOPPERS, label_window
from tests.factories import ProductFactory
from tests.test_item_table import DAY0, N, catalog

events_strategy = st.lists(
    st.tuples(
        st.integers(0, 4),  # shopper
        st.integers(500, 500 + N),  # product (500 + N: not in the catalog)
        st.sampled_from(["purchase", "purchase", "view", "click", "add_to_cart"]),
        # hours after DAY0: mostly whole days, so that times tie
        st.builds(lambda day, hour: day * 24 + hour, st.integers(0, 6), st.sampled_from([0, 0, 0, 7, 23])),
        st.one_of(st.none(), st.sampled_from([5.0, 7.5, 19.99])),
    ),
    min_size=1,
    max_size=60,
)


def as_events(drawn) -> list[Event]:
    keys = [("user", 1), ("user", 2), ("visitor", "a"), ("visitor", "b"), ("user", 3)]
    return [Event(keys[s], p, kind, DAY0 + timedelta(hours=h), price) for s, p, kind, h, price in drawn]


@settings(max_examples=300, deadline=None)
@given(events_strategy, st.data())
def test_histories_from_the_columns_are_the_ones_built_from_events(drawn, data):
    products = catalog()
    events = as_events(drawn)
    log = LogArrays.from_events(events, products.index)
    numbers = data.draw(st.sets(st.integers(0, 5)))  # some shoppers; 5 is nobody
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(history, "HISTORY", 3)  # small, so that it cuts histories
        expected = shoppers_from_events(products, events, keys={log.keys[n] for n in numbers if n < len(log.keys)})
        got = shoppers_from_log(products, log, numbers)
    assert {log.keys[number]: shopper for number, shopper in got.items()} == expected
    assert all(len(shopper.recent) <= 3 for shopper in got.values())


def basket_tasks_by_events(events: list[Event], start, end, seed: int = 0) -> list[BasketTask]:
    """The definition, as the training computed it from Events."""
    baskets: dict[tuple, dict[int, None]] = defaultdict(dict)
    for event in events:
        if event.kind == "purchase" and start <= event.at < end:
            baskets[event.shopper, event.at.date()][event.product_id] = None
    rng = random.Random(seed)
    tasks = []
    for key in sorted(baskets, key=repr):
        items = list(baskets[key])
        if len(items) >= 2:
            shown = rng.choice(items)
            tasks.append(BasketTask(key[0], key[1], shown, frozenset(items) - {shown}))
    return tasks


@settings(max_examples=300, deadline=None)
@given(events_strategy, st.integers(0, 5), st.integers(1, 3))
def test_basket_completions_from_the_columns_are_the_ones_from_events(drawn, first_day, days):
    products = catalog()
    events = [event for event in as_events(drawn) if event.product_id in products.index]  # as ranker_fit's log
    log = LogArrays.from_events(events, products.index)
    start = DAY0 + timedelta(days=first_day)
    end = start + timedelta(days=days)
    assert basket_tasks(log, products.ids, start, end) == basket_tasks_by_events(events, start, end)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 40), st.booleans()), min_size=1, max_size=800))
def test_the_label_window_from_the_columns_is_the_one_from_events(drawn):
    """The definition: the first window whose days hold MIN_SHOPPERS shoppers who bought in them and
    were seen before them; otherwise the one with the most."""
    products = catalog()
    events = [Event(("s", s), 500, "purchase" if bought else "view", DAY0 + timedelta(days=day))
              for s, day, bought in drawn]  # fmt: skip
    newest_day = DAY0 + timedelta(days=30)
    first_seen, last_bought = {}, {}
    for event in events:
        if event.at < newest_day + timedelta(days=1):
            first_seen[event.shopper] = min(event.at, first_seen.get(event.shopper, event.at))
            if event.kind == "purchase":
                last_bought[event.shopper] = max(event.at, last_bought.get(event.shopper, event.at))
    labelled = {}
    for days in LABEL_WINDOWS:
        cutoff = newest_day - timedelta(days=days - 1)
        labelled[days] = sum(1 for key, at in last_bought.items() if at >= cutoff and first_seen[key] < cutoff)
    enough = [days for days in LABEL_WINDOWS if labelled[days] >= MIN_SHOPPERS]
    expected = enough[0] if enough else max(LABEL_WINDOWS, key=lambda days: (labelled[days], -days))
    assert label_window(LogArrays.from_events(events, products.index), newest_day) == expected


@pytest.mark.django_db
def test_the_log_read_from_postgresql_as_columns_is_the_log_of_events():
    """log_arrays reads the log as arrays (common.copying.read_arrays) and gives what
    LogArrays.from_events gives over log_events' tuples: the same order (time, then id: events of one
    moment), shoppers (a visitor merged into a user is the user), kinds, moments, days and prices."""
    from recommendations.services.ranker import catalog_rows, log_arrays, log_events

    products = ProductFactory.create_batch(4)
    ann = get_user_model().objects.create(username="ann")
    merged, anonymous = Visitor.objects.create(user=ann), Visitor.objects.create()
    at = DAY0.astimezone(UTC) + timedelta(hours=23, minutes=59, seconds=59, microseconds=123)
    log = [  # (user, visitor, product, kind, microseconds after `at`, price)
        (None, anonymous, 1, "view", 0, None), (ann, None, 0, "purchase", 0, Decimal("19.99")),
        (ann, merged, 2, "add_to_cart", 1, None), (None, anonymous, 3, "purchase", 5, Decimal("0.10")),
        (None, merged, 3, "click", 2, None), (ann, None, 1, "purchase", -1, None),
        (None, anonymous, 0, "purchase", 1_000_000, Decimal("7.50")),  # the next day, in UTC
    ]  # fmt: skip
    Interaction.objects.bulk_create(
        Interaction(user=user, visitor=visitor, product=products[index], kind=kind, price=price,
                    created_at=at + timedelta(microseconds=us))
        for user, visitor, index, kind, us, price in log
    )  # fmt: skip
    catalog_ = catalog_rows()
    got = log_arrays(catalog_.index)
    expected = LogArrays.from_events(log_events(), catalog_.index)
    assert len(got) == len(log)
    for column in ("shopper", "row", "purchase", "at_us", "day", "price"):
        np.testing.assert_array_equal(getattr(got, column), getattr(expected, column), err_msg=column)
        assert getattr(got, column).dtype == getattr(expected, column).dtype, column
    assert [got.kinds[k] for k in got.kind] == [expected.kinds[k] for k in expected.kind]
    # An event logged with the user is the user's; one logged with the visitor alone, the visitor's.
    shoppers = [("user", ann.pk), ("visitor", str(anonymous.pk)), ("visitor", str(merged.pk))]
    assert list(got.keys) == list(expected.keys) == shoppers
    assert got.moment(got.at_us[0]) == at - timedelta(microseconds=1) and got.tz == expected.tz
    assert got.day[-1] == got.day[0] + 1


@settings(max_examples=200, deadline=None)
@given(events_strategy, st.integers(0, 7 * 24), st.booleans())
def test_the_events_before_a_moment_are_the_same_whether_views_or_a_copy(drawn, hours, in_time_order):
    products = catalog()
    events = as_events(drawn)
    if in_time_order:
        events.sort(key=lambda event: event.at)
    log = LogArrays.from_events(events, products.index)
    at = DAY0 + timedelta(hours=hours)
    got = log.before(at)
    expected = [event for event in events if event.product_id in products.index and event.at < at]
    assert [log.keys[number] for number in got.shopper] == [event.shopper for event in expected]
    assert [int(products.ids[row]) for row in got.row] == [event.product_id for event in expected]
    assert [got.moment(us) for us in got.at_us.tolist()] == [event.at for event in expected]
    for name in ("purchase", "day", "price", "kind"):
        np.testing.assert_array_equal(getattr(got, name), getattr(log, name)[log.at_us < log.us(at)])
    # A log in time order (PostgreSQL's) gives read-only views, never a copy.
    viewed = bool(np.all(np.diff(log.at_us) >= 0)) and len(got) > 0
    assert np.shares_memory(got.at_us, log.at_us) == viewed
    assert got.at_us.flags.writeable != viewed or not len(got)
