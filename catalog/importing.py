"""Import a catalog folder: upsert products, attach photos, announce changed photos. Idempotent.

A re-import never overwrites what staff changed: a product whose details or photos staff edited
(``Product.edited_by_staff``, set by the admin and the API) is left as it is, photos included."""

import hashlib
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from PIL import Image, UnidentifiedImageError

from catalog.images import ALLOWED_FORMATS
from catalog.importers import CatalogRow, RowError
from catalog.models import Product, ProductImage
from catalog.services import IMPORTED_FIELDS, product_primary_image_changed
from common.iterables import chunked

PRODUCT_FIELDS = IMPORTED_FIELDS
CHUNK = 500


@dataclass
class ImportSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_staff_edits: int = 0  # products staff edited: not touched
    photos_added: int = 0
    photos_replaced: int = 0
    bad_rows: list[RowError] = field(default_factory=list)
    photo_problems: list[RowError] = field(default_factory=list)
    photos_changed: int = 0

    @property
    def rows(self) -> int:
        return self.created + self.updated + self.unchanged


@dataclass(frozen=True)
class _Photo:
    checksum: str
    width: int
    height: int
    suffix: str


def _inspect_photo(row: CatalogRow) -> _Photo | str:
    """Read the header and checksum of a source photo, or say what is wrong with it.

    Only the header is decoded here (fast); the embedding worker decodes every pixel and
    marks the product failed if the body turns out to be corrupt.
    """
    try:
        data = row.image_path.read_bytes()
    except FileNotFoundError:
        return f"photo missing: {row.image_path}"
    except OSError as exc:
        return f"photo unreadable: {row.image_path} ({exc})"
    if not data:
        return f"photo is empty: {row.image_path}"
    try:
        with Image.open(row.image_path) as image:
            if image.format not in ALLOWED_FORMATS:
                return f"photo is {image.format}, not JPEG/PNG/WebP: {row.image_path}"
            width, height = image.size
    except (UnidentifiedImageError, OSError) as exc:
        return f"photo unreadable: {row.image_path} ({exc})"
    return _Photo(hashlib.sha256(data).hexdigest(), width, height, row.image_path.suffix.lower())


def _place_photo(source: Path, name: str) -> None:
    """Put the photo into media storage: a hard link where the file system allows, else a copy."""
    target = Path(settings.MEDIA_ROOT) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".part")
    temporary.unlink(missing_ok=True)
    try:
        os.link(source, temporary)
    except OSError:
        shutil.copyfile(source, temporary)
    os.replace(temporary, target)  # atomic: a reader never sees half a file


def catalog_import(
    *, rows: Iterable[CatalogRow | RowError], on_progress: Callable[[int], None] = lambda n: None, announce: bool = True
) -> ImportSummary:
    """Upsert ``rows`` in chunks, each in its own transaction; report bad rows and carry on. With
    ``announce`` off, new photos are not handed on for embedding as each chunk commits: the periodic
    sweep (or the caller) queues them, in its own order (trending and newest products first)."""
    summary = ImportSummary()
    for chunk in chunked(rows, CHUNK):
        good = [row for row in chunk if isinstance(row, CatalogRow)]
        summary.bad_rows.extend(row for row in chunk if isinstance(row, RowError))
        good = list({row.external_id: row for row in good}.values())  # last duplicate wins
        with transaction.atomic():
            _import_chunk(good, summary, announce=announce)
        on_progress(len(chunk))
    return summary


def _import_chunk(rows: list[CatalogRow], summary: ImportSummary, *, announce: bool) -> None:
    # Locked in id order, as every multi-row writer of products does (see catalog.locks): the
    # recommender may be locking these rows right now (photo_version bumps).
    # FOR NO KEY UPDATE, as catalog.locks: a worker's foreign-key check on these rows at its commit (an
    # embedding stored) must not wait on the import while the import waits on it (seen in make evaluate).
    found = (
        Product.objects.filter(external_id__in=[r.external_id for r in rows])
        .order_by("pk")
        .select_for_update(no_key=True)
    )
    existing = {values[0]: values[1:] for values in found.values_list("external_id", *PRODUCT_FIELDS)}
    staff_owned = set(found.filter(edited_by_staff=True).values_list("external_id", flat=True))
    summary.kept_staff_edits += len(staff_owned)
    rows = [row for row in rows if row.external_id not in staff_owned]
    changed: list[Product] = []
    created: set[str] = set()
    for row in rows:
        values = tuple(getattr(row, name) for name in PRODUCT_FIELDS)
        if row.external_id not in existing:
            summary.created += 1
            created.add(row.external_id)
        elif existing[row.external_id] != values:
            summary.updated += 1
        else:
            summary.unchanged += 1
            continue
        changed.append(
            Product(
                external_id=row.external_id,
                updated_at=timezone.now(),
                **dict(zip(PRODUCT_FIELDS, values, strict=False)),
            )
        )
    Product.objects.bulk_create(
        changed, update_conflicts=True, unique_fields=["external_id"], update_fields=[*PRODUCT_FIELDS, "updated_at"]
    )
    _import_photos(rows, created, summary, announce=announce)


def _import_photos(rows: list[CatalogRow], created: set[str], summary: ImportSummary, *, announce: bool) -> None:
    product_ids = dict(
        Product.objects.filter(external_id__in=[r.external_id for r in rows]).values_list("external_id", "pk")
    )
    current = {
        image.product_id: image
        for image in ProductImage.objects.filter(product_id__in=product_ids.values(), is_primary=True)
    }
    new_images: list[ProductImage] = []
    replaced: list[ProductImage] = []
    photo_changed: list[int] = []
    for row in rows:
        product_id = product_ids[row.external_id]
        photo = _inspect_photo(row)
        if isinstance(photo, str):
            summary.photo_problems.append(RowError(row.line, photo))
            if row.external_id in created:
                photo_changed.append(product_id)  # the worker records "no photo" where staff see it
            continue
        image = current.get(product_id)
        if image is not None and image.checksum == photo.checksum:
            continue
        name = f"products/{row.external_id[:3]}/{row.external_id}{photo.suffix}"
        _place_photo(row.image_path, name)
        fields = {"checksum": photo.checksum, "width": photo.width, "height": photo.height}
        if image is None:
            new_images.append(ProductImage(product_id=product_id, image=name, is_primary=True, **fields))
            summary.photos_added += 1
        else:
            image.image.name = name
            for key, value in fields.items():
                setattr(image, key, value)
            replaced.append(image)
            summary.photos_replaced += 1
        photo_changed.append(product_id)
    ProductImage.objects.bulk_create(new_images)
    ProductImage.objects.bulk_update(replaced, ["image", "checksum", "width", "height"])
    if photo_changed:
        product_primary_image_changed(product_ids=photo_changed, announce=announce)
        summary.photos_changed += len(photo_changed)
