"""What serving keeps between pages (catalog.cards' product cards, ProductNeighbours' visual
neighbours) never outlives what it was computed from, and never lets a hard filter slip: each cache
against each change that must show on the very next page."""

import random
import re
import time
from datetime import timedelta

import numpy as np
import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from catalog.cards import card_version, product_cards
from catalog.models import Gender, Product
from catalog.services import product_primary_image_changed, product_stock_take, product_update
from recommendations.models import (
    CollaborativeModel,
    Interaction,
    ProductEmbedding,
    ProductNeighbours,
    RankerModel,
    ServingGeneration,
    TrendingScore,
    Visitor,
)
from recommendations.selectors.homepage import homepage_rows, homepage_rows_served
from recommendations.selectors.shopper import shopper_load
from recommendations.selectors.similar import looks_similar, visual_neighbours
from recommendations.services.interactions import product_view_record
from recommendations.services.trending import trending_refresh
from recommendations.services.visitors import visitor_token
from tests.factories import EmbeddedProductFactory, ProductImageFactory

pytestmark = pytest.mark.django_db
DIM = 1280


def unit(vector):
    return vector / np.linalg.norm(vector)


@pytest.fixture
def shop():
    """Thirty look-alike women's tops around one direction, all trending, with photos."""
    rng = np.random.default_rng(11)
    base = unit(rng.normal(size=DIM))
    products = []
    for i in range(30):
        product = EmbeddedProductFactory(name=f"Top {i}", embedding=unit(base + 0.3 * rng.normal(size=DIM)))
        ProductImageFactory(product=product)
        products.append(product)
    TrendingScore.objects.bulk_create(TrendingScore(product=p, score=100.0 - i) for i, p in enumerate(products))
    return products


def page_of(visitor):
    rows = homepage_rows(shopper=shopper_load(user_id=None, visitor=visitor), rng=random.Random(0))
    return {card.product_id: card.product for row in rows for card in row.cards}


def test_a_card_shows_the_products_new_name_price_and_photo_on_the_next_page(shop):
    visitor = Visitor.objects.create()
    product = shop[0]
    assert page_of(visitor)[product.pk].name == "Top 0"  # cached now, in this process
    product_update(product=product, name="Top 0, ribbed", price=12)
    card = page_of(visitor)[product.pk]
    assert (card.name, card.price) == ("Top 0, ribbed", 12)
    old_url = card.image_url
    product.images.update(is_primary=False)
    ProductImageFactory(product=product, is_primary=True)
    product_primary_image_changed(product_ids=[product.pk])  # as the admin and the API do
    assert page_of(visitor)[product.pk].image_url not in (None, old_url)


def test_a_product_sold_out_deactivated_or_of_another_gender_leaves_every_row_at_once(shop, settings):
    settings.RECOMMEND_REPURCHASES = False
    visitor = Visitor.objects.create()
    Interaction.objects.create(visitor=visitor, product=shop[29], kind="view", created_at=timezone.now())
    first = page_of(visitor)  # every card and the viewed product's neighbours are cached now
    sold_out, inactive, mens = [pid for pid in first if pid != shop[29].pk][:3]
    while product_stock_take(product_id=sold_out):  # bought until none is left (an UPDATE, no save())
        pass
    Product.objects.filter(pk=inactive).update(is_active=False)
    Product.objects.filter(pk=mens).update(gender=Gender.MEN)
    second = page_of(visitor)
    assert not {sold_out, inactive, mens} & second.keys()
    assert second  # the rows are still there, filled with what passes


def test_the_card_cache_serves_without_a_query_once_it_holds_a_version(shop, django_assert_num_queries):
    products = Product.objects.filter(pk__in=[p.pk for p in shop[:5]])
    versions = dict(products.annotate(v=card_version()).values_list("pk", "v"))
    product_cards(versions=versions)
    with django_assert_num_queries(0):
        cards = product_cards(versions=versions)
    assert [cards[p.pk].name for p in shop[:5]] == [f"Top {i}" for i in range(5)]


