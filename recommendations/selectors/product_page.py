"""The product page's lists ("Goes well with", other colours, "Customers who bought this also bought",
"Looks similar"), with one hard-filter query for all of them: the candidates of each are known
beforehand (the after-a-click ranking of the product, its group, the ALS item neighbours kept per
process, the stored visual neighbours), so one query over their union reads which pass and their
card versions. A product shows in the first list that has it, never again lower on the page."""

import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS as PRIMARY
from django.db.models.expressions import RawSQL

from catalog.cards import ProductCard, card_version, product_cards
from catalog.gender import compatible_genders
from catalog.models import Product
from catalog.selectors import product_get
from common.compiled import id_array, id_literal
from merchandising.selectors.rules import Anchor
from recommendations.selectors.collaborative import also_bought_ids, serving_model
from recommendations.selectors.generation import GenerationMemo, ServingValues, serving_values
from recommendations.selectors.merchandise import rows_merchandised
from recommendations.selectors.ranked import active_ranker, goes_with, goes_with_ids
from recommendations.selectors.rows import Card, Row, group_key
from recommendations.selectors.similar import (
    NEIGHBOURS_MEMO_S,
    LooksSimilar,
    hard_filters,
    passing_versions,
    similar_candidates,
    similar_from,
)


@dataclass
class ProductPageLists:
    goes_with: list[ProductCard] = field(default_factory=list)
    colours: list[ProductCard] = field(default_factory=list)
    also_bought: list[ProductCard] = field(default_factory=list)
    similar: LooksSimilar = field(default_factory=LooksSimilar)


# The product page's rows: their keys, as the links and the impressions name them, and the source each
# card of the row came from.
PRODUCT_ROWS = (
    ("product.colours", "colours", "same_product"),
    ("product.goes_with", "goes_with", "also_bought"),
    ("product.also_bought", "also_bought", "als"),
    ("product.similar", "similar", "visual"),
)


@dataclass(frozen=True, eq=False)
class ProductPage:
    """What a product page shows, the same for every shopper under one pair of serving values."""

    product: Product  # with its photos
    lists: ProductPageLists
    # Each row's list id (Row.list_id), given when the page is computed and kept with it: every render
    # shows the same lists, and each render is an impression of them (experiments).
    list_ids: dict[str, str] = field(default_factory=dict)
    placed: dict[int, str] = field(default_factory=dict)  # product id -> "rule:<id>": cards staff's rules placed

    def rows(self) -> list[Row]:
        """The page's lists as rows of cards (what was shown, for the impressions)."""
        rows = []
        for key, name, strategy in PRODUCT_ROWS:
            products = self.lists.similar.products if name == "similar" else getattr(self.lists, name)
            cards = [Card(card.pk, self.placed.get(card.pk, strategy), "", 0.0, key, slot)
                     for slot, card in enumerate(products)]  # fmt: skip
            rows.append(Row(key, name, cards, self.list_ids.get(name, "")))
        return rows


