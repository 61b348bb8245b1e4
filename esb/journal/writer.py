"""Group commit: the journal's writes on one thread, many to a commit.

The reactor thread must never wait for the disk, and a commit (an fsync on
SQLite with ``synchronous=FULL``) costs about as much for one message as for a
hundred. So every write is handed to one writer thread, which runs whatever
queued up while its previous commit ran (at most ``max_batch`` writes) in a
single transaction and commits once::

    reactor thread                    writer thread
    ──────────────                    ─────────────
    submit(w1) ─┐
    submit(w2) ─┼─▶ queue ──▶ BEGIN; w1; w2; w3; COMMIT
    submit(w3) ─┘                               │
    d1, d2, d3 fire ◀── callFromThread ◀────────┘

A Deferred fires only after the commit that holds its write, so "acknowledge
when the Deferred fires" means "acknowledge what is on disk".

One failing write fails alone. The batch first runs without savepoints (the
common case costs nothing extra); if a write raises, the transaction is rolled
back and the batch is run again with a savepoint around each write, so the
failing one is rolled back and reported while the others commit. A write may
therefore run twice: it must touch nothing but the transaction it is given.

The message path's own writes are bulk writes (:mod:`esb.journal.bulk`): all
of one kind in a batch run together, a multi-row statement per table, so that
the writer passes the GIL a few times a batch rather than several times a
message.

:func:`commit_batch` is the whole of that logic, synchronous, for tests; the
:class:`GroupCommitWriter` is the thin thread around it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads
from twisted.logger import Logger

from esb.journal.bulk import BulkWrite
from esb.journal.errors import JournalError, WriterStoppedError
from esb.journal.store import Journal
from esb.journal.transaction import Transaction

T = TypeVar("T")

Write = Callable[[Transaction], T]
"""A write: gets the open transaction, returns what its Deferred fires with."""

log = Logger()


@dataclass(slots=True)
class PendingWrite(Generic[T]):
    """A submitted write and where its outcome goes.

    ``deferred`` is fired in the reactor thread once the batch holding the
    write is settled (:meth:`GroupCommitWriter.submit`); ``future`` completes
    in the writer's thread (:meth:`GroupCommitWriter.submit_future`). The
    broker's own writes have no future: a ``concurrent.futures.Future``
    builds a lock and a condition, which cost as much as the write itself.
    """

    write: Write[T]
    future: Future[T] | None = None
    deferred: Deferred[T] | None = None
    # (True, result) or (False, exception), once settled.
    outcome: tuple[bool, Any] | None = None

    def start(self) -> bool:
        """False when the write was cancelled (through its future) before."""
        return self.future is None or self.future.set_running_or_notify_cancel()

    def settle(self, ok: bool, value: Any) -> None:
        self.outcome = (ok, value)
        if self.future is not None:
            if ok:
                self.future.set_result(value)
            else:
                self.future.set_exception(value)

    @property
    def failed(self) -> bool:
        """Cancelled, or settled with an exception."""
        return self.outcome is None or not self.outcome[0]


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Counters of a writer since it started: for metrics and the benchmark."""

    batches: int = 0
    writes: int = 0
    failed: int = 0
    largest_batch: int = 0


# What one write came to: (True, its result) or (False, the exception).
_Outcome = tuple[bool, Any]


def _as_failure(exc: Exception) -> Exception:
    if isinstance(exc, SQLAlchemyError):
        error = JournalError(f"the journal could not store a write: {exc}")
        error.__cause__ = exc
        return error
    return exc


