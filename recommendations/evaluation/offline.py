"""The time-split evaluation of the homepage's strategies on the interaction log."""

import functools
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings

from recommendations.evaluation.clicks import evaluate_after_a_click
from recommendations.evaluation.data import Catalog
from recommendations.evaluation.fitting import fit
from recommendations.evaluation.headroom import candidate_reach, new_shopper_hindsight
from recommendations.evaluation.ranking import (
    because_you_viewed,
    homepage_lists,
    new_arrivals_promotion,
    ranked_candidates,
    ranker_list,
    recommend,
    repurchase_list,
    shopper_seed,
    shopper_sources,
    source_list,
    with_refitted_als,
)
from recommendations.evaluation.scoring import paired_differences, products_of, score_lists
from recommendations.evaluation.search import evaluate_search
from recommendations.evaluation.split import Event, TimeSplit, time_split
from recommendations.evaluation.tuning import tune
from recommendations.ranker.training import RankerFit, ranker_fit

SINGLE = {"popular": {"trending": 1.0}, "visual": {"visual": 1.0}, "als": {"als": 1.0}}
LABELS = {
    "popular": "Most popular (baseline)",
    "visual": "Visual only",
    "als": "ALS only",
    "hybrid": "Hybrid as shipped",
    "hybrid_tuned": "Hybrid, tuned on validation",
    "repurchase": "Repurchase, then popular",
    "repurchase_same": "Repurchase + colours, popular",
    "co_bought": "Also bought (co-purchase)",
    "ranker": "Ranker (LightGBM)",
    "homepage": "Homepage as served",
    "homepage_promoted": "Homepage, promote rule on",
    # Scored by product (H&M's product code) rather than by article: a card stands for a product and shows
    # its colours, so a purchase of any colour of a product on the list is a hit, once (issue 41).
    "repurchase_same_products": "Repurchase + colours, by product",
    "ranker_products": "Ranker, by product",
    "homepage_products": "Homepage as served, by product",
}
# The lists also scored by product (see LABELS).
BY_PRODUCT = ("repurchase_same", "ranker", "homepage")
# Strategies that are whole lists rather than blend weights: the no-model heuristics a sceptic
# would choose (issue 11), and the homepage as served, rows in order.
LIST_STRATEGIES = ("repurchase", "repurchase_same", "co_bought", "ranker", "homepage")


