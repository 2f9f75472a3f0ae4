"""Colour variants as one card (issue 41): a card's swatches are its product's other colours on sale,
never stale, and every colour the two catalogs name has a swatch or says it has none."""

import csv
import random
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from catalog.cards import card_version, product_cards
from catalog.colours import stylesheet, swatch_class
from catalog.models import Gender, Product
from recommendations.models import TrendingScore, Visitor
from recommendations.selectors.homepage import homepage_rows_served
from tests.factories import ProductFactory

DATA = Path(settings.BASE_DIR).parent / "shared" / "data"


def test_the_stylesheet_is_written_from_the_colour_table():
    written = (Path(settings.BASE_DIR) / "static" / "storefront" / "swatches.css").read_text()
    assert written == stylesheet(), "run: python -m catalog.colours > static/storefront/swatches.css"


@pytest.mark.parametrize(
    ("name", "css_class"),
    [("Dark Blue", "sw-blue-dark"), ("Light Pink", "sw-pink-light"), ("Greenish Khaki", "sw-khaki"),
     ("Off White", "sw-off-white"), ("Navy Blue", "sw-navy-blue"), ("Yellowish Brown", "sw-brown"),
     ("Other", ""), ("Multi", "")],
)  # fmt: skip
def test_a_colour_name_gives_its_swatch(name, css_class):
    assert swatch_class(name) == css_class


@pytest.mark.skipif(not (DATA / "hm" / "articles.csv").exists(), reason="needs ../shared/data")
def test_every_colour_of_both_catalogs_has_a_swatch_but_the_ones_that_name_none():
    hm = {row["colour_group_name"] for row in csv.DictReader((DATA / "hm" / "articles.csv").open())}
    myntra = {row["baseColour"] for row in csv.DictReader((DATA / "myntra" / "styles.csv").open())}
    assert len(hm) >= 40 and len(myntra) >= 40
    assert sorted(name for name in hm | myntra if not swatch_class(name)) == ["Metallic", "Multi", "Other", "Unknown"]


def _versions(*products):
    rows = Product.objects.filter(pk__in=[p.pk for p in products]).annotate(v=card_version()).values_list("pk", "v")
    return dict(rows)


@pytest.mark.django_db
def test_a_card_shows_its_products_other_colours_on_sale_and_follows_every_change():
    black, grey, red = (ProductFactory(product_group="0706016", colour=c) for c in ("Black", "Grey", "Red"))
    other = ProductFactory(product_group="", colour="Blue")
    cards = product_cards(versions=_versions(black, grey, red, other))
    assert cards[black.pk].colours == ((grey.pk, "Grey"), (red.pk, "Red"))
    assert cards[red.pk].colours == ((black.pk, "Black"), (grey.pk, "Grey"))
    assert cards[other.pk].colours == ()

    # Red sells out: black's row gets a new version (catalog migration 0012), so its card is read
    # again under it, without red; a sale that leaves stock above 0 rewrites no sibling.
    before = _versions(black, grey)
    Product.objects.filter(pk=grey.pk).update(stock_quantity=3)
    assert _versions(black)[black.pk] == before[black.pk]
    Product.objects.filter(pk=red.pk).update(stock_quantity=0)
    after = _versions(black, grey)
    assert after[black.pk] != before[black.pk] and after[grey.pk] != before[grey.pk]
    assert product_cards(versions=after)[black.pk].colours == ((grey.pk, "Grey"),)

    # A new colour, a colour renamed, a colour deleted: each reaches the others' cards.
    white = ProductFactory(product_group="0706016", colour="White")
    assert product_cards(versions=_versions(black))[black.pk].colours == ((grey.pk, "Grey"), (white.pk, "White"))
    Product.objects.filter(pk=grey.pk).update(colour="Dark Grey")
    assert product_cards(versions=_versions(black))[black.pk].colours == ((grey.pk, "Dark Grey"), (white.pk, "White"))
    white.delete()
    assert product_cards(versions=_versions(black))[black.pk].colours == ((grey.pk, "Dark Grey"),)
    # Moved to another product: it leaves the first's swatches.
    Product.objects.filter(pk=grey.pk).update(product_group="0999999")
    assert product_cards(versions=_versions(black))[black.pk].colours == ()


@pytest.mark.django_db
def test_the_homepage_shows_one_card_per_product_with_its_colours_as_swatches(settings):
    settings.ROW_EXPLORATION_SLOTS, settings.HOME_ROW_SIZE = 0, 4
    joggers = [ProductFactory(gender=Gender.MEN, product_group="0123456", colour=c, name="Mike jogger")
               for c in ("Black", "Dark Blue", "Light Grey")]  # fmt: skip
    shirts = [ProductFactory(gender=Gender.MEN, article_type=f"Shirt {n}") for n in range(3)]
    for rank, product in enumerate([*joggers, *shirts]):
        TrendingScore.objects.create(product=product, score=10.0 - rank)
    html = Client().get("/").content.decode()
    assert html.count("Mike jogger") == 1  # one card (its name once; the photo's alt is absent here)
    assert '<span class="swatch sw-black own" title="Black"></span>' in html
    assert '<span class="swatch sw-blue-dark" title="Dark Blue"></span>' in html
    assert '<span class="swatch sw-grey-light" title="Light Grey"></span>' in html
    rows = homepage_rows_served(user_id=None, visitor=Visitor.objects.create(), rng=random.Random(0))
    assert [card.product_id for row in rows for card in row.cards] == [joggers[0].pk, *(s.pk for s in shirts)]


@pytest.mark.django_db(transaction=True)
def test_the_rewrite_runs_at_commit_and_a_row_locked_for_a_logged_event_is_not_skipped():
    """At commit, as the store runs it (the triggers deferred): a sibling that another transaction holds
    only a key-share lock on (an event being logged for it) is rewritten all the same."""
    import threading

    from django.db import connections, transaction

    from recommendations.models import Interaction, Visitor

    black, grey = (ProductFactory(product_group="0706017", colour=c) for c in ("Black", "Grey"))
    visitor = Visitor.objects.create()
    before = _versions(black)[black.pk]
    holding, release = threading.Event(), threading.Event()

    def log_a_view_of_black() -> None:
        # An event pointing at black: its foreign-key check takes FOR KEY SHARE on black's row (Django's
        # keys are checked at commit, so the lock is taken here by hand, as that check takes it).
        with transaction.atomic():
            Interaction.objects.create(visitor=visitor, product=black, kind="view", created_at=timezone.now())
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT 1 FROM catalog_product WHERE id = %s FOR KEY SHARE", [black.pk])
            holding.set()
            release.wait(10)
        connections.close_all()

    other = threading.Thread(target=log_a_view_of_black)
    other.start()
    assert holding.wait(10)
    Product.objects.filter(pk=grey.pk).update(stock_quantity=0)  # autocommit: the deferred rewrite runs now
    release.set()
    other.join(10)
    assert _versions(black)[black.pk] != before
    assert product_cards(versions=_versions(black))[black.pk].colours == ()
