"""Search by photo: the shopper's photo is embedded by a Celery worker, which holds the encoder
already, and the web process runs the same HNSW query and filters as "Looks similar".

Web processes never load PyTorch: embedding in them cost 13-14 s on each process's first search
and grew each one to about 1.2 GB. The photo goes to the worker through Redis (base64 in JSON) and
its vector comes back through the result backend; a search waits at most PHOTO_SEARCH_TIMEOUT_S.
"""

import base64
import logging

import numpy as np
from django.conf import settings

from catalog.gender import compatible_genders
from recommendations.selectors.similar import products_similar_to_vector

logger = logging.getLogger(__name__)
EMBED_PHOTO_TASK = "recommendations.tasks.embed_photo"


class PhotoSearchUnavailable(Exception):
    """No worker answered in time, or the broker is down: the client may retry later."""


def products_similar_to_photo(*, data: bytes, gender: str | None, k: int) -> list:
    """Products that look like the photo (validated by the caller), of a gender compatible with ``gender``."""
    from celery import current_app
    from celery.exceptions import TimeoutError as CeleryTimeout
    from kombu.exceptions import OperationalError

    try:  # sent by name: the service does not import the task module that imports it
        result = current_app.send_task(EMBED_PHOTO_TASK, args=[base64.b64encode(data).decode("ascii")])
        vector = result.get(timeout=settings.PHOTO_SEARCH_TIMEOUT_S, propagate=True)
    except (CeleryTimeout, OperationalError, OSError) as exc:
        logger.warning("Photo search failed: %s", exc)
        raise PhotoSearchUnavailable("Search by photo is unavailable right now; retry in a moment.") from exc
    return products_similar_to_vector(
        vector=np.asarray(vector, dtype=np.float32), genders=compatible_genders(gender) if gender else None, k=k
    )
