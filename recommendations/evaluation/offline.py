"""The time-split evaluation of the homepage's strategies on the interaction log."""

from collections.abc import Callable
from datetime import datetime

from django.conf import settings

from recommendations.evaluation.data import Catalog
from recommendations.evaluation.fitting import fit
from recommendations.evaluation.ranking import recommend, shopper_seed, shopper_sources
from recommendations.evaluation.scoring import score_lists
from recommendations.evaluation.split import Event, TimeSplit, time_split, validation_split
from recommendations.evaluation.tuning import tune

SINGLE = {"popular": {"trending": 1.0}, "visual": {"visual": 1.0}, "als": {"als": 1.0}}
LABELS = {
    "popular": "Most popular (baseline)",
    "visual": "Visual only",
    "als": "ALS only",
    "hybrid": "Hybrid as shipped",
    "hybrid_tuned": "Hybrid, tuned on validation",
}


def evaluate_time_split(
    catalog: Catalog, events: list[Event], *, k: int = 12, test_weeks: int = 4, until: datetime | None = None,
    seed: int = 0, tune_weights: bool = True, on_step: Callable[[str], None] = lambda _: None,
) -> dict:  # fmt: skip
    """Every strategy's top K for every shopper with held-out purchases, scored; JSON-ready."""
    split = time_split(events, test_weeks=test_weeks, until=until)
    strategies = {**SINGLE, "hybrid": dict(settings.BLEND_WEIGHTS)}
    tuned = None
    als_params = {}
    if tune_weights:
        on_step(f"Tuning on the {test_weeks} weeks before the cut-off")
        tuned = tune(catalog, validation_split(split, weeks=test_weeks), k=k, seed=seed, on_step=on_step)
        strategies["hybrid_tuned"] = tuned.weights
        als_params = {"als_factors": tuned.als_factors, "als_regularization": tuned.als_regularization}
    on_step("Training on everything before the cut-off")
    fitted = fit(catalog, split.train)
    tuned_fit = fit(catalog, split.train, **als_params) if tuned else None
    on_step(f"Recommending for {len(split.held_out):,} shoppers")
    sources = {key: shopper_sources(fitted, key) for key in split.held_out}
    tuned_sources = {key: shopper_sources(tuned_fit, key) for key in split.held_out} if tuned_fit else {}
    lists: dict[str, dict] = {}
    for name, weights in strategies.items():
        model, per_shopper = (tuned_fit, tuned_sources) if name == "hybrid_tuned" else (fitted, sources)
        lists[name] = {
            key: recommend(model, per_shopper[key], weights, k=k, seed=shopper_seed(key, seed))
            for key in split.held_out
        }
    category_of = {int(pid): catalog.article_type[i] for i, pid in enumerate(catalog.ids)}
    with_history = {key: items for key, items in split.held_out.items() if key in fitted.shoppers}
    results = {
        segment: {
            name: score_lists(
                lists[name], held, k=k, category_of=category_of, catalog_size=int(catalog.available.sum())
            )
            for name in strategies
        }
        for segment, held in (("all", split.held_out), ("with_history", with_history))
        if held
    }
    return {
        "k": k,
        "cutoff": split.cutoff.isoformat(),
        "until": split.until.isoformat(),
        "train_events": len(split.train),
        "shoppers": len(split.held_out),
        "shoppers_with_history": len(with_history),
        "held_out_pairs": sum(len(items) for items in split.held_out.values()),
        "reachable": reachability(fitted, split, sources),
        "strategies": {name: {"label": LABELS[name], "weights": weights} for name, weights in strategies.items()},
        "tuning": vars(tuned) if tuned else None,
        "results": results,
    }


def reachability(fitted, split: TimeSplit, sources: dict) -> dict[str, float]:
    """Shares of the held-out (shopper, product) pairs that a strategy could get right at all:
    those passing the hard filters; those ALS knows (someone bought or saw them before the
    cut-off); and repurchases, which the "not purchased" filter rules out, as in the store."""
    pairs = [(key, pid) for key, items in split.held_out.items() for pid in items]
    catalog = fitted.catalog
    known = set(fitted.als.index) if fitted.als else set()
    before = {key: fitted.shoppers[key].purchased if key in fitted.shoppers else set() for key in split.held_out}
    return {
        "passes_filters": sum(bool(sources[key].eligible[catalog.index[pid]]) for key, pid in pairs) / len(pairs),
        "known_to_als": sum(pid in known for _, pid in pairs) / len(pairs),
        "bought_before": sum(pid in before[key] for key, pid in pairs) / len(pairs),
    }
