"""Reads of the catalog for the storefront."""

from django.db.models import Prefetch, Q, QuerySet

from catalog.models import Gender, Product, ProductImage


def products_browsable(*, gender: str | None = None) -> QuerySet[Product]:
    """Active products for the storefront in catalog order, with photos prefetched."""
    products = Product.objects.filter(is_active=True).prefetch_related("images")
    if gender in Gender.values:
        products = products.filter(gender=gender)
    return products.order_by("id")


def product_get(*, pk: int, using: str | None = None) -> Product | None:
    """The product with its photos; ``using`` a database alias for both reads (None: the router's)."""
    images = Prefetch("images", queryset=ProductImage.objects.using(using))
    return Product.objects.using(using).prefetch_related(images).filter(pk=pk).first()


def on_sale(prefix: str = "") -> Q:
    """Products a shopper can buy now: active and in stock. The one definition every hard filter and
    category page builds on; ``prefix`` applies it through a relation (``"product__"``)."""
    return Q(**{f"{prefix}is_active": True, f"{prefix}stock_quantity__gt": 0})
