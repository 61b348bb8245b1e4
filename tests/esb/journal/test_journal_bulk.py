"""Bulk writes: the message path's writes, many to a statement, store exactly
what the same writes store one by one.

Each test runs a batch through :func:`commit_batch` (the writer's logic,
synchronous) on SQLite and on PostgreSQL, and compares what the journal then
holds with what the plain writes (``write(tx)``, the path the writer falls
back to) store for the same messages.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import pytest

from esb.errors import Violation
from esb.journal import (
    DuplicateMessageError,
    Journal,
    JournalEntry,
    PendingWrite,
    PlannedDelivery,
    ReceivedMessage,
    RecordDelivered,
    RecordRouted,
    Transaction,
    UnknownMessageError,
    commit_batch,
)
from esb.journal._blobs import LARGE

MakeReceived = Callable[..., ReceivedMessage]

FORWARD = PlannedDelivery("forward", "publish", 1015.0)
REPLY = PlannedDelivery("zaakregister", "request-reply", 1035.0)
TAP = PlannedDelivery("zaakregister", "publish", 1035.0)


def _batch(
    journal: Journal, writes: Sequence[Callable[[Transaction], Any]]
) -> list[Any]:
    """Commit ``writes`` as one batch; each one's result or exception."""
    items: list[PendingWrite[Any]] = [PendingWrite(w, Future()) for w in writes]
    with journal.writer_connection() as connection:
        assert commit_batch(connection, items)
    outcomes: list[Any] = []
    for item in items:
        assert item.future is not None
        error = item.future.exception(0)
        outcomes.append(error if error is not None else item.future.result(0))
    return outcomes


def _alone(
    journal: Journal, writes: Sequence[Callable[[Transaction], Any]]
) -> list[Any]:
    """Each write in a transaction of its own: the plain path."""
    return [journal.write(write) for write in writes]


def _shape(entry: JournalEntry | None) -> dict[str, Any]:
    """An entry without what differs between two copies of one message: its
    id, referentienummer and the ids of its deliveries and attempts."""
    assert entry is not None
    shape = dataclasses.asdict(entry)
    shape.pop("id")
    shape.pop("referentienummer")
    for delivery in shape["deliveries"]:
        delivery.pop("id")
        delivery.pop("message_id")
        for attempt in delivery["history"]:
            attempt.pop("id")
            attempt.pop("delivery_id")
    return shape


def _twins(make_received: MakeReceived, **fields: Any) -> tuple[ReceivedMessage, ...]:
    """Two copies of one message, differing in id and referentienummer."""
    first = make_received(**fields)
    second = make_received(**fields)
    return (
        dataclasses.replace(first, referentienummer=f"ref-{first.id}"),
        dataclasses.replace(second, referentienummer=f"ref-{second.id}"),
    )


def test_routed_messages_are_stored_as_the_plain_write_stores_them(
    journal: Journal, make_received: MakeReceived
) -> None:
    """Messages with zero, one and three deliveries, with and without an
    answer and violations: the bulk batch stores what the plain writes do,
    and each write gets its delivery ids in the order it planned them."""
    shapes = [
        {"answer": b"<Bv03/>"},
        {},
        {"raw": b"<zakLk01>\xc3\xa9</zakLk01>", "answer": b"<Bv03>2</Bv03>"},
    ]
    plans: list[tuple[PlannedDelivery, ...]] = [(FORWARD,), (REPLY, TAP, TAP), ()]
    bulk, plain = [], []
    for fields in shapes:
        one, other = _twins(make_received, **fields)
        bulk.append(one)
        plain.append(other)
    reported = dataclasses.replace(
        bulk[1], violations=(Violation(3, "/zakLk01/object", "ontbreekt"),)
    )
    bulk[1] = reported
    plain[1] = dataclasses.replace(plain[1], violations=reported.violations)

    ids = _batch(
        journal,
        [
            RecordRouted(m, "r", plan, 1001.0)
            for m, plan in zip(bulk, plans, strict=True)
        ],
    )
    _alone(
        journal,
        [
            RecordRouted(m, "r", plan, 1001.0)
            for m, plan in zip(plain, plans, strict=True)
        ],
    )

    for one, other in zip(bulk, plain, strict=True):
        assert _shape(journal.get_message(one.id)) == _shape(
            journal.get_message(other.id)
        )
    for message, plan, delivery_ids in zip(bulk, plans, ids, strict=True):
        entry = journal.get_message(message.id)
        assert entry is not None
        by_id = {d.id: d for d in entry.deliveries}
        assert [(by_id[i].destination, by_id[i].mode) for i in delivery_ids] == [
            (p.destination, p.mode) for p in plan
        ]
    states = [journal.get_message(m.id).state for m in bulk]  # type: ignore[union-attr]
    assert states == ["routed", "routed", "delivered"]


