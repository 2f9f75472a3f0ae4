"""The personalised homepage: candidates from three sources, blended, filtered, diversified.

Sources (each returns (product id, score, anchor product id) best first):
* ``als``: implicit ALS scores of the shopper's (fresh or stored) user vector;
* ``visual``: nearest products, through the HNSW index, to the shopper's *visual preference*:
  the mean of the embeddings of their recent products, weighted by kind and halved every
  PREFERENCE_HALF_LIFE_DAYS. One index query per page, whatever the history's length; per-item
  neighbours would cost one query per recent product, and they are what the "Because you
  viewed X" row shows instead;
* ``trending``: TrendingScore, the recent window's weighted interaction counts.

Each source's scores are min-max normalised to [0, 1], then summed with BLEND_WEIGHTS; a card
takes the strategy and reason of the source that contributed most. Hard filters (active, in
stock, compatible gender, not purchased) are applied in the database for every source and again
on the final rows. Diversity: at most ROW_MAX_PER_ARTICLE_TYPE cards of one article type per row,
and ROW_EXPLORATION_SLOTS random eligible products per row, so a shopper is never stuck in one look.
Fallbacks: no history means trending only; one click already feeds the visual and ALS sources.
"""

import random
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db.models import Max, Min, QuerySet

from catalog.models import EmbeddingStatus, Product
from recommendations.encoders import encoder_class
from recommendations.models import TrendingScore
from recommendations.selectors.collaborative import collaborative_candidates, serving_model
from recommendations.selectors.shopper import Shopper
from recommendations.selectors.similar import products_similar_to_vector
from recommendations.vectors import id_array

Candidate = tuple[int, float, int | None]
# What a card shows and the filters check; the 2.5 kB embedding stays in the database.
CARD_FIELDS = ("pk", "name", "gender", "article_type", "colour", "price", "stock_quantity", "is_active")


@dataclass
class Card:
    product_id: int
    strategy: str  # als, visual, trending, explore
    reason: str
    score: float
    row: str = ""
    slot: int = 0
    product: Product | None = None  # fetched with its photos once the rows are settled


@dataclass
class Row:
    key: str
    title: str
    cards: list[Card] = field(default_factory=list)


def eligible(*, genders: tuple[str, ...] | None, exclude: set[int]) -> QuerySet[Product]:
    """The hard filters, in one place: active, in stock, a compatible gender, not excluded."""
    products = Product.objects.filter(is_active=True, stock_quantity__gt=0)
    if genders is not None:
        products = products.filter(gender__in=genders)
    if exclude:
        products = products.exclude(pk__in=id_array(exclude))
    return products


def recent_embeddings(shopper: Shopper) -> dict[int, np.ndarray]:
    """The embeddings of the shopper's recent products, in one query."""
    recent = shopper.recent_product_ids[: settings.PREFERENCE_RECENT_EVENTS]
    if not recent:
        return {}
    encoder = encoder_class()
    rows = Product.objects.filter(
        pk__in=recent, embedding_model=encoder.model_key(), embedding_status=EmbeddingStatus.DONE
    ).values_list("pk", "embedding")
    return {pk: vector.to_numpy().astype(np.float32) for pk, vector in rows}


def visual_preference(shopper: Shopper, vectors: dict[int, np.ndarray]) -> np.ndarray | None:
    """Weighted mean of the recent products' embeddings (kind weight x recency decay), normalised."""
    recent = shopper.recent[: settings.PREFERENCE_RECENT_EVENTS]
    if not recent or not vectors:
        return None
    newest = recent[0][2]
    total = np.zeros(len(next(iter(vectors.values()))), dtype=np.float32)
    for product_id, kind, created_at, *_ in recent:
        if product_id in vectors:
            age_days = (newest - created_at).total_seconds() / 86400
            weight = settings.RECOMMENDER_KIND_WEIGHTS.get(kind, 0) * 0.5 ** (
                age_days / settings.PREFERENCE_HALF_LIFE_DAYS
            )
            total += weight * vectors[product_id]
    norm = float(np.linalg.norm(total))
    return total / norm if norm > 0 else None


def visual_candidates(
    shopper: Shopper, vectors: dict[int, np.ndarray], genders, exclude: set[int], limit: int = 60
) -> list[Candidate]:
    preference = visual_preference(shopper, vectors)
    if preference is None:
        return []
    anchor = _heaviest_recent_product(shopper)
    nearest = products_similar_to_vector(
        vector=preference, genders=genders, exclude_ids=exclude, k=limit, ids_only=True
    )
    return [(product_id, 1.0 - distance, anchor) for product_id, distance in nearest]


