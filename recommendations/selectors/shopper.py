"""What we know of a shopper: their recent history, what they bought, their likely gender."""

import uuid

from django.db import router
from django.db.models import Q

from common.compiled import CompiledQuery
from recommendations.domain import Shopper, ShopperEvent
from recommendations.models import Interaction, InteractionKind, Visitor

HISTORY = 200  # serving sees a shopper's newest 200 events (recommendations.ranker.history too)
_FIELDS = ("product_id", "kind", "created_at", "product__gender", "product__name", "product__product_group",
           "product__article_type", "price")  # fmt: skip


def _user_events(user_id) -> Q:
    return Q(user_id=user_id)


def _visitor_events(visitor_id) -> Q:
    return Q(visitor_id=visitor_id, user__isnull=True)  # an anonymous history holds anonymous events only


def _history(mine: Q):
    return Interaction.objects.filter(mine).order_by("-created_at", "-pk").values_list(*_FIELDS)[:HISTORY]


# Every homepage computed reads one of these: compiled once per process (common.compiled).
_USER_HISTORY = CompiledQuery(lambda user_id: _history(_user_events(user_id)), user_id=-7_340_033)
_VISITOR_HISTORY = CompiledQuery(
    lambda visitor_id: _history(_visitor_events(visitor_id)),
    visitor_id=uuid.UUID("00000000-7340-4033-8000-000000000000"),
)


def shopper_load(*, user_id: int | None, visitor: Visitor | None) -> Shopper:
    """One query for the recent history (with product gender and name), and one for purchases when
    the history is longer than HISTORY events."""
    shopper = Shopper(user_id=user_id, visitor=visitor, gender_choice=visitor.gender_preference if visitor else "")
    if user_id is not None:
        mine, rows = _user_events(user_id), _USER_HISTORY.rows(router.db_for_read(Interaction), user_id=user_id)
    elif visitor is not None:
        mine = _visitor_events(visitor.pk)
        rows = _VISITOR_HISTORY.rows(router.db_for_read(Interaction), visitor_id=visitor.pk)
    else:
        return shopper
    shopper.recent = [ShopperEvent(*row) for row in rows]
    if len(shopper.recent) < HISTORY:  # the whole history is in hand: no second query for purchases
        shopper.purchased = {event.product_id for event in shopper.recent if event.kind == InteractionKind.PURCHASE}
    else:
        purchases = Interaction.objects.filter(mine, kind=InteractionKind.PURCHASE)
        shopper.purchased = set(purchases.values_list("product_id", flat=True))
    shopper.newest_event = shopper.recent[0].at if shopper.recent else None
    return shopper
