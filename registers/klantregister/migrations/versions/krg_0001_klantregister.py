"""Create the klantregister: natuurlijke personen, niet-natuurlijke personen,
vestigingen, each with its history, and the import checkpoints.

Revision ID: krg_0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "krg_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here on purpose: a migration describes the schema as it was at this
# revision, so it does not import registers.klantregister.model.
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_ADRES: tuple[tuple[str, int | None], ...] = (
    ("woonplaats", 80),
    ("straatnaam", 80),
    ("postcode", 6),
    ("huisnummer", None),
    ("huisletter", 1),
    ("huisnummertoevoeging", 4),
)


def _adres(prefix: str) -> list[tuple[str, int | None]]:
    return [(f"{prefix}_{name}", length) for name, length in _ADRES]


_PERSOON: list[tuple[str, int | None]] = [
    ("bsn", 9),
    ("geslachtsnaam", 200),
    ("voorvoegsel", 10),
    ("voorletters", 20),
    ("voornamen", 200),
    ("geslachtsaanduiding", 1),
    ("geboortedatum", 8),
    ("geboortedatum_indicator", 1),
    *_adres("verblijf"),
    *_adres("correspondentie"),
    ("telefoonnummer", 20),
    ("emailadres", 254),
]
_ORGANISATIE: list[tuple[str, int | None]] = [
    ("rsin", 9),
    ("kvk_nummer", 8),
    ("statutaire_naam", 500),
    ("rechtsvorm", 100),
    *_adres("bezoek"),
    *_adres("correspondentie"),
    ("telefoonnummer", 20),
    ("emailadres", 254),
]
_VESTIGING: list[tuple[str, int | None]] = [
    ("vestigingsnummer", 12),
    ("handelsnaam", 200),
    ("kvk_nummer", 8),
    *_adres("verblijf"),
    *_adres("correspondentie"),
    ("telefoonnummer", 20),
    ("emailadres", 254),
]


def _id() -> sa.Column[int]:
    return sa.Column("id", _BigId, primary_key=True, autoincrement=True)


def _data(spec: list[tuple[str, int | None]]) -> list[sa.Column[object]]:
    return [
        sa.Column(name, sa.Integer() if length is None else sa.String(length))
        for name, length in spec
    ]


def _subject(name: str, spec: list[tuple[str, int | None]]) -> None:
    op.create_table(
        name,
        _id(),
        *_data(spec),
        sa.Column("versie", sa.Integer(), nullable=False),
        sa.Column("verwijderd", sa.Boolean(), nullable=False),
        sa.Column("aangemaakt_op", sa.Float(), nullable=False),
        sa.Column("gewijzigd_op", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{name}"),
    )


def _history(name: str, subject: str, spec: list[tuple[str, int | None]]) -> None:
    op.create_table(
        name,
        _id(),
        sa.Column("subject_id", _BigId, nullable=False),
        sa.Column("versie", sa.Integer(), nullable=False),
        sa.Column("mutatiesoort", sa.String(1), nullable=False),
        sa.Column("bron", sa.String(200), nullable=False),
        sa.Column("referentienummer", sa.String(40)),
        sa.Column("geregistreerd_op", sa.Float(), nullable=False),
        sa.Column("verwijderd", sa.Boolean(), nullable=False),
        *_data(spec),
        sa.PrimaryKeyConstraint("id", name=f"pk_{name}"),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            [f"{subject}.id"],
            name=f"fk_{name}_subject_id",
            ondelete="CASCADE",
        ),
    )
    op.create_index(f"ix_{name}_subject_id", name, ["subject_id"])


def upgrade() -> None:
    _subject("krg_natuurlijke_personen", _PERSOON)
    op.create_index(
        "uq_krg_natuurlijke_personen_bsn",
        "krg_natuurlijke_personen",
        ["bsn"],
        unique=True,
    )
    op.create_index(
        "ix_krg_natuurlijke_personen_naam",
        "krg_natuurlijke_personen",
        ["geslachtsnaam", "geboortedatum"],
    )
    op.create_index(
        "ix_krg_natuurlijke_personen_adres",
        "krg_natuurlijke_personen",
        ["verblijf_postcode", "verblijf_huisnummer"],
    )
    _history("krg_natuurlijke_personen_historie", "krg_natuurlijke_personen", _PERSOON)

    _subject("krg_niet_natuurlijke_personen", _ORGANISATIE)
    op.create_index(
        "uq_krg_niet_natuurlijke_personen_rsin",
        "krg_niet_natuurlijke_personen",
        ["rsin"],
        unique=True,
    )
    op.create_index(
        "uq_krg_niet_natuurlijke_personen_kvk",
        "krg_niet_natuurlijke_personen",
        ["kvk_nummer"],
        unique=True,
    )
    op.create_index(
        "ix_krg_niet_natuurlijke_personen_naam",
        "krg_niet_natuurlijke_personen",
        ["statutaire_naam"],
    )
    op.create_index(
        "ix_krg_niet_natuurlijke_personen_adres",
        "krg_niet_natuurlijke_personen",
        ["bezoek_postcode", "bezoek_huisnummer"],
    )
    _history(
        "krg_niet_natuurlijke_personen_historie",
        "krg_niet_natuurlijke_personen",
        _ORGANISATIE,
    )

    _subject("krg_vestigingen", _VESTIGING)
    op.create_index(
        "uq_krg_vestigingen_nummer",
        "krg_vestigingen",
        ["vestigingsnummer"],
        unique=True,
    )
    op.create_index("ix_krg_vestigingen_kvk", "krg_vestigingen", ["kvk_nummer"])
    op.create_index("ix_krg_vestigingen_naam", "krg_vestigingen", ["handelsnaam"])
    op.create_index(
        "ix_krg_vestigingen_adres",
        "krg_vestigingen",
        ["verblijf_postcode", "verblijf_huisnummer"],
    )
    _history("krg_vestigingen_historie", "krg_vestigingen", _VESTIGING)

    op.create_table(
        "krg_imports",
        _id(),
        sa.Column("sleutel", sa.String(80), nullable=False),
        sa.Column("bestand", sa.String(500), nullable=False),
        sa.Column("soort", sa.String(20), nullable=False),
        sa.Column("rijen_verwerkt", sa.Integer(), nullable=False),
        sa.Column("aangemaakt", sa.Integer(), nullable=False),
        sa.Column("gewijzigd", sa.Integer(), nullable=False),
        sa.Column("ongewijzigd", sa.Integer(), nullable=False),
        sa.Column("afgewezen", sa.Integer(), nullable=False),
        sa.Column("begonnen_op", sa.Float(), nullable=False),
        sa.Column("bijgewerkt_op", sa.Float(), nullable=False),
        sa.Column("klaar_op", sa.Float()),
        sa.PrimaryKeyConstraint("id", name="pk_krg_imports"),
        sa.UniqueConstraint("sleutel", name="uq_krg_imports_sleutel"),
    )
    op.create_table(
        "krg_import_afwijzingen",
        _id(),
        sa.Column("import_id", _BigId, nullable=False),
        sa.Column("rij", sa.Integer(), nullable=False),
        sa.Column("reden", sa.String(500), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_krg_import_afwijzingen"),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["krg_imports.id"],
            name="fk_krg_import_afwijzingen_import_id",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_krg_import_afwijzingen_import_id", "krg_import_afwijzingen", ["import_id"]
    )


def downgrade() -> None:
    for table in (
        "krg_import_afwijzingen",
        "krg_imports",
        "krg_vestigingen_historie",
        "krg_vestigingen",
        "krg_niet_natuurlijke_personen_historie",
        "krg_niet_natuurlijke_personen",
        "krg_natuurlijke_personen_historie",
        "krg_natuurlijke_personen",
    ):
        op.drop_table(table)
