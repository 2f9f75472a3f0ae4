"""Batches of client events (the mobile API): validated whole, written whole, idempotent by event id."""

from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone

from catalog.models import Product
from recommendations.models import EVENT_ID_CONFLICT, Interaction, Visitor
from recommendations.services.visitors import event_owner

_COLUMNS = [  # (column, the array type its values are sent as)
    ("event_id", "uuid"), ("user_id", "bigint"), ("visitor_id", "uuid"), ("product_id", "bigint"), ("kind", "text"),
    ("created_at", "timestamptz"), ("source_row", "text"), ("source_strategy", "text"), ("source_slot", "smallint"),
    ("price", "numeric"), ("recommendation_id", "uuid"),
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


# How far before the shop's first event a client's timestamp may reach (a phone offline for months,
# a replayed backlog): anything older is a clock or a client that is wrong, and would poison the
# time-decayed sources and the ranker's ages.
EVENT_MAX_AGE_BEFORE_FIRST = timedelta(days=365)


def check_event_times(*, events: list[dict]) -> dict[int, dict]:
    """Errors by event index for timestamps more than a year before the shop's first event (one
    query by primary key per batch; a shop with no events yet counts from now). The serializer has
    already refused those without a zone and those more than a day ahead.

    "First" is the first row the log holds, not the oldest timestamp: otherwise every accepted old
    event would move the floor back, and a client could walk it back a year per request."""
    first = Interaction.objects.order_by("pk").values_list("created_at", flat=True).first() or timezone.now()
    floor = first - EVENT_MAX_AGE_BEFORE_FIRST
    message = f"occurred_at is more than a year before the shop's first event ({first:%Y-%m-%d})."
    return {index: {"occurred_at": [message]} for index, event in enumerate(events) if event["occurred_at"] < floor}


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
        [e.get("price") for e in fresh], [e.get("recommendation_id") for e in fresh],
    ]  # fmt: skip
    columns = ", ".join(name for name, _ in _COLUMNS)
    arrays = ", ".join(f"%s::{kind}[]" for _, kind in _COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Interaction._meta.db_table} ({columns}) SELECT * FROM unnest({arrays}) "
            f"ON CONFLICT {EVENT_ID_CONFLICT} DO NOTHING RETURNING 1",
            values,
        )
        accepted = len(cursor.fetchall())
    return accepted, len(events) - accepted
