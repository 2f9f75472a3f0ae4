"""Top-K lists per shopper, through the homepage's own pieces.

Per shopper, the candidate sources are computed once (trending; ALS through the serving
model's recalculate_user; visual through the serving visual preference, with an exact cosine
search where serving walks the HNSW index). A strategy is a set of blend weights: most popular
is {"trending": 1}, visual-only {"visual": 1}, and so on. Each list then goes through serving's
``blend`` and ``fill_row`` (the hard filters, the cap per article type, the exploration slot)
and is topped up from trending, so that the only difference between strategies is the ranking.
"""

import dataclasses
import random
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.conf import settings

from merchandising.selectors.rules import PROMOTE_CANDIDATES, CompiledRule
from recommendations.domain import Candidate, Shopper
from recommendations.evaluation.data import Catalog
from recommendations.evaluation.fitting import Fitted
from recommendations.ranker.training import RankerFit
from recommendations.selectors.collaborative import collaborative_candidates
from recommendations.selectors.merchandise import rows_merchandised
from recommendations.selectors.rows import (
    BECAUSE_ROW,
    BUY_AGAIN_ROW,
    PageSources,
    Row,
    anchors_of,
    blend,
    fill_row,
    group_of,
    page_rows,
    reason_for,
)
from recommendations.selectors.sources import ProductFacts, buy_again_candidates, colour_candidates, visual_preference

VISUAL_KEEP = 60  # as visual_candidates
COLOURS_KEEP = 60  # as same_product_candidates


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
    return _nearest(catalog, eligible, seen, preference, VISUAL_KEEP)


def _nearest(catalog: Catalog, passing: np.ndarray, seen: set[int], vector: np.ndarray, keep: int,
             anchor: int | None = None) -> list[Candidate]:  # fmt: skip
    """The ``keep`` embedded products nearest to ``vector`` (exact cosine) among those ``passing``
    the filters and not ``seen``, nearest first, as "visual" candidates."""
    mask = passing & catalog.embedded
    for pid in seen:
        mask[catalog.index[pid]] = False
    keep = min(keep, int(mask.sum()))
    if not keep:
        return []
    similarity = np.where(mask, catalog.vectors @ vector, -np.inf)
    top = np.argpartition(-similarity, keep - 1)[:keep]
    top = top[np.argsort(-similarity[top])]
    return [Candidate(int(catalog.ids[i]), float(similarity[i]), "visual", anchor) for i in top]


def recommend(fitted: Fitted, sources: ShopperSources, weights: dict[str, float], *, k: int, seed: int) -> list[int]:
    """The first ``k`` products of the page the shopper would see with these blend weights and
    no ranker: "Recommended for you" (the blend), then "Trending now" (a shopper without history:
    only that), assembled by serving's page_rows."""
    blended = blend(sources.sources, weights)
    return served_page(fitted, sources, None, PageSources(trending=fitted.trending, blended=blended), k=k, seed=seed)


def served_page(
    fitted: Fitted, sources: ShopperSources, key, page: PageSources, *, k: int, seed: int,
    because: Callable[[], list[Candidate]] | None = None,
) -> list[int]:  # fmt: skip
    """The first ``k`` products of the homepage serving assembles from these lists (selectors.rows.page_rows,
    the one assembly: its rows, their order, the one-row rule, the cap per article type, the
    exploration slots), topped up as serving's top_up does, with any eligible product in id order.
    ``because``: "Because you viewed"'s candidates, computed only when the rows above it leave the
    first ``k`` short (on a full first row they cannot change the list scored)."""
    return served_pages(fitted, sources, key, page, k=k, seed=seed, because=because).plain


@dataclass(frozen=True, slots=True)
class ServedPages:
    plain: list[int]  # the homepage's first k products as served
    promoted: list[int] | None = None  # the same page with a promote rule on its first row


@dataclass(frozen=True, slots=True)
class Promotion:
    """A merchandiser's promote rule, for the evaluation (issue 44: what a rule costs in relevance):
    the fold's new arrivals (products first sold in the last ``days`` days before the cut-off: a log
    has no launch dates), newest first, take up to ``max_cards`` of the homepage's first row, placed
    by serving's own rules code (selectors.merchandise)."""

    rule: CompiledRule
    days: int


