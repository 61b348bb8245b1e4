"""What goes into the journal and what comes out of it.

All of these are frozen dataclasses: a record handed across threads (from the
reactor to the writer thread, or from a reader thread back) cannot change on
the way. No SQLAlchemy row or ORM object leaves the package.

Every timestamp is a float of seconds since the epoch (UTC), like
:attr:`esb.message.Message.received_at` and :func:`time.time`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from esb.errors import Violation
from esb.message import Message, Party, ValidationMode

MessageState = Literal["received", "routed", "retrying", "delivered", "dead"]
DeliveryState = Literal["pending", "retrying", "delivered", "dead"]
DeliveryMode = Literal["request-reply", "publish"]
Outcome = Literal["ok", "retry", "dead"]

MESSAGE_STATES: tuple[MessageState, ...] = (
    "received",
    "routed",
    "retrying",
    "delivered",
    "dead",
)
# The states in which a message needs nothing more; only these are purged.
FINAL_STATES: tuple[MessageState, ...] = ("delivered", "dead")
# The states in which a delivery still has an attempt to come.
OPEN_DELIVERY_STATES: tuple[DeliveryState, ...] = ("pending", "retrying")


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A snapshot of an accepted message, taken before it is journaled.

    Take it in the reactor thread with :meth:`from_message`; the writer thread
    then stores the snapshot, never the mutable :class:`~esb.message.Message`.
    ``answer`` is the answer already given for it, if the broker answers before
    delivery (a Bv03 for a kennisgeving), so a duplicate can be answered alike.
    """

    id: str
    received_at: float
    source: str
    raw: bytes
    operation: str | None = None
    berichtcode: str | None = None
    zender: Party = field(default_factory=Party)
    ontvanger: Party = field(default_factory=Party)
    referentienummer: str | None = None
    soap_action: str | None = None
    entiteittype: str | None = None
    validation_mode: ValidationMode | None = None
    violations: tuple[Violation, ...] = ()
    answer: bytes | None = None

    @classmethod
    def from_message(
        cls, message: Message, *, answer: bytes | None = None
    ) -> ReceivedMessage:
        """Snapshot ``message`` with what identification and validation found."""
        identification = message.identification
        stuurgegevens = identification.stuurgegevens if identification else None
        validation = message.validation
        return cls(
            id=message.id,
            received_at=message.received_at,
            source=message.source,
            raw=message.raw,
            operation=identification.operation if identification else None,
            berichtcode=stuurgegevens.berichtcode if stuurgegevens else None,
            zender=stuurgegevens.zender if stuurgegevens else Party(),
            ontvanger=stuurgegevens.ontvanger if stuurgegevens else Party(),
            referentienummer=(
                stuurgegevens.referentienummer if stuurgegevens else None
            ),
            soap_action=message.soap_action,
            entiteittype=stuurgegevens.entiteittype if stuurgegevens else None,
            validation_mode=validation.mode if validation else None,
            violations=tuple(validation.violations) if validation else (),
            answer=answer,
        )


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    """One destination a route sends the message to.

    ``next_attempt_at`` is when the delivery becomes due for
    :meth:`~esb.journal.Journal.due_deliveries`. A broker that makes the first
    attempt straight away sets it to now plus the attempt's time-out, so no
    poller takes the delivery while that attempt runs, and a crash during the
    attempt makes it due again once the time-out has passed.
    """

    destination: str
    mode: DeliveryMode
    next_attempt_at: float


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One try to hand a message to a destination, and how it ended."""

    id: int
    delivery_id: int
    started_at: float
    ended_at: float
    outcome: Outcome
    error: str | None
    answer: bytes | None


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A message's delivery to one destination.

    ``attempts`` counts the attempts made; ``history`` holds them, oldest
    first, when the delivery was read with :meth:`~esb.journal.Journal.get_message`
    (other queries leave it empty). ``next_attempt_at`` is ``None`` once the
    delivery has ended (delivered or dead).
    """

    id: int
    message_id: str
    destination: str
    mode: DeliveryMode
    state: DeliveryState
    attempts: int
    next_attempt_at: float | None
    last_error: str | None
    created_at: float
    updated_at: float
    history: tuple[AttemptRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class MessageSummary:
    """A journaled message without its bytes: what listings return.

    ``updated_at`` is the time of the last change of state; retention counts
    from it, so a message that took a day to deliver is kept as long after its
    delivery as one delivered at once. ``error`` says why a message is dead
    when no single delivery explains it (no route, a poison message).
    """

    id: str
    received_at: float
    updated_at: float
    source: str
    operation: str | None
    berichtcode: str | None
    zender: Party
    ontvanger: Party
    referentienummer: str | None
    soap_action: str | None
    entiteittype: str | None
    validation_mode: ValidationMode | None
    violations: tuple[Violation, ...]
    state: MessageState
    route: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class JournalEntry(MessageSummary):
    """A journaled message in full: bytes, stored answer and deliveries."""

    raw: bytes
    answer: bytes | None
    answered_at: float | None
    deliveries: tuple[DeliveryRecord, ...]


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A delivery whose next attempt is due, with what is needed to make it.

    After a restart the broker has nothing but the journal: ``raw``,
    ``source`` and ``soap_action`` let it rebuild the message and send it on.
    """

    delivery: DeliveryRecord
    route: str | None
    source: str
    soap_action: str | None
    operation: str | None
    raw: bytes


@dataclass(frozen=True, slots=True)
class Retention:
    """How long finished messages stay in the journal, in seconds.

    ``None`` keeps messages in that state for ever. Dead messages are kept
    longer by default: an operator may still want to retry them.
    """

    delivered: float | None = 30 * 86400.0
    dead: float | None = 90 * 86400.0

    def cutoffs(self, now: float) -> dict[MessageState, float]:
        """For each purged state, the ``updated_at`` before which to purge."""
        cutoffs: dict[MessageState, float] = {}
        if self.delivered is not None:
            cutoffs["delivered"] = now - self.delivered
        if self.dead is not None:
            cutoffs["dead"] = now - self.dead
        return cutoffs
