"""pgvector values to and from PostgreSQL, fast: text literals (halfvec keeps about 3 significant
digits, so 5 decimals lose nothing and take half the time of pgvector-python's own formatting), and
millions of stored vectors read into one numpy array."""

import numpy as np

from common.copying import read_arrays, vector_dtype


def vector_literal(vector) -> str:
    values = np.asarray(vector, dtype=np.float64).round(5).tolist()
    return "[" + ",".join(map(repr, values)) + "]"


def read_vectors(table: str, where: str, params: list, *, dim: int, key: str = "product_id", span: int = 20_000):
    """The rows of ``table`` that match ``where`` as (int64 ids of ``key``, float32 (n, dim) array of
    its ``vector`` column), in no particular order; read as arrays (``common.copying.read_arrays``)."""
    rows = read_arrays(
        table, {"key": (f"int8send({key})", ">i8"), "vector": ("vector_send(vector)", vector_dtype(dim))},
        where=where, params=params, key=key, span=span,
    )  # fmt: skip
    if not (rows["vector"]["dim"] == dim).all():
        raise ValueError(f"{table}.vector is not vector({dim})")
    return rows["key"].astype(np.int64), rows["vector"]["values"].astype(np.float32)
