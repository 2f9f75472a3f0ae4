"""Tuning on the validation split only: the weeks just before the test cut-off play the test.

Two steps, each a small grid judged by MAP@K on the validation weeks: ALS's factors and
regularisation (ALS-only lists), then the blend weights on a simplex grid with that ALS and
with the shipped one; the shipped setting itself is a candidate, so tuning never makes it worse
on the validation weeks.
The test weeks are not an argument here: the validation split is all this module sees.
"""

from collections.abc import Callable
from dataclasses import dataclass
from itertools import product

from django.conf import settings

from recommendations.evaluation.data import Catalog
from recommendations.evaluation.fitting import Fitted, fit
from recommendations.evaluation.ranking import recommend, shopper_seed, shopper_sources
from recommendations.evaluation.scoring import score_lists
from recommendations.evaluation.split import TimeSplit

ALS_GRID = {"factors": (32, 64, 128), "regularization": (0.01, 0.05, 0.5)}
WEIGHT_STEP = 0.1


@dataclass
class Tuned:
    weights: dict[str, float]
    als_factors: int
    als_regularization: float
    validation_map: float  # of the chosen setting, on the validation weeks
    shipped_validation_map: float  # of the shipped setting, same weeks
    tried: int


def tune(
    catalog: Catalog, validation: TimeSplit, *, k: int, seed: int, on_step: Callable[[str], None] = lambda _: None
) -> Tuned:
    def validation_map(fitted: Fitted, weights: dict[str, float], sources) -> float:
        lists = {key: recommend(fitted, sources[key], weights, k=k, seed=shopper_seed(key, seed)) for key in sources}
        scores = score_lists(lists, validation.held_out, k=k, category_of={}, catalog_size=len(catalog))
        return scores["map"]["mean"]

    fits: dict[tuple[int, float], tuple[float, Fitted, dict]] = {}
    for factors, regularization in product(ALS_GRID["factors"], ALS_GRID["regularization"]):
        on_step(f"ALS {factors} factors, regularisation {regularization}")
        fitted = fit(catalog, validation.train, als_factors=factors, als_regularization=regularization)
        sources = {key: shopper_sources(fitted, key) for key in validation.held_out}
        fits[factors, regularization] = (validation_map(fitted, {"als": 1.0}, sources), fitted, sources)
    shipped_params = (settings.ALS_FACTORS, settings.ALS_REGULARIZATION)
    if shipped_params not in fits:
        fitted = fit(catalog, validation.train)
        fits[shipped_params] = (0.0, fitted, {key: shopper_sources(fitted, key) for key in validation.held_out})
    best_params = max(fits, key=lambda params: fits[params][0])
    shipped_map = validation_map(fits[shipped_params][1], settings.BLEND_WEIGHTS, fits[shipped_params][2])
    # The weights are searched with the best ALS and with the shipped one: the ALS that ranks
    # best alone need not blend best. The shipped setting is a candidate too.
    best = (shipped_map, dict(settings.BLEND_WEIGHTS), shipped_params)
    grid = weight_grid(WEIGHT_STEP)
    for params in dict.fromkeys((best_params, shipped_params)):
        on_step(f"{len(grid)} blend weightings with ALS {params[0]} factors, regularisation {params[1]}")
        _, fitted, sources = fits[params]
        for weights in grid:
            score = validation_map(fitted, weights, sources)
            if score > best[0]:
                best = (score, weights, params)
    tried = len(fits) + len(grid) * len({best_params, shipped_params})
    return Tuned(best[1], best[2][0], best[2][1], best[0], shipped_map, tried)


def weight_grid(step: float) -> list[dict[str, float]]:
    """Every (als, visual, trending) weighting on a simplex with this step: 66 for 0.1."""
    steps = round(1 / step)
    return [
        {"als": a / steps, "visual": v / steps, "trending": (steps - a - v) / steps}
        for a in range(steps + 1)
        for v in range(steps + 1 - a)
    ]
