import uuid

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from catalog.images import SERVED_EXTENSIONS, photo_extension
from catalog.validators import validate_product_photo


class Gender(models.TextChoices):
    WOMEN = "women", "Women"
    MEN = "men", "Men"
    GIRLS = "girls", "Girls"
    BOYS = "boys", "Boys"
    KIDS = "kids", "Kids"  # babies' and children's products for either sex (H&M's Baby Essentials, Kids Outerwear)
    UNISEX = "unisex", "Unisex"


class Product(models.Model):
    external_id = models.CharField(max_length=64, unique=True, help_text="The source catalog's id.")
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    gender = models.CharField(max_length=8, choices=Gender.choices, default=Gender.UNISEX, db_index=True)
    category = models.CharField(max_length=100, blank=True, help_text="Top level, e.g. Apparel.")
    subcategory = models.CharField(max_length=100, blank=True, help_text="e.g. Topwear.")
    department = models.CharField(
        max_length=100, blank=True, help_text="The shop's department or section, e.g. Womens Lingerie."
    )
    article_type = models.CharField(max_length=100, blank=True, help_text="e.g. Shirts.")
    colour = models.CharField(max_length=64, blank=True)
    # One product in several colours or variants: H&M's product_code (the first 7 digits of the
    # article id). A catalog without one leaves it blank, and each product is a group of its own.
    product_group = models.CharField(
        max_length=64, blank=True, db_index=True, help_text="Shared by the colours and variants of one product."
    )
    price = models.DecimalField(max_digits=10, decimal_places=2, default=0, validators=[MinValueValidator(0)])
    stock_quantity = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    # Who owns the row: a re-import updates only products staff never edited (details or photos),
    # and the demo sets stock only on products whose stock nobody ever set.
    edited_by_staff = models.BooleanField(
        default=False, editable=False, help_text="Staff changed its details or photos; a re-import leaves it alone."
    )
    stock_set_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When staff or the demo last set the stock."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Bumped whenever the primary photo changes. Derived data (the recommender's embedding of the
    # photo) records the version it was computed from, so a slow worker never stores the vector of
    # an older photo, and a periodic sweep finds products whose derived data is behind.
    photo_version = models.PositiveIntegerField(default=0, editable=False)

    # What the search box matches: computed by PostgreSQL itself whenever a row is written (admin, API,
    # importer, COPY, psql alike), so a query never recomputes it. The product's name and type weigh
    # most, then its colour and department, then its categories, then the description.
    search_vector = models.GeneratedField(
        expression=SearchVector("name", "article_type", weight="A", config="english")
        + SearchVector("colour", "department", weight="B", config="english")
        + SearchVector("category", "subcategory", weight="C", config="english")
        + SearchVector("description", weight="D", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["category", "article_type"]),
            GinIndex(fields=["search_vector"], name="product_search_vector"),
            # The category pages' counts read these five columns of the products in stock, from the
            # index alone where the table's pages are all-visible (catalog.categories.CatalogCounts).
            models.Index(
                fields=["category", "department", "article_type", "colour", "gender", "price"],
                condition=Q(is_active=True, stock_quantity__gt=0),
                name="product_in_stock_facets",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="product_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.external_id})"

    @property
    def in_stock(self) -> bool:
        return self.is_active and self.stock_quantity > 0

    @property
    def primary_image(self) -> "ProductImage | None":
        # Uses the prefetch cache when the caller prefetched images.
        images = list(self.images.all())
        return next((image for image in images if image.is_primary), images[0] if images else None)


def product_image_path(instance: "ProductImage", filename: str) -> str:
    """A name chosen by the server, with the extension of the format the file really is: a client's
    name and extension are never kept (a JPEG uploaded as poly.html was served back as HTML)."""
    if instance.image._file is not None:  # an upload being saved (the admin, the API's service)
        extension = photo_extension(instance.image.file)
    else:  # server code saving bytes under a name it chose (FieldFile.save)
        suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        extension = f".{suffix}" if f".{suffix}" in SERVED_EXTENSIONS else ".bin"
    return f"products/uploads/{uuid.uuid4().hex}{extension}"


class ProductImage(models.Model):
    product = models.ForeignKey(Product, related_name="images", on_delete=models.CASCADE)
    image = models.ImageField(
        upload_to=product_image_path,
        width_field="width",
        height_field="height",
        validators=[validate_product_photo],
        max_length=255,
    )
    width = models.PositiveIntegerField(null=True, editable=False)
    height = models.PositiveIntegerField(null=True, editable=False)
    checksum = models.CharField(max_length=64, blank=True, editable=False, help_text="sha256 of the file.")
    is_primary = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["product_id", "-is_primary", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["product"], condition=Q(is_primary=True), name="one_primary_image_per_product"
            ),
        ]

    def __str__(self) -> str:
        return self.image.name


class SearchTerm(models.Model):
    """What shoppers search for, one row per normalised query (catalog.search.search_log): how often,
    how often nothing was found, and how many products it found last. Nothing about who searched."""

    query = models.CharField(max_length=200, unique=True)
    searches = models.PositiveIntegerField(default=0)
    searches_without_results = models.PositiveIntegerField(default=0)
    last_results = models.PositiveIntegerField(default=0, help_text="Products the last search found.")
    first_searched_at = models.DateTimeField()
    last_searched_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["-searches"])]

    def __str__(self) -> str:
        return self.query
