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
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

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
Item = TypeVar("Item")

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
        self._joining: list[_Joined] | None = (
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

    def write_together(self, together: Together[Any]) -> None:
        """:meth:`write` of ``together.item``, in a transaction shared with
        other threads' items of the same kind.

        On SQLite, whichever thread gets the turn to write stores every item
        waiting for it at once (``together.many``): one BEGIN, one COMMIT,
        one turn and a few statements for the lot, where each taking its own
        turn spent more time handing the turn and the GIL over than writing.
        Should that fail, the transaction is rolled back and each item is
        stored in a transaction of its own (``together.one``), so that one
        sender's fault is not another's: both must change nothing but the
        database. PostgreSQL writes concurrently: there each item has its
        own transaction.
        """
        if self._joining is None:
            self.write(together.alone)
            return
        joined = _Joined(together)
        with self._joining_lock:
            self._joining.append(joined)
        with self._write_turn:
            if not joined.done:
                with self._joining_lock:
                    batch, self._joining = self._joining, []
                self._run_together(batch)
        joined.outcome()

    def _run_together(self, batch: list[_Joined]) -> None:
        many = batch[0].together.many
        if len(batch) > 1 and all(joined.together.many is many for joined in batch):
            try:
                with self._translated, self._session(self._writer) as session:
                    many(session, [joined.together.item for joined in batch])
            except Exception as exc:
                # A zaak that exists already, or twice in the lot: each again
                # on its own, below, where the one at fault gets its answer.
                log.debug("Stored one by one: {error}", error=str(exc))
            else:
                for joined in batch:
                    joined.settle(None)
                return
        for joined in batch:
            try:
                # The turn is an RLock this thread holds: write takes it again.
                self.write(joined.together.alone)
            except Exception as exc:
                joined.settle(exc)
            else:
                joined.settle(None)


@dataclass(frozen=True)
class Together(Generic[Item]):
    """A write that may share its transaction with others of its kind
    (:meth:`Database.write_together`): ``one`` stores ``item`` alone,
    ``many`` several items at once, raising when any of them cannot be
    stored so."""

    item: Item
    one: Callable[[Session, Item], None]
    many: Callable[[Session, Sequence[Item]], None]

    def alone(self, session: Session) -> None:
        self.one(session, self.item)


class _Joined:
    """An item waiting in :meth:`Database.write_together`, and its outcome."""

    __slots__ = ("done", "error", "together")

    def __init__(self, together: Together[Any]) -> None:
        self.together = together
        self.done = False
        self.error: Exception | None = None

    def settle(self, error: Exception | None) -> None:
        self.error, self.done = error, True

    def outcome(self) -> None:
        if self.error is not None:
            raise self.error


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
