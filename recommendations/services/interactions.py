"""The interaction log: written synchronously to PostgreSQL, so an acknowledged event is never lost
and logging keeps working when Redis is down (one INSERT, about a millisecond)."""

import uuid
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from recommendations.models import Interaction, InteractionKind, Visitor


def visitor_get_or_create(*, visitor_id: str | None) -> tuple[Visitor, bool]:
    """The visitor of this cookie value, or a new one (a missing or malformed cookie starts afresh)."""
    try:
        key = uuid.UUID(str(visitor_id))
    except ValueError:
        return Visitor.objects.create(), True
    return Visitor.objects.get_or_create(id=key)


def interaction_record(
    *,
    product_id: int,
    kind: str,
    user: AbstractBaseUser | None = None,
    visitor: Visitor | None = None,
    source_row: str = "",
    source_strategy: str = "",
    source_slot: int | None = None,
    event_id: uuid.UUID | None = None,
    created_at: datetime | None = None,
) -> Interaction:
    """Append one event. A signed-in shopper's events belong to the user (and keep the visitor)."""
    InteractionKind(kind)  # ValueError for an unknown kind
    return Interaction.objects.create(
        event_id=event_id,
        user=user if user is not None and user.is_authenticated else None,
        visitor=visitor,
        product_id=product_id,
        kind=kind,
        created_at=created_at or timezone.now(),
        source_row=source_row[:32],
        source_strategy=source_strategy[:32],
        source_slot=source_slot,
    )


@transaction.atomic
def visitor_merge_into_user(*, visitor: Visitor, user: AbstractBaseUser) -> int:
    """On sign-in: the visitor's anonymous history becomes the user's. Returns the events moved."""
    Visitor.objects.filter(pk=visitor.pk).update(user=user)
    return Interaction.objects.filter(visitor=visitor, user__isnull=True).update(user=user)
