"""The store's search page: the search box on every page leads here."""

from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from catalog.cards import product_cards
from catalog.search import MAX_QUERY_LENGTH, search_log
from experiments.models import Surface
from experiments.services.impressions import impressions_record
from recommendations.selectors.rows import Card, Row
from recommendations.selectors.search import search_served


def search_page(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:MAX_QUERY_LENGTH]
    relevance_only = request.GET.get("order") == "relevance"
    context = {"query": query, "relevance_only": relevance_only}
    if query:
        user_id = request.user.pk if request.user.is_authenticated else None
        results = search_served(query=query, user_id=user_id, visitor=request.visitor, personalise=not relevance_only)
        page = Paginator(results.product_ids, settings.SEARCH_PAGE_SIZE).get_page(request.GET.get("page"))
        if request.GET.get("page", "1") == "1":  # the search itself, not a later page of it
            search_log(query=query, results=len(results.product_ids))
        shown = list(page) or results.fallback_ids
        cards = product_cards(versions={}, unversioned=shown)
        strategy = f"search.{results.personalised_by or 'text'}"
        offset = page.start_index() - 1 if results.product_ids else 0
        count = len(results.product_ids)
        context |= {
            "results": results,
            "page": page,
            # SEARCH_MAX_MATCHES is where ranking stops, not how many products match: "500+", not "500".
            "count_label": f"{count:,}+" if count >= settings.SEARCH_MAX_MATCHES else f"{count:,}",
            "cards": [(cards[pid], Card(pid, results.placed.get(pid, strategy), "", 0.0, "search", offset + i))
                      for i, pid in enumerate(shown) if pid in cards],
            "list_id": results.list_id,
        }  # fmt: skip
        if results.personalised_by:  # ordered for this shopper: an impression (text relevance alone is not)
            shown_row = Row("search", "search", [card for _, card in context["cards"]], results.list_id)
            user_id = request.user.pk if request.user.is_authenticated else None
            impressions_record(surface=Surface.SEARCH, rows=[shown_row], user_id=user_id,
                               visitor_id=request.visitor.pk)  # fmt: skip
    return render(request, "storefront/search.html", context)
