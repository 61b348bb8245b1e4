"""Create the journal: messages, deliveries and attempts.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here on purpose: a migration describes the schema as it was at this
# revision, so it does not import the live metadata of esb.journal.schema.
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "journal_messages",
        sa.Column("seq", _BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=False),
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
        sa.Column("violations", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("route", sa.String(200)),
        sa.Column("error", sa.Text),
        sa.Column("answer", sa.LargeBinary),
        sa.Column("answered_at", sa.Float),
        sa.UniqueConstraint("id", name="uq_journal_messages_id"),
    )
    op.create_index(
        "uq_journal_messages_zender_ref",
        "journal_messages",
        [
            sa.text("coalesce(zender_organisatie, '')"),
            sa.text("coalesce(zender_applicatie, '')"),
            "referentienummer",
        ],
        unique=True,
        sqlite_where=sa.text("referentienummer IS NOT NULL"),
        postgresql_where=sa.text("referentienummer IS NOT NULL"),
    )
    op.create_index(
        "ix_journal_messages_received_at", "journal_messages", ["received_at"]
    )
    op.create_index(
        "ix_journal_messages_state", "journal_messages", ["state", "updated_at"]
    )

    op.create_table(
        "journal_deliveries",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "message_seq",
            _BigId,
            sa.ForeignKey("journal_messages.seq", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("destination", sa.String(200), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index(
        "ix_journal_deliveries_message_seq", "journal_deliveries", ["message_seq"]
    )
    op.create_index(
        "ix_journal_deliveries_next_attempt_at",
        "journal_deliveries",
        ["next_attempt_at"],
    )

    op.create_table(
        "journal_attempts",
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
    op.create_index(
        "ix_journal_attempts_delivery_id", "journal_attempts", ["delivery_id"]
    )


def downgrade() -> None:
    op.drop_table("journal_attempts")
    op.drop_table("journal_deliveries")
    op.drop_table("journal_messages")
