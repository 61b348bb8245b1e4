"""The journal's store: one SQLAlchemy engine, migrated, and the reads on it.

:meth:`Journal.open` creates the engine and runs the migrations. Reads open a
pooled connection each, so they may run in any thread, concurrently with the
writer (SQLite in WAL mode lets readers see the last commit while a write is
under way). Writes go through :class:`~esb.journal.Transaction`: in the broker
from the group-commit writer's thread, elsewhere (operators' commands, tests)
through :meth:`Journal.write`, one transaction per call.

SQLite durability: ``synchronous=FULL`` by default. In WAL mode, NORMAL already
survives a crash of the process (``kill -9``): a commit is in the WAL file in
the operating system's cache, which outlives the process. It does not survive
a power cut or a kernel crash, which may take the last commits with them. EMO
promises that an acknowledged message is never lost, and group commit pays
the one fsync per batch rather than per message, so FULL costs little; NORMAL
stays available for those who accept the risk for speed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from esb import engines
from esb.journal import _queries, migrate
from esb.journal.errors import JournalError
from esb.journal.records import (
    FINAL_STATES,
    DueDelivery,
    JournalEntry,
    MessageState,
    MessageSummary,
    Retention,
)
from esb.journal.transaction import Transaction
from esb.message import Party

T = TypeVar("T")

Synchronous = engines.Synchronous

JOURNAL_FILE = "journal.sqlite3"
DATABASE_URL_VARIABLE = "EMO_DATABASE_URL"


def journal_url(data_dir: Path, environ: Mapping[str, str] = os.environ) -> str:
    """``EMO_DATABASE_URL`` if set, else the SQLite file in the data dir."""
    url = environ.get(DATABASE_URL_VARIABLE)
    if url:
        return url
    return f"sqlite:///{(data_dir / JOURNAL_FILE).resolve()}"


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Turn database errors into :class:`JournalError`, saying what failed."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise JournalError(f"the journal could not {action}: {exc}") from exc


class Journal:
    """EMO's durable message journal over one database.

    Open it with :meth:`open`; close it after the writer has stopped.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, synchronous: Synchronous = "FULL") -> Journal:
        """Connect to ``url``, migrate it to the newest schema, return it.

        ``sqlite:///path`` (WAL mode, ``synchronous`` as given) or
        ``postgresql+psycopg://...``; on PostgreSQL the tables live in the
        first schema of the connection's search_path.
        """
        with translated(f"open {url}"):
            try:
                engine = engines.make_engine(
                    url, owner="the journal", synchronous=synchronous
                )
            except ValueError as exc:
                raise JournalError(str(exc)) from exc
            engine = engines.migrated(engine, migrate.upgrade)
        return cls(engine)

    def close(self) -> None:
        """Close every connection; the journal is unusable afterwards."""
        self.engine.dispose()

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    # -- writes --------------------------------------------------------------

    def writer_connection(self) -> sa.Connection:
        """A connection for the one thread that writes; the caller closes it.

        On SQLite its transactions begin with BEGIN IMMEDIATE: the writer
        takes the write lock at their start, so it waits for another writer
        (an operator's command) under busy_timeout instead of failing.
        """
        with translated("connect"):
            return engines.for_writers(self.engine).connect()

    def write(self, write: Callable[[Transaction], T]) -> T:
        """Run one write in a transaction of its own and commit it.

        For operators' commands and tests. The broker writes through the
        group-commit writer, which commits many writes at once.
        """
        with translated("write"), self.writer_connection() as connection:
            with connection.begin():
                return write(Transaction(connection))

    def reset_for_retry(self, message_id: str, now: float | None = None) -> int:
        """Make a dead message due again; see :meth:`Transaction.reset_for_retry`."""
        moment = time.time() if now is None else now
        return self.write(lambda tx: tx.reset_for_retry(message_id, now=moment))

    def purge(
        self,
        older_than: float,
        states: Sequence[MessageState] = FINAL_STATES,
        *,
        batch: int = 1000,
    ) -> int:
        """Delete finished messages unchanged since ``older_than``.

        Deletes ``batch`` at a time, each batch its own transaction, so a
        running broker's writer waits at most one batch. Returns how many.
        """
        total = 0
        while True:
            purged = self.write(lambda tx: tx.purge(older_than, states, limit=batch))
            total += purged
            if purged < batch:
                return total

    def apply_retention(self, retention: Retention, now: float | None = None) -> int:
        """Purge what ``retention`` no longer keeps. Returns how many."""
        moment = time.time() if now is None else now
        return sum(
            self.purge(cutoff, (state,))
            for state, cutoff in retention.cutoffs(moment).items()
        )

    # -- reads ---------------------------------------------------------------

    @contextmanager
    def _reading(self, action: str) -> Iterator[sa.Connection]:
        # One transaction per read: on SQLite a snapshot, so a message and its
        # deliveries are read as of one commit.
        with translated(action), self.engine.connect() as connection:
            with connection.begin():
                yield connection

    def get_message(self, message_id: str) -> JournalEntry | None:
        """A message with its bytes, answer, deliveries and attempts."""
        with self._reading(f"read message {message_id}") as connection:
            return _queries.load_entry(connection, message_id)

    def find_by_sender_ref(
        self, organisatie: str | None, applicatie: str | None, referentienummer: str
    ) -> JournalEntry | None:
        """The message this zender sent with this referentienummer, if any."""
        with self._reading("look up a referentienummer") as connection:
            return _queries.find_by_sender_ref(
                connection, organisatie, applicatie, referentienummer
            )

    def due_deliveries(self, now: float, limit: int = 100) -> list[DueDelivery]:
        """Pending and retrying deliveries due at ``now``, longest waiting first.

        Only reads: a broker that runs these attempts should take them with
        :meth:`Transaction.claim_due` instead, so they are not taken twice.
        """
        with self._reading("list due deliveries") as connection:
            return _queries.due_deliveries(connection, now, limit)

    def pending_count(self) -> int:
        """How many deliveries still have an attempt to come."""
        with self._reading("count pending deliveries") as connection:
            return _queries.pending_count(connection)

    def count_by_state(self) -> dict[MessageState, int]:
        """How many messages are in each state (absent states have none)."""
        with self._reading("count messages") as connection:
            return _queries.count_by_state(connection)

    def list_messages(
        self,
        *,
        state: MessageState | None = None,
        route: str | None = None,
        operation: str | None = None,
        zender: Party | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
    ) -> list[MessageSummary]:
        """Messages received in ``[since, until)`` matching every filter given,
        the newest first. ``zender`` matches on the parts of it that are set.
        """
        with self._reading("list messages") as connection:
            return _queries.list_messages(
                connection,
                state=state,
                route=route,
                operation=operation,
                zender=zender,
                since=since,
                until=until,
                limit=limit,
            )

    def dead_messages(self, limit: int = 100) -> list[MessageSummary]:
        """The dead messages, the newest first: what an operator looks at."""
        return self.list_messages(state="dead", limit=limit)
