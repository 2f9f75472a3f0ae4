"""Training the ranker on the log: features before a cut-off, labels after it, LightGBM learning to rank (rank_xendcg).

Folds are calendar days. With label_days=1 and folds=2 on a log whose newest day is D: fold 1 has
its features from everything before D and its labels from the purchases on D; fold 2 likewise one
day earlier. A model of the older folds is scored on the newest (the stored validation figures);
the model that serves is trained on every fold. Nothing
here reads an event after the newest one given: the evaluation gives only events before its
test cut-off, and a test proves that the lists do not change when the test days do.
"""

import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as clock

import numpy as np
from django.conf import settings
from scipy.sparse import csr_matrix

from common.iterables import sample_in_order
from common.memory import release_freed_memory
from common.metrics import average_precision_at_k, recall_at_k
from recommendations.domain import Candidate, Shopper
from recommendations.ranker.click_training import (
    BasketTask,
    ClickFold,
    ClickModel,
    click_fit,
    click_fold,
    fold_tasks,
    scored_pools,
)
from recommendations.ranker.clicks import ClickSizes, anchor_rows, click_heuristic
from recommendations.ranker.ensemble import TREES, Ensemble, ensemble_train
from recommendations.ranker.features import FEATURES, Pool, PoolSizes, candidate_pool, item_features, pool_sizes
from recommendations.ranker.history import Event, LogArrays, Products, shoppers_from_log
from recommendations.ranker.items import ItemTable, item_table, product_text, visual_projection

K = 12
LABEL_WINDOWS = (1, 3, 7, 14, 28)  # days; the first that gives MIN_SHOPPERS labelled shoppers is used
MIN_SHOPPERS = 200
# The labelled shoppers a fold learns from at most: beyond, a sample with a fixed seed. The H&M week
# has 1,554 a fold; a shop with ten million purchases a month has about 50,000 a day, and a pool
# and its features for each would take most of a training's time for little more to learn.
MAX_FOLD_SHOPPERS = 10_000


@dataclass
class Fold:
    cutoff: datetime
    table: ItemTable | None  # None once released (ranker_fit: its pools and basket completions made)
    keys: list  # shoppers, one group each
    pools: list  # their Pools
    bought: list[set[int]]  # their purchases in the label window (product ids)
    kinds: set[str] = field(default_factory=set)  # the kinds of event their histories hold
    tasks: list[BasketTask] = field(default_factory=list)  # the label window's basket completions (fold_tasks)
    ids: np.ndarray = field(init=False, repr=False)  # the table's product id of each row, kept without it

    def __post_init__(self) -> None:
        self.ids = self.table.ids

    def matrix(self) -> tuple[np.ndarray, np.ndarray, list[int]]:
        x = np.vstack([pool.features for pool in self.pools]) if self.pools else np.zeros((0, len(FEATURES)))
        y = np.concatenate(
            [np.isin(self.ids[pool.rows], list(bought)).astype(np.float32)
             for pool, bought in zip(self.pools, self.bought, strict=True)]
        ) if self.pools else np.zeros(0)  # fmt: skip
        return x, y, [len(pool.rows) for pool in self.pools]


