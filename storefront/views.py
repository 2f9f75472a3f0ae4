import random

from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from catalog.models import Gender
from catalog.selectors import product_get, products_browsable
from recommendations.models import InteractionKind, Visitor
from recommendations.selectors import products_similar_to_product
from recommendations.selectors.homepage import homepage_rows
from recommendations.services.interactions import interaction_record
from storefront.shopper import request_shopper


def home(request: HttpRequest) -> HttpResponse:
    shopper = request_shopper(request)
    rows = homepage_rows(shopper=shopper, rng=random.Random())
    return render(request, "storefront/home.html", {"rows": rows, "shopper": shopper})


def browse(request: HttpRequest) -> HttpResponse:
    gender = request.GET.get("gender") or None
    page = Paginator(products_browsable(gender=gender), 48).get_page(request.GET.get("page"))
    return render(request, "storefront/browse.html", {"page": page, "gender": gender})


def product_detail(request: HttpRequest, pk: int) -> HttpResponse:
    product = product_get(pk=pk)
    if product is None or not product.is_active:
        raise Http404("No such product.")
    source = {"source_row": request.GET.get("row", ""), "source_strategy": request.GET.get("strategy", "")}
    slot = request.GET.get("slot", "")
    source["source_slot"] = int(slot) if slot.isdigit() and int(slot) < 1000 else None
    shopper = {"user": request.user, "visitor": request.visitor}
    if source["source_row"]:
        interaction_record(product_id=product.pk, kind=InteractionKind.CLICK, **shopper, **source)
    interaction_record(product_id=product.pk, kind=InteractionKind.VIEW, **shopper, **source)
    similar = products_similar_to_product(product=product)
    return render(request, "storefront/product_detail.html", {"product": product, "similar": similar})


@require_POST
def gender_choose(request: HttpRequest) -> HttpResponse:
    """The shopper says whom they shop for; "" clears the choice (then it is inferred)."""
    choice = request.POST.get("gender", "")
    if choice and choice not in Gender.values:
        return HttpResponse("Unknown gender.", status=400)
    Visitor.objects.filter(pk=request.visitor.pk).update(gender_preference=choice)
    return redirect("home")


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"ok": True})
