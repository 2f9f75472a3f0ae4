"""A minimal cart in the session: enough to log add-to-cart and purchase events for real."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from catalog.models import Product
from recommendations.models import InteractionKind
from recommendations.services.interactions import interaction_record
from storefront import services

SESSION_KEY = "cart"


def cart_show(request: HttpRequest) -> HttpResponse:
    ids = request.session.get(SESSION_KEY, [])
    products = Product.objects.filter(pk__in=ids).prefetch_related("images")
    return render(request, "storefront/cart.html", {"products": products})


@require_POST
def cart_add(request: HttpRequest, pk: int) -> HttpResponse:
    product = get_object_or_404(Product, pk=pk, is_active=True)
    if not product.in_stock:
        messages.error(request, f"{product.name} is sold out.")
        return redirect("product-detail", pk=pk)
    interaction_record(product_id=pk, kind=InteractionKind.ADD_TO_CART, user=request.user, visitor=request.visitor)
    request.session[SESSION_KEY] = list(dict.fromkeys([*request.session.get(SESSION_KEY, []), pk]))
    messages.success(request, f"{product.name} is in your cart.")
    return redirect("cart")


@require_POST
def checkout(request: HttpRequest) -> HttpResponse:
    """Buy one of each product in the cart; a product that sold out meanwhile stays in the cart."""
    bought = services.checkout(
        product_ids=request.session.get(SESSION_KEY, []), user=request.user, visitor=request.visitor
    )
    request.session[SESSION_KEY] = [pk for pk in request.session.get(SESSION_KEY, []) if pk not in bought]
    messages.success(request, f"Thank you: {len(bought)} product(s) bought.")
    return redirect("home")
