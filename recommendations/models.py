import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q, TextField
from django.db.models.functions import Cast, Coalesce
from pgvector.django import HalfVectorField, VectorField

from catalog.models import Gender, Product


class EmbeddingStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Embedded"
    FAILED = "failed", "Failed"


class ProductEmbedding(models.Model):
    """The visual embedding of a product's primary photo: derived data, owned by the recommender.

    ``photo_version`` is the catalog's Product.photo_version this row was computed from (or was
    requested for): a vector is stored only while the product's version is still that one, and the
    sweep re-queues products whose row is missing or behind. The vector column has no fixed
    dimension so that encoders of different sizes can coexist during a switch; each encoder has its
    own partial HNSW indexes, one per gender, on a cast to its dimension (recommendations/vector_index.py).
    """

    product = models.OneToOneField(Product, on_delete=models.CASCADE, primary_key=True, related_name="embedding")
    vector = HalfVectorField(null=True, blank=True)
    model = models.CharField(max_length=64, blank=True, help_text="The encoder and its version.")
    status = models.CharField(max_length=8, choices=EmbeddingStatus.choices, default=EmbeddingStatus.PENDING)
    error = models.CharField(max_length=500, blank=True)
    photo_version = models.PositiveIntegerField(default=0)
    requested_at = models.DateTimeField(null=True, blank=True)
    embedded_at = models.DateTimeField(null=True, blank=True)
    # Written by database triggers only (migration 0010 says why): the search walks this gender's index.
    gender = models.CharField(
        max_length=8, blank=True, default="", editable=False,
        help_text="The product's gender, copied by database triggers; it selects the HNSW index a search walks.",
    )  # fmt: skip

    class Meta:
        indexes = [models.Index(fields=["status", "requested_at"])]

    def __str__(self) -> str:
        return f"embedding of product {self.product_id} ({self.status})"


class ProductNeighbours(models.Model):
    """A product's nearest products by photo, nearest first: derived data, kept so that "Because you
    viewed X" and "Looks similar" cost every page a primary-key read instead of an HNSW search.

    Computed on first use from the product's embedding (``model`` and ``photo_version`` name which),
    over active, in-stock products of any gender; the page then applies its own hard filters, fresh.
    A list is recomputed when the product's embedding changes, and when it is older than
    VISUAL_NEIGHBOURS_MAX_AGE_S, so products embedded or restocked since appear within that time.
    """

    product = models.OneToOneField(Product, on_delete=models.CASCADE, primary_key=True, related_name="+")
    model = models.CharField(max_length=64)
    photo_version = models.PositiveIntegerField()
    product_ids = ArrayField(models.IntegerField())
    distances = ArrayField(models.FloatField())
    computed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{len(self.product_ids)} neighbours of product {self.product_id}"


