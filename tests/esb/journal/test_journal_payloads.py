"""A message's bytes and answer: their own tables, any size, on both databases.

Payloads and answers over 1 MiB take another path on SQLite (a zeroblob
filled and read through a blob handle), so the sizes here sit on both sides
of that line, and the bytes are random so that a chunk written at the wrong
offset cannot go unnoticed.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from esb.journal import (
    DuplicateMessageError,
    Journal,
    PlannedDelivery,
    ReceivedMessage,
    Transaction,
    UnknownMessageError,
)
from esb.journal._blobs import CHUNK, LARGE
from esb.journal.schema import answers, messages, payloads

MakeReceived = Callable[..., ReceivedMessage]

MB = 1_000_000


def _bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _routed(journal: Journal, message: ReceivedMessage, due: float = 1000.0) -> int:
    planned = [PlannedDelivery("zaakregister", "request-reply", due)]
    [delivery_id] = journal.write(
        lambda tx: tx.record_routed(message, "zds", planned, now=1000.0)
    )
    return delivery_id


def _rows(journal: Journal, table: sa.Table) -> int:
    with journal.engine.connect() as connection:
        return int(
            connection.execute(sa.select(sa.func.count()).select_from(table)).scalar()
            or 0
        )


def test_a_20_mb_message_and_its_answer_come_back_byte_identical(
    journal: Journal, make_received: MakeReceived
) -> None:
    """A 20 MB message (a document in a voegZaakdocumentToe) and a 3 MB answer
    read back exactly, wherever they are read: the message itself, a due
    delivery, a claimed one, and a duplicate's original."""
    raw = _bytes(20 * MB, 1)
    answer = _bytes(3 * MB + 17, 2)
    message = make_received("ref-large", raw=raw)
    delivery_id = _routed(journal, message)

    journal.write(lambda tx: tx.store_answer(message.id, answer, now=1001.0))

    entry = journal.get_message(message.id)
    assert entry is not None
    assert (len(entry.raw), entry.raw == raw) == (len(raw), True)
    assert (entry.answer == answer, entry.answered_at) == (True, 1001.0)
    [due] = journal.due_deliveries(now=1000.0)
    assert (due.delivery.id, due.raw == raw) == (delivery_id, True)
    [claimed] = journal.write(lambda tx: tx.claim_due(1000.0, 10, until=1030.0))
    assert claimed.raw == raw
    with pytest.raises(DuplicateMessageError) as raised:
        journal.write(lambda tx: tx.record_received(make_received("ref-large")))
    assert raised.value.original.raw == raw
    assert raised.value.original.answer == answer


@pytest.mark.parametrize(
    "size", [0, 1, LARGE - 1, LARGE, LARGE + 1, 2 * CHUNK, 2 * CHUNK + 1]
)
def test_payloads_round_trip_at_every_size_around_the_blob_threshold(
    journal: Journal, make_received: MakeReceived, size: int
) -> None:
    """Empty, small, at and around 1 MiB and whole chunks: each comes back as
    it went in, as bytes and as the answer given on receipt."""
    raw = _bytes(size, size)
    answer = _bytes(size, size + 1)
    message = make_received(raw=raw, answer=answer)

    _routed(journal, message)

    entry = journal.get_message(message.id)
    assert entry is not None
    assert (entry.raw == raw, entry.answer == answer) == (True, True)
    assert entry.answered_at == message.received_at


def test_a_message_without_an_answer_has_none(
    journal: Journal, make_received: MakeReceived
) -> None:
    """No answer stored: answer and answered_at are None, and no answer row."""
    message = make_received()
    _routed(journal, message)

    entry = journal.get_message(message.id)

    assert entry is not None and (entry.answer, entry.answered_at) == (None, None)
    assert _rows(journal, answers) == 0


