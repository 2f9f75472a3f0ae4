"""Rows of cards: the blend, reasons, diversity, exploration and the top-up that keeps rows full."""

import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db.models import Max, Min

from catalog.cards import ProductCard
from catalog.models import Product
from common.compiled import id_array
from recommendations.domain import Candidate, Shopper
from recommendations.selectors.sources import eligible

BUY_AGAIN_ROW = "home.buy_again"
RECOMMENDED_ROW = "home.recommended"
BECAUSE_ROW = "home.because"
# What "Because you viewed X" may hold: X's other colours, its basket partners, and its look-alikes of
# the same type (issue 41: the row held twelve best sellers, women's blouses under a men's jogger).
# The gender is the page's hard filter. Best sellers and other products of the type are not "because".
RELATED_STRATEGIES = frozenset({"same_product", "also_bought"})


@dataclass
class Card:
    product_id: int
    strategy: str  # als, visual, trending, explore
    reason: str
    score: float
    row: str = ""
    slot: int = 0
    product: ProductCard | None = None  # what the card shows (catalog.cards), once the rows are settled


@dataclass
class Row:
    key: str
    title: str
    cards: list[Card] = field(default_factory=list)
    # The list's id (32 hex digits), given when the page is computed and kept with it: every render of a
    # cached page shows the same list, and each render is an impression of it (experiments.impressions).
    list_id: str = ""


def new_list_ids(rows: list[Row]) -> None:
    for row in rows:
        row.list_id = uuid.uuid4().hex


def blend(sources: dict[str, list[Candidate]], weights: dict[str, float]) -> list[Candidate]:
    """Blended candidates, best first: each source's scores min-max normalised to [0, 1], summed
    with ``weights``; each keeps the source and anchor of the source that contributed most."""
    totals: dict[int, float] = {}
    best: dict[int, tuple[float, str, int | None]] = {}
    for source, candidates in sources.items():
        if not candidates or weights.get(source, 0) <= 0:
            continue
        scores = np.array([candidate.score for candidate in candidates], dtype=np.float64)
        low, span = scores.min(), scores.max() - scores.min()
        normalised = (scores - low) / span if span > 0 else np.ones_like(scores)
        for candidate, value in zip(candidates, normalised, strict=True):
            contribution = weights[source] * float(value)
            totals[candidate.product_id] = totals.get(candidate.product_id, 0.0) + contribution
            if contribution > best.get(candidate.product_id, (-1.0, "", None))[0]:
                best[candidate.product_id] = (contribution, source, candidate.anchor)
    ranked = sorted(totals, key=lambda pid: (-totals[pid], pid))
    return [Candidate(pid, totals[pid], best[pid][1], best[pid][2]) for pid in ranked]


VERBS = {"purchase": "bought", "add_to_cart": "added", "click": "viewed", "view": "viewed"}


def anchors_of(shopper: Shopper) -> dict[int, tuple[str, str]]:
    """product id -> (what the shopper did with it at most: "bought", "added", "viewed"; its name)."""
    weights = settings.RECOMMENDER_KIND_WEIGHTS
    strongest: dict[int, tuple[str, str]] = {}
    for event in shopper.recent:
        known = strongest.get(event.product_id)
        if known is None or weights.get(event.kind, 0) > weights.get(known[0], 0):
            strongest[event.product_id] = (event.kind, event.name)
    return {pid: (VERBS.get(kind, "viewed"), name) for pid, (kind, name) in strongest.items()}


def reason_for(strategy: str, anchor: tuple[str, str] | None) -> str:
    """The line a card shows; ``anchor`` is (verb, product name) from anchors_of."""
    if strategy == "als":
        if anchor is None:
            return "Picked for you"
        verb, name = anchor
        return (
            f"Customers who bought {name} also bought this"
            if verb == "bought"
            else f"Shoppers who liked {name} also liked this"
        )
    if strategy == "visual":
        return f"Because you {anchor[0]} {anchor[1]}" if anchor else "Similar to what you like"
    if strategy == "trending":
        return "Trending"
    if strategy == "buy_again":
        return f"You {anchor[0]} this before" if anchor else "Buy it again"
    if strategy == "also_bought":  # baskets: the product page's "Goes well with", not its ALS row's name
        return f"Often bought with {anchor[1]}" if anchor else "Often bought together"
    if strategy == "popular":
        return "Best seller"
    if strategy == "same_product":
        return f"Another colour of {anchor[1]}" if anchor else "Another colour"
    return "Something different"


