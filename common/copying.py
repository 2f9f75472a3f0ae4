"""PostgreSQL's COPY through Django's connection: the way to write millions of rows (an imported log,
a model's factors) that the ORM's bulk_create writes one formatted parameter at a time."""

from collections.abc import Iterable

from django.db import connection


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
