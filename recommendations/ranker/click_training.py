"""Training the after-a-click ranker on basket completions: on each fold's label days, every
shopper-day with two or more distinct products becomes one task (one product revealed, chosen with
a fixed seed; the others of that day are the labels), scored against the candidates of
recommendations.ranker.clicks with features from the fold's item table (events before the fold's
cut-off only). The folds are the learned ranker's (recommendations.ranker.training), so nothing
here reads an event the ranker's training did not, and nothing at or after an evaluation's cut-off.
"""

import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np

from common.iterables import sample_in_order
from common.metrics import average_precision_at_k, recall_at_k
from recommendations.domain import Candidate, Shopper
from recommendations.ranker.clicks import (
    CLICK_FEATURES,
    ClickPool,
    ClickSizes,
    anchor_rows,
    click_pool,
    heuristic_order,
    proposal_arrays,
)
from recommendations.ranker.ensemble import TREES, Ensemble, ensemble_train
from recommendations.ranker.history import LogArrays
from recommendations.ranker.items import ItemTable

K = 12
_NONE = np.zeros(0, dtype=np.int64)
# lambdarank (ensemble.PARAMS otherwise): on the H&M week (basket completions of 09-17..18, tested
# on 09-19..20) it scored MAP@12 0.0898 against 0.0888 for rank_xendcg; revealing three products per
# basket instead of one, tables that leave out only the label day, 31 leaves or leaves of 30 rows
# gained nothing.
OBJECTIVE = "lambdarank"
TASK_SEED = 0
# Basket completions a fold learns from at most: beyond, a sample with a fixed seed (the H&M week
# has about 7,800 a fold, and its click training is most of a ranker training's time).
MAX_FOLD_BASKETS = 10_000


@dataclass(frozen=True)
class BasketTask:
    shopper: object
    day: object  # the calendar day of the basket
    shown: int  # the product revealed (a view)
    truth: frozenset[int]  # the rest of that shopper-day's products


def basket_tasks(log: LogArrays, ids: np.ndarray, start: datetime, end: datetime, *,
                 seed: int = TASK_SEED) -> list[BasketTask]:  # fmt: skip
    """Every shopper-day in [start, end) with two or more distinct purchased products, one revealed;
    ``ids``: the product id of each of the log's rows. Only the window's purchases are visited."""
    window = np.flatnonzero(log.purchase & (log.at_us >= log.us(start)) & (log.at_us < log.us(end)))
    baskets: dict[tuple, dict[int, None]] = defaultdict(dict)
    for shopper, day, row in zip(log.shopper[window].tolist(), log.day[window].tolist(), log.row[window].tolist(),
                                 strict=True):  # fmt: skip
        baskets[shopper, day][int(ids[row])] = None
    keyed = {(log.keys[shopper], date.fromordinal(day)): items for (shopper, day), items in baskets.items()}
    rng = random.Random(seed)
    tasks = []
    for key in sorted(keyed, key=repr):  # a stable order, whatever the log's
        items = list(keyed[key])
        if len(items) >= 2:
            shown = rng.choice(items)
            tasks.append(BasketTask(key[0], key[1], shown, frozenset(items) - {shown}))
    return tasks


def fold_tasks(log: LogArrays, ids: np.ndarray, start: datetime, end: datetime) -> list[BasketTask]:
    """The basket completions a fold learns from: basket_tasks, at most MAX_FOLD_BASKETS of them (a
    sample with a fixed seed, in their order)."""
    return sample_in_order(basket_tasks(log, ids, start, end), MAX_FOLD_BASKETS)


@dataclass
class ClickFold:
    """A fold's basket completions, with what training and validation read of its item table (the
    catalog's ids, the best sellers, the heuristic's lists), so that the table itself can go before
    the next fold's is built (ranker.training._folds)."""

    ids: np.ndarray  # the item table's product id of each row
    popular: list[int]  # the table's best sellers (product ids)
    tasks: list[BasketTask]
    pools: list[ClickPool]
    heuristic: list[list[int]]  # per task, the heuristic's products (click_validation's)

    def matrix(self) -> tuple[np.ndarray, np.ndarray, list[int]]:
        xs, ys, groups = [], [], []
        for task, pool in zip(self.tasks, self.pools, strict=True):
            y = np.isin(self.ids[pool.rows], list(task.truth)).astype(np.float32)
            if y.any():  # a group without a positive teaches a ranking objective nothing
                xs.append(pool.features)
                ys.append(y)
                groups.append(len(y))
        if not xs:
            return np.zeros((0, len(CLICK_FEATURES)), np.float32), np.zeros(0, np.float32), []
        return np.vstack(xs), np.concatenate(ys), groups

    def trainable(self) -> bool:
        """Whether any basket's rest is among its candidates (a ranking objective learns nothing else)."""
        pairs = zip(self.tasks, self.pools, strict=True)
        return any(task.truth & set(self.ids[pool.rows].tolist()) for task, pool in pairs)


def click_fold(table: ItemTable, tasks: list[BasketTask], sizes: ClickSizes) -> ClickFold:
    """The pools of ``tasks`` (fold_tasks) against ``table`` (built from events before their window),
    and the heuristic's list of each, from the same proposals. Each pool keeps its rows and features
    only: the proposals behind them (Python objects, 150 a task, before they were arrays) took 1.5 GB
    on the H&M week."""
    pools, heuristic = [], []
    for task in tasks:
        anchors = [table.index[task.shown]]
        found = proposal_arrays(table, anchors, sizes)
        pool = click_pool(table, anchors, sizes, found=found)
        pools.append(ClickPool(pool.rows, pool.features, _NONE, _NONE))
        heuristic.append(table.ids[found.rows[heuristic_order(found)[0]]].tolist())
    return ClickFold(table.ids, [int(table.ids[row]) for row in table.popular], tasks, pools, heuristic)