def test_stored_neighbours_are_recomputed_after_a_new_embedding_and_when_old(
    shop, django_assert_num_queries, exact_vector_search
):
    product = shop[0]
    vector = ProductEmbedding.objects.get(pk=product.pk).vector
    first = visual_neighbours(product_id=product.pk, vector=vector)
    assert ProductNeighbours.objects.get(pk=product.pk).product_ids == [pid for pid, _ in first]
    with django_assert_num_queries(1):  # a primary-key read, no HNSW search
        assert visual_neighbours(product_id=product.pk, vector=vector) == first

    # A new photo, embedded: the product now looks like shop[29] and nothing like the rest.
    twin = ProductEmbedding.objects.get(pk=shop[29].pk).vector
    ProductEmbedding.objects.filter(pk=product.pk).update(vector=twin, photo_version=1)
    again = visual_neighbours(product_id=product.pk, vector=twin)
    assert again[0][0] == shop[29].pk and again[0][1] < 1e-3
    assert ProductNeighbours.objects.get(pk=product.pk).photo_version == 1

    # A list older than VISUAL_NEIGHBOURS_MAX_AGE_S is computed again: a product embedded since shows.
    newcomer = EmbeddedProductFactory(embedding=np.asarray(twin.to_numpy(), dtype=np.float64))
    assert newcomer.pk not in [pid for pid, _ in visual_neighbours(product_id=product.pk, vector=twin)]
    ProductNeighbours.objects.filter(pk=product.pk).update(computed_at=timezone.now() - timedelta(days=1))
    assert newcomer.pk in [pid for pid, _ in visual_neighbours(product_id=product.pk, vector=twin)][:2]


def test_the_neighbours_each_process_keeps_follow_a_new_embedding_on_the_very_next_page(
    shop, client, django_assert_num_queries
):
    """A product page and the similar-products API keep a product's neighbours in the process under
    the ServingGeneration: no embedding read, no neighbours read. A new embedding bumps the generation
    (a trigger, in its own transaction), so the very next page and API answer show the new look."""
    product = shop[0]
    url = reverse("product-detail", args=[product.pk])
    client.get(url)
    # Kept: the generation and one hard-filter query with the card versions; no embedding, no neighbours.
    with django_assert_num_queries(2):
        kept = looks_similar(product=product)
    assert shop[29].pk not in [card.pk for card in kept.products][:1]
    twin = ProductEmbedding.objects.get(pk=shop[29].pk).vector
    ProductEmbedding.objects.filter(pk=product.pk).update(vector=twin, photo_version=1)
    similar = client.get(url).context["similar"]
    assert similar.products[0].pk == shop[29].pk and similar.distances[0] < 1e-3
    body = client.get(f"/api/v1/products/{product.pk}/similar/").json()
    assert body[0]["id"] == shop[29].pk


def test_a_generation_memo_reads_once_per_generation_and_age_and_keeps_the_most_recent():
    from recommendations.selectors.generation import GenerationMemo

    reads = []

    def read(value):
        reads.append(value)
        return value

    memo = GenerationMemo(maxsize=2, max_age_s=0.2)
    assert memo.get(1, 10, lambda: read("a")) == "a"
    assert memo.get(1, 10, lambda: read("b")) == "a"  # kept under generation 10
    assert memo.get(1, 11, lambda: read("c")) == "c"  # another generation: read again
    assert memo.get(1, None, lambda: read("d")) == "d"  # no generation known: always read
    memo.get(2, 11, lambda: read("x"))
    memo.get(3, 11, lambda: read("y"))  # over maxsize: the least recently used (1) goes
    assert memo.get(1, 11, lambda: read("e")) == "e"
    time.sleep(0.25)
    assert memo.get(1, 11, lambda: read("f")) == "f"  # older than max_age_s
    assert reads == ["a", "c", "d", "x", "y", "e", "f"]


