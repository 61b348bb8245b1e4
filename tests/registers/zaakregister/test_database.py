"""The register's database: migrations, and living beside the journal."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from esb.journal import Journal
from registers.zaakregister.database import (
    VERSION_TABLE,
    Database,
    alembic_config,
    current_revision,
)


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
