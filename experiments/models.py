from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models


class Surface(models.TextChoices):
    HOME = "home", "Homepage"
    API = "api", "Recommendations API"
    PRODUCT = "product", "Product page"
    CATEGORY = "category", "Category page"
    SEARCH = "search", "Search"


class Impression(models.Model):
    """One list shown once to one shopper: the list's id (recommendations.selectors.rows.Row.list_id;
    a cached page shows the same list again, and each render is an impression of its own), where, in
    which experiment arm, and its products in order with the source each came from.

    Written in batches by experiments.services.impressions (COPY), never in the request. Belongs to
    its shopper: deleting the user or the visitor deletes it. A signed-in shopper's is the user's alone,
    as their events are."""

    list_id = models.UUIDField()
    surface = models.CharField(max_length=16, choices=Surface.choices)
    row = models.CharField(max_length=32)
    arm = models.CharField(max_length=32, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, db_index=False)
    # Not a foreign key: most impressions are a first page's, of a visitor with no row yet (it is
    # written at their first event). Deleting a visitor deletes these too (experiments.signals).
    visitor_id = models.UUIDField(null=True, blank=True)
    shown_at = models.DateTimeField()
    product_ids = ArrayField(models.BigIntegerField())  # in the order shown: position = index
    sources = ArrayField(models.CharField(max_length=32))  # each card's strategy, as product_ids

    class Meta:
        indexes = [
            models.Index(fields=["list_id"]),
            models.Index(fields=["user", "shown_at"], condition=models.Q(user__isnull=False), name="impression_user"),
            models.Index(
                fields=["visitor_id", "shown_at"],
                condition=models.Q(visitor_id__isnull=False),
                name="impression_visitor",
            ),
            models.Index(fields=["shown_at"], name="impression_shown_at"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False) | models.Q(visitor_id__isnull=False),
                name="impression_has_a_shopper",
            )
        ]

    def __str__(self) -> str:
        return f"{self.surface} {self.row} {self.list_id}"
