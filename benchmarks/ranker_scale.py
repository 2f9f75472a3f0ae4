"""The rankers' training at a large shop's size, in memory only: item_table_scale.py's synthetic
log (the H&M week's shape, --events purchases over --products products) as the columns a training
reads from PostgreSQL (LogArrays), then ``ranker_fit`` (both rankers: two folds, validation, the
after-a-click model and the served item table), with each step's time and the process's peak memory.

    python benchmarks/ranker_scale.py --events 10000000 --products 1000000
"""

import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storefront.settings.local")


def main() -> None:
    from item_table_scale import arguments, synthetic_shop

    args = arguments(__doc__)

    from recommendations.ranker.training import ranker_fit

    started = time.monotonic()

    def step(text: str) -> None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"[{time.monotonic() - started:6.0f} s, peak {peak:,.0f} MB] {text}", flush=True)

    columns, products, _ = synthetic_shop(events=args.events, products=args.products, days=args.days)
    step(f"{len(columns):,} purchases by {len(np.unique(columns.shopper)):,} shoppers as columns (LogArrays)")
    fit_started = time.monotonic()
    fitted = ranker_fit(products, columns, on_step=step)
    seconds = time.monotonic() - fit_started
    figures = fitted.figures
    validation, clicks = figures.get("validation", {}), figures.get("clicks", {})
    step(
        f"ranker_fit: {seconds:.0f} s; {figures['shoppers']:,} labelled shoppers, {figures['rows']:,} rows; "
        f"validation MAP@12 {validation.get('map', float('nan')):.4f}; after a click {clicks.get('tasks', 0):,} baskets"
    )


if __name__ == "__main__":
    main()
