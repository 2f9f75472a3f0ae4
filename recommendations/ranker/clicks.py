"""After a click: what goes with the products a shopper has just looked at, from the shop's baskets.

Item-to-item sources over an ItemTable (all in memory, no query), for the newest few products of a
short history (the *anchors*, newest first):
* ``same_product``: the anchor's other colours and variants (its product group), best-selling first;
* ``basket``: what was bought in the same shopper-day as the anchor, P(other | anchor) first;
* ``group_basket``: what was bought with the anchor's other colours;
* ``text``: the products whose name and description read like the anchor's (another product group
  of the same line: a bikini's briefs, a poncho's beanie), the most alike and best-selling first;
* ``visual``: the anchor's nearest photos among what sells, best-selling first;
* ``same_department`` and ``goes_with_type``: the best sellers of its department, and of the article
  types most bought with its type;
* ``same_type``: the best sellers of the anchor's article type;
* ``popular``: the best sellers.

``click_heuristic`` is the no-model list a sceptic would choose (../shared/RANKING.md, "After one
click": other colours, then co-purchases, then best sellers, MAP@12 0.079 on the H&M week, twelve
times the best sellers); serving and the evaluation both call it, so what is measured is what is served.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from recommendations.domain import Candidate, Shopper
from recommendations.ranker.items import ItemTable

SOURCES = (
    "same_product", "basket", "group_basket", "text", "visual", "same_type", "same_department", "goes_with_type",
    "popular",
)  # fmt: skip
_NONE = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class ClickSizes:
    anchors: int = 3  # the newest distinct products of the history that bring candidates
    same_product: int = 20
    basket: int = 40
    group_basket: int = 40
    siblings: int = 6  # the anchor's best-selling other colours whose baskets count as its own
    text: int = 40  # products whose name and description read like the anchor's
    visual: int = 30
    same_type: int = 20
    same_department: int = 30
    goes_with_type: int = 40  # best sellers of the types most bought with the anchor's, in its gender
    per_type: int = 12
    popular: int = 40
    decay: float = 0.5  # an older anchor's candidates weigh this much of the newer one's


@dataclass
class Proposal:
    """What the sources say about one candidate (a row of the item table)."""

    row: int
    scores: dict[str, float] = field(default_factory=dict)  # source -> summed, recency-weighted score
    ranks: dict[str, int] = field(default_factory=dict)  # source -> best rank in any anchor's list
    anchor: int = -1  # the anchor row whose weighted proposal was strongest
    anchor_rank: int = 0  # that anchor's position in the history (0: the newest)
    first: str = ""  # the first source (in SOURCES order) that proposed it


def anchor_rows(shopper: Shopper, table: ItemTable, count: int) -> list[int]:
    """The newest ``count`` distinct products of the shopper's history that the table knows."""
    rows: list[int] = []
    for product_id in shopper.recent_product_ids:
        row = table.index.get(product_id)
        if row is not None and row not in rows:
            rows.append(row)
            if len(rows) >= count:
                break
    return rows


@dataclass
class Proposals:
    """What the sources say about each candidate, as arrays over the candidates in the order they
    were first proposed (one row of each per candidate; the columns of the matrices are SOURCES)."""

    rows: np.ndarray  # (m,) rows of the item table
    scores: np.ndarray  # (m, S) float64: summed, recency-weighted score; 0 where a source is silent
    proposed: np.ndarray  # (m, S) bool: whether the source proposed it
    ranks: np.ndarray  # (m, S) int64: best rank in any anchor's list (meaningless where not proposed)
    anchor: np.ndarray  # (m,) the anchor row whose weighted proposal was strongest (-1: none)
    anchor_rank: np.ndarray  # (m,) that anchor's position in the history (0: the newest)
    first: np.ndarray  # (m,) index in SOURCES of the first source that proposed it

    def __len__(self) -> int:
        return len(self.rows)


