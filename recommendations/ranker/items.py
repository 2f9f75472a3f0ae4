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

from recommendations.ranker.history import Event, Products

POPULAR_KEEP = 200  # the popular lists' length
TYPE_KEEP = 20  # the popular list of each article type
VISUAL_DIM = 32  # photo embeddings projected on their main axes: 3 MB for 25,000 products, not 60
VISUAL_SAMPLE = 5000  # embeddings the projection is fitted on
CO_BOUGHT_KEEP = 20  # neighbours kept per product
CO_BOUGHT_BASKET = 30  # a shopper's newest purchases that count as one basket (caps the pairs per shopper)
_DAY = 86400.0


@dataclass
class ItemTable:
    as_of: datetime  # the newest purchase seen (the newest event, if none): "now" for the item features
    ids: np.ndarray  # (n,) product ids
    gender: np.ndarray  # (n,) str
    article_type: np.ndarray  # (n,) str
    group: np.ndarray  # (n,) str; "" for a product that is a group of its own
    subcategory: np.ndarray  # (n,) str
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
    index: dict[int, int] = field(init=False, repr=False)  # product id -> row
    members: dict[str, np.ndarray] = field(init=False, repr=False)  # group -> rows, best-selling first
    popular_by_type: dict[str, np.ndarray] = field(init=False, repr=False)  # article type -> rows, best first

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

    def co_bought(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        start, end = self.co_bought_ptr[row], self.co_bought_ptr[row + 1]
        return self.co_bought_rows[start:end], self.co_bought_score[start:end]

    # Stored with the model as one .npz (no pickle: the bytes come from the database).
    _ARRAYS = (
        "ids", "gender", "article_type", "group", "subcategory", "colour", "price", "paid", "sold_1d", "sold_3d",
        "sold_decayed", "type_rank", "visual", "days_on_sale", "buyers", "rebuy_rate", "popular", "co_bought_ptr",
        "co_bought_rows", "co_bought_score",
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
            return cls(
                as_of=datetime.fromisoformat(str(stored["as_of"][0])),
                popular_by_gender={g: stored[f"popular_gender_{n}"] for n, g in enumerate(genders)},
                **{name: stored[name] for name in cls._ARRAYS},
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


def item_table(products: Products, events: Iterable[Event], *, visual: np.ndarray | None = None) -> ItemTable:
    """The table as of the newest of ``events``. Ages are whole 24-hour periods before it: on a log
    of dates (H&M's) they are calendar days, and a table made at 06:00 counts the 24 hours before,
    not six hours of "today", as the folds (cut at midnight) do. ``visual``: visual_projection of
    the products' vectors, when the caller has it already (it depends on the photos only)."""
    n = len(products.ids)
    index = products.index
    events = [event for event in events if event.product_id in index]
    if not events:
        raise ValueError("No events: a ranker needs a log to learn from.")
    # "Now" for the sales is the newest purchase (the newest event in a log without any): on a live
    # shop that is minutes ago, and a replayed log followed by a few live clicks (the demo's) keeps
    # its best sellers instead of finding that nothing sold in the days before the clicks.
    purchases = [event.at for event in events if event.kind == "purchase"]
    as_of = max(purchases) if purchases else max(event.at for event in events)
    oldest = np.full(n, -np.inf)  # seconds since the first event on each product
    sales: set[tuple[object, int, int]] = set()  # (shopper, row, age in days): one sale each
    bought: dict[object, dict[int, set[int]]] = defaultdict(dict)  # shopper -> row -> the days they bought it
    newest_purchase: dict[object, dict[int, datetime]] = defaultdict(dict)
    paid_sum, paid_count = np.zeros(n), np.zeros(n)
    for event in events:
        shopper, row, at = event.shopper, index[event.product_id], event.at
        age_s = max((as_of - at).total_seconds(), 0.0)  # an event after the newest purchase is "now"
        oldest[row] = max(oldest[row], age_s)
        if event.kind != "purchase":
            continue
        age_days = int(age_s // _DAY)
        if event.price is not None and age_days < 7:
            paid_sum[row] += event.price
            paid_count[row] += 1
        sales.add((shopper, row, age_days))
        bought[shopper].setdefault(row, set()).add(age_days)
        newest_purchase[shopper][row] = max(at, newest_purchase[shopper].get(row, at))
    sold_1d, sold_3d, sold_decayed = np.zeros(n, np.float32), np.zeros(n, np.float32), np.zeros(n, np.float32)
    for _, row, age_days in sales:
        sold_1d[row] += age_days < 1
        sold_3d[row] += age_days < 3
        if age_days < 7:
            sold_decayed[row] += 1.0 / (1 + age_days)
    buyers, rebuyers = np.zeros(n, np.float32), np.zeros(n, np.float32)
    for days in bought.values():
        for row, on in days.items():
            buyers[row] += 1
            rebuyers[row] += len(on) > 1  # bought again another day: five in one basket are one sale
    popular = _top(sold_decayed, np.ones(n, dtype=bool))
    genders = np.asarray(products.gender)
    ptr, rows, scores = _co_bought(n, newest_purchase, buyers)
    article_type = np.array(products.article_type, dtype=str)
    return ItemTable(
        as_of=as_of, ids=np.asarray(products.ids, dtype=np.int64), gender=genders.astype(str),
        article_type=article_type, group=np.array(products.group, dtype=str),
        subcategory=np.array(products.subcategory, dtype=str), colour=np.array(products.colour, dtype=str),
        price=np.asarray(products.price, dtype=np.float32),
        paid=np.divide(paid_sum, paid_count, out=np.full(n, np.nan), where=paid_count > 0).astype(np.float32),
        sold_1d=sold_1d, sold_3d=sold_3d, sold_decayed=sold_decayed, type_rank=_rank_within(article_type, sold_decayed),
        visual=visual_projection(products.vectors) if visual is None else visual,
        days_on_sale=np.where(np.isfinite(oldest), oldest / _DAY, np.nan).astype(np.float32),
        buyers=buyers, rebuy_rate=np.divide(rebuyers, buyers, out=np.zeros(n, np.float32), where=buyers > 0),
        popular=popular,
        popular_by_gender={str(g): _top(sold_decayed, genders == g) for g in np.unique(genders)},
        co_bought_ptr=ptr, co_bought_rows=rows, co_bought_score=scores,
    )  # fmt: skip


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


def _co_bought(
    n: int, newest_purchase: dict[object, dict[int, datetime]], buyers: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Item to item: how many shoppers bought both (their newest CO_BOUGHT_BASKET purchases), over
    the square root of each product's buyers, so that best-sellers do not neighbour everything."""
    shopper_rows, item_rows = [], []
    for number, newest in enumerate(newest_purchase.values()):
        basket = sorted(newest, key=newest.get, reverse=True)[:CO_BOUGHT_BASKET]
        shopper_rows += [number] * len(basket)
        item_rows += basket
    baskets = csr_matrix(
        (np.ones(len(item_rows), np.float32), (shopper_rows, item_rows)), shape=(len(newest_purchase), n)
    )
    both = (baskets.T @ baskets).tocsr()
    both.setdiag(0)
    both.eliminate_zeros()
    ptr, rows, scores = [0], [], []
    norm = np.sqrt(np.maximum(buyers, 1))
    for row in range(n):
        start, end = both.indptr[row], both.indptr[row + 1]
        if end > start:
            neighbours = both.indices[start:end]
            score = both.data[start:end] / (norm[row] * norm[neighbours])
            best = np.lexsort((neighbours, -score))[:CO_BOUGHT_KEEP]
            rows.append(neighbours[best])
            scores.append(score[best])
        ptr.append(ptr[-1] + (min(end - start, CO_BOUGHT_KEEP)))
    return (
        np.array(ptr, dtype=np.int64),
        np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64),
        np.concatenate(scores).astype(np.float32) if scores else np.zeros(0, np.float32),
    )
