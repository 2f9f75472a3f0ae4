"""pgvector values to and from PostgreSQL, fast: text literals (halfvec keeps about 3 significant
digits, so 5 decimals lose nothing and take half the time of pgvector-python's own formatting), and
millions of stored vectors read into one numpy array."""

import numpy as np
from django.db import connection


def vector_literal(vector) -> str:
    values = np.asarray(vector, dtype=np.float64).round(5).tolist()
    return "[" + ",".join(map(repr, values)) + "]"


def id_array(ids):
    """``pk__in=id_array(ids)``: one array parameter instead of one placeholder per id, which
    keeps the SQL short to build, send and parse when hundreds of candidates are filtered."""
    from django.db.models.expressions import RawSQL

    return RawSQL("SELECT unnest(%s::bigint[])", ([int(pk) for pk in ids],))


def read_vectors(table: str, where: str, params: list, *, dim: int, key: str = "product_id", span: int = 20_000):
    """The rows of ``table`` that match ``where`` as (int64 ids of ``key``, float32 (n, dim) array of
    its ``vector`` column), in no particular order.

    Read a range of ``span`` keys at a time, each range as one bytea of its rows in PostgreSQL's binary
    forms (int8send of the key, then pgvector's vector_send: the dimension, a reserved int16 and
    big-endian float32s), which numpy reads as one structured array. Ranges of keys, not ``ORDER BY
    key LIMIT``, so that no plan needs fresh statistics (right after a training's COPY the planner
    sorted the whole model for each batch). The ORM makes a numpy array of each row's text: at a
    million 64-dimension vectors that took 34 s and 2.2 GB at its peak (libpq holding the whole result
    meanwhile). COPY's binary format sends one message per row: 5 s in Python on the messages alone."""
    row = np.dtype([("key", ">i8"), ("dim", ">i2"), ("unused", ">i2"), ("vector", ">f4", (dim,))])
    # Each range also asks where the next one starts (the next stored key), so gaps in the keys cost nothing.
    next_key = f"SELECT min({key}) FROM {table} WHERE ({where}) AND {key} >= %s"
    ids, vectors = [], []
    with connection.cursor() as cursor:
        cursor.execute(next_key, [*params, -(2**63)])
        start = cursor.fetchone()[0]
        while start is not None:
            cursor.execute(
                f"SELECT count(*), string_agg(int8send({key}) || vector_send(vector), ''::bytea), ({next_key}) "
                f"FROM {table} WHERE ({where}) AND {key} >= %s AND {key} < %s",
                [*params, start + span, *params, start, start + span],
            )
            count, data, start = cursor.fetchone()
            rows = np.frombuffer(bytes(data), dtype=row)
            if len(rows) != count or not (rows["dim"] == dim).all():
                raise ValueError(f"{table}.vector is not vector({dim})")
            ids.append(rows["key"].astype(np.int64))
            vectors.append(rows["vector"].astype(np.float32))
    if not ids:
        return np.empty(0, dtype=np.int64), np.empty((0, dim), dtype=np.float32)
    return np.concatenate(ids), np.concatenate(vectors)
