"""Visually similar products through the HNSW index on ProductEmbedding, and the hard filters
every recommendation obeys, written once (``hard_filters``)."""

import re
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS as PRIMARY
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from catalog.cards import ProductCard, card_version, product_cards
from catalog.gender import compatible_genders
from catalog.models import Gender, Product
from catalog.selectors import on_sale
from common.compiled import id_array
from recommendations.encoders import encoder_class
from recommendations.models import EmbeddingStatus, ProductEmbedding, ProductNeighbours
from recommendations.selectors.generation import GenerationMemo, ServingValues, serving_values
from recommendations.vectors import vector_literal


def hard_filters(*, genders: tuple[str, ...] | None, exclude=(), prefix: str = "") -> Q:
    """The hard filters, in one place: active, in stock, a compatible gender (None: any), not
    excluded. ``prefix`` applies them through a relation (``"product__"`` from an embedding).
    selectors.sources.passes applies them to facts a process keeps (computed homepages): a new hard
    filter goes into both, and into ProductFacts and the triggers of migration 0013."""
    condition = on_sale(prefix)
    if genders is not None:
        condition &= Q(**{f"{prefix}gender__in": genders})
    if exclude:
        condition &= ~Q(**{f"{prefix}pk__in": id_array(exclude)})
    return condition


def embedded_products(*, model_key: str) -> QuerySet[ProductEmbedding]:
    return ProductEmbedding.objects.filter(model=model_key, status=EmbeddingStatus.DONE)


def products_similar_to_vector(
    *, vector, genders: tuple[str, ...] | None, exclude_ids=(), k: int | None = None, ids_only: bool = False
) -> list:
    """The k nearest products to ``vector`` that pass the hard filters.

    One walk per gender asked for (all of them for None), each matching that gender's partial HNSW
    index (recommendations.vector_index), merged into the nearest k: a search for men's and unisex
    products walks only those, however small their share of the catalog. Each walk joins its rows to
    their products for the hard filters (the product's own gender among them); iterative scans
    (pgvector 0.8) keep walking until k rows pass, so a sold-out stretch still fills the list.
    relaxed_order may return rows slightly out of order, so the merge sorts them. Each product gets
    a ``distance`` attribute (cosine); with ``ids_only`` the result is (product id, distance) pairs.
    """
    k = int(k or settings.SIMILAR_PRODUCTS_K)
    wanted = tuple(dict.fromkeys(Gender.values if genders is None else genders))
    if not wanted:
        return []
    encoder = encoder_class()
    sql, where_params = _nearest_sql(encoder.model_key(), encoder.dim, wanted, genders and tuple(genders), k)
    excluded = [int(pk) for pk in exclude_ids]
    params = [vector_literal(vector.to_numpy() if hasattr(vector, "to_numpy") else vector)]
    for _ in wanted:
        params += [excluded, *where_params]
    # Every connection runs with HNSW_EF_SEARCH and iterative scans (settings.DATABASES); a larger
    # k needs a wider search, for this transaction only.
    wider = k > settings.HNSW_EF_SEARCH
    with transaction.atomic() if wider else nullcontext(), connection.cursor() as cursor:
        if wider:
            cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(k)])
        cursor.execute(sql, params)
        nearest = cursor.fetchall()
    nearest.sort(key=lambda row: row[1])
    if ids_only:
        return nearest
    products = Product.objects.prefetch_related("images").in_bulk([pid for pid, _ in nearest])
    found = []
    for pid, dist in nearest:
        if pid in products:  # deleted since the search
            products[pid].distance = dist
            found.append(products[pid])
    return found


_LITERAL = re.compile(r"[a-z0-9_./-]+")


@lru_cache(maxsize=256)
def _nearest_sql(
    model_key: str, dim: int, walks: tuple[str, ...], genders: tuple[str, ...] | None, k: int
) -> tuple[str, tuple]:
    """One statement: a walk per gender in ``walks``, merged; and the product filters' parameters.
    Its parameters per call are the query vector (once) and, per walk, the excluded ids then the
    filters' parameters. Written as SQL because the ORM cannot send the vector once for several walks:
    its union repeated the 1280 numbers in each branch and cost 2.5 times this statement's time at a
    million products (10 ms against 4). The product filters are still ``hard_filters``, compiled by
    the ORM, so they are written in one place; compiled once per gender filter here, since a search
    runs on every page that misses a cache. The encoder, status and gender are literals in the text,
    not parameters, so that the planner matches each walk with its partial HNSW index whatever
    the driver binds."""
    literals = (model_key, EmbeddingStatus.DONE, *walks)
    if not all(_LITERAL.fullmatch(value) for value in literals):  # only ever the code's own names
        raise ValueError(f"Unexpected name in a similarity search: {literals!r}")
    query = Product.objects.filter(hard_filters(genders=genders)).query
    where, where_params = query.where.as_sql(query.get_compiler(connection=connection), connection)
    table, embeddings = Product._meta.db_table, ProductEmbedding._meta.db_table
    walk = (
        f"(SELECT e.product_id, e.vector::halfvec({dim}) <=> (SELECT v FROM query) AS distance "
        f"FROM {embeddings} e JOIN {table} ON {table}.id = e.product_id "
        f"WHERE e.model = '{model_key}' AND e.status = '{EmbeddingStatus.DONE}' AND e.gender = '{{gender}}' "
        f"AND NOT (e.product_id = ANY(%s::bigint[])) AND {where} ORDER BY distance LIMIT {k})"
    )
    sql = f"WITH query AS MATERIALIZED (SELECT %s::halfvec({dim}) AS v) "
    sql += " UNION ALL ".join(walk.replace("{gender}", gender) for gender in walks) + f" ORDER BY distance LIMIT {k}"
    return sql, tuple(where_params)


