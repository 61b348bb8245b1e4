"""The message path's two writes, many to a statement.

Every message costs the journal two writes: :class:`RecordRouted` (the message, its
bytes, its answer if it has one, and its deliveries, before the sender is
answered) and, once a destination took it, :class:`RecordDelivered` (the attempt,
the delivery and message states, and the answer kept for a repeat). One by
one they cost about ten statements a message, and every statement passes the
GIL twice: the sqlite3 and psycopg drivers let go of it around the
database's own work and must take it back afterwards, from a reactor thread
that holds it whenever it runs Python. The writer then waits for the reactor
at every statement, and the reactor for the writer. (Measured: a journal
writer beside one busy Python thread stored 32 messages a second with a
statement per row, and 228 with a statement per batch.)

So the group-commit writer hands all writes of one of these kinds in a batch
to the kind's :meth:`BulkWrite.run_many`, which stores them with one
multi-row statement per table and step: about six statements a batch instead
of ten a message. Each is a plain write as well (``write(tx)`` stores it
alone, with the same result), which is what the writer falls back to when it
runs a batch again write by write.

The writer may run a kind's writes together at the place of the first of
them because the writes of one batch are independent: whoever submits a
write that depends on another waits for the other's Deferred first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from esb.journal._sql import BulkStatements, bulk_statements, chunks
from esb.journal.errors import DuplicateMessageError, UnknownMessageError
from esb.journal.records import (
    MessageState,
    PlannedDelivery,
    ReceivedMessage,
)
from esb.journal.transaction import Transaction, message_row, message_state_of

T = TypeVar("T")

Result = tuple[bool, Any]
"""What one write came to: ``(True, its result)`` or ``(False, the error)``."""


class BulkWrite(Generic[T]):
    """A write the group-commit writer may run together with others of its
    kind.

    ``run_many`` stores every write it is given and returns one
    :data:`Result` each, in order. A write it reports as failed must have
    stored nothing (a duplicate, an unknown delivery), so the others commit;
    anything else that goes wrong it raises, and the writer runs the batch
    again write by write.
    """

    __slots__ = ()

    def __call__(self, tx: Transaction) -> T:
        raise NotImplementedError

    @classmethod
    def run_many(cls, tx: Transaction, writes: Sequence[Any]) -> list[Result]:
        raise NotImplementedError


def _run(tx: Transaction, statement: Any, rows: Sequence[Sequence[Any]]) -> list[Any]:
    """Run a multi-row statement over ``rows``, chunk by chunk; every row
    the chunks returned."""
    returned: list[Any] = []
    for start, size in chunks(len(rows)):
        parameters = [value for row in rows[start : start + size] for value in row]
        returned += tx.run_sql(statement(size), parameters)
    return returned


@dataclass(frozen=True, slots=True)
class RecordRouted(BulkWrite[list[int]]):
    """A message, routed: :meth:`Transaction.record_routed` as a bulk write.

    Fires with the ids of its deliveries, in the order of ``planned``; fails
    with :class:`DuplicateMessageError` for a repeat.
    """

    received: ReceivedMessage
    route: str
    planned: tuple[PlannedDelivery, ...]
    now: float

    def __call__(self, tx: Transaction) -> list[int]:
        return tx.record_routed(self.received, self.route, self.planned, now=self.now)

    @classmethod
    def run_many(cls, tx: Transaction, writes: Sequence[RecordRouted]) -> list[Result]:
        sql = bulk_statements(tx.connection.dialect)
        results: list[Result | None] = [None] * len(writes)

        # Messages too large for one statement's parameters (SQLite keeps
        # those in blobs) go alone.
        together: list[int] = []
        for index, write in enumerate(writes):
            received = write.received
            if tx.large(received.raw) or (
                received.answer is not None and tx.large(received.answer)
            ):
                results[index] = _alone(write, tx)
            else:
                together.append(index)

        stored = {
            message_id: int(seq)
            for seq, message_id in _run(
                tx,
                sql.insert_messages,
                [
                    message_row(
                        writes[i].received,
                        "routed" if writes[i].planned else "delivered",
                        writes[i].route,
                        writes[i].now,
                    )
                    for i in together
                ],
            )
        }
        kept = [
            (stored[write.received.id], write)
            for write in (writes[i] for i in together)
            if write.received.id in stored
        ]
        _run(
            tx,
            sql.insert_payloads,
            [(seq, write.received.raw) for seq, write in kept],
        )
        _run(
            tx,
            sql.put_answers,
            [
                (seq, write.received.received_at, write.received.answer)
                for seq, write in kept
                if write.received.answer is not None
            ],
        )
        ids = _insert_deliveries(tx, sql, kept)

        for i in together:
            write = writes[i]
            seq = stored.get(write.received.id)
            if seq is None:
                # Not stored: a duplicate, or an id the journal has. Asked
                # only now, so a repeat within this batch finds the first
                # one's answer.
                results[i] = (False, tx.refusal(write.received))
                continue
            results[i] = (
                True,
                [ids[(seq, p.destination, p.mode)].pop(0) for p in write.planned],
            )
        return _filled(results)


def _filled(results: list[Result | None]) -> list[Result]:
    complete = [result for result in results if result is not None]
    assert len(complete) == len(results), "a bulk write without a result"
    return complete


def _alone(write: BulkWrite[Any], tx: Transaction) -> Result:
    try:
        return (True, write(tx))
    except (DuplicateMessageError, UnknownMessageError) as exc:
        return (False, exc)


def _insert_deliveries(
    tx: Transaction, sql: BulkStatements, routed: Sequence[tuple[int, RecordRouted]]
) -> dict[tuple[int, str, str], list[int]]:
    """Insert the deliveries of routed messages; their ids by message seq,
    destination and mode, lowest first.

    RETURNING gives no order, so ids are matched by what identifies a
    planned delivery; two deliveries of one message to one destination in
    one mode are planned alike, and either id serves either.
    """
    rows = [
        (
            seq,
            write.received.id,
            planned.destination,
            planned.mode,
            "pending",
            0,
            planned.next_attempt_at,
            None,
            write.now,
            write.now,
        )
        for seq, write in routed
        for planned in write.planned
    ]
    ids: dict[tuple[int, str, str], list[int]] = {}
    for delivery_id, seq, destination, mode in _run(tx, sql.insert_deliveries, rows):
        ids.setdefault((int(seq), destination, mode), []).append(int(delivery_id))
    for found in ids.values():
        found.sort()
    return ids


@dataclass(frozen=True, slots=True)
class RecordDelivered(BulkWrite[MessageState]):
    """An attempt that delivered: :meth:`Transaction.record_attempt` with
    outcome ``ok`` as a bulk write, and, for a request-reply delivery,
    :meth:`Transaction.store_answer` with the destination's ``answer``.

    Fires with the message's state afterwards; fails with
    :class:`UnknownMessageError` for a delivery the journal does not have.
    """

    delivery_id: int
    started_at: float
    ended_at: float
    message_id: str
    answer: bytes | None = None

    def __call__(self, tx: Transaction) -> MessageState:
        state = tx.record_attempt(
            self.delivery_id,
            started_at=self.started_at,
            ended_at=self.ended_at,
            outcome="ok",
        )
        if self.answer is not None:
            tx.store_answer(self.message_id, self.answer, now=self.ended_at)
        return state

    @classmethod
    def run_many(
        cls, tx: Transaction, writes: Sequence[RecordDelivered]
    ) -> list[Result]:
        sql = bulk_statements(tx.connection.dialect)
        results: list[Result | None] = [None] * len(writes)
        together: list[int] = []
        for index, write in enumerate(writes):
            if write.answer is not None and tx.large(write.answer):
                results[index] = _alone(write, tx)
            else:
                together.append(index)

        # The deliveries: delivered, one attempt more.
        seq_of = {
            int(delivery_id): int(seq)
            for delivery_id, seq in _run(
                tx,
                sql.deliver,
                [(writes[i].delivery_id, writes[i].ended_at) for i in together],
            )
        }
        found = [i for i in together if writes[i].delivery_id in seq_of]
        for i in together:
            if writes[i].delivery_id not in seq_of:
                results[i] = (
                    False,
                    UnknownMessageError(
                        f"no delivery {writes[i].delivery_id} in the journal"
                    ),
                )
        _run(
            tx,
            sql.insert_attempts,
            [
                (w.delivery_id, w.started_at, w.ended_at, "ok", None, None)
                for w in (writes[i] for i in found)
            ],
        )

        # The answers kept for a repeat; the last one given counts.
        answers = {
            seq_of[w.delivery_id]: (w.ended_at, w.answer)
            for w in (writes[i] for i in found)
            if w.answer is not None
        }
        _run(
            tx,
            sql.put_answers,
            [(seq, now, answer) for seq, (now, answer) in answers.items()],
        )

        # The messages, in line with their deliveries.
        latest: dict[int, float] = {}
        for i in found:
            seq = seq_of[writes[i].delivery_id]
            latest[seq] = max(latest.get(seq, 0.0), writes[i].ended_at)
        states = _settle(tx, sql, latest)
        for i in found:
            results[i] = (True, states[seq_of[writes[i].delivery_id]])
        return _filled(results)


def _settle(
    tx: Transaction, sql: BulkStatements, latest: dict[int, float]
) -> dict[int, MessageState]:
    """Bring messages' states in line with their deliveries'
    (:func:`message_state_of`); ``latest`` is when, per message seq. Their
    states afterwards."""
    seqs = sorted(latest)
    current: dict[int, MessageState] = {}
    delivery_states: dict[int, list[str]] = {seq: [] for seq in seqs}
    if sql.locks_rows:
        for seq, state in _run(tx, sql.states, [(seq,) for seq in seqs]):
            current[int(seq)] = state
        for seq, state in _run(tx, sql.delivery_states, [(seq,) for seq in seqs]):
            delivery_states[int(seq)].append(state)
    else:
        for seq, state, delivery_state in _run(
            tx, sql.states, [(seq,) for seq in seqs]
        ):
            current[int(seq)] = state
            if delivery_state is not None:
                delivery_states[int(seq)].append(delivery_state)

    after = {
        seq: message_state_of(current[seq], delivery_states[seq]) for seq in current
    }
    _run(
        tx,
        sql.set_states,
        [
            (seq, state, latest[seq])
            for seq, state in after.items()
            if state != current[seq]
        ],
    )
    return after
