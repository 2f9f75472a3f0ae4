"""Batches of client events (the mobile API): validated whole, written whole, idempotent by event id."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from catalog.models import Product
from recommendations.models import Interaction, Visitor


def check_event_products(*, events: list[dict]) -> dict[int, dict]:
    """Errors by event index for products that do not exist or are not on sale (one query)."""
    known = set(
        Product.objects.filter(pk__in={e["product"] for e in events}, is_active=True).values_list("pk", flat=True)
    )
    return {
        index: {"product": [f"Unknown product {event['product']}."]}
        for index, event in enumerate(events)
        if event["product"] not in known
    }


@transaction.atomic
def events_record(*, events: list[dict], user: AbstractBaseUser | None, visitor: Visitor) -> tuple[int, int]:
    """Write validated events; returns (new, duplicates). Call check_event_products first."""
    ids = [event["event_id"] for event in events]
    known = set(Interaction.objects.filter(event_id__in=ids).values_list("event_id", flat=True))
    fresh = {
        event["event_id"]: event for event in events if event["event_id"] not in known
    }  # repeats in one batch count once
    user = user if user is not None and user.is_authenticated else None
    Interaction.objects.bulk_create(
        [
            Interaction(
                event_id=event["event_id"],
                user=user,
                visitor=visitor,
                product_id=event["product"],
                kind=event["kind"],
                created_at=event["occurred_at"],
                source_row=event["row"],
                source_strategy=event["strategy"],
                source_slot=event["slot"],
            )  # fmt: skip
            for event in fresh.values()
        ],
        ignore_conflicts=True,  # a concurrent retry of the same batch is harmless
    )
    return len(fresh), len(events) - len(fresh)