def fill_row(
    ranked: list[Candidate],
    article_types: Mapping[int, str],
    names: dict[int, tuple[str, str]],
    *, size: int, explore: list[int], per_type: int | None = None,
    groups: Mapping[int, str] | None = None, taken_groups: set[str] | None = None,
    repeatable: frozenset[str] = frozenset(),
) -> list[Card]:  # fmt: skip
    """Take ranked eligible products with a cap per article type (``per_type``, default
    ROW_MAX_PER_ARTICLE_TYPE), then the exploration cards in the last slots. ``article_types`` holds
    the eligible products; the others failed a hard filter.

    One card per product (``groups``: product id -> its product group, see group_of): a colour whose
    product already has a card, in this row or in ``taken_groups`` (the page's rows above, updated
    here), is skipped, and the card shows the product's other colours as swatches. A row showed five
    colours of one jogger side by side (issue 41). Except the products in ``repeatable``, those the
    shopper bought: another colour of what they bought is what H&M's returning shoppers come back for
    (one card each cost their MAP@12 0.1643 -> 0.1499 on the H&M week, docs/evaluation.md).

    Last, not in random slots: on the H&M week a random product in a random slot cost new shoppers
    0.0005 of MAP@12 (0.0071 against 0.0076), in the last slot nothing measurable (0.0076), and it
    still shows every shopper something outside what sells."""
    cap = settings.ROW_MAX_PER_ARTICLE_TYPE if per_type is None else per_type
    slots = min(settings.ROW_EXPLORATION_SLOTS, size) if explore else 0
    counts: dict[str, int] = {}
    cards: list[Card] = []
    taken = taken_groups if taken_groups is not None else set()

    def free(product_id: int) -> bool:
        group = group_of(product_id, groups)
        return f"#{product_id}" not in taken and (group not in taken or group in repeatable)

    def take(candidate: Candidate) -> None:
        taken.update((group_of(candidate.product_id, groups), f"#{candidate.product_id}"))
        reason = reason_for(candidate.source, names.get(candidate.anchor))
        cards.append(Card(candidate.product_id, candidate.source, reason, candidate.score))

    for candidate in ranked:
        if len(cards) >= size - slots:
            break
        kind = article_types.get(candidate.product_id)
        if kind is None or not free(candidate.product_id) or counts.get(kind, 0) >= cap:
            continue
        counts[kind] = counts.get(kind, 0) + 1
        take(candidate)
    # Diversity yields to a full row: if the cap left gaps, the best of the rest fill them.
    for candidate in ranked:
        if len(cards) >= size - slots:
            break
        if candidate.product_id in article_types and free(candidate.product_id):
            take(candidate)
    for product_id in explore:
        if len(cards) >= size or slots <= 0:
            break
        if free(product_id):
            taken.update((group_of(product_id, groups), f"#{product_id}"))
            cards.append(Card(product_id, "explore", reason_for("explore", None), 0.0))
            slots -= 1
    return cards


def group_of(product_id: int, groups: Mapping[int, str] | None) -> str:
    """The product a colour belongs to (catalog.Product.product_group, H&M's product code); a product
    without one, or not in ``groups``, is a product of its own."""
    return group_key(product_id, groups.get(product_id, "") if groups is not None else "")


def group_key(product_id: int, product_group: str) -> str:
    return product_group or f"#{product_id}"


@dataclass
class PageSources:
    """A homepage's candidate lists, each best first and before the hard filters: from the database
    when the store serves the page (selectors.homepage), from memory in the evaluation
    (evaluation.ranking). page_rows assembles both the same way, so what is measured is what is served."""

    trending: list[Candidate]
    ranked: list[Candidate] = field(default_factory=list)  # the learned ranker's; empty: the blend serves
    again: list[Candidate] = field(default_factory=list)  # "Buy again": purchases, then their other colours
    blended: list[Candidate] = field(default_factory=list)  # the blend of ALS, visual and trending
    because: list[Candidate] = field(default_factory=list)  # "Because you viewed" the newest product
    because_title: str = ""
    because_type: str = ""  # the newest product's article type: its look-alikes must share it
    # Bought within RECOMMENDED_QUIET_AFTER_PURCHASE_H: out of "Recommended for you", with the other colours
    # proposed because of them ("Buy again" keeps its own rules). Empty in the evaluation: H&M's purchases
    # carry a day only, so each is at least a day old at a test day's start, past any quiet period.
    just_bought: frozenset[int] = frozenset()


