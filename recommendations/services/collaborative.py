"""implicit's ALS, trained on the interaction log and stored in PostgreSQL.

Matrices: ``user_items`` is shoppers x products (CSR), shoppers being users or, for anonymous
history, visitors. Its values are confidences: 1 + ALS_ALPHA * log1p(summed kind weights), so a
purchase (8) counts more than a view (1) and repeated views saturate instead of dominating.
"""

import logging
import re
from array import array
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from scipy.sparse import csr_matrix
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from common.codes import dense_codes
from common.copying import copy_arrays, read_arrays, vector_binary
from recommendations.factorization import als_factorize
from recommendations.models import CollaborativeModel, Interaction, ItemFactor
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


@dataclass(frozen=True)
class LogMatrix:
    """The stored log as one shoppers x products confidence matrix, its rows keyed by arrays: a
    signed-in shopper's user id (0 for a visitor) and a visitor's UUID (16 zero bytes for a user)."""

    user_items: csr_matrix
    user_ids: np.ndarray  # int32
    visitor_ids: np.ndarray  # V16, the UUID's bytes as PostgreSQL's uuid_send writes them
    product_ids: np.ndarray  # int64, column -> product id


NO_VISITOR = "00000000-0000-0000-0000-000000000000"


def interaction_matrix() -> LogMatrix:
    """The whole log as one shoppers x products matrix; a visitor merged into a user counts as the user.

    Read as arrays (``read_arrays``), the kind's weight computed in SQL: ten million events as ORM
    tuples and Python dicts took about 50 s and gigabytes."""
    weights = settings.RECOMMENDER_KIND_WEIGHTS
    if not all(re.fullmatch(r"[a-z_]+", kind) for kind in weights):
        raise ValueError(f"RECOMMENDER_KIND_WEIGHTS has a kind that is not a plain name: {list(weights)}")
    weight = " ".join(f"WHEN '{kind}' THEN {float(value)!r}" for kind, value in weights.items())
    rows = read_arrays(
        Interaction._meta.db_table,
        {
            "user": ("int4send(coalesce(user_id, 0)::int4)", ">i4"),
            "visitor": (f"uuid_send(CASE WHEN user_id IS NULL THEN visitor_id ELSE '{NO_VISITOR}' END)", "V16"),
            "product": ("int8send(product_id)", ">i8"),
            "weight": (f"float4send(CASE kind {weight} ELSE 0 END::float4)", ">f4"),
        },
        span=200_000,
    )  # fmt: skip
    if not len(rows):
        empty = np.empty(0, dtype=np.int64)
        return LogMatrix(csr_matrix((0, 0), dtype=np.float32), empty.astype(np.int32), empty.astype("V16"), empty)
    # Shoppers: the users, then the visitors, each in the order of their keys (dense_codes, as np.unique).
    signed_in = rows["user"] != 0
    users, user_rows = dense_codes(rows["user"][signed_in].astype(np.int32))
    visitors, visitor_rows = dense_codes(rows["visitor"][~signed_in])
    product_ids, columns = dense_codes(rows["product"].astype(np.int64))
    shopper_rows = np.empty(len(rows), dtype=np.intp)
    shopper_rows[signed_in] = user_rows
    shopper_rows[~signed_in] = len(users) + visitor_rows
    shape = (len(users) + len(visitors), len(product_ids))
    matrix = csr_matrix((rows["weight"].astype(np.float32), (shopper_rows, columns)), shape=shape)  # duplicates sum
    matrix.data = confidence(matrix.data).astype(np.float32)
    return LogMatrix(
        matrix,
        np.concatenate([users, np.zeros(len(visitors), dtype=np.int32)]),
        np.concatenate([np.zeros(len(users), dtype="V16"), visitors]),
        product_ids,
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
    """implicit's ALS model fitted on the matrix (recommendations.factorization: implicit's solver,
    with the rows of a few entries solved exactly: at ten million events 1.4 times as fast as fit(),
    benchmarks/als_fit.py)."""
    from implicit.cpu.als import AlternatingLeastSquares

    regularization = settings.ALS_REGULARIZATION if regularization is None else regularization
    with threadpool_limits(1, "blas"):  # implicit parallelises itself; BLAS threads only contend
        model = AlternatingLeastSquares(
            factors=factors, regularization=regularization, iterations=iterations,
            alpha=1.0,  # confidence is already in the matrix (see confidence())
            random_state=42,
        )  # fmt: skip
    with tqdm(total=iterations, disable=not show_progress, desc="ALS iterations") as bar:
        # No shopper's factors: serving solves them from the history (recalculate_user needs the items' only).
        _, model.item_factors = als_factorize(
            user_items, factors=factors, iterations=iterations, regularization=regularization,
            random_state=model.random_state, cg_steps=model.cg_steps, on_iteration=lambda _: bar.update(),
            with_users=False,
        )  # fmt: skip
    return model


def collaborative_train(
    *, factors: int | None = None, iterations: int | None = None, show_progress: bool = False,
    on_stage: Callable[[str], None] = lambda stage: None,
) -> CollaborativeModel | None:  # fmt: skip
    """Fit ALS on the whole log, store the item factors, make the new model the active one.

    The shoppers' factors are not stored: serving solves a shopper's vector from their history
    (selectors.collaborative), exactly, on each request. Stored, they went stale with the shopper's
    next event, and at ten million events writing 3.4 million of them took 34 s of a 207 s training."""
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
    on_stage("storing the item factors in PostgreSQL")
    return _store(data, model, factors, iterations, trained_until)


@transaction.atomic
def _store(data: LogMatrix, model, factors: int, iterations: int, trained_until) -> CollaborativeModel:
    params = {"regularization": settings.ALS_REGULARIZATION, "alpha": settings.ALS_ALPHA, "iterations": iterations,
              "weights": settings.RECOMMENDER_KIND_WEIGHTS}  # fmt: skip
    stored = CollaborativeModel.objects.create(
        factors=factors, params=params, interactions=int(data.user_items.nnz), users=data.user_items.shape[0],
        items=data.user_items.shape[1], trained_until=trained_until,
    )  # fmt: skip
    item_factors = np.asarray(model.item_factors, dtype=np.float32)
    # COPY in binary form, laid out by numpy: a million products' vectors as text literals took
    # minutes to format here and to parse in PostgreSQL, and the ORM longer than fitting them.
    copy_arrays(
        f"COPY {ItemFactor._meta.db_table} (model_id, product_id, vector) FROM STDIN (FORMAT BINARY)",
        [np.full(len(item_factors), stored.pk, dtype=">i8"), data.product_ids.astype(">i8"),
         vector_binary(item_factors)],
    )  # fmt: skip
    activate(stored, keep=KEEP_MODELS)
    return stored
