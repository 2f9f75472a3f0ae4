"""The personalised homepage: "Buy again" for shoppers with purchases, then candidates from three
sources, blended, filtered, diversified.

Sources (each returns (product id, score, anchor product id) best first):
* ``als``: implicit ALS scores of the shopper's (fresh or stored) user vector;
* ``visual``: nearest products, through the HNSW index, to the shopper's *visual preference*:
  the mean of the embeddings of their recent products, weighted by kind and halved every
  PREFERENCE_HALF_LIFE_DAYS. One index query per page, whatever the history's length;
* ``trending``: TrendingScore, the recent window's weighted interaction counts.

"Because you viewed X" shows what goes with X (the after-a-click model) once a ranker is trained,
X's stored visual neighbours before that. The rows are assembled by selectors.rows.page_rows, which
the evaluation calls too.

Each source's scores are min-max normalised to [0, 1], then summed with BLEND_WEIGHTS; a card
takes the strategy and reason of the source that contributed most. Hard filters (active, in
stock, compatible gender, not purchased) are applied in the database for every source and again
on the final rows. Diversity: at most ROW_MAX_PER_ARTICLE_TYPE cards of one article type per row,
and ROW_EXPLORATION_SLOTS random eligible products per row, so a shopper is never stuck in one look.
Fallbacks: no history means trending only; one click already feeds the visual and ALS sources.

"Buy again" (when RECOMMEND_REPURCHASES is on and the shopper bought something): their purchases
and add-to-carts, most bought and most recent first, then other colours of them (product_group);
on the H&M week, what returning shoppers buy next is most often exactly this (../shared/RANKING.md).
"""

import dataclasses
import random
from datetime import timedelta
from enum import StrEnum

from django.conf import settings
from django.utils import timezone

from catalog.cards import product_cards
from recommendations.domain import Candidate, Shopper
from recommendations.models import InteractionKind, Visitor
from recommendations.selectors.collaborative import collaborative_candidates, serving_model
from recommendations.selectors.generation import ServingValues, per_generation
from recommendations.selectors.merchandise import rows_merchandised
from recommendations.selectors.page_cache import cached_page_rows, page_key, page_store, serving_state
from recommendations.selectors.ranked import active_ranker, goes_with, ranked_candidates
from recommendations.selectors.rows import (
    Card,
    PageSources,
    Row,
    anchors_of,
    blend,
    exploration_draw,
    exploration_pool,
    new_list_ids,
    page_rows,
    reason_for,
    top_up,
)
from recommendations.selectors.shopper import shopper_load
from recommendations.selectors.similar import embedding_vector, products_similar_to_vector, visual_neighbours
from recommendations.selectors.sources import (
    buy_again_candidates,
    eligible,
    passes,
    product_facts,
    recent_embeddings,
    same_product_candidates,
    trending_candidates,
    visual_candidates,
)


class Strategy(StrEnum):
    """How a homepage is made: what an experiment's arms choose between (experiments)."""

    SERVED = "served"  # the store's own: the learned ranker once one serves, the blend before
    BLEND = "blend"  # the fixed blend of ALS, visual and trending, even where a ranker serves
    TRENDING = "trending"  # "Trending now" alone, for every shopper (the most-popular baseline)
    HOLDOUT = "holdout"  # no recommendation at all: the newest products (what recommendations cause)


def homepage_rows_served(
    *, user_id: int | None, visitor: Visitor | None, rng: random.Random | None = None,
    strategy: Strategy = Strategy.SERVED,
) -> list[Row]:  # fmt: skip
    """The homepage as the store and the API serve it: homepage_rows through the page cache
    (selectors.page_cache), which costs a returning shopper who did nothing since one small query;
    the shopper's history is loaded only when their page is computed."""
    rng = rng or random.Random()
    if settings.HOME_PAGE_CACHE_S <= 0:
        return homepage_rows(shopper=shopper_load(user_id=user_id, visitor=visitor), rng=rng, strategy=strategy)
    state = serving_state(user_id=user_id, visitor=visitor)
    key = page_key(state=state, user_id=user_id, visitor=visitor, variant=rng.randrange(settings.PAGE_CACHE_VARIANTS))
    if strategy != Strategy.SERVED:
        key = f"{strategy}:{key}"
    rows = cached_page_rows(key, state)
    if rows is None:
        shopper = shopper_load(user_id=user_id, visitor=visitor)
        rows = homepage_rows(shopper=shopper, rng=rng, values=state.values, strategy=strategy)
        page_store(key, rows, genders=shopper.allowed_genders(), shown=state.shown)
    return rows


