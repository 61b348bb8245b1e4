"""Create the zaakregister: zaken, kenmerken, statussen, rollen, documenten,
zaakdocumenten and tellers.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
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
# revision, so it does not import registers.zaakregister.model.
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


def _moment(name: str) -> sa.Column[float]:
    return sa.Column(name, sa.Double(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "zrg_zaken",
        _id(),
        sa.Column("identificatie", sa.String(40), nullable=False),
        _text("bronorganisatie", 200),
        _text("omschrijving", 200),
        _text("toelichting"),
        _text("zaaktype_code", 80),
        _text("zaaktype_omschrijving", 200),
        _text("startdatum", 8),
        _text("registratiedatum", 8),
        _text("publicatiedatum", 8),
        _text("einddatum_gepland", 8),
        _text("uiterlijke_einddatum", 8),
        _text("einddatum", 8),
        _text("resultaat_omschrijving", 200),
        _text("resultaat_toelichting"),
        _text("opschorting_indicatie", 1),
        _text("opschorting_reden", 200),
        _text("verlenging_duur", 10),
        _text("verlenging_reden", 200),
        _text("betalingsindicatie", 20),
        _text("laatste_betaaldatum", 17),
        _text("archiefnominatie", 1),
        _text("datum_vernietiging_dossier", 8),
        _text("zaakniveau", 2),
        _text("deelzaken_indicatie", 1),
        _text("andere_zaakobjecten"),
        _text("vertrouwelijkheid", 30),
        _text("aangemaakt_door", 200),
        _moment("aangemaakt_op"),
        _moment("gewijzigd_op"),
        sa.PrimaryKeyConstraint("id", name="pk_zrg_zaken"),
        sa.UniqueConstraint("identificatie", name="uq_zrg_zaken_identificatie"),
    )
    op.create_index("ix_zrg_zaken_zaaktype_code", "zrg_zaken", ["zaaktype_code"])

    op.create_table(
        "zrg_kenmerken",
        _id(),
        _zaak_id("zrg_kenmerken"),
        _text("kenmerk", 200),
        _text("bron", 200),
        sa.PrimaryKeyConstraint("id", name="pk_zrg_kenmerken"),
    )
    op.create_index("ix_zrg_kenmerken_zaak_id", "zrg_kenmerken", ["zaak_id"])

    op.create_table(
        "zrg_statussen",
        _id(),
        _zaak_id("zrg_statussen"),
        _text("zkt_code", 80),
        _text("zkt_omschrijving", 200),
        _text("volgnummer", 10),
        _text("code", 80),
        _text("omschrijving", 200),
        _text("ingangsdatum", 8),
        _text("toelichting"),
        _text("datum_status_gezet", 17),
        _text("gezet_door_soort", 30),
        _text("gezet_door_identificatie", 200),
        _text("gezet_door_naam", 200),
        _text("gezet_door_voorletters", 30),
        _text("gezet_door_voorvoegsel", 30),
        _text("rol_omschrijving", 200),
        _text("rolomschrijving_generiek", 80),
        _moment("geregistreerd_op"),
        sa.PrimaryKeyConstraint("id", name="pk_zrg_statussen"),
    )
    op.create_index("ix_zrg_statussen_zaak_id", "zrg_statussen", ["zaak_id"])

    op.create_table(
        "zrg_rollen",
        _id(),
        _zaak_id("zrg_rollen"),
        sa.Column("rol", sa.String(30), nullable=False),
        _text("code", 80),
        _text("omschrijving", 200),
        _text("toelichting"),
        _text("soort", 30),
        _text("bsn", 9),
        _text("anp_identificatie", 80),
        _text("rsin", 9),
        _text("ann_identificatie", 80),
        _text("kvk_nummer", 8),
        _text("vestigingsnummer", 12),
        _text("identificatie", 200),
        _text("authentiek", 1),
        _text("naam", 200),
        _text("voorvoegsel", 30),
        _text("voorletters", 30),
        _text("voornamen", 200),
        _text("geslachtsaanduiding", 1),
        _text("geboortedatum", 8),
        _text("rechtsvorm", 80),
        _text("adres"),
        sa.PrimaryKeyConstraint("id", name="pk_zrg_rollen"),
    )
    op.create_index("ix_zrg_rollen_zaak_id", "zrg_rollen", ["zaak_id"])
    op.create_index("ix_zrg_rollen_rol_bsn", "zrg_rollen", ["rol", "bsn"])

    op.create_table(
        "zrg_documenten",
        _id(),
        sa.Column("identificatie", sa.String(40), nullable=False),
        _text("dct_omschrijving", 200),
        _text("creatiedatum", 8),
        _text("ontvangstdatum", 8),
        _text("titel", 200),
        _text("beschrijving"),
        _text("formaat", 200),
        _text("taal", 20),
        _text("versie", 10),
        _text("status", 30),
        _text("verzenddatum", 8),
        _text("vertrouwelijk_aanduiding", 30),
        _text("auteur", 200),
        _text("link", 1000),
        _text("bestandsnaam", 200),
        _text("content_type", 200),
        _text("inhoud_sleutel", 200),
        sa.Column("inhoud_grootte", sa.BigInteger(), nullable=True),
        _text("checkout_id", 64),
        _text("checkout_door", 200),
        _moment("aangemaakt_op"),
        _moment("gewijzigd_op"),
        sa.PrimaryKeyConstraint("id", name="pk_zrg_documenten"),
        sa.UniqueConstraint("identificatie", name="uq_zrg_documenten_identificatie"),
    )

    op.create_table(
        "zrg_zaakdocumenten",
        _id(),
        _zaak_id("zrg_zaakdocumenten"),
        sa.Column(
            "document_id",
            _BigId,
            sa.ForeignKey(
                "zrg_documenten.id",
                name="fk_zrg_zaakdocumenten_document_id",
                ondelete="CASCADE",
            ),
            nullable=False,
        ),
        _text("titel", 200),
        _text("beschrijving"),
        _text("registratiedatum", 8),
        _text("stt_volgnummer", 10),
        _text("stt_omschrijving", 200),
        _text("sta_datum_status_gezet", 17),
        sa.PrimaryKeyConstraint("id", name="pk_zrg_zaakdocumenten"),
        sa.UniqueConstraint(
            "zaak_id",
            "document_id",
            name="uq_zrg_zaakdocumenten_zaak_id_document_id",
        ),
    )
    op.create_index("ix_zrg_zaakdocumenten_zaak_id", "zrg_zaakdocumenten", ["zaak_id"])
    op.create_index(
        "ix_zrg_zaakdocumenten_document_id", "zrg_zaakdocumenten", ["document_id"]
    )

    op.create_table(
        "zrg_tellers",
        sa.Column("reeks", sa.String(200), nullable=False),
        sa.Column("waarde", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("reeks", name="pk_zrg_tellers"),
    )


def downgrade() -> None:
    for table in (
        "zrg_tellers",
        "zrg_zaakdocumenten",
        "zrg_documenten",
        "zrg_rollen",
        "zrg_statussen",
        "zrg_kenmerken",
        "zrg_zaken",
    ):
        op.drop_table(table)
