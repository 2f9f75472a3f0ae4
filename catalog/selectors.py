"""Reads of the catalog for the storefront."""

from django.db.models import QuerySet

from catalog.models import Gender, Product


def products_browsable(*, gender: str | None = None) -> QuerySet[Product]:
    """Active products for the storefront in catalog order, with photos prefetched."""
    products = Product.objects.filter(is_active=True).prefetch_related("images")
    if gender in Gender.values:
        products = products.filter(gender=gender)
    return products.order_by("id")


def product_get(*, pk: int) -> Product | None:
    return Product.objects.prefetch_related("images").filter(pk=pk).first()
