"""The partial HNSW indexes each encoder needs on ProductEmbedding.vector, one per gender.

The vector column has no fixed dimension, so each encoder's vectors are indexed through a cast to
its dimension, restricted to its rows and to one gender (ProductEmbedding.gender, a copy of the
product's kept by triggers): a filtered search then walks only the products of the gender it asks
for, as pgvector advises for a filter with few values. A query uses an index when it filters on the
same model and gender and orders by the same cast (see selectors.similar.products_similar_to_vector).
Migrations hold these statements as literal SQL (frozen); a new encoder, or a new version of one,
needs a migration that creates its indexes, and tests/test_similar_products.py fails until they exist.
"""

from catalog.models import Gender
from recommendations.encoders.base import Encoder


def hnsw_index_name(encoder: type[Encoder], gender: str) -> str:
    return f"productembedding_hnsw_{encoder.key}_v{encoder.version}_{gender}"


def hnsw_index_names(encoder: type[Encoder]) -> dict[str, str]:
    """Each gender's index name."""
    return {gender: hnsw_index_name(encoder, gender) for gender in Gender.values}
