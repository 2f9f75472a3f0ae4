"""The store over HTTP under load: the real gunicorn, as the demo runs it, loaded by wrk.

    python benchmarks/http_load.py --data .data/hm-week [--seconds 12] [--connections 1,10,50] [--only home_views,mix]
    python benchmarks/http_load.py --url http://127.0.0.1:8000      # a store that is already running

With --data it starts the data folder's embedded PostgreSQL and Redis and gunicorn as `make demo` does
(3 workers x 3 threads, the demo's settings, API throttles raised so that the load is not refused),
on 127.0.0.1:8765. Then it prepares shoppers over HTTP, as a browser would: 40 visitors who each viewed
4 products, and 40 H&M customers signed in through the demo's customer list (the demo's settings
only). wrk (Debian's package; `make bench-http` installs it) then loads each kind of request at each
number of connections, a Lua script rotating the shoppers' cookies, after --warmup seconds (4) of the
same load unmeasured (each process loads its models and fills its caches, as in a store that has been
running), and the script prints requests/s, p50/p95/p99, errors and the server CPU a request took
(gunicorn, PostgreSQL, Redis: steadier than requests/s here) per cell (JSON of every figure in
benchmarks/results/).

The cells:
- static: a CSS file through WhiteNoise, the ceiling of this setup;
- home_new: the homepage for new visitors (no cookie);
- home_views: the homepage for visitors with 4 views;
- home_customers: the homepage for signed-in customers (the learned ranker serves them);
- api_recommendations: GET /api/v1/recommendations/ for the same customers;
- similar: GET /api/v1/products/{id}/similar/ over 200 products;
- product: the product page over 200 products (each view is logged, as in the store);
- search_visitors, search_customers: the search page for the visitors and the customers, over 200
  queries (a product's type and colour, one in four misspelt);
- category_visitors, category_customers: category pages (a product's category, or its category and
  type, half of them with a colour chosen), each opening with its scoped recommendations;
- mix: the realistic mix: each shopper alternates a product view (logged) and a homepage, so no
  per-shopper cache can serve a page that misses the last view; homepages/s is half of requests/s.

Load goes to this machine only (127.0.0.1 or localhost); wrk stops after --seconds per cell.
"""

import argparse
import http.cookiejar
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
PORT = 8765
# The demo's layout (storefront/management/commands/demo.py): three processes of three threads, and a
# connection per request (gunicorn's --keep-alive 0), so that each request goes to a worker that is
# free to accept it. wrk keeps its connections open, and each stays with the worker that accepted
# it: with gunicorn's default keep-alive the mix's 10 connections were all held by one of the three
# workers (busiest worker 100% of the web's CPU) and it served 48 homepages a second; with a
# connection per request, 105 (docs/benchmarks.md).
WORKERS, THREADS, KEEP_ALIVE = 3, 3, 0
VISITORS = CUSTOMERS = 40
VIEWS_PER_VISITOR = 4

