"""Keep each zaak's zaaktype beside its current status, indexed together.

A search by zaaktype and status together had to take all zaken of the one
and check each against the other: half a second with a million zaken. With
the zaaktype in zzk_huidige_status, one index range holds exactly the zaken
that match both. The triggers that keep the current status copy the
zaaktype along, and a new trigger follows a zaak whose zaaktype changes
(updateZaak may send another isVan).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_zzk_huidige_status_zaaktype_code_omschrijving"

# Frozen here on purpose, as in 0001: the statements as at this revision.
# A zaak's current status is the status set last (datumStatusGezet, then the
# order received), now with the zaak's zaaktype. The join also means a zaak
# being deleted gets no current status back from its remaining statussen.
_INSERT_CURRENT = (
    "INSERT INTO zzk_huidige_status "
    "(zaak_id, status_id, omschrijving, datum_status_gezet, zaaktype_code)"
)
_CURRENT = """
    SELECT s.zaak_id, s.id, s.omschrijving, s.datum_status_gezet, z.zaaktype_code
    FROM zrg_statussen AS s JOIN zrg_zaken AS z ON z.id = s.zaak_id
    WHERE s.zaak_id = {zaak}
    ORDER BY coalesce(s.datum_status_gezet, '') DESC, s.id DESC LIMIT 1
"""
_CURRENT_OF_BOTH = """
    SELECT geordend.zaak_id, geordend.id, geordend.omschrijving,
        geordend.datum_status_gezet, z.zaaktype_code
    FROM (
        SELECT zaak_id, id, omschrijving, datum_status_gezet,
            row_number() OVER (
                PARTITION BY zaak_id
                ORDER BY coalesce(datum_status_gezet, '') DESC, id DESC
            ) AS rang
        FROM zrg_statussen WHERE zaak_id IN (old.zaak_id, new.zaak_id)
    ) AS geordend JOIN zrg_zaken AS z ON z.id = geordend.zaak_id
    WHERE geordend.rang = 1
"""

_SQLITE = (
    f"""CREATE TRIGGER zzk_statussen_ai AFTER INSERT ON zrg_statussen BEGIN
        DELETE FROM zzk_huidige_status WHERE zaak_id = new.zaak_id;
        {_INSERT_CURRENT} {_CURRENT.format(zaak="new.zaak_id")};
    END""",
    f"""CREATE TRIGGER zzk_statussen_au AFTER UPDATE ON zrg_statussen BEGIN
        DELETE FROM zzk_huidige_status WHERE zaak_id IN (old.zaak_id, new.zaak_id);
        {_INSERT_CURRENT} {_CURRENT_OF_BOTH};
    END""",
    f"""CREATE TRIGGER zzk_statussen_ad AFTER DELETE ON zrg_statussen BEGIN
        DELETE FROM zzk_huidige_status WHERE zaak_id = old.zaak_id;
        {_INSERT_CURRENT} {_CURRENT.format(zaak="old.zaak_id")};
    END""",
    """CREATE TRIGGER zzk_zaken_zaaktype
    AFTER UPDATE OF zaaktype_code ON zrg_zaken
    WHEN old.zaaktype_code IS NOT new.zaaktype_code BEGIN
        UPDATE zzk_huidige_status SET zaaktype_code = new.zaaktype_code
        WHERE zaak_id = new.id;
    END""",
)

_POSTGRESQL = (
    # Replaces 0001's function; its trigger on zrg_statussen stays.
    f"""CREATE OR REPLACE FUNCTION zzk_huidige_status_bepalen(zaak bigint)
    RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM 1 FROM zrg_zaken WHERE id = zaak FOR NO KEY UPDATE;
        DELETE FROM zzk_huidige_status WHERE zaak_id = zaak;
        {_INSERT_CURRENT} {_CURRENT.format(zaak="zaak")};
    END $$""",
    # Updating the zaak's row locks it, as zzk_huidige_status_bepalen does:
    # a new status and a new zaaktype of one zaak take turns.
    """CREATE FUNCTION zzk_zaaktype_gewijzigd()
    RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE zzk_huidige_status SET zaaktype_code = NEW.zaaktype_code
        WHERE zaak_id = NEW.id;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER zzk_zaken_zaaktype
    AFTER UPDATE OF zaaktype_code ON zrg_zaken FOR EACH ROW
    WHEN (OLD.zaaktype_code IS DISTINCT FROM NEW.zaaktype_code)
    EXECUTE FUNCTION zzk_zaaktype_gewijzigd()""",
)

# 0001's statements, for the way back.
_INSERT_CURRENT_0001 = (
    "INSERT INTO zzk_huidige_status "
    "(zaak_id, status_id, omschrijving, datum_status_gezet)"
)
_CURRENT_0001 = """
    SELECT zaak_id, id, omschrijving, datum_status_gezet
    FROM zrg_statussen WHERE zaak_id = {zaak}
    ORDER BY coalesce(datum_status_gezet, '') DESC, id DESC LIMIT 1
