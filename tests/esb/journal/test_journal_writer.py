"""Group commit: writes are batched, fail alone, and are on disk when acked.

:func:`commit_batch` is tested synchronously. The writer thread is real; in
place of the reactor, a queue receives what the writer calls from its thread,
and the test thread runs those calls, as the reactor would. Waiting is on
futures, queues and events with a time-out, never on a sleep.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pytest
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from esb.journal import (
    DuplicateMessageError,
    GroupCommitWriter,
    Journal,
    JournalError,
    PendingWrite,
    PlannedDelivery,
    ReceivedMessage,
    Transaction,
    WriterStoppedError,
    commit_batch,
)

T = TypeVar("T")
MakeReceived = Callable[..., ReceivedMessage]
WAIT = 30.0


class ThreadCalls:
    """Stands in for the reactor's callFromThread: the test thread runs the
    calls, so Deferreds fire in the test thread as they would in the
    reactor's."""

    def __init__(self) -> None:
        self.calls: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]]] = (
            queue.Queue()
        )

    def callFromThread(self, f: Callable[..., Any], *args: Any, **kw: Any) -> None:
        self.calls.put((f, args))

    def until_fired(self, deferred: Deferred[T]) -> T | Failure:
        """Run the queued calls until ``deferred`` has fired; its outcome."""
        outcome: list[T | Failure] = []
        deferred.addBoth(outcome.append)
        while not outcome:
            f, args = self.calls.get(timeout=WAIT)
            f(*args)
        return outcome[0]


def _receive(message: ReceivedMessage) -> Callable[[Transaction], str]:
    def write(tx: Transaction) -> str:
        tx.record_received(message)
        return message.id

    return write


def _failing(tx: Transaction) -> None:
    raise RuntimeError("a bug in one write")


@pytest.fixture
def calls() -> ThreadCalls:
    return ThreadCalls()


@pytest.fixture
def writer(journal: Journal, calls: ThreadCalls) -> Iterator[GroupCommitWriter]:
    writer = GroupCommitWriter(journal, calls)  # type: ignore[arg-type]
    yield writer
    writer.stop_blocking(WAIT)


def test_a_batch_commits_together_and_answers_each_write(
    journal: Journal, make_received: MakeReceived
) -> None:
    """commit_batch runs every write, commits once, and completes each future
    with what its write returned."""
    messages = [make_received(f"ref-{n}") for n in range(3)]
    items = [PendingWrite(_receive(m), Future[str]()) for m in messages]

    with journal.writer_connection() as connection:
        assert commit_batch(connection, items) is True

    assert [item.future.result(0) for item in items] == [m.id for m in messages]
    assert {m.id for m in journal.list_messages()} == {m.id for m in messages}


def test_a_duplicate_in_a_batch_fails_alone(
    journal: Journal, make_received: MakeReceived
) -> None:
    """A duplicate referentienummer in the middle of a batch fails only its
    own write; the writes before and after it commit."""
    first = make_received("ref-a")
    duplicate = make_received("ref-a")
    last = make_received("ref-b")
    items: list[PendingWrite[Any]] = [
        PendingWrite(_receive(m), Future()) for m in (first, duplicate, last)
    ]

    with journal.writer_connection() as connection:
        assert commit_batch(connection, items) is True

    assert items[0].future.result(0) == first.id
    assert isinstance(items[1].future.exception(0), DuplicateMessageError)
    assert items[2].future.result(0) == last.id
    assert {m.id for m in journal.list_messages()} == {first.id, last.id}


def test_a_failing_write_leaves_nothing_of_itself_behind(
    journal: Journal, make_received: MakeReceived
) -> None:
    """A write that stores something and then raises is rolled back whole,
    while the writes around it commit."""
    half = make_received()
    whole = make_received()

    def half_done(tx: Transaction) -> None:
        tx.record_received(half)
        raise RuntimeError("fails after its first statement")

    items: list[PendingWrite[Any]] = [
        PendingWrite(half_done, Future()),
        PendingWrite(_receive(whole), Future()),
    ]
    with journal.writer_connection() as connection:
        commit_batch(connection, items)

    assert isinstance(items[0].future.exception(0), RuntimeError)
    assert items[1].future.result(0) == whole.id
    assert [m.id for m in journal.list_messages()] == [whole.id]