@dataclass
class RankerFit:
    booster: Ensemble
    table: ItemTable  # as of the newest purchase: what serving reads
    figures: dict = field(default_factory=dict)
    importances: dict[str, float] = field(default_factory=dict)
    clicks: ClickModel | None = None  # the after-a-click ranker, on the same table (click_training)

    @property
    def serves(self) -> bool:
        """Whether the model orders "Recommended for you": only where a model of the older folds beat
        the sources' own order on the newest fold (its validation), as the after-a-click model does.
        Otherwise the same candidates are shown in the sources' order (purchases newest first, their
        other colours, then what sells): the demo's model validated at 0.0031 against 0.0038 and served."""
        validation = self.figures.get("validation")
        return bool(validation) and validation["map"] > validation["sources_order_map"]

    def candidates(self, shopper: Shopper, *, repurchases: bool) -> list[Candidate]:
        """What "Recommended for you" shows this shopper, best first, before the hard filters:
        the ranker's candidates; for a history the ranker never learnt from (views alone), what
        goes with their newest products (the after-a-click model, or its heuristic when none was
        trained). Serving and the evaluation both call this."""
        pool, scores = self.rank(shopper, repurchases=repurchases)
        if len(pool.rows):
            return pool.candidates(self.table, scores)
        sizes = self.clicks.sizes if self.clicks is not None else ClickSizes()
        clicked = self.goes_with(anchor_rows(shopper, self.table, sizes.anchors))
        return [c for c in clicked if c.product_id not in shopper.purchased]

    def goes_with(self, anchors: list[int]) -> list[Candidate]:
        """What goes with these item-table rows (newest first), best first: the after-a-click model
        where it beat the heuristic in its validation, the heuristic otherwise."""
        if self.clicks is not None and self.clicks.serves:
            return self.clicks.rank_anchors(self.table, anchors)
        return click_heuristic(self.table, anchors)

    def score_products(self, shopper: Shopper, product_ids: list[int]) -> np.ndarray | None:
        """The model's score of each of these products for this shopper (-inf for a product newer than
        the model), as if each were a candidate; None when the model does not serve this shopper (the
        same rule as ``rank``). Search re-ranks its text matches with it."""
        kinds = self.figures.get("history_kinds")
        # Not bound by ``serves``: what the scores replace in search is text relevance and best sellers, not
        # the sources' own order, and search's weight was chosen on its own validation (SEARCH_PERSONAL_WEIGHT).
        if kinds is not None and not any(event.kind in kinds for event in shopper.recent):
            return None
        rows = np.array([self.table.index.get(pid, -1) for pid in product_ids], dtype=np.int64)
        known = rows >= 0
        sizes = PoolSizes(**self.figures.get("pool_sizes", {}))
        x = item_features(shopper, self.table, rows[known], sizes=sizes)
        if x is None:
            return None
        scores = np.full(len(rows), -np.inf)
        if known.any():
            scores[known] = self.booster.predict(x, num_threads=1)
        return scores

    def rank(self, shopper: Shopper, *, repurchases: bool) -> tuple[Pool, np.ndarray]:
        """This shopper's pool, built as in training (the stored pool sizes), and the model's scores.
        Empty when the model never saw a history of the shopper's kinds of event (a model of
        purchases alone, for a visitor who has only looked) or knows none of their products: the
        blend serves them. Serving and the evaluation both call this."""
        kinds = self.figures.get("history_kinds")  # absent: a model that serves every history
        if kinds is not None and not any(event.kind in kinds for event in shopper.recent):
            return Pool.empty(), np.zeros(0)
        sizes = PoolSizes(**self.figures.get("pool_sizes", {}))
        pool = candidate_pool(shopper, self.table, repurchases=repurchases, sizes=sizes)
        if not self.serves:  # the sources' own order: ties keep it (Pool.ranking)
            return pool, np.zeros(len(pool.rows))
        # One thread: a request scores about a hundred rows, and thread start-up would cost more.
        scores = self.booster.predict(pool.features, num_threads=1) if len(pool.rows) else np.zeros(0)
        return pool, scores


def day_start(at: datetime) -> datetime:
    return datetime.combine(at.date(), clock.min, tzinfo=at.tzinfo)


def fold_build(
    products: Products, events: "list[Event] | LogArrays", cutoff: datetime, *, label_days: int,
    sizes: PoolSizes | None = None, visual: np.ndarray | None = None, text: csr_matrix | None = None,
) -> Fold:  # fmt: skip
    """Shoppers with history before ``cutoff`` who bought in the ``label_days`` from it (at most
    MAX_FOLD_SHOPPERS of them, sampled), in the order of their first purchase there, with their
    pools; and the basket completions of those days (fold_tasks), for click_fold. The table, from
    events before ``cutoff``, holds the item-to-item lists of what they read only (_listed)."""
    log = LogArrays.of(events, products.index)
    start, until = log.us(cutoff), log.us(cutoff + timedelta(days=label_days))
    labels = np.flatnonzero(log.purchase & (log.at_us >= start) & (log.at_us < until))
    before = log.before(cutoff)
    buyers, first = np.unique(log.shopper[labels], return_index=True)
    buyers = buyers[np.argsort(first, kind="stable")]  # in the order of their first purchase in the label days
    with_history = np.isin(buyers, before.shopper)
    numbers = sample_in_order(buyers[with_history].tolist(), MAX_FOLD_SHOPPERS)
    shoppers = shoppers_from_log(products, before, numbers)
    tasks = fold_tasks(log, products.ids, cutoff, cutoff + timedelta(days=label_days))
    listed = _listed(products, [shoppers[number] for number in numbers], tasks)
    table = item_table(products, before, visual=visual, text=text, listed=listed)
    bought: dict[int, set[int]] = {number: set() for number in numbers}
    for number, row in zip(log.shopper[labels].tolist(), log.row[labels].tolist(), strict=True):
        if number in bought:
            bought[number].add(int(products.ids[row]))
    repurchases = settings.RECOMMEND_REPURCHASES  # as serving: off, purchases are never candidates
    pools = [candidate_pool(shoppers[number], table, repurchases=repurchases, sizes=sizes) for number in numbers]
    kinds = {event.kind for number in numbers for event in shoppers[number].recent}
    keys = [log.keys[number] for number in numbers]
    return Fold(cutoff, table, keys, pools, [bought[number] for number in numbers], kinds, tasks)


