"""The interaction log as the ranker and the evaluation read it, and shoppers rebuilt from it."""

import functools
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import NamedTuple, Protocol

import numpy as np

from recommendations.domain import Shopper, ShopperEvent

HISTORY = 200  # as shopper_load: serving sees a shopper's newest 200 events
KINDS = ("view", "click", "add_to_cart", "purchase")  # InteractionKind's values, LogArrays.kind's numbers


class Event(NamedTuple):
    """One event of the log (a tuple: millions are made and sorted)."""

    shopper: object  # ("user", id) or ("visitor", uuid)
    product_id: int
    kind: str
    at: datetime
    price: float | None = None  # what a purchase cost the shopper, where the log knows it


_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class LogArrays:
    """The log as columns, one entry per event in the log's order (oldest first): what the rankers'
    training reads, at about 40 bytes an event where an Event tuple and its datetime take about 200
    (ten million of them took 4.6 GB). Shoppers are numbered in the order they first appear, and
    ``keys`` gives each number's shopper key back (as Event.shopper); products are rows of the
    catalog; kinds are numbers into ``kinds``."""

    shopper: np.ndarray  # (m,) int64
    row: np.ndarray  # (m,) int64: the product's row in the catalog (Products.index)
    purchase: np.ndarray  # (m,) bool
    at_us: np.ndarray  # (m,) int64: microseconds since the Unix epoch
    day: np.ndarray  # (m,) int64: the event's calendar day in its own time zone (date.toordinal())
    price: np.ndarray  # (m,) float64: what a purchase cost; NaN where the log does not know
    tz: tzinfo | None  # the events' time zone (None: naive datetimes, as some tests give)
    kind: np.ndarray  # (m,) int8: the event's kind, a position in ``kinds``
    kinds: tuple[str, ...] = KINDS
    keys: Sequence = ()  # shopper number -> shopper key

    def __len__(self) -> int:
        return len(self.row)

    @classmethod
    def from_events(cls, events: Iterable[Event], index: Mapping[int, int]) -> "LogArrays":
        """The events whose product is in ``index`` (product id -> row), in their order."""
        kept = [event for event in events if event.product_id in index]
        tz = kept[0].at.tzinfo if kept else UTC
        epoch = _epoch(tz)
        numbers: dict[object, int] = {}
        kinds = tuple(dict.fromkeys([*KINDS, *(event.kind for event in kept)]))
        code = {kind: number for number, kind in enumerate(kinds)}
        shopper = np.array([numbers.setdefault(event.shopper, len(numbers)) for event in kept], dtype=np.int64)
        return cls(
            shopper=shopper,
            row=np.array([index[event.product_id] for event in kept], dtype=np.int64),
            purchase=np.array([event.kind == "purchase" for event in kept], dtype=bool),
            at_us=np.array([(event.at - epoch) // _MICROSECOND for event in kept], dtype=np.int64),
            day=np.array([event.at.date().toordinal() for event in kept], dtype=np.int64),
            price=np.array([np.nan if event.price is None else event.price for event in kept], dtype=np.float64),
            tz=tz,
            kind=np.array([code[event.kind] for event in kept], dtype=np.int8),
            kinds=kinds,
            keys=list(numbers),
        )  # fmt: skip

    @classmethod
    def of(cls, events: "Iterable[Event] | LogArrays", index: Mapping[int, int]) -> "LogArrays":
        """``events`` as columns (themselves when they already are)."""
        return events if isinstance(events, LogArrays) else cls.from_events(events, index)

    def select(self, keep: "np.ndarray | slice") -> "LogArrays":
        """The events where ``keep`` (a mask, positions or a slice), in their order; the same shopper
        numbers. A slice gives read-only views of the columns."""
        columns = {name: getattr(self, name)[keep] for name in _COLUMNS}
        if isinstance(keep, slice):
            for column in columns.values():
                column.flags.writeable = False
        return replace(self, **columns)

    def before(self, at: datetime) -> "LogArrays":
        """The events before ``at``, in their order: views of the columns where the log is in time
        order (PostgreSQL's, log_arrays), so that a fold does not copy the log it reads (about 0.4 GB
        at ten million events); a copy otherwise."""
        end = self.us(at)
        if self._in_time_order:
            return self.select(slice(0, int(np.searchsorted(self.at_us, end, side="left"))))
        return self.select(self.at_us < end)

    @functools.cached_property
    def _in_time_order(self) -> bool:
        return bool(np.all(self.at_us[1:] >= self.at_us[:-1]))

    def us(self, at: datetime) -> int:
        """``at`` as a value of ``at_us``."""
        return (at - _epoch(self.tz)) // _MICROSECOND

    def moment(self, at_us: int) -> datetime:
        """The datetime of a value of ``at_us``, in the events' time zone."""
        if self.tz is None:
            return datetime(1970, 1, 1) + timedelta(microseconds=int(at_us))
        return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(at_us))).astimezone(self.tz)


