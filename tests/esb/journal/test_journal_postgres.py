"""Several broker processes sharing one PostgreSQL journal.

Two connections stand for two processes; their transactions are interleaved
by hand, so each test shows one concurrency guarantee.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from esb.journal import Journal, PlannedDelivery, ReceivedMessage, Transaction

pytestmark = pytest.mark.postgres

MakeReceived = Callable[..., ReceivedMessage]


@pytest.fixture
def pg_journal(postgres_url: str) -> Iterator[Journal]:
    journal = Journal.open(postgres_url)
    try:
        yield journal
    finally:
        journal.close()


def _routed(journal: Journal, message: ReceivedMessage, count: int) -> list[int]:
    planned = [
        PlannedDelivery(f"destination-{n}", "publish", 1000.0) for n in range(count)
    ]
    return journal.write(
        lambda tx: tx.record_routed(message, "publish", planned, now=1000.0)
    )


def _wait_for_lock_wait(journal: Journal, pid: int) -> None:
    """Return once backend ``pid`` waits for a row lock (or fail after 30 s)."""
    deadline = time.monotonic() + 30
    with journal.engine.connect() as connection:
        while time.monotonic() < deadline:
            waiting = connection.execute(
                sa.text(
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"
                ),
                {"pid": pid},
            ).scalar()
            connection.rollback()
            if waiting == "Lock":
                return
    pytest.fail(f"backend {pid} never waited for the lock")


def test_two_processes_ending_the_last_deliveries_settle_the_message(
    pg_journal: Journal, make_received: MakeReceived
) -> None:
    """Two processes, each ending one of a message's two deliveries at the
    same time, leave it delivered: the second waits for the first one's lock
    on the message and then sees its delivery ended."""
    message = make_received()
    first, second = _routed(pg_journal, message, 2)
    states: dict[str, str] = {}

    def ok(delivery_id: int) -> Callable[[Transaction], str]:
        return lambda tx: tx.record_attempt(
            delivery_id, started_at=1000.0, ended_at=1001.0, outcome="ok"
        )

    with pg_journal.writer_connection() as a, pg_journal.writer_connection() as b:
        a.begin()
        states["a"] = ok(first)(Transaction(a))
        b_pid = b.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        b.commit()

        def run_b() -> None:
            with b.begin():
                states["b"] = ok(second)(Transaction(b))

        thread = threading.Thread(target=run_b)
        thread.start()
        _wait_for_lock_wait(pg_journal, b_pid)
        a.commit()
        thread.join(30)

    assert states == {"a": "routed", "b": "delivered"}
    entry = pg_journal.get_message(message.id)
    assert entry is not None and entry.state == "delivered"


def test_two_processes_never_claim_the_same_delivery(
    pg_journal: Journal, make_received: MakeReceived
) -> None:
    """While one process holds its claim open, another claiming at the same
    time skips those deliveries and takes the rest."""
    ids = [_routed(pg_journal, make_received(), 1)[0] for _ in range(4)]

    with pg_journal.writer_connection() as a, pg_journal.writer_connection() as b:
        a.begin()
        mine = Transaction(a).claim_due(1000.0, 2, until=1060.0)
        b.begin()
        theirs = Transaction(b).claim_due(1000.0, 10, until=1060.0)
        b.commit()
        a.commit()

    assert [d.delivery.id for d in mine] == ids[:2]
    assert [d.delivery.id for d in theirs] == ids[2:]
