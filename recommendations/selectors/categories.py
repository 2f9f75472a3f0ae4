"""Recommendations scoped to part of the catalog: a category page's "Recommended for you in ...",
and the API's ``category=`` and ``exclude=``.

The same sources and model as the homepage's first row, kept within the scope:
* the shopper's ranked candidates (RankerFit.candidates: the learned ranker, or after a click what
  goes with their newest products; before any model is trained, the other colours of what they
  looked at) that fall in the scope, then the scope's best sellers (trending), up to SCOPED_CANDIDATES;
* where the ranker serves the shopper's history, all of these re-scored by it (score_products: the
  same features as on the homepage), so a best seller of the category that suits them can come first;
* through the hard filters (in stock, active, the shopper's gender) and the exclusions.
A shopper without a history gets the scope's best sellers.
"""

import hashlib
import uuid
from dataclasses import astuple, dataclass
from typing import Literal

from django.conf import settings
from django.core.cache import cache
from django.db.models import F, Q

from catalog.cards import VersionedCache, card_version, product_cards
from catalog.categories import CategoryFilter, catalog_version
from catalog.gender import CHILDREN_GENDERS
from catalog.models import Product
from common.compiled import id_array
from merchandising.selectors.rules import Anchor
from recommendations.domain import Candidate, Shopper
from recommendations.models import Visitor
from recommendations.selectors.generation import ServingValues
from recommendations.selectors.merchandise import rows_merchandised
from recommendations.selectors.page_cache import cache_call, serving_state, shopper_key
from recommendations.selectors.ranked import active_ranker, ranked_candidates
from recommendations.selectors.rows import Card, Row, anchors_of, reason_for
from recommendations.selectors.shopper import shopper_load
from recommendations.selectors.similar import hard_filters

SCOPED_CANDIDATES = 300


def best_sellers(scope: Q, *, limit: int | None = None):
    """Product ids in ``scope`` (a condition on Product), best-selling first (trending), then catalog order."""
    ids = (
        Product.objects.filter(scope)
        .order_by(F("trendingscore__score").desc(nulls_last=True), "pk")
        .values_list("pk", flat=True)
    )
    return ids[:limit] if limit else ids


def scoped_recommendations(
    *,
    shopper: Shopper,
    scope: Q,
    exclude: set[int] = frozenset(),
    k: int | None = None,
    generation: int | None = None,
    genders: tuple[str, ...] | None | Literal["scope's"] = "scope's",
) -> list[Candidate]:
    """At most ``k`` (HOME_ROW_SIZE) products for this shopper within ``scope``, best first; never a
    product outside it, excluded, or failing a hard filter."""
    k = k or settings.HOME_ROW_SIZE
    genders = scoped_genders(shopper, scope) if genders == "scope's" else genders
    allowed = scope & hard_filters(genders=genders, exclude=exclude)
    ranker = active_ranker(generation) if shopper.recent and settings.RANKER_ENABLED else None
    if ranker is not None:
        ranked = ranked_candidates(ranker, shopper, repurchases=settings.RECOMMEND_REPURCHASES)
    else:  # no model yet: the other colours of what they looked at, as the click heuristic starts
        ranked = _other_colours(shopper, allowed)
    proposed = {c.product_id: c for c in ranked}
    inside = set(Product.objects.filter(allowed, pk__in=id_array(proposed)).values_list("pk", flat=True))
    ids = [pid for pid in proposed if pid in inside][:SCOPED_CANDIDATES]
    for pid in best_sellers(allowed, limit=SCOPED_CANDIDATES):
        if len(ids) >= SCOPED_CANDIDATES:
            break
        if pid not in proposed:
            ids.append(pid)
    if not settings.RECOMMEND_REPURCHASES:
        ids = [pid for pid in ids if pid not in shopper.purchased]
    scores = ranker.fit.score_products(shopper, ids) if ranker is not None and ids else None
    if scores is None:  # the sources' order: the ranked candidates, then the best sellers
        return [proposed.get(pid) or Candidate(pid, 0.0, "trending") for pid in ids][:k]
    order = sorted(range(len(ids)), key=lambda i: (-scores[i], i))[:k]
    return [Candidate(ids[i], float(scores[i]), proposed[ids[i]].source if ids[i] in proposed else "ranker",
                      proposed[ids[i]].anchor if ids[i] in proposed else None) for i in order]  # fmt: skip


def _other_colours(shopper: Shopper, allowed: Q) -> list[Candidate]:
    """Other colours and variants (the same product_group) of the shopper's newest products, newest
    product first, each group's best sellers first; one query."""
    anchors: dict[str, int] = {}
    for event in shopper.recent[: settings.PREFERENCE_RECENT_EVENTS]:
        if event.group:
            anchors.setdefault(event.group, event.product_id)
    if not anchors:
        return []
    seen = set(shopper.recent_product_ids)
    rows = best_sellers(allowed & Q(product_group__in=list(anchors))).values_list("pk", "product_group")
    order = {group: rank for rank, group in enumerate(anchors)}
    found = sorted((order[group], n, pk, group) for n, (pk, group) in enumerate(rows) if pk not in seen)
    return [Candidate(pk, 0.0, "same_product", anchors[group]) for _, _, pk, group in found]


