"""One contract that every candidate source of the homepage keeps (as implicit's shared test mixin
does for its recommenders): typed Candidates, best first, each product once, named by its source,
only products that exist, and an anchor (when given) from the shopper's own history."""

import random
from datetime import timedelta

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from catalog.models import Product
from recommendations.domain import Candidate
from recommendations.models import Interaction, TrendingScore
from recommendations.ranker import clicks
from recommendations.ranker.items import item_table
from recommendations.selectors.collaborative import collaborative_candidates, serving_model
from recommendations.selectors.shopper import shopper_load
from recommendations.selectors.sources import (
    buy_again_candidates,
    recent_embeddings,
    same_product_candidates,
    trending_candidates,
    visual_candidates,
)
from recommendations.services.collaborative import collaborative_train
from recommendations.services.ranker import catalog_rows, log_events
from tests.factories import EmbeddedProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(settings):
    settings.ALS_FACTORS = 4
    rng = random.Random(7)
    # 70: the photo axes of the after-a-click table need 64 embedded products. Seven lines of
    # products across the five groups, named as such, for the text source.
    kinds, lines = ("Dress", "Top", "Shoes"), ("Idro", "Lana", "Vega", "Oslo", "Tilda", "Mira", "Juno")
    products = [EmbeddedProductFactory(product_group=f"g{i % 5}", article_type=kinds[i % 3],
                                       name=f"{lines[i % 7]} {kinds[i % 3].lower()}",
                                       department=("Womens", "Divided")[i % 2]) for i in range(70)]  # fmt: skip
    users = [get_user_model().objects.create_user(f"u{i}") for i in range(8)]
    now = timezone.now()
    Interaction.objects.bulk_create(
        Interaction(user=user, product=rng.choice(products), kind=rng.choice(["view", "add_to_cart", "purchase"]),
                    created_at=now - timedelta(hours=rng.randint(1, 60)))
        for user in users for _ in range(24)
    )  # fmt: skip
    TrendingScore.objects.bulk_create(TrendingScore(product=p, score=float(i)) for i, p in enumerate(products[:20]))
    collaborative_train()
    return shopper_load(user_id=users[0].pk, visitor=None)


SOURCES = {
    "trending": lambda shopper: trending_candidates(),
    "als": lambda shopper: collaborative_candidates(serving_model(), shopper),
    "visual": lambda shopper: visual_candidates(shopper, recent_embeddings(shopper), None, set()),
    "buy_again": buy_again_candidates,
    "same_product": lambda shopper: same_product_candidates(shopper, None),
}


@pytest.mark.parametrize("name", SOURCES)
def test_every_source_keeps_the_candidate_contract(shop, name):
    candidates = SOURCES[name](shop)
    assert candidates, f"{name} proposed nothing on a shop where it has data"
    assert all(isinstance(c, Candidate) and c.source == name for c in candidates)
    scores = [c.score for c in candidates]
    assert scores == sorted(scores, reverse=True) and all(np.isfinite(scores))
    ids = [c.product_id for c in candidates]
    assert len(ids) == len(set(ids))
    assert Product.objects.filter(pk__in=ids).count() == len(ids)
    history = set(shop.recent_product_ids)
    assert all(c.anchor is None or c.anchor in history for c in candidates)


@pytest.mark.parametrize("name", clicks.SOURCES)
def test_every_after_a_click_source_keeps_the_candidate_contract(shop, name):
    """The after-a-click sources read the item table of the shop's log (ranker.clicks), anchored on
    the shopper's newest products."""
    table = item_table(catalog_rows(), log_events())
    anchors = clicks.anchor_rows(shop, table, 3)
    candidates = clicks.source_candidates(table, anchors, name)
    assert candidates, f"{name} proposed nothing on a shop where it has data"
    assert all(isinstance(c, Candidate) and c.source == name for c in candidates)
    scores = [c.score for c in candidates]
    assert scores == sorted(scores, reverse=True) and all(np.isfinite(scores))
    ids = [c.product_id for c in candidates]
    assert len(ids) == len(set(ids)) and not set(ids) & {int(table.ids[row]) for row in anchors}
    assert Product.objects.filter(pk__in=ids).count() == len(ids)
    assert all(c.anchor in set(shop.recent_product_ids) for c in candidates)
