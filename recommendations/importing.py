"""Import the H&M purchase history: customers become shop users, transactions become purchases."""

import csv
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from catalog.importers import RowError
from catalog.importers.hm import CENT, PRICE_SCALE
from catalog.models import Product
from common.iterables import chunked
from recommendations.models import Interaction, InteractionKind

# Event ids derive from the row's content, so importing the same file twice adds nothing.
NAMESPACE = uuid.UUID("5b0b7c1e-3f5c-4c64-9d0e-6c1f2a9e8a11")
CHUNK = 5000


@dataclass
class InteractionImportSummary:
    users_created: int = 0
    purchases_created: int = 0
    purchases_existing: int = 0
    bad_rows: list[RowError] = field(default_factory=list)


def customers_import(*, path: Path, summary: InteractionImportSummary) -> None:
    """customers.csv -> users named by their customer_id, with no usable password."""
    user_model = get_user_model()
    with open(path, newline="") as handle:
        ids = [row["customer_id"].strip() for row in csv.DictReader(handle) if row.get("customer_id", "").strip()]
    existing = set(user_model.objects.filter(username__in=ids).values_list("username", flat=True))
    new = [user_model(username=customer, is_active=True) for customer in ids if customer not in existing]
    for user in new:
        user.set_unusable_password()
    user_model.objects.bulk_create(new, batch_size=1000, ignore_conflicts=True)
    summary.users_created += len(new)


def transactions_import(
    *, path: Path, summary: InteractionImportSummary, on_progress: Callable[[int], None] = lambda n: None
) -> None:
    user_model = get_user_model()
    users = dict(user_model.objects.values_list("username", "pk"))
    products = dict(Product.objects.values_list("external_id", "pk"))
    seen: Counter[tuple[str, str, str]] = Counter()
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"t_dat", "customer_id", "article_id"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path} lacks the columns {', '.join(sorted(missing))}.")
        rows = ((reader.line_num, row) for row in reader)
        for chunk in chunked(rows, CHUNK):
            events = []
            for line, row in chunk:
                event = _purchase(line, row, users, products, seen, summary)
                if event is not None:
                    events.append(event)
            known = set(
                Interaction.objects.filter(event_id__in=[e.event_id for e in events]).values_list("event_id", flat=True)
            )
            new = [event for event in events if event.event_id not in known]
            with transaction.atomic():
                Interaction.objects.bulk_create(new, ignore_conflicts=True)  # a concurrent import is harmless
                _prices_fill(events, known)
            summary.purchases_created += len(new)
            summary.purchases_existing += len(known)
            on_progress(len(chunk))


def _prices_fill(events: list[Interaction], known: set) -> None:
    """Purchases imported before the log kept prices get the price paid (the ranker's price features)."""
    paid = {event.event_id: event.price for event in events if event.event_id in known and event.price is not None}
    if not paid:
        return
    stale = list(Interaction.objects.filter(event_id__in=list(paid), price__isnull=True).only("pk", "event_id"))
    for event in stale:
        event.price = paid[event.event_id]
    Interaction.objects.bulk_update(stale, ["price"], batch_size=1000)


def _price(row) -> Decimal | None:
    """The price paid, scaled as the catalog's prices (catalog.importers.hm); None if absent or bad."""
    try:
        return (Decimal(row["price"].strip()) * PRICE_SCALE).quantize(CENT)
    except (KeyError, AttributeError, InvalidOperation):
        return None


def _purchase(line, row, users, products, seen, summary) -> Interaction | None:
    customer, article, day = row["customer_id"].strip(), row["article_id"].strip(), row["t_dat"].strip()
    try:
        created_at = datetime.strptime(day, "%Y-%m-%d").replace(hour=12, tzinfo=UTC)
    except ValueError:
        summary.bad_rows.append(RowError(line, f"t_dat {day!r} is not a date"))
        return None
    if customer not in users:
        summary.bad_rows.append(RowError(line, f"unknown customer {customer[:16]}..."))
        return None
    if article not in products:
        summary.bad_rows.append(RowError(line, f"unknown article {article}"))
        return None
    # The same customer may buy the same article twice on one day: number the repeats.
    seen[(day, customer, article)] += 1
    key = f"hm:{day}:{customer}:{article}:{seen[(day, customer, article)]}"
    return Interaction(
        event_id=uuid.uuid5(NAMESPACE, key),
        user_id=users[customer],
        product_id=products[article],
        kind=InteractionKind.PURCHASE,
        created_at=created_at,
        price=_price(row),
        source_row="import.hm",
    )
