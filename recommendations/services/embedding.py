"""The photo -> vector stage: requests, batches on the workers, sweeps. Derived data in
ProductEmbedding, one row per product, keyed to the catalog's Product.photo_version.

The catalog does not import this: when a primary photo changes it bumps the product's
photo_version and, after commit, sends the task ``recommendations.tasks.photos_changed`` by name,
which lands in ``embedding_request``. If that message is lost (broker down), the sweep still finds
the product, because its row is missing or behind the catalog's version.
"""

import logging
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from catalog.images import ImageRejected, image_check_size, image_decode
from catalog.models import Product, ProductImage
from common.iterables import chunked
from recommendations.encoders import Encoder, encoder_class, get_encoder
from recommendations.models import EmbeddingStatus, ProductEmbedding
from recommendations.vectors import vector_literal

logger = logging.getLogger(__name__)
EMBED_TASK = "recommendations.tasks.embed_products"


def embeddings_lock(ids: Iterable[int]) -> None:
    """Lock these products' embedding rows in id order (inside a transaction): every multi-row
    writer of embeddings does, so two of them cannot deadlock (see catalog.locks for why)."""
    ordered = sorted(set(ids))
    list(ProductEmbedding.objects.filter(pk__in=ordered).order_by("pk").select_for_update().values_list("pk"))


def embedding_request(*, product_ids: Iterable[int]) -> None:
    """Mark products pending and queue their embedding once the current transaction commits."""
    from celery import current_app

    ids = list(dict.fromkeys(product_ids))  # queued in the caller's order (the sweep's: trending first)
    if not ids:
        return
    now = timezone.now()
    with transaction.atomic():
        embeddings_lock(ids)
        ProductEmbedding.objects.bulk_create(
            [ProductEmbedding(product_id=pk, status=EmbeddingStatus.PENDING, requested_at=now) for pk in sorted(ids)],
            update_conflicts=True, unique_fields=["product"], update_fields=["status", "error", "requested_at"],
        )  # fmt: skip

    def queue() -> None:
        try:
            for chunk in chunked(ids, settings.EMBEDDING_TASK_BATCH):
                # ignore_result: no result subscription, which is a Redis round trip with its own 20 retries
                current_app.send_task(EMBED_TASK, args=[list(chunk)], ignore_result=True)
        except Exception:  # kombu's OperationalError, a socket error: whatever the broker raises
            # The rows are committed and marked pending: the sweep queues them once the broker is
            # back. The request that changed the photo must not fail after its work was saved.
            logger.exception("Could not queue the embedding of %d products; the sweep will retry.", len(ids))

    transaction.on_commit(queue)


@dataclass
class EmbeddingBatchResult:
    embedded: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)  # already current, changed meanwhile, or gone


@dataclass
class _Job:
    product_id: int
    version: int
    path: str | None


def _load_pixels(job: _Job, encoder: Encoder) -> np.ndarray | str:
    """Read, check, decode and preprocess one photo; return pixels, or the reason it failed."""
    if job.path is None:
        return "The product has no photo."
    try:
        with open(job.path, "rb") as handle:
            handle.seek(0, 2)
            image_check_size(handle.tell())
            handle.seek(0)
            return encoder.preprocess(image_decode(handle))
    except FileNotFoundError:
        return f"The photo file is missing ({job.path})."
    except ImageRejected as exc:
        return str(exc)


def _jobs(product_ids: list[int], model_key: str, force: bool) -> list[_Job]:
    products = Product.objects.filter(pk__in=product_ids, is_active=True)
    if not force:
        # Idempotent: a product embedded by this model at its current photo version is left alone.
        current = ProductEmbedding.objects.filter(
            product=OuterRef("pk"),
            status=EmbeddingStatus.DONE,
            model=model_key,
            photo_version=OuterRef("photo_version"),
        )
        products = products.exclude(Exists(current))
    rows = list(products.values_list("pk", "photo_version"))
    primary: dict[int, ProductImage] = {}
    images = ProductImage.objects.filter(product_id__in=[pk for pk, _ in rows])
    for image in images.order_by("product_id", "-is_primary", "position", "id"):
        primary.setdefault(image.product_id, image)
    return [_Job(pk, version, primary[pk].image.path if pk in primary else None) for pk, version in rows]


