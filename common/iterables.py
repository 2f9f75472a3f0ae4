import random
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import TypeVar

T = TypeVar("T")


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """itertools.batched for Python 3.11: lists of at most ``size`` items."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def read_ahead(items: Iterable[T]) -> Iterator[T]:
    """``items``, each next one computed in a thread while the caller works on the current one: a
    producer of Python work (parsing a file) then overlaps a consumer that mostly waits on a server
    (PostgreSQL inserting the previous chunk), which releases the GIL meanwhile. Exceptions from the
    producer reach the caller in order; a caller that stops early waits for the one item in flight."""
    iterator, done = iter(items), object()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as pool:
        pending = pool.submit(next, iterator, done)
        while (item := pending.result()) is not done:
            pending = pool.submit(next, iterator, done)
            yield item


def sample_in_order(items: list, count: int, *, seed: int = 0) -> list:
    """``count`` of ``items`` drawn with a fixed seed, kept in their order; all of them if no more."""
    if len(items) <= count:
        return items
    return [items[i] for i in sorted(random.Random(seed).sample(range(len(items)), count))]
