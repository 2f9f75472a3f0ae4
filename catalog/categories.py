"""The catalog as shoppers walk it: categories (the catalog's own top level, e.g. H&M's product group or
Myntra's masterCategory), their product types, and facets with counts.

A facet's count is what a click on it shows: the products that pass every other chosen filter and
this value (a click replaces the facet's value), so counts never promise what the page then does not
show (tests/test_categories.py holds them equal for any choice of filters).

The counts are computed once per catalog version in each process (``catalog_counts``): database
triggers advance a sequence with any change to any product, stock included (migration 0009). The
sequence takes no lock, but it is not transactional either: a page read in the moment between a
change's trigger and its commit keeps the older counts under the newer version. So every kept value
also expires at the next CATEGORY_CACHE_S boundary, which bounds that rare staleness.
"""

import threading
import time
from collections import Counter
from dataclasses import dataclass, fields, replace
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Count, IntegerField, Q
from django.db.models.expressions import RawSQL

from catalog.models import Gender, Product
from catalog.selectors import on_sale

# Price bands, in the shop's currency: (key, label, lowest, below).
PRICE_BANDS = [
    ("0-15", "Under 15", Decimal(0), Decimal(15)),
    ("15-30", "15 to 30", Decimal(15), Decimal(30)),
    ("30-60", "30 to 60", Decimal(30), Decimal(60)),
    ("60-", "60 and over", Decimal(60), None),
]
_BANDS = {key: (low, high) for key, _, low, high in PRICE_BANDS}
FACETS = ("department", "article_type", "colour", "gender", "price")


@dataclass(frozen=True)
class CategoryFilter:
    """What the shopper chose; "" is no choice. Unknown values filter to nothing rather than fail."""

    category: str = ""
    department: str = ""  # the shop's department or section (H&M's section_name); blank in some catalogs
    article_type: str = ""
    colour: str = ""
    gender: str = ""
    price: str = ""  # a key of PRICE_BANDS

    @classmethod
    def from_query(cls, params) -> "CategoryFilter":
        # PostgreSQL's text cannot hold a NUL; no value of the catalog has one, so it is dropped.
        return cls(**{f.name: str(params.get(f.name, "")).replace("\x00", "")[:100] for f in fields(cls)})

    def condition(self, *, without: str = "") -> Q:
        """Products that pass every choice but ``without``'s: in stock and active, as the store sells."""
        condition = on_sale()
        for name in ("category", "department", "article_type", "colour", "gender"):
            value = getattr(self, name)
            if value and name != without:
                condition &= Q(**{name: value})
        if self.price and without != "price":
            low, high = _BANDS.get(self.price, (None, None))
            if low is None:
                return Q(pk__in=[])  # an unknown band: nothing, not everything
            condition &= Q(price__gte=low) & (Q(price__lt=high) if high is not None else Q())
        return condition

    def choose(self, **changes) -> "CategoryFilter":
        return replace(self, **changes)


@dataclass(frozen=True)
class FacetValue:
    value: str
    label: str
    count: int
    chosen: bool


# A group's columns, in the order of the grouped query: category, then the facets, then the count.
_COLUMNS = ("category", *FACETS)


