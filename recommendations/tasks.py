"""Thin Celery tasks: ids in, one service call, bounded retries."""

import logging

from celery import shared_task
from django.db import DatabaseError

from recommendations import services

logger = logging.getLogger(__name__)


@shared_task(
    autoretry_for=(DatabaseError, OSError),
    retry_backoff=10,
    retry_backoff_max=300,
    max_retries=5,
    acks_late=True,
)
def embed_products(product_ids: list[int]) -> dict[str, int]:
    """Embed these products' primary photos. Safe to run twice: done products are skipped."""
    result = services.embedding_batch_compute(product_ids=product_ids)
    logger.info(
        "Embedded %d, failed %d, skipped %d of %d products",
        len(result.embedded), len(result.failed), len(result.skipped), len(product_ids),
    )  # fmt: skip
    return {"embedded": len(result.embedded), "failed": len(result.failed), "skipped": len(result.skipped)}


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=10, max_retries=5)
def photos_changed(product_ids: list[int]) -> None:
    """Sent by the catalog, by name, after a primary photo changed: queue the new embeddings."""
    services.embedding_request(product_ids=product_ids)


@shared_task
def embedding_sweep() -> int:
    """Periodic: queue products whose embedding is missing or stale (see services.embedding_sweep)."""
    queued = services.embedding_sweep()
    if queued:
        logger.info("Embedding sweep queued %d products", queued)
    return queued


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=30, max_retries=3)
def collaborative_retrain() -> int | None:
    """Periodic: retrain ALS from the log (serving switches to the new factors on commit)."""
    from recommendations.services.collaborative import collaborative_train

    model = collaborative_train()
    return model.pk if model else None


# Reads the whole log: its own limits, above the default task limit (2 minutes on the H&M week).
@shared_task(autoretry_for=(DatabaseError,), retry_backoff=30, max_retries=3, time_limit=3600, soft_time_limit=3500)
def ranker_retrain() -> int | None:
    """Periodic: retrain the learned ranker from the log (serving switches to it on commit)."""
    from recommendations.services.ranker import ranker_train

    model = ranker_train()
    if model is not None:
        logger.info("Ranker %d trained: %s", model.pk, model.figures)
    return model.pk if model else None


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=30, max_retries=3)
def trending_refresh() -> int:
    """Periodic: rebuild the trending scores from the log."""
    from recommendations.services.trending import trending_refresh as refresh

    return refresh()


@shared_task(ignore_result=False, acks_late=False, time_limit=60, soft_time_limit=50)
def embed_photo(data_b64: str) -> list[float]:
    """A shopper's search photo (base64) -> its vector; the web process waits for the result."""
    import base64

    from recommendations.services.embedding import photo_vector_compute

    return photo_vector_compute(data=base64.b64decode(data_b64))
