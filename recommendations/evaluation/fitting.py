"""Everything the strategies know at the cut-off, built from the training events only.

Nothing here reads the database: the leak test checks what goes in, and what goes in is
``split.train``.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC

import numpy as np
from django.conf import settings

from recommendations.domain import Candidate, Shopper
from recommendations.evaluation.data import Catalog
from recommendations.ranker.history import Event, shoppers_from_events
from recommendations.selectors.collaborative import ServingModel
from recommendations.services.collaborative import als_fit, matrix_from_events
from recommendations.services.trending import POPULAR_KEEP

TRENDING_KEEP = 200  # as trending_candidates


@dataclass
class Fitted:
    catalog: Catalog
    shoppers: dict[object, Shopper]  # training history of every shopper, as serving loads it
    trending: list[Candidate]  # the store's "Trending now" at the cut-off
    als: ServingModel | None
    popular: list[int] = field(default_factory=list)  # the heuristics' popularity: 7 days, decayed by day
    best_sellers: list[int] = field(default_factory=list)  # serving's top-up (PopularScore), best first


def fit(
    catalog: Catalog, train: list[Event], *, als_factors: int | None = None, als_regularization: float | None = None
) -> Fitted:
    train = [event for event in train if event.product_id in catalog.index]
    return Fitted(
        catalog=catalog,
        shoppers=shoppers_from_events(catalog, train),
        trending=trending_at(train),
        als=als_from_events(train, factors=als_factors, regularization=als_regularization),
        popular=popular_decayed(train),
        best_sellers=best_sellers_at(train),
    )


def popular_decayed(train: list[Event], *, days: int = 7, keep: int = 200) -> list[int]:
    """Purchases of the last ``days`` calendar days before the newest, each worth 1/(1 + its age in
    days): the sceptic's popularity baseline (../shared/RANKING.md), not the store's trending."""
    purchases = [event for event in train if event.kind == "purchase"]
    if not purchases:
        return []
    newest = max(event.at for event in purchases).date()
    scores: dict[int, float] = defaultdict(float)
    for event in purchases:
        age = (newest - event.at.date()).days
        if age < days:
            scores[event.product_id] += 1.0 / (1 + age)
    return sorted(scores, key=lambda pid: (-scores[pid], pid))[:keep]


def best_sellers_at(train: list[Event]) -> list[int]:
    """_popular_refresh's SQL in Python (PopularScore, what serving tops a short row up from): purchases
    over the POPULAR_DAYS newest days with events, one per shopper, product and day, best first."""
    days = set(sorted({event.at.astimezone(UTC).date() for event in train}, reverse=True)[: settings.POPULAR_DAYS])
    once = {(e.shopper, e.product_id, e.at.astimezone(UTC).date()) for e in train
            if e.kind == "purchase" and e.at.astimezone(UTC).date() in days}  # fmt: skip
    counts: dict[int, int] = defaultdict(int)
    for _, pid, _ in once:
        counts[pid] += 1
    return sorted(counts, key=lambda pid: (-counts[pid], pid))[:POPULAR_KEEP]


def trending_at(train: list[Event]) -> list[Candidate]:
    """trending_refresh's SQL in Python: kind weights divided by 1 + the day's rank among the
    TRENDING_DAYS newest days with events, times the day's strength (its shoppers over
    TRENDING_FULL_DAY_SHOPPERS, at most 1); a shopper once per product, kind and day. The evaluation's
    shoppers are customers, who always count (no anonymous visitor's caps apply)."""
    if not train:
        return []
    days = sorted({event.at.astimezone(UTC).date() for event in train}, reverse=True)[: settings.TRENDING_DAYS]
    rank = {day: position for position, day in enumerate(days)}
    weights = settings.RECOMMENDER_KIND_WEIGHTS
    once = {(e.shopper, e.product_id, e.kind, e.at.astimezone(UTC).date()) for e in train}
    shoppers: dict = defaultdict(set)
    for shopper, _, _, day in once:
        shoppers[day].add(shopper)
    full = max(settings.TRENDING_FULL_DAY_SHOPPERS, 1)
    scores: dict[int, float] = defaultdict(float)
    for _, pid, kind, day in once:
        if day in rank:
            strength = min(1.0, len(shoppers[day]) / full)
            scores[pid] += weights.get(kind, 0.0) * strength / (1 + rank[day])
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:TRENDING_KEEP]
    return [Candidate(pid, score, "trending") for pid, score in ranked]


def als_from_events(train: list[Event], *, factors: int | None, regularization: float | None) -> ServingModel | None:
    data = matrix_from_events((event.shopper, event.product_id, event.kind) for event in train)
    if data.user_items.nnz == 0:
        return None
    factors = factors or settings.ALS_FACTORS
    model = als_fit(data.user_items, factors=factors, iterations=settings.ALS_ITERATIONS, regularization=regularization)
    item_factors = np.asarray(model.item_factors, dtype=np.float32)
    index = {int(pid): row for row, pid in enumerate(data.product_ids)}
    # Serving computes every user vector from the history given (recalculate_user), as it does in the store.
    return ServingModel(0, data.product_ids, index, item_factors, model)
