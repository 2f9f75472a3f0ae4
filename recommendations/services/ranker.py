"""Training the learned ranker on the whole log and storing it in PostgreSQL (recommendations.ranker
has the pure code; this module reads the catalog and the log, and writes the model)."""

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from catalog.models import Product
from common.copying import read_arrays
from recommendations.models import EmbeddingStatus, Interaction, ProductEmbedding, RankerModel
from recommendations.ranker.clicks import CLICK_FEATURES
from recommendations.ranker.features import FEATURES
from recommendations.ranker.history import KINDS, Event, LogArrays
from recommendations.ranker.training import RankerFit, day_start, ranker_fit
from recommendations.services.collaborative import NO_VISITOR
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


# InteractionKind's values as LogArrays.kind's numbers, in SQL; another kind's events are left out.
_KIND_NUMBER = "CASE kind " + " ".join(f"WHEN '{kind}' THEN {number}" for number, kind in enumerate(KINDS)) + " END"
_POSTGRES_EPOCH_US = 946_684_800_000_000  # 2000-01-01, where timestamptz_send counts from, after 1970-01-01


class ShopperKeys(Sequence):
    """Each shopper number's key as log_events writes it, ("user", id) or ("visitor", "uuid"), made
    when asked: a training asks for a few thousand of several million."""

    def __init__(self, users: np.ndarray, visitors: np.ndarray):
        self.users, self.visitors = users, visitors  # per number: the user id (0: none), the visitor's bytes

    def __len__(self) -> int:
        return len(self.users)

    def __getitem__(self, number: int):
        user = int(self.users[number])
        return ("user", user) if user else ("visitor", str(uuid.UUID(bytes=bytes(self.visitors[number]))))


def log_arrays(index: dict[int, int]) -> LogArrays:
    """The whole log as columns, in log_events' order (oldest first, then by id), the events of the
    products in ``index`` (product id -> catalog row) only; a visitor merged into a user is the user.
    Read as arrays (common.copying.read_arrays): ten million events as Event tuples took 76 s and 4.6 GB
    (benchmarks/ranker_scale.py)."""
    rows = read_arrays(
        Interaction._meta.db_table,
        {
            "id": ("int8send(id)", ">i8"),
            "user": ("int4send(coalesce(user_id, 0)::int4)", ">i4"),
            "visitor": (f"uuid_send(CASE WHEN user_id IS NULL THEN visitor_id ELSE '{NO_VISITOR}' END)", "V16"),
            "product": ("int8send(product_id)", ">i8"),
            "kind": (f"int2send(({_KIND_NUMBER})::int2)", ">i2"),
            "at": ("timestamptz_send(created_at)", ">i8"),
            "price": ("float8send(coalesce(price::float8, 'NaN'))", ">f8"),
        },
        where=f"({_KIND_NUMBER}) IS NOT NULL",
        span=200_000,
    )  # fmt: skip
    ids = np.fromiter(index, dtype=np.int64, count=len(index))
    rows_of = np.fromiter(index.values(), dtype=np.int64, count=len(index))
    by_id = np.argsort(ids)
    found = np.searchsorted(ids[by_id], rows["product"].astype(np.int64)).clip(0, max(len(ids) - 1, 0))
    known = (ids[by_id][found] == rows["product"]) if len(ids) else np.zeros(len(rows), dtype=bool)
    rows, found = rows[known], found[known]
    at_us = rows["at"].astype(np.int64) + _POSTGRES_EPOCH_US
    order = np.lexsort((rows["id"], at_us))
    rows, found, at_us = rows[order], found[order], at_us[order]
    # Shoppers numbered in the order they first appear: a user's id and a visitor's bytes, as one key.
    shopper_key = np.empty(len(rows), dtype=[("user", ">i4"), ("visitor", "V16")])
    shopper_key["user"], shopper_key["visitor"] = rows["user"], rows["visitor"]
    unique, first, inverse = np.unique(shopper_key.view("V20"), return_index=True, return_inverse=True)
    appearance = np.argsort(first, kind="stable")
    number = np.empty(len(unique), dtype=np.int64)
    number[appearance] = np.arange(len(unique))
    by_number = unique[appearance].view(shopper_key.dtype)
    kind = rows["kind"].astype(np.int8)
    return LogArrays(
        shopper=number[inverse.ravel()], row=rows_of[by_id][found], purchase=kind == KINDS.index("purchase"),
        at_us=at_us, day=at_us // 86_400_000_000 + date(1970, 1, 1).toordinal(), price=rows["price"].astype(np.float64),
        tz=UTC, kind=kind, keys=ShopperKeys(by_number["user"].astype(np.int64), by_number["visitor"]),
    )  # fmt: skip


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
    products = catalog_rows()
    log = log_arrays(products.index)
    if not len(log):
        logger.info("No interactions yet: no ranker to train.")
        return None
    try:
        # Today is under way: its purchases feed the served item table, not a fold's labels.
        today = day_start(timezone.now())
        fitted = ranker_fit(products, log, complete_before=today, on_step=on_step)
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
