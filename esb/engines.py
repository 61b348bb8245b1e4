"""The database engines that EMO's stores share: set-up, writers, errors.

The journal, the zaakregister and the klantregister each open an engine of
their own, on a SQLite file or on PostgreSQL, and may share one database.
:func:`make_engine` builds it alike for all three; what differs is passed in:
the owner's name for its errors, SQLite's ``synchronous`` level, whether
SQLAlchemy's error texts may quote bound parameters (a BSN). :func:`migrated`
then runs the owner's migrations.

SQLite is set up for several threads reading while one writes:

- WAL mode, so readers see the last commit while a write is under way, and
  foreign keys on;
- SQLAlchemy, not the sqlite3 module, sends BEGIN: a transaction on the
  engine that :func:`for_writers` gives begins with ``BEGIN IMMEDIATE``,
  taking the write lock at once (waiting for another writer under the busy
  timeout) instead of failing when a read turns into a write;
- :func:`write_turn` lets the threads of one process take turns to write.

:class:`Translation` turns SQLAlchemy's errors into the owner's own.
Like :mod:`esb.alembic_env`, this module imports nothing of the broker: the
registers use it too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    OperationalError,
    SQLAlchemyError,
)

Synchronous = Literal["FULL", "NORMAL"]

# The execution option that makes a SQLite transaction BEGIN IMMEDIATE.
WRITER = "emo_writer"


def make_engine(
    url: str,
    *,
    owner: str,
    synchronous: Synchronous,
    pool_size: int = 8,
    hide_parameters: bool = False,
) -> sa.Engine:
    """An engine on ``url``: ``sqlite:///path`` or ``postgresql+psycopg://...``.

    ``owner`` (e.g. "the zaakregister") names the store in the ValueError
    raised for another kind of database and for SQLite in memory;
    ``synchronous`` is SQLite's level (in WAL mode, NORMAL survives a crash
    of the process, but a power cut may take the last commits with it).
    """
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, owner, pool_size, synchronous, hide_parameters)
    if backend == "postgresql":
        return sa.create_engine(
            parsed,
            pool_pre_ping=True,
            pool_size=pool_size,
            hide_parameters=hide_parameters,
        )
    raise ValueError(f"{owner} does not support {backend} databases")


def migrated(engine: sa.Engine, upgrade: Callable[[sa.Connection], None]) -> sa.Engine:
    """``engine`` after ``upgrade`` (the owner's migrations) ran on it; when
    they fail, the engine is disposed of and the error raised."""
    try:
        with engine.connect() as connection:
            upgrade(connection)
    except BaseException:
        engine.dispose()
        raise
    return engine


def for_writers(engine: sa.Engine) -> sa.Engine:
    """``engine`` for transactions that write: on SQLite they begin with
    ``BEGIN IMMEDIATE``."""
    return engine.execution_options(**{WRITER: True})


def write_turn(engine: sa.Engine) -> AbstractContextManager[object]:
    """What a writer holds around its transaction: on SQLite a lock, so the
    threads of this process take turns in the order they came instead of
    polling SQLite's write lock (its busy handler sleeps up to 100 ms between
    tries, which made 20 concurrent writers crawl); PostgreSQL locks rows.
    The lock is reentrant: a writer holding it may start another write.
    """
    if engine.dialect.name == "sqlite":
        return threading.RLock()
    return nullcontext()


def _sqlite_engine(
    url: sa.URL,
    owner: str,
    pool_size: int,
    synchronous: Synchronous,
    hide_parameters: bool,
) -> sa.Engine:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        # Every connection to an in-memory database is a database of its
        # own, so a writer and the readers would not see each other.
        raise ValueError(f"{owner} needs a file for its SQLite database, not :memory:")
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        # Connections move between threads (pool checkouts), never shared.
        connect_args={"check_same_thread": False, "timeout": 30.0},
        pool_size=pool_size,
        hide_parameters=hide_parameters,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module's legacy transaction
        # control, which skips it before SELECT and SAVEPOINT; SQLAlchemy
        # emits it below (see SQLAlchemy's "Transactions with SQLite").
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        writer = connection.get_execution_options().get(WRITER)
        # Straight to the driver: exec_driver_sql's own work costs more than
        # the BEGIN, and every transaction begins.
        with driver_errors(connection.dialect):
            cursor = connection.connection.cursor()
            cursor.execute("BEGIN IMMEDIATE" if writer else "BEGIN")
            cursor.close()

    return engine


@contextmanager
def driver_errors(dialect: sa.Dialect) -> Iterator[None]:
    """The driver's errors, for work done on its connection directly, as
    SQLAlchemy's (an IntegrityError stays one), never quoting parameters."""
    error = dialect.loaded_dbapi.Error
    try:
        yield
    except error as exc:
        raise DBAPIError.instance(
            None, None, exc, error, hide_parameters=True, dialect=dialect
        ) from exc


class Translation:
    """Turns SQLAlchemy's errors inside a ``with`` block into the owner's.

    An OperationalError (the database is locked, full or unreachable: trying
    again later can help) becomes ``unavailable(error)``, any other
    SQLAlchemy error ``failed(error)``. An IntegrityError passes unchanged:
    the owner tells a conflicting writer from other failures itself. One
    instance serves every thread: it keeps no state of a block.
    """

    __slots__ = ("_failed", "_unavailable")

    def __init__(
        self,
        unavailable: Callable[[OperationalError], Exception],
        failed: Callable[[SQLAlchemyError], Exception],
    ) -> None:
        self._unavailable = unavailable
        self._failed = failed

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        if not isinstance(error, SQLAlchemyError) or isinstance(error, IntegrityError):
            return
        if isinstance(error, OperationalError):
            raise self._unavailable(error) from error
        raise self._failed(error) from error
