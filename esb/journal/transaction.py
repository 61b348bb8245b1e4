"""The journal's writes, made inside one database transaction.

A :class:`Transaction` wraps a connection whose transaction someone else began
and will commit: the group-commit writer (many writes, one commit) or
:meth:`esb.journal.Journal.write` (one write, one commit). Its methods never
commit, so several of them, from several messages, land together or not at all.

Every method takes the time it should record (``now`` and friends) instead of
reading the clock, so the broker decides what "now" is and tests can too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from esb.journal import _blobs, _queries
from esb.journal._sql import MESSAGE_COLUMNS, Prepared, hot_statements
from esb.journal.errors import DuplicateMessageError, JournalError, UnknownMessageError
from esb.journal.records import (
    FINAL_STATES,
    OPEN_DELIVERY_STATES,
    DeliveryState,
    DueDelivery,
    MessageState,
    Outcome,
    PlannedDelivery,
    ReceivedMessage,
)
from esb.journal.schema import answers, deliveries, messages, payloads

# What an attempt's outcome makes of its delivery.
_DELIVERY_STATE_AFTER: dict[Outcome, DeliveryState] = {
    "ok": "delivered",
    "retry": "retrying",
    "dead": "dead",
}


def message_state_of(
    current: MessageState, delivery_states: Iterable[str]
) -> MessageState:
    """The state a message is in, given the states of its deliveries.

    A message is delivered when every delivery is, and dead when all have
    ended and one of them gave up. While any delivery is still open it is
    ``retrying`` if one of them failed before, else ``routed``. A message
    without deliveries keeps the state it has.
    """
    states = set(delivery_states)
    if not states:
        return current
    if states & set(OPEN_DELIVERY_STATES):
        return "retrying" if "retrying" in states else "routed"
    return "delivered" if states == {"delivered"} else "dead"


def message_row(
    message: ReceivedMessage, state: MessageState, route: str | None, now: float
) -> tuple[Any, ...]:
    """The values of ``message``'s row, in the order of ``MESSAGE_COLUMNS``."""
    zender, ontvanger = message.zender, message.ontvanger
    return (
        message.id,
        message.received_at,
        now,
        message.source,
        message.operation,
        message.berichtcode,
        zender.organisatie,
        zender.applicatie,
        ontvanger.organisatie,
        ontvanger.applicatie,
        message.referentienummer,
        message.soap_action,
        message.entiteittype,
        message.validation_mode,
        _queries.encode_violations(message.violations),
        state,
        route,
        None,
    )


