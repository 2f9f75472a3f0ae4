"""One shopper's candidates, from every source at once, and the features of each (shopper, product)
pair: the rows the ranker scores, in training, in the evaluation and in serving alike.

Sources (each optional, sizes in ``PoolSizes``):
* ``buy_again``: the products of the shopper's own history (bought, added or viewed);
* ``same_product``: other colours and variants of them (the catalog's product group);
* ``also_bought``: products bought by the shoppers who bought the shopper's newest products;
* ``trending``: the most sold of the last days, overall, in the shopper's usual gender, and in their
  two most frequent article types.

Features describe the pair, not the product's identity (../shared/RANKING.md: price-like features
that name a product overfit): how often and how lately this shopper touched this product and its
group, how strongly the sources propose it, and how well it sells now.
"""

from collections import Counter
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from recommendations.domain import Candidate, Shopper
from recommendations.ranker.items import ItemTable

FEATURES = (
    "purchases", "carts", "views", "days_since_product", "purchase_rank",
    "group_events", "group_purchases", "days_since_group", "group_rank",
    "co_bought", "co_bought_max", "co_bought_links",
    "popular_rank", "popular_gender_rank", "type_rank",
    "sold_1d", "sold_3d", "sold_decayed", "days_on_sale", "buyers", "rebuy_rate",
    "price", "paid", "price_ratio", "visual_similarity", "visual_max",
    "shopper_events", "shopper_purchases", "shopper_idle_days",
    "type_share", "subcategory_share", "colour_share", "gender_share",
)  # fmt: skip
_COLUMN = {name: number for number, name in enumerate(FEATURES)}
_DAY = 86400.0
_VIEW_KINDS = {"view", "click"}


@dataclass(frozen=True)
class PoolSizes:
    group: int = 40  # other colours, best-selling first, over all of the shopper's groups
    co_bought_anchors: int = 20  # the newest distinct products whose neighbours are candidates
    co_bought: int = 50
    popular: int = 30
    popular_gender: int = 30
    popular_types: int = 2  # the shopper's most frequent article types...
    popular_type: int = 10  # ...and this many best sellers of each


def pool_sizes() -> PoolSizes:
    """PoolSizes with RANKER_POOL_SIZES applied (the same in training and serving: retrain after a change)."""
    try:
        return PoolSizes(**settings.RANKER_POOL_SIZES)
    except TypeError as error:
        names = ", ".join(PoolSizes.__dataclass_fields__)
        raise ImproperlyConfigured(f"RANKER_POOL_SIZES: {error}; the sizes are {names}.") from error


@dataclass
class Pool:
    """One shopper's candidates: item-table rows, their features, and what explains each."""

    rows: np.ndarray  # (m,) rows of the item table
    features: np.ndarray  # (m, len(FEATURES)) float32, NaN where a source says nothing
    sources: list[str]  # the source that proposed it first, in the order above
    anchors: list[int | None]  # the product of the shopper's history behind it

    @classmethod
    def empty(cls) -> "Pool":
        return cls(_NONE, np.zeros((0, len(FEATURES)), dtype=np.float32), [], [])

    def candidates(self, table: ItemTable, scores: np.ndarray) -> list[Candidate]:
        """The pool as Candidates ranked by ``scores``, best first (ties: the sources' order)."""
        return [
            Candidate(int(table.ids[self.rows[i]]), float(scores[i]), self.sources[i], self.anchors[i])
            for i in self.ranking(scores)
        ]

    @staticmethod
    def ranking(scores: np.ndarray) -> np.ndarray:
        """The pool's positions best first by ``scores`` (ties: the sources' order)."""
        return np.lexsort((np.arange(len(scores)), -scores))


