"""Candidate sources for the homepage: each returns Candidates, best first.

The hard filters live here too (``eligible``), so that every source and every row applies the same ones.
"""

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS as PRIMARY
from django.db.models import BooleanField, ExpressionWrapper, QuerySet

from catalog.cards import VersionedCache, card_version, row_version
from catalog.models import Product
from catalog.selectors import on_sale
from common.compiled import IDS, CompiledQuery, id_literal, ids_in
from recommendations.domain import Candidate, Shopper
from recommendations.encoders import encoder_class
from recommendations.models import ProductEmbedding, TrendingScore
from recommendations.selectors.generation import ServingValues, on_forget
from recommendations.selectors.similar import embedded_products, hard_filters, products_similar_to_vector

# What a card shows and the filters check; the 2.5 kB embedding stays in the database.


def eligible(*, genders: tuple[str, ...] | None, exclude: set[int]) -> QuerySet[Product]:
    """Products that pass the hard filters (selectors.similar.hard_filters, the one definition)."""
    return Product.objects.filter(hard_filters(genders=genders, exclude=exclude))


@dataclass(frozen=True, slots=True)
class ProductFacts:
    """What the hard filters read of a product, its article type (the rows' diversity) and its card
    version, as read under one set of serving values."""

    on_sale: bool  # catalog.selectors.on_sale, computed by the database
    gender: str
    article_type: str
    version: str
    group: str = ""  # product_group: the colours of one product share it (one card per product a page)


def passes(pk: int, facts: ProductFacts, *, genders: tuple[str, ...] | None, exclude: set[int]) -> bool:
    """hard_filters over facts already read: on sale, a gender among ``genders`` (None: any), not
    excluded. tests/test_homepage.py's property test holds pages built with it to the filters."""
    return facts.on_sale and (genders is None or facts.gender in genders) and pk not in exclude


# Facts of the products this process's computed homepages asked about, under the serving values
# they were read after (ServingValues: a product change a filter reads moves them, at its commit, and
# then this map starts again). Bounded: emptied when it passes this many products.
FACTS_KEPT = 100_000
_facts: dict = {"values": None, "items": {}}
_facts_lock = threading.Lock()
on_forget(lambda: _facts.update(values=None, items={}))


# Asked on most computed homepages, for their few candidates not asked about yet (common.compiled).
_FACTS = CompiledQuery(
    lambda ids: Product.objects.filter(pk__in=ids_in(ids))
    .annotate(sale=ExpressionWrapper(on_sale(), output_field=BooleanField()), v=card_version())
    .values_list("pk", "sale", "gender", "article_type", "v", "product_group"),
    ids=IDS,
)


def product_facts(ids: set[int], values: ServingValues | None) -> dict[int, ProductFacts]:
    """The facts of ``ids`` (a deleted product has none): those this process read under ``values``
    from its memory, the others in one query. Without values, all of them read fresh."""
    known: dict[int, ProductFacts] = {}
    if values is not None:
        with _facts_lock:
            if _facts["values"] != values:
                _facts["values"], _facts["items"] = values, {}
            items = _facts["items"]
            known = {pk: items[pk] for pk in ids if pk in items}
    missing = [pk for pk in ids if pk not in known]
    if missing:
        # On the primary, as the values were: a lagging replica's rows would be kept under them.
        rows = _FACTS.rows(PRIMARY, ids=id_literal(missing))
        fresh = {pk: ProductFacts(*facts) for pk, *facts in rows}
        if values is not None:
            with _facts_lock:
                if _facts["values"] == values:
                    if len(_facts["items"]) + len(fresh) > FACTS_KEPT:
                        _facts["items"] = {}
                    _facts["items"].update(fresh)
        known.update(fresh)
    return known


# Embeddings of recently seen products, per row version (5 kB each): parsing 20 vectors' text cost a
# homepage about 5 ms, and the products a shop's shoppers look at are mostly the same few thousand.
_vectors = VersionedCache(4096)


def recent_embeddings(shopper: Shopper) -> dict[int, np.ndarray]:
    """The embeddings of the shopper's recent products: their row versions in one query, and the
    vectors this process does not hold at those versions in a second (none once they are held)."""
    recent = shopper.recent_product_ids[: settings.PREFERENCE_RECENT_EVENTS]
    if not recent:
        return {}
    embedded = (
        embedded_products(model_key=encoder_class().model_key())
        .filter(pk__in=recent)
        .annotate(v=row_version(ProductEmbedding))
    )
    versions = dict(embedded.values_list("pk", "v"))
    vectors = _vectors.get_many(list(versions.items()))
    missing = [pk for pk in versions if pk not in vectors]
    if missing:
        rows = embedded.filter(pk__in=missing).values_list("pk", "v", "vector")
        fresh = {(pk, version): vector.to_numpy().astype(np.float32) for pk, version, vector in rows}
        _vectors.put_many(fresh)
        vectors.update({pk: vector for (pk, _), vector in fresh.items()})
    return vectors