_COLUMNS = ("shopper", "row", "purchase", "at_us", "day", "price", "kind")  # one entry per event


def _epoch(tz: tzinfo | None) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC if tz is not None else None)


class Products(Protocol):
    """What the ranker needs of the catalog, row by row (the evaluation's Catalog is one)."""

    ids: np.ndarray
    index: dict[int, int]
    gender: np.ndarray
    name: Sequence[str]
    description: Sequence[str]  # "" where the catalog has none
    group: Sequence[str]
    article_type: Sequence[str]
    subcategory: Sequence[str]
    department: Sequence[str]  # "" where the catalog has none
    colour: Sequence[str]
    price: np.ndarray  # float; NaN where unknown
    vectors: np.ndarray  # (n, dim) unit photo embeddings; zero rows where a product has none


def shoppers_from_events(
    products: Products, events: Iterable[Event], *, keys: Collection | None = None
) -> dict[object, Shopper]:
    """Every shopper's history (or only these ``keys``' ones: at ten million events, every shopper's
    is millions of objects) as shopper_load would read it from the database at the time of the
    newest event given: newest first, the newest HISTORY events, and all their purchases."""
    history: dict[object, list[Event]] = defaultdict(list)
    for event in events:
        if event.product_id in products.index and (keys is None or event.shopper in keys):
            history[event.shopper].append(event)
    shoppers = {}
    for key, mine in history.items():
        # Newest first, and among events of the same moment the last logged first, as shopper_load's
        # ORDER BY created_at DESC, pk DESC (the log comes oldest first, in (created_at, pk) order).
        mine.sort(key=lambda event: event.at)
        mine.reverse()
        recent = []
        for event in mine[:HISTORY]:
            row = products.index[event.product_id]
            recent.append(
                ShopperEvent(
                    event.product_id,
                    event.kind,
                    event.at,
                    products.gender[row],
                    products.name[row],
                    products.group[row],
                    products.article_type[row],
                    event.price,
                )  # fmt: skip
            )
        purchased = {event.product_id for event in mine if event.kind == "purchase"}
        shoppers[key] = Shopper(user_id=None, visitor=None, recent=recent, purchased=purchased,
                                newest_event=recent[0].at)  # fmt: skip
    return shoppers


def shoppers_from_log(products: Products, log: LogArrays, numbers: Collection[int]) -> dict[int, Shopper]:
    """These shoppers' histories (by shopper number), as shoppers_from_events builds them from the
    same events (a test checks they are equal): a training builds a fold's labelled shoppers' this way,
    visiting only their events in Python, where ten million Event tuples took 4.6 GB."""
    mine = np.flatnonzero(np.isin(log.shopper, np.fromiter(numbers, dtype=np.int64)))
    if not len(mine):
        return {}
    # Newest first, and among events of the same moment the last logged first (shoppers_from_events).
    mine = mine[np.lexsort((-mine, -log.at_us[mine], log.shopper[mine]))]
    owner = log.shopper[mine]
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    ends = np.r_[starts[1:], len(mine)]
    shoppers = {}
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        recent = mine[start : min(end, start + HISTORY)]
        rows = log.row[recent].tolist()
        events = [
            ShopperEvent(int(products.ids[row]), log.kinds[kind], at, products.gender[row], products.name[row],
                         products.group[row], products.article_type[row], None if price != price else price)
            for row, kind, at, price in zip(rows, log.kind[recent].tolist(), _moments(log, log.at_us[recent]),
                                            log.price[recent].tolist(), strict=True)
        ]  # fmt: skip
        everything = mine[start:end]
        purchased = set(products.ids[log.row[everything[log.purchase[everything]]]].tolist())
        number = int(owner[start])
        shoppers[number] = Shopper(user_id=None, visitor=None, recent=events, purchased=purchased,
                                   newest_event=events[0].at)  # fmt: skip
    return shoppers


def _moments(log: LogArrays, at_us: np.ndarray) -> list[datetime]:
    """``log.moment`` of each value, through numpy's datetimes (a history is up to 200 of them)."""
    naive = at_us.astype("datetime64[us]").tolist()
    if log.tz is None:
        return naive
    return [moment.replace(tzinfo=UTC).astimezone(log.tz) for moment in naive]
