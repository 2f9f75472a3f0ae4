"""Training the learned ranker on the whole log and storing it in PostgreSQL (recommendations.ranker
has the pure code; this module reads the catalog and the log, and writes the model)."""

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from catalog.models import Product
from recommendations.models import EmbeddingStatus, Interaction, ProductEmbedding, RankerModel
from recommendations.ranker.clicks import CLICK_FEATURES
from recommendations.ranker.features import FEATURES
from recommendations.ranker.history import Event
from recommendations.ranker.training import RankerFit, day_start, ranker_fit
from recommendations.services.model_versions import activate

logger = logging.getLogger(__name__)
KEEP_MODELS = 2
TRAINING_LOCK = 0x52414E4B  # "RANK": a PostgreSQL advisory lock key


@dataclass
class CatalogRows:
    """recommendations.ranker.history.Products, read from the catalog (every product, active or not:
    the hard filters are applied when a list is served)."""

    ids: np.ndarray
    index: dict[int, int]
    gender: np.ndarray
    name: list[str]
    description: list[str]
    group: list[str]
    article_type: list[str]
    subcategory: list[str]
    department: list[str]
    colour: list[str]
    price: np.ndarray
    vectors: np.ndarray  # (n, dim) unit photo embeddings of the store's encoder; zero rows where none


def embedding_matrix(index: dict[int, int], *, model_key: str) -> tuple[np.ndarray, np.ndarray]:
    """Every product's unit embedding by row (zeros where none) and whether it has one."""
    from recommendations.encoders import encoder_class

    vectors = np.zeros((len(index), encoder_class(model_key.split("/")[0]).dim), dtype=np.float32)
    embedded = np.zeros(len(index), dtype=bool)
    done = ProductEmbedding.objects.filter(model=model_key, status=EmbeddingStatus.DONE)
    for pid, vector in done.values_list("product_id", "vector").iterator(chunk_size=2000):
        if pid in index:
            vectors[index[pid]] = vector.to_numpy()
            embedded[index[pid]] = True
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors /= np.where(norms > 0, norms, 1)
    return vectors, embedded


def catalog_rows() -> CatalogRows:
    fields = (
        "pk", "gender", "name", "product_group", "article_type", "subcategory", "colour", "price", "department",
        "description",
    )  # fmt: skip
    rows = list(Product.objects.order_by("pk").values_list(*fields))
    ids = np.array([row[0] for row in rows], dtype=np.int64)
    index = {int(pid): i for i, pid in enumerate(ids)}
    from recommendations.encoders import encoder_class

    vectors, _ = embedding_matrix(index, model_key=encoder_class().model_key())
    return CatalogRows(
        ids=ids, index=index, gender=np.array([row[1] for row in rows], dtype=str), vectors=vectors,
        name=[row[2] for row in rows], description=[row[9] for row in rows], group=[row[3] for row in rows],
        article_type=[row[4] for row in rows],
        subcategory=[row[5] for row in rows], colour=[row[6] for row in rows], department=[row[8] for row in rows],
        price=np.array([float(row[7]) if row[7] else np.nan for row in rows], dtype=np.float32),  # 0: unknown
    )  # fmt: skip


def log_events() -> list[Event]:
    """The whole log, oldest first; a visitor merged into a user is the user."""
    rows = Interaction.objects.order_by("created_at", "pk").values_list(
        "user_id", "visitor_id", "product_id", "kind", "created_at", "price"
    )
    return [
        Event(
            ("user", user_id) if user_id is not None else ("visitor", str(visitor_id)),
            product_id,
            kind,
            created_at,
            None if price is None else float(price),
        )  # fmt: skip
        for user_id, visitor_id, product_id, kind, created_at, price in rows.iterator(chunk_size=20_000)
    ]


def ranker_train(*, on_step: Callable[[str], None] = lambda _: None) -> RankerModel | None:
    """Fit on the whole log and make the new model the active one. None, and the blend keeps
    serving, when the log has no shopper with history who bought on a later day."""
    with connection.cursor() as cursor:  # one training at a time, whichever process starts it
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [TRAINING_LOCK])
        if not cursor.fetchone()[0]:
            on_step("Another ranker training is under way: this one stops.")
            return None
        try:
            return _train(on_step)
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [TRAINING_LOCK])


def _train(on_step: Callable[[str], None]) -> RankerModel | None:
    on_step("Reading the catalog and the interaction log")
    events = log_events()
    if not events:
        logger.info("No interactions yet: no ranker to train.")
        return None
    try:
        # Today is under way: its purchases feed the served item table, not a fold's labels.
        today = day_start(timezone.now())
        fitted = ranker_fit(catalog_rows(), events, complete_before=today, on_step=on_step)
    except ValueError as error:  # too little to learn from yet: say why, keep what serves now
        logger.info("No ranker trained: %s", error)
        on_step(f"No ranker trained: {error}")
        return None
    return _store(fitted)


@transaction.atomic
def _store(fitted: RankerFit) -> RankerModel:
    stored = RankerModel.objects.create(
        trained_until=fitted.table.as_of, features=list(FEATURES), boosters=fitted.booster.to_text(),
        items=fitted.table.to_bytes(), figures=fitted.figures, importances=fitted.importances,
        click_features=list(CLICK_FEATURES) if fitted.clicks else [],
        click_boosters=fitted.clicks.booster.to_text() if fitted.clicks else "",
    )  # fmt: skip
    activate(stored, keep=KEEP_MODELS)
    return stored
