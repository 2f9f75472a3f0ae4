"""Row locks taken in one global order, so that concurrent multi-row writes cannot deadlock."""

from collections.abc import Iterable

from catalog.models import Product


def products_lock(ids: Iterable[int]) -> None:
    """Lock these products' rows in id order until the current transaction ends (call it inside one).

    A multi-row UPDATE locks rows in whatever order its plan visits them, so two of them over
    overlapping rows can each hold a row the other waits for, and PostgreSQL kills one with
    "deadlock detected": seen in the demo, when set_demo_stock ran while the embedding workers
    stored vectors. Every multi-row writer of products locks first, in id order; no cycle can form.
    FOR NO KEY UPDATE (what an UPDATE that keeps the id takes), not FOR UPDATE: the key-share locks
    that foreign-key checks take at commit, in any order (an embedding or an event pointing at the
    product), do not conflict with it, so they cannot close a cycle with these writers either.
    """
    list(
        Product.objects.filter(pk__in=sorted(set(ids)))
        .order_by("pk")
        .select_for_update(no_key=True)
        .values_list("pk", flat=True)
    )
