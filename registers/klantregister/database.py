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
instead of failing halfway when a read turns into a write (the set-up the
journal and the zaakregister share: :mod:`esb.engines`). The statements
nearly every message runs go through the driver's cursor (:func:`run`,
:meth:`Database.first`). Database errors leave as StUF faults
with plek ``server``, and never with the SQL text, which may quote a BSN.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from alembic.config import Config
from sqlalchemy.exc import IntegrityError

from esb import alembic_env as migrations_env
from esb import engines
from esb.engines import driver_errors
from registers.database import faults

T = TypeVar("T")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "klantregister_alembic_version"
ENVIRONMENT_URL = "EMO_KLANTREGISTER_URL"
DEFAULT_URL = "sqlite:///./var/klantregister.db"


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


class Database:
    """The klantregister's engine and the transactions on it."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._writer = engines.for_writers(engine)
        self._write_turn = engines.write_turn(engine)
        self._translated = faults(
            "klantregister",
            details=lambda exc: (
                f"fout in de database van het klantregister ({type(exc).__name__})"
            ),
        )

    @classmethod
    def open(cls, url: str, *, pool_size: int = 8) -> Database:
        """Connect to ``url`` and migrate it to the newest schema."""
        engine = engines.make_engine(
            url,
            owner="the klantregister",
            # FULL, as the journal: the broker records a delivery as done
            # once this commit returns, and never delivers it again, so a
            # commit that a power cut could still take back (NORMAL) would
            # be a change lost for good. Measured: no difference in
            # creeerZaak throughput, since concurrent writes share commits.
            synchronous="FULL",
            pool_size=pool_size,
        )
        return cls(engines.migrated(engine, upgrade))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def read(self, work: Callable[[sa.Connection], T]) -> T:
        """Run ``work`` in a transaction that changes nothing."""
        with self._translated, self.engine.connect() as connection:
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
        with self._translated, driver_errors(dialect):
            connection = self.engine.raw_connection()
            try:
                return engines.run_on_driver(connection, dialect, statement, parameters)
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
                    self._translated,
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
        with self._translated, self._write_turn, self._writer.connect() as connection:
            with connection.begin():
                yield connection
