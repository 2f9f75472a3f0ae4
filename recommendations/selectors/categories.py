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

from django.conf import settings
from django.db.models import F, Q

from catalog.cards import product_cards
from catalog.models import Product
from recommendations.domain import Candidate, Shopper
from recommendations.selectors.ranked import active_ranker, ranked_candidates
from recommendations.selectors.rows import Card, Row, anchors_of, reason_for
from recommendations.selectors.similar import hard_filters
from recommendations.vectors import id_array

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
    *, shopper: Shopper, scope: Q, exclude: set[int] = frozenset(), k: int | None = None, generation: int | None = None
) -> list[Candidate]:
    """At most ``k`` (HOME_ROW_SIZE) products for this shopper within ``scope``, best first; never a
    product outside it, excluded, or failing a hard filter."""
    k = k or settings.HOME_ROW_SIZE
    allowed = scope & hard_filters(genders=shopper.allowed_genders(), exclude=exclude)
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


def scoped_row(*, shopper: Shopper, scope: Q, title: str, exclude: set[int] = frozenset(), k: int | None = None) -> Row:
    """scoped_recommendations as a row of cards, each with its reason and its product's card."""
    candidates = scoped_recommendations(shopper=shopper, scope=scope, exclude=exclude, k=k)
    names = anchors_of(shopper)
    products = product_cards(versions={}, unversioned=[c.product_id for c in candidates])
    cards = [
        Card(c.product_id, c.source, reason_for(c.source, names.get(c.anchor)), c.score, SCOPED_ROW, slot,
             products[c.product_id])
        for slot, c in enumerate(c for c in candidates if c.product_id in products)
    ]  # fmt: skip
    return Row(SCOPED_ROW, title, cards)


SCOPED_ROW = "category.recommended"
