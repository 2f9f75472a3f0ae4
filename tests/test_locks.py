"""Multi-row writers of products lock rows in id order first, so they cannot deadlock."""

import threading
import time

import pytest
from django.db import OperationalError, connection, transaction
from django.db.models import F

from catalog.locks import products_lock
from catalog.models import Product
from tests.factories import ProductFactory


def _race(ids: list[int], *, lock_first: bool) -> list[Exception]:
    """Two transactions update the same two rows in opposite orders, overlapping in time."""
    errors: list[Exception] = []
    # Without the lock, both first updates happen before either second one: a certain deadlock.
    # With it, the second writer waits in products_lock, so it must not wait for the first here.
    both_started = threading.Barrier(2, timeout=10)

    def writer(order: list[int]) -> None:
        try:
            with transaction.atomic():
                if lock_first:
                    products_lock(order)
                for step, product_id in enumerate(order):
                    Product.objects.filter(pk=product_id).update(stock_quantity=F("stock_quantity") + 1)
                    if step == 0 and not lock_first:
                        both_started.wait()
                    time.sleep(0.2)
        except OperationalError as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(order,)) for order in (ids, ids[::-1])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


@pytest.mark.django_db(transaction=True)
def test_opposite_orders_deadlock_without_the_lock_and_never_with_it():
    ids = [product.pk for product in ProductFactory.create_batch(2, stock_quantity=0)]
    errors = _race(ids, lock_first=False)
    assert len(errors) == 1 and "deadlock detected" in str(errors[0])  # the failure is real
    Product.objects.update(stock_quantity=0)
    assert _race(ids, lock_first=True) == []
    assert list(Product.objects.order_by("pk").values_list("stock_quantity", flat=True)) == [2, 2]