def _heaviest_recent_product(shopper: Shopper) -> int | None:
    weights = settings.RECOMMENDER_KIND_WEIGHTS
    recent = shopper.recent[: settings.PREFERENCE_RECENT_EVENTS]
    return max(recent, key=lambda event: weights.get(event[1], 0), default=(None,))[0]


def trending_candidates(limit: int = 200) -> list[Candidate]:
    return [
        (pid, score, None)
        for pid, score in TrendingScore.objects.order_by("-score").values_list("product_id", "score")[:limit]
    ]


def blend(sources: dict[str, list[Candidate]], weights: dict[str, float]) -> list[tuple[int, float, str, int | None]]:
    """(product id, blended score, strategy, anchor), best first. See the module docstring."""
    totals: dict[int, float] = {}
    best: dict[int, tuple[float, str, int | None]] = {}
    for source, candidates in sources.items():
        if not candidates or weights.get(source, 0) <= 0:
            continue
        scores = np.array([score for _, score, _ in candidates], dtype=np.float64)
        low, span = scores.min(), scores.max() - scores.min()
        normalised = (scores - low) / span if span > 0 else np.ones_like(scores)
        for (product_id, _, anchor), value in zip(candidates, normalised, strict=True):
            contribution = weights[source] * float(value)
            totals[product_id] = totals.get(product_id, 0.0) + contribution
            if contribution > best.get(product_id, (-1.0, "", None))[0]:
                best[product_id] = (contribution, source, anchor)
    ranked = sorted(totals, key=lambda pid: (-totals[pid], pid))
    return [(pid, totals[pid], best[pid][1], best[pid][2]) for pid in ranked]


VERBS = {"purchase": "bought", "add_to_cart": "added", "click": "viewed", "view": "viewed"}


def anchors_of(shopper: Shopper) -> dict[int, tuple[str, str]]:
    """product id -> (what the shopper did with it at most: "bought", "added", "viewed"; its name)."""
    weights = settings.RECOMMENDER_KIND_WEIGHTS
    strongest: dict[int, tuple[str, str]] = {}
    for product_id, kind, _, _, name in shopper.recent:
        if product_id not in strongest or weights.get(kind, 0) > weights.get(strongest[product_id][0], 0):
            strongest[product_id] = (kind, name)
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
    return "Something different"


def fill_row(
    ranked: list[tuple[int, float, str, int | None]],
    article_types: dict[int, str],
    names: dict[int, tuple[str, str]],
    *, size: int, explore: list[int], rng: random.Random,
) -> list[Card]:  # fmt: skip
    """Take ranked eligible products with a cap per article type, then put exploration cards in
    random slots. ``article_types`` holds the eligible products; the others failed a hard filter."""
    slots = min(settings.ROW_EXPLORATION_SLOTS, size) if explore else 0
    per_type: dict[str, int] = {}
    cards: list[Card] = []
    taken: set[int] = set()

    def take(product_id, score, strategy, anchor) -> None:
        taken.add(product_id)
        cards.append(Card(product_id, strategy, reason_for(strategy, names.get(anchor)), score))

    for product_id, score, strategy, anchor in ranked:
        if len(cards) >= size - slots:
            break
        kind = article_types.get(product_id)
        if kind is None or product_id in taken or per_type.get(kind, 0) >= settings.ROW_MAX_PER_ARTICLE_TYPE:
            continue
        per_type[kind] = per_type.get(kind, 0) + 1
        take(product_id, score, strategy, anchor)
    # Diversity yields to a full row: if the cap left gaps, the best of the rest fill them.
    for product_id, score, strategy, anchor in ranked:
        if len(cards) >= size - slots:
            break
        if product_id in article_types and product_id not in taken:
            take(product_id, score, strategy, anchor)
    for product_id in [pid for pid in explore if pid not in taken][:slots]:
        cards.insert(rng.randint(0, len(cards)), Card(product_id, "explore", reason_for("explore", None), 0.0))
    return cards


