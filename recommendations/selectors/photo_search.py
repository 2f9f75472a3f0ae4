"""Search by photo: the shopper's photo is embedded by a Celery worker, which holds the encoder
already, and the web process runs the same HNSW query and filters as "Looks similar".

Web processes never load PyTorch: embedding in them cost 13-14 s on each process's first search
and grew each one to about 1.2 GB. The photo goes to the worker through Redis (base64 in JSON) and
its vector comes back through the result backend; a search waits at most PHOTO_SEARCH_TIMEOUT_S.
"""

import base64
import logging
import threading

import numpy as np
from django.conf import settings

from catalog.gender import compatible_genders
from recommendations.selectors.similar import products_similar_to_vector

logger = logging.getLogger(__name__)
EMBED_PHOTO_TASK = "recommendations.tasks.embed_photo"


class PhotoSearchUnavailable(Exception):
    """No worker answered in time, the broker is down, or too many searches wait already: the
    client may retry after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: int = 5):
        super().__init__(message)
        self.retry_after = retry_after


# Searches of this process waiting on a worker. Each holds a web thread for up to
# PHOTO_SEARCH_TIMEOUT_S; past PHOTO_SEARCH_MAX_WAITING the next is refused at once, so a burst of
# uploads (12 at once held every thread: /healthz took 8 s) leaves the other threads to the pages.
_WAITING = threading.BoundedSemaphore(max(settings.PHOTO_SEARCH_MAX_WAITING, 1))


def products_similar_to_photo(*, data: bytes, gender: str | None, k: int) -> list:
    """Products that look like the photo (validated by the caller), of a gender compatible with ``gender``."""
    from celery import current_app
    from celery.exceptions import TimeoutError as CeleryTimeout
    from kombu.exceptions import OperationalError

    if not _WAITING.acquire(blocking=False):
        logger.info(
            "Photo search refused: %d already wait on a worker in this process.", settings.PHOTO_SEARCH_MAX_WAITING
        )
        raise PhotoSearchUnavailable("Too many photo searches are waiting; retry in a few seconds.", retry_after=2)
    try:  # sent by name: the service does not import the task module that imports it
        result = current_app.send_task(EMBED_PHOTO_TASK, args=[base64.b64encode(data).decode("ascii")])
        vector = result.get(timeout=settings.PHOTO_SEARCH_TIMEOUT_S, propagate=True)
    except (CeleryTimeout, OperationalError, OSError) as exc:
        logger.warning("Photo search failed: %s", exc)
        raise PhotoSearchUnavailable("Search by photo is unavailable right now; retry in a moment.") from exc
    finally:
        _WAITING.release()
    return products_similar_to_vector(
        vector=np.asarray(vector, dtype=np.float32), genders=compatible_genders(gender) if gender else None, k=k
    )