def test_looks_similar_applies_the_hard_filters_to_stored_neighbours(shop, client):
    product = shop[0]
    before = [card.pk for card in looks_similar(product=product).products]
    assert len(before) == 12
    gone = before[:3]
    Product.objects.filter(pk=gone[0]).update(stock_quantity=0)
    Product.objects.filter(pk=gone[1]).update(is_active=False)
    Product.objects.filter(pk=gone[2]).update(gender=Gender.MEN)
    after = [card.pk for card in looks_similar(product=product).products]
    assert not set(gone) & set(after) and len(after) == 12
    page = client.get(reverse("product-detail", args=[product.pk])).content.decode()
    assert all(f'data-product-id="{pid}"' not in page for pid in gone)


# --- The page cache (recommendations.selectors.page_cache) ---------------------------------------


def served(visitor=None, user_id=None):
    rows = homepage_rows_served(user_id=user_id, visitor=visitor, rng=random.Random(0))
    return {row.key: [card.product_id for card in row.cards] for row in rows}


def rows_of(page: str) -> str:
    return page[page.index('<section class="row"') :]


def generation() -> int:
    return ServingGeneration.objects.filter(pk=1).values_list("value", flat=True).first() or 0


def test_a_returning_shoppers_page_is_served_from_the_cache_in_two_queries(
    shop, client, settings, django_assert_num_queries
):
    off_sale = EmbeddedProductFactory(name="Off sale", is_active=False)  # on no page
    visitor = Visitor.objects.create()
    Interaction.objects.create(visitor=visitor, product=shop[29], kind="view", created_at=timezone.now())
    client.cookies["visitor_id"] = visitor_token(visitor)
    first = client.get("/").content.decode()
    # The visitor; the generation, the shown-products value and their history's count and newest id.
    # No history, no sources, no model, no hard-filter query, no card query.
    with django_assert_num_queries(2):
        again = client.get("/").content.decode()
    assert rows_of(again) == rows_of(first)
    with django_assert_num_queries(2):
        assert client.get("/api/v1/recommendations/").status_code == 200
    # A product renamed, even one on no page: the cards pass the hard filters again (and their
    # versions are read) once, then the page is kept under the new value.
    product_update(product=off_sale, name="Renamed")
    with django_assert_num_queries(3):
        assert rows_of(client.get("/").content.decode()) == rows_of(first)
    with django_assert_num_queries(2):
        assert rows_of(client.get("/").content.decode()) == rows_of(first)
    # A sale that leaves stock above 0 changes nothing a card shows: still two.
    on_page = next(pid for pid in ids_of(again) if Product.objects.get(pk=pid).stock_quantity > 1)
    product_stock_take(product_id=on_page)
    with django_assert_num_queries(2):
        assert rows_of(client.get("/").content.decode()) == rows_of(first)
    # New visitors (no cookie, so no visitor to read) share PAGE_CACHE_VARIANTS pages.
    settings.PAGE_CACHE_VARIANTS = 1
    Client().get("/")
    with django_assert_num_queries(1):
        assert Client().get("/").status_code == 200


def test_a_page_this_process_served_is_served_again_without_redis_until_a_card_changes(
    shop, client, settings, monkeypatch
):
    """Each process keeps the pages it served under their key and shown value, in front of Redis: the
    same page again asks Redis nothing, for a returning shopper and for new visitors (who share a few
    pages); a sell-out on the page moves the shown value, and the next page asks Redis and drops it."""
    from django.core.cache import cache

    asked = []
    redis_get = cache.get
    monkeypatch.setattr(cache, "get", lambda key, *args: asked.append(key) or redis_get(key, *args))
    visitor = Visitor.objects.create()
    Interaction.objects.create(visitor=visitor, product=shop[29], kind="view", created_at=timezone.now())
    first = served(visitor)
    asked.clear()
    assert served(visitor) == first and asked == []
    settings.PAGE_CACHE_VARIANTS = 1  # new visitors share one page (of 8 by default)
    client.get("/")  # a new visitor
    asked.clear()
    assert client.get("/").status_code == 200 and asked == []
    on_page = first["home.recommended"][0]
    while product_stock_take(product_id=on_page):
        pass
    after = served(visitor)
    assert asked and on_page not in {pid for ids in after.values() for pid in ids}


