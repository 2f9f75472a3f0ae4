"""The Celery app: queues, routes and the periodic schedule. Tasks live in each app's tasks.py;
here they are only named (apps send each other's tasks by name, never by import)."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storefront.settings.production")  # as wsgi.py

app = Celery("storefront")
app.config_from_object("django.conf:settings", namespace="CELERY")

# Embedding is CPU-heavy and slow; it gets its own queue so it never delays short tasks.
# Search by photo has a shopper waiting: its own queue, listed first by the workers that take it.
app.conf.task_queues = (Queue("default"), Queue("embeddings"), Queue("search"))
app.conf.task_default_queue = "default"
app.conf.task_routes = {
    "recommendations.tasks.embed_products": {"queue": "embeddings"},
    "recommendations.tasks.embed_photo": {"queue": "search"},
}


@app.on_after_finalize.connect
def _schedule(sender: Celery, **kwargs) -> None:
    from django.conf import settings

    sender.add_periodic_task(
        settings.EMBEDDING_SWEEP_EVERY_S,
        sender.signature("recommendations.tasks.embedding_sweep"),
        name="embedding sweep: queue missing or stale embeddings",
    )
    sender.add_periodic_task(
        settings.ALS_TRAIN_EVERY_S,
        sender.signature("recommendations.tasks.collaborative_retrain"),
        name="retrain ALS on the interaction log",
    )
    sender.add_periodic_task(
        settings.RANKER_TRAIN_EVERY_S,
        sender.signature("recommendations.tasks.ranker_retrain"),
        name="retrain the learned ranker on the interaction log",
    )
    sender.add_periodic_task(
        settings.TRENDING_REFRESH_EVERY_S,
        sender.signature("recommendations.tasks.trending_refresh"),
        name="refresh trending products",
    )
    sender.add_periodic_task(
        24 * 3600,
        sender.signature("catalog.tasks.search_log_prune"),
        name="forget search queries nobody searched for in SEARCH_LOG_KEEP_DAYS",
    )
    sender.add_periodic_task(
        settings.EXPERIMENTS_ROLLUP_EVERY_S,
        sender.signature("experiments.tasks.experiments_rollup"),
        name="roll experiments' impressions and events up for their results pages; purge old impressions",
    )


app.autodiscover_tasks(["catalog", "recommendations", "experiments", "storefront"])
