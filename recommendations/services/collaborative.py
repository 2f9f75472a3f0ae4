"""implicit's ALS, trained on the interaction log and stored in PostgreSQL.

Matrices: ``user_items`` is shoppers x products (CSR), shoppers being users or, for anonymous
history, visitors. Its values are confidences: 1 + ALS_ALPHA * log1p(summed kind weights), so a
purchase (8) counts more than a view (1) and repeated views saturate instead of dominating.
"""

import logging
from array import array
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from scipy.sparse import csr_matrix
from threadpoolctl import threadpool_limits

from common.copying import copy_rows
from recommendations.models import CollaborativeModel, Interaction, ItemFactor, UserFactor
from recommendations.services.model_versions import activate

logger = logging.getLogger(__name__)
KEEP_MODELS = 2


@dataclass(frozen=True)
class InteractionMatrix:
    user_items: csr_matrix  # shoppers x products, confidence values
    shoppers: list  # row -> shopper key; (user_id, visitor_id) for the stored model
    product_ids: np.ndarray  # column -> product id


def confidence(weight_sums: np.ndarray) -> np.ndarray:
    return 1.0 + settings.ALS_ALPHA * np.log1p(weight_sums)


def interaction_matrix() -> InteractionMatrix:
    """The whole log as one shoppers x products matrix; a visitor merged into a user counts as the user."""
    rows = Interaction.objects.values_list("user_id", "visitor_id", "product_id", "kind").iterator(chunk_size=20_000)
    return matrix_from_events(
        ((user_id, None) if user_id is not None else (None, str(visitor_id)), product_id, kind)
        for user_id, visitor_id, product_id, kind in rows
    )


def matrix_from_events(events: Iterable[tuple[Hashable, int, str]]) -> InteractionMatrix:
    """(shopper key, product id, kind) events as a confidence matrix; the offline evaluation
    trains on its training weeks through this same function."""
    weights = settings.RECOMMENDER_KIND_WEIGHTS
    shopper_index: dict[Hashable, int] = {}
    product_index: dict[int, int] = {}
    # Typed arrays, not lists: 10 million events as Python ints and floats took gigabytes.
    users, items, values = array("q"), array("q"), array("f")
    for shopper, product_id, kind in events:
        users.append(shopper_index.setdefault(shopper, len(shopper_index)))
        items.append(product_index.setdefault(product_id, len(product_index)))
        values.append(weights.get(kind, 0.0))
    shape = (len(shopper_index), len(product_index))
    coordinates = (np.frombuffer(users, dtype=np.int64), np.frombuffer(items, dtype=np.int64))
    matrix = csr_matrix((np.frombuffer(values, dtype=np.float32), coordinates), shape=shape)  # duplicates sum
    matrix.data = confidence(matrix.data).astype(np.float32)
    return InteractionMatrix(matrix, list(shopper_index), np.array(list(product_index), dtype=np.int64))


def als_fit(
    user_items: csr_matrix, *, factors: int, iterations: int, regularization: float | None = None,
    show_progress: bool = False,
):  # fmt: skip
    from implicit.cpu.als import AlternatingLeastSquares

    with threadpool_limits(1, "blas"):  # implicit parallelises itself; BLAS threads only contend
        model = AlternatingLeastSquares(
            factors=factors,
            regularization=settings.ALS_REGULARIZATION if regularization is None else regularization,
            iterations=iterations,
            alpha=1.0,  # confidence is already in the matrix (see confidence())
            random_state=42,
        )
        model.fit(user_items, show_progress=show_progress)
    return model


def collaborative_train(
    *, factors: int | None = None, iterations: int | None = None, show_progress: bool = False,
    on_stage: Callable[[str], None] = lambda stage: None,
) -> CollaborativeModel | None:  # fmt: skip
    """Fit ALS on the whole log, store the factors, make the new model the active one."""
    factors = factors or settings.ALS_FACTORS
    iterations = iterations or settings.ALS_ITERATIONS
    on_stage("reading the interaction log")
    trained_until = Interaction.objects.aggregate(newest=Max("created_at"))["newest"]
    data = interaction_matrix()
    if data.user_items.nnz == 0:
        logger.info("No interactions yet: nothing to train.")
        return None
    on_stage(f"fitting ALS on {data.user_items.shape[0]:,} shoppers x {data.user_items.shape[1]:,} products")
    model = als_fit(data.user_items, factors=factors, iterations=iterations, show_progress=show_progress)
    on_stage("storing the factors in PostgreSQL")
    return _store(data, model, factors, iterations, trained_until)


def _rows(matrix: np.ndarray, chunk: int = 10_000):
    """The matrix's rows as lists of Python floats, a chunk at a time: the whole of 3.4M shoppers'
    factors as Python floats would take 5 GB."""
    for start in range(0, len(matrix), chunk):
        yield from matrix[start : start + chunk].tolist()


@transaction.atomic
def _store(data: InteractionMatrix, model, factors: int, iterations: int, trained_until) -> CollaborativeModel:
    params = {"regularization": settings.ALS_REGULARIZATION, "alpha": settings.ALS_ALPHA, "iterations": iterations,
              "weights": settings.RECOMMENDER_KIND_WEIGHTS}  # fmt: skip
    stored = CollaborativeModel.objects.create(
        factors=factors, params=params, interactions=int(data.user_items.nnz), users=data.user_items.shape[0],
        items=data.user_items.shape[1], trained_until=trained_until,
    )  # fmt: skip
    item_factors = np.asarray(model.item_factors, dtype=np.float32)
    user_factors = np.asarray(model.user_factors, dtype=np.float32)
    # COPY, not bulk_create: a shop of millions of shoppers stores millions of vectors (3.4M took the
    # ORM longer than fitting them). Text format, one vector literal per row.
    literal = "[" + ",".join(["%.7g"] * item_factors.shape[1]) + "]"
    copy_rows(
        f"COPY {ItemFactor._meta.db_table} (model_id, product_id, vector) FROM STDIN",
        ((stored.pk, int(pid), literal % tuple(vector)) for pid, vector in zip(
            data.product_ids, _rows(item_factors), strict=True)),
    )  # fmt: skip
    copy_rows(
        f"COPY {UserFactor._meta.db_table} (model_id, user_id, visitor_id, vector) FROM STDIN",
        ((stored.pk, user, visitor, literal % tuple(vector)) for (user, visitor), vector in zip(
            data.shoppers, _rows(user_factors), strict=True)),
    )  # fmt: skip
    activate(stored, keep=KEEP_MODELS)
    return stored