# wrk's Lua: `requests` is a list of {path, cookie} that each thread walks from its own offset; the
# done() hook prints every figure as one JSON line for this script to read.
LUA = r"""
local requests = %(requests)s
local counter = 0
local step = %(step)s

function setup(thread)
  thread:set("offset", math.random(#requests))
end

function request()
  counter = counter + 1
  local item = requests[((offset + counter * step) %% #requests) + 1]
  local headers = {}
  if item[2] ~= "" then headers["Cookie"] = item[2] end
  return wrk.format("GET", item[1], headers)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %%d, "seconds": %%.3f, "p50_ms": %%.2f, "p95_ms": %%.2f, "p99_ms": %%.2f, ' ..
    '"max_ms": %%.2f, "connect_errors": %%d, "read_errors": %%d, "write_errors": %%d, "timeouts": %%d, ' ..
    '"non_2xx": %%d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, errors.connect, errors.read, errors.write,
    errors.timeout, errors.status))
end
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="a data folder to serve (its embedded servers and gunicorn are started)")
    parser.add_argument("--url", help="a running store on this machine instead of --data")
    parser.add_argument("--seconds", type=int, default=12)
    parser.add_argument("--connections", default="1,10,50")
    parser.add_argument("--only", help="comma-separated cells (default: all)")
    parser.add_argument("--label", default="", help="a name for the results file")
    parser.add_argument("--warmup", type=int, default=4, help="seconds of unmeasured load before each cell")
    parser.add_argument(
        "--workers", type=int, default=WORKERS, help=f"gunicorn worker processes (the demo's: {WORKERS})"
    )
    parser.add_argument("--threads", type=int, default=THREADS, help=f"threads per worker (the demo's: {THREADS})")
    parser.add_argument("--warm-passes", type=int, default=6,
                        help="requests of each product page and similar-products answer before the cells")  # fmt: skip
    parser.add_argument("--keep-alive", type=int, default=KEEP_ALIVE,
                        help=f"gunicorn's --keep-alive seconds (the demo's: {KEEP_ALIVE}: none)")  # fmt: skip
    args = parser.parse_args()
    if bool(args.data) == bool(args.url):
        raise SystemExit("Give either --data (start the store) or --url (a running one).")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk (or make bench-http).")
    url = args.url or f"http://127.0.0.1:{PORT}"
    if urlparse(url).hostname not in ("127.0.0.1", "localhost"):
        raise SystemExit("Load only a store on this machine (127.0.0.1 or localhost).")
    server = _start_store(Path(args.data).resolve(), args.workers, args.threads, args.keep_alive) if args.data else None
    try:
        _wait_until_up(url)
        shoppers = _prepare_shoppers(url)
        if server is not None:
            _settle()
        if args.warm_passes:
            _warm(url, shoppers, args.warm_passes)
        results = _run_cells(url, shoppers, args)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=60)
    _print_table(results, [int(c) for c in args.connections.split(",")])
    out = ROOT / "benchmarks" / "results" / f"http-load-{time.strftime('%Y%m%d-%H%M%S')}{args.label}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"Figures: {out.relative_to(ROOT)}")


def _settle(limit_s: float = 180) -> None:
    """Wait until gunicorn's workers are idle: each compiles its rankers' trees in a background thread
    when it loads them (recommendations.selectors.ranked, about 20 s of a core per ranker), and CPU
    spent on that in a cell was counted against its requests (the product page's cell ran at half
    its rate, with 24 ms of CPU a request, with four workers still compiling)."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        before = _web_cpu_s()
        time.sleep(1)
        if _web_cpu_s() - before < 0.05:
            break
    print(f"gunicorn's workers idle after {time.monotonic() - started:.0f} s", flush=True)


def _web_cpu_s() -> float:
    return sum(seconds for kind, seconds in _server_cpu().values() if kind == "web")


def _start_store(
    data: Path, workers: int = WORKERS, threads: int = THREADS, keep_alive: int = KEEP_ALIVE
) -> subprocess.Popen:
    """A `manage.py shell` holds the data folder's embedded servers while gunicorn serves from them."""
    if not (data / "postgres").exists():
        raise SystemExit(f"No database in {data}: run `make demo` or `make evaluate` first.")
    env = {**os.environ, "STOREFRONT_DATA_DIR": str(data), "DJANGO_SETTINGS_MODULE": "storefront.settings.local"}
    holder = f"""
import os, subprocess
from django.conf import settings
env = {{**os.environ, "DATABASE_URL": settings.DATABASE_URL, "REDIS_URL": settings.REDIS_URL,
       "SECRET_KEY": settings.SECRET_KEY, "API_THROTTLE_ANON": "1000000/min", "API_THROTTLE_USER": "1000000/min"}}
gunicorn = subprocess.Popen([{str(Path(sys.executable).parent / "gunicorn")!r}, "storefront.wsgi",
    "--bind", "127.0.0.1:{PORT}", "--workers", "{workers}", "--threads", "{threads}",
    "--keep-alive", "{int(keep_alive)}", "--log-level", "warning"], env=env)
try:
    gunicorn.wait()
finally:
    gunicorn.terminate()
    gunicorn.wait()
"""
    return subprocess.Popen([sys.executable, "manage.py", "shell", "-c", holder], cwd=ROOT, env=env)


def _wait_until_up(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/healthz", timeout=5).status == 200:
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"The store at {url} did not come up.")


def _opener():
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar)), jar


def _cookie_header(jar) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in jar if c.name in ("visitor_id", "sessionid"))


