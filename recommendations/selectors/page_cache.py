"""Homepages kept in the shared cache (Redis, every web process and host) until something they
depend on changes, so a shopper who comes back to the homepage without having done anything
costs one small query instead of the sources, the ranker and the blend.

A page's key names everything its rows were computed from:
* the shopper's history: the number of their events and the newest id, read fresh on every
  request (one index scan), so a view, a click, an add-to-cart or a purchase changes the key and
  their next page is computed anew;
* the ServingGeneration: database triggers bump it when an embedding, the trending list, a
  model or the set of products changes (see recommendations.models.ServingGeneration);
* the gender they chose, and the settings the rows read (a digest);
* for shoppers without a history, one of PAGE_CACHE_VARIANTS draws of the exploration cards, so
  new visitors share a few pages instead of each computing the same one.

What a key cannot see (a product sold out, deactivated or given another gender a moment ago) is
told by the ServingGeneration's "shown products" row (migration 0013), read in the same query as the
key's parts: its value changes, at the commit of the change, whenever a product changes in a way a
card shows or a hard filter reads (stock reaching or leaving 0, deactivation, gender, name, price,
photo, deletion), and not when a sale leaves stock above 0. A page kept under the current value is
served with its cards' records from this process's memory (catalog.cards), without a query; under an
older one its cards pass the hard filters again, fresh, in one query that reads their card versions,
and the page is kept again under the value read before that query. A page with a card that fails is
computed again.

In front of Redis, each process keeps the pages it served last (``_served``), under their key and the
shown value they passed the filters under, as long as Redis keeps them: a key names everything a
page was computed from and the shown value everything its cards show, so the copy is the page Redis
holds, without the round trip, the unpickling and the cards' look-up. New visitors share a few pages,
so nearly every one of them is served from it.

Redis is an optimisation here, never a dependency: when it fails or stalls, pages are computed
without it, and it is left alone for CACHE_FAIL_FAST_S before it is tried again.
"""

import dataclasses
import hashlib
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS as PRIMARY
from django.db import connection
from redis.exceptions import RedisError

from catalog.cards import card_version, product_cards
from common.compiled import id_array
from recommendations.models import Visitor
from recommendations.selectors.generation import GenerationMemo, ServingValues
from recommendations.selectors.rows import Row
from recommendations.selectors.sources import eligible

logger = logging.getLogger(__name__)

CACHE_FAIL_FAST_S = 5.0
# What homepage_rows reads from settings: a page cached under other settings is another page.
ROW_SETTINGS = (
    "BLEND_WEIGHTS", "BUY_AGAIN_HALF_LIFE_DAYS", "EMBEDDING_ENCODER", "GENDER_INFERENCE_SHARE", "HNSW_EF_SEARCH",
    "HOME_ROW_SIZE", "PREFERENCE_HALF_LIFE_DAYS", "PREFERENCE_RECENT_EVENTS", "RANKED_ROW_MAX_PER_ARTICLE_TYPE",
    "RANKER_ENABLED", "RANKER_POOL_SIZES", "RECOMMENDER_KIND_WEIGHTS", "RECOMMEND_REPURCHASES",
    "ROW_EXPLORATION_SLOTS", "ROW_MAX_PER_ARTICLE_TYPE", "SIMILAR_PRODUCTS_K", "VISUAL_NEIGHBOURS_K",
    "BECAUSE_MIN_CARDS", "RECOMMENDED_QUIET_AFTER_PURCHASE_H", "POPULAR_DAYS",
)  # fmt: skip
FORMAT = 5  # bump when CachedPage or Row changes shape, or what rows hold (5: list ids; 4: one card per group)


@dataclass(frozen=True, slots=True)
class ServingState:
    """What a shopper's cached page must match, read in one query."""

    generation: int
    shown: int  # the "shown products" row: what cards show and the hard filters read (see above)
    events: int  # how many events the shopper has
    newest_event_id: int

    @property
    def values(self) -> ServingValues:
        return ServingValues(self.generation, self.shown)


@dataclass(frozen=True)
class CachedPage:
    genders: tuple[str, ...] | None  # the hard filter the rows were computed with
    rows: list[Row]  # cards without their products (attached from catalog.cards)
    shown: int  # the "shown products" value read before the cards last passed the hard filters
    versions: dict[int, str]  # each card's product version then (catalog.cards)
    expires_at: float  # time.time() when HOME_PAGE_CACHE_S from its computation has passed


_redis = {"down_until": 0.0}


def serving_state(*, user_id: int | None, visitor: Visitor | None) -> ServingState:
    """The generation, the shown-products value and the shopper's history count and newest id, in one
    round trip."""
    if user_id is not None:
        owner, params = "user_id = %s", [user_id]
    elif visitor is not None and not visitor._state.adding:
        # With any of their events a user now owns: the key may change too often, never too rarely.
        owner, params = "visitor_id = %s", [visitor.pk]
    else:
        owner, params = "false", []  # a visitor without a row has no events
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE((SELECT value FROM recommendations_servinggeneration WHERE id = 1), 0),"
            " COALESCE((SELECT value FROM recommendations_servinggeneration WHERE id = 2), 0),"
            f" count(*), COALESCE(max(id), 0) FROM recommendations_interaction WHERE {owner}",
            params,
        )
        generation, shown, events, newest = cursor.fetchone()
    return ServingState(generation, shown, events, newest)


