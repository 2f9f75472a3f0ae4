"""The partial HNSW index each encoder needs on ProductEmbedding.vector.

The vector column has no fixed dimension, so each encoder's vectors are indexed through a cast to
its dimension, restricted to its rows. A query uses the index when it filters on the same model
and orders by the same cast (see selectors.similar.products_similar_to_vector). Migrations hold
these statements as literal SQL (frozen); a new encoder, or a new version of one, needs a migration
that creates its index, and tests/test_similar_products.py fails until one exists.
"""

from recommendations.encoders.base import Encoder


def hnsw_index_name(encoder: type[Encoder]) -> str:
    return f"productembedding_hnsw_{encoder.key}_v{encoder.version}"
