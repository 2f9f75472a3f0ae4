"""Autopilot: an experiment that moves its traffic towards the best arm as results come in.

Each step (after a roll-up: experiments.services.rollup.rollup, every EXPERIMENTS_ROLLUP_EVERY_S) draws
every non-control arm's posterior on the experiment's metric, per shopper (Beta(1 + buyers,
1 + others) for conversion; a normal around the mean with its standard error for revenue per shopper),
and gives each the share of the non-control traffic equal to its probability of being the best of
them: Thompson sampling, batched (randomised probability matching). The control keeps
``control_share`` whatever happens, so the final comparison with it stays unbiased and powered.

Only new shoppers are drawn with the new shares: a shopper keeps their first arm
(experiments.selectors.assignment keeps it in Redis), so no one's page changes under them and the
roll-up's per-shopper outcomes stay in one arm.

Until each arm has AUTOPILOT_MIN_SHOPPERS shoppers the planned shares hold (early posteriors are
noise). The stop rule: once one arm is best among the non-control arms with probability
AUTOPILOT_STOP_P, the experiment is concluded: that arm takes all the non-control traffic, the
control keeps its share, and the shares stop moving. Ending the experiment stays the owner's call."""

from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.utils import timezone

from experiments.models import Experiment, Exposure
from experiments.selectors.results import probability_best

DRAWS = 20_000
LOG_KEPT = 5_000  # steps: over two weeks at one every four minutes


@dataclass(frozen=True, slots=True)
class AutopilotStep:
    shares: dict[str, float]  # percent of new shoppers, per arm key
    best: dict[str, float]  # each non-control arm's probability of being the best of them
    shoppers: dict[str, int]
    concluded: str = ""


def _posterior(values: np.ndarray, metric: str, rng: np.random.Generator) -> np.ndarray:
    if metric == "conversion":
        buyers = float((values > 0).sum())
        return rng.beta(1 + buyers, 1 + len(values) - buyers, DRAWS)
    error = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return rng.normal(values.mean() if len(values) else 0.0, error or 1e-12, DRAWS)


def autopilot_plan(experiment: Experiment, *, seed: int = 0) -> AutopilotStep:
    """The shares the experiment's new shoppers should be drawn with now (pure: writes nothing)."""
    arms = list(experiment.arms.all())
    control = next((arm for arm in arms if arm.is_control), arms[0])
    others = [arm for arm in arms if arm is not control]
    column = "purchases" if experiment.autopilot_metric == "conversion" else "revenue"
    values: dict[str, list[float]] = {arm.key: [] for arm in arms}
    for key, value in Exposure.objects.filter(experiment=experiment).values_list("arm", column):
        values.setdefault(key, []).append(float(value))
    shoppers = {arm.key: len(values[arm.key]) for arm in arms}
    planned = {arm.key: float(arm.share) for arm in arms}
    if experiment.concluded:
        return AutopilotStep(dict(experiment.allocation or planned), {}, shoppers, experiment.concluded)
    if min(shoppers.values()) < settings.AUTOPILOT_MIN_SHOPPERS or not others:
        return AutopilotStep(planned, {}, shoppers)
    rng = np.random.default_rng(seed)
    draws = [_posterior(np.array(values[arm.key]), experiment.autopilot_metric, rng) for arm in others]
    best = dict(zip([arm.key for arm in others], probability_best(draws), strict=True))
    rest = 100.0 - experiment.control_share
    shares = {control.key: float(experiment.control_share)} | {key: rest * p for key, p in best.items()}
    leader, p = max(best.items(), key=lambda item: item[1])
    concluded = ""
    if p >= settings.AUTOPILOT_STOP_P:
        shares = {control.key: float(experiment.control_share)} | {key: rest if key == leader else 0.0 for key in best}
        concluded = (
            f"{leader} is the best of the non-control arms with probability {p:.3f} after "
            f"{sum(shoppers.values()):,} shoppers ({timezone.now():%Y-%m-%d %H:%M} UTC): it takes their traffic."
        )
    return AutopilotStep(shares, best, shoppers, concluded)


def autopilot_step(experiment: Experiment) -> AutopilotStep:
    """Plan and save the new shares (read by every process within EXPERIMENTS_CACHE_S), and log them."""
    step = autopilot_plan(experiment, seed=len(experiment.autopilot_log))
    if not experiment.concluded:
        experiment.allocation = step.shares
        experiment.concluded = step.concluded
        experiment.autopilot_log = [*experiment.autopilot_log[-(LOG_KEPT - 1):], {
            "at": timezone.now().isoformat(), "shoppers": step.shoppers,
            "shares": {key: round(value, 2) for key, value in step.shares.items()},
            "best": {key: round(value, 4) for key, value in step.best.items()},
        }]  # fmt: skip
        experiment.save(update_fields=["allocation", "concluded", "autopilot_log"])
    return step