def ids_of(page: str) -> list[int]:
    return [int(pid) for pid in re.findall(r'data-product-id="(\d+)"', page)]


def test_a_shoppers_own_view_changes_their_very_next_page(shop):
    visitor = Visitor.objects.create()
    Interaction.objects.create(visitor=visitor, product=shop[29], kind="view", created_at=timezone.now())
    before = served(visitor)
    assert served(visitor) == before  # cached
    # They view a product: "Because you viewed" is about it now, and it leaves the other rows.
    viewed = before["home.trending"][0]
    product_view_record(product_id=viewed, user=AnonymousUser(), visitor=visitor, row="", strategy="", slot="")
    after = served(visitor)
    assert viewed not in after["home.trending"] and viewed not in after["home.recommended"]
    rows = homepage_rows_served(user_id=None, visitor=visitor)
    because = next(row for row in rows if row.key == "home.because")
    assert because.title.endswith(Product.objects.get(pk=viewed).name)


def test_a_product_sold_out_or_deactivated_leaves_a_cached_page_at_once(shop):
    visitor = Visitor.objects.create()
    Interaction.objects.create(visitor=visitor, product=shop[29], kind="view", created_at=timezone.now())
    before = served(visitor)
    on_page = [pid for ids in before.values() for pid in ids]
    sold_out, inactive = on_page[0], on_page[-1]
    while product_stock_take(product_id=sold_out):
        pass
    assert not {sold_out} & {pid for ids in served(visitor).values() for pid in ids}
    Product.objects.filter(pk=inactive).update(is_active=False)
    after = served(visitor)
    assert not {sold_out, inactive} & {pid for ids in after.values() for pid in ids}
    # Computed again: the first rows full, and the products left (30 less the one viewed, two
    # taken away) all on the page, each once.
    shown = [pid for ids in after.values() for pid in ids]
    assert len(after["home.recommended"]) == 12 and len(shown) == len(set(shown)) == 27


def test_a_new_embedding_trending_refresh_retrain_and_new_product_each_invalidate_cached_pages(shop):
    """Each bumps the ServingGeneration (database triggers, in the change's own transaction); a page
    cached before is computed again. Known answer for the embedding: a product re-embedded as the
    twin of what the shopper viewed joins their recommendations on the very next page."""
    visitor = Visitor.objects.create()
    Interaction.objects.create(visitor=visitor, product=shop[29], kind="view", created_at=timezone.now())
    far = EmbeddedProductFactory(name="Far away", embedding=unit(np.random.default_rng(5).normal(size=DIM)))
    ProductImageFactory(product=far)
    before = served(visitor)
    assert far.pk not in before["home.recommended"]
    start = generation()
    twin = ProductEmbedding.objects.get(pk=shop[29].pk).vector
    ProductEmbedding.objects.filter(pk=far.pk).update(vector=twin)
    assert generation() > start
    assert far.pk in served(visitor)["home.recommended"]

    model = CollaborativeModel.objects.create(trained_until=timezone.now(), factors=2)
    ranker = RankerModel.objects.create(trained_until=timezone.now(), features=[], boosters="[]", items=b"")
    for what, change in {
        "a trending refresh": trending_refresh,
        "an ALS model activated": lambda: CollaborativeModel.objects.filter(pk=model.pk).update(is_active=True),
        "a ranker activated": lambda: RankerModel.objects.filter(pk=ranker.pk).update(is_active=True),
        "a ranker switched off": lambda: RankerModel.objects.filter(pk=ranker.pk).update(is_active=False),
        "a new product": lambda: EmbeddedProductFactory(name="Brand new"),
        "an embedding removed": lambda: ProductEmbedding.objects.filter(pk=far.pk).delete(),
    }.items():
        start = generation()
        change()
        assert generation() > start, what


