"""Large payloads and answers on SQLite, written and read through blob handles.

Inserting a value of n bytes makes SQLite build the whole record in memory
before it writes the pages: a 34 MB message (a 25 MB document in base64) costs
that much again on top of Python's own copy, and reading it back through a
SELECT costs SQLite's copy and Python's. So on SQLite a value larger than
:data:`LARGE` is inserted as ``zeroblob(n)``, which SQLite writes as zeroed
pages without building it, and then filled through
:meth:`sqlite3.Connection.blobopen` in chunks of :data:`CHUNK`; it is read back
the same way, straight into the one ``bytes`` object Python returns.

The rows are addressed by rowid: ``message_seq``, the INTEGER PRIMARY KEY of
``journal_payloads`` and ``journal_answers``, is that rowid. PostgreSQL takes
every value as a plain bound parameter.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import sqlalchemy as sa

CHUNK = 1 << 20
"""Bytes written per step through a blob handle."""

LARGE = CHUNK
"""Values longer than this go through a blob handle on SQLite."""


def driver_connection(connection: sa.Connection) -> Any:
    """The DB-API connection under a SQLAlchemy connection."""
    return connection.connection.driver_connection


def write(
    dbapi_connection: sqlite3.Connection,
    column: sa.Column[bytes],
    rowid: int,
    data: bytes,
) -> None:
    """Fill the ``zeroblob`` in ``column`` of row ``rowid`` with ``data``."""
    view = memoryview(data)
    with dbapi_connection.blobopen(column.table.name, column.name, rowid) as blob:
        for start in range(0, len(view), CHUNK):
            blob.write(view[start : start + CHUNK])


def read(
    dbapi_connection: sqlite3.Connection, column: sa.Column[bytes], rowid: int
) -> bytes:
    """The whole value in ``column`` of row ``rowid``, copied once."""
    table = column.table.name
    with dbapi_connection.blobopen(table, column.name, rowid, readonly=True) as blob:
        return blob.read()


def small_or_null(column: sa.Column[bytes]) -> sa.ColumnElement[bytes | None]:
    """``column`` when it is at most :data:`LARGE` bytes, else NULL.

    SQLite's ``length()`` of a blob reads the record header only, so a large
    value is not loaded by the query that selects this; it is read with
    :func:`read` afterwards.
    """
    return sa.case((sa.func.length(column) > LARGE, sa.null()), else_=column).label(
        column.name
    )
