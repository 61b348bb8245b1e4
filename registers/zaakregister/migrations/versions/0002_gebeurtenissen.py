"""Relations between zaken, besluiten, and the outbox of events.

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


def _id() -> sa.Column[int]:
    return sa.Column("id", _BigId, primary_key=True, autoincrement=True)


def _zaak_id(table: str) -> sa.Column[int]:
    return sa.Column(
        "zaak_id",
        _BigId,
        sa.ForeignKey("zrg_zaken.id", name=f"fk_{table}_zaak_id", ondelete="CASCADE"),
        nullable=False,
    )


def _text(name: str, length: int | None = None) -> sa.Column[str]:
    kind = sa.Text() if length is None else sa.String(length)
    return sa.Column(name, kind, nullable=True)


def upgrade() -> None:
    op.create_table(
        "zrg_zaakrelaties",
        _id(),
        _zaak_id("zrg_zaakrelaties"),
        sa.Column("soort", sa.String(30), nullable=False),
        sa.Column("andere_identificatie", sa.String(40), nullable=False),
        _text("andere_omschrijving", 200),
        sa.PrimaryKeyConstraint("id", name="pk_zrg_zaakrelaties"),
        sa.UniqueConstraint(
            "zaak_id",
            "soort",
            "andere_identificatie",
            name="uq_zrg_zaakrelaties_zaak_id_soort_andere_identificatie",
        ),
    )
    op.create_index("ix_zrg_zaakrelaties_zaak_id", "zrg_zaakrelaties", ["zaak_id"])
    op.create_index(
        "ix_zrg_zaakrelaties_andere_identificatie",
        "zrg_zaakrelaties",
        ["andere_identificatie"],
    )

    op.create_table(
        "zrg_besluiten",
        _id(),
        _zaak_id("zrg_besluiten"),
        _text("identificatie", 40),
        _text("bst_omschrijving", 200),
        _text("datum_beslissing", 8),
        _text("toelichting"),
        _text("ingangsdatum_werking", 8),
        _text("einddatum_werking", 8),
        _text("vervalreden", 80),
        _text("datum_publicatie", 8),
        _text("datum_verzending", 8),
        _text("datum_uiterlijke_reactie", 8),
        sa.PrimaryKeyConstraint("id", name="pk_zrg_besluiten"),
    )
    op.create_index("ix_zrg_besluiten_zaak_id", "zrg_besluiten", ["zaak_id"])

    op.create_table(
        "zrg_gebeurtenissen",
        _id(),
        sa.Column("soort", sa.String(30), nullable=False),
        sa.Column("zaak_identificatie", sa.String(40), nullable=False),
        _text("document_identificatie", 40),
        sa.Column("tijdstip", sa.Double(), nullable=False),
        _text("referentienummer", 80),
        _text("zender", 200),
        sa.Column("operation", sa.String(80), nullable=False),
        sa.Column("gepubliceerd", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_zrg_gebeurtenissen"),
    )
    op.create_index(
        "ix_zrg_gebeurtenissen_zaak_identificatie",
        "zrg_gebeurtenissen",
        ["zaak_identificatie"],
    )
    op.create_index(
        "ix_zrg_gebeurtenissen_gepubliceerd", "zrg_gebeurtenissen", ["gepubliceerd"]
    )


def downgrade() -> None:
    for table in ("zrg_gebeurtenissen", "zrg_besluiten", "zrg_zaakrelaties"):
        op.drop_table(table)