_SOURCE = {source: number for number, source in enumerate(SOURCES)}
_ANCHOR_BONUS = np.array([source in ("same_product", "basket") for source in SOURCES])  # 1 + score counts


class _Entries:
    """Every (source, anchor) list of candidates, appended in the order the sources are asked."""

    def __init__(self) -> None:
        self.parts: list[tuple] = []

    def add(self, source: str, rows, scores, anchor: int, weight: float, position: int) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows):
            # float64 before weighting, as the scores were summed in Python floats before.
            scores = np.asarray(scores, dtype=np.float64)
            self.parts.append((rows, scores, _SOURCE[source], anchor, weight, position))


def proposal_arrays(table: ItemTable, anchors: list[int], sizes: ClickSizes | None = None) -> Proposals:
    """Every source's candidates for these anchors (newest first). The anchors themselves are not
    candidates: the shopper has just seen them. A candidate's score per source sums its weighted
    scores over the anchors; its anchor is the one whose single weighted proposal was strongest
    (the first met, on a tie)."""
    sizes = sizes or ClickSizes()
    entries = _Entries()
    if anchors:
        _collect(table, anchors, sizes, entries)
    # Nothing looked at that the table knows, or nothing but what was looked at: nothing goes with it.
    if not entries.parts:
        return _NO_PROPOSALS
    rows = np.concatenate([part[0] for part in entries.parts])
    raw = np.concatenate([part[1] for part in entries.parts])
    rank = np.concatenate([np.arange(len(part[0])) for part in entries.parts])  # in its own list, seen or not
    source = np.concatenate([np.full(len(part[0]), part[2]) for part in entries.parts])
    anchor = np.concatenate([np.full(len(part[0]), part[3]) for part in entries.parts])
    weight = np.concatenate([np.full(len(part[0]), part[4], dtype=np.float64) for part in entries.parts])
    position = np.concatenate([np.full(len(part[0]), part[5]) for part in entries.parts])
    keep = ~np.isin(rows, anchors)
    if not keep.any():
        return _NO_PROPOSALS
    rows, raw, rank, source, anchor, weight, position = (
        a[keep] for a in (rows, raw, rank, source, anchor, weight, position)
    )
    # Candidates in the order first proposed; each entry's candidate number.
    unique, first_seen, inverse = np.unique(rows, return_index=True, return_inverse=True)
    order = np.argsort(first_seen, kind="stable")
    number = np.empty(len(unique), dtype=np.int64)
    number[order] = np.arange(len(unique))
    candidate = number[inverse]
    m, width = len(unique), len(SOURCES)
    scores = np.zeros((m, width))
    np.add.at(scores, (candidate, source), weight * raw)  # in entry order, as the sums were made
    proposed = np.zeros((m, width), dtype=bool)
    proposed[candidate, source] = True
    ranks = np.full((m, width), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(ranks, (candidate, source), rank)
    strength = weight * np.where(_ANCHOR_BONUS[source], 1.0 + raw, raw)
    # The strongest entry of each candidate, the earliest on a tie.
    best = np.lexsort((np.arange(len(candidate)), -strength, candidate))
    leads = best[np.r_[True, candidate[best][1:] != candidate[best][:-1]]]
    strong = strength[leads] > -1.0
    best_anchor = np.where(strong, anchor[leads], -1)
    best_position = np.where(strong, position[leads], 0)
    return Proposals(
        rows=unique[order], scores=scores, proposed=proposed, ranks=ranks,
        anchor=best_anchor, anchor_rank=best_position, first=proposed.argmax(axis=1),
    )  # fmt: skip


_NO_PROPOSALS = Proposals(
    _NONE, np.zeros((0, len(SOURCES))), np.zeros((0, len(SOURCES)), dtype=bool),
    np.zeros((0, len(SOURCES)), dtype=np.int64), _NONE, _NONE, _NONE,
)  # fmt: skip


def _collect(table: ItemTable, anchors: list[int], sizes: ClickSizes, entries: _Entries) -> None:
    for position, anchor in enumerate(anchors[: sizes.anchors]):
        weight = sizes.decay**position
        for source, rows, scores in _anchor_lists(table, anchor, sizes):
            entries.add(source, rows, scores, anchor, weight, position)
    sold = table.sold_decayed
    popular = table.popular[: sizes.popular]
    entries.add("popular", popular, sold[popular] / _top_seller(table), anchors[0], 1.0, 0)


def _top_seller(table: ItemTable) -> float:
    """The best seller's sold_decayed (1 where nothing sold), kept with the table: a maximum over the
    whole catalog for each anchor was 2% of a training's time at a million products."""
    top = table.__dict__.get("_top_seller")
    if top is None:
        sold = table.sold_decayed
        top = table.__dict__["_top_seller"] = float(sold.max()) if len(sold) and sold.max() > 0 else 1.0
    return top


class _AnchorMemo:
    """Each anchor's lists, kept with the table (they are the same for every shopper who looked at
    it): a homepage after three views asks for three of them, and they cost about 3 ms each to make."""

    def __init__(self, size: int = 4096) -> None:
        self.SIZE = size
        self._items: OrderedDict[tuple[int, ClickSizes], tuple] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[int, ClickSizes], make: Callable[[], tuple]) -> tuple:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        value = make()  # outside the lock; two threads may make the same value, once each
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.SIZE:
                self._items.popitem(last=False)
        return value


