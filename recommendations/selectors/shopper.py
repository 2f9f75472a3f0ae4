"""What we know of a shopper: their recent history, what they bought, their likely gender."""

import uuid

from django.db import router
from django.db.models import Q

from common.compiled import CompiledQuery
from recommendations.domain import Shopper, ShopperEvent
from recommendations.models import Interaction, InteractionKind, Visitor

HISTORY = 200
_FIELDS = ("product_id", "kind", "created_at", "product__gender", "product__name", "product__product_group",
           "product__article_type", "price")  # fmt: skip


def _history(mine: Q, history: int = HISTORY):
    return Interaction.objects.filter(mine).order_by("-created_at", "-pk").values_list(*_FIELDS)[:history]


# Every homepage computed reads one of these: compiled once per process (common.compiled).
_USER_HISTORY = CompiledQuery(lambda user_id: _history(Q(user_id=user_id)), user_id=-7_340_033)
_VISITOR_HISTORY = CompiledQuery(
    # An anonymous history holds anonymous events only.
    lambda visitor_id: _history(Q(visitor_id=visitor_id, user__isnull=True)),
    visitor_id=uuid.UUID("00000000-7340-4033-8000-000000000000"),
)


def shopper_load(*, user_id: int | None, visitor: Visitor | None, history: int = HISTORY) -> Shopper:
    """One query for the recent history (with product gender and name), and one for purchases when
    the history is longer than ``history`` events."""
    shopper = Shopper(user_id=user_id, visitor=visitor, gender_choice=visitor.gender_preference if visitor else "")
    if user_id is not None:
        mine = Q(user_id=user_id)
        compiled, values = _USER_HISTORY, {"user_id": user_id}
    elif visitor is not None:
        mine = Q(visitor_id=visitor.pk, user__isnull=True)
        compiled, values = _VISITOR_HISTORY, {"visitor_id": visitor.pk}
    else:
        return shopper
    if history == HISTORY:
        rows = compiled.rows(router.db_for_read(Interaction), **values)
    else:
        rows = list(_history(mine, history))
    events = Interaction.objects.filter(mine)
    shopper.recent = [ShopperEvent(*row) for row in rows]
    if len(shopper.recent) < history:  # the whole history is in hand: no second query for purchases
        shopper.purchased = {event.product_id for event in shopper.recent if event.kind == InteractionKind.PURCHASE}
    else:
        shopper.purchased = set(events.filter(kind=InteractionKind.PURCHASE).values_list("product_id", flat=True))
    shopper.newest_event = shopper.recent[0].at if shopper.recent else None
    return shopper
