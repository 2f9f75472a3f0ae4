"""Reads that only change with the ServingGeneration (the active models' ids, the trending list),
kept in each process per generation value: a page that knows the generation (the page cache reads it
first) skips their queries. Database triggers bump the generation in the same transaction as any
change to those tables (recommendations.models.ServingGeneration), so a value kept under generation
N is never older than N; without a generation (None), the value is read every time."""

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_memo: dict[str, tuple[int, object]] = {}


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


def forget() -> None:
    """Drop every kept value (the tests roll generations back with their transactions)."""
    _memo.clear()
