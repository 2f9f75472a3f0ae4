"""What a page costs when it is computed, in one process, without HTTP: the homepage of visitors who
have only looked (no page cache: homepage_rows itself) and the product page's lists.

    python benchmarks/computed_pages.py --data .data/hm-week [--rounds 2]

Over HTTP on this 2-core machine one run differs from the next by up to 2x (the load generator
shares the cores, and the machine's speed drifts), which hides a change of a few milliseconds; this
measures the work alone. Run it for two versions of the code alternately (a git worktree for the
older one), several times each, and compare medians. Visitors: those of the data folder whose history
is views alone (benchmarks/http_load.py makes 40); products: 200 that sold. Each round warms every
per-process cache first (models, vectors, "Goes well with"), then times two passes over the visitors
and one over the products, and prints the mean and median in milliseconds.
"""

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / ".data" / "hm-week"))
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    os.environ["STOREFRONT_DATA_DIR"] = str(Path(args.data).resolve())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storefront.settings.local")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from storefront.embedded import start_configured

    start_configured()  # the data folder's PostgreSQL and Redis, as manage.py starts them
    from catalog.models import Product
    from recommendations.models import Interaction, Visitor
    from recommendations.selectors.homepage import homepage_rows
    from recommendations.selectors.product_page import product_page_lists
    from recommendations.selectors.shopper import shopper_load

    lookers = Interaction.objects.filter(user__isnull=True, visitor__isnull=False).exclude(
        visitor__in=Interaction.objects.filter(visitor__isnull=False)
        .exclude(kind__in=("view", "click"))
        .values("visitor")
    )  # (NOT IN over a list holding NULL would keep nobody)
    visitors = list(Visitor.objects.filter(pk__in=lookers.values("visitor_id")[:1000]).order_by("pk")[:40])
    sold = Interaction.objects.filter(kind="purchase").values("product_id")[:5000]
    products = list(Product.objects.filter(pk__in=sold).order_by("pk")[:200])
    if not visitors or not products:
        sys.exit("No visitors with views only, or no product that sold: run benchmarks/http_load.py --data first.")

    def homepages() -> list[float]:
        spent = []
        for visitor in visitors:
            started = time.perf_counter()
            homepage_rows(shopper=shopper_load(user_id=None, visitor=visitor), rng=random.Random(0))
            spent.append((time.perf_counter() - started) * 1000)
        return spent

    def product_pages() -> list[float]:
        spent = []
        for product in products:
            started = time.perf_counter()
            product_page_lists(product=product)
            spent.append((time.perf_counter() - started) * 1000)
        return spent

    for number in range(args.rounds):
        homepages(), product_pages()  # warm
        home, page = homepages() + homepages(), product_pages()
        print(
            f"round {number + 1}: {len(visitors)} visitors' computed homepage mean {statistics.mean(home):.1f} ms, "
            f"median {statistics.median(home):.1f} ms; {len(products)} product pages' lists mean "
            f"{statistics.mean(page):.1f} ms, median {statistics.median(page):.1f} ms"
        )


if __name__ == "__main__":
    main()
