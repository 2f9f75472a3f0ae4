"""SQL for each encoder's partial HNSW index on catalog_product.embedding.

The embedding column has no fixed dimension, so each encoder's vectors are indexed through a
cast to its dimension, restricted to its rows. A query uses the index when it filters on the
same embedding_model and orders by the same cast (see selectors.products_similar_to_vector).
A new encoder, or a new version of one, needs a migration that calls these.
"""

from recommendations.encoders.base import Encoder


def hnsw_index_name(encoder: type[Encoder]) -> str:
    return f"product_embedding_hnsw_{encoder.key}_v{encoder.version}"


def hnsw_index_create_sql(encoder: type[Encoder]) -> str:
    return (
        f"CREATE INDEX IF NOT EXISTS {hnsw_index_name(encoder)} ON catalog_product "
        f"USING hnsw ((embedding::halfvec({encoder.dim})) halfvec_cosine_ops) "
        f"WHERE embedding_model = '{encoder.model_key()}'"
    )


def hnsw_index_drop_sql(encoder: type[Encoder]) -> str:
    return f"DROP INDEX IF EXISTS {hnsw_index_name(encoder)}"
