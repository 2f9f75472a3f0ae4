"""Millions of rows to and from PostgreSQL through Django's connection, without a Python object per
row: COPY to write them (an imported log, a model's factors), and ranges of rows read as one bytea
of their binary forms, which numpy parses at once (a model's factors, the whole interaction log).
The ORM's bulk_create formats one parameter at a time, and its reads build a tuple per row."""

from collections.abc import Iterable

import numpy as np
from django.db import connection

# PostgreSQL's binary COPY: a signature, flags and an empty header extension; a field count of -1 ends it.
_HEADER = b"PGCOPY\n\xff\r\n\x00" + np.array([0, 0], dtype=">i4").tobytes()
_TRAILER = np.array([-1], dtype=">i2").tobytes()


def copy_rows(statement: str, rows: Iterable[tuple], *, cursor=None) -> None:
    """Stream ``rows`` through ``statement`` (``COPY table (columns) FROM STDIN``), on ``cursor``
    (a Django cursor) or a new one; inside the caller's transaction, if any."""
    if cursor is None:
        with connection.cursor() as own:
            copy_rows(statement, rows, cursor=own)
        return
    with cursor.cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def copy_arrays(statement: str, columns: list[np.ndarray], *, chunk: int = 50_000) -> int:
    """Write equal-length ``columns`` through ``statement`` (``COPY table (names) FROM STDIN (FORMAT
    BINARY)``), each already in its PostgreSQL binary form (big-endian numpy types, ``vector_binary``
    for pgvector), ``chunk`` rows per message; the rows written. numpy lays out the whole stream, so
    no Python code runs per row: 3.4M vectors as text literals took minutes of formatting and parsing."""
    rows = len(columns[0]) if columns else 0
    if any(len(column) != rows for column in columns):
        raise ValueError("copy_arrays: the columns differ in length")
    fields = [("count", ">i2")]
    for index, column in enumerate(columns):
        fields += [(f"length{index}", ">i4"), (f"value{index}", column.dtype, column.shape[1:])]
    layout = np.dtype(fields)
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        copy.write(_HEADER)
        for start in range(0, rows, chunk):
            block = np.empty(min(chunk, rows - start), dtype=layout)
            block["count"] = len(columns)
            for index, column in enumerate(columns):
                block[f"length{index}"] = column.dtype.itemsize * int(np.prod(column.shape[1:], dtype=np.int64))
                block[f"value{index}"] = column[start : start + len(block)]
            copy.write(block.tobytes())
        copy.write(_TRAILER)
    return rows


def vector_dtype(dim: int) -> np.dtype:
    """pgvector's binary form of a vector(dim) (vector_send, vector_recv): the dimension, a reserved
    int16 and big-endian float32s."""
    return np.dtype([("dim", ">i2"), ("unused", ">i2"), ("values", ">f4", (dim,))])


def vector_binary(matrix: np.ndarray) -> np.ndarray:
    """The rows of a float matrix in pgvector's binary form, a column for ``copy_arrays``."""
    matrix = np.asarray(matrix, dtype=np.float32)
    binary = np.empty(len(matrix), dtype=vector_dtype(matrix.shape[1]))
    binary["dim"], binary["unused"], binary["values"] = matrix.shape[1], 0, matrix
    return binary


def read_arrays(
    table: str, fields: dict[str, tuple[str, np.dtype | str]], *, where: str = "true", params: list | tuple = (),
    key: str = "id", span: int = 20_000,
) -> np.ndarray:  # fmt: skip
    """The rows of ``table`` that match ``where`` as one numpy structured array of ``fields`` (name ->
    (a SQL expression of PostgreSQL's binary form of the value, such as ``int8send(product_id)``, and its
    numpy type, big-endian)), in no particular order.

    A range of ``span`` values of ``key`` (an integer column) at a time, each range as one bytea of
    its rows (``string_agg``), which numpy reads as one structured array. Ranges of keys, not ``ORDER
    BY key LIMIT``, so that no plan needs fresh statistics (right after a training's COPY the planner
    sorted the whole model for each batch), and each range also asks where the next one starts, so
    gaps in the keys cost nothing. The ORM builds a tuple per row while libpq holds the whole result:
    at a million 64-dimension vectors that took 34 s and 2.2 GB at its peak. COPY's binary format
    sends one message per row: 5 s in Python on the messages alone."""
    layout = np.dtype([(name, dtype) for name, (_, dtype) in fields.items()])
    row = " || ".join(f"({expression})" for expression, _ in fields.values())
    next_key = f"SELECT min({key}) FROM {table} WHERE ({where}) AND {key} >= %s"
    parts = []
    with connection.cursor() as cursor:
        cursor.execute(next_key, [*params, -(2**63)])
        start = cursor.fetchone()[0]
        while start is not None:
            cursor.execute(
                f"SELECT count(*), string_agg({row}, ''::bytea), ({next_key}) "
                f"FROM {table} WHERE ({where}) AND {key} >= %s AND {key} < %s",
                [*params, start + span, *params, start, start + span],
            )
            count, data, start = cursor.fetchone()
            if data is None:
                continue
            data = bytes(data)
            if len(data) != count * layout.itemsize:
                raise ValueError(f"read_arrays: {table}'s rows are not {layout}")
            parts.append(np.frombuffer(data, dtype=layout))
    return np.concatenate(parts) if parts else np.empty(0, dtype=layout)
