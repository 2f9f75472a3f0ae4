"""Writes to the catalog. Embedding is queued through recommendations.services after commit."""

import hashlib

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F

from catalog.locks import products_lock
from catalog.models import Product, ProductImage
from catalog.validators import validate_product_photo
from recommendations.services import embedding_request


def file_checksum(file) -> str:
    digest = hashlib.sha256()
    file.seek(0)
    for chunk in iter(lambda: file.read(1 << 20), b""):
        digest.update(chunk)
    file.seek(0)
    return digest.hexdigest()


def product_primary_image_changed(*, product_ids: list[int]) -> None:
    """Mark the embedding of these products stale and queue them (after commit)."""
    with transaction.atomic():
        products_lock(product_ids)
        Product.objects.filter(pk__in=product_ids).update(embedding_version=F("embedding_version") + 1)
    embedding_request(product_ids=product_ids)


@transaction.atomic
def product_image_add(*, product: Product, file: UploadedFile, make_primary: bool = True) -> ProductImage:
    """Validate and attach a photo; a new primary photo queues a new embedding."""
    validate_product_photo(file)
    if make_primary:
        product.images.filter(is_primary=True).update(is_primary=False)
    image = ProductImage(product=product, is_primary=make_primary, checksum=file_checksum(file))
    image.image.save(file.name, file, save=False)
    image.save()
    if make_primary:
        product_primary_image_changed(product_ids=[product.pk])
    return image


def product_images_saved(*, product: Product, primary_checksum_before: str | None) -> None:
    """After staff edit a product's photos in the admin: keep one primary, re-embed if it changed.

    Call inside the admin's transaction; the embedding is queued only after it commits.
    """
    images = list(product.images.order_by("-is_primary", "position", "id"))
    if not images:
        return
    for image in images:
        if not image.checksum:
            with image.image.open("rb") as handle:
                image.checksum = file_checksum(handle)
            ProductImage.objects.filter(pk=image.pk).update(checksum=image.checksum)
    primary = images[0]
    if not primary.is_primary:
        ProductImage.objects.filter(pk=primary.pk).update(is_primary=True)
    if primary.checksum != primary_checksum_before:
        product_primary_image_changed(product_ids=[product.pk])


PRODUCT_WRITABLE = ["external_id", "name", "description", "gender", "category", "subcategory", "article_type",
                    "colour", "price", "stock_quantity", "is_active"]  # fmt: skip


def product_create(**fields) -> Product:
    """Staff create a product (API); photos come separately and queue embedding when added."""
    return Product.objects.create(**{name: fields[name] for name in PRODUCT_WRITABLE if name in fields})


def product_update(*, product: Product, **fields) -> Product:
    for name in PRODUCT_WRITABLE:
        if name in fields:
            setattr(product, name, fields[name])
    product.save()
    return product
