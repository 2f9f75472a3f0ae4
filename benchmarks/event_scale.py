"""The interaction log at a large shop's size: a synthetic log of --events purchases (10,000,000 by
default) with the H&M week's shape over the 1M-product catalog of catalog_scale.py, then the time and
peak memory of every job that reads the whole log.

    python benchmarks/event_scale.py --events 10000000        (make bench-events)

* The shape, measured on ../shared/data/hm-week (printed with the figures): how many purchases each
  article has (the popularity curve, stretched over the catalog so that its head and tail keep
  their share), how many distinct articles a shopper-day holds (basket sizes), on how many days a
  shopper buys, and the share of purchases of an article the shopper bought on an earlier day.
  Shoppers are added until the log holds --events purchases; their days are spread over --days
  days ending on 2020-09-20. Written as H&M's transactions_train.csv and customers.csv, sorted by day.
* Each job runs as its own process under /usr/bin/time (wall clock, peak resident memory), on the
  catalog's data folder (.data/scale-<products>, built by catalog_scale.py):
  ``import_interactions`` (customers, then purchases, written with COPY), the trending refresh,
  ALS (``train_recommender``), the rankers (``train_ranker``), the evaluation's data load
  (catalog_load, events_load) and one web process with both models loaded.

The JSON goes to benchmarks/results/. A later run reuses the generated files and, with
--skip-import, the imported log.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WEEK = ROOT.parent / "shared" / "data" / "hm-week" / "transactions_train.csv"
LAST_DAY = date(2020, 9, 20)

STEPS = {
    "migrate": ["migrate", "--verbosity", "0"],  # a catalog built by an older version of the code
    # The log and its customers are this folder's own: each run imports them into an empty log.
    "reset": ["shell", "-c", "from django.db import connection; c = connection.cursor(); "
              "c.execute('TRUNCATE recommendations_interaction, recommendations_userfactor, "
              "recommendations_itemfactor, recommendations_collaborativemodel'); "
              "c.execute(\"DELETE FROM auth_user WHERE username ~ '^s[0-9]{8}$'\"); print('log emptied')"],
    "import": ["import_interactions", "{folder}"],
    "trending": ["shell", "-c", "from recommendations.services.trending import trending_refresh; "
                 "print('trending products:', trending_refresh())"],
    "als": ["train_recommender"],
    "ranker": ["train_ranker"],
    "evaluation_load": ["shell", "-c", "from recommendations.evaluation.data import catalog_load, events_load; "
                        "c = catalog_load(); e = events_load(); print(len(c.ids), 'products', len(e), 'events')"],
    "web_process": ["shell", "-c", "from recommendations.selectors.collaborative import serving_model; "
                    "from recommendations.selectors.ranked import active_ranker; "
                    "print('als', serving_model() is not None, 'ranker', active_ranker() is not None)"],
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--products", type=int, default=1_000_000, help="the catalog_scale.py catalog to use")
    parser.add_argument("--data", help="its data folder (default .data/scale-<products>)")
    parser.add_argument("--days", type=int, default=28, help="the days the log spans, ending on 2020-09-20")
    parser.add_argument("--only", default=",".join(STEPS), help=f"steps, of {','.join(STEPS)}")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per step")
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    data = Path(args.data or ROOT / ".data" / f"scale-{args.products}").resolve()
    if not (data / "build.json").exists():
        sys.exit(f"{data} holds no catalog: run  python benchmarks/catalog_scale.py --products {args.products}  first.")
    folder = data / f"events-{args.events}"
    results: dict = {"events": args.events, "products": args.products, "days": args.days}
    shape = week_shape()
    results["shape"] = {key: value for key, value in shape.items() if not isinstance(value, np.ndarray)}
    if not (folder / "transactions_train.csv").exists():
        started = time.monotonic()
        results["generated"] = generate(folder, shape, external_ids(data), events=args.events, days=args.days)
        results["generated"]["seconds"] = round(time.monotonic() - started, 1)
    else:
        print(f"Reusing {folder}", flush=True)
    with open(folder / "transactions_train.csv") as handle:
        rows = sum(1 for _ in handle) - 1
    results["rows"] = rows
    results["steps"] = {}
    for name in args.only.split(","):
        command = [part.replace("{folder}", str(folder)) for part in STEPS[name]]
        results["steps"][name] = step(name, command, data, timeout=args.timeout)
        if name == "import":
            results["steps"][name]["events_per_s"] = round(rows / results["steps"][name]["seconds"])
    _print(results)
    out = (
        ROOT / "benchmarks" / "results" / f"event-scale-{args.events}-{time.strftime('%Y%m%d-%H%M%S')}{args.label}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=str))
    print(f"Figures: {out.relative_to(ROOT)}")


def week_shape() -> dict:
    """The H&M week's popularity curve, basket sizes, days per shopper and repeat share."""
    per_article: Counter = Counter()
    baskets: dict[tuple[str, str], set[str]] = defaultdict(set)
    with open(WEEK, newline="") as handle:
        for row in csv.DictReader(handle):
            per_article[row["article_id"]] += 1
            baskets[row["t_dat"], row["customer_id"]].add(row["article_id"])
    days_of: dict[str, list[str]] = defaultdict(list)
    for day, customer in sorted(baskets):
        days_of[customer].append(day)
    repeats = purchases = 0
    for customer, days in days_of.items():
        before: set[str] = set()
        for day in days:
            bought = baskets[day, customer]
            purchases += len(bought)
            repeats += len(bought & before)
            before |= bought
    sizes = np.array([len(items) for items in baskets.values()])
    return {
        "articles": len(per_article),
        "curve": np.array(sorted(per_article.values(), reverse=True), dtype=np.float64),
        "basket_sizes": np.minimum(sizes, 50),
        "days_per_shopper": np.array([len(days) for days in days_of.values()]),
        "mean_basket": round(float(sizes.mean()), 2),
        "multi_article_days": round(float((sizes > 1).mean()), 3),
        "repeat_share": round(repeats / max(purchases, 1), 4),
        "top_1pct_share": round(
            float(
                np.sort(list(per_article.values()))[::-1][: len(per_article) // 100].sum() / sum(per_article.values())
            ),
            3,
        ),  # fmt: skip
    }


def external_ids(data: Path) -> np.ndarray:
    env = _env(data)
    code = (
        "from catalog.models import Product; "
        "print('\\n'.join('ID ' + e for e in Product.objects.order_by('pk').values_list('external_id', flat=True)))"
    )
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    # Only the marked lines: the shell prints its own banner ("24 objects imported automatically").
    return np.array([line[3:] for line in out.splitlines() if line.startswith("ID ")])


def generate(folder: Path, shape: dict, articles: np.ndarray, *, events: int, days: int) -> dict:
    """transactions_train.csv and customers.csv of about ``events`` purchases with the week's shape."""
    log = synthetic_log(shape, len(articles), events=events, days=days)
    day, owner, items, prices, shoppers = log["day"], log["shopper"], log["product"], log["price"], log["shoppers"]
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "customers.csv", "w") as handle:
        handle.write("customer_id\n")
        handle.writelines(f"s{shopper:08d}\n" for shopper in range(shoppers))
    stamps = [(LAST_DAY - timedelta(days=days - 1 - d)).isoformat() for d in range(days)]
    with open(folder / "transactions_train.csv", "w") as handle:
        handle.write("t_dat,customer_id,article_id,price,sales_channel_id\n")
        for begin in range(0, len(items), 1_000_000):
            chunk = slice(begin, begin + 1_000_000)
            handle.writelines(
                f"{stamps[d]},s{o:08d},{articles[i]},0.0{p},2\n"
                for d, o, i, p in zip(day[chunk].tolist(), owner[chunk].tolist(), items[chunk].tolist(),
                                      prices[chunk].tolist(), strict=True)
            )  # fmt: skip
    print(f"Generated {len(items):,} purchases by {shoppers:,} shoppers over {days} days in {folder}", flush=True)
    return {"purchases": int(len(items)), "shoppers": shoppers, "repeat_chance_on_later_days": log["repeat_chance"]}