def evaluate_time_split(
    catalog: Catalog, events: list[Event], *, k: int = 12, test_weeks: int = 4, test_days: int | None = None,
    until: datetime | None = None,
    windows: int = 1, validation_windows: int = 5, seed: int = 0, tune_weights: bool = True,
    promote_new_days: int = 0, promote_cards: int = 3, on_step: Callable[[str], None] = lambda _: None,
) -> dict:  # fmt: skip
    """Every strategy's top K for every shopper with held-out purchases, scored; JSON-ready.

    ``windows`` > 1 repeats the split on the ``test_weeks`` before, and before that, and pools
    the shoppers of all windows (a shopper in two windows counts twice): more shoppers, tighter
    intervals. Tuning is then skipped, since one window's validation weeks are another's test weeks.

    ``promote_new_days`` > 0 also scores the homepage with a merchandiser's promote rule on its first
    row (up to ``promote_cards`` of the fold's new arrivals: ranking.new_arrivals_promotion), paired
    with the same homepage without it: what the rule costs in relevance (issue 44).
    """
    first = time_split(events, test_weeks=test_weeks, test_days=test_days, until=until)
    strategies = {**SINGLE, "hybrid": dict(settings.BLEND_WEIGHTS)}
    tuned = None
    validations = earlier_windows(events, first, count=validation_windows) if tune_weights and windows == 1 else []
    if validations:
        on_step(f"Tuning on {len(validations)} earlier windows of the same length, before the cut-off")
        tuned = tune(catalog, validations, k=k, seed=seed, on_step=on_step)
        strategies["hybrid_tuned"] = tuned.weights
    elif tune_weights and windows == 1:
        on_step("No purchases in the weeks before the cut-off: the tuned hybrid is left out")
    names = [*strategies, *LIST_STRATEGIES, *(["homepage_promoted"] if promote_new_days > 0 else [])]
    lists: dict[str, dict] = {name: {} for name in names}
    held_out: dict[tuple, set[int]] = {}
    history: set[tuple] = set()
    described, trained = [], []
    candidates: dict[tuple, dict[int, str]] = {}  # (window, shopper) -> the ranker's candidates -> source
    new_by_window: list[dict] = []  # each window's new shoppers' held-out purchases
    after_a_click: dict = {}  # the first window's one-click and two-click tasks (evaluation.clicks)
    search: dict | None = None  # the first window's searches by type and colour (evaluation.search)
    promotions: list[dict] = []  # each window's promote rule, when asked for
    for window in range(windows):
        split = first if window == 0 else _window_before(events, first, window)
        on_step(f"Window {window + 1}: training before {split.cutoff:%Y-%m-%d}, testing until {split.until:%Y-%m-%d}")
        fitted = fit(catalog, split.train)
        sources = {key: shopper_sources(fitted, key) for key in split.held_out}
        # The learned ranker, trained on this window's training events only (its own validation
        # fold lies before the cut-off too); None where they hold nothing to learn from.
        ranker, ranked, best_sellers = _ranker_for(catalog, split, on_step), {}, None
        if ranker is not None:
            # Its table's best sellers (a shopper once per product and day), as serving's trending.
            best_sellers = [int(ranker.table.ids[row]) for row in ranker.table.popular]
            ranked = {key: ranked_candidates(ranker, fitted, key) for key in split.held_out}
            trained.append({"figures": ranker.figures, "importances": ranker.importances})
        promotion = None
        if promote_new_days > 0:
            promotion = new_arrivals_promotion(split.train, split.cutoff, days=promote_new_days,
                                               max_cards=promote_cards)  # fmt: skip
            promotions.append({"days": promote_new_days, "max_cards": promote_cards,
                               "new_arrivals": len(promotion.rule.matching)})  # fmt: skip
        if window == 0:
            test = [event for event in events if split.cutoff <= event.at <= split.until]
            for revealed, name in ((1, "one"), (2, "two")):
                on_step(f"After a click: baskets of the test days, {revealed} product(s) revealed")
                after_a_click[name] = evaluate_after_a_click(
                    fitted, ranker, test, cutoff=split.cutoff, until=split.until, k=k, seed=seed, revealed=revealed
                )
            search = evaluate_search(fitted, ranker, split.held_out, seed=seed, on_step=on_step)
        per_model = {name: (fitted, sources) for name in strategies}
        if tuned:
            tuned_fit = fit(
                catalog, split.train, als_factors=tuned.als_factors, als_regularization=tuned.als_regularization
            )
            per_model["hybrid_tuned"] = (
                tuned_fit,
                {key: with_refitted_als(sources[key], tuned_fit, key) for key in split.held_out},
            )
        for name, weights in strategies.items():
            model, per_shopper = per_model[name]
            for key in split.held_out:
                lists[name][window, key] = recommend(
                    model, per_shopper[key], weights, k=k, seed=shopper_seed(key, seed)
                )
        for key in split.held_out:
            lists["repurchase"][window, key] = repurchase_list(fitted, sources[key], key, k=k, same_product=False)
            lists["repurchase_same"][window, key] = repurchase_list(fitted, sources[key], key, k=k, same_product=True)
            by_model, pooled = ranked.get(key, ([], []))
            lists["ranker"][window, key] = ranker_list(fitted, sources[key], by_model, k=k, diversify=False,
                                                       popular=best_sellers)  # fmt: skip
            lists["co_bought"][window, key] = source_list(fitted, sources[key], pooled, "also_bought", k=k)
            candidates[window, key] = {c.product_id: c.source for c in pooled}
            served = homepage_lists(
                fitted, sources[key], strategies["hybrid"], key, k=k, seed=shopper_seed(key, seed), ranked=by_model,
                because=functools.partial(because_you_viewed, fitted, sources[key], key, ranker), promotion=promotion,
            )  # fmt: skip
            lists["homepage"][window, key] = served.plain
            if promotion is not None:
                lists["homepage_promoted"][window, key] = served.promoted
        held_out.update({(window, key): items for key, items in split.held_out.items()})
        history.update((window, key) for key in split.held_out if key in fitted.shoppers)
        new_by_window.append({key: items for key, items in split.held_out.items() if key not in fitted.shoppers})
        described.append(_describe(split, fitted, sources))
    category_of = {int(pid): catalog.article_type[i] for i, pid in enumerate(catalog.ids)}
    size = int(catalog.available.sum())
    segments = {
        "all": held_out,
        "with_history": {key: items for key, items in held_out.items() if key in history},  # a stable order
        "new": {key: items for key, items in held_out.items() if key not in history},
    }
    results = {
        segment: {
            name: score_lists(lists[name], held, k=k, category_of=category_of, catalog_size=size) for name in names
        }
        for segment, held in segments.items()
        if held
    }
    product_of, product_type = products_of(catalog)
    by_product = {
        f"{name}_products": {
            key: list(dict.fromkeys(product_of[p] for p in items)) for key, items in lists[name].items()
        }
        for name in BY_PRODUCT
    }
    held_by_product = {
        segment: {key: {product_of[p] for p in items} for key, items in held.items()}
        for segment, held in segments.items()
    }
    for segment, held in held_by_product.items():
        if held:
            for name, chosen in by_product.items():
                results[segment][name] = score_lists(chosen, held, k=k, category_of=product_type,
                                                     catalog_size=len(set(product_of.values())))  # fmt: skip
    return {
        "k": k,
        **described[0],
        "windows": described,
        "shoppers": len(held_out),
        "shoppers_with_history": len(history),
        "held_out_pairs": sum(len(items) for items in held_out.values()),
        "strategies": {
            **{name: {"label": LABELS[name], "weights": weights} for name, weights in strategies.items()},
            **{name: {"label": LABELS[name], "weights": None} for name in LIST_STRATEGIES},
            **({"homepage_promoted": {"label": LABELS["homepage_promoted"], "weights": None}} if promotions else {}),
            **{f"{name}_products": {"label": LABELS[f"{name}_products"], "weights": None} for name in BY_PRODUCT},
        },
        "tuning": vars(tuned) if tuned else None,
        "ranker": trained,
        "after_a_click": after_a_click,
        "search": search,
        "results": results,
        "headroom": {
            "new_hindsight": new_shopper_hindsight(new_by_window, k=k),
            "candidates": candidate_reach(segments["with_history"], candidates, k=k),
        },
        "comparisons": {
            name: paired_differences(lists["hybrid"], lists[name], held_out, k=k, seed=seed)
            for name in names
            if name != "hybrid"
        },
        # What a promote rule for new arrivals costs the homepage, per segment, paired (issue 44).
        "promotion": {
            "rule": promotions[0],
            "vs_homepage": {
                segment: paired_differences(lists["homepage_promoted"], lists["homepage"], held, k=k, seed=seed)
                for segment, held in segments.items()
                if held
            },
        }
        if promotions
        else None,
        # Do the ranker and the homepage as served beat the best no-model heuristic? Per segment, paired.
        "vs_heuristic": {
            name: {
                segment: paired_differences(lists[name], lists["repurchase_same"], held, k=k, seed=seed)
                for segment, held in segments.items()
                if held
            }
            for name in ("ranker", "homepage")
        }
        | {
            "homepage_products": {
                segment: paired_differences(
                    by_product["homepage_products"], by_product["repurchase_same_products"], held, k=k, seed=seed
                )  # fmt: skip
                for segment, held in held_by_product.items()
                if held
            }
        },
    }