def test_a_repeat_in_a_batch_fails_alone_with_the_first_ones_answer(
    journal: Journal, make_received: MakeReceived
) -> None:
    """A repeat of a message journaled before, and a repeat of one in the
    same batch, fail with DuplicateMessageError carrying the first answer;
    the others in the batch are stored."""
    earlier = make_received("ref-earlier", answer=b"<Bv03>earlier</Bv03>")
    _batch(journal, [RecordRouted(earlier, "r", (FORWARD,), 1001.0)])
    first = make_received("ref-twice", answer=b"<Bv03>first</Bv03>")
    again = make_received("ref-twice", answer=b"<Bv03>again</Bv03>")
    repeat = make_received("ref-earlier", answer=b"<Bv03>repeat</Bv03>")
    other = make_received("ref-other")

    outcomes = _batch(
        journal,
        [
            RecordRouted(m, "r", (FORWARD,), 1002.0)
            for m in (first, again, repeat, other)
        ],
    )

    assert isinstance(outcomes[1], DuplicateMessageError)
    assert outcomes[1].original.id == first.id
    assert outcomes[1].original.answer == b"<Bv03>first</Bv03>"
    assert isinstance(outcomes[2], DuplicateMessageError)
    assert outcomes[2].original.answer == b"<Bv03>earlier</Bv03>"
    assert all(
        isinstance(ids, list) and len(ids) == 1 for ids in (outcomes[0], outcomes[3])
    )
    assert {m.id for m in journal.list_messages()} == {earlier.id, first.id, other.id}


@pytest.mark.parametrize("count", [1, 13, 300])
def test_batches_of_any_size_are_stored_in_chunks(
    journal: Journal, make_received: MakeReceived, count: int
) -> None:
    """13 goes as 8 + 4 + 1 rows; 300 (more than a batch holds) as 256 + 32
    + 8 + 4; every message and delivery is there, each id once."""
    messages = [make_received(f"ref-{count}-{n}") for n in range(count)]

    ids = _batch(
        journal, [RecordRouted(m, "r", (FORWARD, TAP), 1001.0) for m in messages]
    )

    assert len(journal.list_messages(limit=1000)) == count
    flat = [delivery_id for pair in ids for delivery_id in pair]
    assert len(set(flat)) == 2 * count


def test_a_large_message_in_a_batch_is_stored_whole(
    journal: Journal, make_received: MakeReceived
) -> None:
    """A message over the blob limit goes alone (SQLite writes it through a
    blob handle) amid the others of its batch."""
    big = make_received(
        raw=b"<a>" + b"x" * (LARGE + 10) + b"</a>", answer=b"B" * (LARGE + 1)
    )
    small = make_received()

    _batch(journal, [RecordRouted(m, "r", (FORWARD,), 1001.0) for m in (small, big)])

    stored = journal.get_message(big.id)
    assert stored is not None
    assert stored.raw == big.raw and stored.answer == big.answer
    assert journal.get_message(small.id) is not None


def _routed(
    journal: Journal, message: ReceivedMessage, plan: tuple[PlannedDelivery, ...]
) -> list[int]:
    ids: list[int] = journal.write(RecordRouted(message, "r", plan, 1001.0))
    return ids