def synthetic_log(shape: dict, products: int, *, events: int, days: int) -> dict:
    """About ``events`` purchases with the week's shape over ``products`` products, as columns sorted
    by day: ``day`` (0 to days - 1), ``shopper``, ``product`` (0 to products - 1), ``price`` (cents
    10 to 98), one row per distinct product of a shopper-day; and ``shoppers``, ``repeat_chance``."""
    rng = np.random.default_rng(11)
    articles = np.arange(products)
    # The week's curve over its sold articles, stretched over the catalog: rank r of N gets the
    # count of rank r * (articles sold / N), so the top 1% keeps the top 1%'s share.
    curve = shape["curve"]
    weights = np.interp(np.arange(len(articles)) * (len(curve) / len(articles)), np.arange(len(curve)), curve)
    cumulative = np.cumsum(weights / weights.sum())
    order = rng.permutation(len(articles))  # which product gets which rank
    shoppers = int(events / (shape["mean_basket"] * shape["days_per_shopper"].mean()))
    # Shopper-days: each shopper's number of days as in the week, on random days of the span.
    owner = np.repeat(np.arange(shoppers), rng.choice(shape["days_per_shopper"], size=shoppers))
    day = rng.integers(0, days, size=len(owner))
    by_owner = np.lexsort((day, owner))
    owner, day = owner[by_owner], day[by_owner]
    sizes = rng.choice(shape["basket_sizes"], size=len(owner))
    first_day = np.r_[True, owner[1:] != owner[:-1]]
    first_of = np.maximum.accumulate(np.where(first_day, np.arange(len(owner)), 0))  # the shopper's first day
    start = np.cumsum(sizes) - sizes
    basket = np.repeat(np.arange(len(owner)), sizes)
    items = order[np.searchsorted(cumulative, rng.random(len(basket)))]
    # Repeats: an article bought on a later day is, with the probability that gives the week's share
    # over all purchases, one of the shopper's first day.
    later = ~first_day[basket]
    chance = min(1.0, shape["repeat_share"] / max(float(later.mean()), 1e-9))
    again = later & (rng.random(len(basket)) < chance)
    first = first_of[basket[again]]
    items[again] = items[start[first] + (rng.random(int(again.sum())) * sizes[first]).astype(np.int64)]
    # One row per distinct article of a shopper-day, by day.
    pairs = np.unique(basket.astype(np.int64) * len(articles) + items)
    basket, items = pairs // len(articles), pairs % len(articles)
    by_day = np.argsort(day[basket], kind="stable")
    basket, items = basket[by_day], items[by_day]
    return {
        "day": day[basket], "shopper": owner[basket], "product": items, "price": rng.integers(10, 99, size=len(items)),
        "shoppers": shoppers, "repeat_chance": round(chance, 4),
    }  # fmt: skip