def embedding_batch_compute(*, product_ids: list[int], force: bool = False) -> EmbeddingBatchResult:
    """Embed the primary photos of ``product_ids`` with the configured encoder and store them.

    Photos are decoded on a thread pool (Pillow releases the GIL) while the model runs, in
    forward batches of settings.EMBEDDING_FORWARD_BATCH. A bad photo marks only its product
    failed; the rest of the batch goes on. A write only lands if the product's
    photo_version is unchanged since it was read (a newer photo wins).
    """
    encoder = get_encoder()
    model_key = encoder.model_key()
    result = EmbeddingBatchResult()
    jobs = _jobs(product_ids, model_key, force)
    result.skipped = sorted(set(product_ids) - {job.product_id for job in jobs})
    forward_batch = settings.EMBEDDING_FORWARD_BATCH
    writes: list[tuple[list[_Job], Future]] = []
    with (
        ThreadPoolExecutor(max_workers=2, thread_name_prefix="decode") as pool,
        _VectorWriter(overlap=not connection.in_atomic_block) as writer,
    ):
        loaded = pool.map(lambda job: (job, _load_pixels(job, encoder)), jobs)
        for chunk in chunked(loaded, forward_batch):
            good = [(job, pixels) for job, pixels in chunk if not isinstance(pixels, str)]
            for job, reason in chunk:
                if isinstance(reason, str):
                    result.failed[job.product_id] = reason
            if good:
                vectors = encoder.embed([pixels for _, pixels in good])
                batch = [job for job, _ in good]
                writes.append((batch, writer.submit(_store_vectors, batch, vectors, model_key)))
    for batch, future in writes:
        written = future.result()
        result.embedded.extend(job.product_id for job in batch if job.product_id in written)
        result.skipped.extend(job.product_id for job in batch if job.product_id not in written)
    _store_failures(result.failed, {job.product_id: job.version for job in jobs})
    return result


class _VectorWriter:
    """Writes vectors on a thread of its own, with its own database connection, so PostgreSQL
    inserts into the HNSW index while the model runs on the next batch (measured: the full path
    went from about 70% to 82% of the bare model's rate). Inside a caller's transaction
    (tests, the shell) a second connection could not see its rows, so it writes inline."""

    def __init__(self, *, overlap: bool) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="write") if overlap else None

    def __enter__(self) -> "_VectorWriter":
        return self

    def submit(self, function, *args) -> Future:
        if self.pool is not None:
            return self.pool.submit(function, *args)
        future: Future = Future()
        future.set_result(function(*args))
        return future

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.submit(connections.close_all).result()  # the writer thread's own connection
            self.pool.shutdown()


def _store_vectors(jobs: list[_Job], vectors: np.ndarray, model_key: str) -> set[int]:
    """One upsert for the whole forward batch, only for products whose photo is still the one read."""
    rows = [(job.product_id, job.version, vector_literal(vector)) for job, vector in zip(jobs, vectors, strict=True)]
    values = ",".join(["(%s::bigint, %s::integer, %s::halfvec)"] * len(rows))
    params = [value for row in rows for value in row]
    table, products = ProductEmbedding._meta.db_table, Product._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        embeddings_lock(job.product_id for job in jobs)
        cursor.execute(
            f"""
            INSERT INTO {table} AS e (product_id, vector, model, status, error, photo_version, embedded_at)
            SELECT v.id, v.vector, %s, %s, '', v.version, now()
              FROM (VALUES {values}) AS v(id, version, vector)
              JOIN {products} AS p ON p.id = v.id AND p.photo_version = v.version
            ON CONFLICT (product_id) DO UPDATE
               SET vector = EXCLUDED.vector, model = EXCLUDED.model, status = EXCLUDED.status, error = '',
                   photo_version = EXCLUDED.photo_version, embedded_at = EXCLUDED.embedded_at
         RETURNING e.product_id
            """,
            [model_key, EmbeddingStatus.DONE, *params],
        )
        return {row[0] for row in cursor.fetchall()}


