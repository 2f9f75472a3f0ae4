"""The catalog's periodic work; Celery beat names these tasks (workers/celery.py)."""

from celery import shared_task
from django.conf import settings

from catalog.search import search_terms_prune


@shared_task
def search_log_prune() -> int:
    return search_terms_prune(keep_days=settings.SEARCH_LOG_KEEP_DAYS)
