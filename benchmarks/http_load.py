"""Personalised pages over HTTP, against a running store (the demo, or gunicorn on any database).

    python benchmarks/http_load.py [--url http://127.0.0.1:8000] [--seconds 30] [--clients 4] [--as-customers]

Each client is a visitor who first views 3 products (so the homepage is personalised), then fetches
the homepage and GET /api/v1/recommendations/ in turn until the time is up. With --as-customers each
client instead signs in through the demo's "browse as an H&M customer" (the demo's settings only) as
one of the listed customers, whose purchase history the learned ranker serves. Prints requests per
second and p50/p95 per endpoint. Loopback only: it refuses any other host. Run the store with high
API_THROTTLE_ANON, or the API answers 429 (which this script reports as a failure).
"""

import argparse
import http.cookiejar
import json
import random
import re
import statistics
import threading
import time
import urllib.parse
import urllib.request
from urllib.parse import urlparse

PATHS = ("/", "/api/v1/recommendations/")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--as-customers", action="store_true", help="sign in as the demo's listed H&M customers")
    args = parser.parse_args()
    if urlparse(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("Load only a store on this machine (127.0.0.1 or localhost).")
    products = json.loads(urllib.request.urlopen(f"{args.url}/api/v1/products/?page_size=100").read())["results"]
    ids = [product["id"] for product in products]
    latencies: dict[str, list[float]] = {path: [] for path in PATHS}
    lock = threading.Lock()

    def client(seed: int) -> None:
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        if args.as_customers:
            _sign_in_as_a_customer(opener, jar, args.url, seed)
        else:
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


def _sign_in_as_a_customer(opener, jar, url: str, seed: int) -> None:
    """The demo's customer list, then its sign-in form (with the CSRF token) for the seed-th customer."""
    page = opener.open(f"{url}/demo/customers/").read().decode()
    actions = re.findall(r'action="(/demo/login/\d+/)"', page)
    if not actions:
        raise SystemExit("No demo customers: run the demo's settings with imported purchases.")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"csrfmiddlewaretoken": token}).encode()
    request = urllib.request.Request(url + actions[seed % len(actions)], data=body, headers={"Referer": url + "/"})
    opener.open(request).read()
    if not any(cookie.name == "sessionid" for cookie in jar):
        raise SystemExit("Signing in as a demo customer failed.")


if __name__ == "__main__":
    main()
