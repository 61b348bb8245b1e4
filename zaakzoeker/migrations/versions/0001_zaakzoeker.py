"""Create the zaakzoeker: sessions, accounts, API clients, current statuses,
the full-text index and the indexes its searches need on the zaakregister.

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

# Frozen here on purpose, like the zaakregister's migrations: this is the
# schema as it was at this revision.
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Indexes on the zaakregister's tables that its own migration lacks and the
# searches need (named zzk_... so it is clear whose they are):
# - a BSN or KvK number in any role: zrg_rollen has only (rol, bsn); the
#   zaak_id makes the lookup index-only;
# - the sortings, with id as the tie-breaker that makes paging stable;
# - a zaaktype's zaken newest first without sorting them all.
_ZRG_INDEXES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("zzk_ix_zrg_rollen_bsn", "zrg_rollen", ("bsn", "zaak_id")),
    ("zzk_ix_zrg_rollen_kvk_nummer", "zrg_rollen", ("kvk_nummer", "zaak_id")),
    ("zzk_ix_zrg_zaken_startdatum", "zrg_zaken", ("startdatum", "id")),
    (
        "zzk_ix_zrg_zaken_einddatum_gepland",
        "zrg_zaken",
        ("einddatum_gepland", "id"),
    ),
    (
        "zzk_ix_zrg_zaken_zaaktype_startdatum",
        "zrg_zaken",
        ("zaaktype_code", "startdatum", "id"),
    ),
)

_NULLABLE_SORT_COLUMNS = {"startdatum", "einddatum_gepland", "zaaktype_code"}

_CURRENT = """
    SELECT zaak_id, id, omschrijving, datum_status_gezet
    FROM zrg_statussen WHERE zaak_id = {zaak}
    ORDER BY coalesce(datum_status_gezet, '') DESC, id DESC LIMIT 1
