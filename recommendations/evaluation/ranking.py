"""Top-K lists per shopper, through the homepage's own pieces.

Per shopper, the candidate sources are computed once (trending; ALS through the serving
model's recalculate_user; visual through the serving visual preference, with an exact cosine
search where serving walks the HNSW index). A strategy is a set of blend weights: most popular
is {"trending": 1}, visual-only {"visual": 1}, and so on. Each list then goes through serving's
``blend`` and ``fill_row`` (the hard filters, the cap per article type, the exploration slot)
and is topped up from trending, so that the only difference between strategies is the ranking.
"""

import random
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from recommendations.domain import Candidate, Shopper
from recommendations.evaluation.data import Catalog
from recommendations.evaluation.fitting import Fitted
from recommendations.ranker.training import RankerFit
from recommendations.selectors.collaborative import collaborative_candidates
from recommendations.selectors.rows import blend, fill_row
from recommendations.selectors.sources import buy_again_candidates, visual_preference

VISUAL_KEEP = 60  # as visual_candidates


@dataclass
class ShopperSources:
    eligible: np.ndarray  # (n,) bool: the hard filters for this shopper
    eligible_rows: np.ndarray  # np.flatnonzero(eligible), for the exploration draws
    seen: set[int]  # purchased and recently seen: never recommended again (as the homepage)
    sources: dict[str, list[Candidate]]
    filtered: np.ndarray | None = None  # (n,) bool: the hard filters alone, purchases allowed (Buy again)


def shopper_sources(fitted: Fitted, key, *, blend: bool = True) -> ShopperSources:
    """The shopper's hard filters and the blend's sources (``blend=False``: trending alone, for a
    page whose first row the ranker fills; the visual search is the costly part)."""
    catalog = fitted.catalog
    shopper = fitted.shoppers.get(key) or Shopper(user_id=None, visitor=None)
    eligible = catalog.available.copy()
    genders = shopper.allowed_genders()
    if genders is not None:
        eligible &= np.isin(catalog.gender, genders)
    filtered = eligible.copy()
    seen = set(shopper.purchased) | set(shopper.recent_product_ids[: settings.PREFERENCE_RECENT_EVENTS])
    for pid in shopper.purchased:
        eligible[catalog.index[pid]] = False
    sources: dict[str, list[Candidate]] = {"trending": fitted.trending}
    if blend and shopper.recent and fitted.als is not None:
        sources["als"] = collaborative_candidates(fitted.als, shopper)
    if blend:
        sources["visual"] = _visual(fitted, shopper, eligible, seen)
    return ShopperSources(eligible, np.flatnonzero(eligible), seen, sources, filtered)


def with_refitted_als(base: ShopperSources, fitted: Fitted, key) -> ShopperSources:
    """``base`` with the ALS candidates of another fit on the same training events: the filters,
    trending and the visual candidates depend only on those events, and the visual search is the
    costly part, so tuning computes it once per shopper instead of once per ALS setting."""
    shopper = fitted.shoppers.get(key)
    sources = {name: candidates for name, candidates in base.sources.items() if name != "als"}
    if shopper is not None and fitted.als is not None:
        sources["als"] = collaborative_candidates(fitted.als, shopper)
    return ShopperSources(base.eligible, base.eligible_rows, base.seen, sources, base.filtered)


def _visual(fitted: Fitted, shopper: Shopper, eligible: np.ndarray, seen: set[int]) -> list[Candidate]:
    catalog = fitted.catalog
    recent = shopper.recent_product_ids[: settings.PREFERENCE_RECENT_EVENTS]
    vectors = {pid: catalog.vectors[catalog.index[pid]] for pid in recent if catalog.embedded[catalog.index[pid]]}
    preference = visual_preference(shopper, vectors)
    if preference is None:
        return []
    mask = eligible & catalog.embedded
    for pid in seen:
        mask[catalog.index[pid]] = False
    keep = min(VISUAL_KEEP, int(mask.sum()))
    if not keep:
        return []
    similarity = np.where(mask, catalog.vectors @ preference, -np.inf)
    top = np.argpartition(-similarity, keep - 1)[:keep]
    top = top[np.argsort(-similarity[top])]
    return [Candidate(int(catalog.ids[i]), float(similarity[i]), "visual") for i in top]


def recommend(fitted: Fitted, sources: ShopperSources, weights: dict[str, float], *, k: int, seed: int) -> list[int]:
    """The first row the shopper would see with these blend weights."""
    catalog = fitted.catalog
    ranked = [c for c in blend(sources.sources, weights) if c.product_id not in sources.seen]
    ranked += [Candidate(c.product_id, 0.0, "trending") for c in fitted.trending if c.product_id not in sources.seen]
    article_types = _EligibleArticleTypes(catalog, sources.eligible)
    rng = random.Random(seed)
    explore = _exploration(fitted, sources, count=3 * settings.ROW_EXPLORATION_SLOTS, rng=rng)
    cards = fill_row(ranked, article_types, {}, size=k, explore=explore)
    chosen = [card.product_id for card in cards]
    if len(chosen) < k:  # serving's top_up: any eligible product
        taken = set(chosen)
        spare = (int(pid) for pid in catalog.ids[sources.eligible_rows] if int(pid) not in taken)
        chosen += [pid for _, pid in zip(range(k - len(chosen)), spare, strict=False)]
    return chosen


class _EligibleArticleTypes(Mapping):
    """fill_row's ``article_types`` (eligible product id -> article type), looked up lazily: the
    row fills after a few dozen of the hundreds of candidates, and tuning builds thousands of rows."""

    def __init__(self, catalog: Catalog, eligible: np.ndarray) -> None:
        self.catalog, self.eligible = catalog, eligible

    def __getitem__(self, product_id: int) -> str:
        row = self.catalog.index.get(product_id)
        if row is None or not self.eligible[row]:
            raise KeyError(product_id)
        return self.catalog.article_type[row]

    def __iter__(self):
        return (int(self.catalog.ids[row]) for row in np.flatnonzero(self.eligible))

    def __len__(self) -> int:
        return int(self.eligible.sum())