def test_a_cancelled_write_is_not_run(
    journal: Journal, make_received: MakeReceived
) -> None:
    """A write whose future was cancelled before its batch is skipped."""
    message = make_received()
    item = PendingWrite(_receive(message), Future[str]())
    item.future.cancel()

    with journal.writer_connection() as connection:
        commit_batch(connection, [item])

    assert journal.list_messages() == []


def test_writes_queued_together_commit_in_one_batch(
    writer: GroupCommitWriter, journal: Journal, make_received: MakeReceived
) -> None:
    """Writes queued while the writer is busy (here: before it starts) are
    committed as one batch, and a failing one fails alone."""
    ok = [writer.submit_future(_receive(make_received())) for _ in range(5)]
    bad = writer.submit_future(_failing)

    writer.start()

    assert len([f.result(WAIT) for f in ok]) == 5
    assert isinstance(bad.exception(WAIT), RuntimeError)
    writer.stop_blocking(WAIT)
    assert (writer.stats.batches, writer.stats.writes) == (1, 6)
    assert writer.stats.failed == 1
    assert len(journal.list_messages()) == 5


def test_a_batch_holds_at_most_max_batch_writes(
    journal: Journal, calls: ThreadCalls, make_received: MakeReceived
) -> None:
    """The queue is committed in batches of at most max_batch."""
    writer = GroupCommitWriter(journal, calls, max_batch=4)  # type: ignore[arg-type]
    futures = [writer.submit_future(_receive(make_received())) for _ in range(10)]

    writer.start()
    writer.stop_blocking(WAIT)

    assert all(f.done() and f.exception() is None for f in futures)
    assert (writer.stats.batches, writer.stats.largest_batch) == (3, 4)


def test_a_deferred_fires_in_the_reactor_thread_after_the_commit(
    writer: GroupCommitWriter,
    journal: Journal,
    calls: ThreadCalls,
    make_received: MakeReceived,
) -> None:
    """submit's Deferred fires through callFromThread with the write's result,
    and by then the message can be read by anyone."""
    writer.start()
    message = make_received("ref-deferred")

    result = calls.until_fired(writer.submit(_receive(message)))

    assert result == message.id
    assert journal.get_message(message.id) is not None


def test_a_duplicate_errbacks_its_deferred(
    writer: GroupCommitWriter, calls: ThreadCalls, make_received: MakeReceived
) -> None:
    """A duplicate referentienummer arrives as a DuplicateMessageError
    failure, carrying the original message."""
    writer.start()
    first = make_received("ref-twice")
    calls.until_fired(writer.submit(_receive(first)))

    outcome = calls.until_fired(writer.submit(_receive(make_received("ref-twice"))))

    assert isinstance(outcome, Failure)
    assert isinstance(outcome.value, DuplicateMessageError)
    assert outcome.value.original.id == first.id


def test_stop_commits_what_is_queued_then_refuses_writes(
    writer: GroupCommitWriter,
    journal: Journal,
    calls: ThreadCalls,
    make_received: MakeReceived,
) -> None:
    """stop() flushes the queue before the thread ends; writes submitted
    afterwards fail with WriterStoppedError and store nothing."""
    queued = [writer.submit_future(_receive(make_received())) for _ in range(3)]
    writer.start()

    assert calls.until_fired(writer.stop()) is None

    assert all(f.result(0) for f in queued)
    late = calls.until_fired(writer.submit(_receive(make_received())))
    assert isinstance(late, Failure) and late.check(WriterStoppedError)
    assert len(journal.list_messages()) == 3


