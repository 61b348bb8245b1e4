"""The zaakzoeker's database: the zaakregister's, with the zaakzoeker's tables.

The zaakzoeker reads the zaakregister's tables (``zrg_``) directly and keeps
its own beside them, prefix ``zzk_``, with their own Alembic history
(``migrations/``, version table ``zaakzoeker_alembic_version``):

    zzk_sessions        server-side sessions (the cookie holds only the id)
    zzk_accounts        local accounts of employees
    zzk_api_clients     applications allowed to use the JSON API
    zzk_huidige_status  each zaak's current status, kept by triggers on
                        zrg_statussen, so a search by status reads one row
                        per zaak instead of every status of every zaak; with
                        the zaak's zaaktype (a trigger on zrg_zaken follows
                        it), so zaaktype and status together are one range
                        of one index
    zzk_zaken_fts       (SQLite) the FTS5 index over omschrijving and
                        toelichting of zrg_zaken, kept by triggers
    zzk_zaak_tekst      (PostgreSQL) each zaak's tsvector (Dutch) over the
                        same texts, GIN-indexed, kept by a trigger

Times are seconds since the epoch (floats), as in the zaakregister. Roles
(``rollen``) are written as one text of role names separated by spaces,
e.g. ``"medewerker vertrouwelijk"``.

Order: :func:`open_engine` migrates the zaakregister first (its tables must
exist before the triggers on them), then the zaakzoeker.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config

from esb import alembic_env as migrations_env
from registers.zaakregister.database import Database

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "zaakzoeker_alembic_version"

# The text PostgreSQL's full-text index holds for a zaak (zzk_zaak_tekst).
PG_TEKST = (
    "to_tsvector('dutch'::regconfig, "
    "coalesce(omschrijving, '') || ' ' || coalesce(toelichting, ''))"
)

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

sessions_table = sa.Table(
    "zzk_sessions",
    metadata,
    # 32 random bytes, URL-safe base64 (43 characters).
    sa.Column("id", sa.String(64), primary_key=True),
    # The session's other values as a JSON object (CSRF token, SAML request
    # id, ...); never a BSN (that has its own column).
    sa.Column("data", sa.Text(), nullable=False, server_default="{}"),
    sa.Column("bsn", sa.String(9), nullable=True),
    sa.Column("gebruiker", sa.String(200), nullable=True),
    sa.Column("rollen", sa.String(200), nullable=False, server_default=""),
    sa.Column("aangemaakt", sa.Double(), nullable=False),
    sa.Column("laatst_gebruikt", sa.Double(), nullable=False),
    sa.Column("verloopt", sa.Double(), nullable=False),
    sa.Index("ix_zzk_sessions_verloopt", "verloopt"),
)

accounts_table = sa.Table(
    "zzk_accounts",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("naam", sa.String(200), nullable=False, unique=True),
    sa.Column("wachtwoord_hash", sa.String(200), nullable=False),
    sa.Column("rollen", sa.String(200), nullable=False, server_default=""),
    sa.Column("actief", sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.Column("aangemaakt", sa.Double(), nullable=False),
)

api_clients_table = sa.Table(
    "zzk_api_clients",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("naam", sa.String(200), nullable=False, unique=True),
    # SHA-256 (hex) of the key; the key is 32 random bytes, so a plain hash
    # is enough and lets a request find its client by an index lookup.
    sa.Column("sleutel_hash", sa.String(64), nullable=False, unique=True),
    sa.Column(
        "mag_vertrouwelijk", sa.Boolean(), nullable=False, server_default=sa.false()
    ),
    sa.Column("actief", sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.Column("aangemaakt", sa.Double(), nullable=False),
)

# No foreign key to zrg_zaken: the triggers that keep this table run while a
# zaak's statussen are deleted with it, and SQLite would check a key to the
# zaak already gone. Rows follow the statussen; none outlives them.
huidige_status_table = sa.Table(
    "zzk_huidige_status",
    metadata,
    sa.Column("zaak_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite")),
    sa.Column("status_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite")),
    sa.Column("omschrijving", sa.String(200), nullable=True),
    sa.Column("datum_status_gezet", sa.String(17), nullable=True),
    # A copy of zrg_zaken.zaaktype_code (migration 0002).
    sa.Column("zaaktype_code", sa.String(80), nullable=True),
    sa.PrimaryKeyConstraint("zaak_id", name="pk_zzk_huidige_status"),
)
sa.Index(
    "ix_zzk_huidige_status_omschrijving",
    sa.func.lower(huidige_status_table.c.omschrijving),
    huidige_status_table.c.zaak_id,
)
sa.Index(
    "ix_zzk_huidige_status_zaaktype_code_omschrijving",
    huidige_status_table.c.zaaktype_code,
    sa.func.lower(huidige_status_table.c.omschrijving),
    huidige_status_table.c.zaak_id,
)


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration for the zaakzoeker's migrations."""
    return migrations_env.alembic_config(MIGRATIONS, url)