def scoped_row(
    *, user_id: int | None, visitor: Visitor | None, scope: Q, scope_key: str, title: str,
    exclude: frozenset[int] = frozenset(), k: int | None = None, version: str | None = None,
    anchor: Anchor | None = None, merchandised: bool = True,
) -> Row:  # fmt: skip
    """scoped_recommendations as a row of cards, each with its reason and its product's card, through
    the shared cache (Redis). Its key names the scope (``scope_key``), the exclusions, the shopper's
    history (its count and newest event: a new event recomputes it), their gender choice, the
    ServingGeneration (models, trending) and the catalog's version (catalog.categories.catalog_version:
    any product's change, stock included), so a kept row is as new as the counts it is shown with.

    Staff's rules (surface "category", scoped by ``anchor``: the category's department and type) act
    on every request, after the cache: the row is kept twice as long as shown, so that what a hide
    rule takes out is replaced by the shopper's next products of the scope; a pin or a promotion
    places only products within the scope."""
    version = catalog_version() if version is None else version
    k = k or settings.HOME_ROW_SIZE
    state = serving_state(user_id=user_id, visitor=visitor)
    shopper = shopper_key(state=state, user_id=user_id, visitor=visitor)
    parts = [_FORMAT, scope_key, sorted(exclude), k, shopper, version, settings.HOME_ROW_SIZE,
             settings.RANKER_ENABLED, settings.RECOMMEND_REPURCHASES]  # fmt: skip
    key = "scoped:" + hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()
    keep = settings.HOME_PAGE_CACHE_S > 0 and settings.CATEGORY_CACHE_S > 0
    kept = cache_call(cache.get, key) if keep else None
    if kept is None:
        shopper = shopper_load(user_id=user_id, visitor=visitor)
        genders = scoped_genders(shopper, scope)
        scoped = scoped_recommendations(
            shopper=shopper, scope=scope, exclude=exclude, k=k * 2, generation=state.generation, genders=genders
        )
        names = anchors_of(shopper)
        candidates = [(c, reason_for(c.source, names.get(c.anchor))) for c in scoped]
        ids = [c.product_id for c in scoped]
        versions = dict(Product.objects.filter(pk__in=id_array(ids)).annotate(v=card_version()).values_list("pk", "v"))
        # The list id is kept with the list (Row.list_id); the genders, for the rules.
        not_again = frozenset() if settings.RECOMMEND_REPURCHASES else frozenset(shopper.purchased)
        kept = ScopedList(candidates, versions, uuid.uuid4().hex, genders, not_again)
        if keep:
            cache_call(cache.set, key, kept, settings.HOME_PAGE_CACHE_S)
    row = Row(SCOPED_ROW, title, [Card(c.product_id, c.source, reason, c.score) for c, reason in kept.candidates],
              kept.list_id)  # fmt: skip
    versions = dict(kept.versions)
    rows_merchandised(
        [row] if merchandised else [], surface="category", genders=kept.genders,
        exclude=set(exclude) | kept.not_again, size=k, versions=versions,
        values=ServingValues(state.generation, state.shown), fill=False, anchor=anchor,
        among=lambda ids: set(Product.objects.filter(scope, pk__in=id_array(ids)).values_list("pk", flat=True)),
    )  # fmt: skip
    shown = row.cards[:k]
    products = product_cards(versions={card.product_id: versions[card.product_id] for card in shown
                                       if card.product_id in versions},
                             unversioned={card.product_id for card in shown} - versions.keys())  # fmt: skip
    row.cards = [card for card in shown if card.product_id in products]
    for slot, card in enumerate(row.cards):
        card.row, card.slot, card.product = SCOPED_ROW, slot, products[card.product_id]
    return row


@dataclass(frozen=True)
class ScopedList:
    """A scoped row as kept: its candidates with their reasons, twice the row's length (rules may hide
    some), their card versions, the list id and the genders the shopper may be shown in the scope."""

    candidates: list[tuple[Candidate, str]]
    versions: dict[int, str]
    list_id: str
    genders: tuple[str, ...] | None
    not_again: frozenset[int] = frozenset()  # what the shopper bought, where repurchases are not shown


def scoped_genders(shopper: Shopper, scope: Q) -> tuple[str, ...] | None:
    """Children's products stay apart unless the scope is theirs alone (a baby department, a kids'
    facet): a new visitor's "Recommended for you in T-shirt" shows adults' T-shirts, in "Baby
    Essentials" babies'."""
    childrens_scope = not Product.objects.filter(scope, is_active=True).exclude(gender__in=CHILDREN_GENDERS).exists()
    return shopper.allowed_genders(children_apart=not childrens_scope)


_listings = VersionedCache(256)  # a category filter -> its first products in order, per catalog and serving state
LISTING_KEPT = 960  # the first 20 pages of 48: a later page is read from the database


def category_listing(chosen: CategoryFilter, *, version: str, generation: int) -> list[tuple[int, str]]:
    """The first LISTING_KEPT products the chosen filters show, best-selling first, each with its card
    version: once per catalog version and ServingGeneration (trending) in each process. Bounded, so
    256 kept listings stay a few megabytes whatever the catalog's size."""
    key = (astuple(chosen), f"{version}:{generation}")
    found = _listings.get_many([key])
    if key[0] in found:
        return found[key[0]]
    listing = list(category_slice(chosen, 0, LISTING_KEPT))
    _listings.put_many({key: listing})
    return listing


def category_slice(chosen: CategoryFilter, start: int, stop: int) -> list[tuple[int, str]]:
    """Products ``start`` to ``stop`` of the listing, with their card versions, from the database."""
    return list(best_sellers(chosen.condition()).annotate(v=card_version()).values_list("pk", "v")[start:stop])


SCOPED_ROW = "category.recommended"
_FORMAT = 3  # bump when the kept row changes shape (2: its list id; 3: ScopedList)
