# Load the Celery app with Django so that @shared_task binds to it and .delay() uses our broker.
from workers import celery_app

__all__ = ["celery_app"]
