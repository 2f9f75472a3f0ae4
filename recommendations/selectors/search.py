"""Search ranked for the shopper: the catalog's text matches (catalog.search), re-ordered by what the
recommender knows of the shopper.

Text relevance (over the best match's) and the shopper's order (a rank among the matches, since the
scores are on unrelated scales) are blended as ``(1 - w) * text + w * shopper`` with w =
SEARCH_PERSONAL_WEIGHT: a much better text match stays ahead, and among equally good ones the
shopper's order decides. The shopper's order, best first:
- ``ranker``: the learned ranker's score of each match, as if it were a candidate of the shopper's
  homepage (a history the ranker serves: on H&M's log, one with a purchase);
- ``visual``: any other history: how close each match's photo is to the shopper's newest products,
  averaged with how well it sells;
- ``popularity``: no history: how well it sells (the ranker's sales of the last week, else trending).
``personalise=False`` (or w = 0) gives text relevance alone.
"""

import dataclasses
import hashlib
import uuid
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from scipy.stats import rankdata

from catalog.gender import compatible_genders
from catalog.models import Product
from catalog.search import TextResults, nearest_category, normalise, text_search
from common.compiled import id_array
from recommendations.domain import Shopper
from recommendations.models import Visitor
from recommendations.ranker.items import ItemTable
from recommendations.selectors.categories import best_sellers
from recommendations.selectors.generation import ServingValues, per_generation, serving_generation, serving_values
from recommendations.selectors.merchandise import rows_merchandised, rules_now
from recommendations.selectors.page_cache import cache_call, serving_state, shopper_key
from recommendations.selectors.ranked import active_ranker
from recommendations.selectors.rows import Card, Row, group_key
from recommendations.selectors.shopper import shopper_load
from recommendations.selectors.similar import hard_filters
from recommendations.selectors.sources import trending_candidates


@dataclass
class SearchResults:
    text: TextResults
    product_ids: list[int]  # every match that passes the filters, in the order shown
    personalised_by: str  # "ranker", "visual", "popularity", or "" (text relevance alone)
    # A search that found nothing: the best sellers of the nearest category instead.
    fallback_category: str = ""
    fallback_ids: list[int] = field(default_factory=list)
    # The ordered list's id (Row.list_id): kept with the cached results, so each page of them and each
    # render is an impression of the same list (experiments).
    list_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # Cards staff's rules placed (product id -> "rule:<id>"), for the impressions; set on every request.
    placed: dict[int, str] = field(default_factory=dict)


def search_filters(gender_choice: str) -> Q:
    """A search is what the shopper asked for, so only their explicit gender choice filters it (an
    inferred gender only weighs in the order); in stock and active as everywhere."""
    return hard_filters(genders=compatible_genders(gender_choice) if gender_choice else None)


def search_served(
    *,
    query: str,
    user_id: int | None,
    visitor: Visitor | None,
    personalise: bool = True,
    merchandised: bool = True,
) -> SearchResults:
    """search_products through the shared cache, as the store and the API serve it. The ordered
    results are kept under a key that names the query, the order, the shopper's history (its count
    and newest event, as the homepage's key: a new event orders the next search afresh), their gender
    choice and the ServingGeneration (models, trending, new products), for SEARCH_CACHE_S: a later
    page, or the same search again, costs one query for the state and one for the filters. New visitors
    share one entry per query. What the key cannot see is checked on every request: the results pass
    the hard filters again, fresh (a product sold out a moment ago is gone at once); an edited name
    reaches a cached search within SEARCH_CACHE_S."""
    choice = visitor.gender_preference if visitor is not None else ""
    if settings.SEARCH_CACHE_S <= 0:
        results = search_products(
            query=query, shopper=shopper_load(user_id=user_id, visitor=visitor), personalise=personalise
        )
        results = _passing_one_colour_each(results, choice)
        return _merchandised(results, choice, serving_values()) if personalise and merchandised else results
    state = serving_state(user_id=user_id, visitor=visitor)
    shopper = shopper_key(state=state, user_id=user_id, visitor=visitor)
    parts = [_FORMAT, normalise(query), personalise, shopper, *(getattr(settings, n) for n in _SETTINGS)]
    key = "search:" + hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()
    results = cache_call(cache.get, key)
    if results is None:
        results = search_products(query=query, shopper=shopper_load(user_id=user_id, visitor=visitor),
                                  personalise=personalise, generation=state.generation)  # fmt: skip
        bare = dataclasses.replace(results, text=dataclasses.replace(results.text, matches=[]))
        cache_call(cache.set, key, bare, settings.SEARCH_CACHE_S)
    # The entry may have been kept for another shopper typing the same words: their text is not shown.
    results = dataclasses.replace(results, text=dataclasses.replace(results.text, query=query.strip()[:200]))
    results = _passing_one_colour_each(results, choice)
    if not (personalise and merchandised):
        return results
    return _merchandised(results, choice, ServingValues(state.generation, state.shown))


def _merchandised(results: SearchResults, choice: str, values: ServingValues) -> SearchResults:
    """Staff's rules on the ordered matches (surface "search", row "search"): a hide takes products
    out, a boost or bury moves them, a pin or a promotion lifts a match to its place in the first page.
    Rules never add a product the search did not find: a pinned coat does not answer "socks". A search
    that found nothing shows best sellers instead (row "search.fallback"): hides act there too."""
    shown = results.product_ids or results.fallback_ids
    if not shown or not rules_now(values.generation).on("search"):
        return results
    key = "search" if results.product_ids else "search.fallback"
    found = set(shown)
    row = Row(key, key, [Card(pid, "", "", 0.0) for pid in shown])
    rows_merchandised(
        [row], surface="search", genders=compatible_genders(choice) if choice else None, exclude=set(),
        values=values, size=len(row.cards), window=settings.SEARCH_PAGE_SIZE, fill=False,
        among=lambda ids: ids & found,
    )  # fmt: skip
    ordered = [card.product_id for card in row.cards]
    placed = {card.product_id: card.strategy for card in row.cards if card.strategy.startswith("rule:")}
    if not results.product_ids:
        return dataclasses.replace(results, fallback_ids=ordered)
    return dataclasses.replace(results, product_ids=ordered, placed=placed)


