import secrets

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from recommendations.selectors.homepage import Strategy


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
    experiment_id = models.IntegerField(null=True, blank=True)  # the experiment whose arm served it, if any
    arm = models.CharField(max_length=32, blank=True)
    # No database constraint: PostgreSQL checks a foreign key by locking the user's row (FOR KEY SHARE,
    # a WAL-logged write to auth_user) once per impression written, hundreds a second for signed-in
    # shoppers. Deleting a user still deletes these: Django's CASCADE runs in the ORM, not the database.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, db_index=False, db_constraint=False
    )
    # Not a foreign key: most impressions are a first page's, of a visitor with no row yet (it is
    # written at their first event). Deleting a visitor deletes these too (experiments.signals).
    visitor_id = models.UUIDField(null=True, blank=True)
    shown_at = models.DateTimeField()
    product_ids = ArrayField(models.BigIntegerField())  # in the order shown: position = index
    sources = ArrayField(models.CharField(max_length=32))  # each card's strategy, as product_ids

    class Meta:
        # Few indexes: every one costs each impression written (hundreds a second). The roll-up reads by
        # time (BRIN: the table is written in time order), deletions by user or visitor.
        indexes = [
            models.Index(fields=["user", "shown_at"], condition=models.Q(user__isnull=False), name="impression_user"),
            models.Index(
                fields=["visitor_id", "shown_at"],
                condition=models.Q(visitor_id__isnull=False),
                name="impression_visitor",
            ),
            BrinIndex(fields=["shown_at"], name="impression_shown_at_brin"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False) | models.Q(visitor_id__isnull=False),
                name="impression_has_a_shopper",
            )
        ]

    def __str__(self) -> str:
        return f"{self.surface} {self.row} {self.list_id}"


def _salt() -> str:
    return secrets.token_hex(8)


class Experiment(models.Model):
    """A test of serving strategies on live traffic: shoppers are split between its arms by a salted hash
    (experiments.selectors.assignment), sticky across pages, and across devices once signed in."""

    name = models.CharField(max_length=120)
    surfaces = ArrayField(
        models.CharField(max_length=16, choices=[(Surface.HOME, "Homepage"), (Surface.API, "Recommendations API")]),
        help_text="Where its arms decide what is shown: the homepage, the recommendations API, or both.",
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Blank: until stopped.")
    is_enabled = models.BooleanField(default=True, help_text="Off: every shopper gets the store's own pages again.")
    salt = models.CharField(
        max_length=32, default=_salt, editable=False,
        help_text="Mixed into the hash, so two experiments split the same shoppers independently.",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    # Autopilot (experiments.services.autopilot): Thompson sampling moves the non-control traffic
    # towards the arm most likely best on the chosen metric, the control keeping its share.
    autopilot = models.BooleanField(
        default=False,
        help_text="Move traffic towards the best arm as results come in (Thompson sampling), "
        "keeping the control's share. Each shopper keeps the arm they were first given.",
    )
    autopilot_metric = models.CharField(
        max_length=16, default="conversion",
        choices=[("conversion", "Conversion (shoppers who bought)"), ("revenue", "Revenue per shopper")],
    )  # fmt: skip
    control_share = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text="Autopilot: the control arm's guaranteed share of new shoppers, in percent.",
    )  # fmt: skip
    # The shares new shoppers are drawn with now ({arm key: percent}); empty: the arms' planned shares.
    allocation = models.JSONField(default=dict, blank=True, editable=False)
    # One entry per autopilot step: {"at", "shoppers": {arm: n}, "shares": {arm: %}, "best": {arm: p}}.
    autopilot_log = models.JSONField(default=list, blank=True, editable=False)
    concluded = models.CharField(max_length=200, blank=True, editable=False)  # the stop rule's verdict

    class Meta:
        ordering = ["-starts_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_running(self) -> bool:
        now = timezone.now()
        return self.is_enabled and self.starts_at <= now and (self.ends_at is None or self.ends_at > now)


class Arm(models.Model):
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="arms")
    key = models.SlugField(max_length=32, help_text="A short name, e.g. control, ranker, holdout.")
    strategy = models.CharField(max_length=16, choices=[(s.value, s.name.title()) for s in Strategy])
    share = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(100)], help_text="Its share of the traffic, in percent."
    )
    is_control = models.BooleanField(default=False, help_text="The arm the others are compared with.")

    class Meta:
        ordering = ["pk"]
        constraints = [models.UniqueConstraint(fields=["experiment", "key"], name="arm_key_per_experiment")]

    def __str__(self) -> str:
        return f"{self.experiment}: {self.key}"


class Exposure(models.Model):
    """What one shopper did in one experiment, from their first impression in it: the rows the results
    pages read (rolled up by experiments.services.rollup from the impressions and the log), never the
    raw impressions. ``shopper`` is "u<id>" or "v<uuid>"."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="exposures")
    arm = models.CharField(max_length=32)
    shopper = models.CharField(max_length=40)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE)
    first_seen = models.DateTimeField()
    impressions = models.PositiveIntegerField(default=0)  # lists shown
    clicks = models.PositiveIntegerField(default=0)  # recommendation clicks (attributed)
    add_to_carts = models.PositiveIntegerField(default=0)  # all, from first_seen on
    purchases = models.PositiveIntegerField(default=0)  # all, from first_seen on
    revenue = models.DecimalField(max_digits=12, decimal_places=2, default=0)  # all purchases' prices
    attributed_revenue = models.DecimalField(max_digits=12, decimal_places=2, default=0)  # through a list's click

    class Meta:
        constraints = [models.UniqueConstraint(fields=["experiment", "shopper"], name="exposure_per_shopper")]
        indexes = [models.Index(fields=["experiment", "arm"])]

    def __str__(self) -> str:
        return f"{self.experiment_id}/{self.arm}/{self.shopper}"


class SourceDay(models.Model):
    """Per day, experiment arm, surface, row and candidate source: cards shown and what their clicks
    earned (experiments.selectors.attribution). Rolled up from the raw impressions and the log by
    experiments.services.rollup; the standing dashboard and the per-source view read only this."""

    day = models.DateField()
    experiment_id = models.IntegerField(null=True, blank=True)
    arm = models.CharField(max_length=32, blank=True)
    surface = models.CharField(max_length=16, choices=Surface.choices)
    row = models.CharField(max_length=32)
    source = models.CharField(max_length=32)
    cards_shown = models.PositiveIntegerField(default=0)
    clicks = models.PositiveIntegerField(default=0)
    add_to_carts = models.PositiveIntegerField(default=0)  # attributed
    purchases = models.PositiveIntegerField(default=0)  # attributed
    revenue = models.DecimalField(max_digits=14, decimal_places=2, default=0)  # attributed purchases' prices
    influenced_purchases = models.PositiveIntegerField(default=0)  # within the longer window only

    class Meta:
        verbose_name = "recommendation performance (per day and source)"
        verbose_name_plural = "recommendation performance (per day and source)"
        indexes = [models.Index(fields=["day"]), models.Index(fields=["experiment_id", "day"])]

    def __str__(self) -> str:
        return f"{self.day} {self.surface} {self.row} {self.source}"


class ShopperUnit(models.Model):
    """A signed-in shopper's assignment unit, fixed at their first sign-in on the web: the visitor they
    were ("v<uuid>"), so the arm they saw before signing in is the one they see after, on every device.
    A user with no row (API tokens only) is their own unit ("u<id>")."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True)
    unit = models.CharField(max_length=40)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.unit}"
