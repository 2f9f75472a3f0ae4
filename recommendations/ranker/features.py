"""One shopper's candidates, from every source at once, and the features of each (shopper, product)
pair: the rows the ranker scores, in training, in the evaluation and in serving alike.

Sources (each optional, sizes in ``PoolSizes``):
* ``buy_again``: the products of the shopper's own history (bought, added or viewed);
* ``same_product``: other colours and variants of them (the catalog's product group);
* ``also_bought``: products bought by the shoppers who bought the shopper's newest products;
* ``als``: implicit ALS's best scores for the shopper (when a model is given);
* ``trending``: the most sold of the last days, overall and in the shopper's usual gender.

Features describe the pair, not the product's identity (../shared/RANKING.md: price-like features
that name a product overfit): how often and how lately this shopper touched this product and its
group, how strongly the sources propose it, and how well it sells now.
"""

from collections import Counter
from dataclasses import dataclass

import numpy as np

from recommendations.domain import Candidate, Shopper
from recommendations.ranker.items import ItemTable

FEATURES = (
    "purchases", "carts", "views", "days_since_product",
    "group_events", "group_purchases", "days_since_group",
    "co_bought", "co_bought_links",
    "als_score", "als_rank",
    "popular_rank", "popular_gender_rank",
    "sold_1d", "sold_3d", "sold_decayed", "days_on_sale", "buyers", "rebuy_rate",
    "shopper_events", "shopper_purchases", "shopper_idle_days",
    "type_share", "gender_share",
)  # fmt: skip
_COLUMN = {name: number for number, name in enumerate(FEATURES)}
_DAY = 86400.0
_VIEW_KINDS = {"view", "click"}


@dataclass(frozen=True)
class PoolSizes:
    group: int = 40  # other colours, over all of the shopper's groups
    co_bought_anchors: int = 10  # the newest distinct products whose neighbours are candidates
    co_bought: int = 60
    als: int = 30
    popular: int = 60
    popular_gender: int = 30


DEFAULT_SIZES = PoolSizes()


@dataclass
class Pool:
    """One shopper's candidates: item-table rows, their features, and what explains each."""

    rows: np.ndarray  # (m,) rows of the item table
    features: np.ndarray  # (m, len(FEATURES)) float32, NaN where a source says nothing
    sources: list[str]  # the source that proposed it first, in the order above
    anchors: list[int | None]  # the product of the shopper's history behind it

    def candidates(self, table: ItemTable, scores: np.ndarray) -> list[Candidate]:
        """The pool as Candidates ranked by ``scores``, best first (ties: the sources' order)."""
        order = np.lexsort((np.arange(len(scores)), -scores))
        return [
            Candidate(int(table.ids[self.rows[i]]), float(scores[i]), self.sources[i], self.anchors[i]) for i in order
        ]


