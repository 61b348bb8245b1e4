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
instead of failing halfway when a read turns into a write. Database errors
leave as StUF faults with plek ``server``, and never with the SQL text, which
may quote a BSN.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

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
        if connection.get_execution_options().get(_WRITER):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")

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