"""

_SQLITE_0001 = (
    f"""CREATE TRIGGER zzk_statussen_ai AFTER INSERT ON zrg_statussen BEGIN
        DELETE FROM zzk_huidige_status WHERE zaak_id = new.zaak_id;
        {_INSERT_CURRENT_0001} {_CURRENT_0001.format(zaak="new.zaak_id")};
    END""",
    f"""CREATE TRIGGER zzk_statussen_au AFTER UPDATE ON zrg_statussen BEGIN
        DELETE FROM zzk_huidige_status WHERE zaak_id IN (old.zaak_id, new.zaak_id);
        {_INSERT_CURRENT_0001}
        SELECT zaak_id, id, omschrijving, datum_status_gezet FROM (
            SELECT zaak_id, id, omschrijving, datum_status_gezet,
                row_number() OVER (
                    PARTITION BY zaak_id
                    ORDER BY coalesce(datum_status_gezet, '') DESC, id DESC
                ) AS rang
            FROM zrg_statussen WHERE zaak_id IN (old.zaak_id, new.zaak_id)
        ) WHERE rang = 1;
    END""",
    f"""CREATE TRIGGER zzk_statussen_ad AFTER DELETE ON zrg_statussen BEGIN
        DELETE FROM zzk_huidige_status WHERE zaak_id = old.zaak_id;
        {_INSERT_CURRENT_0001} {_CURRENT_0001.format(zaak="old.zaak_id")};
    END""",
)

_POSTGRESQL_0001 = (
    f"""CREATE OR REPLACE FUNCTION zzk_huidige_status_bepalen(zaak bigint)
    RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM 1 FROM zrg_zaken WHERE id = zaak FOR NO KEY UPDATE;
        DELETE FROM zzk_huidige_status WHERE zaak_id = zaak;
        {_INSERT_CURRENT_0001} {_CURRENT_0001.format(zaak="zaak")};
    END $$""",
)

_SQLITE_STATUS_TRIGGERS = ("zzk_statussen_ai", "zzk_statussen_au", "zzk_statussen_ad")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column(
        "zzk_huidige_status",
        sa.Column("zaaktype_code", sa.String(80), nullable=True),
    )
    # Both backends know UPDATE ... FROM (SQLite since 3.33); on PostgreSQL
    # it is one hash join, where a subquery per row would be a million
    # lookups.
    op.execute(
        "UPDATE zzk_huidige_status SET zaaktype_code = zrg_zaken.zaaktype_code "
        "FROM zrg_zaken WHERE zrg_zaken.id = zzk_huidige_status.zaak_id"
    )
    # Zaaktype first: a zaaktype's zaken with one status are one range, and
    # a status alone keeps its own index of 0001.
    op.create_index(
        _INDEX,
        "zzk_huidige_status",
        ["zaaktype_code", sa.text("lower(omschrijving)"), "zaak_id"],
    )

    if dialect == "sqlite":
        for trigger in _SQLITE_STATUS_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        for statement in _SQLITE:
            op.execute(statement)
    else:
        for statement in _POSTGRESQL:
            op.execute(statement)
        # Every row was rewritten and the new column has no statistics yet:
        # without them the planner guesses the size of a zaaktype's range.
        op.execute("ANALYZE zzk_huidige_status")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS zzk_zaken_zaaktype")
        for trigger in _SQLITE_STATUS_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        for statement in _SQLITE_0001:
            op.execute(statement)
    else:
        op.execute("DROP TRIGGER IF EXISTS zzk_zaken_zaaktype ON zrg_zaken")
        op.execute("DROP FUNCTION IF EXISTS zzk_zaaktype_gewijzigd()")
        for statement in _POSTGRESQL_0001:
            op.execute(statement)
    op.drop_index(_INDEX, table_name="zzk_huidige_status")
    # Plain ALTER TABLE on both (SQLite since 3.35): a batch copy of the
    # table would trip over the triggers that name it.
    op.execute("ALTER TABLE zzk_huidige_status DROP COLUMN zaaktype_code")