def _listed(products: Products, shoppers: list[Shopper], tasks: list[BasketTask]) -> np.ndarray:
    """The item-table rows whose item-to-item lists a fold reads: every product of its shoppers'
    histories (candidate_pool's co-purchases), and each basket completion's revealed product with
    the rest of its product group (the after-a-click sources read its other colours' baskets)."""
    index = products.index
    rows = {index[event.product_id] for shopper in shoppers for event in shopper.recent if event.product_id in index}
    shown = np.array(sorted({index[task.shown] for task in tasks}), dtype=np.int64)
    groups = np.asarray(products.group, dtype=str)
    named = np.unique(groups[shown][groups[shown] != ""]) if len(shown) else np.zeros(0, dtype=str)
    siblings = np.flatnonzero(np.isin(groups, named)) if len(named) else shown[:0]
    return np.unique(np.concatenate([np.fromiter(rows, np.int64, len(rows)), shown, siblings]))


def label_window(log: LogArrays, newest_day: datetime) -> int:
    """Days of labels per fold: one day for a busy shop (a fashion shopper's next purchase comes
    within days, and yesterday's sales are today's), more for a small shop, so that the newest fold
    holds at least MIN_SHOPPERS shoppers with history who bought in it."""
    seen = log.at_us < log.us(newest_day + timedelta(days=1))
    shoppers = int(log.shopper.max()) + 1 if len(log) else 0
    first_seen = np.full(shoppers, np.iinfo(np.int64).max)
    np.minimum.at(first_seen, log.shopper[seen], log.at_us[seen])
    last_bought = np.full(shoppers, np.iinfo(np.int64).min)
    bought = seen & log.purchase
    np.maximum.at(last_bought, log.shopper[bought], log.at_us[bought])
    labelled = {}
    for days in LABEL_WINDOWS:
        cutoff = log.us(newest_day - timedelta(days=days - 1))
        labelled[days] = int(np.count_nonzero((last_bought >= cutoff) & (first_seen < cutoff)))
        if labelled[days] >= MIN_SHOPPERS:
            return days
    return max(LABEL_WINDOWS, key=lambda days: (labelled[days], -days))  # a small log: the most labels


def ranker_fit(
    products: Products, events: "list[Event] | LogArrays", *, label_days: int | None = None, folds: int = 2,
    sizes: PoolSizes | None = None, complete_before: datetime | None = None,
    on_step: Callable[[str], None] = lambda _: None,
) -> RankerFit:  # fmt: skip
    """Fit on ``events`` (all of them before the moment the model is for). ``label_days``: None
    chooses it from the log (label_window). ``complete_before``: the start of a day still under
    way (a live shop's today), whose few hours of purchases must not be a fold's labels."""
    started = time.monotonic()
    sizes = sizes or pool_sizes()
    log = LogArrays.of(events, products.index)  # the log as columns once, for every step
    if not len(log):
        raise ValueError("The log is empty: there is nothing to learn from.")
    if not log.purchase.any():
        raise ValueError("The log has no purchases: there is nothing to learn from.")
    # Labels are purchases: the folds end on the newest day with one (a replayed log followed by a
    # few live clicks, as the demo's, still trains on its purchases).
    newest_day = day_start(log.moment(log.at_us[log.purchase].max()))
    if complete_before is not None and newest_day >= complete_before:
        newest_day = day_start(complete_before - timedelta(days=1))  # the newest complete day
    label_days = label_days or label_window(log, newest_day)
    visual = visual_projection(products.vectors)  # once: it depends on the photos, not the log
    text = product_text(products)  # and the words
    built = list(_folds(products, log, newest_day, folds, label_days, sizes, visual, text, on_step))
    booster, clicks, figures = _learn(built, label_days=label_days, sizes=sizes, on_step=on_step)
    figures["folds"] = [fold.cutoff.isoformat() for fold, _ in built]
    del built
    release_freed_memory()  # the folds' pools: about 0.6 GB at ten million events, else counted again below
    on_step("Item table as of the newest purchase, for serving")
    table = item_table(products, log, visual=visual, text=text)
    gains = booster.feature_gains()
    total = float(gains.sum()) or 1.0
    figures.update(
        seconds=round(time.monotonic() - started, 1),
        peak_memory_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    )  # fmt: skip
    importances = {name: round(float(gain) / total, 4) for name, gain in zip(FEATURES, gains, strict=True)}
    if clicks is not None:
        figures["clicks"] = {**clicks.figures, "importances": clicks.importances}
    return RankerFit(booster, table, figures, dict(sorted(importances.items(), key=lambda kv: -kv[1])), clicks)