class Visitor(models.Model):
    """A shopper's browser, known by a cookie; attached to a user once they sign in."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    gender_preference = models.CharField(max_length=8, choices=Gender.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # False for a visitor whose address had already started VISITORS_PER_ADDRESS_PER_DAY others that day
    # (UTC): its own pages are personalised as usual, but it never moves what others see (trending).
    # A default in the database too: processes of the previous release, still running while the new one
    # rolls out, write visitors without this column.
    counts_in_shared = models.BooleanField(default=True, db_default=True)

    # The client address the request came from (not stored): visitor_persist counts new visitors per address.
    address: str | None = None

    def __str__(self) -> str:
        return str(self.id)


class InteractionKind(models.TextChoices):
    VIEW = "view", "Product view"
    CLICK = "click", "Click on a recommendation"
    ADD_TO_CART = "add_to_cart", "Add to cart"
    PURCHASE = "purchase", "Purchase"


# The unique index of an event id per shopper (Interaction's interaction_event_id_per_shopper) as
# ON CONFLICT names it: the same expression and predicate, so PostgreSQL infers that index.
EVENT_ID_CONFLICT = "(COALESCE(user_id::text, visitor_id::text), event_id) WHERE event_id IS NOT NULL"


class Interaction(models.Model):
    """One event of the interaction log: the source of truth for every recommender."""

    # Idempotency key: supplied by clients (API) or derived from the source row (imports). Unique per
    # shopper (the user, else the visitor; the constraint below), not across the shop: a global key told
    # Bob that Carol's id existed and let anyone who could predict a client's ids have its events dropped.
    event_id = models.UUIDField(null=True, blank=True)
    # No single-column indexes on the keys: each is the first column of an index below, which serves
    # its look-ups and deletes as well. Every index costs each event written (an import writes
    # millions); a purchase imported from H&M has no visitor, so the shopper indexes are partial.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, db_index=False)
    visitor = models.ForeignKey(Visitor, null=True, blank=True, on_delete=models.CASCADE, db_index=False)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="interactions", db_index=False)
    kind = models.CharField(max_length=16, choices=InteractionKind.choices)
    created_at = models.DateTimeField(db_index=True)
    # Where the shopper found the product, so click-through can be measured per strategy.
    price = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True, help_text="What the shopper paid, for a purchase."
    )
    source_row = models.CharField(max_length=32, blank=True)  # e.g. "home.recommended"
    source_strategy = models.CharField(max_length=32, blank=True)  # e.g. "als", "visual", "trending"
    source_slot = models.PositiveSmallIntegerField(null=True, blank=True)
    # The list the card was on (Row.list_id, the API's recommendation_id): attribution joins it to that
    # list's impressions by the same shopper (experiments), so an id copied from someone else earns nothing.
    recommendation_id = models.UUIDField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["user", "-created_at"], condition=Q(user__isnull=False), name="interaction_user_newest"
            ),
            models.Index(
                fields=["visitor", "-created_at"], condition=Q(visitor__isnull=False), name="interaction_visitor_newest"
            ),
            models.Index(fields=["product", "kind"]),
        ]
        # A service account's token (a shop's own back end) may post purchases through the events API,
        # as staff may; shoppers' clients may not (recommendations/api/views.py, EventsApi).
        permissions = [("record_purchases", "Can record purchases through the events API")]
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False) | Q(visitor__isnull=False), name="interaction_has_a_shopper"
            ),
            # ON CONFLICT names this expression (recommendations.services.events.EVENT_ID_CONFLICT).
            models.UniqueConstraint(
                Coalesce(Cast("user_id", TextField()), Cast("visitor_id", TextField())),
                F("event_id"),
                condition=Q(event_id__isnull=False),
                name="interaction_event_id_per_shopper",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of product {self.product_id} at {self.created_at:%Y-%m-%d %H:%M}"


class CollaborativeModel(models.Model):
    """One training run of implicit's ALS; serving reads the active one's item factors from PostgreSQL
    and solves each shopper's vector from their history (no shopper's factors are stored)."""

    trained_at = models.DateTimeField(auto_now_add=True)
    factors = models.PositiveSmallIntegerField()
    params = models.JSONField(default=dict)
    interactions = models.PositiveIntegerField(default=0)
    users = models.PositiveIntegerField(default=0)
    items = models.PositiveIntegerField(default=0)
    trained_until = models.DateTimeField(null=True, help_text="Newest interaction seen by this training.")
    is_active = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="one_active_model"),
        ]

    def __str__(self) -> str:
        return f"ALS model {self.pk} ({self.factors} factors, {self.trained_at:%Y-%m-%d %H:%M})"


# A model's factors are derived data, written a million rows at a time by a training (COPY) and
# deleted with their model version: no foreign-key constraints (Django's are deferred to the commit,
# and a training then spent minutes checking keys that came from the log) and no index but the
# unique one, whose leading model_id serves reading and deleting a version. Django still deletes a
# product's factors with it (on_delete); PostgreSQL 18 finds them through the unique index with a
# skip scan.
_DERIVED = {"on_delete": models.CASCADE, "db_constraint": False, "db_index": False}


class ItemFactor(models.Model):
    model = models.ForeignKey(CollaborativeModel, related_name="item_factors", **_DERIVED)
    product = models.ForeignKey(Product, **_DERIVED)
    vector = VectorField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model", "product"], name="one_item_factor_per_model")]

    def __str__(self) -> str:
        return f"factors of product {self.product_id} in model {self.model_id}"


class RankerModel(models.Model):
    """One training run of the learned ranker: the LightGBM model, the item table it reads (popularity,
    co-purchases, groups as of the newest event it saw), and its validation figures. Serving loads
    the active one once per process and again only when another becomes active."""

    trained_at = models.DateTimeField(auto_now_add=True)
    trained_until = models.DateTimeField(help_text="Newest interaction seen by this training.")
    features = models.JSONField(help_text="The feature names, in the model's column order.")
    boosters = models.TextField(help_text="LightGBM's models (a seed ensemble): a JSON list of its text format.")
    items = models.BinaryField(help_text="The item table (numpy .npz, no pickle).")
    figures = models.JSONField(default=dict, help_text="Validation MAP@12 and recall@12, rows, time, memory.")
    importances = models.JSONField(default=dict, help_text="Each feature's share of the total gain.")
    click_features = models.JSONField(default=list, help_text="The after-a-click ranker's feature names.")
    click_boosters = models.TextField(
        blank=True,
        default="",
        help_text="The after-a-click ranker (LightGBM, as boosters); empty: the heuristic serves.",
    )
    is_active = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="one_active_ranker"),
        ]

    def __str__(self) -> str:
        return f"ranker {self.pk} (trained {self.trained_at:%Y-%m-%d %H:%M}, log until {self.trained_until:%Y-%m-%d})"


class TrendingScore(models.Model):
    """Popularity over a recent window, rebuilt by a periodic task from the interaction log."""

    product = models.OneToOneField(Product, on_delete=models.CASCADE, primary_key=True)
    score = models.FloatField(db_index=True)
    computed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"product {self.product_id}: {self.score:.1f}"


class PopularScore(models.Model):
    """Best sellers over a longer window (POPULAR_DAYS days with events): each product's buyers, one per
    shopper and day. Rebuilt with TrendingScore, in the same transaction (so the trending change that
    invalidates cached pages covers it); a short row is topped up from it (selectors.rows.top_up)."""

    product = models.OneToOneField(Product, on_delete=models.CASCADE, primary_key=True)
    score = models.FloatField(db_index=True)

    def __str__(self) -> str:
        return f"product {self.product_id}: {self.score:.0f} buyers"


class ServingGeneration(models.Model):
    """One row whose ``value`` grows whenever something every cached homepage depends on changes:
    an embedding, the trending list, a (re)trained or activated model, new products. Database
    triggers bump it (migration 0008), in the same transaction as the change, so every writer (the
    admin, the workers, COPY imports, psql) invalidates cached pages without knowing of them, and a
    page read with value N was computed from data at least as new as N (the value is read first).

    Stock, deactivation and gender need no bump: a cached page's cards pass the hard filters again,
    fresh, on every request (recommendations.selectors.page_cache)."""

    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"serving generation {self.value}"


class EvaluationReport(models.Model):
    """One run of `manage.py evaluate`: the JSON it wrote, kept for the admin's report page."""

    created_at = models.DateTimeField(auto_now_add=True)
    data = models.JSONField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Evaluation of {self.created_at:%Y-%m-%d %H:%M}"
