"""Which list earned a view, an add-to-cart or a purchase.

The rule (docs/experiments.md):
* A *recommendation click* is a click whose ``recommendation_id`` names a list that was shown to the
  same shopper (their assignment unit: the visitor, or for a user the first visitor that became
  theirs, so a list seen before signing in counts after it) at or before the click, with that product
  on it.
  Any other click carrying a list id (copied from someone else, made up, on a product the list did not
  hold) earns nothing: no one can inflate another shopper's list, or another arm.
* A view, add-to-cart or purchase of a product is *attributed* to the shopper's last recommendation
  click on that product at or before it, if at most ATTRIBUTION_WINDOW_H hours before (edges included),
  and *influenced* by it if at most ATTRIBUTION_INFLUENCED_DAYS days before. Last click, as Recombee
  and the web analytics tools count: the list the shopper acted on last gets the credit.
* Each event is credited once; a click is credited to its own list (it is the click-through).

Pure functions over typed records, so a known log gives known answers; the loaders read them from the
database for one shopper or one period."""

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from experiments.models import Impression
from experiments.selectors.assignment import units_of
from recommendations.models import Interaction, InteractionKind


@dataclass(frozen=True, slots=True)
class ShownList:
    list_id: str
    shopper: str  # "u<id>" or "v<uuid>": whose impression it was
    shown_at: datetime
    surface: str
    row: str
    arm: str
    product_ids: tuple[int, ...]
    sources: tuple[str, ...]
    experiment_id: int | None = None


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    event: int  # the Interaction's id
    shopper: str
    product_id: int
    kind: str
    at: datetime
    list_id: str = ""  # the recommendation_id it carried (a click from a card)
    price: float | None = None


@dataclass(frozen=True, slots=True)
class Credit:
    event: int
    shopper: str
    kind: str
    product_id: int
    price: float | None
    at: datetime
    list_id: str
    surface: str
    row: str
    arm: str
    position: int  # the card's place in the list, from 0
    source: str  # the candidate source the card came from
    attributed: bool  # within ATTRIBUTION_WINDOW_H; else only influenced (within the longer window)
    experiment_id: int | None = None


def attribute(
    events: list[LoggedEvent], shown: list[ShownList], *, window: timedelta | None = None,
    influenced: timedelta | None = None,
) -> list[Credit]:  # fmt: skip
    """The credits these events earn the lists in ``shown`` (events and lists of any shoppers)."""
    window = window if window is not None else timedelta(hours=settings.ATTRIBUTION_WINDOW_H)
    influenced = influenced if influenced is not None else timedelta(days=settings.ATTRIBUTION_INFLUENCED_DAYS)
    lists: dict[tuple[str, str], list[ShownList]] = defaultdict(list)  # (list id, shopper) -> its renders
    for item in shown:
        lists[(item.list_id, item.shopper)].append(item)
    for renders in lists.values():
        renders.sort(key=lambda item: item.shown_at)

    def shown_before(event: LoggedEvent) -> tuple[ShownList, int] | None:
        """The last render of the click's list to this shopper at or before it that held the product."""
        renders = lists.get((event.list_id, event.shopper), [])
        for item in reversed(renders[: bisect_right([r.shown_at for r in renders], event.at)]):
            if event.product_id in item.product_ids:
                return item, item.product_ids.index(event.product_id)
        return None

    clicks: dict[tuple[str, int], list[tuple[datetime, ShownList, int]]] = defaultdict(list)
    credits = []
    for event in sorted(events, key=lambda e: (e.at, e.event)):
        if event.kind == InteractionKind.CLICK:
            found = shown_before(event) if event.list_id else None
            if found is not None:
                item, position = found
                clicks[(event.shopper, event.product_id)].append((event.at, item, position))
                credits.append(_credit(event, item, position, attributed=True))
            continue
        earlier = clicks.get((event.shopper, event.product_id))
        if not earlier:
            continue
        at, item, position = earlier[-1]  # the last click at or before it (events are in time order)
        if event.at - at <= influenced:
            credits.append(_credit(event, item, position, attributed=event.at - at <= window))
    return credits


def _credit(event: LoggedEvent, item: ShownList, position: int, *, attributed: bool) -> Credit:
    return Credit(event.event, event.shopper, event.kind, event.product_id, event.price, event.at, item.list_id,
                  item.surface, item.row, item.arm, position, item.sources[position], attributed,
                  item.experiment_id)  # fmt: skip


def logged_between(start: datetime, end: datetime) -> tuple[list[LoggedEvent], list[ShownList]]:
    """The events of [start, end) and the impressions that can earn them credit (from the influence
    window before start), from the database. Each shopper is their assignment unit
    (experiments.selectors.assignment.units_of): a list shown to a visitor who then signs in, on that
    browser, is credited for the clicks they make as the user."""
    reach = start - timedelta(days=settings.ATTRIBUTION_INFLUENCED_DAYS)
    event_rows = list(
        Interaction.objects.filter(created_at__gte=reach, created_at__lt=end).values_list(
            "pk", "user_id", "visitor_id", "product_id", "kind", "created_at", "recommendation_id", "price"
        )
    )
    columns = ("list_id", "user_id", "visitor_id", "shown_at", "surface", "row", "arm", "product_ids", "sources",
               "experiment_id")  # fmt: skip
    shown_rows = list(Impression.objects.filter(shown_at__gte=reach, shown_at__lt=end).values_list(*columns))
    users, visitors = units_of(
        user_ids={row[1] for row in event_rows + shown_rows if row[1] is not None},
        visitor_ids={row[2] for row in event_rows + shown_rows if row[1] is None and row[2] is not None},
    )

    def unit(user_id, visitor_id) -> str:
        return users[user_id] if user_id is not None else visitors[str(visitor_id)]

    events = [
        LoggedEvent(pk, unit(user_id, visitor_id), product_id, kind, at, rec.hex if rec else "",
                    float(price) if price is not None else None)
        for pk, user_id, visitor_id, product_id, kind, at, rec, price in event_rows
    ]  # fmt: skip
    shown = [
        ShownList(list_id.hex, unit(user_id, visitor_id), at, surface, row, arm, tuple(ids), tuple(sources), exp)
        for list_id, user_id, visitor_id, at, surface, row, arm, ids, sources, exp in shown_rows
    ]
    return events, shown


def credits_between(start: datetime, end: datetime) -> list[Credit]:
    """The credits earned by the events of [start, end)."""
    events, shown = logged_between(start, end)
    in_period = {e.event for e in events if e.at >= start}
    return [credit for credit in attribute(events, shown) if credit.event in in_period]
