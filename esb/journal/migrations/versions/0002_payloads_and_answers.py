"""Move each message's bytes and answer out of journal_messages.

The message row is updated several times per message, and SQLite rewrites a
whole record on every update, overflow pages included: a 34 MB message cost
68 MiB of memory per state change. Its bytes now live in journal_payloads and
its answer in journal_answers, inserted once; the existing ones are moved
there, then raw, answer and answered_at are dropped from journal_messages.

On SQLite the columns are dropped with ALTER TABLE ... DROP COLUMN (batch mode
with recreate="never"), not by copying the table: the journal's connections
run with foreign keys on, and dropping the old journal_messages after the copy
would delete every delivery and attempt by ON DELETE CASCADE.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here on purpose, as in 0001.
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _message_seq() -> sa.Column[int]:
    return sa.Column(
        "message_seq",
        _BigId,
        sa.ForeignKey("journal_messages.seq", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    )


def upgrade() -> None:
    op.create_table(
        "journal_payloads",
        _message_seq(),
        sa.Column("raw", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "journal_answers",
        _message_seq(),
        sa.Column("answered_at", sa.Float, nullable=False),
        sa.Column("answer", sa.LargeBinary, nullable=False),
    )
    op.execute(
        "INSERT INTO journal_payloads (message_seq, raw)"
        " SELECT seq, raw FROM journal_messages"
    )
    # An answer without its time cannot have been written by 0001's code
    # (both were set together); received_at stands in should one exist.
    op.execute(
        "INSERT INTO journal_answers (message_seq, answered_at, answer)"
        " SELECT seq, coalesce(answered_at, received_at), answer"
        " FROM journal_messages WHERE answer IS NOT NULL"
    )
    with op.batch_alter_table("journal_messages", recreate="never") as batch:
        batch.drop_column("answered_at")
        batch.drop_column("answer")
        batch.drop_column("raw")


def downgrade() -> None:
    # SQLite cannot add a NOT NULL column without a default: raw comes back
    # nullable there (filled for every message all the same).
    with op.batch_alter_table("journal_messages", recreate="never") as batch:
        batch.add_column(sa.Column("raw", sa.LargeBinary))
        batch.add_column(sa.Column("answer", sa.LargeBinary))
        batch.add_column(sa.Column("answered_at", sa.Float))
    op.execute(
        "UPDATE journal_messages SET raw = (SELECT raw FROM journal_payloads"
        " WHERE journal_payloads.message_seq = journal_messages.seq)"
    )
    op.execute(
        "UPDATE journal_messages SET"
        " answer = (SELECT answer FROM journal_answers"
        " WHERE journal_answers.message_seq = journal_messages.seq),"
        " answered_at = (SELECT answered_at FROM journal_answers"
        " WHERE journal_answers.message_seq = journal_messages.seq)"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("journal_messages", "raw", nullable=False)
    op.drop_table("journal_answers")
    op.drop_table("journal_payloads")
