"""Serving the learned ranker: the active RankerModel, loaded once per process and again only when
another model becomes active (one small query per call, as the ALS model)."""

import logging
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings

from catalog.cards import VersionedCache
from recommendations.domain import Candidate, Shopper
from recommendations.models import RankerModel
from recommendations.ranker.click_training import ClickModel
from recommendations.ranker.clicks import CLICK_FEATURES, ClickSizes
from recommendations.ranker.features import FEATURES
from recommendations.ranker.items import ItemTable
from recommendations.ranker.training import Ensemble, RankerFit
from recommendations.selectors.generation import per_generation

logger = logging.getLogger(__name__)


@dataclass
class ActiveRanker:
    model_id: int
    fit: RankerFit  # the model, its item table and the figures it was trained with
    compiled: threading.Event = field(default_factory=threading.Event)  # set when its trees are machine code

    def ensembles(self) -> list[Ensemble]:
        clicks = self.fit.clicks
        return [self.fit.booster] + ([clicks.booster] if clicks is not None else [])


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
        if settings.RANKER_COMPILE:
            threading.Thread(target=_compile, args=(ranker,), name=f"compile-ranker-{model_id}", daemon=True).start()
        return ranker


def _compile(ranker: ActiveRanker) -> None:
    """Compile the ranker's trees (Ensemble.compile) while LightGBM serves: a request's scoring then
    costs a fifth. A failure leaves LightGBM serving, as before."""
    started = time.monotonic()
    try:
        for ensemble in ranker.ensembles():
            ensemble.compile()
    except Exception:
        logger.exception("Ranker %s's trees could not be compiled; LightGBM scores them.", ranker.model_id)
        return
    ranker.compiled.set()
    logger.info("Ranker %s's trees compiled in %.1f s.", ranker.model_id, time.monotonic() - started)


def _load(model_id: int) -> ActiveRanker | None:
    features, figures, boosters, items, click_features, click_boosters = (
        RankerModel.objects.filter(pk=model_id)
        .values_list("features", "figures", "boosters", "items", "click_features", "click_boosters")
        .get()
    )
    if list(features) != list(FEATURES):
        logger.warning("Ranker %s was trained on other features; the blend serves until it is retrained.", model_id)
        return None
    ensemble = Ensemble.from_text(boosters)
    if not ensemble.boosters:
        raise ValueError("no boosters stored")
    clicks = None
    if click_boosters and list(click_features) == list(CLICK_FEATURES):
        stored = figures.get("clicks", {})
        clicks = ClickModel(Ensemble.from_text(click_boosters), ClickSizes(**stored.get("sizes", {})), stored)
    elif click_boosters:  # the heuristic serves after a click until the next training
        logger.warning("Ranker %s's after-a-click model was trained on other features.", model_id)
    return ActiveRanker(model_id, RankerFit(ensemble, ItemTable.from_bytes(bytes(items)), figures, clicks=clicks))


def ranked_candidates(ranker: ActiveRanker, shopper: Shopper, *, repurchases: bool) -> list[Candidate]:
    """ "Recommended for you"'s candidates for this shopper, best first, before the hard filters,
    which the row applies (RankerFit.candidates: the ranker's, or after a click what goes with the
    shopper's newest products); empty when the blend should serve them."""
    return ranker.fit.candidates(shopper, repurchases=repurchases)


_goes_with = VersionedCache(4096)  # (product id, model id) -> candidates: the model once per product and process


def goes_with(ranker: ActiveRanker, product_id: int) -> list[Candidate]:
    """What goes with one product, best first, before the hard filters, each with the source that
    proposed it (a basket partner, another colour): the after-a-click ranking with the product as
    the only view, or its heuristic. A product page's first row; a homepage's "Because you viewed"."""
    version = str(ranker.model_id)
    found = _goes_with.get_many([(product_id, version)])
    if product_id in found:
        return found[product_id]
    row = ranker.fit.table.index.get(product_id)
    ranked = ranker.fit.goes_with([] if row is None else [row])  # None: a product newer than the model
    _goes_with.put_many({(product_id, version): ranked})
    return ranked


def goes_with_ids(ranker: ActiveRanker, product_id: int) -> list[int]:
    """goes_with's product ids."""
    return [candidate.product_id for candidate in goes_with(ranker, product_id)]
