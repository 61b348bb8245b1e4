"""The journal's reads, as functions of an open connection.

Both :class:`~esb.journal.Journal` (on a pooled connection of its own) and
:class:`~esb.journal.Transaction` (inside the writer's transaction) read
through these, and they turn rows into the records of
:mod:`esb.journal.records` here, so no row leaves the package. A message's
bytes and answer come from their own tables; on SQLite those over 1 MiB are
read through a blob handle (see :mod:`._blobs`), copied once instead of twice.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from typing import Any, cast

import sqlalchemy as sa

from esb.errors import Violation
from esb.journal import _blobs
from esb.journal.records import (
    OPEN_DELIVERY_STATES,
    AttemptRecord,
    DeliveryMode,
    DeliveryRecord,
    DeliveryState,
    DueDelivery,
    JournalEntry,
    MessageState,
    MessageSummary,
    Outcome,
)
from esb.journal.schema import answers, attempts, deliveries, messages, payloads
from esb.message import Party, ValidationMode

# Everything of a message but its bytes (which live in tables of their own):
# what listings read.
_SUMMARY_COLUMNS = [column for column in messages.c if column.name != "seq"]


def encode_violations(violations: Iterable[Violation]) -> str:
    return json.dumps(
        [{"line": v.line, "path": v.path, "rule": v.rule} for v in violations],
        ensure_ascii=False,
    )


def decode_violations(text: str) -> tuple[Violation, ...]:
    return tuple(
        Violation(line=item["line"], path=item["path"], rule=item["rule"])
        for item in json.loads(text)
    )


def _summary_fields(row: sa.Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "received_at": row.received_at,
        "updated_at": row.updated_at,
        "source": row.source,
        "operation": row.operation,
        "berichtcode": row.berichtcode,
        "zender": Party(
            organisatie=row.zender_organisatie, applicatie=row.zender_applicatie
        ),
        "ontvanger": Party(
            organisatie=row.ontvanger_organisatie,
            applicatie=row.ontvanger_applicatie,
        ),
        "referentienummer": row.referentienummer,
        "soap_action": row.soap_action,
        "entiteittype": row.entiteittype,
        "validation_mode": cast("ValidationMode | None", row.validation_mode),
        "violations": decode_violations(row.violations),
        "state": cast(MessageState, row.state),
        "route": row.route,
        "error": row.error,
    }


def to_summary(row: sa.Row[Any]) -> MessageSummary:
    return MessageSummary(**_summary_fields(row))


def to_attempt(row: sa.Row[Any]) -> AttemptRecord:
    return AttemptRecord(
        id=row.id,
        delivery_id=row.delivery_id,
        started_at=row.started_at,
        ended_at=row.ended_at,
        outcome=cast(Outcome, row.outcome),
        error=row.error,
        answer=row.answer,
    )


def to_delivery(
    row: sa.Row[Any], history: Sequence[AttemptRecord] = ()
) -> DeliveryRecord:
    return DeliveryRecord(
        id=row.id,
        message_id=row.message_id,
        destination=row.destination,
        mode=cast(DeliveryMode, row.mode),
        state=cast(DeliveryState, row.state),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        history=tuple(history),
    )


def _selected(
    connection: sa.Connection, column: sa.Column[bytes]
) -> sa.ColumnElement[bytes] | sa.ColumnElement[bytes | None]:
    """What a query selects of a bytes column: on SQLite, large values as
    NULL, for :func:`_whole` to read through a blob handle."""
    if connection.dialect.name == "sqlite":
        return _blobs.small_or_null(column)
    return column


def _whole(
    connection: sa.Connection,
    column: sa.Column[bytes],
    seq: int,
    selected: bytes | None,
) -> bytes:
    """The value of a bytes column (not NULL) of message ``seq``, given what
    :func:`_selected` gave for it."""
    if selected is not None:
        return selected
    return _blobs.read(_blobs.driver_connection(connection), column, seq)


def load_entry(connection: sa.Connection, message_id: str) -> JournalEntry | None:
    """A message with its bytes, answer, deliveries and attempts, or ``None``."""
    row = connection.execute(
        sa.select(
            messages,
            _selected(connection, payloads.c.raw),
            answers.c.answered_at,
            _selected(connection, answers.c.answer),
        )
        .select_from(
            messages.join(payloads, payloads.c.message_seq == messages.c.seq).outerjoin(
                answers, answers.c.message_seq == messages.c.seq
            )
        )
        .where(messages.c.id == message_id)
    ).first()
    if row is None:
        return None
    # answered_at is NOT NULL in journal_answers: set exactly when the
    # message has an answer.
    answer = (
        None
        if row.answered_at is None
        else _whole(connection, answers.c.answer, row.seq, row.answer)
    )
    delivery_rows = connection.execute(
        sa.select(deliveries)
        .where(deliveries.c.message_seq == row.seq)
        .order_by(deliveries.c.id)
    ).all()
    history: dict[int, list[AttemptRecord]] = {d.id: [] for d in delivery_rows}
    attempt_rows = connection.execute(
        sa.select(attempts)
        .join(deliveries, attempts.c.delivery_id == deliveries.c.id)
        .where(deliveries.c.message_seq == row.seq)
        .order_by(attempts.c.id)
    ).all()
    for attempt_row in attempt_rows:
        history[attempt_row.delivery_id].append(to_attempt(attempt_row))
    return JournalEntry(
        **_summary_fields(row),
        raw=_whole(connection, payloads.c.raw, row.seq, row.raw),
        answer=answer,
        answered_at=row.answered_at,
        deliveries=tuple(to_delivery(d, history[d.id]) for d in delivery_rows),
    )


def sender_ref_clause(
    organisatie: str | None, applicatie: str | None, referentienummer: str
) -> sa.ColumnElement[bool]:
    """The condition the unique zender/referentienummer index answers."""
    # Written exactly like the index expressions, so the database uses it.
    return sa.and_(
        sa.func.coalesce(messages.c.zender_organisatie, "") == (organisatie or ""),
        sa.func.coalesce(messages.c.zender_applicatie, "") == (applicatie or ""),
        messages.c.referentienummer == referentienummer,
    )


def find_by_sender_ref(
    connection: sa.Connection,
    organisatie: str | None,
    applicatie: str | None,
    referentienummer: str,
) -> JournalEntry | None:
    message_id = connection.execute(
        sa.select(messages.c.id).where(
            sender_ref_clause(organisatie, applicatie, referentienummer)
        )
    ).scalar()
    return None if message_id is None else load_entry(connection, message_id)


def due_deliveries(
    connection: sa.Connection,
    now: float,
    limit: int,
    *,
    lock: bool = False,
    destination: str | None = None,
    excluding: Collection[str] = (),
) -> list[DueDelivery]:
    """Open deliveries due at ``now``, the longest waiting first; only those
    to ``destination`` if given, and none to the destinations ``excluding``
    names.

    Ordering by ``next_attempt_at`` is what keeps one bad message from
    starving the others: a delivery that fails is given a later
    ``next_attempt_at`` and so goes to the back. With ``lock`` the rows are
    locked for the caller's transaction, skipping rows another broker process
    holds (PostgreSQL; SQLite has one writer and ignores it).
    """
    query = (
        sa.select(
            deliveries,
            messages.c.route,
            messages.c.source,
            messages.c.soap_action,
            messages.c.operation,
            _selected(connection, payloads.c.raw),
        )
        .join(messages, deliveries.c.message_seq == messages.c.seq)
        .join(payloads, payloads.c.message_seq == messages.c.seq)
        .where(
            deliveries.c.next_attempt_at <= now,
            deliveries.c.state.in_(OPEN_DELIVERY_STATES),
        )
        .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
        .limit(limit)
    )
    if destination is not None:
        query = query.where(deliveries.c.destination == destination)
    if excluding:
        query = query.where(deliveries.c.destination.not_in(list(excluding)))
    if lock:
        query = query.with_for_update(skip_locked=True, of=deliveries)
    return [
        DueDelivery(
            delivery=to_delivery(row),
            route=row.route,
            source=row.source,
            soap_action=row.soap_action,
            operation=row.operation,
            raw=_whole(connection, payloads.c.raw, row.message_seq, row.raw),
        )
        for row in connection.execute(query).all()
    ]


def pending_count(connection: sa.Connection) -> int:
    count = connection.execute(
        sa.select(sa.func.count()).where(deliveries.c.state.in_(OPEN_DELIVERY_STATES))
    ).scalar_one()
    return int(count)


def count_by_state(connection: sa.Connection) -> dict[MessageState, int]:
    rows = connection.execute(
        sa.select(messages.c.state, sa.func.count()).group_by(messages.c.state)
    )
    return {cast(MessageState, state): int(count) for state, count in rows}


def list_messages(
    connection: sa.Connection,
    *,
    state: MessageState | None,
    route: str | None,
    operation: str | None,
    zender: Party | None,
    since: float | None,
    until: float | None,
    limit: int,
) -> list[MessageSummary]:
    """Messages matching every filter given, the newest first."""
    query = sa.select(*_SUMMARY_COLUMNS)
    if state is not None:
        query = query.where(messages.c.state == state)
    if route is not None:
        query = query.where(messages.c.route == route)
    if operation is not None:
        query = query.where(messages.c.operation == operation)
    if zender is not None and zender.organisatie is not None:
        query = query.where(messages.c.zender_organisatie == zender.organisatie)
    if zender is not None and zender.applicatie is not None:
        query = query.where(messages.c.zender_applicatie == zender.applicatie)
    if since is not None:
        query = query.where(messages.c.received_at >= since)
    if until is not None:
        query = query.where(messages.c.received_at < until)
    query = query.order_by(messages.c.received_at.desc(), messages.c.id).limit(limit)
    return [to_summary(row) for row in connection.execute(query)]