"""
_INSERT_CURRENT = (
    "INSERT INTO zzk_huidige_status "
    "(zaak_id, status_id, omschrijving, datum_status_gezet)"
)

_SQLITE = (
    """CREATE VIRTUAL TABLE zzk_zaken_fts USING fts5(
        omschrijving, toelichting,
        content='zrg_zaken', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    )""",
    """CREATE TRIGGER zzk_zaken_ai AFTER INSERT ON zrg_zaken BEGIN
        INSERT INTO zzk_zaken_fts (rowid, omschrijving, toelichting)
        VALUES (new.id, new.omschrijving, new.toelichting);
    END""",
    """CREATE TRIGGER zzk_zaken_ad AFTER DELETE ON zrg_zaken BEGIN
        INSERT INTO zzk_zaken_fts (zzk_zaken_fts, rowid, omschrijving, toelichting)
        VALUES ('delete', old.id, old.omschrijving, old.toelichting);
        DELETE FROM zzk_huidige_status WHERE zaak_id = old.id;
    END""",
    """CREATE TRIGGER zzk_zaken_au
    AFTER UPDATE OF omschrijving, toelichting ON zrg_zaken BEGIN
        INSERT INTO zzk_zaken_fts (zzk_zaken_fts, rowid, omschrijving, toelichting)
        VALUES ('delete', old.id, old.omschrijving, old.toelichting);
        INSERT INTO zzk_zaken_fts (rowid, omschrijving, toelichting)
        VALUES (new.id, new.omschrijving, new.toelichting);
    END""",
    f"""CREATE TRIGGER zzk_statussen_ai AFTER INSERT ON zrg_statussen BEGIN
        DELETE FROM zzk_huidige_status WHERE zaak_id = new.zaak_id;
        {_INSERT_CURRENT} {_CURRENT.format(zaak="new.zaak_id")};
    END""",
    f"""CREATE TRIGGER zzk_statussen_au AFTER UPDATE ON zrg_statussen BEGIN
        DELETE FROM zzk_huidige_status WHERE zaak_id IN (old.zaak_id, new.zaak_id);
        {_INSERT_CURRENT}
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
        {_INSERT_CURRENT} {_CURRENT.format(zaak="old.zaak_id")};
    END""",
    "INSERT INTO zzk_zaken_fts (zzk_zaken_fts) VALUES ('rebuild')",
)

_PG_TEKST = (
    "to_tsvector('dutch'::regconfig, "
    "coalesce({rij}.omschrijving, '') || ' ' || coalesce({rij}.toelichting, ''))"
)

_POSTGRESQL = (
    # The full-text index, with Dutch stemming ("aanvragen" finds
    # "aanvraag"). The vectors are stored, not an expression index on
    # zrg_zaken: a query that reads many candidate zaken (a common word, or
    # newest first with LIMIT) checks each against its vector, and computing
    # to_tsvector for every candidate costs ~50 us a zaak, seconds for a
    # common word in a million zaken; a stored vector is checked in ~1 us.
    """CREATE TABLE zzk_zaak_tekst (
        zaak_id bigint NOT NULL,
        tekst tsvector NOT NULL,
        CONSTRAINT pk_zzk_zaak_tekst PRIMARY KEY (zaak_id),
        CONSTRAINT fk_zzk_zaak_tekst_zaak_id FOREIGN KEY (zaak_id)
            REFERENCES zrg_zaken (id) ON DELETE CASCADE
    )""",
    "CREATE INDEX ix_zzk_zaak_tekst_tekst ON zzk_zaak_tekst USING gin (tekst)",
    f"""CREATE FUNCTION zzk_zaak_tekst_bijwerken()
    RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO zzk_zaak_tekst (zaak_id, tekst)
        VALUES (NEW.id, {_PG_TEKST.format(rij="NEW")})
        ON CONFLICT (zaak_id) DO UPDATE SET tekst = EXCLUDED.tekst;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER zzk_zaken_tekst
    AFTER INSERT OR UPDATE OF omschrijving, toelichting ON zrg_zaken
    FOR EACH ROW EXECUTE FUNCTION zzk_zaak_tekst_bijwerken()""",
    f"""INSERT INTO zzk_zaak_tekst (zaak_id, tekst)
    SELECT id, {_PG_TEKST.format(rij="zrg_zaken")} FROM zrg_zaken""",
    # One zaak's text against a query, for walking a sort index. A function
    # (plpgsql, not inlined) because the planner then assumes a third of
    # the zaken match and walks the index; written as a subquery it guesses
    # one zaak in a million and sorts them all.
    """CREATE FUNCTION zzk_tekst_past(zaak bigint, vraag tsquery)
    RETURNS boolean LANGUAGE plpgsql STABLE COST 10 AS $$
    BEGIN
        RETURN EXISTS (
            SELECT 1 FROM zzk_zaak_tekst WHERE zaak_id = zaak AND tekst @@ vraag
        );
    END $$""",
    # Locking the zaak's row first makes two transactions that add statuses
    # to one zaak take turns: the second then reads the first's status
    # (READ COMMITTED: each statement in the function sees what committed).
    f"""CREATE FUNCTION zzk_huidige_status_bepalen(zaak bigint)
    RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM 1 FROM zrg_zaken WHERE id = zaak FOR NO KEY UPDATE;
        DELETE FROM zzk_huidige_status WHERE zaak_id = zaak;
        {_INSERT_CURRENT} {_CURRENT.format(zaak="zaak")};
    END $$""",
    """CREATE FUNCTION zzk_statussen_gewijzigd()
    RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            PERFORM zzk_huidige_status_bepalen(OLD.zaak_id);
        END IF;
        IF TG_OP = 'INSERT' THEN
            PERFORM zzk_huidige_status_bepalen(NEW.zaak_id);
        ELSIF TG_OP = 'UPDATE' AND NEW.zaak_id <> OLD.zaak_id THEN
            PERFORM zzk_huidige_status_bepalen(NEW.zaak_id);
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER zzk_statussen_huidige_status
    AFTER INSERT OR UPDATE OR DELETE ON zrg_statussen
    FOR EACH ROW EXECUTE FUNCTION zzk_statussen_gewijzigd()""",
)

_BACKFILL_CURRENT = f"""
    {_INSERT_CURRENT}
    SELECT zaak_id, id, omschrijving, datum_status_gezet FROM (
        SELECT zaak_id, id, omschrijving, datum_status_gezet,
            row_number() OVER (
                PARTITION BY zaak_id
                ORDER BY coalesce(datum_status_gezet, '') DESC, id DESC
            ) AS rang
        FROM zrg_statussen
    ) AS geordend WHERE rang = 1
