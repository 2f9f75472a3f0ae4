"""Import the H&M purchase history: customers become shop users, transactions become purchases."""

import csv
import functools
import hashlib
import secrets
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from catalog.importers import RowError
from catalog.importers.hm import CENT, PRICE_SCALE
from catalog.models import Product
from common.copying import copy_rows
from common.iterables import chunked, read_ahead
from recommendations.models import EVENT_ID_CONFLICT, InteractionKind

# Event ids derive from the row's content, so importing the same file twice adds nothing.
NAMESPACE = uuid.UUID("5b0b7c1e-3f5c-4c64-9d0e-6c1f2a9e8a11")


@dataclass
class InteractionImportSummary:
    users_created: int = 0
    purchases_created: int = 0
    purchases_existing: int = 0
    bad_rows: list[RowError] = field(default_factory=list)


def customers_import(*, path: Path, summary: InteractionImportSummary) -> None:
    """customers.csv -> users named by their customer_id, with no usable password. Written with
    COPY through a staging table (a few million customers take seconds, not minutes); a customer
    already there is left as it is."""
    user_model = get_user_model()
    with open(path, newline="") as handle:
        ids = list(dict.fromkeys(
            row["customer_id"].strip() for row in csv.DictReader(handle) if row.get("customer_id", "").strip()
        ))  # fmt: skip
    now = timezone.now()
    table = connection.ops.quote_name(user_model._meta.db_table)
    with transaction.atomic():
        for chunk in chunked(iter(ids), COPY_CHUNK):
            # Django's own unusable-password form ("!" and 40 random characters), without its per-user cost.
            rows = (("!" + secrets.token_urlsafe(30), customer, now) for customer in chunk)
            summary.users_created += _copy_insert(
                f"INSERT INTO {table} (password, username, date_joined, is_superuser, first_name, last_name, "
                "email, is_staff, is_active) SELECT password, username, date_joined, false, '', '', '', false, true "
                "FROM import_staging ON CONFLICT (username) DO NOTHING",
                "password text, username text, date_joined timestamptz",
                rows,
            )


def transactions_import(
    *, path: Path, summary: InteractionImportSummary, on_progress: Callable[[int], None] = lambda n: None
) -> None:
    """transactions_train.csv -> purchases, idempotent (each row's event id derives from its
    content), written with COPY through a staging table and INSERT ... ON CONFLICT, COPY_CHUNK rows a
    transaction. A purchase already there keeps its row; only a missing price is filled in (logs
    imported before prices were kept)."""
    user_model = get_user_model()
    users = dict(user_model.objects.values_list("username", "pk"))
    products = dict(Product.objects.values_list("external_id", "pk"))
    repeats = _Repeats(sorted_by_day=_sorted_by_day(path))
    with open(path, newline="") as handle:
        # csv.reader, not DictReader: a dict per row was the largest part of the parsing thread's time.
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        missing = {"t_dat", "customer_id", "article_id"} - set(header)
        if missing:
            raise ValueError(f"{path} lacks the columns {', '.join(sorted(missing))}.")
        columns = _Columns(*(header.index(name) for name in ("t_dat", "customer_id", "article_id")),
                           price=header.index("price") if "price" in header else None)  # fmt: skip
        rows = ((reader.line_num, row) for row in reader)
        # Each chunk is parsed, and written as COPY's text, in a thread while PostgreSQL inserts the
        # one before (read_ahead). psycopg's write_row formatted each row in Python on the main thread,
        # which then competed with the parser for the GIL.
        parsed = (
            [_purchase(line, row, columns, users, products, repeats, summary) for line, row in chunk]
            for chunk in chunked(rows, COPY_CHUNK)
        )
        for lines in read_ahead(parsed):
            events = [line for line in lines if line is not None]
            with transaction.atomic():
                # One pass over the unique index: a row already there (a re-import) only gets a price
                # it lacks; a separate UPDATE looked every staged row up again. xmax is 0 on an
                # inserted row, not on an updated one, so only the inserted are counted.
                created = _copy_insert(
                    "WITH written AS (INSERT INTO recommendations_interaction AS i (event_id, user_id, product_id, "
                    "kind, created_at, price, source_row, source_strategy) SELECT DISTINCT ON (event_id) event_id, "
                    f"user_id, product_id, '{InteractionKind.PURCHASE}', created_at, price, 'import.hm', '' "
                    f"FROM import_staging ON CONFLICT {EVENT_ID_CONFLICT} DO UPDATE SET price = EXCLUDED.price "
                    "WHERE i.price IS NULL AND EXCLUDED.price IS NOT NULL RETURNING i.xmax = 0 AS inserted) "
                    "SELECT count(*) FILTER (WHERE inserted) FROM written",
                    "event_id uuid, user_id integer, product_id bigint, created_at timestamptz, price numeric",
                    "".join(events),
                )
            summary.purchases_created += created
            summary.purchases_existing += len(events) - created
            on_progress(len(lines))