def _run_together(
    connection: sa.Connection, items: Sequence[PendingWrite[Any]]
) -> list[_Outcome] | None:
    """All writes in one transaction; ``None`` (rolled back) if one raised.

    Bulk writes (:mod:`esb.journal.bulk`) run with the others of their kind,
    at the place of the first of them; the rest one by one.
    """
    transaction = Transaction(connection)
    results: list[_Outcome | None] = [None] * len(items)
    kinds: dict[type[BulkWrite[Any]], list[int]] = {}
    for index, item in enumerate(items):
        if isinstance(item.write, BulkWrite):
            kinds.setdefault(type(item.write), []).append(index)
    with connection.begin() as outer:
        try:
            for index, item in enumerate(items):
                if results[index] is not None:
                    continue  # ran with the first of its kind
                write = item.write
                if not isinstance(write, BulkWrite):
                    results[index] = (True, write(transaction))
                    continue
                members = kinds[type(write)]
                outcomes = type(write).run_many(
                    transaction, [items[member].write for member in members]
                )
                for member, outcome in zip(members, outcomes, strict=True):
                    results[member] = outcome
        except Exception:
            outer.rollback()
            return None
    return [result for result in results if result is not None]


def _run_isolated(
    connection: sa.Connection, items: Sequence[PendingWrite[Any]]
) -> list[_Outcome]:
    """Each write in a savepoint of one transaction: failures roll back alone."""
    transaction = Transaction(connection)
    results: list[_Outcome] = []
    with connection.begin():
        for item in items:
            savepoint = connection.begin_nested()
            try:
                result = item.write(transaction)
            except Exception as exc:
                savepoint.rollback()
                results.append((False, _as_failure(exc)))
            else:
                savepoint.commit()
                results.append((True, result))
    return results


def commit_batch(connection: sa.Connection, items: Sequence[PendingWrite[Any]]) -> bool:
    """Run ``items`` in one transaction, commit, then settle their futures.

    Returns ``False`` when the transaction itself failed (begin, savepoint
    or commit: the database is gone, the disk is full); every write then fails
    with a :class:`JournalError` and the caller should use a new connection.
    """
    live = [item for item in items if item.start()]
    if not live:
        return True
    try:
        outcomes = _run_together(connection, live)
        if outcomes is None:
            outcomes = _run_isolated(connection, live)
    except Exception as exc:
        error = JournalError(f"the journal could not commit {len(live)} writes: {exc}")
        error.__cause__ = exc
        log.failure("Journal commit of {count} writes failed", count=len(live))
        for item in live:
            item.settle(False, error)
        return False
    for item, (ok, value) in zip(live, outcomes, strict=True):
        item.settle(ok, value)
    return True


def _fire_all(fired: list[PendingWrite[Any]]) -> None:
    for item in fired:
        _fire(item)


def _fire(item: PendingWrite[Any]) -> None:
    assert item.deferred is not None and item.outcome is not None
    ok, value = item.outcome
    if ok:
        item.deferred.callback(value)
    else:
        item.deferred.errback(value)