def lists_merchandised(
    lists: ProductPageLists, product: Product, values: ServingValues | None, *, size: int | None = None
) -> tuple[ProductPageLists, dict[int, str]]:
    """The product page's lists through staff's rules (selectors.merchandise, surface "product"): the
    page is the same for every shopper, so the rules act for the product's genders, and for those
    scoped to the product's department or type. A list that hiding left short stays short: a product
    page's rows promise only what they hold (issue 41). The API's lists of one product (similar,
    goes with) come through here too, ``size`` long."""
    rows = []
    for key, name, strategy in PRODUCT_ROWS:
        products = lists.similar.products if name == "similar" else getattr(lists, name)
        rows.append(Row(key, name, [Card(card.pk, strategy, "", 0.0, key, slot, card)
                                    for slot, card in enumerate(products)]))  # fmt: skip
    before = [[card.product_id for card in row.cards] for row in rows]
    versions: dict[int, str] = {}
    rows_merchandised(rows, surface="product", genders=compatible_genders(product.gender), exclude={product.pk},
                      values=values, size=size or settings.SIMILAR_PRODUCTS_K, versions=versions, fill=False,
                      anchor=Anchor(product.department, product.article_type, product.category))  # fmt: skip
    if [[card.product_id for card in row.cards] for row in rows] == before:
        return lists, {}
    placed = {c.product_id: c.strategy for row in rows for c in row.cards if c.strategy.startswith("rule:")}
    fresh = product_cards(versions={pk: versions[pk] for pk in placed if pk in versions},
                          unversioned=set(placed) - versions.keys())  # fmt: skip
    by_key = {
        row.key: [
            card.product or fresh[card.product_id] for card in row.cards if card.product or card.product_id in fresh
        ]
        for row in rows
    }
    distance = dict(zip((card.pk for card in lists.similar.products), lists.similar.distances, strict=True))
    similar = by_key["product.similar"]
    return ProductPageLists(
        goes_with=by_key["product.goes_with"], colours=by_key["product.colours"],
        also_bought=by_key["product.also_bought"],
        # A card a rule placed among the look-alikes has no distance measured: 1 (unrelated) says so.
        similar=LooksSimilar(similar, [distance.get(card.pk, 1.0) for card in similar], lists.similar.photo_failed),
    ), placed  # fmt: skip


def product_page(*, pk: int) -> ProductPage | None:
    """The active product ``pk`` with its photos and its page's lists; None if there is no such active
    product. Kept per product and process under the serving values, so a page read before costs one
    query (the values): the shown value moves with every change of a product or of its photos that
    the page shows (migrations 0013 and 0014), the generation with new products, models and
    embeddings, and stored visual neighbours age out as in looks_similar."""
    values = serving_values()
    return _page_memo.get(pk, values, lambda: _page(pk, values))


# A miss is kept too: a product created later moves the generation (its INSERT trigger).
_page_memo: GenerationMemo[ProductPage | None] = GenerationMemo(4096, NEIGHBOURS_MEMO_S)


def _page(pk: int, values: ServingValues) -> ProductPage | None:
    # On the primary, where the values were read: a lagging replica's product would be kept under them.
    product = product_get(pk=pk, using=PRIMARY)
    if product is None or not product.is_active:
        return None
    lists, placed = lists_merchandised(product_page_lists(product=product, values=values), product, values)
    return ProductPage(product, lists, {name: uuid.uuid4().hex for _, name, _ in PRODUCT_ROWS}, placed)


def product_page_lists(
    *, product: Product, k: int | None = None, values: ServingValues | None = None
) -> ProductPageLists:
    """ "Goes well with" (what is bought with it, from the active ranker's after-a-click model), then
    the same lists as other_colours, customers_also_bought and looks_similar less what a list above
    shows; each product in stock, of a compatible gender and never the product itself."""
    k = k or settings.SIMILAR_PRODUCTS_K
    # One query for the serving values (unless given); the active models' ids come from this
    # process's memory under the generation, and which candidates pass the hard filters under both.
    values = values or serving_values()
    generation = values.generation
    model = serving_model(generation)
    also = also_bought_ids(model, product.pk) if model is not None else ()
    ranker = active_ranker(generation) if settings.RANKER_ENABLED else None
    goes = goes_with_ids(ranker, product.pk)[: k * 4] if ranker is not None else []
    neighbours, photo_failed = similar_candidates(product, generation=generation)
    candidates = frozenset({*also, *goes, *(pid for pid, _ in neighbours or ())})
    passing, group, groups = _passing_memo.get((product.pk, candidates), values, lambda: _passing(product, candidates))
    # Other colours first: they are the product itself, and "Goes well with" held the same dress in its
    # other colours while "Other colours" never appeared (issue 41). Below them, one card per product
    # (``groups``) over the whole page, never the product's own.
    colours = sorted(group)[:k]
    shown = set(group)
    on_page = {group_key(product.pk, product.product_group)}

    def first_of_each_product(ids) -> list[int]:
        chosen = []
        for pid in ids:
            key = group_key(pid, groups.get(pid, ""))
            if len(chosen) < k and pid in passing and pid not in shown and key not in on_page:
                on_page.add(key)
                chosen.append(pid)
        shown.update(chosen)
        return chosen

    goes_with = first_of_each_product(goes)
    bought = first_of_each_product(also)
    cards = product_cards(versions={pid: passing[pid] for pid in {*goes_with, *colours, *bought}})
    similar = (
        LooksSimilar(photo_failed=photo_failed)
        if neighbours is None
        else similar_from(product, neighbours, {pid: passing[pid] for pid, _ in neighbours if pid in passing}, k=k)
    )
    # Less what the lists above show (not before: a short list would send it to the HNSW index).
    kept = []
    for card, distance in zip(similar.products, similar.distances, strict=True):
        key = group_key(card.pk, groups.get(card.pk, ""))
        if card.pk not in shown and key not in on_page:
            on_page.add(key)
            kept.append((card, distance))
    similar.products, similar.distances = [card for card, _ in kept], [distance for _, distance in kept]
    return ProductPageLists(
        goes_with=[cards[pid] for pid in goes_with if pid in cards],
        colours=[cards[pid] for pid in colours if pid in cards],
        also_bought=[cards[pid] for pid in bought if pid in cards],
        similar=similar,
    )