def _ranker_for(catalog: Catalog, split: TimeSplit, on_step: Callable[[str], None]) -> RankerFit | None:
    try:
        return ranker_fit(catalog, split.train, on_step=on_step)
    except ValueError as error:
        on_step(f"No ranker for this window: {error}")
        return None


_TICK = timedelta(microseconds=1)


def _window_before(events: list[Event], first: TimeSplit, n: int) -> TimeSplit:
    """The split whose test weeks end where the n-th window before ``first`` ends."""
    if first.test_days:
        span = timedelta(days=first.test_days)
        return time_split(events, test_days=first.test_days, until=first.cutoff - (n - 1) * span - _TICK)
    span = first.until - first.cutoff
    return time_split(events, test_weeks=span.days // 7, until=first.cutoff - (n - 1) * span - _TICK)


def earlier_windows(events: list[Event], first: TimeSplit, *, count: int) -> list[TimeSplit]:
    """Up to ``count`` validation splits, all before the test cut-off; empty ones are dropped."""
    splits = []
    for n in range(1, count + 1):
        try:
            split = _window_before([event for event in events if event.at < first.cutoff], first, n)
        except ValueError:  # no purchases left that far back
            break
        if split.held_out:
            splits.append(split)
    return splits


def _describe(split: TimeSplit, fitted, sources) -> dict:
    return {
        "cutoff": split.cutoff.isoformat(),
        "until": split.until.isoformat(),
        "train_events": len(split.train),
        "window_shoppers": len(split.held_out),
        "reachable": reachability(fitted, split, sources),
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