class GroupCommitWriter:
    """Runs the journal's writes on one thread of its own, batched.

    ``start()`` it once; ``submit()`` from the reactor thread; ``stop()`` at
    shutdown, which takes no new writes, commits what is queued and ends the
    thread. Close the journal after that.
    """

    def __init__(
        self,
        journal: Journal,
        reactor: IReactorFromThreads | None = None,
        *,
        max_batch: int = 256,
        name: str = "emo-journal-writer",
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = cast(IReactorFromThreads, global_reactor)
        self._journal = journal
        self._reactor: IReactorFromThreads = reactor
        self._max_batch = max_batch
        self._queue: deque[PendingWrite[Any]] = deque()
        self._lock = threading.Condition()
        self._idle = False
        self._started = False
        self._stopping = False
        self._stopped = threading.Event()
        self._stop_waiters: list[Deferred[None]] = []
        self._stats = WriterStats()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def stats(self) -> WriterStats:
        return self._stats

    @property
    def queued(self) -> int:
        """Writes waiting for the next batch."""
        return len(self._queue)

    def start(self) -> None:
        with self._lock:
            if self._started:
                raise RuntimeError("the journal writer was started already")
            self._started = True
        self._thread.start()

    def submit_future(self, write: Write[T]) -> Future[T]:
        """Queue ``write``; the future completes after its batch committed.

        Safe from any thread. After :meth:`stop` the future fails at once with
        :class:`WriterStoppedError`.
        """
        future: Future[T] = Future()
        self._queue_write(PendingWrite(write, future=future))
        return future

    def _queue_write(self, pending: PendingWrite[T]) -> PendingWrite[T]:
        with self._lock:
            if self._stopping:
                if pending.start():
                    pending.settle(
                        False, WriterStoppedError("the journal writer stopped")
                    )
                    if pending.deferred is not None:
                        self._reactor.callFromThread(_fire, pending)
                return pending
            self._queue.append(pending)
            if self._idle:
                # Only a writer waiting for work needs waking; one busy
                # committing takes the queue when it is done.
                self._lock.notify()
        return pending

    def submit(self, write: Write[T]) -> Deferred[T]:
        """Queue ``write``; the Deferred fires in the reactor thread after
        the batch holding it committed, with what ``write`` returned, or
        errbacks with what it raised (database errors as JournalError).
        """
        deferred: Deferred[T] = Deferred()
        self._queue_write(PendingWrite(write, deferred=deferred))
        return deferred

    def _settled(self, batch: list[PendingWrite[Any]]) -> None:
        """Fire the batch's Deferreds: one hop to the reactor thread for the
        whole batch, not one wake-up per write."""
        fired = [item for item in batch if item.deferred is not None]
        if fired:
            self._reactor.callFromThread(_fire_all, fired)

    def stop(self) -> Deferred[None]:
        """Take no new writes, commit the queued ones, end the thread.

        The Deferred fires in the reactor thread once the thread has ended.
        """
        deferred: Deferred[None] = Deferred()
        with self._lock:
            if self._stopped.is_set():
                deferred.callback(None)
                return deferred
            self._stop_waiters.append(deferred)
        self._begin_stop()
        return deferred

    def stop_blocking(self, timeout: float | None = None) -> None:
        """:meth:`stop` for threads other than the reactor's (tests, tools)."""
        self._begin_stop()
        if not self._stopped.wait(timeout):
            raise JournalError(f"the journal writer did not stop in {timeout} s")

    def _begin_stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify()
            # Never started: start it now so the queue is still committed.
            start, self._started = not self._started, True
        if start:
            self._thread.start()

    def _next_batch(self) -> list[PendingWrite[Any]] | None:
        with self._lock:
            while not self._queue and not self._stopping:
                self._idle = True
                self._lock.wait()
                self._idle = False
            if not self._queue:
                return None
            count = min(len(self._queue), self._max_batch)
            return [self._queue.popleft() for _ in range(count)]

    def _run(self) -> None:
        connection: sa.Connection | None = None
        try:
            while (batch := self._next_batch()) is not None:
                if connection is None:
                    connection = self._connect(batch)
                    if connection is None:
                        continue
                committed = commit_batch(connection, batch)
                self._count(batch)
                self._settled(batch)
                if not committed:
                    # The connection may be broken; the next batch gets a new
                    # one, so a database that comes back is used again.
                    connection.invalidate()
                    connection.close()
                    connection = None
        finally:
            if connection is not None:
                connection.close()
            self._stopped.set()
            with self._lock:
                waiters, self._stop_waiters = self._stop_waiters, []
            for deferred in waiters:
                self._reactor.callFromThread(deferred.callback, None)

    def _connect(self, batch: list[PendingWrite[Any]]) -> sa.Connection | None:
        try:
            return self._journal.writer_connection()
        except JournalError as exc:
            for item in batch:
                if item.start():
                    item.settle(False, exc)
            self._count(batch)
            self._settled(batch)
            return None

    def _count(self, batch: list[PendingWrite[Any]]) -> None:
        failed = sum(1 for item in batch if item.failed)
        stats = self._stats
        self._stats = WriterStats(
            batches=stats.batches + 1,
            writes=stats.writes + len(batch),
            failed=stats.failed + failed,
            largest_batch=max(stats.largest_batch, len(batch)),
        )
