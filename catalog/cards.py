"""What a product card shows, read once per product version and kept in each process.

A homepage shows 48 cards and a product page 36; fetching those products and their photos was two
queries a page and building each card's URL and markup about 0.4 ms a card, the same work for every
shopper. Here a card is a small immutable record, cached per process under the product row's
*version*: PostgreSQL's ``xmin`` (the transaction that wrote this version of the row) and ``ctid``
(where the version lies). Every write of a row (a save, an import, a stock decrement, a
photo_version bump) makes a new version with a new ctid, and a committed transaction's id is never
reused, so a stale card can never be served. (xmin alone is not enough: a transaction that writes
a row twice leaves the same xmin on both versions.) A caller that already runs a query over the
products (the homepage's hard filters do) reads the version there at no cost and gets the cards
without a query of its own. A record read for a version older than the row's current one is kept
under both (it is newer than what was asked for, never older), so a caller that keeps versions
(a cached page, a product page's kept lists) reads it once. The hard filters are applied in the
database, fresh or under the serving values (recommendations.selectors.generation.ServingValues),
before any card is looked up.
"""

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS as PRIMARY
from django.db.models import OuterRef, Subquery
from django.db.models.expressions import RawSQL

from catalog.models import Product, ProductImage
from common.compiled import IDS, CompiledQuery, id_literal, ids_in


def row_version(model) -> RawSQL:
    """A row's version (see above) to annotate a query of ``model`` with: it changes with every write."""
    table = model._meta.db_table
    return RawSQL(f"{table}.xmin::text || {table}.ctid::text", [])


def card_version() -> RawSQL:
    """The row version to annotate a product query with (``.annotate(card_version=card_version())``)."""
    return row_version(Product)


@dataclass(frozen=True, slots=True)
class ProductCard:
    pk: int
    external_id: str
    name: str
    gender: str
    category: str
    subcategory: str
    article_type: str
    colour: str
    price: Decimal
    in_stock: bool
    image_url: str | None  # the primary photo's URL under MEDIA_URL, or None
    # The row version this record was read at ("" when built from a Product); not compared, so two
    # versions that show the same (a sale that leaves stock above 0) are equal records.
    version: str = field(default="", compare=False)
    # The product's other colours on sale (its product_group's other members), as (id, colour), in id
    # order: the card's swatches. A member's change of availability or colour writes a new version of
    # each other member's row (catalog migration 0012), so a record is never stale on them either.
    colours: tuple[tuple[int, str], ...] = ()

    @property
    def id(self) -> int:
        return self.pk

    @classmethod
    def of(cls, product: Product) -> "ProductCard":
        """The card of a product already read (with its images prefetched, or one query more)."""
        image = product.primary_image
        return cls(
            product.pk, product.external_id, product.name, product.gender, product.category, product.subcategory,
            product.article_type, product.colour, product.price, product.in_stock, image.image.url if image else None,
        )  # fmt: skip


class VersionedCache:
    """A bounded least-recently-used map of (id, row version) -> value, shared by the threads of one
    process: a value is only ever looked up under the version it was read at, so it is never stale."""

    def __init__(self, maxsize):
        self._items: OrderedDict[tuple[int, str], object] = OrderedDict()
        self._lock = threading.Lock()
        self._maxsize = maxsize  # a number, or a callable giving one (a setting read when needed)

    def get_many(self, keys: list[tuple[int, str]]) -> dict[int, object]:
        found = {}
        with self._lock:
            for key in keys:
                value = self._items.get(key)
                if value is not None:
                    self._items.move_to_end(key)
                    found[key[0]] = value
        return found

    def put_many(self, items: dict[tuple[int, str], object]) -> None:
        maxsize = self._maxsize() if callable(self._maxsize) else self._maxsize
        with self._lock:
            self._items.update(items)
            while len(self._items) > maxsize:
                self._items.popitem(last=False)


_cache = VersionedCache(lambda: settings.PRODUCT_CARD_CACHE_SIZE)
_FIELDS = ("pk", "external_id", "name", "gender", "category", "subcategory", "article_type", "colour", "price",
           "is_active", "stock_quantity")  # fmt: skip


SWATCHES_MAX = 8  # a card shows at most this many other colours


def _other_colours() -> RawSQL:
    """The product's other colours on sale, as "id:colour" texts in id order (at most SWATCHES_MAX):
    one index scan on product_group per card read, and a card is read once per version."""
    table = Product._meta.db_table
    return RawSQL(
        f"""(SELECT (array_agg(o.id::text || ':' || o.colour ORDER BY o.id))[1:{SWATCHES_MAX}]
               FROM {table} o
              WHERE {table}.product_group <> '' AND o.product_group = {table}.product_group
                AND o.id <> {table}.id AND o.is_active AND o.stock_quantity > 0)""",
        [],
    )


def _cards_query(ids: str):
    primary = ProductImage.objects.filter(product=OuterRef("pk")).order_by("-is_primary", "position", "id")
    return (
        Product.objects.filter(pk__in=ids_in(ids))
        .annotate(
            card_version=card_version(),
            image_name=Subquery(primary.values("image")[:1]),
            other_colours=_other_colours(),
        )  # fmt: skip
        .values_list(*_FIELDS, "card_version", "image_name", "other_colours")
    )


def _swatches(texts: list[str] | None) -> tuple[tuple[int, str], ...]:
    pairs = (text.split(":", 1) for text in texts or ())
    return tuple((int(pk), colour) for pk, colour in pairs)


# A computed homepage's exploration cards are mostly products this process has not shown: compiling
# this query each time cost 1.3 ms against 0.6 ms of running it (common.compiled).
_CARDS = CompiledQuery(_cards_query, ids=IDS)


def product_cards(*, versions: dict[int, str], unversioned: Iterable[int] = ()) -> dict[int, ProductCard]:
    """The cards of these products: those in ``versions`` (product id -> card_version) from this
    process's cache when it holds that version, the rest (and ``unversioned``, whose versions the
    caller did not read) in one query with their primary photo. A deleted product has no card."""
    cards = _cache.get_many(list(versions.items()))
    wanted = {pk for pk in versions if pk not in cards} | {pk for pk in unversioned if pk not in cards}
    if wanted:
        # The primary: a record is kept under the version asked for too, so it must be newer
        # than that version, which a lagging replica's row may not be. (Misses only: a few a page.)
        rows = _CARDS.rows(PRIMARY, ids=id_literal(wanted))
        storage = ProductImage._meta.get_field("image").storage
        fresh = {}
        for *fields, active, stock, version, image_name, colours in rows:
            url = storage.url(image_name) if image_name else None
            card = ProductCard(*fields, active and stock > 0, url, version, colours=_swatches(colours))
            fresh[(card.pk, version)] = cards[card.pk] = card
            if versions.get(card.pk, version) != version:
                # Also under the version asked for, which this record is newer than (a version is
                # read before it is asked for): a caller that keeps versions (a cached page, kept
                # lists) asks for that one again, and must not read the card on every request.
                fresh[(card.pk, versions[card.pk])] = card
        _cache.put_many(fresh)
    return cards
