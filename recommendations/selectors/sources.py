"""Candidate sources for the homepage: each returns (product id, score, anchor product id), best first.

The hard filters live here too (``eligible``), so that every source and every row applies the same ones.
"""

import numpy as np
from django.conf import settings
from django.db.models import QuerySet

from catalog.models import EmbeddingStatus, Product
from recommendations.encoders import encoder_class
from recommendations.models import TrendingScore
from recommendations.selectors.shopper import Shopper
from recommendations.selectors.similar import products_similar_to_vector
from recommendations.vectors import id_array

Candidate = tuple[int, float, int | None]
# What a card shows and the filters check; the 2.5 kB embedding stays in the database.


def eligible(*, genders: tuple[str, ...] | None, exclude: set[int]) -> QuerySet[Product]:
    """The hard filters, in one place: active, in stock, a compatible gender, not excluded."""
    products = Product.objects.filter(is_active=True, stock_quantity__gt=0)
    if genders is not None:
        products = products.filter(gender__in=genders)
    if exclude:
        products = products.exclude(pk__in=id_array(exclude))
    return products


def recent_embeddings(shopper: Shopper) -> dict[int, np.ndarray]:
    """The embeddings of the shopper's recent products, in one query."""
    recent = shopper.recent_product_ids[: settings.PREFERENCE_RECENT_EVENTS]
    if not recent:
        return {}
    encoder = encoder_class()
    rows = Product.objects.filter(
        pk__in=recent, embedding_model=encoder.model_key(), embedding_status=EmbeddingStatus.DONE
    ).values_list("pk", "embedding")
    return {pk: vector.to_numpy().astype(np.float32) for pk, vector in rows}


def visual_preference(shopper: Shopper, vectors: dict[int, np.ndarray]) -> np.ndarray | None:
    """Weighted mean of the recent products' embeddings (kind weight x recency decay), normalised."""
    recent = shopper.recent[: settings.PREFERENCE_RECENT_EVENTS]
    if not recent or not vectors:
        return None
    newest = recent[0][2]
    total = np.zeros(len(next(iter(vectors.values()))), dtype=np.float32)
    for product_id, kind, created_at, *_ in recent:
        if product_id in vectors:
            age_days = (newest - created_at).total_seconds() / 86400
            weight = settings.RECOMMENDER_KIND_WEIGHTS.get(kind, 0) * 0.5 ** (
                age_days / settings.PREFERENCE_HALF_LIFE_DAYS
            )
            total += weight * vectors[product_id]
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
    return [(product_id, 1.0 - distance, anchor) for product_id, distance in nearest]


def _heaviest_recent_product(shopper: Shopper) -> int | None:
    weights = settings.RECOMMENDER_KIND_WEIGHTS
    recent = shopper.recent[: settings.PREFERENCE_RECENT_EVENTS]
    return max(recent, key=lambda event: weights.get(event[1], 0), default=(None,))[0]


def trending_candidates(limit: int = 200) -> list[Candidate]:
    return [
        (pid, score, None)
        for pid, score in TrendingScore.objects.order_by("-score").values_list("product_id", "score")[:limit]
    ]