def exploration_pool(*, genders, exclude: set[int], count: int, rng: random.Random) -> list[int]:
    """Random eligible products. Sampling ids in the table's id range and keeping those that
    pass the filters avoids ORDER BY random() over the whole catalog; where ids are too sparse
    for that, ORDER BY random() it is."""
    if count <= 0:
        return []
    bounds = Product.objects.aggregate(low=Min("pk"), high=Max("pk"))
    if bounds["low"] is None:
        return []
    span = range(bounds["low"], bounds["high"] + 1)
    sample = rng.sample(span, min(len(span), count * 20))
    found = list(
        eligible(genders=genders, exclude=exclude)
        .filter(pk__in=id_array(sample))
        .values_list("pk", flat=True)[: count * 4]
    )
    if len(found) < count:
        found = list(eligible(genders=genders, exclude=exclude).order_by("?").values_list("pk", flat=True)[:count])
    rng.shuffle(found)
    return found[:count]


def homepage_rows(*, shopper: Shopper, rng: random.Random | None = None) -> list[Row]:
    """The rows of the homepage for this shopper, each full when enough eligible products exist."""
    rng = rng or random.Random()
    size = settings.HOME_ROW_SIZE
    genders = shopper.allowed_genders()
    purchased = set(shopper.purchased)
    recently_seen = purchased | set(shopper.recent_product_ids[: settings.PREFERENCE_RECENT_EVENTS])
    sources: dict[str, list[Candidate]] = {"trending": trending_candidates()}
    model = serving_model() if shopper.recent else None
    if model is not None:
        sources["als"] = collaborative_candidates(model, shopper)
    vectors = recent_embeddings(shopper)
    if vectors:
        sources["visual"] = visual_candidates(shopper, vectors, genders, recently_seen)
    last_viewed = shopper.recent_product_ids[0] if shopper.recent else None
    last_vector = vectors.get(last_viewed)
    because = (
        products_similar_to_vector(
            vector=last_vector, genders=genders, exclude_ids=recently_seen, k=size * 2, ids_only=True
        )
        if last_vector is not None
        else []
    )
    wanted = {pid for candidates in sources.values() for pid, *_ in candidates} | {pid for pid, _ in because}
    # Hundreds of candidates pass the filters as (id, article type) pairs; only the few dozen
    # shown are fetched as products, with their photos, at the end.
    article_types = dict(
        eligible(genders=genders, exclude=purchased).filter(pk__in=id_array(wanted)).values_list("pk", "article_type")
    )
    names = anchors_of(shopper)
    explore = exploration_pool(
        genders=genders, exclude=recently_seen, count=settings.ROW_EXPLORATION_SLOTS * 6, rng=rng
    )
    rows: list[Row] = []
    if shopper.recent:
        ranked = [entry for entry in blend(sources, settings.BLEND_WEIGHTS) if entry[0] not in recently_seen]
        rows.append(
            Row(
                "home.recommended",
                "Recommended for you",
                fill_row(ranked, article_types, names, size=size, explore=explore[: len(explore) // 2], rng=rng),
            )
        )
        if because:
            ranked = [(pid, 1 - distance, "visual", last_viewed) for pid, distance in because]
            title = reason_for("visual", names.get(last_viewed))
            rows.append(
                Row("home.because", title, fill_row(ranked, article_types, names, size=size, explore=[], rng=rng))
            )
    ranked = [(pid, score, "trending", None) for pid, score, _ in sources["trending"] if pid not in recently_seen]
    rows.append(
        Row(
            "home.trending",
            "Trending now",
            fill_row(ranked, article_types, names, size=size, explore=explore[len(explore) // 2 :], rng=rng),
        )
    )
    _top_up(rows, genders=genders, exclude=recently_seen, size=size)
    for row in rows:
        for slot, card in enumerate(row.cards):
            card.row, card.slot = row.key, slot
    shown = Product.objects.filter(pk__in={card.product_id for row in rows for card in row.cards})
    products = {p.pk: p for p in shown.only(*CARD_FIELDS).prefetch_related("images")}
    for row in rows:
        for card in row.cards:
            card.product = products[card.product_id]
    return [row for row in rows if row.cards]


def _top_up(rows: list[Row], *, genders, exclude: set[int], size: int) -> None:
    """A row the sources could not fill is completed from any eligible products (one query, rare)."""
    short = [row for row in rows if len(row.cards) < size]
    if not short:
        return
    # Enough spares for any one row even if every shown product is among them.
    shown = sum(len(row.cards) for row in rows)
    spare = list(eligible(genders=genders, exclude=exclude).values_list("pk", flat=True)[: size + shown])
    for row in short:
        present = {card.product_id for card in row.cards}
        for product_id in spare:
            if len(row.cards) >= size:
                break
            if product_id not in present:
                present.add(product_id)
                row.cards.append(Card(product_id, "explore", reason_for("explore", None), 0.0))