def _folds(
    products: Products, log: LogArrays, newest_day: datetime, folds: int, label_days: int, sizes: PoolSizes,
    visual: np.ndarray, text: csr_matrix, on_step: Callable[[str], None],
) -> Iterator[tuple[Fold, ClickFold]]:  # fmt: skip
    """The folds with labelled shoppers, newest first, each with its basket completions, until one
    has no history before it (nor would any older one). Each fold's item table is released once its
    pools and basket completions are made: at ten million events, holding the newer fold's while the
    older one's was built took that moment's peak from 4.3 to 4.6 GB (docs/benchmarks.md)."""
    for number in range(folds):
        cutoff = newest_day - timedelta(days=label_days * number + label_days - 1)
        on_step(f"Fold {number + 1}: features before {cutoff:%Y-%m-%d}, labels of {label_days} day(s) from it")
        if not (log.at_us < log.us(cutoff)).any():
            return
        fold = fold_build(products, log, cutoff, label_days=label_days, sizes=sizes, visual=visual, text=text)
        if not fold.keys:
            continue
        baskets = click_fold(fold.table, fold.tasks, ClickSizes())
        fold.table = None
        yield fold, baskets


def _learn(
    built: list[tuple[Fold, ClickFold]], *, label_days: int, sizes: PoolSizes, on_step: Callable[[str], None]
) -> tuple[Ensemble, ClickModel | None, dict]:
    """Both rankers from the folds (newest first): the learned ranker's validation and model, and
    the after-a-click ranker; and the figures to store."""
    trainable = [fold for fold, _ in built if _positives(fold)]
    if not trainable:
        raise ValueError("No shopper with history bought anything in the label days: nothing to learn from.")
    # Validation: a model of the older folds scores the newest one (the stored figures); the model
    # that serves is then trained on every fold, the newest included.
    validation, older = trainable[0], trainable[1:]
    # What the model has seen histories made of: serving leaves it shoppers whose histories hold none
    # of these (H&M's log has purchases only: a visitor with three views gets the blend).
    history_kinds = sorted(set().union(*(fold.kinds for fold in trainable)))
    figures: dict = {"trees": TREES, "pool_sizes": vars(sizes), "history_kinds": history_kinds}
    if older:
        on_step(f"Validating: trained on the older folds, scored on the shoppers of {validation.cutoff:%Y-%m-%d}")
        figures["validation"] = validation_figures(_train(*_stack(older)), validation)
    # The after-a-click ranker learns from the same folds: their label days' basket completions.
    on_step("After a click: basket completions of the same folds")
    clicks = click_fit([baskets for _, baskets in built])
    x, y, groups = _stack(trainable)
    on_step(f"Training on {len(x):,} candidate rows of {len(groups):,} shoppers ({int(y.sum()):,} purchases)")
    figures.update(label_days=label_days, rows=int(len(x)), shoppers=len(groups))
    return _train(x, y, groups), clicks, figures


def _train(x: np.ndarray, y: np.ndarray, groups: list[int]) -> Ensemble:
    return ensemble_train(x, y, groups, features=FEATURES, objective="rank_xendcg")


def _positives(fold: Fold) -> bool:
    """Whether any labelled purchase is among the fold's candidates (a ranking objective learns nothing else)."""
    return any(set(fold.ids[pool.rows].tolist()) & bought for pool, bought in zip(fold.pools, fold.bought,
                                                                                          strict=True))  # fmt: skip


def _stack(folds: list[Fold]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    parts = [fold.matrix() for fold in folds]
    return np.vstack([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), [g for p in parts for g in p[2]]


def validation_figures(booster, fold: Fold) -> dict:
    """MAP@12 and recall@12 on the validation fold's shoppers: the ranked pool against the no-model
    heuristic (their purchases newest first, their other colours, then popular) on the same shoppers."""
    ranked_map, ranked_recall, heuristic_map, heuristic_recall = [], [], [], []
    for pool, bought, scores in zip(fold.pools, fold.bought, scored_pools(booster, fold.pools), strict=True):
        ranked = fold.ids[pool.rows[pool.ranking(scores)]][:K].tolist()
        plain = fold.ids[pool.rows][:K].tolist()  # the sources' own order
        ranked_map.append(average_precision_at_k(ranked, bought, K))
        ranked_recall.append(recall_at_k(ranked, bought, K))
        heuristic_map.append(average_precision_at_k(plain, bought, K))
        heuristic_recall.append(recall_at_k(plain, bought, K))
    pairs = zip(fold.pools, fold.bought, strict=True)
    candidates_hit = sum(len(set(fold.ids[pool.rows].tolist()) & bought) for pool, bought in pairs)
    return {
        "cutoff": fold.cutoff.isoformat(),
        "shoppers": len(fold.pools),
        "map": float(np.mean(ranked_map)),
        "recall": float(np.mean(ranked_recall)),
        "sources_order_map": float(np.mean(heuristic_map)),
        "sources_order_recall": float(np.mean(heuristic_recall)),
        "candidate_recall": candidates_hit / max(sum(len(b) for b in fold.bought), 1),
    }
