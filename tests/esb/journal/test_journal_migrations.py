"""The journal's Alembic migrations: an empty database becomes a journal."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from esb.journal import Journal, JournalError, journal_url
from esb.journal.migrate import alembic_config, current_revision, head_revision

TABLES = {
    "journal_alembic_version",
    "journal_attempts",
    "journal_deliveries",
    "journal_messages",
}


def test_opening_an_empty_database_migrates_it_to_head(database_url: str) -> None:
    """Journal.open on an empty database creates the tables and records the
    newest revision in the journal's own version table."""
    journal = Journal.open(database_url)
    try:
        with journal.engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
            revision = current_revision(connection)
    finally:
        journal.close()

    assert tables == TABLES
    assert revision == head_revision() is not None


def test_opening_a_migrated_database_again_changes_nothing(database_url: str) -> None:
    """A second open finds the journal at head and leaves it so."""
    Journal.open(database_url).close()
    journal = Journal.open(database_url)
    try:
        with journal.engine.connect() as connection:
            assert current_revision(connection) == head_revision()
    finally:
        journal.close()


@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_the_migrations_match_the_schema_module(database_url: str) -> None:
    """After upgrading, Alembic finds no difference between the database and
    esb.journal.schema: the migrations and the metadata agree."""
    Journal.open(database_url).close()

    command.check(alembic_config(database_url))


@pytest.mark.postgres
def test_postgresql_tables_live_in_the_search_path_schema(postgres_url: str) -> None:
    """On PostgreSQL the tables and the version table are created in the
    first schema of the search_path, not in public."""
    journal = Journal.open(postgres_url)
    try:
        with journal.engine.connect() as connection:
            schema = connection.execute(sa.text("SELECT current_schema()")).scalar()
            found = connection.execute(
                sa.text(
                    "SELECT table_schema, table_name FROM information_schema.tables"
                    " WHERE table_name LIKE 'journal%'"
                )
            ).all()
    finally:
        journal.close()

    assert schema is not None and schema.startswith("emo_test_")
    assert {(s, t) for s, t in found} == {(schema, table) for table in TABLES}


def test_the_sqlite_journal_is_in_wal_mode_with_full_sync(sqlite_url: str) -> None:
    """SQLite runs in WAL mode, fsyncing at every commit (synchronous=FULL, 2)."""
    journal = Journal.open(sqlite_url)
    try:
        with journal.engine.connect() as connection:
            mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
            sync = connection.exec_driver_sql("PRAGMA synchronous").scalar()
            keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
    finally:
        journal.close()

    assert (mode, sync, keys) == ("wal", 2, 1)


def test_an_in_memory_sqlite_journal_is_refused() -> None:
    """An in-memory database would not be shared between the writer and the
    readers, nor survive anything: refused."""
    with pytest.raises(JournalError, match="needs a file"):
        Journal.open("sqlite://")


def test_the_default_journal_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    """Without EMO_DATABASE_URL the journal is journal.sqlite3 in the data dir;
    with it, that URL."""
    assert journal_url(tmp_path, {}) == f"sqlite:///{tmp_path / 'journal.sqlite3'}"
    other = "postgresql+psycopg://emo@db/emo"
    assert journal_url(tmp_path, {"EMO_DATABASE_URL": other}) == other