def _warm(url: str, shoppers: dict, passes: int) -> None:
    """Each product page and similar-products answer ``passes`` times, each over a new connection, as
    one visitor of its own. Each gunicorn process keeps what it served (a product page's lists, an
    anchor's after-a-click lists, cards) as a live store's processes have after hours of traffic;
    wrk's short warm-up before a cell reached only some products in each of the three processes,
    and the misses it left (22 to 40 ms each) made the first cell's CPU a request swing from 8 to
    14 ms. With a connection per request, each of three processes gets a given product about once in
    three requests: six passes reach it in each with a probability of 0.91."""
    started = time.monotonic()
    opener, jar = _opener()
    opener.open(f"{url}/").read()
    cookie = _cookie_header(jar)
    paths = [f"/products/{pid}/" for pid in shoppers["products"]] + [
        f"/api/v1/products/{pid}/similar/" for pid in shoppers["products"]
    ]

    def fetch(path: str) -> bool:
        headers = {"Cookie": cookie} if path.startswith("/products/") else {}
        try:
            urllib.request.urlopen(urllib.request.Request(url + path, headers=headers), timeout=30).read()
        except OSError:  # a store given by --url may throttle (429) or stall: warm what answers
            return False
        return True

    with ThreadPoolExecutor(4) as pool:
        answered = sum(pool.map(fetch, paths * passes))
    failed = len(paths) * passes - answered
    print(f"Warmed: {len(paths) * passes:,} requests in {time.monotonic() - started:.0f} s"
          + (f", {failed:,} unanswered" if failed else ""), flush=True)  # fmt: skip


def _prepare_shoppers(url: str) -> dict:
    rng = random.Random(7)
    listing = json.loads(urllib.request.urlopen(f"{url}/api/v1/products/?page_size=100").read())
    found = list(listing["results"])
    while listing["next"] and len(found) < 200:
        listing = json.loads(urllib.request.urlopen(listing["next"]).read())
        found += listing["results"]
    ids = [product["id"] for product in found]
    # What a shopper might type: a product's type and colour, one in four with a letter dropped.
    queries = []
    for n, product in enumerate(found):
        words = f"{product['article_type']} {product['colour']}".split()
        if n % 4 == 3 and len(words[0]) > 4:
            words[0] = words[0][:2] + words[0][3:]
        queries.append(urllib.parse.quote_plus(" ".join(words)))
    visitors = []
    for _ in range(VISITORS):
        opener, jar = _opener()
        for product_id in rng.sample(ids, VIEWS_PER_VISITOR):
            opener.open(f"{url}/products/{product_id}/").read()
        visitors.append(_cookie_header(jar))
    customers = []
    page = urllib.request.urlopen(f"{url}/demo/customers/").read().decode()
    actions = re.findall(r'action="(/demo/login/\d+/)"', page)
    for action in actions[:CUSTOMERS]:
        opener, jar = _opener()
        form = opener.open(f"{url}/demo/customers/").read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        body = urllib.parse.urlencode({"csrfmiddlewaretoken": token}).encode()
        opener.open(urllib.request.Request(url + action, data=body, headers={"Referer": url + "/"})).read()
        customers.append(_cookie_header(jar))
    if not customers:
        print("No demo customers (a store without the demo's settings or purchases): customer cells are skipped.")
    css = re.search(r'href="(/static/[^"]+\.css)"', urllib.request.urlopen(url + "/").read().decode()).group(1)
    # Category pages: each product's category and type, one in two with a colour facet chosen.
    shelves = []
    for n, product in enumerate(found):
        params = {"category": product["category"], "article_type": product["article_type"]}
        if n % 2:
            params["colour"] = product["colour"]
        shelves.append(urllib.parse.urlencode(params if n % 3 else {"category": product["category"]}))
    return {"products": ids, "visitors": visitors, "customers": customers, "css": css, "queries": queries,
            "shelves": shelves}  # fmt: skip