def related_to_anchor(
    candidates: list[Candidate], article_types: Mapping[int, str], anchor_type: str
) -> list[Candidate]:
    """The candidates that belong in "Because you viewed X": X's other colours and basket partners, and
    its look-alikes of the same article type (``anchor_type``; ``article_types`` holds the eligible)."""
    return [
        c for c in candidates
        if c.source in RELATED_STRATEGIES or (c.source == "visual" and article_types.get(c.product_id) == anchor_type)
    ]  # fmt: skip


def page_rows(
    sources: PageSources, *, article_types: Mapping[int, str], names: dict[int, tuple[str, str]],
    explore: list[int], recently_seen: set[int], has_history: bool, size: int, groups: Mapping[int, str] | None = None,
    repeatable: frozenset[str] = frozenset(),
) -> list[Row]:  # fmt: skip
    """The homepage's rows, in order, before the top-up: "Recommended for you" (the ranker's, first,
    without exploration) and "Buy again", or "Buy again" then the blend's "Recommended for you";
    "Because you viewed"; "Trending now". A product (all its colours: ``groups``) shows once, in the
    first row that has it (but the colours of what the shopper bought, ``repeatable``: see fill_row);
    every card passed the hard filters (``article_types`` holds those that pass)."""
    rows: list[Row] = []
    taken: set[str] = set()  # the products (groups) on the page: each shows in the first row that has it

    def add(key: str, title: str, candidates: list[Candidate], explore: list[int], per_type: int | None = None):
        cards = fill_row(candidates, article_types, names, size=size, explore=explore, per_type=per_type,
                         groups=groups, taken_groups=taken, repeatable=repeatable)  # fmt: skip
        rows.append(Row(key, title, cards))

    def not_just_bought(candidates: list[Candidate]) -> list[Candidate]:
        quiet = sources.just_bought
        return [c for c in candidates if c.product_id not in quiet
                and not (c.source == "same_product" and c.anchor in quiet)]  # fmt: skip

    if sources.ranked:
        # The ranker weighs a repurchase against everything else, so its row comes first, in the
        # ranker's order (RANKED_ROW_MAX_PER_ARTICLE_TYPE) and without exploration (Trending keeps
        # it); "Buy again" then shows the purchases it did not.
        ranked = not_just_bought(sources.ranked)
        add(RECOMMENDED_ROW, "Recommended for you", ranked, [], settings.RANKED_ROW_MAX_PER_ARTICLE_TYPE)
    if sources.again:
        add(BUY_AGAIN_ROW, "Buy again", sources.again, [])
    if has_history and not sources.ranked:
        blended = [c for c in not_just_bought(sources.blended) if c.product_id not in recently_seen]
        add(RECOMMENDED_ROW, "Recommended for you", blended, explore[: len(explore) // 2])
    if has_history and sources.because:
        related = related_to_anchor(sources.because, article_types, sources.because_type)
        # In the source's order, no cap per type: X's other colours and look-alikes share X's type.
        add(BECAUSE_ROW, sources.because_title, related, [], size)
        if len(rows[-1].cards) < settings.BECAUSE_MIN_CARDS:  # too few related products: no row at all
            for card in rows.pop().cards:
                taken.difference_update((group_of(card.product_id, groups), f"#{card.product_id}"))
    trending = [c for c in sources.trending if c.product_id not in recently_seen]
    add("home.trending", "Trending now", trending, explore[len(explore) // 2 :])
    for card in rows[-1].cards:  # the row's title says it: "Trending" on every card told nothing
        if card.strategy == "trending":
            card.reason = ""
    return [row for row in rows if row.cards or row.key != BUY_AGAIN_ROW]


def exploration_draw(*, exclude: set[int], count: int, rng: random.Random) -> list[int]:
    """Random products to explore with, *not yet through the hard filters*: the caller sends them
    through its own hard-filter query with the rest of the page (so a product sold out a moment ago
    is never shown) and keeps those that pass. Drawn from a sample of active, in-stock products that
    each process keeps for EXPLORATION_SAMPLE_S, so a page costs no query for it; ``count`` times
    three are drawn, since some fail the shopper's filters."""
    sample = _sample()
    pool = [pid for pid in rng.sample(sample, min(len(sample), count * 3 + len(exclude))) if pid not in exclude]
    return pool[: count * 3]


def exploration_pool(*, genders, exclude: set[int], count: int, rng: random.Random) -> dict[int, str]:
    """Random eligible products (id -> product group, in a random order), in queries of their own: for
    a page whose draw (above) came back with too few that pass (a small catalog, or one that changed
    since the sample was taken; the sample is then taken again). Sampling ids in the table's id range
    and keeping those that pass the filters avoids ORDER BY random() over the whole catalog; where ids
    are too sparse for that, ORDER BY random() it is."""
    _explore["until"] = 0.0
    if count <= 0:
        return {}
    bounds = Product.objects.aggregate(low=Min("pk"), high=Max("pk"))
    if bounds["low"] is None:
        return {}
    span = range(bounds["low"], bounds["high"] + 1)
    sample = rng.sample(span, min(len(span), count * 20))
    found = list(
        eligible(genders=genders, exclude=exclude)
        .filter(pk__in=id_array(sample))
        .values_list("pk", "product_group")[: count * 4]
    )
    if len(found) < count:
        found = list(
            eligible(genders=genders, exclude=exclude).order_by("?").values_list("pk", "product_group")[:count]
        )
    rng.shuffle(found)
    return dict(found[:count])


EXPLORATION_SAMPLE_S = 60
EXPLORATION_SAMPLE_SIZE = 2000
_explore: dict = {"until": 0.0, "ids": []}


def _sample() -> list[int]:
    """Up to EXPLORATION_SAMPLE_SIZE active, in-stock product ids, spread over the whole catalog:
    taken once per EXPLORATION_SAMPLE_S per process, by sampling the id range (no ORDER BY random()
    over a large catalog)."""
    if time.monotonic() < _explore["until"]:
        return _explore["ids"]
    bounds = Product.objects.aggregate(low=Min("pk"), high=Max("pk"))
    ids: list[int] = []
    if bounds["low"] is not None:
        span = range(bounds["low"], bounds["high"] + 1)
        picks = random.Random().sample(span, min(len(span), EXPLORATION_SAMPLE_SIZE * 5))
        ids = list(
            eligible(genders=None, exclude=set())
            .filter(pk__in=id_array(picks))
            .values_list("pk", flat=True)[:EXPLORATION_SAMPLE_SIZE]
        )
    _explore.update(ids=ids, until=time.monotonic() + EXPLORATION_SAMPLE_S)
    return ids


def top_up(
    rows: list[Row], *, genders, exclude: set[int], size: int, groups: Mapping[int, str] | None = None,
    refused: Callable[[int], bool] | None = None, spares: list[tuple[int, str]] | None = None,
) -> None:  # fmt: skip
    """A row the sources could not fill is completed from the best sellers of the shopper's genders
    over POPULAR_DAYS (PopularScore, one query, rare), each card saying so ("Best seller"); a row still
    short stays short. Never arbitrary products: the lowest ids filled the Men homepage with baby
    clothes (issue 41). "Buy again" and "Because you viewed" are never padded: they show only what
    their titles promise. A best seller whose product (``groups``) is on the page already is skipped,
    and one ``refused`` says no to (staff's hidden products: too many to send in the query's NOT IN).
    ``spares``: the genders' best sellers through the hard filters, best first, already read (kept
    under the serving values by the caller): then no query."""
    short = [row for row in rows if len(row.cards) < size and row.key not in (BUY_AGAIN_ROW, BECAUSE_ROW)]
    if not short:
        return
    # Enough spares for every short row even if every shown product is among them, a few colours each.
    shown = sum(len(row.cards) for row in rows)
    missing = sum(size - len(row.cards) for row in short)
    if spares is not None:
        spare = spares  # the excluded and refused are skipped below, as far as the rows need to look
    else:
        spare = list(
            eligible(genders=genders, exclude=exclude)
            .filter(popularscore__isnull=False)
            .order_by("-popularscore__score", "pk")
            .values_list("pk", "product_group")[: 2 * (missing + shown) + (200 if refused else 0)]
        )
    present = {group_of(card.product_id, groups) for row in rows for card in row.cards}  # no product twice
    for row in short:
        # Before the row's exploration cards, which keep the last slots.
        explore = [card for card in row.cards if card.strategy == "explore"]
        row.cards = [card for card in row.cards if card.strategy != "explore"]
        for product_id, product_group in spare:
            if len(row.cards) + len(explore) >= size:
                break
            if (spares is not None and product_id in exclude) or (refused is not None and refused(product_id)):
                continue
            group = group_key(product_id, product_group)
            if group not in present:
                present.add(group)
                row.cards.append(Card(product_id, "popular", reason_for("popular", None), 0.0))
        row.cards += explore
