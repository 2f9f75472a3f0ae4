"""The category pages: the catalog by category and product type, with facets and counts, opening
with the shopper's recommendations within the category.

A page reads the catalog's version and the shopper's serving state; the counts and the listing are kept
per catalog version in each process, and the scoped row in the shared cache (selectors.categories)."""

from dataclasses import asdict, astuple, dataclass

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.html import format_html_join
from django.utils.http import urlencode

from catalog.cards import VersionedCache, product_cards
from catalog.categories import CategoryFilter, catalog_counts, catalog_version
from experiments.models import Surface
from experiments.services.impressions import impressions_record
from merchandising.selectors.rules import Anchor
from recommendations.selectors.categories import LISTING_KEPT, category_listing, category_slice, scoped_row
from recommendations.selectors.generation import serving_generation
from storefront.templatetags.cards import product_card

PAGE_SIZE = 48
IMPERSONAL = frozenset({"trending", "popular", "explore"})  # strategies that are the same for every shopper
FACET_TITLES = [("department", "Department"), ("article_type", "Product type"), ("colour", "Colour"),
                ("gender", "For"), ("price", "Price")]  # fmt: skip


class _Listing:
    """The listing for the paginator: its length from the page's counts, its first pages kept
    (category_listing), later ones read when asked for."""

    def __init__(self, chosen: CategoryFilter, kept: list, total: int) -> None:
        self.chosen, self.kept, self.total = chosen, kept, total

    def count(self) -> int:
        return self.total

    def __getitem__(self, index: slice):
        if index.stop is not None and index.stop <= LISTING_KEPT:
            return self.kept[index]
        return category_slice(self.chosen, index.start or 0, index.stop)


@dataclass(frozen=True)
class _Link:
    label: str
    count: int
    chosen: bool
    url: str


def _url(chosen: CategoryFilter) -> str:
    return "?" + urlencode({name: value for name, value in asdict(chosen).items() if value})


@dataclass(frozen=True)
class _Sidebar:
    """The categories and facets of one choice of filters, with their rendered markup: the same for
    every shopper, so kept per catalog version in each process."""

    categories: list[_Link]
    facets: dict[str, list[_Link]]
    total: int
    html: str


_sidebars = VersionedCache(512)


def _sidebar(chosen: CategoryFilter, version: str) -> _Sidebar:
    key = (astuple(chosen), version)
    found = _sidebars.get_many([key])
    if key[0] in found:
        return found[key[0]]
    counts = catalog_counts(version)
    # A tree: the categories, counted under the other choices, and the chosen one's product types under it
    # (the template), not a flat list of every type in the catalog.
    categories = [
        _Link(name, n, chosen.category == name,
              _url(chosen.choose(category="" if chosen.category == name else name, department="", article_type="")))
        for name, n in counts.categories(chosen)
    ]  # fmt: skip
    total, counted = counts.facets(chosen)
    facets = {
        name: [
            _Link(v.label, v.count, v.chosen, _url(chosen.choose(**{name: "" if v.chosen else v.value})))
            for v in values
        ]
        for name, values in counted.items()
    }
    nested = ("department", "article_type")  # shown under the chosen category; nothing to show without one
    groups = [(title, name, facets.get(name, [])) for name, title in FACET_TITLES if name not in nested]
    tree = [(title, facets.get(name, [])) for name, title in FACET_TITLES if name in nested] if chosen.category else []
    html = render_to_string("storefront/_shop_facets.html",
                            {"categories": categories, "facet_groups": groups, "tree": tree})  # fmt: skip
    sidebar = _Sidebar(categories, facets, total, html)  # render_to_string's markup is already safe
    _sidebars.put_many({key: sidebar})
    return sidebar


_grids = VersionedCache(1024)  # a page's products at their versions -> their cards and markup


def _grid(listed: list[tuple[int, str]]) -> tuple[list, str]:
    """A listing page's cards and their markup, kept by exactly what it shows (each product at its
    card version), so it is the same for every shopper and can never be stale."""
    key = (tuple(listed), "grid")
    found = _grids.get_many([key])
    if key[0] in found:
        return found[key[0]]
    records = product_cards(versions=dict(listed))
    cards = [records[pid] for pid, _ in listed if pid in records]
    made = (cards, format_html_join("", "{}", ((product_card(card),) for card in cards)))
    _grids.put_many({key: made})
    return made


def shop_page(request: HttpRequest) -> HttpResponse:
    chosen = CategoryFilter.from_query(request.GET)
    version = catalog_version()  # before anything is computed from the catalog
    sidebar = _sidebar(chosen, version)
    total = sidebar.total
    kept = category_listing(chosen, version=version, generation=serving_generation())
    page = Paginator(_Listing(chosen, kept, total), PAGE_SIZE).get_page(request.GET.get("page"))
    scope_name = chosen.article_type or chosen.category
    row = None
    if scope_name:
        row = scoped_row(
            user_id=request.user.pk if request.user.is_authenticated else None, visitor=request.visitor,
            scope=chosen.condition(), scope_key=repr(asdict(chosen)), title=f"Recommended for you in {scope_name}",
            version=version, anchor=Anchor(chosen.department, chosen.article_type, chosen.category),
        )  # fmt: skip
        # A row of the category's best sellers is the listing below, which is ordered the same way: it
        # repeated 10 of its 12 cards there. The row is shown where it is the shopper's own.
        # A card staff's rules placed does not make it the shopper's own: the listing would still repeat.
        if not any(card.strategy not in IMPERSONAL and not card.strategy.startswith("rule:") for card in row.cards):
            row = None
    cards, grid = _grid(page.object_list)
    context = {
        "chosen": chosen,
        "scope_name": scope_name,
        "sidebar": sidebar,
        "categories": sidebar.categories,
        "facets": sidebar.facets,
        "page": page,
        "total": total,
        "page_url": _url(chosen) + ("&" if _url(chosen) != "?" else ""),
        "row": row,
        "cards": cards,
        "grid": grid,
    }
    if row is not None:
        user_id = request.user.pk if request.user.is_authenticated else None
        impressions_record(surface=Surface.CATEGORY, rows=[row], user_id=user_id, visitor_id=request.visitor.pk)
    return render(request, "storefront/shop.html", context)