"""


def _sort_column(column: str, dialect: str) -> str | sa.TextClause:
    # The searches sort a missing date or zaaktype as the smallest value:
    # SQLite's order for NULL, which PostgreSQL's indexes give only when
    # told (their default puts NULL last).
    if dialect == "postgresql" and column in _NULLABLE_SORT_COLUMNS:
        return sa.text(f"{column} NULLS FIRST")
    return column


def upgrade() -> None:
    op.create_table(
        "zzk_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("data", sa.Text(), server_default="{}", nullable=False),
        sa.Column("bsn", sa.String(9), nullable=True),
        sa.Column("gebruiker", sa.String(200), nullable=True),
        sa.Column("rollen", sa.String(200), server_default="", nullable=False),
        sa.Column("aangemaakt", sa.Double(), nullable=False),
        sa.Column("laatst_gebruikt", sa.Double(), nullable=False),
        sa.Column("verloopt", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_zzk_sessions"),
    )
    op.create_index("ix_zzk_sessions_verloopt", "zzk_sessions", ["verloopt"])

    op.create_table(
        "zzk_accounts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("naam", sa.String(200), nullable=False),
        sa.Column("wachtwoord_hash", sa.String(200), nullable=False),
        sa.Column("rollen", sa.String(200), server_default="", nullable=False),
        sa.Column("actief", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("aangemaakt", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_zzk_accounts"),
        sa.UniqueConstraint("naam", name="uq_zzk_accounts_naam"),
    )

    op.create_table(
        "zzk_api_clients",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("naam", sa.String(200), nullable=False),
        sa.Column("sleutel_hash", sa.String(64), nullable=False),
        sa.Column(
            "mag_vertrouwelijk", sa.Boolean(), server_default=sa.false(), nullable=False
        ),
        sa.Column("actief", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("aangemaakt", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_zzk_api_clients"),
        sa.UniqueConstraint("naam", name="uq_zzk_api_clients_naam"),
        sa.UniqueConstraint("sleutel_hash", name="uq_zzk_api_clients_sleutel_hash"),
    )

    op.create_table(
        "zzk_huidige_status",
        sa.Column("zaak_id", _BigId, nullable=False),
        sa.Column("status_id", _BigId, nullable=True),
        sa.Column("omschrijving", sa.String(200), nullable=True),
        sa.Column("datum_status_gezet", sa.String(17), nullable=True),
        sa.PrimaryKeyConstraint("zaak_id", name="pk_zzk_huidige_status"),
    )
    op.create_index(
        "ix_zzk_huidige_status_omschrijving",
        "zzk_huidige_status",
        [sa.text("lower(omschrijving)"), "zaak_id"],
    )

    dialect = op.get_bind().dialect.name
    for name, table, columns in _ZRG_INDEXES:
        op.create_index(name, table, [_sort_column(c, dialect) for c in columns])

    for statement in _SQLITE if dialect == "sqlite" else _POSTGRESQL:
        op.execute(statement)
    op.execute(_BACKFILL_CURRENT)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in (
            "zzk_zaken_ai",
            "zzk_zaken_ad",
            "zzk_zaken_au",
            "zzk_statussen_ai",
            "zzk_statussen_au",
            "zzk_statussen_ad",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS zzk_zaken_fts")
    else:
        op.execute(
            "DROP TRIGGER IF EXISTS zzk_statussen_huidige_status ON zrg_statussen"
        )
        op.execute("DROP FUNCTION IF EXISTS zzk_statussen_gewijzigd()")
        op.execute("DROP FUNCTION IF EXISTS zzk_huidige_status_bepalen(bigint)")
        op.execute("DROP TRIGGER IF EXISTS zzk_zaken_tekst ON zrg_zaken")
        op.execute("DROP FUNCTION IF EXISTS zzk_zaak_tekst_bijwerken()")
        op.execute("DROP FUNCTION IF EXISTS zzk_tekst_past(bigint, tsquery)")
        op.execute("DROP TABLE IF EXISTS zzk_zaak_tekst")
    for name, table, _columns in _ZRG_INDEXES:
        op.drop_index(name, table_name=table)
    for table in ("zzk_huidige_status", "zzk_api_clients", "zzk_accounts"):
        op.drop_table(table)
    op.drop_table("zzk_sessions")
