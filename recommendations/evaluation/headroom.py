"""How much better any strategy could do on this split: the bounds that say whether a target is
within reach before anyone tunes towards it.

* New shoppers (no history before the cut-off) can only get one list, the same for all of them. In
  hindsight, the test window's own best sellers among them is the best such list (up to the order of
  its ties): its MAP@K is what no non-personal list, learnt or counted, can beat.
* Shoppers with history can only be shown, by the ranker, what its sources propose: the share of
  their held-out purchases among the candidates, per source, says which source to improve, and a
  perfect ranking of the candidates (what they bought first) is the most any ranker of them can score.
"""

from collections import Counter
from collections.abc import Mapping

from common.metrics import average_precision_at_k, recall_at_k


def hindsight_list(held_out: Mapping[object, set[int]], *, k: int) -> list[int]:
    """The K products bought by the most of these shoppers (ties: the smaller id first)."""
    buyers = Counter(product for products in held_out.values() for product in products)
    return [product for product, _ in sorted(buyers.items(), key=lambda item: (-item[1], item[0]))[:k]]


def new_shopper_hindsight(windows: list[Mapping[object, set[int]]], *, k: int) -> dict[str, float] | None:
    """MAP@K and recall@K of each window's hindsight list for its new shoppers, over all of them."""
    maps, recalls = [], []
    for held_out in windows:
        best = hindsight_list(held_out, k=k)
        for products in held_out.values():
            maps.append(average_precision_at_k(best, products, k))
            recalls.append(recall_at_k(best, products, k))
    if not maps:
        return None
    return {"map": sum(maps) / len(maps), "recall": sum(recalls) / len(recalls), "shoppers": len(maps)}


def candidate_reach(
    held_out: Mapping[object, set[int]], candidates: Mapping[object, Mapping[int, str]], *, k: int
) -> dict | None:  # fmt: skip
    """Share of the held-out purchases of the shoppers the ranker scored that were among their
    candidates, overall and by the source that proposed each (``candidates``: shopper -> product ->
    source), and MAP@K and recall@K of a perfect ranking of each shopper's candidates. None when the
    ranker scored nobody."""
    scored = [key for key in held_out if candidates.get(key)]
    pairs = [(key, product) for key in scored for product in held_out[key]]
    if not pairs:
        return None
    perfect = {key: sorted(product for product in held_out[key] if product in candidates[key]) for key in scored}
    by_source: Counter = Counter(
        candidates[key][product] for key, product in pairs if product in candidates[key]
    )  # fmt: skip
    return {
        "shoppers": len(scored),
        "purchases": len(pairs),
        "share": sum(by_source.values()) / len(pairs),
        "by_source": {source: count / len(pairs) for source, count in by_source.most_common()},
        "perfect_ranking": {
            "map": sum(average_precision_at_k(perfect[key], held_out[key], k) for key in scored) / len(scored),
            "recall": sum(recall_at_k(perfect[key], held_out[key], k) for key in scored) / len(scored),
        },
    }
