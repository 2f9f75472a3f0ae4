"""Trained models kept as versions in PostgreSQL (ALS factors, the ranker): one is active at a time."""

from django.db import models


def activate(stored: models.Model, *, keep: int) -> None:
    """Make ``stored`` the active one of its model class and delete all but the ``keep`` newest; call it
    inside the transaction that stored it, so that serving switches models in one commit."""
    model = type(stored)
    model.objects.filter(is_active=True).update(is_active=False)
    model.objects.filter(pk=stored.pk).update(is_active=True)
    stale = model.objects.order_by("-pk").values_list("pk", flat=True)[keep:]
    model.objects.filter(pk__in=list(stale)).delete()
    stored.is_active = True