def homepage_rows(
    *, shopper: Shopper, rng: random.Random | None = None, values: ServingValues | None = None,
    strategy: Strategy = Strategy.SERVED, merchandised: bool = True,
) -> list[Row]:  # fmt: skip
    """The rows of the homepage for this shopper, each full when enough eligible products exist.
    With the serving values (the page cache read them first), the trending list and the active
    models' ids come from this process's memory when it read them under that generation, and what
    the hard filters read of each candidate when it read that under both values."""
    rng = rng or random.Random()
    generation = values.generation if values is not None else None
    size = settings.HOME_ROW_SIZE
    genders = shopper.allowed_genders()
    purchased = set(shopper.purchased)
    repurchases = settings.RECOMMEND_REPURCHASES and bool(purchased)
    recently_seen = purchased | set(shopper.recent_product_ids[: settings.PREFERENCE_RECENT_EVENTS])
    if strategy == Strategy.HOLDOUT:
        return _newest_rows(genders=genders, exclude=recently_seen, size=size)
    if strategy == Strategy.TRENDING:  # the shopper's history still filters (gender, what they saw), nothing more
        shopper, repurchases = dataclasses.replace(shopper, recent=[], purchased=set()), False
    sources: dict[str, list[Candidate]] = {"trending": per_generation("trending", generation, trending_candidates)}
    # The learned ranker when one is trained; the fixed blend of ALS, visual and trending otherwise.
    use_ranker = settings.RANKER_ENABLED and strategy == Strategy.SERVED
    ranker = active_ranker(generation) if shopper.recent and use_ranker else None
    ranked = ranked_candidates(ranker, shopper, repurchases=settings.RECOMMEND_REPURCHASES) if ranker else []
    model = serving_model(generation) if shopper.recent and not ranked else None
    if model is not None:
        sources["als"] = collaborative_candidates(model, shopper)
    # The recent products' embeddings feed the blend's visual preference; the ranked row needs none,
    # and "Because you viewed" reads stored neighbours (the embedding only to compute them).
    vectors = recent_embeddings(shopper) if not ranked else {}
    if vectors:
        sources["visual"] = visual_candidates(shopper, vectors, genders, recently_seen)
    last_viewed = shopper.recent_product_ids[0] if shopper.recent else None
    # "Because you viewed X": what goes with X (the after-a-click model, kept per product and process)
    # once a ranker is trained: on the H&M week the next purchase is a basket partner or another
    # colour far more often than a look-alike. Before that, and for a product newer than the model,
    # X's visual neighbours.
    goes = [c for c in goes_with(ranker, last_viewed) if c.product_id not in recently_seen] if ranker else []
    because = [] if goes else _because_you_viewed(
        last_viewed, vectors.get(last_viewed), genders=genders, exclude=recently_seen, size=size
    )  # fmt: skip
    # Buy again: what they bought or added, then other colours of it (a setting; see RECOMMEND_REPURCHASES).
    again = buy_again_candidates(shopper) + same_product_candidates(shopper, genders) if repurchases else []
    wanted = {c.product_id for candidates in [*sources.values(), again, ranked] for c in candidates}
    wanted |= {pid for pid, _ in because} | {c.product_id for c in goes[: size * 4]}
    explore_count = settings.ROW_EXPLORATION_SLOTS * 6
    drawn = exploration_draw(exclude=recently_seen, count=explore_count, rng=rng)
    wanted |= set(drawn)
    # Hundreds of candidates pass the filters as (id, article type) pairs; only the few dozen
    # shown are fetched as products, with their photos, at the end. Purchases stay eligible when
    # repurchases are allowed: the blend's rows leave out everything recently seen anyway.
    not_again = set() if settings.RECOMMEND_REPURCHASES else purchased
    # The same facts hold each product's card version, so the cards shown need no query of their own.
    article_types, versions, groups = {}, {}, {}
    for pk, facts in product_facts(wanted, values).items():
        if passes(pk, facts, genders=genders, exclude=not_again):
            article_types[pk], versions[pk], groups[pk] = facts.article_type, facts.version, facts.group
    names = anchors_of(shopper)
    explore = [pid for pid in drawn if pid in article_types][:explore_count]  # through this page's filters
    if len(explore) < explore_count:
        pool = exploration_pool(genders=genders, exclude=recently_seen, count=explore_count, rng=rng)
        explore = list(pool)
        groups.update(pool)
    page = PageSources(
        trending=sources["trending"], ranked=ranked, again=again,
        blended=blend(sources, settings.BLEND_WEIGHTS) if shopper.recent and not ranked else [],
        because=goes[: size * 4] or [Candidate(pid, 1 - distance, "visual", last_viewed) for pid, distance in because],
        because_title=reason_for("visual", names.get(last_viewed)),
        because_type=shopper.recent[0].article_type if shopper.recent else "",
        just_bought=_just_bought(shopper),
    )  # fmt: skip
    rows = page_rows(page, article_types=article_types, names=names, explore=explore, recently_seen=recently_seen,
                     has_history=bool(shopper.recent), size=size, groups=groups,
                     repeatable=shopper.bought_groups if repurchases else frozenset())  # fmt: skip
    top_up(rows, genders=genders, exclude=recently_seen, size=size, groups=groups)
    for row in rows:
        for slot, card in enumerate(row.cards):
            card.row, card.slot = row.key, slot
    # Staff's rules last, on what the shopper would otherwise see (merchandising, issue 44); the
    # admin's preview asks for the page without them too.
    if merchandised:
        rows_merchandised(rows, surface="home", genders=genders, exclude=not_again, values=values, size=size,
                          groups=groups, versions=versions, fill_exclude=recently_seen)  # fmt: skip
    new_list_ids(rows)
    return _with_products(rows, versions)


