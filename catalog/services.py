"""Writes to the catalog. The catalog knows nothing of machine learning: when a primary photo
changes it bumps the product's photo_version and, after commit, tells whoever derives data from
photos by sending the task PHOTOS_CHANGED_TASK *by name* (no import of the recommender). Why a
task rather than only the version bump and the periodic sweep: a new photo is embedded within
seconds instead of within EMBEDDING_SWEEP_EVERY_S; the sweep stays as the safety net when the
message is lost (it compares the recommender's rows with photo_version)."""

import hashlib
import logging
from dataclasses import dataclass

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from catalog.locks import products_lock
from catalog.models import Product, ProductImage
from catalog.validators import validate_product_photo

logger = logging.getLogger(__name__)
PHOTOS_CHANGED_TASK = "recommendations.tasks.photos_changed"


def file_checksum(file) -> str:
    digest = hashlib.sha256()
    file.seek(0)
    for chunk in iter(lambda: file.read(1 << 20), b""):
        digest.update(chunk)
    file.seek(0)
    return digest.hexdigest()


def product_primary_image_changed(*, product_ids: list[int], announce: bool = True) -> None:
    """Bump these products' photo_version and announce the change once the transaction commits
    (without ``announce``, the recommender's periodic sweep finds the new versions)."""
    ids = sorted(set(product_ids))
    with transaction.atomic():
        products_lock(ids)
        Product.objects.filter(pk__in=ids).update(photo_version=F("photo_version") + 1)

    def announce_change() -> None:
        from celery import current_app

        try:
            current_app.send_task(PHOTOS_CHANGED_TASK, args=[ids], ignore_result=True)
        except Exception:  # the broker is down: the photo is saved, the sweep will notice it
            logger.exception("Could not announce %d changed photos; the periodic sweep will.", len(ids))

    if ids and announce:
        transaction.on_commit(announce_change)


@dataclass(frozen=True)
class PhotoAdded:
    image: ProductImage
    created: bool  # False: the product already had a photo with these bytes (a retried upload)


@transaction.atomic
def product_image_add(*, product: Product, file: UploadedFile, make_primary: bool = True) -> PhotoAdded:
    """Validate and attach a photo; a new primary photo queues a new embedding.

    Idempotent on the bytes: a client that retries an upload (it timed out, or saw an error after
    the commit) gets the photo it already added, not a second copy. The product's row lock makes
    two concurrent uploads of the same bytes wait for each other."""
    validate_product_photo(file)
    checksum = file_checksum(file)
    products_lock([product.pk])
    existing = product.images.filter(checksum=checksum).first()
    if existing is not None:
        return PhotoAdded(existing, created=False)
    if make_primary:
        product.images.filter(is_primary=True).update(is_primary=False)
    # Saved as the admin saves an upload, so the file is there when product_image_path names it.
    image = ProductImage(product=product, image=file, is_primary=make_primary, checksum=checksum)
    image.save()
    product_staff_edited(product=product, changed=["images"])
    if make_primary:
        product_primary_image_changed(product_ids=[product.pk])
    return PhotoAdded(image, created=True)


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
        product_staff_edited(product=product, changed=["images"])
        product_primary_image_changed(product_ids=[product.pk])


# What a catalog import writes; a product whose values staff changed is no longer the import's.
IMPORTED_FIELDS = ["name", "description", "gender", "category", "subcategory", "department", "article_type", "colour",
                   "price", "product_group"]  # fmt: skip
PRODUCT_WRITABLE = ["external_id", *IMPORTED_FIELDS, "stock_quantity", "is_active"]


def product_create(**fields) -> Product:
    """Staff create a product (API); photos come separately and queue embedding when added."""
    product = Product(**{name: fields[name] for name in PRODUCT_WRITABLE if name in fields})
    product_staff_edited(product=product, changed=list(fields), save=False)
    product.save()
    return product


def product_update(*, product: Product, **fields) -> Product:
    changed = [name for name in PRODUCT_WRITABLE if name in fields and getattr(product, name) != fields[name]]
    for name in changed:
        setattr(product, name, fields[name])
    product_staff_edited(product=product, changed=changed, save=False)
    product.save()
    return product


def product_staff_edited(*, product: Product, changed: list[str], save: bool = True) -> None:
    """Record that staff changed these fields (API, admin): a re-import then leaves the product's
    details and photos alone, and the demo never overwrites stock that staff set."""
    updates = {}
    if set(changed) & set(IMPORTED_FIELDS) or "images" in changed:
        updates["edited_by_staff"] = True
    if "stock_quantity" in changed:
        updates["stock_set_at"] = timezone.now()
    for name, value in updates.items():
        setattr(product, name, value)
    if save and updates and product.pk:
        Product.objects.filter(pk=product.pk).update(**updates)


def product_stock_take(*, product_id: int, quantity: int = 1) -> bool:
    """Take ``quantity`` items of an active product from stock; False, taking none, if fewer are left.
    A conditional decrement: two shoppers can never buy the last item twice."""
    taken = Product.objects.filter(pk=product_id, is_active=True, stock_quantity__gte=quantity).update(
        stock_quantity=F("stock_quantity") - quantity
    )
    return bool(taken)