class Transaction:
    """The journal's write operations on one connection inside a transaction.

    Thread-confined: use it only in the thread that was handed it, and only
    until the write it was handed to returns.

    The message path's statements (receive, route, attempt, answer, settle)
    run as precompiled SQL on the driver's cursor (see :mod:`._sql` for why);
    the rest as SQLAlchemy Core. Bytes and answers over 1 MiB are written
    through a blob handle on SQLite (see :mod:`._blobs`).
    """

    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection
        self._sql = hot_statements(connection.dialect)
        self._dbapi_error: type[Exception] = connection.dialect.loaded_dbapi.Error
        self._cursor: Any = None

    def _run(self, statement: Prepared, values: Mapping[str, Any]) -> list[Any]:
        """Execute a precompiled statement; return the rows it returned."""
        if self._cursor is None:
            self._cursor = self.connection.connection.cursor()
        try:
            self._cursor.execute(statement.sql, statement.bind(values))
            # Fetch everything, also for one row: SQLite keeps a statement
            # with RETURNING open until its rows are drained.
            return list(self._cursor.fetchall()) if self._cursor.description else []
        except self._dbapi_error as exc:
            raise JournalError(f"the journal could not write: {exc}") from exc

    # -- a message arrives ---------------------------------------------------

    def record_received(
        self, message: ReceivedMessage, *, state: MessageState = "received"
    ) -> None:
        """Store an accepted message, before anything acknowledges it.

        Raises :class:`DuplicateMessageError`, carrying the first message and
        its answer, when this zender sent this referentienummer before.
        """
        self._insert_message(message, state, None, message.received_at)

    def record_routed(
        self,
        message: ReceivedMessage,
        route: str,
        planned: Sequence[PlannedDelivery],
        *,
        now: float,
    ) -> list[int]:
        """:meth:`record_received` and :meth:`mark_routed` at once.

        For a broker that matches the route before journaling (routing is
        pure computation): one statement fewer than the two calls. Returns
        the deliveries' ids, in the order of ``planned``.
        """
        state: MessageState = "routed" if planned else "delivered"
        seq = self._insert_message(message, state, route, now)
        return self._insert_deliveries(seq, message.id, planned, now)

    def mark_routed(
        self,
        message_id: str,
        route: str,
        planned: Sequence[PlannedDelivery],
        *,
        now: float,
    ) -> list[int]:
        """Record the route taken and one delivery per destination.

        Returns the new deliveries' ids, in the order of ``planned``. A route
        with nothing to deliver leaves the message delivered at once.
        """
        state: MessageState = "routed" if planned else "delivered"
        routed = self._run(
            self._sql.route_message,
            {"b_id": message_id, "b_state": state, "b_route": route, "b_now": now},
        )
        if not routed:
            raise UnknownMessageError(f"no message {message_id} in the journal")
        return self._insert_deliveries(routed[0][0], message_id, planned, now)

    def add_deliveries(
        self,
        message_id: str,
        planned: Sequence[PlannedDelivery],
        *,
        now: float,
    ) -> list[int]:
        """Add deliveries to a message already routed (a dead-letter
        destination after a delivery died). Returns their ids.

        The message is open again until they end; once they have, it is
        delivered only if every delivery was, so a message that reached just
        its dead-letter destination stays dead.
        """
        seq = self._seq_of(message_id)
        ids = self._insert_deliveries(seq, message_id, planned, now)
        self._settle(seq, now=now)
        return ids

    def _insert_message(
        self,
        message: ReceivedMessage,
        state: MessageState,
        route: str | None,
        now: float,
    ) -> int:
        """Insert the message, its bytes and any answer; its ``seq``.

        Raises for a duplicate.
        """
        row = message_row(message, state, route, now)
        values = dict(zip(MESSAGE_COLUMNS, row, strict=True))
        both = self._sql.insert_message_and_payload
        if both is not None:
            inserted = self._run(both, {**values, "b_raw": message.raw})
        else:
            inserted = self._run(self._sql.insert_message, values)
            if inserted:
                self._insert_payload(int(inserted[0][0]), message.raw)
        if inserted:
            seq = int(inserted[0][0])
            if message.answer is not None:
                self._put_answer(seq, message.answer, message.received_at)
            return seq
        raise self.refusal(message)

    def refusal(self, message: ReceivedMessage) -> JournalError:
        """Why ``message`` was not stored when its INSERT ... ON CONFLICT DO
        NOTHING stored nothing: a duplicate (the unique zender and
        referentienummer index), or an id the journal holds already."""
        if message.referentienummer is not None:
            original = _queries.find_by_sender_ref(
                self.connection,
                message.zender.organisatie,
                message.zender.applicatie,
                message.referentienummer,
            )
            if original is not None:
                return DuplicateMessageError(original)
        return JournalError(f"message id {message.id} is already in the journal")

    def run_sql(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        """Execute SQL text of the journal's own (:mod:`._sql`) with
        positional parameters; the rows it returned."""
        if self._cursor is None:
            self._cursor = self.connection.connection.cursor()
        try:
            self._cursor.execute(sql, parameters)
            return list(self._cursor.fetchall()) if self._cursor.description else []
        except self._dbapi_error as exc:
            raise JournalError(f"the journal could not write: {exc}") from exc

    def _insert_deliveries(
        self,
        message_seq: int,
        message_id: str,
        planned: Sequence[PlannedDelivery],
        now: float,
    ) -> list[int]:
        delivery_ids = []
        for delivery in planned:
            rows = self._run(
                self._sql.insert_delivery,
                {
                    "message_seq": message_seq,
                    "message_id": message_id,
                    "destination": delivery.destination,
                    "mode": delivery.mode,
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": delivery.next_attempt_at,
                    "last_error": None,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            delivery_ids.append(int(rows[0][0]))
        return delivery_ids

    def large(self, data: bytes) -> bool:
        """Whether ``data`` goes through a blob handle (SQLite, over 1 MiB)."""
        return self._sql.blobs and len(data) > _blobs.LARGE

    def _fill(self, column: sa.Column[bytes], seq: int, data: bytes) -> None:
        try:
            _blobs.write(_blobs.driver_connection(self.connection), column, seq, data)
        except self._dbapi_error as exc:
            raise JournalError(f"the journal could not write: {exc}") from exc

    def _insert_payload(self, seq: int, raw: bytes) -> None:
        if self.large(raw):
            self._run(
                self._sql.insert_payload_zeroblob, {"b_seq": seq, "b_size": len(raw)}
            )
            self._fill(payloads.c.raw, seq, raw)
        else:
            self._run(self._sql.insert_payload, {"b_seq": seq, "b_raw": raw})

    def _put_answer(self, seq: int, answer: bytes, now: float) -> None:
        if self.large(answer):
            self._run(
                self._sql.put_answer_zeroblob,
                {"b_seq": seq, "b_now": now, "b_size": len(answer)},
            )
            self._fill(answers.c.answer, seq, answer)
        else:
            self._run(
                self._sql.put_answer, {"b_seq": seq, "b_now": now, "b_answer": answer}
            )

    def store_answer(self, message_id: str, answer: bytes, *, now: float) -> None:
        """Keep the answer given to the sender, to give it again to a duplicate.

        A message has one answer: storing another replaces it (INSERT ... ON
        CONFLICT DO UPDATE), so the last answer given is the one a duplicate
        gets. The broker stores one per request-reply message, after its
        delivery, fault or not; a publish message has its answer (the Bv03)
        from :meth:`record_received` on.
        """
        if self.large(answer):
            found = self._run(self._sql.message_seq, {"b_id": message_id})
            if found:
                self._put_answer(int(found[0][0]), answer, now)
            stored = bool(found)
        else:
            stored = bool(
                self._run(
                    self._sql.store_answer,
                    {"b_id": message_id, "b_now": now, "b_answer": answer},
                )
            )
        if not stored:
            raise UnknownMessageError(f"no message {message_id} in the journal")

    # -- deliveries ----------------------------------------------------------

    def record_attempt(
        self,
        delivery_id: int,
        *,
        started_at: float,
        ended_at: float,
        outcome: Outcome,
        error: str | None = None,
        answer: bytes | None = None,
        next_attempt_at: float | None = None,
    ) -> MessageState:
        """Record one attempt and move its delivery and message on.

        ``ok`` makes the delivery delivered, ``dead`` makes it dead, and
        ``retry`` makes it retrying, due again at ``next_attempt_at``.
        Returns the message's state afterwards (delivered or dead once every
        delivery has ended).
        """
        if outcome == "retry" and next_attempt_at is None:
            raise ValueError("a retry needs the time of the next attempt")
        rows = self._run(
            self._sql.end_attempt,
            {
                "b_id": delivery_id,
                "b_state": _DELIVERY_STATE_AFTER[outcome],
                "b_next": next_attempt_at if outcome == "retry" else None,
                "b_error": error,
                "b_now": ended_at,
            },
        )
        if not rows:
            raise UnknownMessageError(f"no delivery {delivery_id} in the journal")
        self._run(
            self._sql.insert_attempt,
            {
                "delivery_id": delivery_id,
                "started_at": started_at,
                "ended_at": ended_at,
                "outcome": outcome,
                "error": error,
                "answer": answer,
            },
        )
        return self._settle(rows[0][0], now=ended_at)

    def set_delivery_state(
        self,
        delivery_id: int,
        state: DeliveryState,
        *,
        now: float,
        next_attempt_at: float | None = None,
        error: str | None = None,
    ) -> MessageState:
        """Put a delivery in ``state`` without an attempt (an operator's act).

        An open state (pending, retrying) needs ``next_attempt_at``; an ended
        one clears it. Returns the message's state afterwards.
        """
        is_open = state in OPEN_DELIVERY_STATES
        if is_open and next_attempt_at is None:
            raise ValueError(f"a {state} delivery needs the time of its next attempt")
        values: dict[str, object] = {
            "state": state,
            "next_attempt_at": next_attempt_at if is_open else None,
            "updated_at": now,
        }
        if error is not None:
            values["last_error"] = error
        message_seq = self.connection.execute(
            sa.update(deliveries)
            .where(deliveries.c.id == delivery_id)
            .values(values)
            .returning(deliveries.c.message_seq)
        ).scalar()
        if message_seq is None:
            raise UnknownMessageError(f"no delivery {delivery_id} in the journal")
        return self._settle(message_seq, now=now)

    def settle_message(self, message_id: str, *, now: float) -> MessageState:
        """Bring a message's state in line with its deliveries' states."""
        return self._settle(self._seq_of(message_id), now=now)

    def _seq_of(self, message_id: str) -> int:
        seq = self.connection.execute(
            sa.select(messages.c.seq).where(messages.c.id == message_id)
        ).scalar()
        if seq is None:
            raise UnknownMessageError(f"no message {message_id} in the journal")
        return int(seq)

    def _settle(self, message_seq: int, *, now: float) -> MessageState:
        # On PostgreSQL the first statement locks the message row, so that
        # two broker processes ending two deliveries of one message cannot
        # both see the other's delivery still open: the second waits, and its
        # next statement (read committed) sees the first one's commit. SQLite
        # has one writer and reads everything in one statement.
        key = {"b_seq": message_seq}
        rows = self._run(self._sql.message_and_delivery_states, key)
        if not rows:
            raise UnknownMessageError(f"no message {message_seq} in the journal")
        current = rows[0][0]
        if self._sql.locks_rows:
            delivery_states = self._run(self._sql.delivery_states, key)
            states = [row[0] for row in delivery_states]
        else:
            states = [row[1] for row in rows if row[1] is not None]
        state = message_state_of(current, states)
        if state != current:
            self._run(
                self._sql.set_message_state,
                {"b_seq": message_seq, "b_state": state, "b_now": now},
            )
        return state

    def mark_dead(self, message_id: str, error: str, *, now: float) -> None:
        """Give up on a message as a whole (no route, a poison message).

        Its open deliveries end as dead too, so nothing retries it until an
        operator calls :meth:`reset_for_retry`.
        """
        message_seq = self.connection.execute(
            sa.update(messages)
            .where(messages.c.id == message_id)
            .values(state="dead", error=error, updated_at=now)
            .returning(messages.c.seq)
        ).scalar()
        if message_seq is None:
            raise UnknownMessageError(f"no message {message_id} in the journal")
        self.connection.execute(
            sa.update(deliveries)
            .where(
                deliveries.c.message_seq == message_seq,
                deliveries.c.state.in_(OPEN_DELIVERY_STATES),
            )
            .values(state="dead", next_attempt_at=None, updated_at=now)
        )

    def claim_due_per_destination(
        self,
        now: float,
        free: Mapping[str, tuple[int, float]],
        *,
        others: tuple[int, float] | None = None,
    ) -> list[DueDelivery]:
        """:meth:`claim_due` for each destination as far as it has room:
        ``free`` maps a destination to how many of its deliveries to take and
        until when; ``others`` says the same for deliveries to destinations
        ``free`` does not name (gone from the routes: their attempts fail and
        are journaled as such).

        A destination with a backlog then takes what it can start, and the
        rest stays due for the next poll, instead of being claimed and left
        until its time-out; and one destination's backlog never hides
        another's due deliveries.
        """
        claimed: list[DueDelivery] = []
        for destination, (limit, until) in free.items():
            if limit > 0:
                claimed += self._claim(now, limit, until, destination=destination)
        if others is not None and others[0] > 0:
            claimed += self._claim(now, others[0], others[1], excluding=list(free))
        return claimed

    def claim_due(self, now: float, limit: int, *, until: float) -> list[DueDelivery]:
        """Take the due deliveries for this process until ``until``.

        Like :meth:`esb.journal.Journal.due_deliveries`, but the deliveries
        returned are pushed to ``until`` (now plus the attempt's time-out)
        in the same transaction, so another poll, or another broker process
        sharing a PostgreSQL journal, does not take them too. If this process
        dies during the attempt, they become due again at ``until``.
        """
        return self._claim(now, limit, until)

    def _claim(
        self,
        now: float,
        limit: int,
        until: float,
        *,
        destination: str | None = None,
        excluding: Collection[str] = (),
    ) -> list[DueDelivery]:
        due = _queries.due_deliveries(
            self.connection,
            now,
            limit,
            lock=True,
            destination=destination,
            excluding=excluding,
        )
        if not due:
            return []
        self.connection.execute(
            sa.update(deliveries)
            .where(deliveries.c.id.in_([d.delivery.id for d in due]))
            .values(next_attempt_at=until)
        )
        return [
            dataclasses.replace(
                d, delivery=dataclasses.replace(d.delivery, next_attempt_at=until)
            )
            for d in due
        ]

    # -- operators -----------------------------------------------------------

    def reset_for_retry(self, message_id: str, *, now: float) -> int:
        """Make a dead message's dead deliveries retrying, due at ``now``.

        Returns how many deliveries will be tried again. A dead message that
        never got a delivery (it died before routing) goes back to received,
        for the broker to route again.
        """
        found = self.connection.execute(
            sa.select(messages.c.seq, messages.c.state).where(
                messages.c.id == message_id
            )
        ).first()
        if found is None:
            raise UnknownMessageError(f"no message {message_id} in the journal")
        message_seq, current = found
        reset = self.connection.execute(
            sa.update(deliveries)
            .where(
                deliveries.c.message_seq == message_seq,
                deliveries.c.state == "dead",
            )
            .values(state="retrying", next_attempt_at=now, updated_at=now)
        ).rowcount
        if reset:
            state: MessageState = "retrying"
        elif current == "dead" and not self._has_deliveries(message_seq):
            state = "received"
        else:
            return 0
        self.connection.execute(
            sa.update(messages)
            .where(messages.c.seq == message_seq)
            .values(state=state, error=None, updated_at=now)
        )
        return int(reset)

    def _has_deliveries(self, message_seq: int) -> bool:
        first = self.connection.execute(
            sa.select(deliveries.c.id)
            .where(deliveries.c.message_seq == message_seq)
            .limit(1)
        ).first()
        return first is not None

    def purge(
        self,
        older_than: float,
        states: Sequence[MessageState] = FINAL_STATES,
        *,
        limit: int = 1000,
    ) -> int:
        """Delete at most ``limit`` messages in ``states`` unchanged since
        ``older_than``, with their deliveries and attempts. Returns how many.

        Bounded so that one purge never holds the writer for long; call it
        again while it returns ``limit``.
        """
        unknown = set(states) - set(FINAL_STATES)
        if unknown:
            # Purging an open message would lose an acknowledged message.
            raise ValueError(f"only finished messages can be purged, not {unknown}")
        doomed = (
            sa.select(messages.c.seq)
            .where(messages.c.state.in_(states), messages.c.updated_at < older_than)
            .limit(limit)
        )
        # Payloads, answers, deliveries and attempts go by ON DELETE CASCADE
        # (the SQLite journal's connections turn foreign keys on).
        result = self.connection.execute(
            sa.delete(messages).where(messages.c.seq.in_(doomed))
        )
        return int(result.rowcount)
