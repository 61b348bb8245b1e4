"""Postbus and antwoordnummer as correspondentieadres, persons living abroad,
and the begin of validity of every history row (materiële historie).

Revision ID: krg_0002
Revises: krg_0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "krg_0002"
down_revision: str | Sequence[str] | None = "krg_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here on purpose, as in krg_0001.
_POSTADRES: list[tuple[str, int | None]] = [
    ("correspondentie_postadres_type", 1),
    ("correspondentie_postadres_nummer", None),
]
_BUITENLAND: list[tuple[str, int | None]] = [
    ("buitenland_landcode", 4),
    ("buitenland_landnaam", 40),
    ("buitenland_adres1", 35),
    ("buitenland_adres2", 35),
    ("buitenland_adres3", 35),
]
_SUBJECTS: dict[str, list[tuple[str, int | None]]] = {
    "krg_natuurlijke_personen": _POSTADRES + _BUITENLAND,
    "krg_niet_natuurlijke_personen": _POSTADRES,
    "krg_vestigingen": _POSTADRES,
}


def _column(name: str, length: int | None) -> sa.Column[object]:
    return sa.Column(name, sa.Integer() if length is None else sa.String(length))


def upgrade() -> None:
    for table, columns in _SUBJECTS.items():
        for history in (table, f"{table}_historie"):
            with op.batch_alter_table(history) as batch:
                for name, length in columns:
                    batch.add_column(_column(name, length))
        with op.batch_alter_table(f"{table}_historie") as batch:
            batch.add_column(sa.Column("begin_geldigheid", sa.String(17)))


def downgrade() -> None:
    for table, columns in _SUBJECTS.items():
        with op.batch_alter_table(f"{table}_historie") as batch:
            batch.drop_column("begin_geldigheid")
        for history in (table, f"{table}_historie"):
            with op.batch_alter_table(history) as batch:
                for name, _length in columns:
                    batch.drop_column(name)
