"""The ranker's item table at a large shop's size, in memory only: a synthetic log of --events
purchases with the H&M week's shape (event_scale.synthetic_log: its popularity curve, basket sizes,
days per shopper and repeat share) over --products products, as the columns the table is built from
(recommendations.ranker.history.LogArrays), then the build's wall clock and the process's peak memory.
No database: this is the part of a ranker training, and of the evaluation, that reads the whole log.

    python benchmarks/item_table_scale.py --events 10000000 --products 1000000
"""

import argparse
import os
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storefront.settings.local")


def synthetic_shop(*, events: int, products: int, days: int) -> tuple:
    """(the log as LogArrays, a catalog of ``products`` with types, groups and names, the week's shape)."""
    from event_scale import LAST_DAY, synthetic_log, week_shape

    from recommendations.ranker.history import KINDS, LogArrays
    from recommendations.services.ranker import CatalogRows

    shape = week_shape()
    log = synthetic_log(shape, products, events=events, days=days)
    first = datetime.combine(LAST_DAY, datetime.min.time(), tzinfo=UTC).timestamp() - (days - 1) * 86400
    columns = LogArrays(
        shopper=log["shopper"].astype(np.int64), row=log["product"].astype(np.int64),
        purchase=np.ones(len(log["product"]), dtype=bool),
        at_us=((first + log["day"] * 86400) * 1_000_000).astype(np.int64),
        day=LAST_DAY.toordinal() - (days - 1) + log["day"].astype(np.int64),
        price=log["price"] / 1000.0, tz=UTC, kind=np.full(len(log["product"]), KINDS.index("purchase"), np.int8),
        keys=range(int(log["shopper"].max()) + 1),
    )  # fmt: skip
    n = products
    kinds = np.array([f"type{k}" for k in range(120)])
    colours = np.array(["Black", "White", "Red", "Blue", "Beige", "Grey", "Green", "Pink"])
    ids = np.arange(1, n + 1, dtype=np.int64)
    catalog = CatalogRows(
        ids=ids, index={int(pid): row for row, pid in enumerate(ids.tolist())},
        gender=np.array(["women", "men", "kids", "unisex"])[ids % 4],
        name=[f"{kind} {colour}" for kind, colour in zip(kinds[ids % 120], colours[ids % 8], strict=True)],
        description=[""] * n, group=[f"g{row // 3}" for row in range(n)], article_type=kinds[ids % 120],
        subcategory=kinds[ids % 40], department=kinds[ids % 60], colour=colours[ids % 8],
        price=np.full(n, 19.99, np.float32), vectors=np.zeros((n, 1), np.float32),
    )  # fmt: skip
    return columns, catalog, shape


def arguments(description: str) -> argparse.Namespace:
    """The synthetic shop's size from the command line, Django's settings loaded (no connection)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=28)
    args = parser.parse_args()
    import django

    django.setup()
    return args


def main() -> None:
    args = arguments(__doc__)
    from recommendations.ranker.items import VISUAL_DIM, item_table

    started = time.monotonic()
    columns, products, shape = synthetic_shop(events=args.events, products=args.products, days=args.days)
    n = args.products
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{len(columns):,} purchases by {len(np.unique(columns.shopper)):,} shoppers over {args.days} days, "
        f"{n:,} products (the week's shape: mean basket {shape['mean_basket']}, "
        f"top 1% of articles {shape['top_1pct_share']:.0%} of purchases), made in {time.monotonic() - started:.0f} s; "
        f"the process holds {before:,.0f} MB",
        flush=True,
    )
    started = time.monotonic()
    table = item_table(
        products, columns, visual=np.zeros((n, VISUAL_DIM), np.float32), text=csr_matrix((n, 1), dtype=np.float32)
    )
    seconds = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"item table: {seconds:.0f} s, peak memory {peak:,.0f} MB ({peak - before:,.0f} MB above the log and catalog); "
        f"{int((table.sold_decayed > 0).sum()):,} products sold in its last week, "
        f"{len(table.basket_rows):,} basket partners, {len(table.co_bought_rows):,} co-bought neighbours"
    )


if __name__ == "__main__":
    main()
