"""Ranking metrics for top-K recommendation lists against held-out purchases.

Every function takes ``recommended`` (product ids, best first) and ``relevant`` (the set of
products the shopper actually bought in the held-out weeks) for one shopper, and returns a float
in [0, 1]; callers average over shoppers. AP@K follows the H&M competition's MAP@12: the sum of
precision@i at each hit i <= K, divided by min(K, |relevant|).
"""

import math
from collections.abc import Iterable, Sequence


def precision_at_k(recommended: Sequence[int], relevant: set[int], k: int) -> float:
    return sum(1 for item in recommended[:k] if item in relevant) / k


def recall_at_k(recommended: Sequence[int], relevant: set[int], k: int) -> float:
    if not relevant:
        return 0.0
    return sum(1 for item in recommended[:k] if item in relevant) / len(relevant)


def average_precision_at_k(recommended: Sequence[int], relevant: set[int], k: int) -> float:
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for rank, item in enumerate(recommended[:k], start=1):
        if item in relevant:
            hits += 1
            total += hits / rank
    return total / min(k, len(relevant))


def ndcg_at_k(recommended: Sequence[int], relevant: set[int], k: int) -> float:
    dcg = sum(1 / math.log2(rank + 1) for rank, item in enumerate(recommended[:k], start=1) if item in relevant)
    ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(k, len(relevant)) + 1))
    return dcg / ideal if ideal else 0.0


def hit_rate_at_k(recommended: Sequence[int], relevant: set[int], k: int) -> float:
    return 1.0 if any(item in relevant for item in recommended[:k]) else 0.0


def catalog_coverage(lists: Iterable[Sequence[int]], catalog_size: int, k: int) -> float:
    """Share of the catalog recommended to at least one shopper."""
    shown = {item for recommended in lists for item in recommended[:k]}
    return len(shown) / catalog_size if catalog_size else 0.0


def intra_list_diversity(recommended: Sequence[int], category_of: dict[int, str], k: int) -> float:
    """Share of pairs in the top K whose categories differ (0: all alike, 1: all different)."""
    top = [category_of.get(item, "") for item in recommended[:k]]
    pairs = len(top) * (len(top) - 1) / 2
    if not pairs:
        return 0.0
    same = sum(1 for i in range(len(top)) for j in range(i + 1, len(top)) if top[i] == top[j])
    return 1 - same / pairs
