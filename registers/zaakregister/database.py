"""The zaakregister's database: one engine, migrated, and its transactions.

:meth:`Database.open` connects and runs the migrations (Alembic, with the
version table ``zaakregister_alembic_version``, so the register may share a
database with the broker's journal). Every operation runs in one transaction:
:meth:`Database.read` for vragen, :meth:`Database.write` for everything that
changes the register. On SQLite a write transaction starts with ``BEGIN
IMMEDIATE``: it takes the write lock at once and waits for another writer
under the busy timeout, instead of failing when a read turns into a write
(the set-up the journal and the klantregister share: :mod:`esb.engines`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

import sqlalchemy as sa
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from twisted.logger import Logger

from esb import alembic_env as migrations_env
from esb import engines
from esb.errors import StufFault
from registers.database import faults
from registers.zaakregister.model import Base, overlong

log = Logger()

T = TypeVar("T")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "zaakregister_alembic_version"


class Conflict(Exception):
    """A write broke a unique constraint (two senders, one identificatie)."""


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration for the zaakregister's migrations."""
    return migrations_env.alembic_config(MIGRATIONS, url)


def upgrade(connection: sa.Connection) -> None:
    """Run every migration not yet applied and commit."""
    migrations_env.upgrade(connection, MIGRATIONS)


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database is at; None before the first migration."""
    return migrations_env.current_revision(connection, VERSION_TABLE)


class Database:
    """The zaakregister's engine and the transactions on it."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._writer = engines.for_writers(engine)
        self._write_turn = engines.write_turn(engine)
        self._translated = faults(
            "zaakregister",
            details=lambda exc: "fout in de database van het zaakregister",
            log=log,
        )
        # Works waiting to share a transaction (write_together); SQLite only.
        self._joining: list[_Joined[Any]] | None = (
            [] if engine.dialect.name == "sqlite" else None
        )
        self._joining_lock = threading.Lock()

    @classmethod
    def open(cls, url: str, *, pool_size: int = 8) -> Database:
        """Connect to ``url`` and migrate it to the newest schema.

        ``sqlite:///path`` (WAL) or ``postgresql+psycopg://...`` (the tables
        go in the first schema of the connection's search_path).
        """
        engine = engines.make_engine(
            url,
            owner="the zaakregister",
            # FULL, as the journal: the sender's answer (the Bv03 or La01)
            # leaves once this commit returned and the journal recorded the
            # delivery, so a commit that a power cut could still take back
            # (NORMAL) would be an acknowledged zaak lost. Measured: no
            # difference in creeerZaak throughput (writes share commits).
            synchronous="FULL",
            pool_size=pool_size,
            # BSNs travel as bound parameters; SQLAlchemy must not quote them
            # in the texts of its errors, which end up in logs.
            hide_parameters=True,
        )
        return cls(engines.migrated(engine, upgrade))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _session(self, bind: sa.Engine) -> Iterator[Session]:
        with _Session(bind, expire_on_commit=False, autoflush=True) as session:
            with session.begin():
                yield session

    def read(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a read transaction; database errors become faults."""
        with self._translated:
            with self._session(self.engine) as session:
                return work(session)

    def write(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a write transaction and commit it.

        A unique constraint broken at commit raises :class:`Conflict`; other
        database errors become a StUF058 fault with plek server.
        """
        with self._translated, self._write_turn:
            try:
                with self._session(self._writer) as session:
                    return work(session)
            except IntegrityError as exc:
                raise Conflict(str(exc.orig)) from exc

    def write_together(self, work: Callable[[Session], T]) -> T:
        """:meth:`write`, in a transaction shared with other threads' works.

        On SQLite, whichever thread gets the turn to write runs every work
        waiting for it in one transaction: one BEGIN, one COMMIT and one turn
        for the lot, where each work taking its own turn spent more time
        handing the turn and the GIL over than writing. Should one of them
        fail, the transaction is rolled back and each work runs again in a
        transaction of its own, so that one sender's fault is not another's.
        ``work`` must therefore change nothing but the database. PostgreSQL
        writes concurrently: there each work has its own transaction.
        """
        if self._joining is None:
            return self.write(work)
        joined = _Joined(work)
        with self._joining_lock:
            self._joining.append(joined)
        with self._write_turn:
            if not joined.done:
                with self._joining_lock:
                    batch, self._joining = self._joining, []
                self._run_together(batch)
        return joined.outcome()

    def _run_together(self, batch: list[_Joined[Any]]) -> None:
        if len(batch) > 1:
            try:
                with self._translated, self._session(self._writer) as session:
                    values = [joined.work(session) for joined in batch]
            except Exception:
                pass  # each again on its own, below
            else:
                for joined, value in zip(batch, values, strict=True):
                    joined.settle(value, None)
                return
        for joined in batch:
            try:
                # The turn is an RLock this thread holds: write takes it again.
                joined.settle(self.write(joined.work), None)
            except Exception as exc:
                joined.settle(None, exc)


class _Joined(Generic[T]):
    """A work waiting in :meth:`Database.write_together`, and its outcome."""

    __slots__ = ("done", "error", "value", "work")

    def __init__(self, work: Callable[[Session], T]) -> None:
        self.work = work
        self.done = False
        self.value: T | None = None
        self.error: Exception | None = None

    def settle(self, value: T | None, error: Exception | None) -> None:
        self.value, self.error, self.done = value, error, True

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return cast(T, self.value)


def _check_lengths(session: Session, _context: object, _instances: object) -> None:
    """Refuse a text longer than its column, naming it (plek client).

    A request accepted in "report" validation mode may carry values longer
    than the schema allows.
    """
    for row in (*session.new, *session.dirty):
        if not isinstance(row, Base):
            continue
        found = overlong(row)
        if found is not None:
            raise _too_long(row.__tablename__, *found)


class _Session(Session):
    """The register's session: every flush is checked by _check_lengths
    (listening on the class once, not on each session, which cost more
    than the rest of opening one)."""


event.listen(_Session, "before_flush", _check_lengths)


def check_lengths(table: sa.Table, row: Mapping[str, object]) -> None:
    """What the check before a flush does, for a row written without the ORM:
    the first text longer than its column, in the table's column order."""
    for column, limit in _limits(table):
        value = row.get(column)
        if isinstance(value, str) and len(value) > limit:
            raise _too_long(table.name, column, len(value), limit)


@functools.cache
def _limits(table: sa.Table) -> tuple[tuple[str, int], ...]:
    """The columns of ``table`` with a maximum length, and that length."""
    found = []
    for column in table.columns:
        limit = getattr(column.type, "length", None)
        if limit:
            found.append((column.key, limit))
    return tuple(found)


def _too_long(table: str, column: str, length: int, limit: int) -> StufFault:
    return StufFault(
        "StUF055",
        f"Waarde te lang voor {column}",
        plek="client",
        details=f"{table}.{column}: {length} tekens; het "
        f"zaakregister bewaart er ten hoogste {limit}",
    )
