"""Serving the learned ranker: the active RankerModel, loaded once per process and again only when
another model becomes active (one small query per call, as the ALS model)."""

import logging
import threading
from dataclasses import dataclass

from recommendations.domain import Candidate, Shopper
from recommendations.models import RankerModel
from recommendations.ranker.features import FEATURES
from recommendations.ranker.items import ItemTable
from recommendations.ranker.training import Ensemble, RankerFit
from recommendations.selectors.generation import per_generation

logger = logging.getLogger(__name__)


@dataclass
class ActiveRanker:
    model_id: int
    fit: RankerFit  # the model, its item table and the figures it was trained with


_cache: dict[str, ActiveRanker] = {}
_refused: set[int] = set()  # models that cannot serve: logged once, never loaded again
_lock = threading.Lock()


def active_ranker(generation: int | None = None) -> ActiveRanker | None:
    """The active ranker, or None: a new shop, or a model that cannot serve (trained on other
    features than this code computes, or unreadable), and the blend serves instead. Its id is read
    once per ServingGeneration when the caller knows it (selectors.generation)."""
    model_id = per_generation(
        "ranker", generation, lambda: RankerModel.objects.filter(is_active=True).values_list("pk", flat=True).first()
    )
    if model_id is None or model_id in _refused:
        return None
    cached = _cache.get("ranker")
    if cached is not None and cached.model_id == model_id:
        return cached
    with _lock:
        cached = _cache.get("ranker")  # another thread may have loaded it while this one waited
        if cached is not None and cached.model_id == model_id:
            return cached
        if model_id in _refused:
            return None
        try:
            ranker = _load(model_id)
        except Exception:  # a broken model must never break the homepage: the blend serves
            logger.exception("Ranker %s cannot be loaded; the blend serves until another is trained.", model_id)
            ranker = None
        if ranker is None:
            _refused.add(model_id)
            return None
        _cache["ranker"] = ranker
        return ranker


def _load(model_id: int) -> ActiveRanker | None:
    features, figures, boosters, items = (
        RankerModel.objects.filter(pk=model_id).values_list("features", "figures", "boosters", "items").get()
    )
    if list(features) != list(FEATURES):
        logger.warning("Ranker %s was trained on other features; the blend serves until it is retrained.", model_id)
        return None
    ensemble = Ensemble.from_text(boosters)
    if not ensemble.boosters:
        raise ValueError("no boosters stored")
    return ActiveRanker(model_id, RankerFit(ensemble, ItemTable.from_bytes(bytes(items)), figures))


def ranked_candidates(ranker: ActiveRanker, shopper: Shopper, *, repurchases: bool) -> list[Candidate]:
    """Every source's candidates for this shopper, best first by the model's score, before the hard
    filters, which the row applies; empty when the blend should serve them (RankerFit.rank)."""
    pool, scores = ranker.fit.rank(shopper, repurchases=repurchases)
    return pool.candidates(ranker.fit.table, scores)
