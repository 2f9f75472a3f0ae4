"""Server-side latency of the personalised homepage and the API on the demo's database.

    python benchmarks/latency.py [--requests 300]

Run it after `make demo` has imported the catalog and the purchases (it reads the demo's
database; stop the demo first or let it idle). Each request goes through the whole Django stack
(middleware, the selectors, rendering or serialising) with Django's test client, in turn as a new
visitor, as a visitor with three views and as a signed-in H&M customer. Measured: the homepage,
GET /api/v1/recommendations/ and GET /api/v1/products/<id>/similar/. Prints p50, p95 and max.
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
# Hundreds of requests a minute from one "client": the throttles would answer 429.
os.environ.setdefault("API_THROTTLE_ANON", "1000000/min")
os.environ.setdefault("API_THROTTLE_USER", "1000000/min")
SHOPPERS = ["new visitor", "visitor with 3 views", "H&M customer"]


def report(name: str, values: list[float]) -> None:
    values = sorted(values)
    p50, p95 = statistics.median(values), values[int(0.95 * (len(values) - 1))]
    print(f"{name:48s} n={len(values):4d}  p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  max {values[-1]:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300, help="per endpoint")
    args = parser.parse_args()

    import django

    from storefront.embedded import start_configured

    start_configured()  # the demo's embedded servers, unless DATABASE_URL / REDIS_URL name others
    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from catalog.models import Product

    customers = list(get_user_model().objects.filter(is_staff=False, interaction__isnull=False).distinct()[:100])
    products = list(Product.objects.filter(embedding__status="done").values_list("pk", flat=True)[:5000])
    if not customers or not products:
        sys.exit("Run `make demo` first: the benchmark needs the imported catalog and purchases.")
    rng = random.Random(1)
    endpoints = {
        "homepage /": lambda: "/",
        "API /api/v1/recommendations/": lambda: "/api/v1/recommendations/",
        "API /api/v1/products/<id>/similar/": lambda: f"/api/v1/products/{rng.choice(products)}/similar/",
    }
    warm = Client()
    for _ in range(30):  # load the ALS factors, fill PostgreSQL's buffers and the template cache
        for url in endpoints.values():
            warm.get(url())
    for endpoint, url in endpoints.items():
        timings: dict[str, list[float]] = {kind: [] for kind in SHOPPERS}
        for index in range(args.requests):
            kind = SHOPPERS[index % 3]
            client = Client()
            if kind == "visitor with 3 views":
                for pk in rng.sample(products, 3):
                    client.get(f"/products/{pk}/")
            elif kind == "H&M customer":
                client.force_login(rng.choice(customers))
            client.get(url())  # a first request warms this shopper's session
            target = url()
            started = time.perf_counter()
            response = client.get(target)
            timings[kind].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (target, response.status_code)
        for kind, values in timings.items():
            report(f"{endpoint}, {kind}", values)
        report(f"{endpoint}, all", [t for values in timings.values() for t in values])


if __name__ == "__main__":
    main()