def candidate_pool(
    shopper: Shopper, table: ItemTable, *, repurchases: bool = True, sizes: PoolSizes | None = None,
) -> Pool:  # fmt: skip
    """The candidates of every source for this shopper, with their features. ``repurchases=False``
    (RECOMMEND_REPURCHASES off) leaves out what the shopper ever bought. Empty when none of the
    shopper's products is in the table (all newer than the model): the blend then serves them."""
    sizes = sizes or pool_sizes()
    index = table.index
    now = _now(shopper, table)
    history = _history(shopper, table, now)
    if not history.kinds:
        return Pool.empty()
    purchased = {index[pid] for pid in shopper.purchased if pid in index}

    order: dict[int, tuple[str, int | None]] = {}  # row -> (source, anchor), first source wins

    def propose(rows, source: str, anchor: int | None = None) -> None:
        for row in rows:
            row = int(row)
            if row not in order and (repurchases or row not in purchased):
                order[row] = (source, anchor)

    for row in history.kinds:
        propose([row], "buy_again", int(table.ids[row]))
    before = len(order)
    for group, anchor in history.group_anchor.items():  # the newest groups first, up to sizes.group products
        room = sizes.group - (len(order) - before)
        if room <= 0:
            break
        propose(table.members.get(group, ())[:room], "same_product", anchor)
    co = _co_bought(table, list(history.kinds)[: sizes.co_bought_anchors])
    for row in sorted(co.score, key=lambda r: (-co.score[r], r))[: sizes.co_bought]:
        propose([row], "also_bought", co.anchor[row])
    by_gender = _by_gender(history, table)
    propose(by_gender[: sizes.popular_gender], "trending")
    for kind, _ in history.types.most_common(sizes.popular_types):
        propose(table.popular_by_type.get(kind, _NONE)[: sizes.popular_type], "trending")
    propose(table.popular[: sizes.popular], "trending")

    rows = np.fromiter(order, dtype=np.int64, count=len(order))
    x = np.full((len(rows), len(FEATURES)), np.nan, dtype=np.float32)
    if len(rows):
        _fill(x, rows, table, history, co, by_gender, shopper, now)
    return Pool(rows, x, [order[int(row)][0] for row in rows], [order[int(row)][1] for row in rows])


def item_features(shopper: Shopper, table: ItemTable, rows: np.ndarray, *, sizes: PoolSizes | None = None):
    """The features of any item-table rows for this shopper, as candidate_pool computes them for its
    own candidates (search re-ranks its matches with them); None when the shopper's history holds no
    product of the table."""
    sizes = sizes or pool_sizes()
    now = _now(shopper, table)
    history = _history(shopper, table, now)
    if not history.kinds:
        return None
    co = _co_bought(table, list(history.kinds)[: sizes.co_bought_anchors])
    x = np.full((len(rows), len(FEATURES)), np.nan, dtype=np.float32)
    if len(rows):
        _fill(x, rows, table, history, co, _by_gender(history, table), shopper, now)
    return x


def _now(shopper: Shopper, table: ItemTable):
    return max(table.as_of, shopper.newest_event) if shopper.newest_event else table.as_of


def _history(shopper: Shopper, table: ItemTable, now) -> "_History":
    history = _History()
    for event in shopper.recent:  # newest first
        row = table.index.get(event.product_id)
        if row is not None:  # else a product newer than the table: no features yet
            history.add(row, event, (now - event.at).total_seconds() / _DAY, table)
    return history


def _by_gender(history: "_History", table: ItemTable) -> np.ndarray:
    """The best sellers of the shopper's usual gender (unisex aside)."""
    usual = next((g for g, _ in history.genders.most_common() if g != "unisex"), None)
    return table.popular_by_gender.get(usual, _NONE) if usual else _NONE


_NONE = np.zeros(0, dtype=np.int64)
VISUAL_PROFILE = 20  # the newest distinct products whose photos make the shopper's visual profile
VISUAL_NEAREST = 5  # ...and those a candidate's best single match is looked for among


def _visual(column, rows: np.ndarray, table: ItemTable, history_rows: list[int]) -> None:
    """Cosine of each candidate's photo to the shopper's visual profile (the mean of their newest
    products' photos), and to the closest of their very newest products; NaN without photos."""
    mine = [row for row in history_rows[:VISUAL_PROFILE] if table.visual[row].any()]
    has_photo = table.visual[rows].any(axis=1)
    if not mine or not has_photo.any():
        return
    vectors = table.visual[mine]
    profile = vectors.mean(axis=0)
    profile /= max(float(np.linalg.norm(profile)), 1e-9)
    candidates = table.visual[rows]
    column("visual_similarity", np.where(has_photo, candidates @ profile, np.nan))
    nearest = (candidates @ vectors[:VISUAL_NEAREST].T).max(axis=1)
    column("visual_max", np.where(has_photo, nearest, np.nan))


class _History:
    """What one pass over the shopper's events (newest first) tells about each product and group."""

    def __init__(self) -> None:
        self.kinds: dict[int, Counter] = {}  # row -> kind -> events, in order of the newest event
        self.last_at: dict[int, float] = {}  # row -> days since the newest event on it
        self.purchase_rank: dict[int, int] = {}  # row -> 0 for the newest purchase, 1 for the one before...
        self.group_events: Counter = Counter()
        self.group_purchases: Counter = Counter()
        self.group_last: dict[str, float] = {}
        self.group_anchor: dict[str, int] = {}  # group -> its newest product, in order of recency
        self.types: Counter = Counter()
        self.subcategories: Counter = Counter()
        self.colours: Counter = Counter()
        self.genders: Counter = Counter()
        self.prices: list[float] = []  # of the purchases, for the price ratio

    def add(self, row: int, event, age: float, table: ItemTable) -> None:
        self.kinds.setdefault(row, Counter())[event.kind] += 1
        self.last_at.setdefault(row, age)
        if event.kind == "purchase":
            self.purchase_rank.setdefault(row, len(self.purchase_rank))
            paid = float(event.price) if event.price is not None else float(table.price[row])
            if np.isfinite(paid) and paid > 0:
                self.prices.append(paid)
        group = table.group[row]
        if group:
            self.group_events[group] += 1
            self.group_purchases[group] += event.kind == "purchase"
            self.group_last.setdefault(group, age)
            self.group_anchor.setdefault(group, event.product_id)
        self.types[table.article_type[row]] += 1
        self.subcategories[table.subcategory[row]] += 1
        self.colours[table.colour[row]] += 1
        self.genders[table.gender[row]] += 1


