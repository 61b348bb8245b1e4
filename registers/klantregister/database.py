"""The klantregister's database: the engine, its migrations, its transactions.

:meth:`Database.open` connects and migrates with Alembic. The version table
is ``klantregister_alembic_version``, so the register can share a database
with the broker's journal and the zaakregister, each migrating its own
tables (all of the klantregister's start with ``krg_``).

Where the register lives, strongest first: the ``database`` setting of the
klantregister destination in the routes file, the environment variable
``EMO_KLANTREGISTER_URL``, and ``sqlite:///./var/klantregister.db`` (relative
to the folder the broker runs in). PostgreSQL is
``postgresql+psycopg://user@host/db``.

:meth:`Database.read` runs a vraag in one transaction; :meth:`Database.write`
a change. On SQLite a write starts with ``BEGIN IMMEDIATE``: it takes the
write lock at once (waiting under the busy timeout for another writer)
instead of failing halfway when a read turns into a write.
The statements nearly every message runs go through the driver's cursor
(:func:`run`, :meth:`Database.first`). Database errors leave as StUF faults
with plek ``server``, and never with the SQL text, which may quote a BSN.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.sql.compiler import SQLCompiler

from esb import alembic_env as migrations_env
from esb.errors import StufFault

T = TypeVar("T")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "klantregister_alembic_version"
ENVIRONMENT_URL = "EMO_KLANTREGISTER_URL"
DEFAULT_URL = "sqlite:///./var/klantregister.db"

_WRITER = "klantregister_writer"


class Conflict(Exception):
    """A write broke a unique constraint: another writer added the same number
    between our look-up and our insert. Trying again sees its row."""


def database_url(setting: str | None = None) -> str:
    """The register's URL: the setting, else the environment, else SQLite."""
    return setting or os.environ.get(ENVIRONMENT_URL) or DEFAULT_URL


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration for the klantregister's migrations."""
    return migrations_env.alembic_config(MIGRATIONS, url)


def upgrade(connection: sa.Connection) -> None:
    """Run every migration not yet applied and commit."""
    migrations_env.upgrade(connection, MIGRATIONS)


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database is at; None before the first migration."""
    return migrations_env.current_revision(connection, VERSION_TABLE)


def _sqlite_engine(url: sa.URL, pool_size: int) -> sa.Engine:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        # Each connection to :memory: would be a register of its own.
        raise ValueError("the klantregister needs a SQLite file, not :memory:")
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30.0},
        pool_size=pool_size,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when BEGIN is sent.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # WAL with NORMAL survives a crash of the process; only a power cut
        # may lose the last transactions, which the broker then delivers again.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        writer = connection.get_execution_options().get(_WRITER)
        # Straight to the driver: exec_driver_sql's own work costs more than
        # the BEGIN, and every transaction begins.
        with _driver_errors(connection.dialect):
            cursor = connection.connection.cursor()
            cursor.execute("BEGIN IMMEDIATE" if writer else "BEGIN")
            cursor.close()

    return engine


class Database:
    """The klantregister's engine and the transactions on it."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._writer = engine.execution_options(**{_WRITER: True})
        self._write_turn = _write_turn(engine)

    @classmethod
    def open(cls, url: str, *, pool_size: int = 8) -> Database:
        """Connect to ``url`` and migrate it to the newest schema."""
        parsed = sa.make_url(url)
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            engine = _sqlite_engine(parsed, pool_size)
        elif backend == "postgresql":
            engine = sa.create_engine(parsed, pool_pre_ping=True, pool_size=pool_size)
        else:
            raise ValueError(f"the klantregister does not support {backend} databases")
        try:
            with engine.connect() as connection:
                upgrade(connection)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def read(self, work: Callable[[sa.Connection], T]) -> T:
        """Run ``work`` in a transaction that changes nothing."""
        with _translated(), self.engine.connect() as connection:
            with connection.begin():
                return work(connection)

    def first(
        self, statement: sa.Select[Any], parameters: Mapping[str, Any]
    ) -> Sequence[Any] | None:
        """The first row of ``statement`` (see :func:`run`), read on a
        connection of its own, outside any transaction: for a look-up that
        decides whether a write is needed at all. On SQLite the single SELECT
        is a transaction of its own; on PostgreSQL the pool rolls back the
        one the driver began when the connection returns to it."""
        dialect = self.engine.dialect
        with _translated(), _driver_errors(dialect):
            connection = self.engine.raw_connection()
            try:
                return _run(connection, dialect, statement, parameters)
            finally:
                connection.close()

    def write(self, work: Callable[[sa.Connection], T], *, attempts: int = 2) -> T:
        """Run ``work`` in a write transaction and commit it.

        A unique constraint broken by a concurrent writer rolls back and runs
        ``work`` once more, which then finds the other writer's row. When it
        still conflicts, :class:`Conflict` is raised.
        """
        for attempt in range(1, attempts + 1):
            try:
                with (
                    _translated(),
                    self._write_turn,
                    self._writer.connect() as connection,
                ):
                    with connection.begin():
                        return work(connection)
            except IntegrityError as exc:
                if attempt == attempts:
                    raise Conflict(type(exc.orig).__name__) from exc
        raise AssertionError("unreachable")

    @contextmanager
    def batch(self) -> Iterator[sa.Connection]:
        """One write transaction for a batch of work (the import's)."""
        with _translated(), self._write_turn, self._writer.connect() as connection:
            with connection.begin():
                yield connection