def upgrade(connection: sa.Connection) -> None:
    """Run every zaakzoeker migration not yet applied and commit."""
    migrations_env.upgrade(connection, MIGRATIONS)


def current_revision(connection: sa.Connection) -> str | None:
    """The zaakzoeker revision the database is at; None before the first."""
    return migrations_env.current_revision(connection, VERSION_TABLE)


def open_engine(url: str, *, pool_size: int = 8) -> sa.Engine:
    """Connect to the zaakregister's database at ``url`` and migrate it.

    The zaakregister's migrations run first, then the zaakzoeker's. The
    engine is the zaakregister's kind (SQLite in WAL mode with foreign keys
    on, or PostgreSQL), parameters hidden from error texts (BSNs).
    """
    database = Database.open(url, pool_size=pool_size)
    engine = database.engine
    try:
        with engine.connect() as connection:
            upgrade(connection)
            if connection.dialect.name == "sqlite":
                repair_sqlite_triggers(connection)
    except BaseException:
        engine.dispose()
        raise
    return engine


# The current status is the status set last: datumStatusGezet, then the
# order received. Of one zaak, by sorting its few statussen; of several, by
# ranking them per zaak (``{where}`` names the zaken, or is empty for all).
# Each comes with its zaak's zaaktype; a zaak already deleted gets none.
_INSERT_HUIDIGE_STATUS = """
    INSERT INTO zzk_huidige_status
        (zaak_id, status_id, omschrijving, datum_status_gezet, zaaktype_code)"""
_HUIDIGE_STATUS_VAN_ZAAK = """
    SELECT s.zaak_id, s.id, s.omschrijving, s.datum_status_gezet, z.zaaktype_code
    FROM zrg_statussen AS s JOIN zrg_zaken AS z ON z.id = s.zaak_id
    WHERE s.zaak_id = {zaak}
    ORDER BY coalesce(s.datum_status_gezet, '') DESC, s.id DESC LIMIT 1"""
_HUIDIGE_STATUS_VAN_ZAKEN = """
    SELECT geordend.zaak_id, geordend.id, geordend.omschrijving,
        geordend.datum_status_gezet, z.zaaktype_code
    FROM (
        SELECT zaak_id, id, omschrijving, datum_status_gezet,
            row_number() OVER (
                PARTITION BY zaak_id
                ORDER BY coalesce(datum_status_gezet, '') DESC, id DESC
            ) AS rang
        FROM zrg_statussen {where}
    ) AS geordend JOIN zrg_zaken AS z ON z.id = geordend.zaak_id
    WHERE geordend.rang = 1"""

# Every zaak's current status in one statement: after a bulk load with the
# triggers off, or when triggers had to be put back. Works on both backends.
REBUILD_HUIDIGE_STATUS = _INSERT_HUIDIGE_STATUS + _HUIDIGE_STATUS_VAN_ZAKEN.format(
    where=""
)


def _statussen_trigger(name: str, event: str, row: str) -> str:
    """A trigger after ``event`` on zrg_statussen that recomputes the
    current status of the zaak of ``row`` ("new" or "old")."""
    return f"""
        CREATE TRIGGER {name} AFTER {event} ON zrg_statussen BEGIN
            DELETE FROM zzk_huidige_status WHERE zaak_id = {row}.zaak_id;
            {_INSERT_HUIDIGE_STATUS}
            {_HUIDIGE_STATUS_VAN_ZAAK.format(zaak=f"{row}.zaak_id")};
        END"""