def test_an_update_that_changes_nothing_does_not_invalidate_pages(shop):
    start = generation()
    ProductEmbedding.objects.filter(pk=-1).update(photo_version=2)  # a sweep that found nothing
    CollaborativeModel.objects.filter(is_active=True).update(is_active=True)  # no model: nothing changes
    assert generation() == start


def test_the_rows_markup_kept_per_process_follows_each_cards_product(shop, client):
    """storefront's home_rows keeps the markup of a set of rows, keyed by every card's record: a
    renamed product is a new record, so the very next page shows the new name."""
    first = client.get("/").content.decode()
    assert ">Top 0<" in first and client.get("/").content.decode().count(">Top 0<") == first.count(">Top 0<")
    product_update(product=shop[0], name="Top 0, ribbed")
    after = client.get("/").content.decode()
    assert ">Top 0, ribbed<" in after and ">Top 0<" not in after
    assert f'href="/products/{shop[0].pk}/?row=home.trending&amp;strategy=trending&amp;slot=0&amp;list=' in after


@pytest.fixture
def checkerboard_shop(shop, settings):
    """The shop in fifteen colour pairs, bought in a checkerboard (buyer i: every product of i's parity
    but i) and ALS trained on it, one product sold out: all three product-page lists have something."""
    from django.contrib.auth import get_user_model

    from recommendations.services.collaborative import collaborative_train

    settings.ALS_FACTORS, settings.ALS_REGULARIZATION, settings.ALS_ITERATIONS = 4, 0.5, 15
    for index, product in enumerate(shop):
        product.product_group = f"g{index // 2}"
        Product.objects.filter(pk=product.pk).update(product_group=product.product_group)
    buyers = [get_user_model().objects.create(username=f"buyer-{i}") for i in range(len(shop))]
    start = timezone.now() - timedelta(days=3)
    Interaction.objects.bulk_create(
        Interaction(user=buyer, product=product, kind="purchase", created_at=start + timedelta(minutes=i * 30 + j))
        for i, buyer in enumerate(buyers)
        for j, product in enumerate(shop)
        if (i + j) % 2 == 0 and i != j
    )
    assert collaborative_train() is not None
    Product.objects.filter(pk=shop[5].pk).update(stock_quantity=0)
    return shop


def test_the_product_pages_one_query_lists_are_the_three_selectors_lists(checkerboard_shop):
    """product_page_lists reads the lists' hard filters in one query; each list must be what its
    own selector gives (other_colours, customers_also_bought, looks_similar), less what a list above
    it shows (a product shows once on a page)."""
    from recommendations.selectors.collaborative import customers_also_bought
    from recommendations.selectors.product_page import product_page_lists
    from recommendations.selectors.similar import other_colours

    group = {p.pk: p.product_group for p in checkerboard_shop}

    def one_per_product(pks, on_page, k=12):  # below "Other colours", a product (colour group) shows once a page
        kept = []
        for pk in pks:
            if group[pk] not in on_page and len(kept) < k:
                on_page.add(group[pk])
                kept.append(pk)
        return kept

    filled = []  # which lists each page had: each list must have something on some page
    for product in checkerboard_shop[:6]:
        lists = product_page_lists(product=product)
        assert lists.goes_with == []  # no ranker trained: no "Goes well with"
        assert [c.pk for c in lists.colours] == [c.pk for c in other_colours(product=product)]
        on_page = {product.product_group}
        also = one_per_product([c.pk for c in customers_also_bought(product=product, k=100)], on_page)
        assert [c.pk for c in lists.also_bought] == also
        similar = looks_similar(product=product)
        kept = {}
        for c, d in zip(similar.products, similar.distances, strict=True):
            if group[c.pk] not in on_page:
                on_page.add(group[c.pk])
                kept[c.pk] = d
        assert [c.pk for c in lists.similar.products] == list(kept)
        assert lists.similar.distances == list(kept.values())
        filled.append((bool(lists.colours), bool(lists.also_bought), bool(lists.similar.products)))
        assert checkerboard_shop[5].pk not in {
            c.pk for c in [*lists.colours, *lists.also_bought, *lists.similar.products]
        }
    assert all(any(page[n] for page in filled) for n in range(3)), filled


