"""A signed-in shopper's orders, as their account page lists them."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from recommendations.models import Interaction, InteractionKind


@dataclass(frozen=True)
class OrderLine:
    product_id: int
    name: str
    price: Decimal | None


@dataclass(frozen=True)
class Order:
    """The purchases of one day. The log keeps purchases, not baskets, and an imported purchase knows
    only its day (H&M's log), so a day is the order the shopper sees."""

    day: datetime.date
    lines: list[OrderLine]

    @property
    def total(self) -> Decimal:
        return sum((line.price or Decimal(0) for line in self.lines), Decimal(0))


def orders_of_user(*, user_id: int, days: int = 30) -> list[Order]:
    """The user's purchases of their newest ``days`` days with a purchase, newest first: only theirs
    (the query names no one else), in one query."""
    purchases = (
        Interaction.objects.filter(user_id=user_id, kind=InteractionKind.PURCHASE)
        .order_by("-created_at", "-pk")
        .values_list("created_at", "product_id", "product__name", "price")
    )
    orders: list[Order] = []
    for at, product_id, name, price in purchases.iterator(chunk_size=500):
        day = at.date()
        if not orders or orders[-1].day != day:
            if len(orders) == days:
                break
            orders.append(Order(day=day, lines=[]))
        orders[-1].lines.append(OrderLine(product_id=product_id, name=name, price=price))
    return orders
