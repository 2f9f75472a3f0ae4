import random

from django.conf import settings
from django.core.paginator import Paginator
from django.db import DatabaseError, connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from catalog.models import Gender
from catalog.selectors import products_browsable
from experiments.models import Surface
from experiments.selectors.assignment import arm_for
from experiments.services.impressions import impressions_record
from recommendations.selectors.homepage import Strategy, homepage_rows_served
from recommendations.selectors.product_page import product_page
from recommendations.services.interactions import product_view_record
from recommendations.services.visitors import visitor_gender_set
from storefront.database.base import wait_bound
from storefront.errors import RETRY_AFTER_S


def home(request: HttpRequest) -> HttpResponse:
    user_id = request.user.pk if request.user.is_authenticated else None
    visitor_id = request.visitor.pk
    arm = arm_for(surface=Surface.HOME, user_id=user_id, visitor_id=visitor_id)
    strategy = arm.strategy if arm is not None else Strategy.SERVED
    rows = homepage_rows_served(user_id=user_id, visitor=request.visitor, rng=random.Random(), strategy=strategy)
    impressions_record(surface=Surface.HOME, rows=rows, user_id=user_id, visitor_id=visitor_id, arm=arm)
    return render(request, "storefront/home.html", {"rows": rows, "gender_choice": request.visitor.gender_preference})


def browse(request: HttpRequest) -> HttpResponse:
    gender = request.GET.get("gender") or None
    page = Paginator(products_browsable(gender=gender), 48).get_page(request.GET.get("page"))
    return render(request, "storefront/browse.html", {"page": page, "gender": gender})


def product_detail(request: HttpRequest, pk: int) -> HttpResponse:
    page = product_page(pk=pk)
    if page is None:
        raise Http404("No such product.")
    product_view_record(
        product_id=pk, user=request.user, visitor=request.visitor,
        row=request.GET.get("row", ""), strategy=request.GET.get("strategy", ""), slot=request.GET.get("slot", ""),
        list_id=request.GET.get("list", ""),
    )  # fmt: skip
    user_id = request.user.pk if request.user.is_authenticated else None
    impressions_record(surface=Surface.PRODUCT, rows=page.rows(), user_id=user_id, visitor_id=request.visitor.pk)
    lists = page.lists
    context = {"product": page.product, "goes_with": lists.goes_with, "colours": lists.colours,
               "also_bought": lists.also_bought, "similar": lists.similar, "list_ids": page.list_ids}  # fmt: skip
    return render(request, "storefront/product_detail.html", context)


@require_POST
def gender_choose(request: HttpRequest) -> HttpResponse:
    """The shopper says whom they shop for; "" clears the choice (then it is inferred)."""
    choice = request.POST.get("gender", "")
    if choice and choice not in Gender.values:
        return HttpResponse("Unknown gender.", status=400)
    visitor_gender_set(visitor=request.visitor, gender=choice)
    return redirect("home")


def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers: 200 when this process can reach PostgreSQL, else 503 with the reason,
    within HEALTHZ_DATABASE_TIMEOUT_S when the server stalls (or the connect timeout, to open one)."""
    try:
        with wait_bound(settings.HEALTHZ_DATABASE_TIMEOUT_S), connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        response = JsonResponse({"ok": False, "database": f"unreachable: {exc.__class__.__name__}"}, status=503)
        response["Retry-After"] = RETRY_AFTER_S
        return response
    return JsonResponse({"ok": True, "database": "ok"})
