"""Visually similar products through the HNSW index on ProductEmbedding, and the hard filters
every recommendation obeys, written once (``hard_filters``)."""

from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Cast
from pgvector.django import CosineDistance, HalfVectorField

from catalog.gender import compatible_genders
from catalog.models import Product
from recommendations.encoders import encoder_class
from recommendations.models import EmbeddingStatus, ProductEmbedding
from recommendations.vectors import id_array, vector_literal


def hard_filters(*, genders: tuple[str, ...] | None, exclude=(), prefix: str = "") -> Q:
    """The hard filters, in one place: active, in stock, a compatible gender (None: any), not
    excluded. ``prefix`` applies them through a relation (``"product__"`` from an embedding)."""
    condition = Q(**{f"{prefix}is_active": True, f"{prefix}stock_quantity__gt": 0})
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

    The ORDER BY matches the encoder's partial HNSW index expression, so PostgreSQL walks the
    index and joins each row to its product for the filters; iterative scans (pgvector 0.8) keep
    walking until k rows pass, so a selective filter still fills the list. relaxed_order may return
    rows slightly out of order, so they are re-sorted here. Each product gets a ``distance``
    attribute (cosine); with ``ids_only`` the result is (product id, distance) pairs, no photos.
    """
    k = k or settings.SIMILAR_PRODUCTS_K
    encoder = encoder_class()
    query_vector = Value(vector_literal(vector.to_numpy() if hasattr(vector, "to_numpy") else vector))
    distance = CosineDistance(Cast("vector", HalfVectorField(dimensions=encoder.dim)), query_vector)
    rows = embedded_products(model_key=encoder.model_key()).filter(
        hard_filters(genders=genders, exclude=exclude_ids, prefix="product__")
    )
    query = rows.annotate(distance=distance).order_by("distance")
    if k > settings.HNSW_EF_SEARCH:
        # Every connection runs with HNSW_EF_SEARCH and iterative scans (settings.DATABASES);
        # a larger k needs a wider search, for this transaction only.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(k)])
            return _evaluate(query, k, ids_only)
    return _evaluate(query, k, ids_only)


def _evaluate(query: QuerySet[ProductEmbedding], k: int, ids_only: bool) -> list:
    if ids_only:
        return sorted(query.values_list("product_id", "distance")[:k], key=lambda row: row[1])
    found = query.select_related("product").prefetch_related("product__images").only("product", "pk")[:k]
    products = []
    for embedding in found:
        embedding.product.distance = embedding.distance
        products.append(embedding.product)
    return sorted(products, key=lambda product: product.distance)


@dataclass
class LooksSimilar:
    products: list[Product] = field(default_factory=list)
    photo_failed: bool = False  # the product's own photo could not be analysed


def looks_similar(*, product: Product, k: int | None = None) -> LooksSimilar:
    """Products that look like ``product``: in stock, of a compatible gender, never itself."""
    own = ProductEmbedding.objects.filter(product=product).values_list("status", "model", "vector").first()
    if own is None:
        return LooksSimilar()
    status, model, vector = own
    if status != EmbeddingStatus.DONE or model != encoder_class().model_key() or vector is None:
        return LooksSimilar(photo_failed=status == EmbeddingStatus.FAILED)
    similar = products_similar_to_vector(
        vector=vector, genders=compatible_genders(product.gender), exclude_ids=(product.pk,), k=k
    )
    return LooksSimilar(products=similar)


def products_similar_to_product(*, product: Product, k: int | None = None) -> list[Product]:
    return looks_similar(product=product, k=k).products


def other_colours(*, product: Product, k: int | None = None) -> list[Product]:
    """The other colours and variants of ``product`` (its product_group) that pass the hard filters;
    none for a product without a group. One query, plus one for the photos."""
    if not product.product_group:
        return []
    others = Product.objects.filter(
        hard_filters(genders=compatible_genders(product.gender), exclude=(product.pk,)),
        product_group=product.product_group,
    )
    return list(others.order_by("pk").prefetch_related("images")[: k or settings.SIMILAR_PRODUCTS_K])
