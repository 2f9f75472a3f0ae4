"""Reads for recommendations: visually similar products through the HNSW index."""

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet, Value
from django.db.models.functions import Cast
from pgvector.django import CosineDistance, HalfVectorField

from catalog.gender import compatible_genders
from catalog.models import EmbeddingStatus, Product
from recommendations.encoders import encoder_class
from recommendations.vectors import id_array, vector_literal


def embedded_products(*, model_key: str) -> QuerySet[Product]:
    return Product.objects.filter(embedding_model=model_key, embedding_status=EmbeddingStatus.DONE)


def products_similar_to_vector(
    *, vector, genders: tuple[str, ...] | None, exclude_ids=(), k: int | None = None, ids_only: bool = False
) -> list:
    """The k nearest in-stock, active products to ``vector`` among ``genders`` (None: any).

    The ORDER BY matches the encoder's partial HNSW index expression, so PostgreSQL walks the
    index; iterative scans (pgvector 0.8) keep walking until k rows pass the filters, so a
    selective filter still fills the list. relaxed_order may return rows slightly out of
    order, so they are re-sorted here. Each product gets a ``distance`` attribute (cosine);
    with ``ids_only`` the result is (product id, distance) pairs and no photos are fetched.
    """
    k = k or settings.SIMILAR_PRODUCTS_K
    encoder = encoder_class()
    query_vector = Value(vector_literal(vector.to_numpy() if hasattr(vector, "to_numpy") else vector))
    distance = CosineDistance(Cast("embedding", HalfVectorField(dimensions=encoder.dim)), query_vector)
    products = embedded_products(model_key=encoder.model_key()).filter(is_active=True, stock_quantity__gt=0)
    if genders is not None:
        products = products.filter(gender__in=genders)
    if exclude_ids:
        products = products.exclude(pk__in=id_array(exclude_ids))
    query = products.annotate(distance=distance).order_by("distance").defer("embedding")[:k]
    if k > settings.HNSW_EF_SEARCH:
        # Every connection runs with HNSW_EF_SEARCH and iterative scans (settings.DATABASES);
        # a larger k needs a wider search, for this transaction only.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(k)])
            return _evaluate(query, ids_only)
    return _evaluate(query, ids_only)


def _evaluate(query, ids_only: bool) -> list:
    if ids_only:
        return sorted(query.values_list("pk", "distance"), key=lambda row: row[1])
    results = list(query.prefetch_related("images"))
    return sorted(results, key=lambda product: product.distance)


def products_similar_to_product(*, product: Product, k: int | None = None) -> list[Product]:
    """Products that look like ``product``: in stock, of a compatible gender, never itself."""
    if product.embedding is None or product.embedding_model != encoder_class().model_key():
        return []
    return products_similar_to_vector(
        vector=product.embedding,
        genders=compatible_genders(product.gender),
        exclude_ids=(product.pk,),
        k=k,
    )