def _cells(shoppers: dict) -> dict[str, tuple[list[tuple[str, str]], int]]:
    """Each cell's requests as (path, cookie), and the step wrk's threads walk them by."""
    products, visitors, customers = shoppers["products"], shoppers["visitors"], shoppers["customers"]
    queries, shelves = shoppers["queries"], shoppers["shelves"]
    mix = []
    for index, cookie in enumerate(visitors * 3):
        mix += [(f"/products/{products[(index * 7) % len(products)]}/", cookie), ("/", cookie)]
    cells = {
        "static": ([(shoppers["css"], "")], 1),
        "home_new": ([("/", "")], 1),
        "home_views": ([("/", cookie) for cookie in visitors], 1),
        "home_customers": ([("/", cookie) for cookie in customers], 1),
        "api_recommendations": ([("/api/v1/recommendations/", cookie) for cookie in customers], 1),
        "similar": ([(f"/api/v1/products/{pid}/similar/", "") for pid in products], 1),
        "product": ([(f"/products/{pid}/", cookie) for pid, cookie in zip(products, visitors * 5, strict=False)], 1),
        "mix": (mix, 1),
        "search_visitors": ([(f"/search/?q={q}", c) for q, c in zip(queries, visitors * 5, strict=False)], 1),
        "search_customers": ([(f"/search/?q={q}", c) for q, c in zip(queries, customers * 5, strict=False)], 1),
        "category_visitors": ([(f"/shop/?{q}", c) for q, c in zip(shelves, visitors * 5, strict=False)], 1),
        "category_customers": ([(f"/shop/?{q}", c) for q, c in zip(shelves, customers * 5, strict=False)], 1),
    }
    return {name: cell for name, cell in cells.items() if cell[0]}