def _passing_one_colour_each(results: SearchResults, choice: str) -> SearchResults:
    """The results that pass the hard filters now, fresh, and one per product: its best-placed colour
    (the card shows the others as swatches). A search page showed nine "Maja Cardigan" cards."""
    shown = results.product_ids + results.fallback_ids
    passing = dict(
        Product.objects.filter(search_filters(choice), pk__in=id_array(shown)).values_list("pk", "product_group")
    )

    def one_each(ids: list[int]) -> list[int]:
        seen: set[str] = set()
        kept = []
        for pid in ids:
            if pid in passing and (key := group_key(pid, passing[pid])) not in seen:
                seen.add(key)
                kept.append(pid)
        return kept

    return dataclasses.replace(
        results, product_ids=one_each(results.product_ids), fallback_ids=one_each(results.fallback_ids)
    )


_FORMAT = 3  # bump when SearchResults changes shape (2: its list id; 3: placed)
_SETTINGS = ("SEARCH_PERSONAL_WEIGHT", "SEARCH_MAX_MATCHES", "SEARCH_CORRECTION_MIN_SCORE", "RANKER_ENABLED")


def search_products(
    *, query: str, shopper: Shopper, personalise: bool = True, generation: int | None = None
) -> SearchResults:
    text = text_search(query, within=search_filters(shopper.gender_choice))
    ids = [match.product_id for match in text.matches]
    relevance = [match.relevance for match in text.matches]
    weight = settings.SEARCH_PERSONAL_WEIGHT if personalise else 0.0
    if not ids:
        category, best = _fallback(query, shopper.gender_choice)
        return SearchResults(text, [], "", category, best)
    if weight <= 0:
        return SearchResults(text, ids, "")
    scores, by = shopper_scores(shopper, ids, generation=generation)
    return SearchResults(text, blend_orders(ids, relevance, scores, weight), by)


def shopper_scores(shopper: Shopper, ids: list[int], *, fit=None, generation: int | None = None):
    """Each product's score for this shopper (higher first) and what it came from. The evaluation
    passes the fold's own model (``fit``); serving reads the active one."""
    generation = serving_generation() if generation is None else generation
    if fit is None and settings.RANKER_ENABLED:
        ranker = active_ranker(generation)
        fit = ranker.fit if ranker else None
    if fit is not None:
        if shopper.recent:
            scores = fit.score_products(shopper, ids)
            if scores is not None:
                return scores, "ranker"
        return _visual_and_sales(shopper, ids, fit.table)
    popular = {c.product_id: c.score for c in per_generation("trending", generation, trending_candidates)}
    return np.array([popular.get(pid, 0.0) for pid in ids]), "popularity"


def _visual_and_sales(shopper: Shopper, ids: list[int], table: ItemTable) -> tuple[np.ndarray, str]:
    rows = np.array([table.index.get(pid, -1) for pid in ids])
    known = rows >= 0
    sales = np.where(known, table.sold_decayed[np.maximum(rows, 0)], 0.0)
    seen = [table.index[pid] for pid in shopper.recent_product_ids[:20] if pid in table.index]
    profile = table.visual[seen].mean(axis=0) if seen else None
    if profile is None or not np.any(profile):
        return sales.astype(float), "popularity"
    closeness = np.where(known, table.visual[np.maximum(rows, 0)] @ profile, -np.inf)
    return (_ranks(closeness) + _ranks(sales)) / 2, "visual"


def blend_orders(ids: list[int], relevance, scores, weight: float) -> list[int]:
    """The matches (in text order) re-ordered by (1 - weight) x text + weight x shopper: text is each
    match's relevance over the best one's, the shopper's order its rank among the matches, both in
    [0, 1]. Equal relevance (every "Trousers Black" is as relevant as the next) is left to the
    shopper; ties of both keep the text order."""
    n = len(ids)
    relevance = np.asarray(relevance, dtype=float)
    text = relevance / relevance.max() if n and relevance.max() > 0 else np.ones(n)
    combined = (1 - weight) * text + weight * _ranks(np.asarray(scores, dtype=float))
    order = np.lexsort((np.arange(n), -combined))
    return [ids[i] for i in order]


def _ranks(values: np.ndarray) -> np.ndarray:
    """Each value's share of the others it beats, in [0, 1] (1: the best); ties share their mean
    rank, so equal scores never change the text's order; a missing score (-inf, NaN) is last."""
    n = len(values)
    if n <= 1:
        return np.ones(n)
    finite = np.isfinite(values)
    floor = values[finite].min() - 1 if finite.any() else 0.0
    return (rankdata(np.where(finite, values, floor), method="average") - 1) / (n - 1)


def _fallback(query: str, gender_choice: str) -> tuple[str, list[int]]:
    """No match: the best sellers (trending) of the article type nearest the query, else of the shop."""
    category = nearest_category(query)
    scope = search_filters(gender_choice) & (Q(article_type=category) if category else Q())
    return category, list(best_sellers(scope, limit=settings.SEARCH_PAGE_SIZE))
