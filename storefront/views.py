from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from catalog.selectors import product_get, products_browsable
from recommendations.selectors import products_similar_to_product


def home(request: HttpRequest) -> HttpResponse:
    gender = request.GET.get("gender") or None
    page = Paginator(products_browsable(gender=gender), 48).get_page(request.GET.get("page"))
    return render(request, "storefront/home.html", {"page": page, "gender": gender})


def product_detail(request: HttpRequest, pk: int) -> HttpResponse:
    product = product_get(pk=pk)
    if product is None or not product.is_active:
        raise Http404("No such product.")
    similar = products_similar_to_product(product=product)
    return render(request, "storefront/product_detail.html", {"product": product, "similar": similar})


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"ok": True})
