"""What the log says about each product at one moment: the ranker's item features and the tables
its candidate sources read (popular lists, co-purchases, the products of each group).

Built from events before a cut-off (training, evaluation) or from the whole log (the stored
model), and kept with the model: serving reads it from memory, with no query per candidate.
"""

import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from scipy.sparse import csr_matrix

from recommendations.ranker.history import Event, LogArrays, Products
from recommendations.ranker.text import text_vectors

POPULAR_KEEP = 200  # the popular lists' length
TYPE_KEEP = 60  # the popular list of each article type
TYPE_PAIRS_KEEP = 6  # the article types most often in a basket with each type
VISUAL_DIM = 32  # photo embeddings projected on their main axes: 3 MB for 25,000 products, not 60
VISUAL_SAMPLE = 5000  # embeddings the projection is fitted on
CO_BOUGHT_KEEP = 20  # neighbours kept per product
CO_BOUGHT_BASKET = 30  # a shopper's newest purchases that count as one basket (caps the pairs per shopper)
BASKET_KEEP = 40  # neighbours kept per product in the shopper-day baskets
BASKET_MAX = 50  # a shopper-day with more distinct products counts its first BASKET_MAX (bulk orders)
# The text source looks among this many best sellers: a request's cost stays bounded at a million
# products (the H&M week sells 10,000 in its last 7 days, all of them kept).
TEXT_POOL = 20_000
TEXT_MIN_SIMILARITY = 0.1  # 0.2, and 30 of them a product: MAP@12 0.0910 against 0.0911 (H&M week, new shoppers)
_DAY = 86400.0


