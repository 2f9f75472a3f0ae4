"""Score top-K lists against held-out purchases: means over shoppers with their standard errors."""

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from common.metrics import (
    average_precision_at_k,
    catalog_coverage,
    hit_rate_at_k,
    intra_list_diversity,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)

if TYPE_CHECKING:
    from recommendations.evaluation.data import Catalog

PER_SHOPPER = {
    "precision": precision_at_k,
    "recall": recall_at_k,
    "map": average_precision_at_k,
    "ndcg": ndcg_at_k,
    "hit_rate": hit_rate_at_k,
}


def score_lists(
    lists: Mapping[object, Sequence[int]], held_out: Mapping[object, set[int]], *, k: int,
    category_of: Mapping[int, str], catalog_size: int,
) -> dict[str, dict[str, float]]:  # fmt: skip
    """{metric: {"mean", "stderr"}} over the shoppers of ``held_out``; a shopper without a list
    scores zero. Coverage is one figure for all lists (its stderr is 0); diversity is the mean
    share of pairs in a list whose categories differ."""
    shoppers = list(held_out)
    if not shoppers:
        raise ValueError("No shopper has held-out purchases.")
    values: dict[str, list[float]] = {name: [] for name in PER_SHOPPER}
    values["diversity"] = []
    for shopper in shoppers:
        recommended = list(lists.get(shopper, ()))
        for name, metric in PER_SHOPPER.items():
            values[name].append(metric(recommended, held_out[shopper], k))
        values["diversity"].append(intra_list_diversity(recommended, category_of, k))
    result = {name: _mean_and_stderr(series) for name, series in values.items()}
    coverage = catalog_coverage((lists.get(shopper, ()) for shopper in shoppers), catalog_size, k)
    result["coverage"] = {"mean": coverage, "stderr": 0.0}
    return result


def _mean_and_stderr(series: list[float]) -> dict[str, float]:
    n = len(series)
    mean = sum(series) / n
    variance = sum((value - mean) ** 2 for value in series) / (n - 1) if n > 1 else 0.0
    return {"mean": mean, "stderr": math.sqrt(variance / n)}


def paired_differences(
    lists_a: Mapping[object, Sequence[int]], lists_b: Mapping[object, Sequence[int]],
    held_out: Mapping[object, set[int]], *, k: int, seed: int = 0, resamples: int = 2000,
) -> dict[str, dict[str, float]]:  # fmt: skip
    """A minus B on recall@K and MAP@K, shopper by shopper, with a 95% bootstrap interval: with a
    few hundred shoppers and hit rates of a few percent, an interval spanning 0 means the data
    cannot tell the two apart."""
    rng = np.random.default_rng(seed)
    shoppers = list(held_out)
    result = {}
    for name in ("recall", "map"):
        metric = PER_SHOPPER[name]
        differences = np.array(
            [metric(lists_a.get(s, ()), held_out[s], k) - metric(lists_b.get(s, ()), held_out[s], k) for s in shoppers]
        )
        means = differences[rng.integers(0, len(differences), size=(resamples, len(differences)))].mean(axis=1)
        low, high = np.percentile(means, [2.5, 97.5])
        result[name] = {
            "difference": float(differences.mean()), "low": float(low), "high": float(high),
            "better": int((differences > 0).sum()), "worse": int((differences < 0).sum()),
        }  # fmt: skip
    return result


def products_of(catalog: "Catalog") -> tuple[dict[int, int], dict[int, str]]:
    """(article id -> a number for its product, product number -> the article type of its first article):
    articles of one product_group share a number; an article without one is a product of its own."""
    numbers: dict[str, int] = {}
    product_of, product_type = {}, {}
    for row, pid in enumerate(catalog.ids.tolist()):
        group = catalog.group[row] or f"#{pid}"
        number = numbers.setdefault(group, len(numbers))
        product_of[int(pid)] = number
        product_type.setdefault(number, catalog.article_type[row])
    return product_of, product_type