# Which of a product page's candidates pass the hard filters, with their card versions, per product
# and candidate set, under the serving values they were read after (see ServingValues). The hour
# bounds how long a value no write changes may stay (none should).
_passing_memo: GenerationMemo[tuple[dict[int, str], list[int], dict[int, str]]] = GenerationMemo(4096, 3600)


def _passing(product: Product, candidates: frozenset[int]) -> tuple[dict[int, str], list[int], dict[int, str]]:
    """(the candidates and members of the product's group that pass the hard filters, with their card
    versions; the members, in id order; each passing product's group), in one query."""
    rows = (
        Product.objects.using(PRIMARY)  # as the values were: a lagging replica's rows would be kept under them
        .filter(hard_filters(genders=compatible_genders(product.gender), exclude=(product.pk,)))
        .filter(pk__in=_candidates_and_group(set(candidates), product))
        .annotate(version=card_version())
        .values_list("pk", "product_group", "version")
    )
    passing: dict[int, str] = {}
    group: list[int] = []
    groups: dict[int, str] = {}
    for pk, product_group, version in rows:
        passing[pk], groups[pk] = version, product_group
        if product.product_group and product_group == product.product_group:
            group.append(pk)
    return passing, group, groups


def _candidates_and_group(ids: set[int], product: Product) -> RawSQL:
    """The candidates' ids and the product group's members, as one subquery. Written as an OR of two
    conditions (``pk__in=id_array(ids) | Q(product_group=...)``) PostgreSQL cannot combine a hashed
    subplan with an index, so it read the whole catalog: 54 ms a page on the H&M catalog, against 2 ms
    for this union, each half through its index."""
    if not product.product_group:
        return id_array(ids)
    group = f"SELECT id FROM {Product._meta.db_table} WHERE product_group = %s"
    return RawSQL(f"SELECT unnest(%s::bigint[]) UNION ALL {group}", (id_literal(ids), product.product_group))


def goes_well_with(*, product: Product, k: int | None = None) -> list[ProductCard]:
    """The product page's first list alone, as cards (the API's): what is bought with the product,
    from the active ranker's after-a-click model, through the hard filters; empty before a ranker is
    trained. One query once the models are in this process and it has read which of the product's
    partners pass the filters under the current serving values."""
    k = k or settings.SIMILAR_PRODUCTS_K
    values = serving_values()
    ranker = active_ranker(values.generation) if settings.RANKER_ENABLED else None
    # The product page's list: never the product's own other colours, which have their row.
    goes = [c.product_id for c in goes_with(ranker, product.pk) if c.source != "same_product"] if ranker else []
    goes = goes[: k * 4]
    if not goes:
        return []
    passing = passing_versions(product, goes, values=values, exclude_self=True)
    chosen = [pid for pid in goes if pid in passing][:k]
    cards = product_cards(versions={pid: passing[pid] for pid in chosen})
    return [cards[pid] for pid in chosen if pid in cards]