def test_stop_flushes_a_writer_that_never_started(
    journal: Journal, calls: ThreadCalls, make_received: MakeReceived
) -> None:
    """Writes queued on a writer that was never started are still committed
    when it is stopped."""
    writer = GroupCommitWriter(journal, calls)  # type: ignore[arg-type]
    future = writer.submit_future(_receive(make_received()))

    writer.stop_blocking(WAIT)

    assert future.result(0)
    assert len(journal.list_messages()) == 1


def test_a_lost_database_fails_the_batch_and_the_writer_recovers(
    sqlite_url: str, calls: ThreadCalls, make_received: MakeReceived
) -> None:
    """When the commit itself fails, every write of the batch fails with a
    JournalError; the next batch uses a new connection and succeeds."""
    journal = Journal.open(sqlite_url)
    writer = GroupCommitWriter(journal, calls)  # type: ignore[arg-type]
    writer.start()
    try:

        def break_transaction(tx: Transaction) -> None:
            # Ends the transaction under SQLAlchemy's feet: its COMMIT fails.
            tx.connection.exec_driver_sql("COMMIT")
            tx.connection.exec_driver_sql("ROLLBACK")

        broken = writer.submit_future(break_transaction)
        assert isinstance(broken.exception(WAIT), JournalError)

        message = make_received()
        assert writer.submit_future(_receive(message)).result(WAIT) == message.id
        assert journal.get_message(message.id) is not None
    finally:
        writer.stop_blocking(WAIT)
        journal.close()


def test_acknowledged_writes_survive_closing_and_reopening(
    database_url: str, calls: ThreadCalls, make_received: MakeReceived
) -> None:
    """What the writer acknowledged is in the journal after it is closed and
    opened again, deliveries and all."""
    journal = Journal.open(database_url)
    writer = GroupCommitWriter(journal, calls)  # type: ignore[arg-type]
    writer.start()
    message = make_received("ref-durable")

    def store(tx: Transaction) -> list[int]:
        tx.record_received(message)
        planned = [PlannedDelivery("zaakregister", "request-reply", 1000.0)]
        return tx.mark_routed(message.id, "zds", planned, now=1000.0)

    [delivery_id] = writer.submit_future(store).result(WAIT)
    writer.stop_blocking(WAIT)
    journal.close()

    reopened = Journal.open(database_url)
    try:
        entry = reopened.get_message(message.id)
        assert entry is not None and entry.state == "routed"
        assert [d.delivery.id for d in reopened.due_deliveries(1000.0)] == [delivery_id]
    finally:
        reopened.close()


_CHILD = textwrap.dedent(
    """
    import sys
    from esb.journal import GroupCommitWriter, Journal, ReceivedMessage

    class NoReactor:
        def callFromThread(self, f, *args):
            f(*args)

    journal = Journal.open(sys.argv[1])
    writer = GroupCommitWriter(journal, NoReactor())
    writer.start()

    def acknowledge(future):
        # Runs in the writer thread, after the commit holding the write.
        print(future.result(), flush=True)

    for n in range(1_000_000):
        message = ReceivedMessage(
            id=f"kill-{n}", received_at=float(n), source="test", raw=b"<x/>" * 100
        )
        writer.submit_future(
            lambda tx, m=message: (tx.record_received(m), m.id)[1]
        ).add_done_callback(acknowledge)
        if writer.queued > 500:
            # Keep the queue short, as a broker under load would.
            writer.submit_future(lambda tx: None).result()
    """
)


def test_acknowledged_messages_survive_kill_9(sqlite_url: str) -> None:
    """A process killed with SIGKILL in the middle of writing loses none of
    the messages it had acknowledged (WAL mode, synchronous=FULL)."""
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, sqlite_url],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    acknowledged: list[str] = []
    try:
        assert child.stdout is not None
        while len(acknowledged) < 2000:
            line = child.stdout.readline()
            assert line, "the writing process ended before it was killed"
            acknowledged.append(line.strip())
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(WAIT)

    journal = Journal.open(sqlite_url)
    try:
        stored = {m.id for m in journal.list_messages(limit=10_000_000)}
    finally:
        journal.close()
    missing = [message_id for message_id in acknowledged if message_id not in stored]
    assert missing == []