def step(name: str, command: list[str], data: Path, *, timeout: int) -> dict:
    """One job in its own process: wall clock and peak resident memory (GNU time)."""
    print(f"==> {name}: manage.py {' '.join(command)[:80]}", flush=True)
    timing = data / f".time-{name}"
    started = time.monotonic()
    try:
        done = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", str(timing), sys.executable, "manage.py",
                               *command], cwd=ROOT, env=_env(data), timeout=timeout)  # fmt: skip
        status = done.returncode
    except subprocess.TimeoutExpired:
        status = "timeout"
    seconds = round(time.monotonic() - started, 1)
    peak = None
    if timing.exists():
        fields = timing.read_text().split()
        peak = round(int(fields[-1]) / 1024) if fields and fields[-1].isdigit() else None
    print(f"    {name}: {seconds} s, peak {peak} MB, status {status}", flush=True)
    return {"seconds": seconds, "peak_mb": peak, "status": status}


def _env(data: Path) -> dict:
    return {**os.environ, "STOREFRONT_DATA_DIR": str(data), "DJANGO_SETTINGS_MODULE": "storefront.settings.local"}


def _print(results: dict) -> None:
    shape = results["shape"]
    print(f"\nThe H&M week's shape: {shape['articles']:,} articles sold, mean basket {shape['mean_basket']}, "
          f"{shape['multi_article_days']:.0%} of shopper-days with 2+ articles, repeat share "
          f"{shape['repeat_share']:.1%}, top 1% of articles {shape['top_1pct_share']:.0%} of purchases")  # fmt: skip
    print(f"Log: {results['rows']:,} purchases over {results['days']} days, {results['products']:,} products\n")
    print(f"{'job':<18} {'seconds':>9} {'peak MB':>9}  status")
    for name, figures in results["steps"].items():
        extra = f"  ({figures['events_per_s']:,} events/s)" if "events_per_s" in figures else ""
        print(f"{name:<18} {figures['seconds']:>9} {figures['peak_mb'] or '-':>9}  {figures['status']}{extra}")


if __name__ == "__main__":
    main()
