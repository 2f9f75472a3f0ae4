"""Impressions and attribution (issue 43, first part): what was shown to whom, and which list a click,
an add-to-cart or a purchase is credited to. Known answers on a fixed log, window edges included; a
property that no credit ever goes to a list that did not show the product to that shopper; the store's
own pages, API and buffer against the real database."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from experiments.models import Impression
from experiments.selectors.attribution import LoggedEvent, ShownList, attribute, credits_between
from experiments.services import impressions
from recommendations.models import Interaction, TrendingScore, Visitor
from tests.factories import ProductFactory

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
WINDOW, INFLUENCED = timedelta(hours=24), timedelta(days=7)


def shown(list_id, shopper, at, products, sources=None, row="home.recommended"):
    return ShownList(list_id, shopper, at, "home", row, "", tuple(products), tuple(sources or ["als"] * len(products)))


def credit_of(credits, event):
    found = [c for c in credits if c.event == event]
    assert len(found) <= 1
    return found[0] if found else None


def test_a_fixed_log_gets_exact_credits_window_edges_included():
    lists = [
        shown("L", "v1", T0, [10, 11, 12], ["als", "visual", "trending"]),
        shown("M", "v1", T0 + 30 * H, [11, 13], ["trending", "als"], row="home.trending"),
    ]
    click = T0 + timedelta(minutes=1)
    events = [
        LoggedEvent(1, "v1", 11, "click", click, "L"),
        LoggedEvent(2, "v1", 11, "view", click, "L"),
        LoggedEvent(3, "v1", 11, "add_to_cart", click + 24 * H),  # the window's edge: attributed
        LoggedEvent(4, "v1", 11, "purchase", click + 24 * H + timedelta(seconds=1), price=20.0),  # influenced
        LoggedEvent(5, "v2", 11, "click", click, "L"),  # someone else's list id: ignored
        LoggedEvent(6, "v2", 11, "purchase", click + H),  # so nothing to credit
        LoggedEvent(7, "v1", 99, "click", click, "L"),  # a product the list did not hold: ignored
        LoggedEvent(8, "v1", 99, "purchase", click + H),
        LoggedEvent(9, "v1", 12, "click", T0 - H, "L"),  # before the list was shown: ignored
        LoggedEvent(10, "v1", 13, "purchase", T0 + 31 * H),  # never clicked: organic
        LoggedEvent(11, "v1", 11, "click", T0 + 31 * H, "M"),  # the last click now comes from M
        LoggedEvent(12, "v1", 11, "purchase", T0 + 32 * H, price=20.0),
        LoggedEvent(13, "v1", 10, "click", T0 + H, "L"),
        LoggedEvent(14, "v1", 10, "purchase", T0 + H + INFLUENCED + timedelta(seconds=1)),  # past 7 days: none
    ]
    credits = attribute(events, lists, window=WINDOW, influenced=INFLUENCED)
    assert {c.event for c in credits} == {1, 2, 3, 4, 11, 12, 13}
    first = credit_of(credits, 1)
    assert (first.list_id, first.position, first.source, first.row, first.attributed) == (
        "L", 1, "visual", "home.recommended", True
    )  # fmt: skip
    assert credit_of(credits, 3).attributed and not credit_of(credits, 4).attributed
    assert credit_of(credits, 4).price == 20.0
    last = credit_of(credits, 12)
    assert (last.list_id, last.position, last.source, last.row, last.attributed) == (
        "M", 0, "trending", "home.trending", True
    )  # fmt: skip


shoppers = st.sampled_from(["v1", "v2", "u3"])
products = st.integers(1, 6)
moments = st.integers(0, 400).map(lambda minutes: T0 + timedelta(minutes=minutes * 10))


@hypothesis_settings(deadline=None)  # a loaded CI machine is slow, not wrong
@given(
    lists=st.lists(
        st.tuples(st.sampled_from(["A", "B", "C"]), shoppers, moments, st.lists(products, min_size=1, max_size=4,
                                                                                unique=True)),
        max_size=8,
    ),
    events=st.lists(
        st.tuples(shoppers, products, st.sampled_from(["click", "view", "add_to_cart", "purchase"]), moments,
                  st.sampled_from(["", "A", "B", "C"])),
        max_size=25,
    ),
)  # fmt: skip
def test_no_credit_ever_goes_to_a_list_that_did_not_show_the_product_to_that_shopper(lists, events):
    shown_lists = [shown(list_id, who, at, ids) for list_id, who, at, ids in lists]
    logged = [LoggedEvent(n, *event) for n, event in enumerate(events)]
    by_event = {event.event: event for event in logged}
    for credit in attribute(logged, shown_lists, window=WINDOW, influenced=INFLUENCED):
        event = by_event[credit.event]
        assert any(
            item.list_id == credit.list_id and item.shopper == event.shopper and item.shown_at <= event.at
            and credit.position < len(item.product_ids) and item.product_ids[credit.position] == event.product_id
            for item in shown_lists
        )  # fmt: skip


@pytest.fixture
def catalog(settings):
    settings.ROW_EXPLORATION_SLOTS, settings.PAGE_CACHE_VARIANTS = 0, 1  # new visitors share one page
    items = [ProductFactory(article_type=f"Type {n}", price=15) for n in range(6)]
    for rank, product in enumerate(items):
        TrendingScore.objects.create(product=product, score=10.0 - rank)
    return items


@pytest.mark.django_db
def test_a_click_from_the_homepage_and_the_purchase_after_it_are_credited_to_the_list_shown(client, catalog):
    page = client.get("/")
    client.get("/")  # from the page cache: the same list, a second impression of it
    impressions.buffer.flush()
    first, again = Impression.objects.order_by("pk")
    assert again.list_id == first.list_id and again.shown_at > first.shown_at
    impression = first
    assert impression.surface == "home" and impression.row == "home.trending"
    assert impression.product_ids == [p.pk for p in catalog] and impression.sources == ["trending"] * 6
    html = page.content.decode()
    second = catalog[1]
    link = (
        f"/products/{second.pk}/?row=home.trending&amp;strategy=trending&amp;slot=1&amp;list={impression.list_id.hex}"
    )
    assert link in html
    client.get(link.replace("&amp;", "&"))
    client.post(f"/cart/add/{second.pk}/")
    client.post("/cart/checkout/")
    start = datetime.now(UTC) - H
    credits = credits_between(start, start + 2 * H)
    assert sorted(c.kind for c in credits) == ["add_to_cart", "click", "purchase", "view"]
    assert {(c.list_id, c.position, c.source, c.attributed) for c in credits} == {
        (impression.list_id.hex, 1, "trending", True)
    }


def event(product, **fields):
    return {"event_id": str(uuid.uuid4()), "occurred_at": datetime.now(UTC).isoformat(), "product": product,
            "kind": "click", **fields}  # fmt: skip


@pytest.mark.django_db
def test_the_api_gives_each_row_a_recommendation_id_and_credits_a_tap_sent_with_it(catalog):
    api = APIClient()
    body = api.get("/api/v1/recommendations/").json()
    [row] = body["rows"]
    assert uuid.UUID(row["recommendation_id"])
    api.credentials(HTTP_X_VISITOR_ID=body["visitor_id"])
    tapped = row["items"][2]["product"]["id"]
    tap = event(tapped, row=row["key"], slot=2, recommendation_id=row["recommendation_id"])
    sent = api.post("/api/v1/events/", tap, format="json")
    assert sent.status_code == 201, sent.content
    assert Interaction.objects.get(product_id=tapped).recommendation_id == uuid.UUID(row["recommendation_id"])
    impressions.buffer.flush()
    start = datetime.now(UTC) - H
    [credit] = credits_between(start, start + 2 * H)
    assert (credit.kind, credit.position, credit.list_id) == ("click", 2, row["recommendation_id"])
    # Someone else sending the same id earns the list nothing.
    other = APIClient()
    other.post("/api/v1/events/", event(tapped, recommendation_id=row["recommendation_id"]), format="json")
    assert len(credits_between(start, start + 2 * H)) == 1
    bad = api.post("/api/v1/events/", event(tapped, recommendation_id="nope"), format="json")
    assert bad.status_code == 400 and "recommendation_id" in bad.json()


@pytest.mark.django_db
def test_impressions_belong_to_their_shopper(client, catalog):
    user = get_user_model().objects.create_user("ann", password="x-long-password-1")
    visitor = Visitor.objects.create()
    impressions.impressions_record(surface="home", rows=[], user_id=None, visitor_id=None)  # nobody: nothing
    rows = [type("Row", (), {"list_id": uuid.uuid4().hex, "key": "home.trending", "cards": [
        type("Card", (), {"product_id": catalog[0].pk, "strategy": "trending"})()]})()]  # fmt: skip
    impressions.impressions_record(surface="home", rows=rows, user_id=user.pk, visitor_id=visitor.pk)
    impressions.impressions_record(surface="home", rows=rows, user_id=None, visitor_id=visitor.pk)
    impressions.buffer.flush()
    assert Impression.objects.count() == 2
    visitor.delete()
    assert list(Impression.objects.values_list("user_id", flat=True)) == [user.pk]
    user.delete()
    assert not Impression.objects.exists()


@pytest.mark.django_db
def test_the_buffer_is_bounded_and_keeps_its_rows_through_a_failed_write(settings, monkeypatch, catalog):
    settings.IMPRESSIONS_BUFFER_MAX = 3
    buffer = impressions.ImpressionBuffer()
    row = impressions.Shown(uuid.uuid4().hex, "home", "home.trending", None, "", None, str(uuid.uuid4()), T0,
                            (catalog[0].pk,), ("trending",))  # fmt: skip
    buffer.add([row] * 5)
    assert buffer.pending() == 3 and buffer.dropped == 2

    def down(rows):  # a fault: the database refuses the write
        raise OSError("database down")

    monkeypatch.setattr(impressions, "_copy", down)
    assert buffer.flush() == 0 and buffer.pending() == 3
    monkeypatch.undo()
    assert buffer.flush() == 3 and buffer.pending() == 0
    assert Impression.objects.count() == 3


@pytest.mark.django_db
def test_the_product_pages_rows_are_impressions_and_a_click_on_one_is_credited_to_it(client):
    black = ProductFactory(product_group="0108775", colour="Black", price=30)
    white = ProductFactory(product_group="0108775", colour="White", price=30)
    html = client.get(f"/products/{black.pk}/").content.decode()
    impressions.buffer.flush()
    colours = Impression.objects.get(surface="product", row="product.colours")
    assert colours.product_ids == [white.pk] and colours.sources == ["same_product"]
    link = (
        f"/products/{white.pk}/?row=product.colours&amp;strategy=same_product&amp;slot=0&amp;list={colours.list_id.hex}"
    )
    assert link in html
    client.get(link.replace("&amp;", "&"))
    client.post(f"/cart/add/{white.pk}/")
    start = datetime.now(UTC) - H
    credits = credits_between(start, start + 2 * H)
    assert {(c.kind, c.surface, c.row, c.position) for c in credits} == {
        ("click", "product", "product.colours", 0), ("view", "product", "product.colours", 0),
        ("add_to_cart", "product", "product.colours", 0),
    }  # fmt: skip


@pytest.mark.django_db
def test_the_roll_up_counts_cards_and_credits_per_source_and_the_dashboard_shows_them(client, catalog, admin_client):
    from experiments.models import SourceDay
    from experiments.services.rollup import rollup

    client.get("/")
    impressions.buffer.flush()
    impression = Impression.objects.get()
    client.get(f"/products/{catalog[0].pk}/?row=home.trending&strategy=trending&slot=0&list={impression.list_id.hex}")
    client.post(f"/cart/add/{catalog[0].pk}/")
    client.post("/cart/checkout/")
    impressions.buffer.flush()  # the product page's own rows (none here: no colours, no models)
    summary = rollup()
    assert summary.source_days >= 1
    home = SourceDay.objects.get(surface="home", row="home.trending", source="trending")
    assert (home.cards_shown, home.clicks, home.add_to_carts, home.purchases, home.revenue) == (
        6, 1, 1, 1, Decimal("15.00")
    )  # fmt: skip
    assert rollup().source_days == summary.source_days  # idempotent
    page = admin_client.get("/admin/experiments/sourceday/").content.decode()
    assert 'id="source-totals"' in page and "<td>trending</td>" in page


@pytest.mark.django_db
def test_a_search_ordered_for_the_shopper_is_an_impression_and_its_cards_carry_the_list(client):
    from recommendations.models import PopularScore

    dresses = [ProductFactory(name=f"Summer dress {n}", article_type="Dress") for n in range(4)]
    PopularScore.objects.bulk_create(PopularScore(product=p, score=float(n)) for n, p in enumerate(dresses))
    html = client.get("/search/?q=dress").content.decode()
    impressions.buffer.flush()
    # Ordered for the shopper (by what sells, for a new visitor), not by text alone: an impression.
    [impression] = Impression.objects.filter(surface="search")
    assert sorted(impression.product_ids) == sorted(p.pk for p in dresses)
    assert f"&amp;list={impression.list_id.hex}" in html
    text_only = client.get("/search/?q=dress&order=relevance").content.decode()
    impressions.buffer.flush()
    assert Impression.objects.filter(surface="search").count() == 1
    assert "/products/" in text_only


@pytest.mark.django_db
def test_a_list_seen_before_signing_in_is_credited_for_the_click_made_as_the_user(catalog):
    from django.test import Client

    browser = Client()
    browser.get("/")
    impressions.buffer.flush()
    impression = Impression.objects.get()
    user = get_user_model().objects.create_user("cy", password="x-long-password-1")
    from recommendations.services.interactions import visitor_merge_into_user

    browser.force_login(user)  # signed in on that browser: the sign-in signal's merge, as the store does it
    visitor_merge_into_user(visitor=Visitor(pk=impression.visitor_id), user=user)
    browser.get(f"/products/{catalog[3].pk}/?row=home.trending&strategy=trending&slot=3&list={impression.list_id.hex}")
    assert Interaction.objects.filter(user=user, kind="click").exists()
    start = datetime.now(UTC) - H
    assert {(c.kind, c.position) for c in credits_between(start, start + 2 * H)} == {("click", 3), ("view", 3)}


@pytest.mark.django_db(transaction=True)
def test_a_row_the_database_refuses_is_dropped_and_the_rest_written():
    buffer = impressions.ImpressionBuffer()
    good = impressions.Shown(uuid.uuid4().hex, "home", "home.trending", None, "", None, str(uuid.uuid4()), T0,
                             (1,), ("trending",))  # fmt: skip
    # Neither a user nor a visitor: the check constraint refuses it.
    nobody = impressions.Shown(uuid.uuid4().hex, "home", "home.trending", None, "", None, None, T0, (1,),
                               ("trending",))  # fmt: skip
    buffer.add([good, nobody])
    assert buffer.flush() == 1 and buffer.dropped == 1 and buffer.pending() == 0
    assert list(Impression.objects.values_list("list_id", flat=True)) == [uuid.UUID(good.list_id)]


@pytest.mark.django_db
def test_impressions_of_a_user_deleted_before_they_were_written_are_purged_by_the_roll_up(catalog):
    from experiments.services.rollup import rollup

    user = get_user_model().objects.create_user("gone", password="x-long-password-1")
    kept = get_user_model().objects.create_user("kept", password="x-long-password-1")
    rows = [type("Row", (), {"list_id": uuid.uuid4().hex, "key": "home.trending", "cards": [
        type("Card", (), {"product_id": catalog[0].pk, "strategy": "trending"})()]})()]  # fmt: skip
    for shopper in (user, kept):
        impressions.impressions_record(surface="home", rows=rows, user_id=shopper.pk, visitor_id=None)
    user.delete()  # while its impression still waits in the buffer
    impressions.buffer.flush()
    assert Impression.objects.count() == 2  # no database constraint refuses it (experiments.models)
    assert rollup().orphans == 1
    assert list(Impression.objects.values_list("user_id", flat=True)) == [kept.pk]


@pytest.mark.django_db(transaction=True)
def test_the_copy_lines_round_trip_odd_text_and_nulls():
    """The writer builds COPY's text format itself (cheaper than adapting each value): tabs, quotes,
    backslashes, commas and NULLs come back as they went in."""
    buffer = impressions.ImpressionBuffer()
    odd = impressions.Shown(uuid.uuid4().hex, "home", 'we"ird\tro\\w', None, "", None, str(uuid.uuid4()), T0,
                            (1, 2), ('a"b', "c,d"))  # fmt: skip
    buffer.add([odd])
    assert buffer.flush() == 1
    stored = Impression.objects.get()
    assert (stored.row, stored.sources, stored.product_ids, stored.experiment_id, stored.user_id, stored.shown_at) == (
        'we"ird\tro\\w', ['a"b', "c,d"], [1, 2], None, None, T0
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_a_clean_shutdown_of_gunicorn_writes_the_impressions_still_waiting(settings):
    """The writer flushes every hour here, so every impression of these pages is still in the worker's
    buffer when gunicorn is told to stop (SIGTERM, as a deploy does): the worker's exit writes them."""
    import signal
    from pathlib import Path

    import requests

    from experiments.models import Impression
    from recommendations.models import TrendingScore
    from tests.factories import ProductFactory
    from tests.servers import free_port, gunicorn, wait_up

    for rank in range(8):
        TrendingScore.objects.create(product=ProductFactory(article_type=f"Type {rank}"), score=9.0 - rank)
    port = free_port()
    with open(Path(settings.MEDIA_ROOT).parent / f"gunicorn-{port}.log", "w+") as log:
        server = gunicorn(settings, port, log, IMPRESSIONS_FLUSH_S="3600")
        try:
            wait_up(f"http://127.0.0.1:{port}", server, log)
            pages = [requests.get(f"http://127.0.0.1:{port}/", timeout=30) for _ in range(5)]
            assert all(page.status_code == 200 for page in pages)
            assert Impression.objects.count() == 0  # still waiting in the worker's buffer
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
    # Five new visitors (no cookie sent back), each with the homepage's rows: none lost.
    assert Impression.objects.filter(surface="home").values("visitor_id").distinct().count() == 5
