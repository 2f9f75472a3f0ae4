"""Writes of the storefront that span the catalog (stock) and the recommender (the log)."""

from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from catalog.models import Product
from catalog.services import product_stock_take
from recommendations.models import InteractionKind, Visitor
from recommendations.services.interactions import interaction_record
from storefront.models import Order, OrderLine


@dataclass
class CheckoutResult:
    order: Order | None  # None: nothing could be bought
    bought: dict[int, int] = field(default_factory=dict)  # product id -> quantity bought
    sold_out: list[int] = field(default_factory=list)  # in the cart, but fewer left than asked for


@transaction.atomic
def checkout(*, quantities: dict[int, int], user: AbstractBaseUser | None, visitor: Visitor | None) -> CheckoutResult:
    """Buy each product in its quantity, as one order. A product with fewer left than asked for is not
    bought (it stays in the cart); each item bought is one purchase event of the log (as H&M's log
    has a row per item), written in the same transaction as the stock it took."""
    result = CheckoutResult(order=None)
    prices = dict(Product.objects.filter(pk__in=list(quantities)).values_list("pk", "price"))
    # In id order, as every multi-row writer of products locks (catalog.locks): two carts holding the same
    # products in other orders cannot deadlock.
    for product_id, quantity in sorted(quantities.items()):
        if quantity < 1:
            continue
        if not product_stock_take(product_id=product_id, quantity=quantity):
            result.sold_out.append(product_id)
            continue
        for _ in range(quantity):
            interaction_record(product_id=product_id, kind=InteractionKind.PURCHASE, user=user, visitor=visitor,
                               price=prices.get(product_id))  # fmt: skip
        result.bought[product_id] = quantity
    if result.bought:
        owner = user if user is not None and user.is_authenticated else None
        lines = [(pid, qty, prices.get(pid) or Decimal(0)) for pid, qty in result.bought.items()]
        result.order = Order.objects.create(
            user=owner, visitor_id=None if owner else getattr(visitor, "pk", None),
            total=sum((price * qty for _, qty, price in lines), Decimal(0)),
        )  # fmt: skip
        OrderLine.objects.bulk_create(
            OrderLine(order=result.order, product_id=pid, quantity=qty, unit_price=price) for pid, qty, price in lines
        )
    return result
