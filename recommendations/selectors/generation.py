"""Reads that only change with the ServingGeneration (the active models' ids, the trending list, a
product's stored neighbours), kept in each process per generation value: a page that knows the
generation (the page cache reads it first) skips their queries. Database triggers bump the generation
in the same transaction as any change to those tables (recommendations.models.ServingGeneration), so
a value kept under generation N is never older than N; without a generation (None), the value is
read every time."""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db import connection

T = TypeVar("T")

_memo: dict[str, tuple[int, object]] = {}


def serving_generation() -> int:
    """The ServingGeneration alone (a page without a shopper, such as a category page)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE((SELECT value FROM recommendations_servinggeneration WHERE id = 1), 0)")
        return cursor.fetchone()[0]


@dataclass(frozen=True, slots=True)
class ServingValues:
    """The ServingGeneration and the "shown products" value (migration 0013: it moves, at the
    commit, with any change to a product that a card shows or a hard filter reads, and not with a
    sale that leaves stock above 0). A list that passed the hard filters under both values may be
    kept under them: read first, a change committed after the read moves one of them on."""

    generation: int
    shown: int


def serving_values() -> ServingValues:
    """Both values in one query."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE((SELECT value FROM recommendations_servinggeneration WHERE id = 1), 0),"
            " COALESCE((SELECT value FROM recommendations_servinggeneration WHERE id = 2), 0)"
        )
        return ServingValues(*cursor.fetchone())


def per_generation(name: str, generation: int | None, read: Callable[[], T]) -> T:
    """``read()``, once per generation value in this process. The value is shared: never change it."""
    if generation is None:
        return read()
    held = _memo.get(name)
    if held is not None and held[0] == generation:
        return held[1]  # type: ignore[return-value]
    value = read()
    _memo[name] = (generation, value)
    return value


_memos: list["GenerationMemo"] = []  # forget() clears them


class GenerationMemo(Generic[T]):
    """Values per key (a product id), each read once per generation value in this process and kept
    at most ``max_age_s`` (for what also ages without a write: stored neighbours are recomputed
    after VISUAL_NEIGHBOURS_MAX_AGE_S), the ``maxsize`` most recently used. Shared by the threads of
    the process; values are shared too: never change one."""

    def __init__(self, maxsize: int, max_age_s: float) -> None:
        self._items: OrderedDict[Hashable, tuple[Hashable, float, T]] = OrderedDict()
        self._lock = threading.Lock()
        self._maxsize, self._max_age_s = maxsize, max_age_s
        _memos.append(self)

    def get(self, key: Hashable, generation: Hashable | None, read: Callable[[], T]) -> T:
        """``read()``, or what it gave under this ``generation`` (a value or ServingValues)."""
        if generation is None:
            return read()
        now = time.monotonic()
        with self._lock:
            held = self._items.get(key)
            if held is not None and held[0] == generation and held[1] > now:
                self._items.move_to_end(key)
                return held[2]
        value = read()  # outside the lock: a read may query the database or search the index
        self.put(key, generation, value, max_age_s=self._max_age_s, now=now)
        return value

    def peek(self, key: Hashable, generation: Hashable) -> T | None:
        """What is kept for ``key`` under this ``generation``, or None."""
        with self._lock:
            held = self._items.get(key)
            if held is None or held[0] != generation or held[1] <= time.monotonic():
                return None
            self._items.move_to_end(key)
            return held[2]

    def put(self, key: Hashable, generation: Hashable, value: T, *, max_age_s: float, now: float | None = None) -> None:
        """Keep ``value`` for ``key`` under ``generation`` for ``max_age_s`` from ``now`` (monotonic)."""
        with self._lock:
            self._items[key] = (generation, (time.monotonic() if now is None else now) + max_age_s, value)
            self._items.move_to_end(key)
            while len(self._items) > self._maxsize:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_also_forget: list[Callable[[], None]] = []


def on_forget(clear: Callable[[], None]) -> None:
    """Have forget() call ``clear`` too (a module that keeps values under the serving values)."""
    _also_forget.append(clear)


def forget() -> None:
    """Drop every kept value (the tests roll generations back with their transactions)."""
    _memo.clear()
    for memo in _memos:
        memo.clear()
    for clear in _also_forget:
        clear()
