"""The register's database: migrations, and living beside the journal."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from lxml import etree

from esb.envelope import open_envelope, parse_xml
from esb.errors import StufFault
from esb.identify import identify
from esb.journal import Journal
from esb.message import Identification
from registers.zaakregister import Zaakregister
from registers.zaakregister.database import (
    VERSION_TABLE,
    Database,
    alembic_config,
    current_revision,
)
from registers.zaakregister.model import Zaak
from tests.registers.zaakregister import messages
from tests.registers.zaakregister.conftest import soap_action
from zaakzoeker import database as zaakzoeker_database


def test_migrations_create_what_the_model_describes(tmp_path: Path) -> None:
    """After the migrations, Alembic finds no difference with the ORM model."""
    url = f"sqlite:///{tmp_path / 'zaakregister.db'}"
    Database.open(url).close()
    command.check(alembic_config(url))


def test_register_and_journal_share_one_database(tmp_path: Path) -> None:
    """The journal and the register each keep their own version table, so
    both migrate in one database without touching each other."""
    url = f"sqlite:///{tmp_path / 'emo.db'}"
    Journal.open(url).close()
    database = Database.open(url)
    try:
        with database.engine.connect() as connection:
            assert current_revision(connection) == "0002"
            tables = set(sa.inspect(connection).get_table_names())
        assert {VERSION_TABLE, "journal_alembic_version", "zrg_zaken"} <= tables
        assert any(name.startswith("journal_") for name in tables - {VERSION_TABLE})
    finally:
        database.close()
    # Opening again migrates nothing and fails on nothing.
    Database.open(url).close()


def test_the_zaakzoekers_indexes_on_the_registers_tables_are_left_alone(
    tmp_path: Path,
) -> None:
    """The zaakzoeker indexes zrg_ tables for its searches (zzk_ix_...);
    the zaakregister's Alembic, comparing its model with the database,
    neither counts them as its own nor proposes dropping them."""
    url = f"sqlite:///{tmp_path / 'zaakregister.db'}"
    zaakzoeker_database.open_engine(url).dispose()
    with sa.create_engine(url).connect() as connection:
        indexes = sa.inspect(connection).get_indexes("zrg_rollen")
    assert any(index["name"].startswith("zzk_ix_") for index in indexes)
    command.check(alembic_config(url))


@pytest.mark.postgres
def test_migrations_on_postgresql(postgres_url: str) -> None:
    database = Database.open(postgres_url)
    try:
        command.check(alembic_config(postgres_url))
        with database.engine.connect() as connection:
            assert current_revision(connection) == "0002"
    finally:
        database.close()


def test_sqlite_in_memory_is_refused() -> None:
    """Each connection to :memory: is its own database: not a register."""
    with pytest.raises(ValueError, match="not :memory:"):
        Database.open("sqlite:///:memory:")


# Writes that share a transaction ---------------------------------------------


def _queued_creators(
    register: Zaakregister, identificaties: list[str]
) -> tuple[list[threading.Thread], dict[str, object]]:
    """Threads sending creeerZaak for ``identificaties`` while the test holds
    the turn to write, so that all of them wait to share one transaction."""
    outcomes: dict[str, object] = {}

    def create(identificatie: str) -> None:
        raw = messages.creeer_zaak(identificatie)
        body = open_envelope(parse_xml(raw)).body
        try:
            outcomes[identificatie] = register.handle(
                identify(body, soap_action(raw)), body
            )
        except StufFault as fault:
            outcomes[identificatie] = fault

    threads = [
        threading.Thread(target=create, args=(identificatie,))
        for identificatie in identificaties
    ]
    return threads, outcomes


def _run_while_holding_the_turn(
    register: Zaakregister, threads: list[threading.Thread]
) -> int:
    """Start ``threads``, let them all queue, release the turn; the number
    of write transactions begun meanwhile."""
    database = register.database
    begun: list[object] = []

    def count(connection: object) -> None:
        begun.append(connection)

    sa.event.listen(database.engine, "begin", count)
    try:
        with database._write_turn:
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 10
            while len(database._joining or []) < len(threads):
                assert time.monotonic() < deadline, "the creators did not queue"
                time.sleep(0.005)
        for thread in threads:
            thread.join(10)
    finally:
        sa.event.remove(database.engine, "begin", count)
    return len(begun)


def test_creeerzaak_writes_of_several_senders_share_one_transaction(
    register: Zaakregister,
) -> None:
    identificaties = [f"0392-2025-88000{n}" for n in range(5)]
    threads, outcomes = _queued_creators(register, identificaties)

    assert _run_while_holding_the_turn(register, threads) == 1
    for identificatie in identificaties:
        answer = outcomes[identificatie]
        assert isinstance(answer, etree._Element)
        assert etree.QName(answer).localname == "Bv03Bericht"
    stored = register.database.read(
        lambda s: set(s.scalars(sa.select(Zaak.identificatie)))
    )
    assert set(identificaties) <= stored


def test_one_failing_write_in_a_shared_transaction_fails_alone(
    register: Zaakregister,
) -> None:
    """A zaak that exists already, queued among new ones: its sender gets
    "Zaak bestaat al", the others' zaken are stored all the same."""
    register.handle(*_identified(messages.creeer_zaak("0392-2025-8800099")))
    identificaties = [f"0392-2025-88001{n}" for n in range(4)] + ["0392-2025-8800099"]
    threads, outcomes = _queued_creators(register, identificaties)

    # One shared transaction, rolled back; then one for each work on its own.
    assert _run_while_holding_the_turn(register, threads) == 1 + len(identificaties)
    fault = outcomes["0392-2025-8800099"]
    assert isinstance(fault, StufFault) and "bestaat al" in fault.omschrijving
    stored = register.database.read(
        lambda s: set(s.scalars(sa.select(Zaak.identificatie)))
    )
    assert set(identificaties) <= stored
    for identificatie in identificaties[:-1]:
        assert isinstance(outcomes[identificatie], etree._Element)


def test_the_same_zaak_twice_in_one_shared_transaction_is_stored_once(
    register: Zaakregister,
) -> None:
    identificaties = ["0392-2025-8800200", "0392-2025-8800200"]
    threads, outcomes = _queued_creators(register, identificaties[:1])
    second, second_outcomes = _queued_creators(register, identificaties[1:])

    _run_while_holding_the_turn(register, threads + second)
    answers = [outcomes[identificaties[0]], second_outcomes[identificaties[0]]]
    assert sum(isinstance(answer, etree._Element) for answer in answers) == 1
    assert sum(isinstance(answer, StufFault) for answer in answers) == 1
    count = register.database.read(
        lambda s: s.scalar(
            sa.select(sa.func.count()).where(Zaak.identificatie == identificaties[0])
        )
    )
    assert count == 1


def _identified(raw: bytes) -> tuple[Identification, etree._Element]:
    body = open_envelope(parse_xml(raw)).body
    return identify(body, soap_action(raw)), body