def new_arrivals_promotion(train: list, cutoff, *, days: int, max_cards: int) -> Promotion:
    """From the fold's training events only: a test day's sales never say what is new."""
    first_sold: dict[int, object] = {}
    for event in train:
        if event.kind == "purchase" and (event.product_id not in first_sold or event.at < first_sold[event.product_id]):
            first_sold[event.product_id] = event.at
    since = cutoff - timedelta(days=days)
    new = sorted((at, pid) for pid, at in first_sold.items() if at >= since)
    candidates = tuple(pid for _, pid in reversed(new))
    rule = CompiledRule(pk=0, name=f"New arrivals ({days} d)", action="promote", surfaces=frozenset({"home"}),
                        row="", genders=frozenset(), matching=frozenset(candidates),
                        candidates=candidates[:PROMOTE_CANDIDATES], max_cards=max_cards)  # fmt: skip
    return Promotion(rule, days)


def _promoted(rows: list[Row], promotion: Promotion, fitted: Fitted, sources: ShopperSources, size: int, groups):
    """The rows with the promotion on their first (Buy again, whose title promises the shopper's own
    purchases, is not promoted into), through serving's rows_merchandised."""
    rows = [Row(row.key, row.title, list(row.cards), row.list_id) for row in rows]
    first = next((row for row in rows if row.key not in (BUY_AGAIN_ROW, BECAUSE_ROW)), None)
    if first is None:
        return rows
    catalog = fitted.catalog

    def facts_of(ids: set[int]) -> dict[int, ProductFacts]:
        return {
            pid: ProductFacts(bool(sources.eligible[catalog.index[pid]]), str(catalog.gender[catalog.index[pid]]),
                              catalog.article_type[catalog.index[pid]], "", catalog.group[catalog.index[pid]])
            for pid in ids if pid in catalog.index
        }  # fmt: skip

    rule = dataclasses.replace(promotion.rule, row=first.key)
    rows_merchandised(rows, surface="home", genders=None, exclude=sources.seen, values=None, size=size,
                      groups=groups, fill=False, in_force=[rule], facts_of=facts_of)  # fmt: skip
    return rows


def served_pages(
    fitted: Fitted, sources: ShopperSources, key, page: PageSources, *, k: int, seed: int,
    because: Callable[[], list[Candidate]] | None = None, promotion: Promotion | None = None,
) -> ServedPages:  # fmt: skip
    """served_page's list, and with ``promotion`` the same page with that rule applied."""
    catalog = fitted.catalog
    shopper = fitted.shoppers.get(key) if key is not None else None
    has_history = bool(shopper.recent) if shopper is not None else bool(sources.seen)
    size = settings.HOME_ROW_SIZE
    rng = random.Random(seed)
    explore = _exploration(fitted, sources, count=settings.ROW_EXPLORATION_SLOTS * 6, rng=rng)
    # As serving: purchases stay eligible where repurchases are allowed (the ranked and "Buy again"
    # rows show them; the blend's row leaves out everything recently seen anyway).
    passing = sources.filtered if settings.RECOMMEND_REPURCHASES and sources.filtered is not None else sources.eligible
    types = _EligibleArticleTypes(catalog, passing)
    names = anchors_of(shopper) if shopper is not None else {}

    groups = _Groups(catalog)
    # As serving: the colours of what the shopper bought may each take a card, where repurchases are shown.
    repeatable = shopper.bought_groups if shopper is not None and settings.RECOMMEND_REPURCHASES else frozenset()

    def assemble() -> list[Row]:
        return page_rows(page, article_types=types, names=names, explore=explore, recently_seen=sources.seen,
                         has_history=has_history, size=size, groups=groups, repeatable=repeatable)  # fmt: skip

    rows = assemble()
    if because is not None and has_history and sum(len(row.cards) for row in rows) < k:
        page.because = because()
        rows = assemble()
    plain = _first_k(rows, fitted, sources, groups, size=size, k=k)
    if promotion is None:
        return ServedPages(plain)
    promoted = _promoted(rows, promotion, fitted, sources, size, groups)
    return ServedPages(plain, _first_k(promoted, fitted, sources, groups, size=size, k=k))


def _first_k(rows: list[Row], fitted: Fitted, sources: ShopperSources, groups, *, size: int, k: int) -> list[int]:
    catalog = fitted.catalog
    chosen = list(dict.fromkeys(card.product_id for row in rows for card in row.cards))
    padded = [row for row in rows if len(row.cards) < size and row.key not in (BUY_AGAIN_ROW, BECAUSE_ROW)]
    short = sum(size - len(row.cards) for row in padded)
    if short and len(chosen) < k:  # serving's top_up: the best sellers (PopularScore) whose product is not on the page
        present = {group_of(pid, groups) for pid in chosen}
        eligible, room = sources.eligible, min(short, k - len(chosen))
        for pid in fitted.best_sellers:
            if room <= 0:
                break
            if pid not in sources.seen and eligible[catalog.index[pid]] and group_of(pid, groups) not in present:
                present.add(group_of(pid, groups))
                chosen.append(pid)
                room -= 1
    return chosen[:k]