def test_a_computed_page_reads_trending_and_the_models_once_per_generation(shop):
    """Under one ServingGeneration a process reads the trending list and the active models' ids once
    (selectors.generation); a bump (here a trending refresh) makes the next page read them again."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    visitor = Visitor.objects.create()
    watched = ("recommendations_trendingscore", "recommendations_rankermodel", "recommendations_collaborativemodel")

    def computed_page_reads() -> set[str]:
        # A new event: the page is computed, not served from the cache.
        Interaction.objects.create(visitor=visitor, product=shop[len(visitor.interaction_set.all())], kind="view",
                                   created_at=timezone.now())  # fmt: skip
        with CaptureQueriesContext(connection) as queries:
            served(visitor)
        return {table for table in watched if any(f'"{table}"' in q["sql"] for q in queries.captured_queries)}

    assert computed_page_reads() == set(watched)  # the first page of this generation reads them all
    assert computed_page_reads() == set()
    trending_refresh()
    assert computed_page_reads() == set(watched)


def shown_value() -> int:
    return ServingGeneration.objects.filter(pk=2).values_list("value", flat=True).first() or 0


def test_the_shown_products_value_moves_with_what_a_card_shows_or_a_filter_reads_and_not_with_a_sale(shop):
    """Migration 0013's triggers: a cached page is served without a hard-filter query while this
    value stands, so every change a card shows or a filter reads must move it, and a sale that leaves
    stock above 0 (most checkouts) must not."""
    product = shop[0]
    start = shown_value()
    assert product_stock_take(product_id=product.pk)  # 5 -> 4
    Product.objects.filter(pk=product.pk).update(stock_set_at=timezone.now(), edited_by_staff=True)
    assert shown_value() == start
    for what, change in {
        "sold out": lambda: Product.objects.filter(pk=product.pk).update(stock_quantity=0),
        "back in stock": lambda: Product.objects.filter(pk=product.pk).update(stock_quantity=3),
        "deactivated": lambda: Product.objects.filter(pk=product.pk).update(is_active=False),
        "reactivated": lambda: Product.objects.filter(pk=product.pk).update(is_active=True),
        "another gender": lambda: Product.objects.filter(pk=product.pk).update(gender=Gender.MEN),
        "a new price": lambda: product_update(product=Product.objects.get(pk=product.pk), price=99),
        "a new name": lambda: product_update(product=Product.objects.get(pk=product.pk), name="Renamed"),
        "a new photo": lambda: product_primary_image_changed(product_ids=[product.pk]),
        "deleted": lambda: Product.objects.filter(pk=shop[1].pk).delete(),
    }.items():
        before = shown_value()
        change()
        assert shown_value() > before, what


@pytest.mark.django_db(transaction=True)
def test_a_sell_out_moves_the_shown_value_at_its_commit_and_leaves_the_next_page(shop):
    """Deferred to the commit (so two writers never deadlock on the value's row): while the sell-out
    is uncommitted the product is still for sale and the cached page stands; the first page after
    the commit no longer shows it."""
    import threading

    from django.db import connection, transaction

    visitor = Visitor.objects.create()
    Interaction.objects.create(visitor=visitor, product=shop[29], kind="view", created_at=timezone.now())
    before = served(visitor)
    on_page = before["home.recommended"][0]
    start = shown_value()
    written, commit = threading.Event(), threading.Event()

    def writer():
        try:
            with transaction.atomic():
                Product.objects.filter(pk=on_page).update(stock_quantity=0)
                written.set()
                commit.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    assert written.wait(10)
    assert shown_value() == start and served(visitor) == before  # not committed: still for sale
    commit.set()
    thread.join(10)
    assert shown_value() > start
    assert on_page not in {pid for ids in served(visitor).values() for pid in ids}


def test_a_product_pages_kept_lists_lose_a_product_sold_out_deactivated_or_of_another_gender_at_once(
    shop, client, django_assert_num_queries
):
    """The product page and the similar-products API keep which of their products pass the hard
    filters under the serving values: read once, then no hard-filter query until a product changes,
    and a change leaves both on the very next request."""
    url = reverse("product-detail", args=[shop[0].pk])
    api = f"/api/v1/products/{shop[0].pk}/similar/"

    def listed() -> tuple[set[int], set[int]]:
        page = client.get(url).context
        on_page = {card.pk for name in ("goes_with", "colours", "also_bought") for card in page[name]}
        on_page |= {card.pk for card in page["similar"].products}
        return on_page, {item["id"] for item in client.get(api).json()}

    first, from_api = listed()
    assert len(first) >= 6 and len(from_api) >= 6
    with django_assert_num_queries(3):  # the visitor, the view, the serving values
        client.get(url)
    sold_out, inactive, mens = sorted(first & from_api)[:3]
    while product_stock_take(product_id=sold_out):
        pass
    Product.objects.filter(pk=inactive).update(is_active=False)
    Product.objects.filter(pk=mens).update(gender=Gender.MEN)
    after, after_api = listed()
    assert not {sold_out, inactive, mens} & (after | after_api)
    assert first - {sold_out, inactive, mens} <= after  # the others stay


def test_a_product_page_is_kept_under_the_serving_values_and_shows_a_change_of_its_product_at_once(
    shop, client, django_assert_num_queries
):
    """The product page keeps its product, its photos and its lists per process under the serving
    values: a sale that leaves stock reads nothing more, and a rename, a second photo, a removed photo
    or a deactivation shows on the very next request."""
    product = shop[0]
    url = reverse("product-detail", args=[product.pk])

    def gallery() -> list[str]:
        return re.findall(r'<img src="([^"]+)" alt="[^"]*"(?: class="secondary")?>', client.get(url).content.decode())

    first = gallery()
    assert len(first) == 1
    assert product_stock_take(product_id=product.pk)
    with django_assert_num_queries(3):  # the visitor, the view, the serving values
        assert client.get(url).status_code == 200
    product_update(product=product, name="Top 0, ribbed")
    assert "<h1>Top 0, ribbed</h1>" in client.get(url).content.decode()
    second = ProductImageFactory(product=product, is_primary=False)  # a second photo, as an admin inline adds it
    assert gallery() == [*first, second.image.url]
    product.images.filter(is_primary=True).delete()
    assert gallery() == [second.image.url]
    Product.objects.filter(pk=product.pk).update(is_active=False)
    assert client.get(url).status_code == 404


def test_a_computed_page_reads_its_candidates_filters_once_per_serving_values_and_drops_a_sold_out_one(shop):
    """A homepage computed for a shopper reads what the hard filters need of its candidates once per
    serving values in a process: computed again, it asks nothing of the products it already asked
    about (no query of their facts, the same rows); a sell-out moves the values and leaves the next page."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from recommendations.selectors import sources
    from recommendations.selectors.generation import serving_values

    visitor = Visitor.objects.create()
    for product in shop[26:]:
        product_view_record(product_id=product.pk, user=AnonymousUser(), visitor=visitor, row="", strategy="", slot="")
    shopper = shopper_load(user_id=None, visitor=visitor)

    def computed(values):
        with CaptureQueriesContext(connection) as queries:
            rows = homepage_rows(shopper=shopper, rng=random.Random(0), values=values)
        facts_read = sum('AS "sale"' in query["sql"] for query in queries.captured_queries)  # product_facts
        return {row.key: [card.product_id for card in row.cards] for row in rows}, facts_read

    values = serving_values()
    computed(values)  # every other per-process value read
    page, warm = computed(values)
    sources._facts.update(values=None, items={})  # as if this process had asked about none of them
    again, cold = computed(values)
    assert again == page and (warm, cold) == (0, 1)
    sold_out = page["home.recommended"][0]
    while product_stock_take(product_id=sold_out):
        pass
    assert serving_values() != values
    after, _ = computed(serving_values())
    assert sold_out not in {pid for ids in after.values() for pid in ids}
    assert len(after["home.recommended"]) == 12
