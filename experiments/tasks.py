"""Thin Celery tasks: one service call each."""

import logging

from celery import shared_task
from django.db import DatabaseError

from experiments.services.rollup import rollup

logger = logging.getLogger(__name__)


@shared_task(autoretry_for=(DatabaseError,), retry_backoff=30, max_retries=3)
def experiments_rollup() -> dict[str, int]:
    """Periodic: the experiments' Exposure rows from the impressions and the log; old impressions purged."""
    summary = rollup()
    logger.info("Rolled up %d experiments (%d shoppers); purged %d impressions",
                summary.experiments, summary.exposures, summary.purged)  # fmt: skip
    return {"experiments": summary.experiments, "exposures": summary.exposures, "source_days": summary.source_days,
            "purged": summary.purged}  # fmt: skip