_memo_lock = threading.Lock()


def _anchor_lists(table: ItemTable, anchor: int, sizes: ClickSizes) -> tuple:
    """(source, rows, scores) of every source but the best sellers for one anchor, in SOURCES order;
    read-only arrays, shared by every caller."""
    return _anchor_memo(table, "_anchor_memo").get((anchor, sizes), lambda: _anchor_lists_made(table, anchor, sizes))


def _anchor_memo(table: ItemTable, name: str) -> "_AnchorMemo":
    """One of the per-anchor memories kept with the table (an attribute, not a field: never stored)."""
    memo = table.__dict__.get(name)
    if memo is None:
        with _memo_lock:
            # Pair blocks are about 20 kB each (a few hundred rows of 14 features): fewer of them.
            memo = table.__dict__.setdefault(name, _AnchorMemo(2048 if name == "_pairs_memo" else 4096))
    return memo


def _anchor_lists_made(table: ItemTable, anchor: int, sizes: ClickSizes) -> tuple:
    sold, top = table.sold_decayed, _top_seller(table)
    lists = []

    def add(source: str, rows, scores) -> None:
        rows, scores = np.asarray(rows, dtype=np.int64), np.asarray(scores, dtype=np.float64)
        if len(rows):
            rows.flags.writeable = scores.flags.writeable = False
            lists.append((source, rows, scores))

    group = str(table.group[anchor])
    members = table.members.get(group, _NONE) if group else _NONE
    members = members[members != anchor][: sizes.same_product]
    add("same_product", members, sold[members] / top)
    rows, scores = table.basket(anchor)
    add("basket", rows[: sizes.basket], scores[: sizes.basket])
    # What was bought with the anchor's other colours: a colour's baskets are thin, its product's are not.
    siblings = [table.basket(sibling) for sibling in members[: sizes.siblings]]
    if siblings:
        rows = np.concatenate([rows for rows, _ in siblings]).astype(np.int64)
        scores = np.concatenate([scores for _, scores in siblings]).astype(np.float64)
        unique, inverse = np.unique(rows, return_inverse=True)
        summed = np.zeros(len(unique))
        np.add.at(summed, inverse, scores)
        ranked = np.lexsort((unique, -summed))[: sizes.group_basket]
        add("group_basket", unique[ranked], summed[ranked])
    add("text", *table.reads_like_selling(anchor, sizes.text))
    rows, _ = table.looks_like_selling(anchor, sizes.visual)
    add("visual", rows, sold[rows] / top)
    same_type = table.popular_by_type.get(str(table.article_type[anchor]), _NONE)[: sizes.same_type]
    add("same_type", same_type, sold[same_type] / top)
    department = table.popular_by_department.get(str(table.department[anchor]), _NONE)
    department = department[table.gender[department] == table.gender[anchor]][: sizes.same_department]
    add("same_department", department, sold[department] / top)
    add("goes_with_type", *_goes_with_type(table, anchor, sizes, top))
    return tuple(lists)