@dataclass
class ItemTable:
    as_of: datetime  # the newest purchase seen (the newest event, if none): "now" for the item features
    ids: np.ndarray  # (n,) product ids
    gender: np.ndarray  # (n,) str
    article_type: np.ndarray  # (n,) str
    group: np.ndarray  # (n,) str; "" for a product that is a group of its own
    subcategory: np.ndarray  # (n,) str
    department: np.ndarray  # (n,) str; "" where the catalog has none
    colour: np.ndarray  # (n,) str
    price: np.ndarray  # (n,) float32, the catalog's; NaN where unknown
    paid: np.ndarray  # (n,) float32, the mean price paid in the last 7 days (sales, discounts); NaN: none
    # Sales count each shopper once per product and day: a shopper buying five of one product in one
    # basket is one sale (this made the popular list better for new shoppers on the H&M week).
    sold_1d: np.ndarray  # (n,) sales on the newest day
    sold_3d: np.ndarray  # (n,) sales on the 3 newest days
    sold_decayed: np.ndarray  # (n,) sales of the newest 7 days, each 1/(1 + age in days)
    type_rank: np.ndarray  # (n,) rank by sold_decayed within its article type; NaN: not sold
    visual: np.ndarray  # (n, VISUAL_DIM) unit vectors (visual_projection); zero rows: no photo embedding
    days_on_sale: np.ndarray  # (n,) days since the first event of any kind on it; NaN: never seen
    buyers: np.ndarray  # (n,) distinct buyers
    rebuy_rate: np.ndarray  # (n,) share of its buyers who bought it more than once
    popular: np.ndarray  # rows, best first (sold_decayed)
    popular_by_gender: dict[str, np.ndarray]  # gender -> rows, best first
    co_bought_ptr: np.ndarray  # CSR: row r's neighbours are co_bought_rows[ptr[r]:ptr[r + 1]]
    co_bought_rows: np.ndarray
    co_bought_score: np.ndarray  # shoppers who bought both / sqrt(buyers of each)
    # What goes with what: products bought on the same day by the same shopper (a "basket"), scored
    # P(other | this) = baskets holding both / baskets holding this; ties by what sells (basket_pairs).
    basket_ptr: np.ndarray
    basket_rows: np.ndarray
    basket_score: np.ndarray
    in_baskets: np.ndarray  # (n,) baskets (shopper-days) holding each product, one-product days included
    # The same at the level of article types (a bra's basket holds briefs): P(type B | type A) over
    # baskets, the TYPE_PAIRS_KEEP most likely other types of each.
    type_pair_from: np.ndarray  # str
    type_pair_to: np.ndarray  # str
    type_pair_score: np.ndarray
    # Each product's words (recommendations.ranker.text), as a CSR matrix's arrays; no rows: none known.
    text_ptr: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    text_terms: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    text_weight: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    index: dict[int, int] = field(init=False, repr=False)  # product id -> row
    members: dict[str, np.ndarray] = field(init=False, repr=False)  # group -> rows, best-selling first
    popular_by_type: dict[str, np.ndarray] = field(init=False, repr=False)  # article type -> rows, best first
    selling: np.ndarray = field(init=False, repr=False)  # rows sold in the last 7 days with a photo embedding
    popular_by_department: dict[str, np.ndarray] = field(init=False, repr=False)  # department -> rows, best first
    goes_with_type: dict[str, list[tuple[str, float]]] = field(init=False, repr=False)  # type -> (type, P), best first
    text: csr_matrix = field(init=False, repr=False)  # (n, terms) unit rows; empty rows where no words
    text_selling: np.ndarray = field(init=False, repr=False)  # the TEXT_POOL best sellers of 7 days with words
    _text_of_selling: csr_matrix = field(init=False, repr=False)  # their rows of ``text``
    # The rows whose item-to-item lists (co_bought, basket) were made; None: every row. A fold's table
    # needs only its shoppers' and baskets' products' (item_table's ``listed``), and reading another
    # row's would silently find nothing: it raises instead. Never stored (a served table has them all).
    listed: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.index = {int(pid): row for row, pid in enumerate(self.ids)}
        grouped: dict[str, list[int]] = defaultdict(list)
        for row, group in enumerate(self.group):
            if group:
                grouped[str(group)].append(row)
        self.members = {group: _best_first(rows, self.sold_decayed) for group, rows in grouped.items()}
        ranked = np.flatnonzero(np.isfinite(self.type_rank))
        by_type: dict[str, list[int]] = defaultdict(list)
        for row in ranked[np.argsort(self.type_rank[ranked], kind="stable")]:
            if self.type_rank[row] < TYPE_KEEP:
                by_type[str(self.article_type[row])].append(int(row))
        self.popular_by_type = {kind: np.array(rows, dtype=np.int64) for kind, rows in by_type.items()}
        self.selling = np.flatnonzero((self.sold_decayed > 0) & self.visual.any(axis=1))
        sold = np.flatnonzero((self.sold_decayed > 0) & (self.department != ""))
        by_department: dict[str, list[int]] = defaultdict(list)
        for row in sold[np.lexsort((sold, -self.sold_decayed[sold]))]:
            if len(by_department[str(self.department[row])]) < TYPE_KEEP:
                by_department[str(self.department[row])].append(int(row))
        self.popular_by_department = {name: np.array(rows, dtype=np.int64) for name, rows in by_department.items()}
        n = len(self.ids)
        if len(self.text_ptr) != n + 1:  # a table stored without words
            self.text_ptr = np.zeros(n + 1, np.int64)
        width = int(self.text_terms.max()) + 1 if len(self.text_terms) else 0
        self.text = csr_matrix((self.text_weight, self.text_terms, self.text_ptr), shape=(n, width))
        selling = np.flatnonzero((self.sold_decayed > 0) & (np.diff(self.text_ptr) > 0))
        best = np.lexsort((selling, -self.sold_decayed[selling]))[:TEXT_POOL]
        self.text_selling = np.sort(selling[best])
        self._text_of_selling = self.text[self.text_selling]
        self.goes_with_type = defaultdict(list)
        for kind, other, score in zip(self.type_pair_from, self.type_pair_to, self.type_pair_score, strict=True):
            self.goes_with_type[str(kind)].append((str(other), float(score)))

    def co_bought(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        self._check_listed(row)
        start, end = self.co_bought_ptr[row], self.co_bought_ptr[row + 1]
        return self.co_bought_rows[start:end], self.co_bought_score[start:end]

    def basket(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """The products bought in the same shopper-day as ``row``, P(them | row) best first."""
        self._check_listed(row)
        start, end = self.basket_ptr[row], self.basket_ptr[row + 1]
        return self.basket_rows[start:end], self.basket_score[start:end]

    def _check_listed(self, row: int) -> None:
        if self.listed is not None and not self.listed[row]:
            raise LookupError(f"Row {row}'s item-to-item lists were not made for this table (item_table's listed).")

    def __getstate__(self) -> dict:
        """Pickled without what is kept per process (the after-a-click lists and pair features of
        clicks._anchor_lists and clicks._pairs_of)."""
        state = dict(self.__dict__)
        for name in ("_anchor_memo", "_pairs_memo"):
            state.pop(name, None)
        return state

    def looks_like_selling(self, row: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` products nearest to ``row``'s photo among those that sold in the last 7 days
        (the VISUAL_DIM projection's cosine), then best-selling first: on the H&M week, a visual
        neighbour re-ordered by sales predicts the rest of a basket 1.6 times as well as the
        nearest in looks. Empty without a photo."""
        if not self.visual[row].any() or not len(self.selling):
            return _NO_ROWS, np.zeros(0, np.float32)
        similarity = self.visual[self.selling] @ self.visual[row]
        keep = min(k + 1, len(self.selling))
        nearest = np.argpartition(-similarity, keep - 1)[:keep]
        rows = self.selling[nearest]
        mask = rows != row
        rows, similarity = rows[mask][:k], similarity[nearest][mask][:k]
        order = np.lexsort((rows, -self.sold_decayed[rows]))
        return rows[order], similarity[order]

    def reads_like_selling(self, row: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` products whose words are most like ``row``'s among the TEXT_POOL best sellers of
        the last 7 days, other than its own colours (a source of their own): by similarity in steps
        of 0.01, then best-selling first. Empty without words."""
        if self.text_ptr[row + 1] == self.text_ptr[row] or not len(self.text_selling):
            return _NO_ROWS, np.zeros(0, np.float32)
        # A sparse matrix times a dense vector: one pass over the pool's words in C (the sparse
        # product of two sparse matrices built a result matrix per call, 25% of an evaluation's time).
        similarity = self._text_of_selling @ self._text_row(row)
        keep = (similarity >= TEXT_MIN_SIMILARITY) & (self.text_selling != row)
        if self.group[row]:
            keep &= self.group[self.text_selling] != self.group[row]
        rows, similarity = self.text_selling[keep], similarity[keep]
        order = np.lexsort((rows, -self.sold_decayed[rows], -np.round(similarity, 2)))[:k]
        return rows[order], similarity[order].astype(np.float32)

    def text_similarity(self, rows: np.ndarray, others: np.ndarray) -> np.ndarray:
        """The cosine of each pair's words (rows[i], others[i]); 0 where either has none."""
        rows, others = np.asarray(rows, dtype=np.int64), np.asarray(others, dtype=np.int64)
        if not self.text.shape[1] or not len(rows):
            return np.zeros(len(rows), np.float32)
        # From the CSR arrays, not scipy's row selection (0.15 ms a call: 0.9 of a request's 3.2 ms of
        # after-a-click ranking): each pair's terms of ``others`` gathered at once, weighted by the
        # dense vector of its anchor (a page's few), and summed per pair.
        anchors, which = np.unique(rows, return_inverse=True)
        dense = np.stack([self._text_row(row) for row in anchors.tolist()])
        start = self.text_ptr[others]
        lengths = self.text_ptr[others + 1] - start
        pair = np.repeat(np.arange(len(others)), lengths)
        flat = np.arange(int(lengths.sum())) + np.repeat(start - (np.cumsum(lengths) - lengths), lengths)
        products = self.text_weight[flat] * dense[which[pair], self.text_terms[flat]]
        return np.bincount(pair, weights=products, minlength=len(others)).astype(np.float32)

    def _text_row(self, row: int) -> np.ndarray:
        """``row``'s words as a dense vector over the vocabulary."""
        vector = np.zeros(self.text.shape[1], np.float32)
        start, end = self.text_ptr[row], self.text_ptr[row + 1]
        vector[self.text_terms[start:end]] = self.text_weight[start:end]
        return vector

    # Stored with the model as one .npz (no pickle: the bytes come from the database).
    _ARRAYS = (
        "ids", "gender", "article_type", "group", "subcategory", "department", "colour", "price", "paid", "sold_1d",
        "sold_3d",
        "sold_decayed", "type_rank", "visual", "days_on_sale", "buyers", "rebuy_rate", "popular", "co_bought_ptr",
        "co_bought_rows", "co_bought_score", "basket_ptr", "basket_rows", "basket_score", "in_baskets",
        "type_pair_from", "type_pair_to", "type_pair_score", "text_ptr", "text_terms", "text_weight",
    )  # fmt: skip

    def to_bytes(self) -> bytes:
        arrays = {name: getattr(self, name) for name in self._ARRAYS}
        arrays["as_of"] = np.array([self.as_of.isoformat()])
        genders = sorted(self.popular_by_gender)
        arrays["popular_genders"] = np.array(genders, dtype=str)
        for number, gender in enumerate(genders):
            arrays[f"popular_gender_{number}"] = self.popular_by_gender[gender]
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "ItemTable":
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            genders = [str(g) for g in stored["popular_genders"]]
            arrays = {name: stored[name] for name in cls._ARRAYS if name in stored}
            if "department" not in arrays:  # a table stored before departments were kept
                arrays["department"] = np.full(len(arrays["ids"]), "", dtype=str)
            if "basket_ptr" not in arrays:  # a table stored before baskets were kept: none
                arrays.update(basket_ptr=np.zeros(len(arrays["ids"]) + 1, np.int64), basket_rows=_NO_ROWS,
                              basket_score=np.zeros(0, np.float32), in_baskets=np.zeros(len(arrays["ids"]), np.float32),
                              type_pair_from=np.zeros(0, str),
                              type_pair_to=np.zeros(0, str), type_pair_score=np.zeros(0, np.float32))  # fmt: skip
            return cls(
                as_of=datetime.fromisoformat(str(stored["as_of"][0])),
                popular_by_gender={g: stored[f"popular_gender_{n}"] for n, g in enumerate(genders)},
                **arrays,
            )


def visual_projection(vectors: np.ndarray) -> np.ndarray:
    """Photo embeddings (unit rows, zeros where none) on their VISUAL_DIM main axes, centred and
    unit again: cosine similarity between products survives well enough to be a feature, at a size
    each web process can hold. Zeros when there are too few embeddings to fit the axes."""
    out = np.zeros((len(vectors), VISUAL_DIM), dtype=np.float32)
    rows = np.flatnonzero(np.abs(vectors).sum(axis=1) > 0)
    if len(rows) < 2 * VISUAL_DIM or vectors.shape[1] < VISUAL_DIM:
        return out
    sample = (
        rows
        if len(rows) <= VISUAL_SAMPLE
        else np.sort(np.random.default_rng(0).choice(rows, VISUAL_SAMPLE, replace=False))
    )
    mean = vectors[sample].mean(axis=0)
    _, _, axes = np.linalg.svd(vectors[sample] - mean, full_matrices=False)
    projected = (vectors[rows] - mean) @ axes[:VISUAL_DIM].T
    out[rows] = projected / np.maximum(np.linalg.norm(projected, axis=1, keepdims=True), 1e-9)
    return out


def product_text(products: Products) -> csr_matrix:
    """text_vectors of the products' names and descriptions."""
    return text_vectors(products.name, products.description)


def item_table(
    products: Products, events: Iterable[Event] | LogArrays, *, visual: np.ndarray | None = None,
    text: csr_matrix | None = None, listed: np.ndarray | None = None,
) -> ItemTable:  # fmt: skip
    """The table as of the newest of ``events`` (Events, or the log as columns). Ages are whole
    24-hour periods before it: on a log of dates (H&M's) they are calendar days, and a table made at
    06:00 counts the 24 hours before, not six hours of "today", as the folds (cut at midnight) do.
    ``visual``: visual_projection of the products' vectors, ``text``: product_text, when the caller
    has them already (they depend on the catalog only). ``listed``: the rows (sorted, distinct) whose
    item-to-item lists are made, each the same as in a whole table; None: every row. A training fold
    reads a few hundred thousand products' lists at ten million events, and making every product's
    was most of a fold's table.

    Built with array operations over the columns, not an event at a time: at ten million events the
    per-event sets and dicts took more than 10 GB. tests/test_item_table.py holds the event-by-event
    definition it must agree with."""
    n = len(products.ids)
    log = LogArrays.of(events, products.index)
    if not len(log):
        raise ValueError("No events: a ranker needs a log to learn from.")
    # "Now" for the sales is the newest purchase (the newest event in a log without any): on a live
    # shop that is minutes ago, and a replayed log followed by a few live clicks (the demo's) keeps
    # its best sellers instead of finding that nothing sold in the days before the clicks.
    bought = log.purchase
    as_of_us = int(log.at_us[bought].max() if bought.any() else log.at_us.max())
    age_s = np.maximum((as_of_us - log.at_us) / 1e6, 0.0)  # an event after the newest purchase is "now"
    oldest = np.full(n, -np.inf)  # seconds since the first event on each product
    np.maximum.at(oldest, log.row, age_s)
    shopper, row, day, price = log.shopper[bought], log.row[bought], log.day[bought], log.price[bought]
    age_days = np.floor_divide(age_s[bought], _DAY).astype(np.int64)
    # The mean price paid in the last week, summed in the log's order.
    priced = (age_days < 7) & ~np.isnan(price)
    paid_sum = np.bincount(row[priced], weights=price[priced], minlength=n)
    paid_count = np.bincount(row[priced], minlength=n)
    # A sale is a (shopper, product, day): a shopper buying five of one product in one basket is one.
    sales = _first_of_each(shopper, row, age_days)
    week = sales[age_days[sales] < 7]
    counts = np.bincount(row[week] * 7 + age_days[week], minlength=n * 7).reshape(n, 7)
    sold_1d = counts[:, 0].astype(np.float32)
    sold_3d = counts[:, :3].sum(axis=1).astype(np.float32)
    sold_decayed = (counts @ (1.0 / (1 + np.arange(7)))).astype(np.float32)
    # Buyers, and those who bought a product again another day (five in one basket are one sale).
    pairs, days_bought = _run_sizes(shopper[sales], row[sales])
    buyers = np.bincount(row[sales][pairs], minlength=n).astype(np.float32)
    rebuyers = np.bincount(row[sales][pairs], weights=days_bought > 1, minlength=n).astype(np.float32)
    popular = _top(sold_decayed, np.ones(n, dtype=bool))
    genders = np.asarray(products.gender)
    ptr, rows, scores = _co_bought(n, *_newest_purchases(shopper, row, log.at_us[bought]), buyers, listed)
    basket, basket_row = _baskets(shopper, day, row)
    basket_ptr, basket_rows, basket_score = basket_pairs(n, basket, basket_row, sold_decayed, listed)
    in_baskets = np.bincount(basket_row, minlength=n).astype(np.float32)
    article_type = np.array(products.article_type, dtype=str)
    type_from, type_to, type_score = type_pairs(article_type, basket, basket_row)
    text = product_text(products) if text is None else text
    return ItemTable(
        as_of=log.moment(as_of_us), ids=np.asarray(products.ids, dtype=np.int64), gender=genders.astype(str),
        article_type=article_type, group=np.array(products.group, dtype=str),
        subcategory=np.array(products.subcategory, dtype=str), department=np.array(products.department, dtype=str),
        colour=np.array(products.colour, dtype=str),
        price=np.asarray(products.price, dtype=np.float32),
        paid=np.divide(paid_sum, paid_count, out=np.full(n, np.nan), where=paid_count > 0).astype(np.float32),
        sold_1d=sold_1d, sold_3d=sold_3d, sold_decayed=sold_decayed, type_rank=_rank_within(article_type, sold_decayed),
        visual=visual_projection(products.vectors) if visual is None else visual,
        days_on_sale=np.where(np.isfinite(oldest), oldest / _DAY, np.nan).astype(np.float32),
        buyers=buyers, rebuy_rate=np.divide(rebuyers, buyers, out=np.zeros(n, np.float32), where=buyers > 0),
        popular=popular,
        popular_by_gender={str(g): _top(sold_decayed, genders == g) for g in np.unique(genders)},
        co_bought_ptr=ptr, co_bought_rows=rows, co_bought_score=scores,
        basket_ptr=basket_ptr, basket_rows=basket_rows, basket_score=basket_score, in_baskets=in_baskets,
        type_pair_from=type_from, type_pair_to=type_to, type_pair_score=type_score,
        text_ptr=text.indptr.astype(np.int64), text_terms=text.indices.astype(np.int32),
        text_weight=text.data.astype(np.float32),
        listed=None if listed is None else _mask(n, listed),
    )  # fmt: skip


def _mask(n: int, rows: np.ndarray) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    return mask


def _sorted_runs(*keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the positions sorted by ``keys``, then by position; where each run of equal keys starts)."""
    if not len(keys[0]):
        return _NO_ROWS, np.zeros(0, dtype=bool)
    low = [int(key.min()) for key in keys]
    dims = [int(key.max()) - start + 1 for key, start in zip(keys, low, strict=True)]
    if float(np.prod(np.array(dims, dtype=np.float64))) < 2.0**62:
        # One int64 key and a stable sort: several times faster than lexsort over the columns.
        combined = np.ravel_multi_index([key - start for key, start in zip(keys, low, strict=True)], dims)
        order = np.argsort(combined, kind="stable")
        return order, _run_starts(combined[order])
    order = np.lexsort((np.arange(len(keys[0])), *reversed(keys)))
    new = np.ones(len(order), dtype=bool)
    new[1:] = np.any([key[order][1:] != key[order][:-1] for key in keys], axis=0)
    return order, new


def _first_of_each(*keys: np.ndarray) -> np.ndarray:
    """The position of the first entry of each distinct combination of ``keys``, in position order."""
    order, new = _sorted_runs(*keys)
    return np.sort(order[new])


def _run_sizes(*keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the first position of each distinct combination of ``keys``, how many entries it has), in
    the order of the keys."""
    order, new = _sorted_runs(*keys)
    starts = np.flatnonzero(new)
    return order[starts], np.diff(np.r_[starts, len(order)])


def _run_starts(values: np.ndarray) -> np.ndarray:
    """Where each run of equal ``values`` starts (True at the first entry of each)."""
    return np.r_[True, values[1:] != values[:-1]] if len(values) else np.zeros(0, dtype=bool)


def _rank_in_runs(new: np.ndarray) -> np.ndarray:
    """Each entry's position within its run (``new`` marks where each run starts)."""
    start_of = np.flatnonzero(new)[np.cumsum(new) - 1]
    return np.arange(len(new)) - start_of


def _newest_purchases(shopper: np.ndarray, row: np.ndarray, at_us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(shopper, row) of each shopper's newest CO_BOUGHT_BASKET distinct products, by the time of
    their newest purchase of each (on a tie, the product they bought first comes first)."""
    order, new = _sorted_runs(shopper, row)
    first = order[new]  # each pair's first purchase
    pair = np.cumsum(new) - 1  # each purchase's pair, in sorted order
    newest = np.full(len(first), np.iinfo(np.int64).min)
    np.maximum.at(newest, pair, at_us[order])
    buyer = shopper[first]
    ranked = np.lexsort((first, -newest, buyer))
    within = _rank_in_runs(_run_starts(buyer[ranked]))
    keep = ranked[within < CO_BOUGHT_BASKET]
    return buyer[keep], row[first][keep]


def _baskets(shopper: np.ndarray, day: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(basket number, row) of each shopper-day's distinct purchased products: the first BASKET_MAX
    of each basket, in the order first bought (bulk orders count no more)."""
    first = _first_of_each(shopper, day, row)
    order, new = _sorted_runs(shopper[first], day[first])  # by basket, then in the order bought
    keep = order[_rank_in_runs(new) < BASKET_MAX]
    number = np.empty(len(first), np.int64)
    number[order] = np.cumsum(new) - 1
    return number[keep], row[first][keep]


def _best_first(rows: list[int], scores: np.ndarray) -> np.ndarray:
    rows = np.array(rows, dtype=np.int64)
    return rows[np.lexsort((rows, -scores[rows]))]


def _rank_within(kinds: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Each sold product's rank among the products of its kind (0: the best seller); NaN if unsold."""
    rank = np.full(len(kinds), np.nan, dtype=np.float32)
    sold = np.flatnonzero(scores > 0)
    order = sold[np.lexsort((sold, -scores[sold], kinds[sold]))]  # by kind, then best first
    counts: dict[str, int] = defaultdict(int)
    for row in order:
        rank[row] = counts[kinds[row]]
        counts[kinds[row]] += 1
    return rank


def _top(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(mask & (scores > 0))
    order = np.lexsort((rows, -scores[rows]))  # best first, ties by row: stable across runs
    return rows[order][:POPULAR_KEEP].astype(np.int64)


_NO_ROWS = np.zeros(0, dtype=np.int64)


def basket_pairs(
    n: int, basket: np.ndarray, row: np.ndarray, sold: np.ndarray, listed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Item to item from baskets (``basket[i]`` holds ``row[i]``; a basket's rows distinct): for
    each product, the BASKET_KEEP others most often in a basket with it, scored P(other | this) =
    baskets with both / baskets with this. For one product the order is the raw count's (the
    one-click heuristic of ../shared/RANKING.md); over several, the probabilities add up as
    comparable numbers. Ties go to what sells (``sold``), then the row. ``listed``: as item_table's."""
    shared = np.bincount(basket)[basket] > 1 if len(basket) else np.zeros(0, dtype=bool)
    count = int(basket.max()) + 1 if len(basket) else 0
    matrix = csr_matrix((np.ones(int(shared.sum()), np.float32), (basket[shared], row[shared])), shape=(count, n))
    this, other, together = _pairs_off_the_diagonal(matrix, listed)
    holding = np.bincount(row, minlength=n).astype(np.float32)
    score = together / holding[this]
    # Ties go to what sells, then the row: each product's place in that order.
    selling_rank = np.empty(n, np.int64)
    selling_rank[np.lexsort((np.arange(n), -sold))] = np.arange(n)
    return _best_per_row(n, this, other, score, BASKET_KEEP, tie_rank=selling_rank)


def _pairs_off_the_diagonal(
    matrix: csr_matrix, listed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The entries of matrix.T @ matrix (how many rows of ``matrix`` hold both columns) off its
    diagonal, as (row, column, value) in row order and each row's columns in order; only the rows
    ``listed`` (sorted, distinct) when given. The transpose is made CSR before the product, so that
    the product is CSR as it comes, and the diagonal is left out by a mask: converting the product
    and scipy's setdiag cost about a tenth of an item table's build at ten million events."""
    transposed = matrix.T.tocsr()
    if listed is not None:
        transposed = transposed[listed]
    both = transposed @ matrix
    both.sum_duplicates()  # canonical: each row's columns in order
    this = _entry_rows(both)
    if listed is not None:
        this = listed.astype(np.int32)[this]
    off = this != both.indices
    return this[off], both.indices[off], both.data[off]


def _entry_rows(matrix: csr_matrix) -> np.ndarray:
    """The row of each stored entry of ``matrix`` (int32: tens of millions of pairs at ten million events)."""
    return np.repeat(np.arange(matrix.shape[0], dtype=np.int32), np.diff(matrix.indptr))


def _best_per_row(
    n: int, this: np.ndarray, other: np.ndarray, score: np.ndarray, keep: int, *, tie_rank: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each row, its ``keep`` best columns as CSR arrays (ptr, columns, scores): entry i is
    (``this[i]``, ``other[i]``), in row order and each row's columns in order (a canonical CSR
    matrix's _entry_rows and indices); best by ``score`` (one per entry, never negative),
    then by ``tie_rank`` of the column (smaller first; None: no such tie-break), then the column.
    All rows at once: a loop over a million products took most of the build. Two stable sorts of
    one int64 key each (the rank of the tie-break, then the row and the score's bits, which order
    as the score does) instead of a lexsort of four columns: about half the time at ten million;
    a block of rows at a time (PAIRS_BLOCK)."""
    kept = np.concatenate([
        start + _best_in_block(this[start:end], other[start:end], score[start:end], keep, tie_rank)
        for start, end in _row_blocks(this, PAIRS_BLOCK)
    ]) if len(this) else _NO_ROWS  # fmt: skip
    ptr = np.zeros(n + 1, np.int64)
    ptr[1:] = np.cumsum(np.bincount(this[kept], minlength=n))
    return ptr, other[kept].astype(np.int64), score[kept].astype(np.float32)


# Entries _best_per_row sorts at once: a block of whole rows at a time, so that its sort keys and
# orders (four int64 arrays the size of the block) stay a few hundred megabytes at ten million events.
PAIRS_BLOCK = 4_000_000


def _row_blocks(this: np.ndarray, size: int) -> list[tuple[int, int]]:
    """[start, end) ranges of about ``size`` entries of ``this`` (rows, in order), never splitting a row."""
    cuts = np.searchsorted(this, this[np.arange(size, len(this), size)], side="left")
    bounds = np.unique(np.concatenate([[0], cuts, [len(this)]]))
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))


def _best_in_block(
    this: np.ndarray, other: np.ndarray, score: np.ndarray, keep: int, tie_rank: np.ndarray | None
) -> np.ndarray:
    """The positions of each row's ``keep`` best entries in a block of whole rows, best first in each row."""
    order = np.arange(len(other)) if tie_rank is None else np.argsort(tie_rank[other], kind="stable")
    key = this[order].astype(np.int64) << 32
    key |= np.int64(np.iinfo(np.int32).max) - score.astype(np.float32).view(np.int32)[order]
    order = order[np.argsort(key, kind="stable")]
    del key
    return order[_rank_in_runs(_run_starts(this[order])) < keep]


def type_pairs(
    article_type: np.ndarray, basket: np.ndarray, row: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each article type, the TYPE_PAIRS_KEEP other types most often bought in the same basket,
    P(other type | this type) over the baskets holding this type (``basket[i]`` holds ``row[i]``)."""
    kinds, kind_of_row = np.unique(article_type, return_inverse=True)
    if not len(basket):
        return np.zeros(0, dtype=str), np.zeros(0, dtype=str), np.zeros(0, np.float32)
    held = _first_of_each(basket, kind_of_row[row])
    matrix = csr_matrix(
        (np.ones(len(held), np.float32), (basket[held], kind_of_row[row[held]])),
        shape=(int(basket.max()) + 1, len(kinds)),
    )
    holding = np.bincount(kind_of_row[row[held]], minlength=len(kinds)).astype(np.float64)
    both = (matrix.T @ matrix).tocoo()
    other = both.row != both.col
    kind, partner, together = both.row[other], both.col[other], both.data[other].astype(np.float64)
    probability = together / holding[kind]
    # By type (the names' order), then most likely first, then the other type's name.
    order = np.lexsort((partner, -probability, kind))
    kind, partner, probability = kind[order], partner[order], probability[order]
    keep = _rank_in_runs(_run_starts(kind)) < TYPE_PAIRS_KEEP
    return kinds[kind[keep]].astype(str), kinds[partner[keep]].astype(str), probability[keep].astype(np.float32)


def _co_bought(
    n: int, shopper: np.ndarray, row: np.ndarray, buyers: np.ndarray, listed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Item to item: how many shoppers bought both (``shopper[i]`` bought ``row[i]``: their newest
    CO_BOUGHT_BASKET products), over the square root of each product's buyers, so that best-sellers
    do not neighbour everything. ``listed``: as item_table's."""
    shoppers = int(shopper.max()) + 1 if len(shopper) else 0
    baskets = csr_matrix((np.ones(len(row), np.float32), (shopper, row)), shape=(shoppers, n))
    this, other, together = _pairs_off_the_diagonal(baskets, listed)
    norm = np.sqrt(np.maximum(buyers, 1))
    score = together / (norm[this] * norm[other])
    return _best_per_row(n, this, other, score, CO_BOUGHT_KEEP)
