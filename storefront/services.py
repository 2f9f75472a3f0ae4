"""Writes of the storefront that span the catalog (stock) and the recommender (the log)."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from catalog.models import Product
from catalog.services import product_stock_take
from recommendations.models import InteractionKind, Visitor
from recommendations.services.interactions import interaction_record


@transaction.atomic
def checkout(*, product_ids: list[int], user: AbstractBaseUser | None, visitor: Visitor | None) -> list[int]:
    """Buy one of each product; returns those bought. A product that sold out meanwhile is not
    bought (it stays in the cart); each purchase is logged in the same transaction as its stock."""
    bought = []
    prices = dict(Product.objects.filter(pk__in=product_ids).values_list("pk", "price"))
    for product_id in product_ids:
        if product_stock_take(product_id=product_id):
            interaction_record(product_id=product_id, kind=InteractionKind.PURCHASE, user=user, visitor=visitor,
                               price=prices.get(product_id))  # fmt: skip
            bought.append(product_id)
    return bought