class CatalogCounts:
    """Every count a category page shows, from one query: the products in stock grouped by category,
    type, colour, gender and price band (a few thousand groups for 25,000 products), summed here per
    facet under the other facets' choices."""

    def __init__(self) -> None:
        # width_bucket: 0 below the second band's start, 1 below the third's, and so on.
        edges = ",".join(str(low) for _, _, low, _ in PRICE_BANDS[1:])
        band = RawSQL(f"width_bucket(price, ARRAY[{edges}]::numeric[])", [], output_field=IntegerField())
        rows = (
            Product.objects.filter(on_sale())  # the partial index's condition too (catalog.models)
            .annotate(band=band)
            .values_list("category", "department", "article_type", "colour", "gender", "band")
            .annotate(n=Count("*"))  # not the id, which the index does not hold
            .order_by()
        )
        keys = [key for key, _, _, _ in PRICE_BANDS]
        self.groups = [(c, d, t, colour, g, keys[b], n) for c, d, t, colour, g, b, n in rows]  # _COLUMNS + count

    def categories(self, chosen: "CategoryFilter | None" = None) -> list[tuple[str, int]]:
        """Every category with products in stock, the largest first, each counted under ``chosen``'s
        other choices (colour, gender, price: what a click on the category shows with them kept; a
        department or type belongs to one category and is dropped by the click)."""
        kept = [(i, getattr(chosen, name)) for i, name in enumerate(_COLUMNS)
                if chosen is not None and name in ("colour", "gender", "price") and getattr(chosen, name)]  # fmt: skip
        counts = Counter()
        for group in self.groups:
            if group[0] and all(group[i] == value for i, value in kept):
                counts[group[0]] += group[-1]
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    def facets(self, chosen: CategoryFilter) -> tuple[int, dict[str, list[FacetValue]]]:
        """How many products the choices show, and for each facet its values with the number of
        products a click on each shows: the groups that pass every other choice. One pass: a group
        that fails no choice counts for every facet, one that fails a single choice counts for that
        choice's facet alone."""
        wanted = [(i, getattr(chosen, name)) for i, name in enumerate(_COLUMNS) if getattr(chosen, name)]
        counts = [Counter() for _ in _COLUMNS]
        total = 0
        for group in self.groups:
            failed = [i for i, value in wanted if group[i] != value]
            if not failed:
                total += group[-1]
                for i in range(1, len(_COLUMNS)):
                    if group[i]:
                        counts[i][group[i]] += group[-1]
            elif len(failed) == 1 and failed[0] > 0 and group[failed[0]]:
                counts[failed[0]][group[failed[0]]] += group[-1]
        labels = {"gender": dict(Gender.choices), "price": {key: label for key, label, _, _ in PRICE_BANDS}}
        facets = {}
        for i, name in enumerate(_COLUMNS[1:], start=1):
            if name == "price":  # the bands in their own order
                ordered = [(key, counts[i][key]) for key, _, _, _ in PRICE_BANDS if counts[i][key]]
            else:
                ordered = sorted(counts[i].items(), key=lambda item: (-item[1], item[0]))
            facets[name] = [
                FacetValue(value, labels.get(name, {}).get(value, value), n, getattr(chosen, name) == value)
                for value, n in ordered
            ]
        return total, facets


def catalog_version() -> str:
    """What the catalog's derived values are kept under: the sequence that grows with every change
    to any product, and the current CATEGORY_CACHE_S period (see the module's docstring)."""
    with connection.cursor() as cursor:
        # is_called too: a new sequence's first nextval returns its start value and leaves last_value
        # as it was, so the first change after the migration would not otherwise be seen.
        cursor.execute("SELECT last_value, is_called FROM catalog_version_seq")
        last, called = cursor.fetchone()
        value = f"{last}{'' if called else '-'}"
    if settings.CATEGORY_CACHE_S <= 0:  # off: nothing is kept (a key no request shares)
        return f"{value}:{time.monotonic_ns()}"
    return f"{value}:{int(time.time() // settings.CATEGORY_CACHE_S)}"


_held: dict[str, tuple[str, CatalogCounts]] = {}
_held_lock = threading.Lock()


def catalog_counts(version: str) -> CatalogCounts:
    """The counts of the catalog at ``version`` (read before this call), computed once per version in
    this process. Counts computed from a newer catalog than ``version`` are kept under it, and the
    next request reads the newer version and computes them again; the one older case is the moment
    between a change's trigger and its commit (see the module's docstring)."""
    held = _held.get("counts")
    if held is not None and held[0] == version:
        return held[1]
    with _held_lock:
        held = _held.get("counts")
        if held is None or held[0] != version:
            held = (version, CatalogCounts())
            _held["counts"] = held
    return held[1]
