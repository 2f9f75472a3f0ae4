"""Impressions, written without slowing serving: a request appends what it showed to this process's
buffer (a lock and a list append, microseconds), and a background thread writes the buffer every
IMPRESSIONS_FLUSH_S with one COPY. Memory is bounded: past IMPRESSIONS_BUFFER_MAX waiting rows the
oldest are dropped and counted (a stalled PostgreSQL costs impressions, never pages).

What a hard kill (SIGKILL, OOM) loses: the rows waiting, at most IMPRESSIONS_FLUSH_S of this
process's impressions. Never an event: events are written in their own request, not through here. A
clean shutdown (gunicorn's worker exit, manage.py commands, the test server) writes the buffer at
exit (atexit), so it loses none."""

import atexit
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, connections
from django.utils import timezone

from experiments.models import Impression, Surface
from experiments.selectors.assignment import ArmChoice, arm_for

logger = logging.getLogger(__name__)

_COLUMNS = ("list_id", "surface", "row", "experiment_id", "arm", "user_id", "visitor_id", "shown_at", "product_ids",
            "sources")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Shown:
    """One list as a shopper saw it."""

    list_id: str
    surface: str
    row: str
    experiment_id: int | None
    arm: str
    user_id: int | None
    visitor_id: str | None
    shown_at: datetime
    product_ids: tuple[int, ...]
    sources: tuple[str, ...]


class ImpressionBuffer:
    def __init__(self) -> None:
        self._rows: deque[Shown] = deque()
        self._lock = threading.Lock()
        self._writing = threading.Lock()  # one COPY at a time per process
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.written = 0

    def add(self, rows: list[Shown]) -> None:
        limit = settings.IMPRESSIONS_BUFFER_MAX
        with self._lock:
            self._rows.extend(rows)
            while len(self._rows) > limit:
                self._rows.popleft()
                self.dropped += 1
            # IMPRESSIONS_FLUSH_S 0: no writer thread, the caller flushes (the tests).
            if settings.IMPRESSIONS_FLUSH_S > 0 and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._run, name="impressions", daemon=True)
                self._thread.start()

    def pending(self) -> int:
        return len(self._rows)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()

    def flush(self) -> int:
        """Write what is waiting, in one COPY; returns how many rows. Rows a failed COPY held are put
        back (bounded as ever), so a database restart costs a second's delay, not the rows."""
        with self._writing:
            with self._lock:
                rows, self._rows = list(self._rows), deque()
            if not rows:
                return 0
            # A connection the database dropped (a restart) is replaced, as a request's would be (the
            # writer thread's own; a caller inside a transaction, a test, keeps its connection).
            if not connection.in_atomic_block:
                connection.close_if_unusable_or_obsolete()
            try:
                _copy(rows)
            except (OperationalError, InterfaceError, OSError):  # the database is away: try again later
                logger.exception("Writing %d impressions failed; kept for the next try", len(rows))
                with self._lock:
                    self._rows.extendleft(reversed(rows))
                    while len(self._rows) > settings.IMPRESSIONS_BUFFER_MAX:
                        self._rows.popleft()
                        self.dropped += 1
                return 0
            except DatabaseError:  # a row the database refuses (its user deleted since): drop those, keep the rest
                return self._one_by_one(rows)
            self.written += len(rows)
            return len(rows)

    def _one_by_one(self, rows: list[Shown]) -> int:
        written = 0
        for row in rows:
            try:
                _copy([row])
                written += 1
            except DatabaseError:
                self.dropped += 1
        logger.warning("Dropped %d impressions the database refused", len(rows) - written)
        self.written += written
        return written

    def _run(self) -> None:
        try:
            while True:
                time.sleep(settings.IMPRESSIONS_FLUSH_S)
                self.flush()
        finally:
            connections.close_all()  # this thread's own connection


def _copy(rows: list[Shown]) -> None:
    """One COPY in PostgreSQL's text format, the lines built here: adapting each value through psycopg's
    write_row cost about twice as much of the web process's CPU."""
    table = Impression._meta.db_table
    data = "".join(_line(row) for row in rows)
    # psycopg's COPY is reached through Django's cursor: its errors are wrapped into Django's by hand.
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({', '.join(_COLUMNS)}) FROM STDIN") as copy,
    ):
        copy.write(data)


def _text(value: str) -> str:
    """A text field of COPY's text format (keys and strategies, but escaped all the same)."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _line(row: Shown) -> str:
    null = "\\N"
    ids = "{" + ",".join(str(int(pid)) for pid in row.product_ids) + "}"
    sources = "{" + ",".join('"' + _text(source).replace('"', '\\\\"') + '"' for source in row.sources) + "}"
    fields = (
        _text(row.list_id), _text(row.surface), _text(row.row),
        null if row.experiment_id is None else str(int(row.experiment_id)), _text(row.arm),
        null if row.user_id is None else str(int(row.user_id)),
        null if row.visitor_id is None else _text(row.visitor_id),
        row.shown_at.isoformat(), ids, sources,
    )  # fmt: skip
    return "\t".join(fields) + "\n"


buffer = ImpressionBuffer()
atexit.register(buffer.flush)


def impressions_record(*, surface: str, rows, user_id: int | None, visitor_id, arm: ArmChoice | None = None) -> None:
    """Hand over what a page showed (recommendation rows: a list id and cards each) and the experiment
    arm that chose it. Nothing is written in the request; rows without a list id or cards are not
    impressions."""
    if not settings.IMPRESSIONS_ENABLED or (user_id is None and visitor_id is None):
        return
    now = timezone.now()
    experiment_id, arm_key = (arm.experiment_id, arm.arm) if arm is not None else (None, "")
    shown = [
        Shown(row.list_id, surface, row.key, experiment_id, arm_key, user_id,
              str(visitor_id) if visitor_id and user_id is None else None, now,
              tuple(card.product_id for card in row.cards), tuple(card.strategy for card in row.cards))
        for row in rows
        if row.list_id and row.cards
    ]  # fmt: skip
    if shown:
        buffer.add(shown)


class ApiMeasurement:
    """What the recommendations API asks of this app (RecommendationsApi.measurement, wired in
    storefront/api_urls.py): the arm that serves a shopper, and what it showed them."""

    @staticmethod
    def arm(*, user_id: int | None, visitor_id) -> ArmChoice | None:
        return arm_for(surface=Surface.API, user_id=user_id, visitor_id=visitor_id)

    @staticmethod
    def shown(*, rows, user_id: int | None, visitor_id, arm: ArmChoice | None) -> None:
        impressions_record(surface=Surface.API, rows=rows, user_id=user_id, visitor_id=visitor_id, arm=arm)
