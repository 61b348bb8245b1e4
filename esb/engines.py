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

:class:`Translation` turns SQLAlchemy's errors into the owner's own, and
:func:`run` executes the statements of a hot path on the driver's cursor.
Like :mod:`esb.alembic_env`, this module imports nothing of the broker: the
registers use it too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
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
from sqlalchemy.sql.compiler import SQLCompiler

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


# Statements through the driver ----------------------------------------------


def run(
    connection: sa.Connection,
    statement: sa.ClauseElement,
    parameters: Mapping[str, Any],
) -> Sequence[Any] | None:
    """Execute ``statement`` in ``connection``'s transaction through the
    driver's cursor; the first row it returns (a SELECT's, an INSERT's
    RETURNING) as the driver gives it, without type conversion; else None.

    For the statements nearly every message runs: ``statement`` is built
    once, a module constant with a bind parameter for every value, and
    compiled once per kind of database. SQLAlchemy's own execute costs
    several times what SQLite spends on the query (the compiled cache's key,
    events, a Result set up for every column). The values must be what the
    driver takes as they are: strings, numbers, None (no column type that
    processes its values may be written this way).
    """
    _in_transaction(connection)
    dialect = connection.dialect
    with driver_errors(dialect):
        return run_on_driver(connection.connection, dialect, statement, parameters)


def run_many(
    connection: sa.Connection,
    statement: sa.ClauseElement,
    rows: Sequence[Mapping[str, Any]],
) -> None:
    """:func:`run` for a statement that takes several rows at once (the
    driver's executemany): an INSERT of a zaak's rollen, say."""
    _in_transaction(connection)
    compiled = _compiled(connection.dialect, statement)
    with driver_errors(connection.dialect):
        cursor = connection.connection.cursor()
        try:
            cursor.executemany(compiled.sql, [compiled.arguments(row) for row in rows])
        finally:
            cursor.close()


def run_on_driver(
    dbapi_connection: Any,
    dialect: sa.Dialect,
    statement: sa.ClauseElement,
    parameters: Mapping[str, Any],
) -> Sequence[Any] | None:
    """:func:`run` on a driver connection the caller manages (a look-up
    outside any transaction); the driver's errors are the caller's to map."""
    compiled = _compiled(dialect, statement)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(compiled.sql, compiled.arguments(parameters))
        row: Sequence[Any] | None = cursor.fetchone() if compiled.rows else None
        return row
    finally:
        cursor.close()


def _in_transaction(connection: sa.Connection) -> None:
    if not connection.in_transaction():
        # Without one, SQLite would commit each statement on its own.
        raise RuntimeError("run() needs a transaction the caller began")


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement's SQL in the driver's own paramstyle."""

    sql: str
    # For a positional paramstyle (SQLite's ``?``): the parameters' names in
    # the order they appear; None for a named one (psycopg's ``%(key)s``).
    positions: tuple[str, ...] | None
    # Whether it returns rows (SELECT, RETURNING). Decided here, because
    # asking a psycopg cursor (its description) builds an object for each
    # column, every time.
    rows: bool

    def arguments(self, parameters: Mapping[str, Any]) -> Any:
        if self.positions is None:
            return parameters
        return tuple([parameters[name] for name in self.positions])


# (dialect class, statement) -> its SQL; statements are module constants.
_COMPILED: dict[tuple[type[sa.Dialect], sa.ClauseElement], _Compiled] = {}


def _compiled(dialect: sa.Dialect, statement: sa.ClauseElement) -> _Compiled:
    compiled = _COMPILED.get((type(dialect), statement))
    if compiled is None:
        sql = statement.compile(dialect=dialect)
        assert isinstance(sql, SQLCompiler), "a DDL statement has no place here"
        positions = tuple(sql.positiontup or ()) if sql.positional else None
        rows = isinstance(statement, sa.Select) or bool(sql.effective_returning)
        compiled = _COMPILED[type(dialect), statement] = _Compiled(
            str(sql), positions, rows
        )
    return compiled