def shopper_key(*, state: ServingState, user_id: int | None, visitor: Visitor | None) -> str:
    """Who a kept value is for: "new" for every shopper without a history (they share it), else the
    user or the visitor, with their gender choice and everything of their serving state. The
    homepage, search and the category pages key their kept values with it."""
    if state.events == 0:
        who = "new"
    elif user_id is not None:
        who = f"u{user_id}"
    else:
        who = f"v{visitor.pk}"
    choice = visitor.gender_preference if visitor is not None else ""
    return f"{who}:{choice}:{state.generation}:{state.events}:{state.newest_event_id}"


def page_key(*, state: ServingState, user_id: int | None, visitor: Visitor | None, variant: int) -> str:
    """The cache key of a shopper's page; shoppers without history share PAGE_CACHE_VARIANTS pages."""
    shopper = shopper_key(state=state, user_id=user_id, visitor=visitor)
    return f"home:{_settings_digest()}:{variant if state.events == 0 else ''}{shopper}"


def cached_page_rows(key: str, state: ServingState) -> list[Row] | None:
    """The rows of the page cached under ``key``, each card with its product's record, when every
    card still passes the hard filters; None when there is no such page or one fails. No query when
    no product was changed in a way a card shows or a filter reads since the page was kept; from
    this process's memory when it served the page under the same shown value."""
    rows = _served.peek(key, state.shown)
    if rows is not None:
        return rows
    page = cache_call(cache.get, key)
    if page is None:
        return None
    shown = {card.product_id for row in page.rows for card in row.cards}
    versions = page.versions
    if page.shown != state.shown:
        # A product changed: the cards pass the hard filters again, fresh, and the page is kept
        # again under the value this request read before this query (a change committed after
        # that read has moved the value on, so the next request checks again).
        # On the primary, where the values were read: a lagging replica's rows would be kept under them.
        passing = eligible(genders=page.genders, exclude=set()).using(PRIMARY).filter(pk__in=id_array(shown))
        versions = dict(passing.annotate(v=card_version()).values_list("pk", "v"))
        if len(versions) != len(shown):
            return None  # something sold out, was switched off or changed gender: compute the page again
    products = product_cards(versions=versions, unversioned=set())
    if len(products) != len(shown):
        return None  # deleted since the filters read it
    if page.shown != state.shown:
        # Kept again, under the value this request read before its query (a change committed after
        # that read has moved the value on, so the next request checks again), and never longer
        # than from its computation.
        left = page.expires_at - time.time()
        if left >= 1:
            cache_call(cache.set, key, dataclasses.replace(page, shown=state.shown, versions=versions), int(left))
    for row in page.rows:  # unpickled for this request alone: no other request holds these cards yet
        for card in row.cards:
            card.product = products[card.product_id]
    _served_keep(key, state.shown, page.rows, page.expires_at)
    return page.rows


def page_store(key: str, rows: list[Row], *, genders: tuple[str, ...] | None, shown: int) -> None:
    """Keep a page for HOME_PAGE_CACHE_S (its key changes sooner when anything it shows does), with
    the shown-products value read before it was computed."""
    bare = [
        dataclasses.replace(row, cards=[dataclasses.replace(card, product=None) for card in row.cards]) for row in rows
    ]
    versions = {card.product_id: card.product.version for row in rows for card in row.cards}
    expires_at = time.time() + settings.HOME_PAGE_CACHE_S
    cache_call(cache.set, key, CachedPage(genders, bare, shown, versions, expires_at), settings.HOME_PAGE_CACHE_S)
    _served_keep(key, shown, rows, expires_at)


# This process's copies of the pages it served: key -> rows with their cards' records, under the shown
# value, until the page's own expiry; about 15 kB a page (the records are shared with catalog.cards).
# Shared by the threads and requests of the process: rows are read, never changed (the template and
# the API only read them).
_served: GenerationMemo[list[Row]] = GenerationMemo(2048, 0)


def _served_keep(key: str, shown: int, rows: list[Row], expires_at: float) -> None:
    _served.put(key, shown, rows, max_age_s=expires_at - time.time())


def cache_call(method, *args):
    """``method(*args)`` on the shared cache, or None when Redis fails (then left alone a while)."""
    if time.monotonic() < _redis["down_until"]:
        return None
    try:
        return method(*args)
    except (RedisError, OSError) as exc:
        logger.warning("The page cache failed (%s); pages are computed without it for %ss.", exc, CACHE_FAIL_FAST_S)
        _redis["down_until"] = time.monotonic() + CACHE_FAIL_FAST_S
        return None


def _settings_digest() -> str:
    values = repr([FORMAT, *(getattr(settings, name, None) for name in ROW_SETTINGS)])
    return hashlib.blake2b(values.encode(), digest_size=6).hexdigest()
