"""An experiment's results, per arm, from its Exposure rows (experiments.services.rollup): never from
the raw impressions.

Per-shopper outcomes are the unit of analysis (a shopper, not an impression, is what was randomised):
* rates (click-through, add-to-cart rate and conversion: shares of shoppers who clicked a
  recommendation, added, bought at least once) with Wilson 95% intervals (scipy.stats.binomtest): per
  shopper, since renders of one shopper's lists are not independent trials;
* revenue per shopper with a t interval, and spend per buyer;
* each arm minus the control with a Welch 95% interval (scipy.stats.ttest_ind on per-shopper outcomes:
  for a 0/1 outcome the difference of proportions, with unpooled variances);
* the probability of being best, by sampling each arm's posterior (Beta(1 + k, 1 + n - k) for a rate,
  a normal around the mean revenue with its standard error), 20,000 draws, fixed seed;
* a sample-ratio-mismatch check: chi-square of the shoppers per arm against the planned shares
  (scipy.stats.chisquare); p < 0.001 is flagged, as Microsoft's and GrowthBook's guides do;
* a planner: shoppers per arm to detect a relative lift in conversion at the control's rate (two-sided
  5%, power 80%, normal approximation)."""

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from experiments.models import Experiment, Exposure
from experiments.selectors.charts import Series

SRM_P = 0.001
DRAWS = 20_000


@dataclass(frozen=True, slots=True)
class Estimate:
    value: float
    low: float
    high: float


@dataclass
class ArmResult:
    key: str
    strategy: str
    share: int
    is_control: bool
    shoppers: int
    impressions: int
    clicks: int
    click_through: Estimate  # the share of shoppers who clicked a recommendation
    add_to_cart_rate: Estimate
    conversion: Estimate
    revenue_per_shopper: Estimate
    spend_per_buyer: float
    attributed_revenue: float
    conversion_vs_control: Estimate | None = None
    revenue_vs_control: Estimate | None = None
    best_conversion: float = 0.0  # probability of being best
    best_revenue: float = 0.0


@dataclass
class ExperimentResults:
    experiment: Experiment
    arms: list[ArmResult] = field(default_factory=list)
    srm_p: float | None = None

    @property
    def mismatch(self) -> bool:
        return self.srm_p is not None and self.srm_p < SRM_P


def wilson(k: int, n: int) -> Estimate:
    if n == 0:
        return Estimate(0.0, 0.0, 0.0)
    interval = stats.binomtest(min(k, n), n).proportion_ci(confidence_level=0.95, method="wilson")
    return Estimate(k / n, interval.low, interval.high)


def mean_interval(values: np.ndarray) -> Estimate:
    if len(values) < 2:
        mean = float(values.mean()) if len(values) else 0.0
        return Estimate(mean, mean, mean)
    if np.all(values == values[0]):
        return Estimate(float(values[0]), float(values[0]), float(values[0]))
    interval = stats.ttest_1samp(values, 0.0).confidence_interval(0.95)
    return Estimate(float(values.mean()), float(interval.low), float(interval.high))


def difference(arm: np.ndarray, control: np.ndarray) -> Estimate | None:
    """arm minus control, Welch 95% interval."""
    if len(arm) < 2 or len(control) < 2:
        return None
    value = float(arm.mean() - control.mean())
    if np.var(arm) == 0 and np.var(control) == 0:
        return Estimate(value, value, value)
    interval = stats.ttest_ind(arm, control, equal_var=False).confidence_interval(0.95)
    return Estimate(value, float(interval.low), float(interval.high))


def sample_ratio_p(observed: list[int], shares: list[int]) -> float | None:
    total = sum(observed)
    if total == 0 or len(observed) < 2:
        return None
    expected = np.array(shares, dtype=float) / sum(shares) * total
    return float(stats.chisquare(observed, expected).pvalue)


def probability_best(samples: list[np.ndarray]) -> list[float]:
    """Each arm's share of draws in which it is the best."""
    if not samples:
        return []
    winners = np.argmax(np.vstack(samples), axis=0)
    return [float(np.mean(winners == index)) for index in range(len(samples))]


def shoppers_needed(base_rate: float, relative_lift: float) -> int | None:
    """Shoppers per arm to detect ``relative_lift`` over ``base_rate`` (two-sided 5%, power 80%)."""
    treated = base_rate * (1 + relative_lift)
    if not 0 < base_rate < 1 or not 0 < treated < 1:
        return None
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    variance = base_rate * (1 - base_rate) + treated * (1 - treated)
    return int(np.ceil(z**2 * variance / (treated - base_rate) ** 2))