@pytest.mark.parametrize("sizes", [(10, 20), (3 * MB, 2 * MB), (10, 3 * MB)])
def test_a_second_answer_replaces_the_first(
    journal: Journal, make_received: MakeReceived, sizes: tuple[int, int]
) -> None:
    """store_answer twice for one message keeps the last answer and its time,
    in one row, whatever the sizes; a duplicate gets that one."""
    first, second = (_bytes(size, n) for n, size in enumerate(sizes))
    message = make_received("ref-twice")
    _routed(journal, message)

    journal.write(lambda tx: tx.store_answer(message.id, first, now=1001.0))
    journal.write(lambda tx: tx.store_answer(message.id, second, now=1002.0))

    entry = journal.get_message(message.id)
    assert entry is not None
    assert (entry.answer == second, entry.answered_at) == (True, 1002.0)
    assert _rows(journal, answers) == 1
    with pytest.raises(DuplicateMessageError) as raised:
        journal.write(lambda tx: tx.record_received(make_received("ref-twice")))
    assert raised.value.original.answer == second


@pytest.mark.parametrize("size", [10, 2 * MB])
def test_an_answer_for_an_unknown_message_is_refused(
    journal: Journal, size: int
) -> None:
    """store_answer on an id that is not journaled raises and stores nothing."""
    with pytest.raises(UnknownMessageError):
        journal.write(lambda tx: tx.store_answer("missing", b"x" * size, now=1.0))

    assert _rows(journal, answers) == 0


def test_a_state_change_leaves_the_bytes_alone(
    journal: Journal, make_received: MakeReceived
) -> None:
    """Attempts, retries and a dead letter change the message's row only:
    its bytes and answer stay as stored."""
    raw = _bytes(2 * MB, 7)
    message = make_received("ref-states", raw=raw)
    delivery_id = _routed(journal, message)
    journal.write(lambda tx: tx.store_answer(message.id, b"<Fo02/>", now=1001.0))
    journal.write(
        lambda tx: tx.record_attempt(
            delivery_id,
            started_at=1001.0,
            ended_at=1002.0,
            outcome="dead",
            error="gone",
        )
    )
    journal.reset_for_retry(message.id, now=1003.0)

    entry = journal.get_message(message.id)
    assert entry is not None and entry.state == "retrying"
    assert (entry.raw == raw, entry.answer) == (True, b"<Fo02/>")


def test_purging_a_message_deletes_its_bytes_and_answer(
    journal: Journal, make_received: MakeReceived
) -> None:
    """The payload and answer rows of purged messages go with them (ON DELETE
    CASCADE); those of the messages kept stay."""
    purged = make_received(raw=_bytes(2 * MB, 3), answer=b"<Bv03/>")
    kept = make_received(raw=b"<kept/>", answer=b"<Bv03/>")
    journal.write(lambda tx: tx.record_received(purged, state="delivered"))
    journal.write(lambda tx: tx.record_received(kept, state="routed"))

    assert journal.purge(older_than=5000.0) == 1

    assert (_rows(journal, payloads), _rows(journal, answers)) == (1, 1)
    entry = journal.get_message(kept.id)
    assert entry is not None and (entry.raw, entry.answer) == (b"<kept/>", b"<Bv03/>")


def test_a_failed_write_leaves_no_bytes_behind(
    journal: Journal, make_received: MakeReceived
) -> None:
    """A write that stored a large message and then failed is rolled back
    whole: no message, no payload."""
    message = make_received(raw=_bytes(3 * MB, 4))

    def fails(tx: Transaction) -> None:
        tx.record_received(message)
        raise RuntimeError("fails after storing")

    with pytest.raises(RuntimeError):
        journal.write(fails)

    assert journal.get_message(message.id) is None
    assert (_rows(journal, messages), _rows(journal, payloads)) == (0, 0)


def test_the_message_row_holds_no_bytes(journal: Journal) -> None:
    """journal_messages has no raw, answer or answered_at column any more."""
    with journal.engine.connect() as connection:
        columns = {c["name"] for c in sa.inspect(connection).get_columns(messages.name)}

    assert not columns & {"raw", "answer", "answered_at"}