@dataclass
class LooksSimilar:
    products: list = field(default_factory=list)  # ProductCard records (catalog.cards), nearest first
    distances: list[float] = field(default_factory=list)  # each one's cosine distance to the product
    photo_failed: bool = False  # the product's own photo could not be analysed


def embedding_vector(product_id: int):
    """The product's embedding by the current encoder, or None (none yet, failed, another encoder)."""
    return (
        embedded_products(model_key=encoder_class().model_key())
        .filter(pk=product_id)
        .values_list("vector", flat=True)
        .first()
    )


def visual_neighbours(*, product_id: int, vector=None) -> list[tuple[int, float]]:
    """(product id, cosine distance) of the products nearest to this one by photo, nearest first,
    active and in stock when computed, any gender, never itself: stored in ProductNeighbours and
    read back while the product's embedding is the one they were computed from and they are younger
    than VISUAL_NEIGHBOURS_MAX_AGE_S (one primary-key read); otherwise found with the HNSW index
    and stored for the next page. A read-through cache: callers apply their own hard filters.
    ``vector``, the product's embedding, is read here when the caller has not and it is needed."""
    fresh_after = timezone.now() - timedelta(seconds=settings.VISUAL_NEIGHBOURS_MAX_AGE_S)
    stored = (
        ProductNeighbours.objects.filter(
            product_id=product_id,
            computed_at__gte=fresh_after,
            model=encoder_class().model_key(),
            product__embedding__model=F("model"),
            photo_version=F("product__embedding__photo_version"),
        )
        .values_list("product_ids", "distances")
        .first()
    )
    if stored is not None:
        return list(zip(*stored, strict=True))
    # The embedding's version, for the stored row; its vector too when the caller has none (one query).
    fields = ("model", "photo_version") if vector is not None else ("model", "photo_version", "vector")
    own = embedded_products(model_key=encoder_class().model_key()).filter(pk=product_id).values(*fields).first()
    if own is None or (vector is None and own["vector"] is None):
        return []
    model, photo_version = own["model"], own["photo_version"]
    found = products_similar_to_vector(
        vector=vector if vector is not None else own["vector"],
        genders=None, exclude_ids=(product_id,), k=settings.VISUAL_NEIGHBOURS_K, ids_only=True,
    )  # fmt: skip
    row = ProductNeighbours(
        product_id=product_id, model=model, photo_version=photo_version, computed_at=timezone.now(),
        product_ids=[pid for pid, _ in found], distances=[float(distance) for _, distance in found],
    )  # fmt: skip
    ProductNeighbours.objects.bulk_create(
        [row], update_conflicts=True, unique_fields=["product"],
        update_fields=["model", "photo_version", "product_ids", "distances", "computed_at"],
    )  # fmt: skip
    return found


def looks_similar(*, product: Product, k: int | None = None) -> LooksSimilar:
    """Products that look like ``product``, as cards: in stock, of a compatible gender, never itself;
    the API's list (the product page gets the same through selectors.product_page). From its stored
    neighbours and one hard-filter query; the HNSW index only when too few pass. The neighbours come
    from this process's memory under the current ServingGeneration (one small query, not two), and
    which of them pass the hard filters too, under the serving values (ServingValues)."""
    values = serving_values()
    neighbours, photo_failed = similar_candidates(product, generation=values.generation)
    if neighbours is None:
        return LooksSimilar(photo_failed=photo_failed)
    passing = passing_versions(product, [pid for pid, _ in neighbours], values=values)
    return similar_from(product, neighbours, passing, k=k)


_passing_memo: GenerationMemo[dict[int, str]] = GenerationMemo(4096, 3600)