def candidate_pool(
    shopper: Shopper, table: ItemTable, *, als: list[Candidate] | None = None, repurchases: bool = True,
    sizes: PoolSizes = DEFAULT_SIZES,
) -> Pool:  # fmt: skip
    """The candidates of every source for this shopper, with their features. ``repurchases=False``
    (RECOMMEND_REPURCHASES off) leaves out what the shopper bought."""
    index = table.index
    now = max(table.as_of, shopper.newest_event) if shopper.newest_event else table.as_of
    kinds: dict[int, Counter] = {}
    last_at: dict[int, float] = {}
    group_events: Counter = Counter()
    group_purchases: Counter = Counter()
    group_last: dict[str, float] = {}
    group_anchor: dict[str, int] = {}
    types: Counter = Counter()
    genders: Counter = Counter()
    for event in shopper.recent:  # newest first
        row = index.get(event.product_id)
        if row is None:  # a product newer than the table: no features yet
            continue
        age = (now - event.at).total_seconds() / _DAY
        kinds.setdefault(row, Counter())[event.kind] += 1
        last_at.setdefault(row, age)
        group = table.group[row]
        if group:
            group_events[group] += 1
            group_purchases[group] += event.kind == "purchase"
            group_last.setdefault(group, age)
            group_anchor.setdefault(group, event.product_id)
        types[table.article_type[row]] += 1
        genders[table.gender[row]] += 1
    purchased = {row for row, counts in kinds.items() if counts["purchase"]}

    order: dict[int, tuple[str, int | None]] = {}  # row -> (source, anchor), first source wins

    def propose(rows, source: str, anchor: int | None = None) -> None:
        for row in rows:
            row = int(row)
            if row not in order and (repurchases or row not in purchased):
                order[row] = (source, anchor)

    for row in kinds:
        propose([row], "buy_again", int(table.ids[row]))
    before = len(order)
    for group, anchor in group_anchor.items():  # the newest groups first, up to sizes.group products
        room = sizes.group - (len(order) - before)
        if room <= 0:
            break
        propose(table.members.get(group, ())[:room], "same_product", anchor)
    co_score: dict[int, float] = {}
    co_links: Counter = Counter()
    co_anchor: dict[int, tuple[float, int]] = {}
    for row in list(kinds)[: sizes.co_bought_anchors]:
        neighbours, scores = table.co_bought(row)
        for neighbour, score in zip(neighbours.tolist(), scores.tolist(), strict=True):
            co_score[neighbour] = co_score.get(neighbour, 0.0) + score
            co_links[neighbour] += 1
            if score > co_anchor.get(neighbour, (-1.0, 0))[0]:
                co_anchor[neighbour] = (score, int(table.ids[row]))
    for row in sorted(co_score, key=lambda r: (-co_score[r], r))[: sizes.co_bought]:
        propose([row], "also_bought", co_anchor[row][1])
    als_rows = [(index[c.product_id], c) for c in (als or [])[: sizes.als] if c.product_id in index]
    for row, candidate in als_rows:
        propose([row], "als", candidate.anchor)
    usual = next((g for g, _ in genders.most_common() if g != "unisex"), None)
    by_gender = table.popular_by_gender.get(usual, np.zeros(0, np.int64)) if usual else np.zeros(0, np.int64)
    propose(by_gender[: sizes.popular_gender], "trending")
    propose(table.popular[: sizes.popular], "trending")

    rows = np.fromiter(order, dtype=np.int64, count=len(order))
    x = np.full((len(rows), len(FEATURES)), np.nan, dtype=np.float32)
    if len(rows):
        _fill(x, rows, table, kinds, last_at, group_events, group_purchases, group_last, co_score, co_links,
              als_rows, by_gender, types, genders, shopper, now)  # fmt: skip
    sources = [order[int(row)][0] for row in rows]
    anchors = [order[int(row)][1] for row in rows]
    return Pool(rows, x, sources, anchors)


def _fill(x, rows, table: ItemTable, kinds, last_at, group_events, group_purchases, group_last, co_score, co_links,
          als_rows, by_gender, types, genders, shopper: Shopper, now) -> None:  # fmt: skip
    def column(name: str, values) -> None:
        x[:, _COLUMN[name]] = values

    empty: Counter = Counter()
    counts = [kinds.get(int(row), empty) for row in rows]
    column("purchases", [c["purchase"] for c in counts])
    column("carts", [c["add_to_cart"] for c in counts])
    column("views", [sum(c[k] for k in _VIEW_KINDS) for c in counts])
    column("days_since_product", [last_at.get(int(row), np.nan) for row in rows])
    groups = table.group[rows]
    column("group_events", [group_events.get(g, 0) if g else 0 for g in groups])
    column("group_purchases", [group_purchases.get(g, 0) if g else 0 for g in groups])
    column("days_since_group", [group_last.get(g, np.nan) if g else np.nan for g in groups])
    column("co_bought", [co_score.get(int(row), 0.0) for row in rows])
    column("co_bought_links", [co_links.get(int(row), 0) for row in rows])
    als_score = {row: (rank, c.score) for rank, (row, c) in enumerate(als_rows)}
    column("als_score", [als_score.get(int(row), (0, np.nan))[1] for row in rows])
    column("als_rank", [als_score.get(int(row), (np.nan, 0))[0] for row in rows])
    popular_rank = {int(row): rank for rank, row in enumerate(table.popular)}
    gender_rank = {int(row): rank for rank, row in enumerate(by_gender)}
    column("popular_rank", [popular_rank.get(int(row), np.nan) for row in rows])
    column("popular_gender_rank", [gender_rank.get(int(row), np.nan) for row in rows])
    for name in ("sold_1d", "sold_3d", "sold_decayed", "days_on_sale", "buyers", "rebuy_rate"):
        column(name, getattr(table, name)[rows])
    events = len(shopper.recent)
    column("shopper_events", events)
    column("shopper_purchases", len(shopper.purchased))
    idle = (now - shopper.newest_event).total_seconds() / _DAY if shopper.newest_event else np.nan
    column("shopper_idle_days", idle)
    total = max(sum(types.values()), 1)
    column("type_share", [types.get(t, 0) / total for t in table.article_type[rows]])
    column("gender_share", [genders.get(g, 0) / total for g in table.gender[rows]])
