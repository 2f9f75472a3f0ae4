"""The realistic mix's two requests, whole, in one process and without HTTP: visitors who each
alternate a product page (the view is logged) and the homepage, through Django's test client (the
middleware, the view, the queries, the template), so every homepage is computed anew.

    python benchmarks/mix_in_process.py --data .data/hm-week [--pairs 200] [--products 200] [--profile]

Over HTTP on this 2-core machine the load generator shares the cores and the host takes up to a
quarter of them at times (benchmarks/http_load.py prints that share), so two runs of one version
differ by up to 2x. This measures the same work without either: run it for two versions alternately
(a git worktree for the older one: `python <tree>/benchmarks/mix_in_process.py`) and compare medians.
Warms every per-process cache first (models, compiled trees, kept lists, cards), then prints the
mean and median milliseconds of each kind of request; --profile adds cProfile's top functions.
Like benchmarks/http_load.py, it logs its 40 new visitors' views in the data folder's log.
"""

import argparse
import cProfile
import os
import pstats
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VISITORS = 40


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / ".data" / "hm-week"))
    parser.add_argument("--pairs", type=int, default=200, help="product page and homepage pairs timed")
    parser.add_argument("--products", type=int, default=200, help="products that sold, viewed at random")
    parser.add_argument("--profile", action="store_true", help="then the same pairs again under cProfile")
    args = parser.parse_args()
    os.environ["STOREFRONT_DATA_DIR"] = str(Path(args.data).resolve())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storefront.settings.local")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from storefront.embedded import start_configured

    start_configured()  # the data folder's PostgreSQL and Redis, as manage.py starts them
    from django.test import Client

    from catalog.models import Product
    from recommendations.models import Interaction
    from recommendations.selectors.ranked import active_ranker

    sold = Interaction.objects.filter(kind="purchase").values("product_id")[:20_000]
    products = list(
        Product.objects.filter(pk__in=sold, is_active=True, stock_quantity__gt=0)
        .order_by("pk")
        .values_list("pk", flat=True)[: args.products]
    )
    if not products:
        sys.exit("No product that sold and is in stock: import a log first (make evaluate).")
    rng = random.Random(0)
    clients = [Client(HTTP_HOST="localhost") for _ in range(VISITORS)]  # each a visitor with its cookie
    spent: dict[str, list[float]] = {"product page": [], "homepage": []}

    def pairs(count: int) -> None:
        for number in range(count):
            client = clients[number % VISITORS]
            for kind, path in (("product page", f"/products/{rng.choice(products)}/"), ("homepage", "/")):
                started = time.perf_counter()
                response = client.get(path)
                spent[kind].append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    sys.exit(f"{path} answered {response.status_code}")

    pairs(2 * VISITORS)  # warm: models, kept lists, cards
    ranker = active_ranker()
    compiled = getattr(ranker, "compiled", None)  # an older tree has none
    if compiled is not None and not compiled.wait(300):
        print("The ranker's trees were not compiled within 5 minutes; LightGBM scored them.")
    for times in spent.values():
        times.clear()
    pairs(args.pairs)
    for kind, times in spent.items():
        print(f"{kind}: {len(times)} requests, mean {statistics.mean(times):.1f} ms, "
              f"median {statistics.median(times):.1f} ms")  # fmt: skip
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(pairs, args.pairs)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(r"(storefront|recommendations|catalog)/", 40)


if __name__ == "__main__":
    main()