def _run_cells(url: str, shoppers: dict, args) -> dict:
    cells = _cells(shoppers)
    wanted = args.only.split(",") if args.only else list(cells)
    results: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in wanted:
            if name not in cells:
                continue
            requests, step = cells[name]
            script = Path(folder) / f"{name}.lua"
            lua_list = "{" + ",".join(f"{{{json.dumps(path)},{json.dumps(cookie)}}}" for path, cookie in requests) + "}"
            script.write_text(LUA % {"requests": lua_list, "step": step})
            if args.warmup > 0:  # each process loads its models and fills its caches first, as a live store has
                subprocess.run(["wrk", "-t2", "-c10", f"-d{args.warmup}s", "--timeout", "10s", "-s", str(script), url],
                               capture_output=True, timeout=args.warmup + 60)  # fmt: skip
            for connections in [int(c) for c in args.connections.split(",")]:
                threads = min(2, connections)
                command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{args.seconds}s", "--timeout", "10s",
                           "-s", str(script), url]  # fmt: skip
                cpu_before, ticks_before = _server_cpu(), _cpu_ticks()
                output = subprocess.run(command, capture_output=True, text=True, timeout=args.seconds + 60).stdout
                cpu_after, ticks_after = _server_cpu(), _cpu_ticks()
                line = next((line for line in output.splitlines() if line.startswith("WRK_JSON ")), None)
                if line is None:
                    raise SystemExit(f"wrk said:\n{output}")
                figures = json.loads(line.removeprefix("WRK_JSON "))
                figures["rps"] = figures["requests"] / figures["seconds"]
                figures["errors"] = sum(
                    figures[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts", "non_2xx")
                )
                served = max(figures["requests"], 1)
                spent = _cpu_spent(cpu_before, cpu_after)
                figures["busiest_worker_share"] = _busiest_worker_share(cpu_before, cpu_after)
                figures["cpu_ms"] = {kind: seconds * 1000 / served for kind, seconds in spent.items()}
                elapsed = [after - before for before, after in zip(ticks_before, ticks_after, strict=True)]
                figures["steal_share"] = elapsed[7] / max(sum(elapsed), 1)  # the machine's host took it
                results.setdefault(name, {})[str(connections)] = figures
                cpu = figures["cpu_ms"]
                print(f"{name:20s} {connections:3d} conn: {figures['rps']:8.1f} req/s  p50 {figures['p50_ms']:7.1f} "
                      f"p95 {figures['p95_ms']:7.1f} p99 {figures['p99_ms']:7.1f} ms  errors {figures['errors']}  "
                      f"CPU a request: web {cpu['web']:.1f}, PostgreSQL {cpu['postgres']:.1f}, "
                      f"Redis {cpu['redis']:.1f} ms; busiest worker {figures['busiest_worker_share']:.0%}; "
                      f"stolen by the host {figures['steal_share']:.0%}",
                      flush=True)  # fmt: skip
    return results


def _server_cpu() -> dict[int, tuple[str, float]]:
    """pid -> (kind, CPU seconds so far) of this machine's gunicorn, PostgreSQL and Redis processes
    (user and system, from /proc). What they spend over a cell, per request, is what a request costs
    the server: steadier than requests/s on a machine whose speed drifts and whose cores the load
    generator shares."""
    ticks = os.sysconf("SC_CLK_TCK")
    spent = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:  # exited meanwhile
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()  # from stat(5)'s third field, the state
        seconds = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        if "gunicorn" in command and "storefront.wsgi" in command:
            spent[int(entry.name)] = ("web", seconds)
        elif name == "postgres" or command.startswith("postgres"):
            spent[int(entry.name)] = ("postgres", seconds)
        elif "redis-server" in name or "redis-server" in command:
            spent[int(entry.name)] = ("redis", seconds)
    return spent


def _cpu_ticks() -> list[int]:
    """This machine's CPU time so far by state (user, nice, system, idle, iowait, irq, softirq,
    steal, ...: /proc/stat's first line). On a virtual machine "steal" is time its host gave another
    guest: a cell with much of it ran on a slower machine than one without."""
    return [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]


def _cpu_spent(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds by kind between two _server_cpu readings: each process's growth, a process started
    in between counted whole. A process that exited in between (a PostgreSQL backend whose connection
    reached CONN_MAX_AGE) took its share with it: a lower bound, by little."""
    spent = {"web": 0.0, "postgres": 0.0, "redis": 0.0}
    for pid, (kind, seconds) in after.items():
        earlier = before.get(pid)
        spent[kind] += seconds - (earlier[1] if earlier is not None and earlier[0] == kind else 0.0)
    return spent


def _busiest_worker_share(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> float:
    """The busiest gunicorn process's share of the web's CPU over a cell. wrk keeps its connections
    open, and each stays with the worker that accepted it: with 10 connections over 3 workers, one
    worker may hold 5 and be bound by its GIL while the others idle (a third each is even)."""
    grown = [seconds - before[pid][1] for pid, (kind, seconds) in after.items() if kind == "web" and pid in before]
    return max(grown) / sum(grown) if grown and sum(grown) > 0 else 0.0


def _print_table(results: dict, connections: list[int]) -> None:
    print()
    print("| Request | " + " | ".join(f"{c} connection{'s' if c > 1 else ''}" for c in connections) + " |")
    print("|---|" + "---|" * len(connections))
    for name, by_connections in results.items():
        cells = []
        for c in connections:
            f = by_connections.get(str(c))
            if f is None:
                cells.append("")
                continue
            text = f"{f['rps']:,.0f} req/s, p50 {f['p50_ms']:.0f} / p95 {f['p95_ms']:.0f} / p99 {f['p99_ms']:.0f} ms"
            cells.append(text + (f", {f['errors']} errors" if f["errors"] else ""))
        print(f"| {name} | " + " | ".join(cells) + " |")
    home = results.get("home_views", {}).get("10")
    static = results.get("static", {}).get("10")
    if home and static:
        print(f"\nAt 10 connections the personalised homepage serves {home['rps'] / static['rps']:.3f} of the "
              f"static ceiling ({home['rps']:.0f} against {static['rps']:.0f} req/s).")  # fmt: skip
    mix = results.get("mix", {}).get("10")
    if mix:
        print(f"Realistic mix at 10 connections: {mix['rps'] / 2:.0f} homepages/s (and as many logged views).")
    print("\nServer CPU a request (ms; gunicorn's workers, PostgreSQL, Redis), by cell and connections:")
    for name, by_connections in results.items():
        parts = [f"{c}: {f['cpu_ms']['web']:.1f} + {f['cpu_ms']['postgres']:.1f} + {f['cpu_ms']['redis']:.1f}"
                 for c, f in by_connections.items()]  # fmt: skip
        print(f"  {name}: " + "; ".join(parts))
    stolen = [f["steal_share"] for by_connections in results.values() for f in by_connections.values()]
    if stolen:
        print(f"The host took {min(stolen):.0%} to {max(stolen):.0%} of this machine's CPU time during the cells.")


if __name__ == "__main__":
    main()
