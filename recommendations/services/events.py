"""Batches of client events (the mobile API): validated whole, written whole, idempotent by event id."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction

from catalog.models import Product
from recommendations.models import Interaction, Visitor
from recommendations.services.visitors import event_owner

_COLUMNS = [  # (column, the array type its values are sent as)
    ("event_id", "uuid"), ("user_id", "bigint"), ("visitor_id", "uuid"), ("product_id", "bigint"), ("kind", "text"),
    ("created_at", "timestamptz"), ("source_row", "text"), ("source_strategy", "text"), ("source_slot", "smallint"),
    ("price", "numeric"),
]  # fmt: skip


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
    """Write validated events; returns (new, duplicates). Call check_event_products first.

    "New" counts the rows the INSERT really wrote (ON CONFLICT DO NOTHING ... RETURNING): when the
    same batch arrives twice at once, a check-then-insert would let both requests claim every event.
    """
    owner = event_owner(user=user, visitor=visitor)
    user_id = owner["user"].pk if owner["user"] else None
    visitor_id = owner["visitor"].pk if owner["visitor"] else None
    fresh = list({event["event_id"]: event for event in events}.values())  # repeats in one batch count once
    values = [
        [e["event_id"] for e in fresh], [user_id] * len(fresh), [visitor_id] * len(fresh),
        [e["product"] for e in fresh], [e["kind"] for e in fresh], [e["occurred_at"] for e in fresh],
        [e["row"] for e in fresh], [e["strategy"] for e in fresh], [e["slot"] for e in fresh],
        [e.get("price") for e in fresh],
    ]  # fmt: skip
    columns = ", ".join(name for name, _ in _COLUMNS)
    arrays = ", ".join(f"%s::{kind}[]" for _, kind in _COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Interaction._meta.db_table} ({columns}) SELECT * FROM unnest({arrays}) "
            "ON CONFLICT (event_id) DO NOTHING RETURNING 1",
            values,
        )
        accepted = len(cursor.fetchall())
    return accepted, len(events) - accepted