def visual_preference(shopper: Shopper, vectors: dict[int, np.ndarray]) -> np.ndarray | None:
    """Weighted mean of the recent products' embeddings (kind weight x recency decay), normalised."""
    recent = shopper.recent[: settings.PREFERENCE_RECENT_EVENTS]
    if not recent or not vectors:
        return None
    newest = recent[0].at
    total = np.zeros(len(next(iter(vectors.values()))), dtype=np.float32)
    for event in recent:
        if event.product_id in vectors:
            age_days = (newest - event.at).total_seconds() / 86400
            weight = settings.RECOMMENDER_KIND_WEIGHTS.get(event.kind, 0) * 0.5 ** (
                age_days / settings.PREFERENCE_HALF_LIFE_DAYS
            )
            total += weight * vectors[event.product_id]
    norm = float(np.linalg.norm(total))
    return total / norm if norm > 0 else None


def visual_candidates(
    shopper: Shopper, vectors: dict[int, np.ndarray], genders, exclude: set[int], limit: int = 60
) -> list[Candidate]:
    preference = visual_preference(shopper, vectors)
    if preference is None:
        return []
    anchor = _heaviest_recent_product(shopper)
    nearest = products_similar_to_vector(
        vector=preference, genders=genders, exclude_ids=exclude, k=limit, ids_only=True
    )
    return [Candidate(product_id, 1.0 - distance, "visual", anchor) for product_id, distance in nearest]


def _heaviest_recent_product(shopper: Shopper) -> int | None:
    weights = settings.RECOMMENDER_KIND_WEIGHTS
    recent = shopper.recent[: settings.PREFERENCE_RECENT_EVENTS]
    heaviest = max(recent, key=lambda event: weights.get(event.kind, 0), default=None)
    return heaviest.product_id if heaviest else None


def trending_candidates(limit: int = 200) -> list[Candidate]:
    rows = TrendingScore.objects.order_by("-score").values_list("product_id", "score")[:limit]
    return [Candidate(pid, score, "trending") for pid, score in rows]


# Buy again: how much each kind of event says "would buy it again" (a view says nothing here).
BUY_AGAIN_WEIGHTS = {"purchase": 1.0, "add_to_cart": 0.5}


def _buy_again_weights(shopper: Shopper) -> dict[int, float]:
    """product id -> purchases and add-to-carts, each halved every BUY_AGAIN_HALF_LIFE_DAYS before
    the shopper's newest event: what they bought often and lately weighs most."""
    if not shopper.recent:
        return {}
    newest = shopper.recent[0].at
    weights: dict[int, float] = {}
    for event in shopper.recent:
        if event.kind in BUY_AGAIN_WEIGHTS:
            age_days = (newest - event.at).total_seconds() / 86400
            decay = 0.5 ** (age_days / settings.BUY_AGAIN_HALF_LIFE_DAYS)
            weights[event.product_id] = weights.get(event.product_id, 0.0) + BUY_AGAIN_WEIGHTS[event.kind] * decay
    return weights


def buy_again_candidates(shopper: Shopper) -> list[Candidate]:
    """The shopper's own purchases and add-to-carts, most bought and most recent first."""
    weights = _buy_again_weights(shopper)
    ranked = sorted(weights, key=lambda pid: (-weights[pid], pid))
    return [Candidate(pid, weights[pid], "buy_again", anchor=pid) for pid in ranked]


def same_product_candidates(shopper: Shopper, genders, limit: int = 60) -> list[Candidate]:
    """Other colours and variants (the same product_group) of what the shopper bought or added,
    scored by that product's buy-again weight; one query. Products of a catalog without groups
    have none."""

    def members(groups: list[str], bought: set[int]) -> list[tuple[int, str]]:
        return list(
            Product.objects.filter(hard_filters(genders=genders, exclude=bought), product_group__in=groups)
            .order_by("pk")
            .values_list("pk", "product_group")[:limit]
        )

    return colour_candidates(shopper, members)


def colour_candidates(
    shopper: Shopper, members: Callable[[list[str], set[int]], list[tuple[int, str]]]
) -> list[Candidate]:
    """same_product_candidates given ``members(groups, bought)``: the (product id, group) pairs of
    those groups that pass the hard filters, bought ones left out, in id order (the database's
    when served, the evaluation's catalog in memory)."""
    weights = _buy_again_weights(shopper)
    anchors: dict[str, tuple[float, int]] = {}  # group -> (weight, the product that brought it)
    for event in shopper.recent:
        weight = weights.get(event.product_id, 0.0)
        if event.group and weight > anchors.get(event.group, (0.0, 0))[0]:
            anchors[event.group] = (weight, event.product_id)
    if not anchors:
        return []
    found = [
        Candidate(pid, anchors[group][0], "same_product", anchor=anchors[group][1])
        for pid, group in members(list(anchors), set(weights))
    ]
    return sorted(found, key=lambda c: (-c.score, c.product_id))
