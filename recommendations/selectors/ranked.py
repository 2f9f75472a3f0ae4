"""Serving the learned ranker: the active RankerModel, loaded once per process and again only when
another model becomes active (one small query per call, as the ALS model)."""

import logging
import threading
from dataclasses import dataclass

from recommendations.domain import Candidate, Shopper
from recommendations.models import RankerModel
from recommendations.ranker.features import FEATURES, candidate_pool
from recommendations.ranker.items import ItemTable
from recommendations.ranker.training import Ensemble

logger = logging.getLogger(__name__)


@dataclass
class ActiveRanker:
    model_id: int
    booster: Ensemble
    table: ItemTable


_cache: dict[str, ActiveRanker] = {}
_lock = threading.Lock()


def active_ranker() -> ActiveRanker | None:
    """The active ranker, or None (a new shop, or a model whose features this code no longer
    computes): the fixed blend then serves."""
    active = RankerModel.objects.filter(is_active=True).values_list("pk", "features").first()
    if active is None:
        return None
    model_id, features = active
    cached = _cache.get("ranker")
    if cached is not None and cached.model_id == model_id:
        return cached
    if list(features) != list(FEATURES):
        logger.warning("Ranker %s was trained on other features; the blend serves until it is retrained.", model_id)
        return None
    with _lock:
        boosters, items = RankerModel.objects.filter(pk=model_id).values_list("boosters", "items").get()
        ranker = ActiveRanker(model_id, Ensemble.from_text(boosters), ItemTable.from_bytes(bytes(items)))
        _cache["ranker"] = ranker
        return ranker


def ranked_candidates(ranker: ActiveRanker, shopper: Shopper, *, repurchases: bool) -> list[Candidate]:
    """Every source's candidates for this shopper, best first by the model's score; before the
    hard filters, which the row applies."""
    pool = candidate_pool(shopper, ranker.table, repurchases=repurchases)
    if not len(pool.rows):
        return []
    # One thread: a request scores a few hundred rows, and thread start-up would cost more.
    return pool.candidates(ranker.table, ranker.booster.predict(pool.features, num_threads=1))