def _store_failures(failed: dict[int, str], versions: dict[int, int]) -> None:
    """Mark these products failed, in one statement, only while their photo is still the one read
    and never over a vector already stored for that same photo (a duplicate task that failed on a
    flaky read must not undo the one that succeeded)."""
    if not failed:
        return
    for product_id, reason in failed.items():
        logger.warning("Embedding failed for product %s: %s", product_id, reason)
    ids = sorted(failed)
    table, products = ProductEmbedding._meta.db_table, Product._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        embeddings_lock(ids)
        cursor.execute(
            f"""
            INSERT INTO {table} AS e (product_id, vector, model, status, error, photo_version)
            SELECT v.id, NULL, '', %s, v.reason, v.version
              FROM unnest(%s::bigint[], %s::integer[], %s::text[]) AS v(id, version, reason)
              JOIN {products} AS p ON p.id = v.id AND p.photo_version = v.version
            ON CONFLICT (product_id) DO UPDATE
               SET vector = NULL, status = EXCLUDED.status, error = EXCLUDED.error,
                   photo_version = EXCLUDED.photo_version
             WHERE NOT (e.status = %s AND e.photo_version = EXCLUDED.photo_version)
            """,
            [EmbeddingStatus.FAILED, ids, [versions[i] for i in ids], [failed[i][:500] for i in ids],
             EmbeddingStatus.DONE],
        )  # fmt: skip


def embedding_sweep(*, limit: int = 50_000) -> int:
    """Queue every product whose embedding is missing or stale; return how many.

    Stale means: no row, or a row behind the catalog's photo version (the catalog's message was
    lost), pending but queued long ago (a lost message, a worker killed mid-batch, a broker that was
    down), or embedded by another model than the configured one. Failed products wait for a new
    photo or the admin's re-embed action.
    """
    model_key = encoder_class().model_key()  # no need to load the weights here
    cutoff = timezone.now() - timedelta(seconds=settings.EMBEDDING_REQUEUE_AFTER_S)
    settled = ProductEmbedding.objects.filter(  # current, or failed on this very photo (staff see it)
        Q(status=EmbeddingStatus.DONE, model=model_key) | Q(status=EmbeddingStatus.FAILED),
        product=OuterRef("pk"), photo_version=OuterRef("photo_version"),
    )  # fmt: skip
    queued_recently = ProductEmbedding.objects.filter(
        product=OuterRef("pk"), status=EmbeddingStatus.PENDING, requested_at__gte=cutoff
    )
    stale = Product.objects.filter(is_active=True).exclude(Exists(settled)).exclude(Exists(queued_recently))
    # What shoppers see first is embedded first (issue 41: "Looks similar" was missing on 5 of the 12
    # trending products while the workers went through the catalog in id order): trending products,
    # then the newest, then the rest. Tasks are consumed in the order queued.
    ids = list(
        stale.order_by(F("trendingscore__score").desc(nulls_last=True), "-created_at", "pk").values_list(
            "pk", flat=True
        )[:limit]
    )
    with transaction.atomic():
        embedding_request(product_ids=ids)
    return len(ids)


def photo_vector_compute(*, data: bytes) -> list[float]:
    """In the worker: decode, preprocess and embed one photo with the catalog's encoder."""
    import io

    encoder = get_encoder()
    return [float(x) for x in encoder.embed([encoder.preprocess(image_decode(io.BytesIO(data)))])[0]]