def click_proposals(table: ItemTable, anchors: list[int], sizes: ClickSizes | None = None) -> dict[int, Proposal]:
    """proposal_arrays as Proposal records keyed by row (the heuristic's and one source's lists)."""
    found = proposal_arrays(table, anchors, sizes)
    proposals = {}
    for i, row in enumerate(found.rows.tolist()):
        said = np.flatnonzero(found.proposed[i]).tolist()
        scores = {SOURCES[j]: float(found.scores[i, j]) for j in said}
        ranks = {SOURCES[j]: int(found.ranks[i, j]) for j in said}
        first = SOURCES[int(found.first[i])]
        proposals[row] = Proposal(row, scores, ranks, int(found.anchor[i]), int(found.anchor_rank[i]), first)
    return proposals


def _goes_with_type(table: ItemTable, anchor: int, sizes: ClickSizes, top: float) -> tuple[np.ndarray, np.ndarray]:
    """The best sellers of the article types most often in a basket with the anchor's, of the
    anchor's gender (or unisex): P(type | anchor's type) x sales (over ``top``, the best seller's)."""
    gender = table.gender[anchor]
    rows, scores = [], []
    for kind, probability in table.goes_with_type.get(str(table.article_type[anchor]), ()):
        best = table.popular_by_type.get(kind, _NONE)
        best = best[(table.gender[best] == gender) | (table.gender[best] == "unisex")][: sizes.per_type]
        rows.append(best)
        scores.append(probability * table.sold_decayed[best] / top)
    if not rows:
        return _NONE, np.zeros(0)
    rows, scores = np.concatenate(rows), np.concatenate(scores)
    order = np.lexsort((rows, -scores))[: sizes.goes_with_type]
    return rows[order], scores[order]


# The heuristic's order: a source's candidates all come before the next source's; within one,
# by the recency-weighted score (for one anchor: sales for other colours, co-purchases for baskets).
HEURISTIC_TIERS = {"same_product": 3.0, "basket": 2.0, "popular": 1.0}


def click_heuristic(table: ItemTable, anchors: list[int], sizes: ClickSizes | None = None) -> list[Candidate]:
    """Other colours of the anchors, then what was bought with them, then the best sellers; every
    product at most once, in the tier of the first source that proposed it."""
    found = proposal_arrays(table, anchors, sizes)
    order, scores, tiers = heuristic_order(found)
    anchors_of = found.anchor[order].tolist()
    return [
        Candidate(int(table.ids[row]), score, _STRATEGIES[tier], int(table.ids[anchor]) if anchor >= 0 else None)
        for row, score, tier, anchor in zip(
            found.rows[order].tolist(), scores.tolist(), tiers.tolist(), anchors_of, strict=True
        )  # fmt: skip
    ]


_TIERS = tuple((_SOURCE[source], base) for source, base in HEURISTIC_TIERS.items())


