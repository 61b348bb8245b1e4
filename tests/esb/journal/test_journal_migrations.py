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
    "journal_answers",
    "journal_attempts",
    "journal_deliveries",
    "journal_messages",
    "journal_payloads",
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


def _migrate(url: str, revision: str, *, down: bool = False) -> None:
    """Bring the database at ``url`` to ``revision`` with Alembic itself."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            if down:
                command.downgrade(config, revision)
            else:
                command.upgrade(config, revision)
            connection.commit()
    finally:
        engine.dispose()


# Two messages as 0001's code stored them: one answered, with a delivery and
# an attempt, its bytes over 1 MiB; one unanswered.
_LARGE_RAW = bytes(range(256)) * 8200
_OLD_MESSAGES = [
    {"seq": 7, "id": "old-1", "raw": _LARGE_RAW, "answer": b"<Bv03/>", "at": 12.5},
    {"seq": 9, "id": "old-2", "raw": b"<two/>", "answer": None, "at": None},
]


def _fill_revision_0001(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            for old in _OLD_MESSAGES:
                connection.execute(
                    sa.text(
                        "INSERT INTO journal_messages (seq, id, received_at,"
                        " updated_at, source, raw, violations, state, route,"
                        " answer, answered_at) VALUES (:seq, :id, 10.0, 11.0,"
                        " 'soap', :raw, '[]', 'delivered', 'zds', :answer, :at)"
                    ),
                    old,
                )
            connection.execute(
                sa.text(
                    "INSERT INTO journal_deliveries (id, message_seq, message_id,"
                    " destination, mode, state, attempts, created_at, updated_at)"
                    " VALUES (3, 7, 'old-1', 'zaakregister', 'request-reply',"
                    " 'delivered', 1, 10.0, 11.0)"
                )
            )
            connection.execute(
                sa.text(
                    "INSERT INTO journal_attempts (delivery_id, started_at,"
                    " ended_at, outcome, answer) VALUES (3, 10.0, 10.5, 'ok',"
                    " :answer)"
                ),
                {"answer": b"<Bv03/>"},
            )
    finally:
        engine.dispose()


def test_revision_0002_moves_bytes_and_answers_to_their_own_tables(
    database_url: str,
) -> None:
    """A journal at 0001 with messages in it, opened by this code: the old
    raw bytes and answers are in journal_payloads and journal_answers, read
    back as before, and deliveries and attempts are all still there (on
    SQLite the columns are dropped in place, so no cascade deletes them)."""
    _migrate(database_url, "0001")
    _fill_revision_0001(database_url)

    journal = Journal.open(database_url)
    try:
        first = journal.get_message("old-1")
        second = journal.get_message("old-2")
        with journal.engine.connect() as connection:
            columns = {
                c["name"]
                for c in sa.inspect(connection).get_columns("journal_messages")
            }
            revision = current_revision(connection)
    finally:
        journal.close()

    assert revision == head_revision()
    assert not columns & {"raw", "answer", "answered_at"}
    assert first is not None and second is not None
    assert (first.raw == _LARGE_RAW, first.answer, first.answered_at) == (
        True,
        b"<Bv03/>",
        12.5,
    )
    assert (second.raw, second.answer, second.answered_at) == (b"<two/>", None, None)
    [delivery] = first.deliveries
    assert (delivery.id, delivery.destination, delivery.state) == (
        3,
        "zaakregister",
        "delivered",
    )
    assert [(a.outcome, a.answer) for a in delivery.history] == [("ok", b"<Bv03/>")]


def test_revision_0002_downgrades_with_the_bytes_back_in_place(
    database_url: str,
) -> None:
    """Downgrading to 0001 puts the bytes and answers back in journal_messages
    and drops the two tables."""
    _migrate(database_url, "0001")
    _fill_revision_0001(database_url)
    _migrate(database_url, "head")

    _migrate(database_url, "0001", down=True)

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT id, raw, answer, answered_at FROM journal_messages"
                    " ORDER BY seq"
                )
            ).all()
            tables = set(sa.inspect(connection).get_table_names())
    finally:
        engine.dispose()
    assert [tuple(row) for row in rows] == [
        ("old-1", _LARGE_RAW, b"<Bv03/>", 12.5),
        ("old-2", b"<two/>", None, None),
    ]
    assert not tables & {"journal_payloads", "journal_answers"}
