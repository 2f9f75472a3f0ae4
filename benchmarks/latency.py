"""Server-side latency of the personalised homepage and the API on the demo's database.

    python benchmarks/latency.py [--requests 300]

Run it after `make demo` has imported the catalog and the purchases (it reads the demo's
database; stop the demo first or let it idle). Each request goes through the whole Django stack
(middleware, the selectors, rendering or serialising) with Django's test client, in turn as a new
visitor, as a visitor with three views and as a signed-in H&M customer. Measured: the homepage,
GET /api/v1/recommendations/ and GET /api/v1/products/<id>/similar/. Prints p50, p95 and max.

With --compare-blend, every request is made twice in turn, with the trained ranker serving and with
the fixed blend (RANKER_ENABLED off), and the ratio of their medians and p95s is printed: the
ranker's serving cost, measured in one run on the same shoppers.
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
    parser.add_argument("--compare-blend", action="store_true", help="also serve each request with the blend")
    args = parser.parse_args()

    import django

    from storefront.embedded import start_configured

    start_configured()  # the demo's embedded servers, unless DATABASE_URL / REDIS_URL name others
    django.setup()
    from django.conf import settings
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
    from recommendations.models import RankerModel

    ranker = RankerModel.objects.filter(is_active=True).first()
    print(f"Ranker: {ranker}" if ranker else "No trained ranker: the blend serves.")
    variants = {"ranker": True, "blend": False} if args.compare_blend and ranker else {"": settings.RANKER_ENABLED}
    for endpoint, url in endpoints.items():
        timings: dict[tuple, list[float]] = {(kind, v): [] for kind in SHOPPERS for v in variants}
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
            for variant, enabled in variants.items():
                settings.RANKER_ENABLED = enabled
                started = time.perf_counter()
                response = client.get(target)
                timings[kind, variant].append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (target, response.status_code)
        for variant in variants:
            name = f"{endpoint}{f' [{variant}]' if variant else ''}"
            for kind in SHOPPERS:
                report(f"{name}, {kind}", timings[kind, variant])
            report(f"{name}, all", [t for kind in SHOPPERS for t in timings[kind, variant]])
        if len(variants) == 2:
            both = {v: sorted(t for kind in SHOPPERS for t in timings[kind, v]) for v in variants}
            ratios = [statistics.median(both["ranker"]) / statistics.median(both["blend"]),
                      both["ranker"][int(0.95 * (len(both["ranker"]) - 1))]
                      / both["blend"][int(0.95 * (len(both["blend"]) - 1))]]  # fmt: skip
            print(f"{endpoint}: ranker / blend, p50 {ratios[0]:.2f}x, p95 {ratios[1]:.2f}x")


if __name__ == "__main__":
    main()
