"""The cart, in the session: products and quantities, totals, removal, and a checkout that places an
order with a number (storefront.services.checkout)."""

from dataclasses import dataclass
from decimal import Decimal

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from catalog.models import Product
from catalog.money import money
from recommendations.models import InteractionKind
from recommendations.services.interactions import interaction_record
from storefront import services

SESSION_KEY = "cart"
MAX_QUANTITY = 10


@dataclass
class CartLine:
    product: Product
    quantity: int

    @property
    def subtotal(self) -> Decimal:
        return (self.product.price or Decimal(0)) * self.quantity


def _cart(request: HttpRequest) -> dict[int, int]:
    """product id -> quantity. An older session's cart was a list of ids: one of each."""
    stored = request.session.get(SESSION_KEY, {})
    if isinstance(stored, list):
        return dict.fromkeys((int(pk) for pk in stored), 1)
    return {int(pk): int(quantity) for pk, quantity in stored.items()}


def _save(request: HttpRequest, cart: dict[int, int]) -> None:
    request.session[SESSION_KEY] = {str(pk): quantity for pk, quantity in cart.items() if quantity > 0}


def cart_show(request: HttpRequest) -> HttpResponse:
    cart = _cart(request)
    products = Product.objects.filter(pk__in=list(cart)).prefetch_related("images").in_bulk()
    lines = [CartLine(products[pk], quantity) for pk, quantity in cart.items() if pk in products]
    total = sum((line.subtotal for line in lines), Decimal(0))
    context = {"lines": lines, "total": total, "items": sum(line.quantity for line in lines),
               "quantities": range(1, MAX_QUANTITY + 1)}  # fmt: skip
    return render(request, "storefront/cart.html", context)


@require_POST
def cart_add(request: HttpRequest, pk: int) -> HttpResponse:
    product = get_object_or_404(Product, pk=pk, is_active=True)
    if not product.in_stock:
        messages.error(request, f"{product.name} is sold out.")
        return redirect("product-detail", pk=pk)
    interaction_record(product_id=pk, kind=InteractionKind.ADD_TO_CART, user=request.user, visitor=request.visitor)
    cart = _cart(request)
    cart[pk] = min(cart.get(pk, 0) + 1, MAX_QUANTITY)
    _save(request, cart)
    messages.success(request, f"{product.name} is in your cart.")
    return redirect("cart")


@require_POST
def cart_update(request: HttpRequest, pk: int) -> HttpResponse:
    """A line's new quantity (0 or "remove": out of the cart). A bad number is a 400, the cart untouched."""
    cart = _cart(request)
    raw = "0" if "remove" in request.POST else request.POST.get("quantity", "")
    if not (raw.isascii() and raw.isdigit() and int(raw) <= MAX_QUANTITY):
        return HttpResponse(f"A quantity is a whole number from 0 to {MAX_QUANTITY}.", status=400,
                            content_type="text/plain")  # fmt: skip
    if pk in cart:
        cart[pk] = int(raw)
        _save(request, cart)
    return redirect("cart")


@require_POST
def checkout(request: HttpRequest) -> HttpResponse:
    """Buy what the cart holds, as one order; a product with too few left stays in the cart."""
    cart = _cart(request)
    result = services.checkout(quantities=cart, user=request.user, visitor=request.visitor)
    _save(request, {pk: quantity for pk, quantity in cart.items() if pk not in result.bought})
    if result.order is not None:
        items = sum(result.bought.values())
        messages.success(
            request,
            f"Thank you: order {result.order.number} is placed, {items} item{'s' if items != 1 else ''} "
            f"for {money(result.order.total)}.",
        )
    if result.sold_out:
        messages.error(request, f"{len(result.sold_out)} product(s) in your cart have too few left; they stay in it.")
    return redirect("home")