COPY_CHUNK = 50_000


def _copy_insert(insert: str, columns: str, rows: Iterable[tuple] | str) -> int:
    """COPY ``rows`` (tuples, or already COPY's text format) into a temporary staging table of
    ``columns`` and run ``insert`` (which reads import_staging); the rows it wrote, or the count it
    selects. Inside the caller's transaction."""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS import_staging ({columns}) ON COMMIT DROP")
        statement = f"COPY import_staging ({_names(columns)}) FROM STDIN"
        if isinstance(rows, str):
            with cursor.cursor.copy(statement) as copy:
                copy.write(rows)
        else:
            copy_rows(statement, rows, cursor=cursor)
        cursor.execute(insert)
        written = cursor.fetchone()[0] if cursor.description else cursor.rowcount
        cursor.execute("DROP TABLE import_staging")
    return written


def _names(columns: str) -> str:
    return ", ".join(part.split()[0] for part in columns.split(", "))


def _sorted_by_day(path: Path) -> bool:
    """Whether the file's rows come in day order (H&M's do), from the first column alone."""
    newest = ""
    with open(path) as handle:
        next(handle, None)
        for line in handle:
            day = line.split(",", 1)[0].strip()
            if day < newest:
                return False
            newest = day
    return True


class _Repeats:
    """The same customer may buy the same article twice on one day: the repeats are numbered, so
    each gets its own event id. In a file sorted by day only that day's counts are kept (10 million
    rows would otherwise hold one key each, gigabytes)."""

    def __init__(self, *, sorted_by_day: bool) -> None:
        self.sorted_by_day, self.day, self.counts = sorted_by_day, None, Counter()

    def number(self, day: str, customer: str, article: str) -> int:
        if self.sorted_by_day and day != self.day:
            self.day, self.counts = day, Counter()
        self.counts[day, customer, article] += 1
        return self.counts[day, customer, article]


@dataclass(frozen=True)
class _Columns:
    """Where a transactions file keeps each field (its header's order)."""

    day: int
    customer: int
    article: int
    price: int | None


def _price(text: str | None) -> Decimal | None:
    """The price paid, scaled as the catalog's prices (catalog.importers.hm); None if absent or bad."""
    try:
        return (Decimal(text.strip()) * PRICE_SCALE).quantize(CENT)
    except (AttributeError, InvalidOperation):
        return None


def event_id(key: str) -> str:
    """uuid.uuid5(NAMESPACE, key) as 32 hex digits (PostgreSQL reads a uuid so too), without building
    a UUID object: a third of the parsing thread's time went to uuid5 and str(UUID)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + key.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
    return digest.hex()


_NAMESPACE_BYTES = NAMESPACE.bytes


@functools.lru_cache(maxsize=4096)
def _noon(day: str) -> str | None:
    """Noon UTC of a t_dat, as COPY's text; None if it is not a date. Cached: a log has a few hundred
    days and millions of rows, and strptime was half of an import's Python time."""
    try:
        return datetime.strptime(day, "%Y-%m-%d").replace(hour=12, tzinfo=UTC).isoformat()
    except ValueError:
        return None


_NULL = "\\N"  # COPY's text for NULL


def _purchase(line, row: list[str], columns: _Columns, users, products, repeats: _Repeats, summary) -> str | None:
    """The staging row of one purchase (event id, user, product, time, price) as a line of COPY's
    text format (none of its values can hold a tab, a newline or a backslash), or None (a bad row,
    reported in ``summary``)."""
    try:
        customer, article = row[columns.customer].strip(), row[columns.article].strip()
        day = row[columns.day].strip()
    except IndexError:
        summary.bad_rows.append(RowError(line, f"{len(row)} fields, fewer than the header's"))
        return None
    created_at = _noon(day)
    if created_at is None:
        summary.bad_rows.append(RowError(line, f"t_dat {day!r} is not a date"))
        return None
    if customer not in users:
        summary.bad_rows.append(RowError(line, f"unknown customer {customer[:16]}..."))
        return None
    if article not in products:
        summary.bad_rows.append(RowError(line, f"unknown article {article}"))
        return None
    key = f"hm:{day}:{customer}:{article}:{repeats.number(day, customer, article)}"
    price = _price(row[columns.price] if columns.price is not None and columns.price < len(row) else None)
    return (
        f"{event_id(key)}\t{users[customer]}\t{products[article]}\t{created_at}\t{_NULL if price is None else price}\n"
    )