NEWEST_ROW = "home.new"


def _newest_rows(*, genders, exclude: set[int], size: int) -> list[Row]:
    """The holdout's homepage: the newest products through the hard filters, the same for everyone
    (their reason says only that they are new): what a shop without recommendations would show."""
    ids = list(
        eligible(genders=genders, exclude=exclude).order_by("-created_at", "-pk").values_list("pk", flat=True)[:size]
    )
    cards = [Card(pid, "newest", "", 0.0, NEWEST_ROW, slot) for slot, pid in enumerate(ids)]
    rows = [Row(NEWEST_ROW, "New in", cards)]
    new_list_ids(rows)
    return _with_products(rows, {})


def _just_bought(shopper: Shopper) -> frozenset[int]:
    """What the shopper bought within RECOMMENDED_QUIET_AFTER_PURCHASE_H: right after a checkout the
    homepage led with the chinos just bought ("You bought this before"). H&M's shoppers do buy again
    within days (../shared/RANKING.md), so the quiet period is hours, and "Buy again" keeps them."""
    since = timezone.now() - timedelta(hours=settings.RECOMMENDED_QUIET_AFTER_PURCHASE_H)
    return frozenset(e.product_id for e in shopper.recent if e.kind == InteractionKind.PURCHASE and e.at >= since)


def _because_you_viewed(product_id, vector, *, genders, exclude: set[int], size: int) -> list[tuple[int, float]]:
    """The last viewed product's stored neighbours (the row's hard filters come with the others');
    the HNSW index with the filters when too few of them are left after what was seen."""
    if product_id is None:
        return []
    neighbours = visual_neighbours(product_id=product_id, vector=vector)
    unseen = [(pid, distance) for pid, distance in neighbours if pid not in exclude]
    if len(unseen) >= size * 2 or len(neighbours) < settings.VISUAL_NEIGHBOURS_K:  # a short list is all there is
        return unseen
    vector = vector if vector is not None else embedding_vector(product_id)
    return products_similar_to_vector(vector=vector, genders=genders, exclude_ids=exclude, k=size * 2, ids_only=True)


def _with_products(rows: list[Row], versions: dict[int, str]) -> list[Row]:
    """Each card gets its product's card record (catalog.cards). The exploration and top-up cards,
    whose versions the hard-filter query did not read (they passed the filters in queries of their
    own), come in the same query as any card this process has not seen at its version."""
    shown = {card.product_id for row in rows for card in row.cards}
    products = product_cards(
        versions={pk: versions[pk] for pk in shown if pk in versions}, unversioned=shown - versions.keys()
    )
    for row in rows:
        row.cards = [card for card in row.cards if card.product_id in products]
        for card in row.cards:
            card.product = products[card.product_id]
    return [row for row in rows if row.cards]