@dataclass
class _CoBought:
    score: dict[int, float]  # summed over the anchors
    best: dict[int, float]  # the strongest single link
    links: Counter
    anchor: dict[int, int]  # the product id of the strongest link


def _co_bought(table: ItemTable, anchors: list[int]) -> _CoBought:
    co = _CoBought({}, {}, Counter(), {})
    for row in anchors:
        neighbours, scores = table.co_bought(row)
        for neighbour, score in zip(neighbours.tolist(), scores.tolist(), strict=True):
            co.score[neighbour] = co.score.get(neighbour, 0.0) + score
            co.links[neighbour] += 1
            if score > co.best.get(neighbour, -1.0):
                co.best[neighbour], co.anchor[neighbour] = score, int(table.ids[row])
    return co


def _fill(x, rows, table: ItemTable, history: _History, co: _CoBought, by_gender, shopper: Shopper, now) -> None:
    def column(name: str, values) -> None:
        x[:, _COLUMN[name]] = values

    keys = rows.tolist()
    empty: Counter = Counter()
    counts = [history.kinds.get(row, empty) for row in keys]
    column("purchases", [c["purchase"] for c in counts])
    column("carts", [c["add_to_cart"] for c in counts])
    column("views", [sum(c[k] for k in _VIEW_KINDS) for c in counts])
    column("days_since_product", [history.last_at.get(row, np.nan) for row in keys])
    column("purchase_rank", [history.purchase_rank.get(row, np.nan) for row in keys])
    groups = table.group[rows]
    group_rank = {group: rank for rank, group in enumerate(history.group_anchor)}
    column("group_events", [history.group_events.get(g, 0) if g else 0 for g in groups])
    column("group_purchases", [history.group_purchases.get(g, 0) if g else 0 for g in groups])
    column("days_since_group", [history.group_last.get(g, np.nan) if g else np.nan for g in groups])
    column("group_rank", [group_rank.get(g, np.nan) if g else np.nan for g in groups])
    column("co_bought", [co.score.get(row, 0.0) for row in keys])
    column("co_bought_max", [co.best.get(row, 0.0) for row in keys])
    column("co_bought_links", [co.links.get(row, 0) for row in keys])
    popular_rank = {int(row): rank for rank, row in enumerate(table.popular)}
    gender_rank = {int(row): rank for rank, row in enumerate(by_gender)}
    column("popular_rank", [popular_rank.get(row, np.nan) for row in keys])
    column("popular_gender_rank", [gender_rank.get(row, np.nan) for row in keys])
    for name in ("type_rank", "sold_1d", "sold_3d", "sold_decayed", "days_on_sale", "buyers", "rebuy_rate", "price",
                 "paid"):  # fmt: skip
        column(name, getattr(table, name)[rows])
    _visual(column, rows, table, list(history.kinds))
    # Against what the shopper usually pays: the product's price as sold lately (sales and discounts
    # included) where it sold, else its catalog price (+0.0065 of MAP@12 for returning shoppers on the
    # H&M week, against the catalog price alone).
    selling_at = np.where(np.isfinite(table.paid[rows]), table.paid[rows], table.price[rows])
    usual_price = float(np.mean(history.prices)) if history.prices else np.nan
    column("price_ratio", selling_at / usual_price if usual_price > 0 else np.nan)
    column("shopper_events", len(shopper.recent))
    column("shopper_purchases", len(shopper.purchased))
    column("shopper_idle_days", (now - shopper.newest_event).total_seconds() / _DAY if shopper.newest_event else np.nan)
    total = max(sum(history.types.values()), 1)
    for name, counter, values in (
        ("type_share", history.types, table.article_type[rows]),
        ("subcategory_share", history.subcategories, table.subcategory[rows]),
        ("colour_share", history.colours, table.colour[rows]),
        ("gender_share", history.genders, table.gender[rows]),
    ):
        column(name, [counter.get(value, 0) / total for value in values])
