import hashlib

from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone

from catalog.locks import products_lock
from catalog.models import Product
from common.iterables import chunked


def demo_stock(external_id: str, out_of_stock_percent: int) -> int:
    """Deterministic stock from a hash of the id: the same products are sold out on every run."""
    digest = int(hashlib.sha256(external_id.encode()).hexdigest()[:8], 16)
    if digest % 100 < out_of_stock_percent:
        return 0
    return 1 + digest // 100 % 40


class Command(BaseCommand):
    help = (
        "Give products a made-up stock level, the same on every run: the datasets have none. Only products "
        "whose stock nobody ever set get one, so stock that staff or shoppers changed is never overwritten. "
        "A share of products is sold out so that the storefront's stock filter has work to do."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out-of-stock-percent", type=int, default=15)

    def handle(self, *args, out_of_stock_percent: int, **options):
        rows = Product.objects.filter(stock_set_at__isnull=True).values_list("pk", "external_id")
        sold_out = stocked = 0
        for chunk in chunked(rows.iterator(chunk_size=5000), 5000):
            stock = {pk: demo_stock(external_id, out_of_stock_percent) for pk, external_id in chunk}
            sold_out += sum(1 for value in stock.values() if value == 0)
            with transaction.atomic():  # imports and staff write these rows too: lock in order
                products_lock(stock)
                # Still unset: staff may have set some while this ran.
                stocked += Product.objects.filter(pk__in=stock, stock_set_at__isnull=True).update(
                    stock_set_at=timezone.now(),
                    stock_quantity=Case(
                        *[When(pk=pk, then=Value(v)) for pk, v in stock.items()], output_field=IntegerField()
                    ),
                )
        kept = Product.objects.count() - stocked
        self.stdout.write(f"Demo stock set on {stocked:,} products ({sold_out:,} sold out); {kept:,} kept their stock.")