def heuristic_order(found: Proposals) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The heuristic's list from proposals (click_heuristic's order): (the positions of its
    candidates in ``found``, best first; their scores; the index in SOURCES of each one's tier).
    A training fold takes it from the proposals its pools were made of, instead of asking the
    sources again (a tenth of a ranker training's time at four million events)."""
    score = np.full(len(found), np.nan)
    tier = np.full(len(found), -1, dtype=np.int64)
    rank = np.zeros(len(found), dtype=np.int64)
    for source, base in reversed(_TIERS):  # the first tier that proposed a candidate is written last
        said = found.proposed[:, source]
        score[said] = base + np.minimum(found.scores[said, source], 0.999)
        tier[said] = source
        rank[said] = found.ranks[said, source]
    kept = np.flatnonzero(tier >= 0)
    # Equal scores keep the source's own order (a co-purchase count of 1 is most of a basket list's:
    # its ties go to what sells, basket_pairs), then the row. Ties by row alone scored MAP@12 0.0771
    # for the H&M week's new shoppers against 0.0776 for this order (../shared/RANKING.md's heuristic).
    order = kept[np.lexsort((found.rows[kept], rank[kept], -score[kept]))]
    return order, score[order], tier[order]


def source_candidates(
    table: ItemTable, anchors: list[int], source: str, sizes: ClickSizes | None = None
) -> list[Candidate]:
    """One source alone, best first by its recency-weighted score (ties: its own order), named by
    the source, each anchored on the product of the history that proposed it most strongly."""
    proposals = [p for p in click_proposals(table, anchors, sizes).values() if source in p.scores]
    proposals.sort(key=lambda p: (-p.scores[source], p.ranks[source], p.row))
    return [Candidate(int(table.ids[p.row]), p.scores[source], source, int(table.ids[p.anchor])) for p in proposals]


def source_list(table: ItemTable, anchors: list[int], source: str, sizes: ClickSizes | None = None) -> list[int]:
    """One source's product ids (the evaluation's per-source lines)."""
    return [c.product_id for c in source_candidates(table, anchors, source, sizes)]


# The strategies the cards show (selectors.rows.reason_for): a basket is "Often bought with X".
_STRATEGY = {
    "same_product": "same_product", "basket": "also_bought", "group_basket": "also_bought", "visual": "visual",
    "text": "visual", "same_type": "trending", "same_department": "trending", "goes_with_type": "trending",
    "popular": "trending",
}  # fmt: skip
_STRATEGIES = [_STRATEGY[source] for source in SOURCES]


CLICK_FEATURES = (
    "same_product_score", "same_product_rank", "basket_score", "basket_rank", "group_basket_score",
    "group_basket_rank", "text_rank", "visual_rank", "same_type_rank", "same_department_rank",
    "goes_with_type_score", "goes_with_type_rank",
    "popular_rank", "sources", "co_bought",
    "visual_similarity", "text_similarity", "same_group", "same_type", "same_subcategory", "same_department",
    "same_colour", "same_gender",
    "price_ratio", "sold_1d", "sold_3d", "sold_decayed", "buyers", "days_on_sale", "type_rank", "rebuy_rate",
    "anchor_sold", "anchor_baskets", "anchor_rank", "anchors",
    "anchor_in_baskets", "in_baskets", "pair_baskets", "lift",
)  # fmt: skip
_COLUMN = {name: number for number, name in enumerate(CLICK_FEATURES)}


@dataclass
class ClickPool:
    rows: np.ndarray  # (m,) candidate rows of the item table
    features: np.ndarray  # (m, len(CLICK_FEATURES)) float32, NaN where a source says nothing
    anchors: np.ndarray  # (m,) the anchor row that proposed each most strongly (empty: not kept)
    first: np.ndarray  # (m,) index in SOURCES of each one's first source (empty: not kept)

    def candidates(self, table: ItemTable, scores: np.ndarray) -> list[Candidate]:
        """Best first by ``scores``; each card's strategy is its strongest source's."""
        order = np.lexsort((self.rows, -scores))
        # Python lists first: a request builds a few hundred candidates, and numpy's scalars cost
        # microseconds each to read.
        ids, values = table.ids[self.rows][order].tolist(), scores[order].tolist()
        strategies = [_STRATEGIES[first] for first in self.first[order].tolist()]
        anchors = [None if row < 0 else pid for row, pid in
                   zip(self.anchors[order].tolist(), table.ids[self.anchors][order].tolist(), strict=True)]  # fmt: skip
        return [Candidate(*fields) for fields in zip(ids, values, strategies, anchors, strict=True)]


def click_pool(
    table: ItemTable, anchors: list[int], sizes: ClickSizes | None = None, *, found: Proposals | None = None
) -> ClickPool:
    """Every source's candidates for these anchors with the features of each (anchor, candidate)
    pair, the anchor being the history's product that proposed it most strongly. ``found``: the
    anchors' proposal_arrays, when the caller has them."""
    found = proposal_arrays(table, anchors, sizes) if found is None else found
    m = len(found)
    x = np.full((m, len(CLICK_FEATURES)), np.nan, dtype=np.float32)
    if not m:
        return ClickPool(_NONE, x, _NONE, _NONE)
    rows = found.rows
    anchor = np.where(found.anchor >= 0, found.anchor, anchors[0])

    def column(name: str, values) -> None:
        x[:, _COLUMN[name]] = values

    for source in ("same_product", "basket", "group_basket", "goes_with_type"):
        j = _SOURCE[source]
        column(f"{source}_score", np.where(found.proposed[:, j], found.scores[:, j], np.nan))
    for j, source in enumerate(SOURCES):
        column(f"{source}_rank", np.where(found.proposed[:, j], found.ranks[:, j], np.nan))
    column("sources", found.proposed.sum(axis=1))
    x[:, _PAIR_COLUMNS] = _pairs_of(table, anchor, rows, sizes or ClickSizes())
    for name in ("sold_1d", "sold_3d", "sold_decayed", "buyers", "days_on_sale", "type_rank", "rebuy_rate"):
        column(name, getattr(table, name)[rows])
    column("anchor_sold", table.sold_decayed[anchor])
    column("anchor_baskets", table.basket_ptr[anchor + 1] - table.basket_ptr[anchor])
    column("anchor_rank", found.anchor_rank)
    column("anchors", len(anchors))
    return ClickPool(rows, x, found.anchor, found.first)


# The features of an (anchor, candidate) pair that the rest of the history does not change: each
# anchor's are computed once for every row its lists and the best sellers can propose, and kept with
# its lists, so that a homepage after a view gathers them instead of computing them again (about
# 1.5 ms of a homepage computed after a view; the same float32 values, tests/test_after_a_click.py).
_PAIR_FEATURES = (
    "co_bought", "visual_similarity", "text_similarity", "same_group", "same_type", "same_subcategory",
    "same_department", "same_colour", "same_gender", "price_ratio", "anchor_in_baskets", "in_baskets",
    "pair_baskets", "lift",
)  # fmt: skip
_PAIR_COLUMNS = np.array([_COLUMN[name] for name in _PAIR_FEATURES])
_PAIR_INDEX = {name: number for number, name in enumerate(_PAIR_FEATURES)}


def _pairs_of(table: ItemTable, anchor: np.ndarray, rows: np.ndarray, sizes: ClickSizes) -> np.ndarray:
    """_pair_features of each (anchor[i], rows[i]), from each anchor's kept block where it holds the row."""
    x = np.empty((len(rows), len(_PAIR_FEATURES)), np.float32)
    done = np.zeros(len(rows), dtype=bool)
    for one in np.unique(anchor).tolist():
        mine = np.flatnonzero(anchor == one)
        known, block = _anchor_memo(table, "_pairs_memo").get(
            (one, sizes), lambda one=one: _anchor_pairs(table, one, sizes)
        )
        if not len(known):
            continue
        at = np.minimum(np.searchsorted(known, rows[mine]), len(known) - 1)
        hit = known[at] == rows[mine]
        x[mine[hit]] = block[at[hit]]
        done[mine[hit]] = True
    if not done.all():  # a pair beyond the anchor's lists (the strongest proposal is always in them)
        rest = np.flatnonzero(~done)
        x[rest] = _pair_features(table, anchor[rest], rows[rest])
    return x


def _anchor_pairs(table: ItemTable, anchor: int, sizes: ClickSizes) -> tuple[np.ndarray, np.ndarray]:
    """(the sorted rows the anchor's lists and the best sellers propose, their _pair_features with it)."""
    lists = [rows for _, rows, _ in _anchor_lists(table, anchor, sizes)]
    rows = np.unique(np.concatenate([*lists, table.popular[: sizes.popular]]).astype(np.int64))
    block = _pair_features(table, np.full(len(rows), anchor, dtype=np.int64), rows)
    rows.flags.writeable = block.flags.writeable = False
    return rows, block


def _pair_features(table: ItemTable, anchor: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(len(rows), len(_PAIR_FEATURES)) float32: the features of each (anchor[i], rows[i]) pair."""
    x = np.empty((len(rows), len(_PAIR_FEATURES)), np.float32)

    def column(name: str, values) -> None:
        x[:, _PAIR_INDEX[name]] = values

    pairs = list(zip(anchor.tolist(), rows.tolist(), strict=True))
    co_bought, co_basket = _pair_scores(table.co_bought, anchor), _pair_scores(table.basket, anchor)
    column("co_bought", [co_bought.get(pair, 0.0) for pair in pairs])
    has_photo = table.visual[rows].any(axis=1) & table.visual[anchor].any(axis=1)
    column("visual_similarity", np.where(has_photo, (table.visual[rows] * table.visual[anchor]).sum(axis=1), np.nan))
    column("text_similarity", table.text_similarity(anchor, rows))
    column("same_group", (table.group[rows] == table.group[anchor]) & (table.group[rows] != ""))
    column("same_type", table.article_type[rows] == table.article_type[anchor])
    column("same_subcategory", table.subcategory[rows] == table.subcategory[anchor])
    # H&M's section (Womens Lingerie, Divided Basics): what a basket holds usually comes from one.
    column("same_department", (table.department[rows] == table.department[anchor]) & (table.department[rows] != ""))
    column("same_colour", table.colour[rows] == table.colour[anchor])
    column("same_gender", table.gender[rows] == table.gender[anchor])
    # What was paid, else the list price: of these rows only (the whole catalog's, a million products,
    # was 15% of a ranker training's time at ten million events).
    price, anchor_price = _price(table, rows), _price(table, anchor)
    column("price_ratio", price / np.where(anchor_price > 0, anchor_price, np.nan))
    # Counts behind P(candidate | anchor), so that the model can trust 2 of 2 less than 40 of 80;
    # and the lift, P(candidate | anchor) / P(candidate): what goes with this, not what sells anyway.
    held, total = table.in_baskets, max(float(table.in_baskets.sum()), 1.0)
    probability = np.array([co_basket.get(pair, 0.0) for pair in pairs])
    column("anchor_in_baskets", held[anchor])
    column("in_baskets", held[rows])
    column("pair_baskets", probability * held[anchor])
    column("lift", np.where(held[rows] > 0, probability * total / np.maximum(held[rows], 1), np.nan))
    return x


def _price(table: ItemTable, rows: np.ndarray) -> np.ndarray:
    paid = table.paid[rows]
    return np.where(np.isfinite(paid), paid, table.price[rows])


def _pair_scores(neighbours_of, anchors: np.ndarray) -> dict[tuple[int, int], float]:
    """(anchor row, neighbour row) -> score, from one of the table's item-to-item lists."""
    scores = {}
    for anchor in set(anchors.tolist()):
        rows, values = neighbours_of(anchor)
        scores.update({(anchor, row): value for row, value in zip(rows.tolist(), values.tolist(), strict=True)})
    return scores