# Statements through the driver --------------------------------------------


def run(
    connection: sa.Connection,
    statement: sa.ClauseElement,
    parameters: Mapping[str, Any],
) -> Sequence[Any] | None:
    """Execute ``statement`` in ``connection``'s transaction through the
    driver's cursor; the first row it returns (a SELECT's, an INSERT's
    RETURNING) as the driver gives it, without type conversion; else None.

    For the statements nearly every message runs (finding a subject,
    writing it and its history row): ``statement`` is built once, a module
    constant, and compiled once per kind of database. SQLAlchemy's own
    execute costs several times what SQLite spends on the query (the
    compiled cache's key, events, a Result set up for some 35 columns): a
    new client's find, insert and history row took 0.30 ms of CPU that
    way, 0.11 ms this way. The values must be what the driver takes
    (to_db's integers, Python bools).
    """
    if not connection.in_transaction():
        # Without one, SQLite would commit each statement on its own.
        raise RuntimeError("run() needs a transaction: Database.read or write")
    with _driver_errors(connection.dialect):
        return _run(connection.connection, connection.dialect, statement, parameters)


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


def _run(
    dbapi_connection: Any,
    dialect: sa.Dialect,
    statement: sa.ClauseElement,
    parameters: Mapping[str, Any],
) -> Sequence[Any] | None:
    compiled = _COMPILED.get((type(dialect), statement))
    if compiled is None:
        sql = statement.compile(dialect=dialect)
        assert isinstance(sql, SQLCompiler), "a DDL statement has no place here"
        positions = tuple(sql.positiontup or ()) if sql.positional else None
        rows = isinstance(statement, sa.Select) or bool(sql.effective_returning)
        compiled = _COMPILED[type(dialect), statement] = _Compiled(
            str(sql), positions, rows
        )
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(compiled.sql, compiled.arguments(parameters))
        row: Sequence[Any] | None = cursor.fetchone() if compiled.rows else None
        return row
    finally:
        cursor.close()


@contextmanager
def _driver_errors(dialect: sa.Dialect) -> Iterator[None]:
    """The driver's errors as SQLAlchemy's (an IntegrityError stays one, for
    Database.write's second attempt), never with the parameters: a BSN."""
    error = dialect.loaded_dbapi.Error
    try:
        yield
    except error as exc:
        raise DBAPIError.instance(
            None, None, exc, error, hide_parameters=True, dialect=dialect
        ) from exc


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except IntegrityError:
        raise
    except OperationalError as exc:
        # Locked, full or unreachable: trying again later can help.
        raise StufFault(
            "StUF058",
            "Klantregister tijdelijk niet beschikbaar",
            plek="server",
            details="de database van het klantregister antwoordt niet; probeer "
            "het later opnieuw",
        ) from exc
    except SQLAlchemyError as exc:
        raise StufFault(
            "StUF058",
            "Klantregister kon het bericht niet verwerken",
            plek="server",
            details=f"fout in de database van het klantregister ({type(exc).__name__})",
        ) from exc


def _write_turn(engine: sa.Engine) -> AbstractContextManager[object]:
    """What a writer holds around its transaction: on SQLite a lock, so the
    threads of this process take turns in the order they came instead of
    polling SQLite's write lock (its busy handler sleeps up to 100 ms between
    tries, which made 20 concurrent writers crawl); PostgreSQL locks rows.
    """
    if engine.dialect.name == "sqlite":
        return threading.RLock()
    return nullcontext()