def passing_versions(
    product: Product, ids: list[int], *, values: ServingValues, exclude_self: bool = False
) -> dict[int, str]:
    """Which of ``ids`` pass the hard filters for ``product``'s page (less the product itself with
    ``exclude_self``), with their card versions: read once per serving values in this process, on
    the primary, where the values are read (a lagging replica's rows would be kept under them)."""
    exclude = (product.pk,) if exclude_self else ()

    def read() -> dict[int, str]:
        return dict(
            Product.objects.using(PRIMARY)
            .filter(hard_filters(genders=compatible_genders(product.gender), exclude=exclude), pk__in=id_array(ids))
            .annotate(version=card_version())
            .values_list("pk", "version")
        )

    return _passing_memo.get((product.pk, exclude_self, tuple(ids)), values, read)


# A product's stored neighbours, kept per process under the ServingGeneration (a new embedding of any
# product bumps it) and for at most NEIGHBOURS_MEMO_S on top of their own VISUAL_NEIGHBOURS_MAX_AGE_S:
# a product page or the similar-products API then reads no embedding and no neighbours, only the
# hard filters, which are applied fresh on every request. About 2 kB a product.
NEIGHBOURS_MEMO_S = 300
_neighbours_memo: GenerationMemo[tuple[list[tuple[int, float]] | None, bool]] = GenerationMemo(4096, NEIGHBOURS_MEMO_S)


def similar_candidates(
    product: Product, *, generation: int | None = None
) -> tuple[list[tuple[int, float]] | None, bool]:
    """(the product's stored neighbours, or None when its photo has no current embedding; whether
    its photo could not be analysed). The 2.5 kB vector is read only when the neighbours must be
    computed (visual_neighbours reads it then). With the ServingGeneration, from this process's
    memory when it read them under that generation (no query)."""
    return _neighbours_memo.get(product.pk, generation, lambda: _similar_candidates(product))


def _similar_candidates(product: Product) -> tuple[list[tuple[int, float]] | None, bool]:
    own = ProductEmbedding.objects.filter(product=product).values_list("status", "model").first()
    if own is None:
        return None, False
    status, model = own
    if status != EmbeddingStatus.DONE or model != encoder_class().model_key():
        return None, status == EmbeddingStatus.FAILED
    return visual_neighbours(product_id=product.pk), False


def similar_from(
    product: Product, neighbours: list[tuple[int, float]], passing: dict[int, str], *, k: int | None = None
) -> LooksSimilar:
    """The first ``k`` neighbours in ``passing`` (those that passed the hard filters, with their card
    versions), as cards; the HNSW index with the filters when too few of them passed."""
    k = k or settings.SIMILAR_PRODUCTS_K
    chosen = [pid for pid, _ in neighbours if pid in passing][:k]
    if len(chosen) < k and len(neighbours) >= settings.VISUAL_NEIGHBOURS_K:
        # Most neighbours sold out or of another gender, and more may lie beyond them: search with
        # the filters. (A shorter list already holds every product the search could find.)
        vector = embedding_vector(product.pk)
        if vector is None:  # re-embedded a moment ago
            return LooksSimilar()
        nearest = products_similar_to_vector(
            vector=vector, genders=compatible_genders(product.gender), exclude_ids=(product.pk,), k=k, ids_only=True
        )
        cards = product_cards(versions={}, unversioned=[pid for pid, _ in nearest])
        found = [(cards[pid], float(distance)) for pid, distance in nearest if pid in cards]
    else:
        cards = product_cards(versions={pid: passing[pid] for pid in chosen})
        distances = dict(neighbours)
        found = [(cards[pid], distances[pid]) for pid in chosen if pid in cards]
    return LooksSimilar(products=[card for card, _ in found], distances=[distance for _, distance in found])


def products_similar_to_product(*, product: Product, k: int | None = None) -> list[Product]:
    """Straight from the HNSW index, as Product rows with a ``distance``: what the stored neighbours
    (visual_neighbours) are computed from, and what their tests and the benchmarks compare with."""
    vector = embedding_vector(product.pk)
    if vector is None:
        return []
    return products_similar_to_vector(
        vector=vector, genders=compatible_genders(product.gender), exclude_ids=(product.pk,), k=k
    )


def other_colours(*, product: Product, k: int | None = None) -> list[ProductCard]:
    """The other colours and variants of ``product`` (its product_group) that pass the hard filters,
    as cards; none for a product without a group. One query (the cards' versions with the filters)."""
    if not product.product_group:
        return []
    others = Product.objects.filter(
        hard_filters(genders=compatible_genders(product.gender), exclude=(product.pk,)),
        product_group=product.product_group,
    )
    shown = others.order_by("pk").annotate(version=card_version()).values_list("pk", "version")
    versions = dict(shown[: k or settings.SIMILAR_PRODUCTS_K])
    cards = product_cards(versions=versions)
    return [cards[pid] for pid in sorted(versions) if pid in cards]
