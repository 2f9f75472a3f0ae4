"""Server-side latency of the personalised homepage on the demo's database.

    python benchmarks/homepage_latency.py [--requests 300]

Run it after `make demo` has imported the catalog and the purchases (it reads the demo's
database; stop the demo first or let it idle). Each request goes through the whole Django stack
(middleware, the blend, template rendering) with the test client, as a new visitor, as a
visitor with a few views, and as real H&M customers signed in, in turn. Prints p50, p95 and max.
"""

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storefront.settings.local")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from catalog.models import Product

    customers = list(get_user_model().objects.filter(is_staff=False, interaction__isnull=False).distinct()[:100])
    products = list(Product.objects.filter(embedding_status="done").values_list("pk", flat=True)[:2000])
    if not customers or not products:
        sys.exit("Run `make demo` first: the benchmark needs the imported catalog and purchases.")
    rng = random.Random(1)
    clients = {"new visitor": Client, "visitor with 3 views": Client, "H&M customer": Client}
    timings: dict[str, list[float]] = {name: [] for name in clients}
    for index in range(args.requests):
        kind = list(clients)[index % 3]
        client = Client()
        if kind == "visitor with 3 views":
            for pk in rng.sample(products, 3):
                client.get(f"/products/{pk}/")
        elif kind == "H&M customer":
            client.force_login(rng.choice(customers))
        client.get("/")  # a first page warms this shopper's session
        started = time.perf_counter()
        response = client.get("/")
        timings[kind].append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    everything = sorted(t for values in timings.values() for t in values)
    for name, values in [*timings.items(), ("all", everything)]:
        values = sorted(values)
        p95 = values[int(0.95 * (len(values) - 1))]
        p50 = statistics.median(values)
        print(f"{name:22s} n={len(values):4d}  p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  max {values[-1]:6.1f} ms")


if __name__ == "__main__":
    main()