def experiment_results(experiment: Experiment) -> ExperimentResults:
    arms = list(experiment.arms.all())
    rows = Exposure.objects.filter(experiment=experiment).values_list(
        "arm", "impressions", "clicks", "add_to_carts", "purchases", "revenue", "attributed_revenue"
    )
    by_arm: dict[str, list] = {arm.key: [] for arm in arms}
    for arm_key, *values in rows:
        by_arm.setdefault(arm_key, []).append(values)
    results = ExperimentResults(experiment)
    outcomes = {}
    for arm in arms:
        data = np.array(by_arm[arm.key], dtype=float).reshape(-1, 6)
        impressions, clicks, carts, purchases, revenue, attributed = data.T
        bought = (purchases > 0).astype(float)
        outcomes[arm.key] = (bought, revenue)
        buyers = int(bought.sum())
        results.arms.append(ArmResult(
            arm.key, arm.strategy, arm.share, arm.is_control, len(data), int(impressions.sum()), int(clicks.sum()),
            wilson(int((clicks > 0).sum()), len(data)), wilson(int((carts > 0).sum()), len(data)),
            wilson(buyers, len(data)), mean_interval(revenue),
            float(revenue.sum() / buyers) if buyers else 0.0, float(attributed.sum()),
        ))  # fmt: skip
    control = next((arm for arm in results.arms if arm.is_control), results.arms[0] if results.arms else None)
    if control is not None:
        for arm in results.arms:
            if arm is not control:
                arm.conversion_vs_control = difference(outcomes[arm.key][0], outcomes[control.key][0])
                arm.revenue_vs_control = difference(outcomes[arm.key][1], outcomes[control.key][1])
    rng = np.random.default_rng(0)
    conversion = [stats.beta.rvs(1 + a.conversion.value * a.shoppers, 1 + (1 - a.conversion.value) * a.shoppers,
                                 size=DRAWS, random_state=rng) for a in results.arms]  # fmt: skip
    revenue = []
    for arm in results.arms:
        values = outcomes[arm.key][1]
        error = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
        revenue.append(rng.normal(values.mean() if len(values) else 0.0, error or 1e-12, DRAWS))
    for arm, best_c, best_r in zip(results.arms, probability_best(conversion), probability_best(revenue), strict=True):
        arm.best_conversion, arm.best_revenue = best_c, best_r
    if not experiment.autopilot:  # an autopilot's shares move on purpose: there is no one plan to test
        results.srm_p = sample_ratio_p([a.shoppers for a in results.arms], [a.share for a in results.arms])
    return results


def daily_conversion(experiment: Experiment) -> list[Series]:
    """Each arm's conversion so far, day by day: the shoppers who entered the experiment up to that day
    and the share of them who bought (what the table says today, as it would have read each day)."""
    per_day: dict[str, dict] = {}
    start = experiment.starts_at
    for arm, first_seen, purchases in Exposure.objects.filter(experiment=experiment).values_list(
        "arm", "first_seen", "purchases"
    ):
        day = max(0, (first_seen - start).days) + 1
        counts = per_day.setdefault(arm, {}).setdefault(day, [0, 0])
        counts[0] += 1
        counts[1] += purchases > 0
    series = []
    for arm in experiment.arms.all():
        shoppers = buyers = 0
        points = []
        for day, (n, k) in sorted(per_day.get(arm.key, {}).items()):
            shoppers, buyers = shoppers + n, buyers + k
            points.append((float(day), buyers / shoppers))
        series.append(Series(arm.key, points))
    return series


def allocation_over_time(experiment: Experiment) -> list[Series]:
    """An autopilot's shares for new shoppers after each step, against the shoppers seen by then."""
    steps = experiment.autopilot_log or []
    return [
        Series(arm.key, [(float(sum(step["shoppers"].values())), step["shares"].get(arm.key, 0.0)) for step in steps])
        for arm in experiment.arms.all()
    ]


def aa_false_positive_rate(outcomes: np.ndarray, *, reassignments: int = 200, seed: int = 0) -> float:
    """The A/A check: ``outcomes`` (one per shopper, all served alike) split at random into two equal
    arms ``reassignments`` times; the share of splits whose Welch 95% interval of the difference
    excludes zero. A sound test calls about 5% of them significant."""
    rng = np.random.default_rng(seed)
    significant = 0
    for _ in range(reassignments):
        in_first = rng.random(len(outcomes)) < 0.5
        interval = difference(outcomes[in_first], outcomes[~in_first])
        significant += interval is not None and (interval.low > 0 or interval.high < 0)
    return significant / reassignments
