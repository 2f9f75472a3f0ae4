"""What we know of a shopper: their recent history, what they bought, their likely gender."""

from django.db.models import Q

from recommendations.domain import Shopper, ShopperEvent
from recommendations.models import Interaction, InteractionKind, Visitor


def shopper_load(*, user_id: int | None, visitor: Visitor | None, history: int = 200) -> Shopper:
    """One query for the recent history (with product gender and name), and one for purchases when
    the history is longer than ``history`` events."""
    shopper = Shopper(user_id=user_id, visitor=visitor, gender_choice=visitor.gender_preference if visitor else "")
    if user_id is not None:
        mine = Q(user_id=user_id)
    elif visitor is not None:
        mine = Q(visitor_id=visitor.pk, user__isnull=True)  # anonymous history holds anonymous events only
    else:
        return shopper
    events = Interaction.objects.filter(mine).order_by("-created_at", "-pk")
    rows = events.values_list(
        "product_id",
        "kind",
        "created_at",
        "product__gender",
        "product__name",
        "product__product_group",
        "product__article_type",
        "price",
    )[:history]
    shopper.recent = [ShopperEvent(*row) for row in rows]
    if len(shopper.recent) < history:  # the whole history is in hand: no second query for purchases
        shopper.purchased = {event.product_id for event in shopper.recent if event.kind == InteractionKind.PURCHASE}
    else:
        shopper.purchased = set(events.filter(kind=InteractionKind.PURCHASE).values_list("product_id", flat=True))
    shopper.newest_event = shopper.recent[0].at if shopper.recent else None
    return shopper
