import math

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from catalog.models import Gender, Product


class Action(models.TextChoices):
    PIN = "pin", "Pin a product at a position"
    PROMOTE = "promote", "Promote: a share of the row for matching products"
    BOOST = "boost", "Boost matching products (they rise)"
    BURY = "bury", "Bury matching products (they sink)"
    HIDE = "hide", "Hide matching products (never recommended)"


class Surface(models.TextChoices):
    """Where a rule acts. The recommendations API serves the homepage's rows and the product page's
    lists, so a rule on those surfaces acts on the API's too."""

    HOME = "home", "Homepage (and the recommendations API)"
    PRODUCT = "product", "Product page (and its API lists)"
    CATEGORY = "category", "Category page's recommended row"
    SEARCH = "search", "Search, ordered for the shopper"


ANCHORED_ONLY = "A rule scoped to categories, departments or types acts on product and category pages only."


class Rule(models.Model):
    """One merchandising rule. What it matches is the products that meet every condition given
    (products, departments, product types, colours, a price band, new arrivals); a rule with no
    condition matches nothing, so a half-filled form can never hide the whole catalog. A pin names its
    product and position instead.

    Every save bumps the ServingGeneration (a trigger, recommendations migration 0021), so the next
    page on every process and host is computed with the change."""

    name = models.CharField(max_length=120)
    action = models.CharField(max_length=8, choices=Action.choices)
    is_enabled = models.BooleanField(default=True)
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Blank: until switched off.")
    surfaces = ArrayField(models.CharField(max_length=16, choices=Surface.choices))
    row = models.CharField(
        max_length=32, blank=True,
        help_text="A row's key (home.trending, home.recommended, product.goes_with, ...): blank for every row.",
    )  # fmt: skip
    # Pin
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(100)], help_text="1 is the first."
    )
    # Conditions (promote, boost, bury, hide): all that are given must hold.
    products = models.ManyToManyField(Product, blank=True, related_name="+")
    departments = ArrayField(models.CharField(max_length=100), blank=True, default=list)
    article_types = ArrayField(models.CharField(max_length=100), blank=True, default=list)
    colours = ArrayField(models.CharField(max_length=64), blank=True, default=list)
    price_min = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    price_max = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    new_within_days = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Added in the last N days.")
    # Promote: at most this many cards of a row; boost and bury: the factor on a card's rank score.
    max_cards = models.PositiveSmallIntegerField(default=3, validators=[MinValueValidator(1), MaxValueValidator(50)])
    factor = models.FloatField(
        default=2.0, validators=[MinValueValidator(0.01), MaxValueValidator(100)],
        help_text="Boost: above 1 (2 = twice the score); bury: below 1 (0.5 = half).",
    )  # fmt: skip
    # Scope: the rule acts only for shoppers of these genders (blank: every shopper).
    scope_genders = ArrayField(models.CharField(max_length=8, choices=Gender.choices), blank=True, default=list)
    # Scope: the page's own product (a product page) or category (a category page) is in these
    # categories and departments and of these types (blank: every page). The homepage and search have no such anchor.
    scope_categories = ArrayField(
        models.CharField(max_length=100), blank=True, default=list,
        help_text="Only on product pages of these categories' products, and these categories' pages.",
    )  # fmt: skip
    scope_departments = ArrayField(
        models.CharField(max_length=100), blank=True, default=list,
        help_text="Only on product pages of these departments' products, and category pages within them.",
    )  # fmt: skip
    scope_article_types = ArrayField(
        models.CharField(max_length=100), blank=True, default=list,
        help_text="Only on product pages of products of these types, and these types' category pages.",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.name}"

    def clean(self) -> None:
        if self.factor is None or not math.isfinite(self.factor):
            raise ValidationError({"factor": "A factor is a finite number."})
        if self.action == Action.PIN and (self.product_id is None or self.position is None):
            raise ValidationError("A pin needs a product and a position.")
        if self.action == Action.BOOST and self.factor <= 1:
            raise ValidationError({"factor": "A boost's factor is above 1."})
        if self.action == Action.BURY and self.factor >= 1:
            raise ValidationError({"factor": "A bury's factor is below 1."})
        if self.ends_at is not None and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "The end comes after the start."})
        anchored = {Surface.PRODUCT, Surface.CATEGORY}
        scoped = self.scope_categories or self.scope_departments or self.scope_article_types
        if scoped and not set(self.surfaces or ()) <= anchored:
            raise ValidationError({"surfaces": ANCHORED_ONLY})
        if self.price_min is not None and self.price_max is not None and self.price_min > self.price_max:
            raise ValidationError({"price_max": "The price band's top is below its bottom."})
