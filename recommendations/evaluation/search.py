"""Search ranked for the shopper, against text relevance alone (issue 18).

Task: every held-out purchase of the test window (a shopper and a product). The query is what a
shopper who wants that product might type: its product type and colour ("Trousers Black"). The
search runs as served (catalog.search.text_search, the SEARCH_MAX_MATCHES best text matches among
active products, then the catalog's availability), and the purchased product's reciprocal rank among
the results is scored (0 when it is not among them). Orders compared, on the same matches:
* ``text``: text relevance alone (ties in catalog order);
* ``sales``: text blended with the week's best sellers (a sceptic's baseline: no shopper at all),
  at the same weights;
* ``personal``: text blended with the shopper's own order as served (selectors.search.shopper_scores
  with the fold's ranker, trained before the cut-off), at SEARCH_PERSONAL_WEIGHT and a few others.
Returning shoppers (a history before the cut-off) and new ones are reported apart, with paired
bootstrap intervals on the mean reciprocal rank.
"""

from collections import defaultdict

import numpy as np
from django.conf import settings
from django.db.models import Q

from catalog.search import text_search
from recommendations.evaluation.fitting import Fitted
from recommendations.ranker.training import RankerFit
from recommendations.selectors.search import blend_orders, shopper_scores

WEIGHTS = (0.3, 0.5, 0.7, 0.9, 1.0)


def search_query(catalog, product_id: int) -> str:
    row = catalog.index[product_id]
    return f"{catalog.article_type[row]} {catalog.colour[row]}".strip()


def evaluate_search(
    fitted: Fitted, ranker: RankerFit | None, held_out: dict, *, seed: int = 0, on_step=lambda _: None
) -> dict | None:
    """Mean reciprocal rank of each order per segment, with paired intervals; None without a ranker."""
    if ranker is None:
        return None
    catalog, table = fitted.catalog, ranker.table
    weight = settings.SEARCH_PERSONAL_WEIGHT
    matches: dict[str, tuple[list[int], list[float]]] = {}
    ranks: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    by_shopper: dict[object, list[int]] = {}
    for key in sorted(held_out, key=repr):
        by_shopper[key] = sorted(pid for pid in held_out[key] if pid in catalog.index)
    total = sum(len(items) for items in by_shopper.values())
    on_step(f"Search: {total} test purchases, each searched by its type and colour")
    for key, items in by_shopper.items():
        shopper = fitted.shoppers.get(key)
        segment = "returning" if shopper is not None and shopper.recent else "new"
        for pid in items:
            query = search_query(catalog, pid)
            if query not in matches:
                found = text_search(query, within=Q(is_active=True)).matches
                kept = [m for m in found if catalog.available[catalog.index[m.product_id]]]
                matches[query] = ([m.product_id for m in kept], [m.relevance for m in kept])
            ids, relevance = matches[query]
            line = ranks[segment]
            line["text"].append(_reciprocal_rank(ids, pid))
            if not ids:
                for name in (*(f"sales_{w}" for w in WEIGHTS), *(f"personal_{w}" for w in WEIGHTS)):
                    line[name].append(0.0)
                continue
            sales = np.array([table.sold_decayed[table.index[i]] if i in table.index else 0.0 for i in ids])
            for w in WEIGHTS:
                line[f"sales_{w}"].append(_reciprocal_rank(blend_orders(ids, relevance, sales, w), pid))
            if segment == "returning":
                scores, _ = shopper_scores(shopper, ids, fit=ranker)
            else:
                scores = sales  # serving's order for a shopper without history: what sells
            for w in WEIGHTS:
                line[f"personal_{w}"].append(_reciprocal_rank(blend_orders(ids, relevance, scores, w), pid))
    rng = np.random.default_rng(seed)
    result = {"weight": weight, "weights": list(WEIGHTS), "queries": len(matches), "segments": {}}
    for segment, line in ranks.items():
        personal = np.array(line[f"personal_{weight}"])
        text, sales = np.array(line["text"]), np.array(line[f"sales_{weight}"])
        result["segments"][segment] = {
            "purchases": len(text),
            "found": float(np.mean(text > 0)),
            "mrr": {name: float(np.mean(values)) for name, values in line.items()},
            "personal_vs_text": _paired_ratio(personal, text, rng),
            "personal_vs_sales": _paired_ratio(personal, sales, rng),
        }
    return result


def _reciprocal_rank(ordered: list[int], product_id: int) -> float:
    try:
        return 1.0 / (ordered.index(product_id) + 1)
    except ValueError:
        return 0.0


def _paired_ratio(a: np.ndarray, b: np.ndarray, rng, resamples: int = 2000) -> dict:
    """Mean of a over mean of b, and a minus b, with 95% bootstrap intervals over the same purchases."""
    if not len(a) or not b.mean():
        return {}
    picks = rng.integers(0, len(a), size=(resamples, len(a)))
    ratios = a[picks].mean(axis=1) / np.maximum(b[picks].mean(axis=1), 1e-12)
    differences = (a - b)[picks].mean(axis=1)
    return {
        "ratio": float(a.mean() / b.mean()),
        "ratio_low": float(np.percentile(ratios, 2.5)),
        "ratio_high": float(np.percentile(ratios, 97.5)),
        "difference": float((a - b).mean()),
        "low": float(np.percentile(differences, 2.5)),
        "high": float(np.percentile(differences, 97.5)),
        "better": int((a > b).sum()),
        "worse": int((a < b).sum()),
    }


def search_table(section: dict, segment: str) -> str:
    """One segment as a text table: mean reciprocal rank of each order at each weight, and the
    paired ratio of the served order (SEARCH_PERSONAL_WEIGHT) to text alone and to text + sales."""
    found = section["segments"].get(segment)
    if not found:
        return ""
    mrr, weight = found["mrr"], section["weight"]
    lines = [f"{'weight of the second order':30s} " + " ".join(f"{w:>7}" for w in section["weights"])]
    lines.append(f"{'text + best sellers':30s} " + " ".join(f"{mrr[f'sales_{w}']:7.4f}" for w in section["weights"]))
    lines.append(
        f"{'text + the shopper (served)':30s} " + " ".join(f"{mrr[f'personal_{w}']:7.4f}" for w in section["weights"])
    )
    lines.append(
        f"text relevance alone: MRR {mrr['text']:.4f}; the purchase is among the results for {found['found']:.1%}"
    )
    for name, label in (("personal_vs_text", "text alone"), ("personal_vs_sales", "text + best sellers")):
        r = found[name]
        if r:
            lines.append(
                f"served ({weight}) vs {label}: x{r['ratio']:.2f} [{r['ratio_low']:.2f}, {r['ratio_high']:.2f}], "
                f"MRR {r['difference']:+.4f} [{r['low']:+.4f}, {r['high']:+.4f}]; "
                f"better {r['better']:,}, worse {r['worse']:,}"
            )
    return "\n".join(lines)
