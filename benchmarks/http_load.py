"""Personalised pages over HTTP, against a running store (the demo, or gunicorn on any database).

    python benchmarks/http_load.py [--url http://127.0.0.1:8000] [--seconds 30] [--clients 4]

Each client is a visitor who first views 3 products (so the homepage is personalised), then fetches
the homepage and GET /api/v1/recommendations/ in turn until the time is up. Prints requests per
second and p50/p95 per endpoint. Loopback only: it refuses any other host. Run the store with high
API_THROTTLE_ANON, or the API answers 429 (which this script reports as a failure).
"""

import argparse
import http.cookiejar
import json
import random
import statistics
import threading
import time
import urllib.request
from urllib.parse import urlparse

PATHS = ("/", "/api/v1/recommendations/")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    if urlparse(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("Load only a store on this machine (127.0.0.1 or localhost).")
    products = json.loads(urllib.request.urlopen(f"{args.url}/api/v1/products/?page_size=100").read())["results"]
    ids = [product["id"] for product in products]
    latencies: dict[str, list[float]] = {path: [] for path in PATHS}
    lock = threading.Lock()

    def client(seed: int) -> None:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        for product_id in random.Random(seed).sample(ids, 3):
            opener.open(f"{args.url}/products/{product_id}/").read()
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            for path in PATHS:
                started = time.perf_counter()
                with opener.open(args.url + path) as response:
                    response.read()
                with lock:
                    latencies[path].append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(args.clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    for path, values in latencies.items():
        values.sort()
        p95 = values[int(0.95 * (len(values) - 1))]
        print(f"{path:28s} n={len(values):5d}  {len(values) / elapsed:6.1f} req/s  "
              f"p50 {statistics.median(values):6.1f} ms  p95 {p95:6.1f} ms")  # fmt: skip
    total = sum(map(len, latencies.values())) / elapsed
    print(f"{total:.1f} personalised responses a second with {args.clients} clients over {elapsed:.0f} s")


if __name__ == "__main__":
    main()