_OUDE_EN_NIEUWE_ZAAK = "WHERE zaak_id IN (old.zaak_id, new.zaak_id)"

# The SQLite triggers of migrations 0001 and 0002. A later zaakregister
# migration in batch mode (SQLite copies a table to alter it) drops the
# triggers on the copied table; open_engine puts them back and rebuilds what
# they keep, so the index never silently falls behind.
# Repeated from the migrations on purpose: a migration stays a frozen copy.
SQLITE_TRIGGERS: dict[str, str] = {
    "zzk_zaken_ai": """
        CREATE TRIGGER zzk_zaken_ai AFTER INSERT ON zrg_zaken BEGIN
            INSERT INTO zzk_zaken_fts (rowid, omschrijving, toelichting)
            VALUES (new.id, new.omschrijving, new.toelichting);
        END""",
    "zzk_zaken_ad": """
        CREATE TRIGGER zzk_zaken_ad AFTER DELETE ON zrg_zaken BEGIN
            INSERT INTO zzk_zaken_fts (zzk_zaken_fts, rowid, omschrijving, toelichting)
            VALUES ('delete', old.id, old.omschrijving, old.toelichting);
            DELETE FROM zzk_huidige_status WHERE zaak_id = old.id;
        END""",
    "zzk_zaken_au": """
        CREATE TRIGGER zzk_zaken_au
        AFTER UPDATE OF omschrijving, toelichting ON zrg_zaken BEGIN
            INSERT INTO zzk_zaken_fts (zzk_zaken_fts, rowid, omschrijving, toelichting)
            VALUES ('delete', old.id, old.omschrijving, old.toelichting);
            INSERT INTO zzk_zaken_fts (rowid, omschrijving, toelichting)
            VALUES (new.id, new.omschrijving, new.toelichting);
        END""",
    "zzk_statussen_ai": _statussen_trigger("zzk_statussen_ai", "INSERT", "new"),
    # An update may move a status to another zaak: both zaken are redone.
    "zzk_statussen_au": f"""
        CREATE TRIGGER zzk_statussen_au AFTER UPDATE ON zrg_statussen BEGIN
            DELETE FROM zzk_huidige_status {_OUDE_EN_NIEUWE_ZAAK};
            {_INSERT_HUIDIGE_STATUS}
            {_HUIDIGE_STATUS_VAN_ZAKEN.format(where=_OUDE_EN_NIEUWE_ZAAK)};
        END""",
    "zzk_statussen_ad": _statussen_trigger("zzk_statussen_ad", "DELETE", "old"),
    "zzk_zaken_zaaktype": """
        CREATE TRIGGER zzk_zaken_zaaktype
        AFTER UPDATE OF zaaktype_code ON zrg_zaken
        WHEN old.zaaktype_code IS NOT new.zaaktype_code BEGIN
            UPDATE zzk_huidige_status SET zaaktype_code = new.zaaktype_code
            WHERE zaak_id = new.id;
        END""",
}


def rebuild(connection: sa.Connection) -> None:
    """Recompute what the triggers keep: current statuses (and on SQLite the
    full-text index) from the zaakregister's tables. Commits."""
    connection.execute(sa.text("DELETE FROM zzk_huidige_status"))
    connection.execute(sa.text(REBUILD_HUIDIGE_STATUS))
    if connection.dialect.name == "sqlite":
        connection.execute(
            sa.text("INSERT INTO zzk_zaken_fts (zzk_zaken_fts) VALUES ('rebuild')")
        )
    else:
        connection.execute(sa.text("TRUNCATE zzk_zaak_tekst"))
        connection.execute(
            sa.text(
                f"INSERT INTO zzk_zaak_tekst (zaak_id, tekst) "
                f"SELECT id, {PG_TEKST} FROM zrg_zaken"
            )
        )
    connection.commit()


def repair_sqlite_triggers(connection: sa.Connection) -> bool:
    """Put back SQLite triggers a zaakregister migration dropped; rebuild.

    Returns whether anything was missing.
    """
    present = set(
        connection.execute(
            sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        ).scalars()
    )
    missing = [name for name in SQLITE_TRIGGERS if name not in present]
    if not missing:
        connection.rollback()
        return False
    for name in missing:
        connection.execute(sa.text(SQLITE_TRIGGERS[name]))
    rebuild(connection)
    return True