class _Groups(Mapping):
    """fill_row's ``groups`` (product id -> product group) over the catalog in memory."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def __getitem__(self, product_id: int) -> str:
        row = self.catalog.index.get(product_id)
        if row is None:
            raise KeyError(product_id)
        return self.catalog.group[row]

    def __iter__(self):
        return iter(int(pid) for pid in self.catalog.ids)

    def __len__(self) -> int:
        return len(self.catalog.ids)


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
    # As "Recommended for you" shows them (diversify): one card per product, the top-up included.
    groups = _Groups(catalog) if diversify else None
    if diversify:
        cards = fill_row(ranked, types, {}, size=k, explore=[], per_type=settings.RANKED_ROW_MAX_PER_ARTICLE_TYPE,
                         groups=groups)  # fmt: skip
        chosen = [card.product_id for card in cards]
    else:
        chosen = [c.product_id for c in ranked if c.product_id in types][:k]
    taken = {group_of(pid, groups) for pid in chosen}
    for pid in fitted.popular if popular is None else popular:
        if len(chosen) >= k:
            break
        if group_of(pid, groups) not in taken and pid in types:
            chosen.append(pid)
            taken.add(group_of(pid, groups))
    return chosen


def source_list(fitted: Fitted, sources: ShopperSources, pooled: list[Candidate], source: str, *, k: int) -> list[int]:
    """One of the ranker's sources alone, in its own order, then popular."""
    return ranker_list(fitted, sources, [c for c in pooled if c.source == source], k=k, diversify=False)


def because_you_viewed(fitted: Fitted, sources: ShopperSources, key, ranker: RankerFit | None) -> list[Candidate]:
    """ "Because you viewed X"'s candidates, as selectors.homepage computes them: what goes with X
    (RankerFit.goes_with) once a ranker is trained; X's nearest photos (exact cosine, where serving
    reads stored neighbours) before that, or for a product the ranker's table does not know."""
    shopper = fitted.shoppers.get(key)
    if shopper is None or not shopper.recent:
        return []
    last, size = shopper.recent_product_ids[0], settings.HOME_ROW_SIZE
    row = ranker.table.index.get(last) if ranker is not None else None
    if row is not None:
        goes = [c for c in ranker.goes_with([row]) if c.product_id not in sources.seen][: size * 4]
        if goes:
            return goes
    catalog = fitted.catalog
    at = catalog.index[last]
    if not catalog.embedded[at]:
        return []
    return _nearest(catalog, sources.filtered, sources.seen, catalog.vectors[at], size * 2, anchor=last)


def homepage_list(
    fitted: Fitted, sources: ShopperSources, weights: dict[str, float], key, *, k: int, seed: int,
    ranked: list[Candidate] | None = None, because: Callable[[], list[Candidate]] | None = None,
) -> list[int]:  # fmt: skip
    return homepage_lists(fitted, sources, weights, key, k=k, seed=seed, ranked=ranked, because=because).plain


def homepage_lists(
    fitted: Fitted, sources: ShopperSources, weights: dict[str, float], key, *, k: int, seed: int,
    ranked: list[Candidate] | None = None, because: Callable[[], list[Candidate]] | None = None,
    promotion: Promotion | None = None,
) -> ServedPages:  # fmt: skip
    """The homepage as served, its first ``k`` products: serving's own sources for "Buy again"
    (buy_again_candidates, colour_candidates over the catalog in memory), the ranked candidates
    when a ranker serves, the blend otherwise, through serving's page_rows."""
    catalog = fitted.catalog
    shopper = fitted.shoppers.get(key)
    again: list[Candidate] = []
    if shopper is not None and shopper.purchased and settings.RECOMMEND_REPURCHASES:

        def members(groups: list[str], bought: set[int]) -> list[tuple[int, str]]:
            found = [(pid, group) for group in groups for pid in catalog.members.get(group, ())
                     if pid not in bought and sources.filtered[catalog.index[pid]]]  # fmt: skip
            return sorted(found)[:COLOURS_KEEP]

        again = buy_again_candidates(shopper) + colour_candidates(shopper, members)
    blended = blend(sources.sources, weights) if shopper is not None and shopper.recent and not ranked else []
    last = shopper.recent_product_ids[0] if shopper is not None and shopper.recent else None
    page = PageSources(trending=fitted.trending, ranked=ranked or [], again=again, blended=blended,
                       because_title=reason_for("visual", anchors_of(shopper).get(last)) if last else "",
                       because_type=shopper.recent[0].article_type if last else "")  # fmt: skip
    return served_pages(fitted, sources, key, page, k=k, seed=seed, because=because, promotion=promotion)
