"""The time split: train on everything before a cut-off, test on what each shopper bought after it."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as clock

from recommendations.ranker.history import Event


@dataclass(frozen=True)
class TimeSplit:
    cutoff: datetime
    until: datetime
    train: list[Event]  # everything before the cut-off, whatever its kind
    held_out: dict[object, set[int]]  # shopper -> products purchased in [cutoff, until]
    test_days: int | None = None  # the window in calendar days, when it was asked for in days


def time_split(
    events: list[Event], *, test_weeks: int = 4, test_days: int | None = None, until: datetime | None = None
) -> TimeSplit:
    """Hold out the ``test_weeks`` that end at ``until`` (default: the newest purchase), or the last
    ``test_days`` calendar days up to it (a log of dates: test_days=2 ending 09-20 tests 09-19 and 09-20).

    Only purchases count as held-out ground truth. Nothing at or after the cut-off is in
    ``train``; events after ``until`` are in neither (on the demo database, views made in the
    store today must not move a window that the 2020 H&M purchases define).
    """
    purchases = [event.at for event in events if event.kind == "purchase"]
    if not purchases:
        raise ValueError("The interaction log has no purchases: nothing to hold out.")
    until = until or max(purchases)
    if test_days:
        first_day = until.date() - timedelta(days=test_days - 1)
        cutoff = datetime.combine(first_day, clock.min, tzinfo=until.tzinfo)
    else:
        cutoff = until - timedelta(weeks=test_weeks)
    train = [event for event in events if event.at < cutoff]
    held_out: dict[object, set[int]] = defaultdict(set)
    for event in events:
        if cutoff <= event.at <= until and event.kind == "purchase":
            held_out[event.shopper].add(event.product_id)
    return TimeSplit(cutoff, until, train, dict(held_out), test_days)
