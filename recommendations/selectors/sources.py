"""Candidate sources for the homepage: each returns Candidates, best first.

The hard filters live here too (``eligible``), so that every source and every row applies the same ones.
"""

import numpy as np
from django.conf import settings
from django.db.models import QuerySet

from catalog.models import Product
from recommendations.encoders import encoder_class
from recommendations.models import TrendingScore
from recommendations.selectors.candidates import Candidate
from recommendations.selectors.shopper import Shopper
from recommendations.selectors.similar import embedded_products, hard_filters, products_similar_to_vector

# What a card shows and the filters check; the 2.5 kB embedding stays in the database.


def eligible(*, genders: tuple[str, ...] | None, exclude: set[int]) -> QuerySet[Product]:
    """Products that pass the hard filters (selectors.similar.hard_filters, the one definition)."""
    return Product.objects.filter(hard_filters(genders=genders, exclude=exclude))


def recent_embeddings(shopper: Shopper) -> dict[int, np.ndarray]:
    """The embeddings of the shopper's recent products, in one query."""
    recent = shopper.recent_product_ids[: settings.PREFERENCE_RECENT_EVENTS]
    if not recent:
        return {}
    rows = embedded_products(model_key=encoder_class().model_key()).filter(pk__in=recent).values_list("pk", "vector")
    return {pk: vector.to_numpy().astype(np.float32) for pk, vector in rows}


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
