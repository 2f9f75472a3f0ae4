"""The interaction log as the ranker and the evaluation read it, and shoppers rebuilt from it."""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple, Protocol

import numpy as np

from recommendations.domain import Shopper, ShopperEvent

HISTORY = 200  # as shopper_load: serving sees a shopper's newest 200 events


class Event(NamedTuple):
    """One event of the log (a tuple: millions are made and sorted)."""

    shopper: object  # ("user", id) or ("visitor", uuid)
    product_id: int
    kind: str
    at: datetime
    price: float | None = None  # what a purchase cost the shopper, where the log knows it


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


def shoppers_from_events(products: Products, events: Iterable[Event]) -> dict[object, Shopper]:
    """Every shopper's history as shopper_load would read it from the database at the time of the
    newest event given: newest first, the newest HISTORY events, and all their purchases."""
    history: dict[object, list[Event]] = defaultdict(list)
    for event in events:
        if event.product_id in products.index:
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
