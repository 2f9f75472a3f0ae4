"""Serving the active ALS model: item factors from PostgreSQL, cached per process by model id.

A shopper's vector is solved from their history on each request (implicit's recalculate_user), never
read from storage: a stored vector is stale after the shopper's next event, and storing one per
shopper cost a sixth of a ten-million-event training (docs/benchmarks.md)."""

import threading
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
from django.conf import settings
from scipy.sparse import csr_matrix
from threadpoolctl import threadpool_limits

from catalog.cards import ProductCard, card_version, product_cards
from catalog.gender import compatible_genders
from catalog.models import Product
from common.compiled import id_array
from recommendations.domain import Candidate, Shopper
from recommendations.models import CollaborativeModel, ItemFactor
from recommendations.selectors.generation import per_generation
from recommendations.selectors.similar import hard_filters
from recommendations.services.collaborative import confidence
from recommendations.vectors import read_vectors


@dataclass
class ServingModel:
    model_id: int
    product_ids: np.ndarray  # row -> product id
    index: dict[int, int]  # product id -> row
    item_factors: np.ndarray  # (products, factors) float32
    als: object  # implicit's model holding item_factors, for recalculate_user

    @cached_property
    def item_norms(self) -> np.ndarray:
        """Each item factor's length, computed once per loaded model (item-to-item cosine)."""
        return np.linalg.norm(self.item_factors, axis=1)

    def vector_from_history(self, shopper: Shopper) -> np.ndarray | None:
        """The least-squares user vector for this history (implicit's recalculate_user, an exact solve):
        what a retraining would give this shopper, computed in well under a millisecond. Serving reads
        the newest HISTORY events (selectors.shopper), so a longer history counts its recent part."""
        weights = settings.RECOMMENDER_KIND_WEIGHTS
        sums: dict[int, float] = {}
        for event in shopper.recent:
            if event.product_id in self.index:
                row = self.index[event.product_id]
                sums[row] = sums.get(row, 0.0) + weights.get(event.kind, 0.0)
        if not sums:
            return None
        columns = np.fromiter(sums, dtype=np.int32)
        values = confidence(np.fromiter(sums.values(), dtype=np.float32)).astype(np.float32)
        row = csr_matrix((values, (np.zeros(len(columns), dtype=np.int32), columns)), shape=(1, len(self.product_ids)))
        return np.asarray(self.als.recalculate_user(0, row), dtype=np.float32).reshape(-1)


_cache: dict[str, ServingModel] = {}
_lock = threading.Lock()


def serving_model(generation: int | None = None) -> ServingModel | None:
    """The active model; one small query per call (none when the caller knows the ServingGeneration
    and this process read it under that generation), the factors only when the model changed."""
    active = per_generation(
        "als",
        generation,
        lambda: CollaborativeModel.objects.filter(is_active=True).values("pk", "factors", "params").first(),
    )
    if active is None:
        return None
    cached = _cache.get("model")
    if cached is not None and cached.model_id == active["pk"]:
        return cached
    with _lock:
        # As arrays: at a million products the ORM took 34 s and 2.2 GB at its peak to read them, in the
        # first request a process served after a retrain.
        product_ids, item_factors = read_vectors(
            ItemFactor._meta.db_table, "model_id = %s", [active["pk"]], dim=active["factors"]
        )
        from implicit.cpu.als import AlternatingLeastSquares

        with threadpool_limits(1, "blas"):  # implicit warns about BLAS threads at construction
            als = AlternatingLeastSquares(
                factors=active["factors"],
                regularization=active["params"]["regularization"],
                alpha=1.0,
                num_threads=1,  # one user's solve per request: thread start-up would cost more than it saves
            )
        als.item_factors = item_factors
        index = {int(p): i for i, p in enumerate(product_ids)}
        model = ServingModel(active["pk"], product_ids, index, item_factors, als)
        _cache["model"] = model
        return model


def collaborative_candidates(model: ServingModel, shopper: Shopper, *, limit: int = 300) -> list[Candidate]:
    """The best-scoring products, best first, each with its anchor.

    The anchor is the product of the shopper's history whose item factor is closest to the
    candidate's: the "customers who bought X also bought" of the card's reason.
    """
    vector = model.vector_from_history(shopper)
    if vector is None:
        return []
    scores = model.item_factors @ vector
    limit = min(limit, len(scores))
    top = np.argpartition(-scores, limit - 1)[:limit]
    top = top[np.argsort(-scores[top])]
    history = [model.index[p] for p in shopper.recent_product_ids[:20] if p in model.index]
    anchors = None
    if history:
        affinity = model.item_factors[top] @ model.item_factors[history].T  # (limit, history)
        anchors = [int(model.product_ids[history[j]]) for j in affinity.argmax(axis=1)]
    return [
        Candidate(int(model.product_ids[row]), float(scores[row]), "als", anchors[i] if anchors else None)
        for i, row in enumerate(top)
    ]


def also_bought_candidates(model: ServingModel, product_id: int, *, limit: int = 60) -> list[Candidate]:
    """Products whose ALS item factors are closest (cosine) to this product's: "customers who bought
    this also bought", item to item, from the stored factors; empty for a product ALS never saw."""
    row = model.index.get(product_id)
    if row is None:
        return []
    norms = model.item_norms
    scores = (model.item_factors @ model.item_factors[row]) / np.maximum(norms * norms[row], 1e-9)
    scores[row] = -np.inf
    limit = min(limit, len(scores) - 1)
    if limit <= 0:
        return []
    top = np.argpartition(-scores, limit - 1)[:limit]
    top = top[np.argsort(-scores[top])]
    return [Candidate(int(model.product_ids[i]), float(scores[i]), "also_bought", product_id) for i in top]


def customers_also_bought(*, product: Product, k: int | None = None) -> list[ProductCard]:
    """The product page's "Customers who bought this also bought": ALS item neighbours that pass
    the hard filters, best first, as cards (catalog.cards). The neighbours are the same for every
    shopper until the model changes, so each process keeps them per model (ALSO_BOUGHT_CACHE); the
    hard filters are applied fresh, in the query that reads the cards' versions."""
    model = serving_model()
    if model is None:
        return []
    ranked = also_bought_ids(model, product.pk)
    if not ranked:
        return []
    passing = dict(
        Product.objects.filter(
            hard_filters(genders=compatible_genders(product.gender), exclude=(product.pk,)), pk__in=id_array(ranked)
        )
        .annotate(version=card_version())
        .values_list("pk", "version")
    )
    chosen = [pid for pid in ranked if pid in passing][: k or settings.SIMILAR_PRODUCTS_K]
    cards = product_cards(versions={pid: passing[pid] for pid in chosen})
    return [cards[pid] for pid in chosen if pid in cards]


ALSO_BOUGHT_CACHE = 20_000  # products per process; a list is 60 ids


def also_bought_ids(model: ServingModel, product_id: int) -> tuple[int, ...]:
    """also_bought_candidates' product ids, best first, kept per model in each process."""
    return _also_bought_cached(model.model_id, product_id)


@lru_cache(maxsize=ALSO_BOUGHT_CACHE)
def _also_bought_cached(model_id: int, product_id: int) -> tuple[int, ...]:
    model = _cache.get("model")
    if model is None or model.model_id != model_id:  # the model changed since: no stale entry is kept
        return ()
    return tuple(candidate.product_id for candidate in also_bought_candidates(model, product_id))
