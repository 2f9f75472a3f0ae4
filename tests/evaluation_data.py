"""Synthetic catalogs and logs whose right answers are known, for the evaluation tests."""

import random
from datetime import UTC, datetime, timedelta

import numpy as np

from recommendations.models import Interaction, InteractionKind, Visitor
from tests.factories import EmbeddedProductFactory

START = datetime(2020, 1, 6, tzinfo=UTC)


def clustered_store(*, clusters: int = 3, per_cluster: int = 20, shoppers_per_cluster: int = 10, seed: int = 0):
    """Products in tight visual clusters, each with its own article type; every shopper buys
        3 products of one cluster in weeks 0, 4 and 8.5 (the last in the validation week of a
    1-week split), then 2 other products of it in week 10 (the test week).

        Returns {"products": [[Product, ...] per cluster], "test_product_ids": {visitor id: set}}.
    """
    rng = np.random.default_rng(seed)
    picker = random.Random(seed)
    products = []
    for c in range(clusters):
        centre = rng.normal(size=1280)
        members = []
        for i in range(per_cluster):
            vector = centre + 0.05 * rng.normal(size=1280)
            members.append(
                EmbeddedProductFactory(
                    name=f"c{c}-{i}",
                    article_type=f"type {c}-{i}",
                    category=f"Cluster {c}",
                    embedding=vector / np.linalg.norm(vector),
                )  # fmt: skip
            )
        products.append(members)
    events, test_ids = [], {}
    for c, members in enumerate(products):
        for _ in range(shoppers_per_cluster):
            visitor = Visitor.objects.create()
            bought = picker.sample(members, 5)
            for week, product in zip((0, 4, 8.5), bought[:3], strict=True):
                events.append(_purchase(visitor, product, START + timedelta(weeks=week, hours=c)))
            for product in bought[3:]:
                events.append(_purchase(visitor, product, START + timedelta(weeks=10)))
            test_ids[str(visitor.pk)] = {product.pk for product in bought[3:]}
    Interaction.objects.bulk_create(events)
    return {"products": products, "test_product_ids": test_ids}


def _purchase(visitor, product, when) -> Interaction:
    return Interaction(visitor=visitor, product=product, kind=InteractionKind.PURCHASE, created_at=when)
