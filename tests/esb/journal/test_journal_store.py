"""The journal's store: what goes in comes out, on SQLite and PostgreSQL.

Every test here runs twice through the ``journal`` fixture: on a SQLite file
and on a fresh PostgreSQL schema. Times are given explicitly; no clock is read.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import pytest

from esb.errors import Violation
from esb.journal import (
    DuplicateMessageError,
    Journal,
    JournalError,
    PlannedDelivery,
    ReceivedMessage,
    Retention,
    Transaction,
    UnknownMessageError,
)
from esb.message import Party

MakeReceived = Callable[..., ReceivedMessage]


def _store(
    journal: Journal,
    message: ReceivedMessage,
    destinations: tuple[str, ...] = ("zaakregister",),
    *,
    due: float = 1000.0,
) -> list[int]:
    """Journal ``message`` as received and routed, the way the broker does."""
    planned = [PlannedDelivery(name, "request-reply", due) for name in destinations]

    def store(tx: Transaction) -> list[int]:
        tx.record_received(message)
        return tx.mark_routed(message.id, "zds", planned, now=message.received_at)

    return journal.write(store)


def _attempt(
    journal: Journal,
    delivery_id: int,
    outcome: str,
    at: float,
    *,
    retry_at: float | None = None,
    error: str | None = None,
    answer: bytes | None = None,
) -> str:
    return journal.write(
        lambda tx: tx.record_attempt(
            delivery_id,
            started_at=at,
            ended_at=at + 0.5,
            outcome=outcome,  # type: ignore[arg-type]
            error=error,
            answer=answer,
            next_attempt_at=retry_at,
        )
    )


def test_a_message_reads_back_as_it_was_recorded(
    journal: Journal, make_received: MakeReceived, creeer_zaak: bytes
) -> None:
    """Raw bytes, stuurgegevens, validation report, route and deliveries come
    back from the journal as they were recorded."""
    message = dataclasses.replace(
        make_received("ref-1", raw=creeer_zaak),
        validation_mode="report",
        violations=(
            Violation(12, "/creeerZaak_Lk01/object/omschrijving", "too long"),
            Violation(None, "/creeerZaak_Lk01", "startdatum is missing"),
        ),
    )

    _store(journal, message, ("zaakregister", "archief"), due=1001.0)
    entry = journal.get_message(message.id)

    assert entry is not None
    assert entry.raw == creeer_zaak
    assert (entry.received_at, entry.source) == (1000.0, "soap")
    assert (entry.operation, entry.berichtcode) == ("creeerZaak", "Lk01")
    assert entry.zender == Party("0392", "ZSH")
    assert entry.ontvanger == Party("0392", "EMO")
    assert entry.referentienummer == "ref-1"
    assert entry.soap_action == message.soap_action
    assert entry.entiteittype == "ZAK"
    assert entry.validation_mode == "report"
    assert entry.violations == message.violations
    assert (entry.state, entry.route, entry.answer) == ("routed", "zds", None)
    assert [
        (d.destination, d.mode, d.state, d.attempts, d.next_attempt_at)
        for d in entry.deliveries
    ] == [
        ("zaakregister", "request-reply", "pending", 0, 1001.0),
        ("archief", "request-reply", "pending", 0, 1001.0),
    ]


def test_an_unknown_message_reads_as_none(journal: Journal) -> None:
    """Asking for a message that was never journaled gives None, not an error."""
    assert journal.get_message("no-such-message") is None


def test_a_route_without_destinations_leaves_the_message_delivered(
    journal: Journal, make_received: MakeReceived
) -> None:
    """A message whose route delivers nowhere has nothing left to do."""
    message = make_received()

    assert _store(journal, message, ()) == []

    entry = journal.get_message(message.id)
    assert entry is not None and entry.state == "delivered"


def test_routing_an_unknown_message_fails(journal: Journal) -> None:
    """mark_routed on an id that is not journaled raises UnknownMessageError."""
    with pytest.raises(UnknownMessageError):
        journal.write(lambda tx: tx.mark_routed("missing", "zds", [], now=1.0))


def test_the_same_zender_and_referentienummer_is_a_duplicate(
    journal: Journal, make_received: MakeReceived
) -> None:
    """A second message with the zender and referentienummer of an earlier one
    is refused with the earlier one and its stored answer, and is not stored."""
    first = make_received("ref-dup")
    _store(journal, first)
    journal.write(lambda tx: tx.store_answer(first.id, b"<Bv03/>", now=1002.0))
    again = make_received("ref-dup", received_at=2000.0)

    with pytest.raises(DuplicateMessageError) as raised:
        journal.write(lambda tx: tx.record_received(again))

    assert raised.value.original.id == first.id
    assert raised.value.original.answer == b"<Bv03/>"
    assert raised.value.original.answered_at == 1002.0
    assert journal.get_message(again.id) is None


def test_an_answer_given_on_receipt_is_replayed_to_a_duplicate(
    journal: Journal, make_received: MakeReceived
) -> None:
    """An answer recorded with the message itself (a Bv03 given at once) is
    what a duplicate gets back."""
    first = make_received("ref-bv03", answer=b"<Bv03>first</Bv03>")
    journal.write(lambda tx: tx.record_received(first))

    with pytest.raises(DuplicateMessageError) as raised:
        journal.write(lambda tx: tx.record_received(make_received("ref-bv03")))

    assert raised.value.original.answer == b"<Bv03>first</Bv03>"


def test_a_referentienummer_is_unique_per_zender_only(
    journal: Journal, make_received: MakeReceived
) -> None:
    """Another application, or another organisation, may use the same
    referentienummer; messages without one are never duplicates."""
    for message in (
        make_received("ref-shared"),
        make_received("ref-shared", zender=Party("0392", "DMS")),
        make_received("ref-shared", zender=Party("0363", "ZSH")),
        make_received(None),
        make_received(None),
    ):
        journal.write(functools.partial(Transaction.record_received, message=message))

    assert len(journal.list_messages()) == 5


def test_a_zender_without_organisatie_is_still_seen_twice(
    journal: Journal, make_received: MakeReceived
) -> None:
    """A missing organisatie counts as empty, so the repeat is caught."""
    anonymous = Party(applicatie="ZSH")
    journal.write(lambda tx: tx.record_received(make_received("r", zender=anonymous)))

    with pytest.raises(DuplicateMessageError):
        journal.write(
            lambda tx: tx.record_received(make_received("r", zender=anonymous))
        )


def test_find_by_sender_ref_returns_the_message_and_its_answer(
    journal: Journal, make_received: MakeReceived
) -> None:
    """The broker can look a duplicate up by zender and referentienummer."""
    message = make_received("ref-find")
    _store(journal, message)
    journal.write(lambda tx: tx.store_answer(message.id, b"<Bv03/>", now=1001.0))

    found = journal.find_by_sender_ref("0392", "ZSH", "ref-find")

    assert found is not None
    assert (found.id, found.answer) == (message.id, b"<Bv03/>")
    assert journal.find_by_sender_ref("0392", "DMS", "ref-find") is None


def test_the_same_message_id_twice_is_an_error(
    journal: Journal, make_received: MakeReceived
) -> None:
    """Journaling one id twice fails instead of silently keeping one."""
    message = make_received(None)
    journal.write(lambda tx: tx.record_received(message))

    with pytest.raises(JournalError, match="already in the journal"):
        journal.write(lambda tx: tx.record_received(message))


def test_attempts_are_kept_in_order_with_outcome_error_and_answer(
    journal: Journal, make_received: MakeReceived
) -> None:
    """Each attempt is recorded; a retry makes the delivery and message
    retrying, a success makes them delivered."""
    message = make_received("ref-attempts")
    [delivery_id] = _store(journal, message)

    assert (
        _attempt(journal, delivery_id, "retry", 1000.0, retry_at=1010.0, error="503")
        == "retrying"
    )
    assert _attempt(journal, delivery_id, "ok", 1010.0, answer=b"<Bv03/>") == (
        "delivered"
    )

    entry = journal.get_message(message.id)
    assert entry is not None and entry.state == "delivered"
    [delivery] = entry.deliveries
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == (
        "delivered",
        2,
        None,
    )
    assert [
        (a.started_at, a.ended_at, a.outcome, a.error, a.answer)
        for a in delivery.history
    ] == [
        (1000.0, 1000.5, "retry", "503", None),
        (1010.0, 1010.5, "ok", None, b"<Bv03/>"),
    ]


def test_a_message_is_delivered_only_when_every_delivery_is(
    journal: Journal, make_received: MakeReceived
) -> None:
    """With two destinations, one success leaves the message routed."""
    message = make_received()
    first, second = _store(journal, message, ("zaakregister", "archief"))

    assert _attempt(journal, first, "ok", 1000.0) == "routed"
    assert _attempt(journal, second, "ok", 1000.0) == "delivered"


def test_a_message_is_dead_once_all_deliveries_ended_and_one_gave_up(
    journal: Journal, make_received: MakeReceived
) -> None:
    """A dead delivery makes the message dead only after the others ended."""
    message = make_received()
    first, second = _store(journal, message, ("zaakregister", "archief"))

    assert _attempt(journal, first, "dead", 1000.0, error="400 Bad Request") == (
        "routed"
    )
    assert _attempt(journal, second, "ok", 1000.0) == "dead"
    assert [m.id for m in journal.dead_messages()] == [message.id]


def test_a_retry_needs_the_time_of_the_next_attempt(
    journal: Journal, make_received: MakeReceived
) -> None:
    """Recording a retry without next_attempt_at is a programming error."""
    [delivery_id] = _store(journal, make_received())

    with pytest.raises(ValueError, match="next attempt"):
        _attempt(journal, delivery_id, "retry", 1000.0)


def test_an_attempt_on_an_unknown_delivery_fails(journal: Journal) -> None:
    """Recording an attempt for a delivery that does not exist raises."""
    with pytest.raises(UnknownMessageError):
        _attempt(journal, 424242, "ok", 1000.0)


def test_due_deliveries_come_oldest_first_and_only_when_due(
    journal: Journal, make_received: MakeReceived
) -> None:
    """Deliveries due at ``now`` come ordered by next_attempt_at; later ones,
    and ended ones, do not come at all."""
    late = _store(journal, make_received(), due=1030.0)[0]
    early = _store(journal, make_received(), due=1010.0)[0]
    middle = _store(journal, make_received(), due=1020.0)[0]
    ended = _store(journal, make_received(), due=1000.0)[0]
    _attempt(journal, ended, "ok", 1000.0)

    due = journal.due_deliveries(now=1020.0, limit=10)

    assert [d.delivery.id for d in due] == [early, middle]
    assert late not in [d.delivery.id for d in journal.due_deliveries(1029.9)]
    assert journal.pending_count() == 3


def test_due_deliveries_carry_what_a_restarted_broker_needs(
    journal: Journal, make_received: MakeReceived, creeer_zaak: bytes
) -> None:
    """A due delivery comes with the message's bytes, source, SOAPAction and
    route, so a broker that just started can send it on."""
    message = make_received(raw=creeer_zaak)
    _store(journal, message)

    [due] = journal.due_deliveries(now=1000.0)

    assert (due.raw, due.source, due.route) == (creeer_zaak, "soap", "zds")
    assert (due.soap_action, due.operation) == (message.soap_action, "creeerZaak")
    assert due.delivery.message_id == message.id


def test_a_failing_destination_does_not_starve_the_others(
    journal: Journal, make_received: MakeReceived
) -> None:
    """A poison message retried again and again goes to the back each time:
    a limited poll still reaches the messages behind it."""
    [poison] = _store(journal, make_received(), due=1000.0)
    others = [_store(journal, make_received(), due=1001.0)[0] for _ in range(3)]
    now = 1000.0
    polled: list[int] = []
    for _ in range(4):
        [first] = journal.due_deliveries(now=now + 5, limit=1)
        polled.append(first.delivery.id)
        if first.delivery.id == poison:
            _attempt(journal, poison, "retry", now, retry_at=now + 2)
        else:
            _attempt(journal, first.delivery.id, "ok", now)
        now += 1

    assert polled[0] == poison
    assert set(others) <= set(polled)


def test_the_oldest_due_deliveries_come_first_within_a_limit(
    journal: Journal, make_received: MakeReceived
) -> None:
    """With more due than the limit, the ones waiting longest are returned."""
    ids = [_store(journal, make_received(), due=1000.0 + n)[0] for n in range(5)]

    assert [d.delivery.id for d in journal.due_deliveries(2000.0, limit=2)] == ids[:2]


def test_claiming_due_deliveries_hides_them_until_the_claim_expires(
    journal: Journal, make_received: MakeReceived
) -> None:
    """Claimed deliveries are not due again until ``until``, so two polls do
    not start two attempts; after ``until`` (a crash) they are due again."""
    [delivery_id] = _store(journal, make_received(), due=1000.0)

    claimed = journal.write(lambda tx: tx.claim_due(1000.0, 10, until=1030.0))

    assert [c.delivery.id for c in claimed] == [delivery_id]
    assert claimed[0].delivery.next_attempt_at == 1030.0
    assert journal.write(lambda tx: tx.claim_due(1020.0, 10, until=1050.0)) == []
    assert [d.delivery.id for d in journal.due_deliveries(1030.0)] == [delivery_id]


def test_each_destination_claims_only_what_it_has_room_for(
    journal: Journal, make_received: MakeReceived
) -> None:
    """Per destination, the oldest due deliveries up to its room, claimed
    until its own time; the rest stay due for the next poll. Deliveries to a
    destination the routes no longer name are claimed as 'others'."""
    busy = [
        _store(journal, make_received(), ("busy",), due=1000.0 + n)[0] for n in range(4)
    ]
    quiet = [
        _store(journal, make_received(), ("quiet",), due=1001.0)[0] for _ in range(2)
    ]
    [gone] = _store(journal, make_received(), ("gone",), due=1002.0)

    claimed = journal.write(
        lambda tx: tx.claim_due_per_destination(
            1010.0,
            {"busy": (2, 1025.0), "quiet": (10, 1045.0), "full": (0, 1025.0)},
            others=(5, 1050.0),
        )
    )

    until = {c.delivery.id: c.delivery.next_attempt_at for c in claimed}
    assert until == {
        busy[0]: 1025.0,
        busy[1]: 1025.0,
        quiet[0]: 1045.0,
        quiet[1]: 1045.0,
        gone: 1050.0,
    }
    still_due = {d.delivery.id for d in journal.due_deliveries(1010.0)}
    assert still_due == {busy[2], busy[3]}


def test_a_dead_message_can_be_retried(
    journal: Journal, make_received: MakeReceived
) -> None:
    """reset_for_retry makes the dead deliveries retrying and due at once,
    keeping their history and leaving delivered ones alone."""
    message = make_received()
    first, second = _store(journal, message, ("zaakregister", "archief"))
    _attempt(journal, first, "ok", 1000.0)
    _attempt(journal, second, "dead", 1000.0, error="gone")

    assert journal.reset_for_retry(message.id, now=2000.0) == 1

    entry = journal.get_message(message.id)
    assert entry is not None and entry.state == "retrying"
    assert [(d.state, d.next_attempt_at, d.attempts) for d in entry.deliveries] == [
        ("delivered", None, 1),
        ("retrying", 2000.0, 1),
    ]
    assert [d.delivery.id for d in journal.due_deliveries(2000.0)] == [second]
    assert journal.dead_messages() == []


def test_a_message_dead_before_routing_goes_back_to_received(
    journal: Journal, make_received: MakeReceived
) -> None:
    """A message marked dead as a whole (no route) is retried by routing it
    again: it returns to received, without its error."""
    message = make_received()
    journal.write(lambda tx: tx.record_received(message))
    journal.write(lambda tx: tx.mark_dead(message.id, "no route", now=1001.0))
    dead = journal.get_message(message.id)
    assert dead is not None and (dead.state, dead.error) == ("dead", "no route")

    assert journal.reset_for_retry(message.id, now=2000.0) == 0

    entry = journal.get_message(message.id)
    assert entry is not None and (entry.state, entry.error) == ("received", None)


def test_marking_a_message_dead_ends_its_open_deliveries(
    journal: Journal, make_received: MakeReceived
) -> None:
    """A poison message marked dead is no longer due anywhere."""
    message = make_received()
    _store(journal, message, ("zaakregister", "archief"))

    journal.write(lambda tx: tx.mark_dead(message.id, "crashes the adapter", now=1.0))

    assert journal.due_deliveries(now=5000.0) == []
    assert journal.pending_count() == 0


def test_retrying_an_unknown_message_fails(journal: Journal) -> None:
    """reset_for_retry on an id that is not journaled raises."""
    with pytest.raises(UnknownMessageError):
        journal.reset_for_retry("missing", now=1.0)


def test_an_operator_can_set_a_delivery_state(
    journal: Journal, make_received: MakeReceived
) -> None:
    """set_delivery_state moves a delivery without an attempt and settles
    the message."""
    message = make_received()
    [delivery_id] = _store(journal, message)

    state = journal.write(
        lambda tx: tx.set_delivery_state(
            delivery_id, "dead", now=1005.0, error="given up by operator"
        )
    )

    assert state == "dead"
    entry = journal.get_message(message.id)
    assert entry is not None
    assert (entry.deliveries[0].state, entry.deliveries[0].last_error) == (
        "dead",
        "given up by operator",
    )


def test_list_messages_filters_and_puts_the_newest_first(
    journal: Journal, make_received: MakeReceived
) -> None:
    """Each filter narrows the list; the newest message comes first."""
    a = make_received(received_at=100.0)
    b = make_received(received_at=200.0, operation="updateZaak")
    c = make_received(received_at=300.0, zender=Party("0392", "DMS"))
    for message in (a, b, c):
        _store(journal, message)
    _attempt(journal, journal.get_message(a.id).deliveries[0].id, "ok", 400.0)  # type: ignore[union-attr]

    def ids(**filters: object) -> list[str]:
        return [m.id for m in journal.list_messages(**filters)]  # type: ignore[arg-type]

    assert ids() == [c.id, b.id, a.id]
    assert ids(state="delivered") == [a.id]
    assert ids(route="zds", limit=2) == [c.id, b.id]
    assert ids(route="other") == []
    assert ids(operation="updateZaak") == [b.id]
    assert ids(zender=Party("0392", "DMS")) == [c.id]
    assert ids(zender=Party(organisatie="0392")) == [c.id, b.id, a.id]
    assert ids(since=200.0) == [c.id, b.id]
    assert ids(since=100.0, until=300.0) == [b.id, a.id]
    assert journal.count_by_state() == {"delivered": 1, "routed": 2}


def test_purge_removes_only_finished_messages_older_than_the_cutoff(
    journal: Journal, make_received: MakeReceived
) -> None:
    """Delivered and dead messages unchanged since before the cutoff go, with
    their deliveries and attempts; open and recent ones stay."""
    old_delivered, old_dead, recent, still_open = (make_received() for _ in range(4))
    for message in (old_delivered, old_dead, recent, still_open):
        _store(journal, message)
    delivery = {
        m.id: journal.get_message(m.id).deliveries[0].id  # type: ignore[union-attr]
        for m in (old_delivered, old_dead, recent)
    }
    _attempt(journal, delivery[old_delivered.id], "ok", 1100.0)
    _attempt(journal, delivery[old_dead.id], "dead", 1100.0)
    _attempt(journal, delivery[recent.id], "ok", 3000.0)

    assert journal.purge(older_than=2000.0) == 2

    remaining = {m.id for m in journal.list_messages()}
    assert remaining == {recent.id, still_open.id}
    assert journal.get_message(old_delivered.id) is None
    assert journal.pending_count() == 1


def test_purge_works_through_many_messages_in_batches(
    journal: Journal, make_received: MakeReceived
) -> None:
    """A purge larger than one batch still removes everything it should."""
    for _ in range(7):
        journal.write(lambda tx: tx.record_received(make_received(), state="delivered"))

    assert journal.purge(older_than=5000.0, batch=3) == 7
    assert journal.list_messages() == []


def test_purge_refuses_open_states(journal: Journal) -> None:
    """Purging messages that are not finished would lose them: refused."""
    with pytest.raises(ValueError, match="finished"):
        journal.purge(older_than=5000.0, states=("routed",))


def test_retention_keeps_dead_messages_longer_than_delivered_ones(
    journal: Journal, make_received: MakeReceived
) -> None:
    """Each finished state is purged after its own retention period."""
    delivered = make_received()
    dead = make_received()
    journal.write(lambda tx: tx.record_received(delivered, state="delivered"))
    journal.write(lambda tx: tx.record_received(dead, state="dead"))
    retention = Retention(delivered=100.0, dead=1000.0)

    assert journal.apply_retention(retention, now=1500.0) == 1
    assert [m.id for m in journal.list_messages()] == [dead.id]
    assert journal.apply_retention(Retention(delivered=None, dead=None), 9e9) == 0


def test_record_routed_stores_a_message_already_routed(
    journal: Journal, make_received: MakeReceived
) -> None:
    """record_routed journals the message with its route and deliveries in
    one go, as record_received followed by mark_routed would."""
    message = make_received("ref-routed")
    planned = [
        PlannedDelivery("zaakregister", "request-reply", 1001.0),
        PlannedDelivery("archief", "publish", 1002.0),
    ]

    ids = journal.write(
        lambda tx: tx.record_routed(message, "zds", planned, now=1000.5)
    )

    entry = journal.get_message(message.id)
    assert entry is not None
    assert (entry.state, entry.route, entry.updated_at) == ("routed", "zds", 1000.5)
    assert [(d.id, d.destination, d.mode) for d in entry.deliveries] == [
        (ids[0], "zaakregister", "request-reply"),
        (ids[1], "archief", "publish"),
    ]
    with pytest.raises(DuplicateMessageError):
        journal.write(
            lambda tx: tx.record_routed(
                make_received("ref-routed"), "zds", planned, now=1000.5
            )
        )


def test_a_dead_letter_delivery_reopens_a_dead_message_and_it_stays_dead(
    journal: Journal, make_received: MakeReceived
) -> None:
    """add_deliveries gives a message whose delivery died a new delivery (its
    dead-letter destination): due at once, the message open again, and dead
    after it, since the original destination never got it."""
    message = make_received()
    [first] = _store(journal, message)
    _attempt(journal, first, "dead", 1000.0, error="422")

    [dead_letter] = journal.write(
        lambda tx: tx.add_deliveries(
            message.id, [PlannedDelivery("dead-letters", "publish", 1001.0)], now=1001.0
        )
    )

    entry = journal.get_message(message.id)
    assert entry is not None and entry.state == "routed"
    assert [d.delivery.id for d in journal.due_deliveries(1001.0)] == [dead_letter]
    assert _attempt(journal, dead_letter, "ok", 1001.0) == "dead"


def test_adding_deliveries_to_an_unknown_message_fails(journal: Journal) -> None:
    """add_deliveries on an id that is not journaled raises."""
    with pytest.raises(UnknownMessageError):
        journal.write(lambda tx: tx.add_deliveries("missing", [], now=1.0))
