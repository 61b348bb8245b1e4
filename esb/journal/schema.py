"""The journal's tables, as SQLAlchemy Core metadata.

Five tables, one row per thing that happened::

    messages    1 ── n   deliveries   1 ── n   attempts
    (seq)                (message_seq)          (delivery_id)
    (what came in)       (one per destination)  (one per try)
       │
       ├── 1 ── 1   payloads   (the raw bytes)
       └── 1 ── 0..1 answers   (the answer given to the sender)

A message's bytes and its answer live in tables of their own, inserted and
never updated (see Transaction.store_answer for a second answer): the message
row is updated several times per message
(state, updated_at), and SQLite rewrites a whole record on every update,
overflow pages included: with the bytes in it, a 34 MB message (a 25 MB
document in base64) cost 68 MiB of memory per state change; now it costs a
small row.

This metadata is what the queries are written against; the Alembic migrations
in ``migrations/versions`` create the same tables and must be kept equal to it
(``alembic check`` compares them). Timestamps are float epoch seconds; raw
bytes and answers are stored as they were on the wire.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# A rowid alias on SQLite (fast inserts), a 64-bit identity on PostgreSQL.
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Messages are keyed by ``seq``, in the order they came in, and deliveries
# point at that, so their index grows at its end instead of at a random place
# (the broker's message ids are random): one page fewer per message written
# to SQLite's WAL (7.4 instead of 8.5 at four messages a commit), and integer
# joins. ``id`` is the broker's id, unique.
messages = sa.Table(
    "journal_messages",
    metadata,
    sa.Column("seq", _BigId, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(64), nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("operation", sa.String(200)),
    sa.Column("berichtcode", sa.String(10)),
    sa.Column("zender_organisatie", sa.String(200)),
    sa.Column("zender_applicatie", sa.String(200)),
    sa.Column("ontvanger_organisatie", sa.String(200)),
    sa.Column("ontvanger_applicatie", sa.String(200)),
    sa.Column("referentienummer", sa.String(200)),
    sa.Column("soap_action", sa.String(500)),
    sa.Column("entiteittype", sa.String(50)),
    sa.Column("validation_mode", sa.String(10)),
    # A JSON list of {"line", "path", "rule"}; written and read by the journal
    # itself so that SQLite and PostgreSQL store the same text.
    sa.Column("violations", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("route", sa.String(200)),
    sa.Column("error", sa.Text),
    sa.UniqueConstraint("id", name="uq_journal_messages_id"),
)

# StUF 03.01: zender plus referentienummer identifies a message. Absent parts
# of the zender count as empty, because NULLs never collide in a unique index
# and a sender without organisatie would otherwise never be seen twice.
sa.Index(
    "uq_journal_messages_zender_ref",
    sa.func.coalesce(messages.c.zender_organisatie, ""),
    sa.func.coalesce(messages.c.zender_applicatie, ""),
    messages.c.referentienummer,
    unique=True,
    sqlite_where=messages.c.referentienummer.is_not(None),
    postgresql_where=messages.c.referentienummer.is_not(None),
)
sa.Index("ix_journal_messages_received_at", messages.c.received_at)
sa.Index("ix_journal_messages_state", messages.c.state, messages.c.updated_at)

# The bytes of a message as they came in, one row per message, inserted with
# it and deleted with it (ON DELETE CASCADE; SQLite's journal connections turn
# foreign keys on). ``message_seq`` is the rowid on SQLite, so a large payload
# is written through an incremental blob handle on that rowid.
payloads = sa.Table(
    "journal_payloads",
    metadata,
    sa.Column(
        "message_seq",
        _BigId,
        sa.ForeignKey("journal_messages.seq", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("raw", sa.LargeBinary, nullable=False),
)

# The answer given to the sender, kept to give it again to a duplicate; at
# most one per message. The bytes are the last column on purpose: SQLite
# writes a zeroblob() in the last column of a record without building it in
# memory first, which the large answers' incremental write relies on.
answers = sa.Table(
    "journal_answers",
    metadata,
    sa.Column(
        "message_seq",
        _BigId,
        sa.ForeignKey("journal_messages.seq", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("answered_at", sa.Float, nullable=False),
    sa.Column("answer", sa.LargeBinary, nullable=False),
)

deliveries = sa.Table(
    "journal_deliveries",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "message_seq",
        _BigId,
        sa.ForeignKey("journal_messages.seq", ondelete="CASCADE"),
        nullable=False,
    ),
    # The broker's id of the message, kept here so deliveries read alone.
    sa.Column("message_id", sa.String(64), nullable=False),
    sa.Column("destination", sa.String(200), nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    # NULL exactly when the delivery has ended, so the index below holds only
    # the deliveries that still have an attempt to come.
    sa.Column("next_attempt_at", sa.Float),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)
sa.Index("ix_journal_deliveries_message_seq", deliveries.c.message_seq)
sa.Index("ix_journal_deliveries_next_attempt_at", deliveries.c.next_attempt_at)

attempts = sa.Table(
    "journal_attempts",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "delivery_id",
        _BigId,
        sa.ForeignKey("journal_deliveries.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float, nullable=False),
    sa.Column("outcome", sa.String(8), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("answer", sa.LargeBinary),
)
sa.Index("ix_journal_attempts_delivery_id", attempts.c.delivery_id)