def test_delivered_attempts_are_recorded_as_the_plain_write_records_them(
    journal: Journal, make_received: MakeReceived
) -> None:
    """A publish delivery, and a request-reply delivery whose answer is kept,
    each beside a wiretap still open: the bulk batch leaves deliveries,
    attempts, answers and message states as the plain writes do."""
    bulk = _twins(make_received)
    plain = _twins(make_received)
    plan = (REPLY, TAP)
    bulk_ids = [_routed(journal, m, plan) for m in bulk]
    plain_ids = [_routed(journal, m, plan) for m in plain]

    def writes(
        messages: Sequence[ReceivedMessage], ids: list[list[int]]
    ) -> list[RecordDelivered]:
        return [
            RecordDelivered(ids[0][0], 1002.0, 1003.0, messages[0].id, b"<La01/>"),
            RecordDelivered(ids[1][1], 1002.5, 1004.0, messages[1].id),
        ]

    states = _batch(journal, writes(bulk, bulk_ids))
    plain_states = _alone(journal, writes(plain, plain_ids))

    assert states == plain_states == ["routed", "routed"]
    for one, other in zip(bulk, plain, strict=True):
        assert _shape(journal.get_message(one.id)) == _shape(
            journal.get_message(other.id)
        )
    entry = journal.get_message(bulk[0].id)
    assert (
        entry is not None and entry.answer == b"<La01/>" and entry.answered_at == 1003.0
    )


def test_a_message_is_delivered_once_every_delivery_is(
    journal: Journal, make_received: MakeReceived
) -> None:
    """Both deliveries of one message delivered in one batch: the message is
    delivered, stamped with the later of the two times."""
    message = make_received()
    ids = _routed(journal, message, (FORWARD, TAP))

    states = _batch(
        journal,
        [
            RecordDelivered(ids[1], 1002.0, 1005.0, message.id),
            RecordDelivered(ids[0], 1002.0, 1003.0, message.id),
        ],
    )

    assert states == ["delivered", "delivered"]
    entry = journal.get_message(message.id)
    assert entry is not None
    assert (entry.state, entry.updated_at) == ("delivered", 1005.0)
    assert [d.state for d in entry.deliveries] == ["delivered", "delivered"]
    assert all(d.attempts == 1 and len(d.history) == 1 for d in entry.deliveries)


def test_an_unknown_delivery_fails_alone(
    journal: Journal, make_received: MakeReceived
) -> None:
    message = make_received()
    ids = _routed(journal, message, (FORWARD,))

    outcomes = _batch(
        journal,
        [
            RecordDelivered(987654, 1002.0, 1003.0, "no-such-message"),
            RecordDelivered(ids[0], 1002.0, 1003.0, message.id),
        ],
    )

    assert isinstance(outcomes[0], UnknownMessageError)
    assert outcomes[1] == "delivered"


def test_bulk_writes_run_beside_plain_ones_and_survive_a_failing_one(
    journal: Journal, make_received: MakeReceived
) -> None:
    """Bulk and plain writes interleaved, one plain write raising: the batch
    is run again write by write, and every other write still commits."""
    earlier = make_received()
    ids = _routed(journal, earlier, (FORWARD,))
    routed = [make_received() for _ in range(3)]
    received = make_received()

    def plain(tx: Transaction) -> str:
        tx.record_received(received)
        return received.id

    def failing(tx: Transaction) -> None:
        raise RuntimeError("a bug in one write")

    outcomes = _batch(
        journal,
        [
            RecordRouted(routed[0], "r", (FORWARD,), 1001.0),
            plain,
            RecordDelivered(ids[0], 1002.0, 1003.0, earlier.id),
            failing,
            RecordRouted(routed[1], "r", (FORWARD,), 1001.0),
            RecordRouted(routed[2], "r", (), 1001.0),
        ],
    )

    assert isinstance(outcomes[3], RuntimeError)
    assert outcomes[1] == received.id and outcomes[2] == "delivered"
    assert [len(outcomes[i]) for i in (0, 4, 5)] == [1, 1, 0]
    stored = {m.id: m.state for m in journal.list_messages()}
    assert stored == {
        earlier.id: "delivered",
        received.id: "received",
        routed[0].id: "routed",
        routed[1].id: "routed",
        routed[2].id: "delivered",
    }