@dataclass
class ClickModel:
    """The after-a-click ranker: a LightGBM ensemble over click_pool's features."""

    booster: Ensemble
    sizes: ClickSizes = field(default_factory=ClickSizes)
    figures: dict = field(default_factory=dict)
    importances: dict[str, float] = field(default_factory=dict)

    @property
    def serves(self) -> bool:
        """Whether it beat the heuristic in its validation (click_fit); the heuristic serves otherwise."""
        return bool(self.figures.get("serves", False))

    def rank(self, table: ItemTable, shopper: Shopper) -> list[Candidate]:
        """The candidates of the shopper's newest products, best first by the model, before the
        hard filters (the row applies them); empty when the table knows none of their products."""
        return self.rank_anchors(table, anchor_rows(shopper, table, self.sizes.anchors))

    def rank_anchors(self, table: ItemTable, anchors: list[int]) -> list[Candidate]:
        """The same for item-table rows, newest first (a product page: its product alone)."""
        if not anchors:
            return []
        pool = click_pool(table, anchors, self.sizes)
        if not len(pool.rows):
            return []
        # One thread: a request scores about 150 rows, and thread start-up would cost more.
        return pool.candidates(table, self.booster.predict(pool.features, num_threads=1))


def click_fit(built: list[ClickFold], *, sizes: ClickSizes | None = None) -> ClickModel | None:
    """Train on the basket completions of each fold (click_fold, with ``sizes``), the newest first;
    the first that can be learnt from is the validation fold. None when no fold holds a basket
    whose rest is among its candidates."""
    started = time.monotonic()
    sizes = sizes or ClickSizes()
    trainable = [fold for fold in built if fold.trainable()]
    if not trainable:
        return None
    figures: dict = {"trees": TREES, "sizes": vars(sizes), "tasks": sum(len(f.tasks) for f in built)}
    if len(trainable) > 1:
        figures["validation"] = click_validation(_train(*_stack(trainable[1:])), trainable[0])
    # The model serves only where a model of the older folds beat the heuristic on the newest: on the
    # demo's two years (98 baskets) it scored MAP@12 0.053 against the heuristic's 0.061.
    validation = figures.get("validation")
    figures["serves"] = bool(validation and validation["map"] > validation["heuristic_map"])
    x, y, groups = _stack(trainable)
    booster = _train(x, y, groups)
    gains = booster.feature_gains()
    total = float(gains.sum()) or 1.0
    importances = {name: round(float(g) / total, 4) for name, g in zip(CLICK_FEATURES, gains, strict=True)}
    figures.update(rows=int(len(x)), baskets=len(groups), seconds=round(time.monotonic() - started, 1))
    return ClickModel(booster, sizes, figures, dict(sorted(importances.items(), key=lambda kv: -kv[1])))


def _stack(folds: list[ClickFold]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    parts = [fold.matrix() for fold in folds]
    return np.vstack([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), [g for p in parts for g in p[2]]


def _train(x: np.ndarray, y: np.ndarray, groups: list[int]) -> Ensemble:
    return ensemble_train(x, y, groups, features=CLICK_FEATURES, objective=OBJECTIVE)


def click_validation(booster, fold: ClickFold) -> dict:
    """MAP@12 and recall@12 of the model and of the heuristic on the fold's baskets (no filters)."""
    model_map, model_recall, plain_map, plain_recall = [], [], [], []
    popular = fold.popular
    scored = scored_pools(booster, fold.pools)
    for task, pool, scores, heuristic in zip(fold.tasks, fold.pools, scored, fold.heuristic, strict=True):
        best = fold.ids[pool.rows[np.lexsort((pool.rows, -scores))]].tolist()
        ranked = list(dict.fromkeys(best + popular))[:K]
        plain = list(dict.fromkeys(heuristic + popular))[:K]
        model_map.append(average_precision_at_k(ranked, task.truth, K))
        model_recall.append(recall_at_k(ranked, task.truth, K))
        plain_map.append(average_precision_at_k(plain, task.truth, K))
        plain_recall.append(recall_at_k(plain, task.truth, K))
    return {
        "baskets": len(fold.tasks),
        "map": float(np.mean(model_map)),
        "recall": float(np.mean(model_recall)),
        "heuristic_map": float(np.mean(plain_map)),
        "heuristic_recall": float(np.mean(plain_recall)),
    }


def scored_pools(booster, pools: list) -> list[np.ndarray]:
    """The model's scores of each pool's rows, from one call over all of them (a call per pool cost
    about a millisecond each, 30 s for a fold of 10,000); each row's score is the same either way."""
    sizes = [len(pool.rows) for pool in pools]
    if not sum(sizes):
        return [np.zeros(0) for _ in pools]
    scores = booster.predict(np.vstack([pool.features for pool in pools if len(pool.rows)]))
    return np.split(scores, np.cumsum(sizes)[:-1])


def fold_windows(cutoffs: list[datetime], label_days: int) -> list[tuple[datetime, datetime]]:
    """Each fold's label days, [cutoff, cutoff + label_days)."""
    return [(cutoff, cutoff + timedelta(days=label_days)) for cutoff in cutoffs]
