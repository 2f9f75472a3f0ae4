"""The interaction log: written synchronously to PostgreSQL, so an acknowledged event is never lost
and logging keeps working when Redis is down (one INSERT, about a millisecond)."""

import uuid
from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from recommendations.models import Interaction, InteractionKind, Visitor
from recommendations.services.visitors import event_owner, visitor_persist


def interaction_record(
    *,
    product_id: int,
    kind: str,
    user: AbstractBaseUser | None = None,
    visitor: Visitor | None = None,
    source_row: str = "",
    source_strategy: str = "",
    source_slot: int | None = None,
    recommendation_id: uuid.UUID | None = None,
    event_id: uuid.UUID | None = None,
    created_at: datetime | None = None,
    price: Decimal | None = None,
) -> Interaction:
    """Append one event: a signed-in shopper's belongs to the user alone, else to the visitor."""
    InteractionKind(kind)  # ValueError for an unknown kind
    return Interaction.objects.create(
        event_id=event_id,
        **event_owner(user=user, visitor=visitor),
        product_id=product_id,
        kind=kind,
        created_at=created_at or timezone.now(),
        source_row=source_row[:32],
        source_strategy=source_strategy[:32],
        source_slot=source_slot,
        recommendation_id=recommendation_id,
        price=price,
    )


@transaction.atomic
def visitor_merge_into_user(*, visitor: Visitor, user: AbstractBaseUser) -> int:
    """On sign-in: the visitor's anonymous history becomes the user's. Returns the events moved.

    The visitor is marked as the user's, so it is never handed to an anonymous request again."""
    visitor_persist(visitor)  # a visitor without events yet is retired all the same
    # Two merges into one user at once (two devices signing in) would both pass the delete below and
    # then collide on the event ids' unique index: the user's row serialises them.
    type(user).objects.select_for_update().filter(pk=user.pk).first()
    Visitor.objects.filter(pk=visitor.pk, user__isnull=True).update(user=user)
    anonymous = Interaction.objects.filter(visitor_id=visitor.pk, user__isnull=True)
    # An event id is unique per shopper: one the user already has (an app that sent it anonymously,
    # then again signed in) is a retry, and is dropped rather than moved.
    anonymous.filter(
        event_id__in=Interaction.objects.filter(user=user, event_id__isnull=False).values("event_id")
    ).delete()
    return anonymous.update(user=user)


def product_view_record(
    *, product_id: int, user: AbstractBaseUser | None, visitor: Visitor | None, row: str, strategy: str, slot: str,
    list_id: str = "",
) -> None:  # fmt: skip
    """A product page was opened, maybe from a recommendation card: the card's row, strategy, slot
    and list id come from the link's query string (untrusted text, so the slot is kept only if it is
    a small number, the list id only if it is a UUID). A view from a card is also a click on that card."""
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses (a 500, issue 16).
    small_number = slot.isascii() and slot.isdigit() and len(slot) <= 3
    source = {"source_row": row, "source_strategy": strategy, "source_slot": int(slot) if small_number else None,
              "recommendation_id": list_uuid(list_id)}  # fmt: skip
    if row:
        interaction_record(product_id=product_id, kind=InteractionKind.CLICK, user=user, visitor=visitor, **source)
    interaction_record(product_id=product_id, kind=InteractionKind.VIEW, user=user, visitor=visitor, **source)


def list_uuid(text: str) -> uuid.UUID | None:
    """A list id from a link (Row.list_id, 32 hex digits), or None for anything else."""
    if len(text) > 36:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        return None
