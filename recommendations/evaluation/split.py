"""The time split: train on everything before a cut-off, test on what each shopper bought after it."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class TimeSplit:
    cutoff: datetime
    train: list[tuple[int, int, str, datetime]]  # (shopper, product, kind, time), all before the cut-off
    held_out: dict[int, set[int]]  # shopper -> products purchased at or after the cut-off


def time_split(events: list[tuple[int, int, str, datetime]], *, test_weeks: int = 4) -> TimeSplit:
    """Hold out the last ``test_weeks`` of the log. Only purchases count as held-out ground truth;
    nothing at or after the cut-off is in ``train``, whatever its kind."""
    if not events:
        raise ValueError("The interaction log is empty.")
    cutoff = max(time for *_, time in events) - timedelta(weeks=test_weeks)
    train = [event for event in events if event[3] < cutoff]
    held_out: dict[int, set[int]] = defaultdict(set)
    for shopper, product, kind, time in events:
        if time >= cutoff and kind == "purchase":
            held_out[shopper].add(product)
    return TimeSplit(cutoff, train, dict(held_out))
