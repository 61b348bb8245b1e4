"""The klantregister's database: migrations equal to the model, a version
table of its own, statements through the driver and their errors, on SQLite
and PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from esb.engines import run
from esb.errors import StufFault
from registers.klantregister import Klantregister, store
from registers.klantregister.database import (
    VERSION_TABLE,
    Conflict,
    Database,
    current_revision,
)
from registers.klantregister.entiteiten import NNP, NPS, Entiteit
from registers.klantregister.model import metadata
from registers.klantregister.store import Bron
from tests.registers.klantregister.berichten import BSN_JAN, BSN_PIET, KVK_ACME


def test_the_migrations_create_exactly_the_model(database_url: str) -> None:
    """Alembic finds no difference between the migrated database and the
    metadata in model.py (tables, columns, types, indexes)."""
    database = Database.open(database_url)
    try:
        with database.engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "include_object": lambda obj, name, kind, reflected, other: (
                        not (kind == "table" and name == VERSION_TABLE)
                    ),
                },
            )
            assert compare_metadata(context, metadata) == []
    finally:
        database.close()


def test_the_register_keeps_its_own_version_table(database_url: str) -> None:
    """klantregister_alembic_version, so it can share a database with the
    journal and the zaakregister; opening twice migrates once."""
    Database.open(database_url).close()
    database = Database.open(database_url)
    try:
        with database.engine.connect() as connection:
            assert current_revision(connection) == "krg_0002"
            tables = set(sa.inspect(connection).get_table_names())
        assert VERSION_TABLE in tables
        assert "alembic_version" not in tables
        assert {t for t in tables if t != VERSION_TABLE} <= {
            t for t in tables if t.startswith("krg_")
        }
    finally:
        database.close()


# Statements through the driver ----------------------------------------------

JAN = {
    "bsn": BSN_JAN,
    "geslachtsnaam": "Jansen",
    "voornamen": "Jan",
    "geboortedatum": "19800000",
    "geboortedatum_indicator": "M",
    "verblijf_postcode": "1234AB",
    "verblijf_huisnummer": "12",
    "correspondentie_postadres_type": "P",
    "correspondentie_postadres_nummer": "1500",
    "correspondentie_postcode": "1000AA",
}


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    opened = Database.open(database_url)
    yield opened
    opened.close()


@pytest.mark.parametrize(
    ("entiteit", "key"),
    [(NPS, {"bsn": BSN_JAN}), (NNP, {"kvk_nummer": KVK_ACME})],
    ids=["NPS", "NNP"],
)
def test_a_look_up_sees_what_find_and_sqlalchemy_see(
    register: Klantregister, entiteit: Entiteit, key: dict[str, str]
) -> None:
    """store.look_up (outside a transaction) and store.find (in one), both
    through the driver, give the subject as SQLAlchemy's own rows do:
    integers and booleans as the same texts and flags, None as None."""
    register.learn_from_betrokkene(JAN)
    register.learn_from_betrokkene({"kvk_nummer": KVK_ACME, "statutaire_naam": "Acme"})
    database = register.database
    [(column, value)] = key.items()
    table = entiteit.table

    looked_up = store.look_up(database, entiteit, key)
    found = database.read(lambda c: store.find(c, entiteit, key, lock=True))
    [row] = database.read(
        lambda c: list(
            c.execute(sa.select(table).where(table.c[column] == value)).mappings()
        )
    )

    assert looked_up is not None
    assert looked_up == found == store.subject_from_row(entiteit, row)
    assert looked_up.verwijderd is False


def test_a_look_up_keeps_numbers_and_incomplete_dates(
    register: Klantregister,
) -> None:
    """A house number (an integer column) comes back as its text, an
    incomplete date with its indicator; an unknown BSN finds nobody."""
    register.learn_from_betrokkene(JAN)

    subject = store.look_up(register.database, NPS, {"bsn": BSN_JAN})

    assert subject is not None
    assert subject.gegevens["verblijf_huisnummer"] == "12"
    assert subject.gegevens["correspondentie_postadres_nummer"] == "1500"
    assert subject.gegevens["geboortedatum"] == "19800000"
    assert subject.gegevens["geboortedatum_indicator"] == "M"
    assert store.look_up(register.database, NPS, {"bsn": BSN_PIET}) is None


def test_run_needs_a_transaction(database: Database) -> None:
    """Outside Database.read or write each statement would commit on its
    own (SQLite): run refuses."""
    table = NPS.table
    statement = sa.select(table.c.id).where(table.c.bsn == sa.bindparam("key"))
    with database.engine.connect() as connection:
        with pytest.raises(RuntimeError, match="transaction"):
            run(connection, statement, {"key": BSN_JAN})


def test_a_number_taken_meanwhile_is_a_conflict_after_a_second_try(
    database: Database,
) -> None:
    """The driver's unique-constraint error stays an IntegrityError: write
    runs the work a second time, then raises Conflict."""

    def insert(connection: sa.Connection) -> int:
        attempts.append(1)
        return store.insert(connection, NPS, {"bsn": BSN_JAN}, Bron("test"), 1.0)

    attempts: list[int] = []
    database.write(insert)
    attempts.clear()

    with pytest.raises(Conflict):
        database.write(insert)
    assert len(attempts) == 2
    assert (
        database.read(
            lambda c: c.execute(sa.select(sa.func.count()).select_from(NPS.history))
        ).scalar_one()
        == 1
    )


def test_a_failing_look_up_is_a_server_fault_without_the_number(
    database: Database,
) -> None:
    """A driver error in a look-up (here: the table is gone) is StUF058
    with plek server, worth a retry, and names no BSN; the connection goes
    back to the pool fit for use."""
    with database.engine.begin() as connection:
        connection.exec_driver_sql(
            "ALTER TABLE krg_natuurlijke_personen RENAME TO krg_weg"
        )

    with pytest.raises(StufFault) as raised:
        store.look_up(database, NPS, {"bsn": BSN_JAN})

    assert (raised.value.code, raised.value.plek) == ("StUF058", "server")
    assert BSN_JAN not in str(raised.value.full_details)
    with database.engine.begin() as connection:
        connection.exec_driver_sql(
            "ALTER TABLE krg_weg RENAME TO krg_natuurlijke_personen"
        )
    assert store.look_up(database, NPS, {"bsn": BSN_JAN}) is None


def test_a_locked_sqlite_database_is_a_server_fault(sqlite_url: str) -> None:
    """Another process holding SQLite's write lock past the busy timeout:
    BEGIN IMMEDIATE fails as a StUF fault with plek server, and the next
    write succeeds."""
    database = Database.open(sqlite_url)
    try:
        with database.engine.connect() as connection:
            # The pool's one connection: wait 10 ms for the lock, not 30 s.
            connection.exec_driver_sql("PRAGMA busy_timeout = 10")
        holder = sqlite3.connect(str(sa.make_url(sqlite_url).database))
        holder.isolation_level = None
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StufFault) as raised:
                database.write(lambda c: None)
        finally:
            holder.execute("ROLLBACK")
            holder.close()

        assert (raised.value.code, raised.value.plek) == ("StUF058", "server")
        assert database.write(lambda c: "written") == "written"
    finally:
        database.close()
