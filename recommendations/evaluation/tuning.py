"""Tuning on validation splits only: windows just before the test cut-off play the test.

With a few hundred shoppers per window, one validation window is mostly noise (on the H&M
subset a single 4-week window picked weights that did worse on the test weeks than the shipped
ones), so the validation windows before the cut-off are pooled, shopper-window by shopper-window.

Two steps, judged by MAP@K over the pooled windows: ALS's factors and regularisation (ALS-only
lists), then the blend weights on a simplex grid with that ALS and with the shipped one. The
shipped setting is itself a candidate, so tuning never does worse than it on validation.
The test weeks are not an argument here: the validation splits are all this module sees.
"""

from collections.abc import Callable
from dataclasses import dataclass
from itertools import product

from django.conf import settings

from recommendations.evaluation.data import Catalog
from recommendations.evaluation.fitting import fit
from recommendations.evaluation.ranking import recommend, shopper_seed, shopper_sources, with_refitted_als
from recommendations.evaluation.scoring import score_lists
from recommendations.evaluation.split import TimeSplit

ALS_GRID = {"factors": (32, 64), "regularization": (0.05, 0.5)}
WEIGHT_STEP = 0.1


@dataclass
class Tuned:
    weights: dict[str, float]
    als_factors: int
    als_regularization: float
    validation_map: float  # of the chosen setting, pooled over the validation windows
    shipped_validation_map: float  # of the shipped setting, same windows
    validation_shoppers: int
    tried: int


def tune(
    catalog: Catalog, validations: list[TimeSplit], *, k: int, seed: int,
    on_step: Callable[[str], None] = lambda _: None,
) -> Tuned:  # fmt: skip
    held_out = {(i, key): items for i, split in enumerate(validations) for key, items in split.held_out.items()}

    def pooled_map(models, weights: dict[str, float]) -> float:
        lists = {
            (i, key): recommend(fitted, sources[key], weights, k=k, seed=shopper_seed(key, seed))
            for i, (fitted, sources) in enumerate(models)
            for key in sources
        }
        return score_lists(lists, held_out, k=k, category_of={}, catalog_size=len(catalog))["map"]["mean"]

    base: list[dict] = []  # per window: the sources of the first fit, reused with every other ALS

    def fit_all(factors: int, regularization: float):
        models = []
        for i, split in enumerate(validations):
            fitted = fit(catalog, split.train, als_factors=factors, als_regularization=regularization)
            if len(base) <= i:
                base.append({key: shopper_sources(fitted, key) for key in split.held_out})
            models.append((fitted, {key: with_refitted_als(base[i][key], fitted, key) for key in split.held_out}))
        return models

    shipped = (settings.ALS_FACTORS, settings.ALS_REGULARIZATION)
    fits, als_maps = {}, {}
    for params in dict.fromkeys([*product(ALS_GRID["factors"], ALS_GRID["regularization"]), shipped]):
        on_step(f"ALS {params[0]} factors, regularisation {params[1]}, on {len(validations)} validation windows")
        fits[params] = fit_all(*params)
        als_maps[params] = pooled_map(fits[params], {"als": 1.0})
    best_als = max(als_maps, key=als_maps.get)
    shipped_map = pooled_map(fits[shipped], settings.BLEND_WEIGHTS)
    best = (shipped_map, dict(settings.BLEND_WEIGHTS), shipped)
    grid = weight_grid(WEIGHT_STEP)
    # The ALS that ranks best alone need not blend best: the weights are searched with both.
    for params in dict.fromkeys((best_als, shipped)):
        on_step(f"{len(grid)} blend weightings with ALS {params[0]} factors, regularisation {params[1]}")
        for weights in grid:
            score = pooled_map(fits[params], weights)
            if score > best[0]:
                best = (score, weights, params)
    tried = len(fits) + len(grid) * len({best_als, shipped})
    return Tuned(best[1], best[2][0], best[2][1], best[0], shipped_map, len(held_out), tried)


def weight_grid(step: float) -> list[dict[str, float]]:
    """Every (als, visual, trending) weighting on a simplex with this step: 66 for 0.1."""
    steps = round(1 / step)
    return [
        {"als": a / steps, "visual": v / steps, "trending": (steps - a - v) / steps}
        for a in range(steps + 1)
        for v in range(steps + 1 - a)
    ]
