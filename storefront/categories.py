"""The category pages: the catalog by category and product type, with facets and counts, opening
with the shopper's recommendations within the category."""

from dataclasses import asdict, dataclass

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import urlencode

from catalog.cards import card_version, product_cards
from catalog.categories import CatalogCounts, CategoryFilter
from recommendations.selectors.categories import best_sellers, scoped_row
from recommendations.selectors.shopper import shopper_load

PAGE_SIZE = 48


@dataclass(frozen=True)
class _Link:
    label: str
    count: int
    chosen: bool
    url: str


class _Counted:
    """A listing whose length is already known (from the page's counts): the paginator needs no COUNT."""

    def __init__(self, queryset, count: int) -> None:
        self.queryset, self.n = queryset, count

    def count(self) -> int:
        return self.n

    def __getitem__(self, index):
        return self.queryset[index]


def _url(chosen: CategoryFilter) -> str:
    return "?" + urlencode({name: value for name, value in asdict(chosen).items() if value})


def shop_page(request: HttpRequest) -> HttpResponse:
    chosen = CategoryFilter.from_query(request.GET)
    counts = CatalogCounts()
    categories = [
        _Link(name, n, chosen.category == name, _url(CategoryFilter(category=name))) for name, n in counts.categories()
    ]
    total, counted = counts.facets(chosen)
    facets = {
        name: [
            _Link(v.label, v.count, v.chosen, _url(chosen.choose(**{name: "" if v.chosen else v.value})))
            for v in values
        ]
        for name, values in counted.items()
    }
    # Each product with its card version, so the cards this process has seen at it are reused.
    listing = _Counted(best_sellers(chosen.condition()).annotate(v=card_version()).values_list("pk", "v"), total)
    page = Paginator(listing, PAGE_SIZE).get_page(request.GET.get("page"))
    scope_name = chosen.article_type or chosen.category
    row = None
    if scope_name:
        user_id = request.user.pk if request.user.is_authenticated else None
        shopper = shopper_load(user_id=user_id, visitor=request.visitor)
        row = scoped_row(shopper=shopper, scope=chosen.condition(), title=f"Recommended for you in {scope_name}")
    versions = dict(page.object_list)
    cards = product_cards(versions=versions)
    context = {
        "chosen": chosen,
        "scope_name": scope_name,
        "categories": categories,
        "facets": facets,
        "page": page,
        "page_url": _url(chosen) + ("&" if _url(chosen) != "?" else ""),
        "row": row,
        "cards": [cards[pid] for pid in versions if pid in cards],
    }  # fmt: skip
    return render(request, "storefront/shop.html", context)
