"""EMO's durable message journal.

Every accepted message is stored here, raw bytes and all, before EMO
acknowledges it; so are its route, one delivery per destination, and every
attempt to deliver. After a restart the broker resumes the open deliveries
from the journal, and an operator can see what happened to any message, retry
a dead one, or purge old ones.

The parts::

    Journal              the store: open (migrates), reads, operators' writes
    Transaction          the write operations, inside a transaction
    GroupCommitWriter    runs writes on one thread, many to a commit, and
                         answers each with a Deferred that fires once on disk
    RecordRouted,        the message path's two writes, run many to a
    RecordDelivered      statement by the writer (bulk)
    records              frozen dataclasses: what goes in and what comes out

The states of a message (``MessageState``) follow its deliveries::

                       mark_routed             an attempt: retry
    record_received ──▶ received ──────▶ routed ──────────────────▶ retrying
                           │               ▲ │                         │
                           │ record_routed ┘ │ every delivery ended:   │
                           │                 ├──▶ delivered (all ok) ◀─┤
                           │                 └──▶ dead (one gave up) ◀─┘
                           │                        ▲     │
                           └────── mark_dead ───────┘     │ reset_for_retry:
                                  (from any state)        ├──▶ retrying
                                                          └──▶ received, if it
                                                               had no deliveries

A route without deliveries makes the message delivered at once. The states of
a delivery (``DeliveryState``), one attempt per arrow but the last::

    pending ──retry──▶ retrying ──retry──▶ retrying ...
       │                  │
       ├──ok──────────────┴──ok──▶ delivered
       └──dead────────────┴─dead─▶ dead ──reset_for_retry──▶ retrying

Open deliveries (pending, retrying) have a ``next_attempt_at``; ended ones do
not. :meth:`Journal.due_deliveries` (read) and :meth:`Transaction.claim_due`
(take, for this process, until a time-out) return the open ones due, ordered
by ``next_attempt_at``: a failing destination or a poison message is pushed
back by its own retry delay and never holds up the others.

Duplicates: StUF makes zender (organisatie, applicatie) plus referentienummer
unique. :meth:`Transaction.record_received` raises
:class:`DuplicateMessageError` for a repeat, carrying the first message and
the answer stored for it (:meth:`Transaction.store_answer`, or
``ReceivedMessage.answer``), so the broker answers the same and delivers
nothing twice. :meth:`Journal.find_by_sender_ref` looks one up directly.

After a restart the broker resumes from the journal alone: the open
deliveries through :meth:`Transaction.claim_due`, and messages left in
``received`` (journaled, not routed yet: only possible when receipt and routing
are two writes; :meth:`Transaction.record_routed` makes them one) through
``list_messages(state="received")``.

Durability: a write's Deferred fires only after the commit holding it. SQLite
runs in WAL mode with ``synchronous=FULL``, so that commit survives a crash of
the process and of the machine alike (see :mod:`esb.journal.store`).

Timestamps are float epoch seconds everywhere. Every write takes its time as
an argument; the journal never reads the clock inside a transaction.

How the broker uses it, in the reactor thread::

    journal = Journal.open(journal_url(data_dir))        # migrates
    writer = GroupCommitWriter(journal)
    writer.start()

    received = ReceivedMessage.from_message(message)
    delivery_ids = await writer.submit(          # on disk: now acknowledge
        lambda tx: tx.record_routed(received, route.name, planned, now=now)
    )

    await writer.submit(lambda tx: tx.record_attempt(delivery_ids[0], ...))

    # reads off the reactor thread:
    deferToThreadPool(reactor, pool, journal.get_message, message_id)

    await writer.stop()                          # at shutdown
    journal.close()
"""

from esb.journal.bulk import BulkWrite, RecordDelivered, RecordRouted
from esb.journal.errors import (
    DuplicateMessageError,
    JournalError,
    UnknownMessageError,
    WriterStoppedError,
)
from esb.journal.records import (
    FINAL_STATES,
    MESSAGE_STATES,
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
    PlannedDelivery,
    ReceivedMessage,
    Retention,
)
from esb.journal.store import Journal, Synchronous, journal_url
from esb.journal.transaction import Transaction, message_state_of
from esb.journal.writer import (
    GroupCommitWriter,
    PendingWrite,
    WriterStats,
    commit_batch,
)

__all__ = [
    "FINAL_STATES",
    "MESSAGE_STATES",
    "OPEN_DELIVERY_STATES",
    "AttemptRecord",
    "BulkWrite",
    "DeliveryMode",
    "DeliveryRecord",
    "DeliveryState",
    "DueDelivery",
    "DuplicateMessageError",
    "GroupCommitWriter",
    "Journal",
    "JournalEntry",
    "JournalError",
    "MessageState",
    "MessageSummary",
    "Outcome",
    "PendingWrite",
    "PlannedDelivery",
    "ReceivedMessage",
    "RecordDelivered",
    "RecordRouted",
    "Retention",
    "Synchronous",
    "Transaction",
    "UnknownMessageError",
    "WriterStats",
    "WriterStoppedError",
    "commit_batch",
    "journal_url",
    "message_state_of",
]
