"""ALS's fit at a large shop's size, in memory: implicit's ``AlternatingLeastSquares.fit`` against
recommendations.factorization (implicit's solver for the long rows, the short rows solved exactly),
on the same matrix, in one run: seconds, their ratio, and both training losses.

The matrix is event_scale.py's synthetic log (--events purchases with the H&M week's shape over
--products products), as services.collaborative builds it: shoppers x products, confidence
1 + ALS_ALPHA * log1p(8 x purchases). No database.

    python benchmarks/als_fit.py --events 10000000 --products 1000000
"""

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storefront.settings.local")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--factors", type=int)
    parser.add_argument("--iterations", type=int)
    parser.add_argument("--skip-implicit", action="store_true", help="time only the store's fit")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from event_scale import synthetic_log, week_shape
    from implicit.cpu import _als
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    from recommendations.factorization import SHORT_ROW, als_factorize
    from recommendations.services.collaborative import confidence

    factors, iterations = args.factors or settings.ALS_FACTORS, args.iterations or settings.ALS_ITERATIONS
    regularization = settings.ALS_REGULARIZATION
    started = time.monotonic()
    log = synthetic_log(week_shape(), args.products, events=args.events, days=args.days)
    shoppers = int(log["shopper"].max()) + 1
    matrix = csr_matrix(
        (np.full(len(log["product"]), settings.RECOMMENDER_KIND_WEIGHTS["purchase"], np.float32),
         (log["shopper"], log["product"])), shape=(shoppers, args.products),
    )  # fmt: skip
    del log
    matrix = matrix[np.diff(matrix.indptr) > 0]  # the log's shoppers; every product stays a column
    matrix.data = confidence(matrix.data).astype(np.float32)
    lengths = np.diff(matrix.indptr)
    print(
        f"{matrix.shape[0]:,} shoppers x {matrix.shape[1]:,} products, {matrix.nnz:,} shopper-product pairs, "
        f"built in {time.monotonic() - started:.0f} s; {np.mean(lengths <= SHORT_ROW):.1%} of the shoppers "
        f"have at most {SHORT_ROW} products. {factors} factors, {iterations} iterations."
    )

    def loss(users: np.ndarray, items: np.ndarray) -> float:
        with threadpool_limits(1, "blas"):
            return float(_als.calculate_loss(matrix, users, items, regularization))

    started = time.monotonic()
    users, items = als_factorize(matrix, factors=factors, iterations=iterations, regularization=regularization)
    ours = time.monotonic() - started
    print(f"recommendations.factorization: {ours:6.1f} s, training loss {loss(users, items):.6e}", flush=True)
    if args.skip_implicit:
        return
    del users, items
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=factors, regularization=regularization, iterations=iterations, alpha=1.0, random_state=42
        )
        started = time.monotonic()
        model.fit(matrix, show_progress=False)
        theirs = time.monotonic() - started
    their_loss = loss(model.user_factors, model.item_factors)
    print(f"implicit's fit:                {theirs:6.1f} s, training loss {their_loss:.6e}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"implicit / ours: {theirs / ours:.2f}x; peak memory of this process {peak:,} MB")


if __name__ == "__main__":
    main()