def _exploration(fitted: Fitted, sources: ShopperSources, *, count: int, rng: random.Random) -> list[int]:
    rows = sources.eligible_rows
    picks = [int(fitted.catalog.ids[rows[i]]) for i in rng.sample(range(len(rows)), min(count * 2, len(rows)))]
    return [pid for pid in picks if pid not in sources.seen][:count]


def shopper_seed(key, seed: int) -> int:
    """The same exploration draws for a shopper under every strategy, stable across runs."""
    return zlib.crc32(repr(key).encode()) ^ seed


def repurchase_list(fitted: Fitted, sources: ShopperSources, key, *, k: int, same_product: bool) -> list[int]:
    """The no-model heuristics of issue 11: the shopper's purchases newest first, then (with
    ``same_product``) the other colours of them, then the decayed popular list; hard filters only."""
    catalog, chosen, taken = fitted.catalog, [], set()

    def add(pid: int) -> None:
        row = catalog.index.get(pid)
        if row is not None and sources.filtered[row] and pid not in taken and len(chosen) < k:
            chosen.append(pid)
            taken.add(pid)

    shopper = fitted.shoppers.get(key)
    bought = list(dict.fromkeys(e.product_id for e in shopper.recent if e.kind == "purchase")) if shopper else []
    for pid in bought:
        add(pid)
    if same_product:
        for pid in bought:
            for other in catalog.members.get(catalog.group[catalog.index[pid]], ()):
                add(other)
    for pid in fitted.popular:
        add(pid)
    return chosen


def ranked_candidates(ranker: RankerFit, fitted: Fitted, key) -> tuple[list[Candidate], list[Candidate]]:
    """Serving's ranked_candidates on the evaluation's shopper: every source's candidates, best
    first by the model, before the hard filters; and the same candidates in the sources' own order."""
    shopper = fitted.shoppers.get(key)
    if shopper is None:
        return [], []
    repurchases = settings.RECOMMEND_REPURCHASES
    pool, scores = ranker.rank(shopper, repurchases=repurchases)
    return ranker.candidates(shopper, repurchases=repurchases), pool.candidates(ranker.table, np.zeros(len(scores)))


def ranker_list(
    fitted: Fitted, sources: ShopperSources, ranked: list[Candidate], *, k: int, diversify: bool,
    popular: list[int] | None = None,
) -> list[int]:  # fmt: skip
    """The ranked candidates through the hard filters (with ``diversify``, through the row's cap per
    article type, as "Recommended for you" shows them), topped up with ``popular`` (default: the
    heuristics' decayed popular list): what a shopper without history, or with too few candidates, sees."""
    catalog = fitted.catalog
    types = _EligibleArticleTypes(catalog, sources.filtered)
    if diversify:
        cards = fill_row(ranked, types, {}, size=k, explore=[],
                         per_type=settings.RANKED_ROW_MAX_PER_ARTICLE_TYPE)  # fmt: skip
        chosen = [card.product_id for card in cards]
    else:
        chosen = [c.product_id for c in ranked if c.product_id in types][:k]
    taken = set(chosen)
    for pid in fitted.popular if popular is None else popular:
        if len(chosen) >= k:
            break
        if pid not in taken and pid in types:
            chosen.append(pid)
            taken.add(pid)
    return chosen


def source_list(fitted: Fitted, sources: ShopperSources, pooled: list[Candidate], source: str, *, k: int) -> list[int]:
    """One of the ranker's sources alone, in its own order, then popular."""
    return ranker_list(fitted, sources, [c for c in pooled if c.source == source], k=k, diversify=False)


def homepage_list(
    fitted: Fitted, sources: ShopperSources, weights: dict[str, float], key, *, k: int, seed: int,
    ranked: list[Candidate] | None = None,
) -> list[int]:  # fmt: skip
    """The homepage as served, rows in order. With a ranker: "Recommended for you" (the ranked
    candidates, capped per article type), then the rest. Without: "Buy again" (serving's own
    buy-again scores, then the other colours), then "Recommended for you" (the blend); the first
    ``k`` products."""
    catalog = fitted.catalog
    shopper = fitted.shoppers.get(key)
    if ranked:
        first = ranker_list(fitted, sources, ranked, k=k, diversify=True)
        return list(dict.fromkeys([*first, *homepage_list(fitted, sources, weights, key, k=k, seed=seed)]))[:k]
    again: list[Candidate] = []
    if shopper is not None and shopper.purchased and settings.RECOMMEND_REPURCHASES:
        again = buy_again_candidates(shopper)
        anchors: dict[str, Candidate] = {}
        for candidate in again:
            group = catalog.group[catalog.index[candidate.product_id]]
            if group and candidate.score > anchors.get(group, Candidate(0, -1.0, "")).score:
                anchors[group] = candidate
        bought = {c.product_id for c in again}
        colours = [
            Candidate(other, anchor.score, "same_product", anchor.product_id)
            for group, anchor in anchors.items()
            for other in catalog.members[group]
            if other not in bought
        ]
        again += sorted(colours, key=lambda c: (-c.score, c.product_id))
    types = _EligibleArticleTypes(catalog, sources.filtered)
    cards = fill_row(again, types, {}, size=k, explore=[]) if again else []
    chosen = [card.product_id for card in cards]
    rest = recommend(fitted, sources, weights, k=k, seed=seed)
    return list(dict.fromkeys([*chosen, *rest]))[:k]
