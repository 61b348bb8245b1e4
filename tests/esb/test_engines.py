"""The database set-up the journal and the registers share (esb/engines.py)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from esb.engines import (
    Translation,
    for_writers,
    make_engine,
    run,
    run_many,
    write_turn,
)


class Unavailable(Exception):
    pass


class Failed(Exception):
    pass


def test_sqlite_in_wal_mode_with_the_level_asked_and_foreign_keys(
    tmp_path: Path,
) -> None:
    engine = make_engine(
        f"sqlite:///{tmp_path / 'nested' / 'emo.db'}",
        owner="test",
        synchronous="NORMAL",
    )
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert pragma("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "sqlite://"])
def test_sqlite_in_memory_is_refused_naming_the_owner(url: str) -> None:
    with pytest.raises(ValueError, match="the journal needs a file"):
        make_engine(url, owner="the journal", synchronous="FULL")


def test_another_kind_of_database_is_refused_naming_the_owner() -> None:
    with pytest.raises(ValueError, match="the zaakregister does not support mysql"):
        make_engine("mysql://db/emo", owner="the zaakregister", synchronous="FULL")


def test_a_writer_takes_sqlites_write_lock_when_it_begins(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE: a second writer cannot begin while the first holds
    the lock, even before the first has written anything."""
    path = tmp_path / "emo.db"
    engine = make_engine(f"sqlite:///{path}", owner="test", synchronous="FULL")
    try:
        with for_writers(engine).begin():
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
            finally:
                other.close()
        # A reader's BEGIN takes no lock.
        with engine.begin():
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
            finally:
                other.close()
    finally:
        engine.dispose()


def test_the_write_turn_is_a_reentrant_lock_on_sqlite_only(tmp_path: Path) -> None:
    engine = make_engine(
        f"sqlite:///{tmp_path / 'emo.db'}", owner="t", synchronous="FULL"
    )
    turn = write_turn(engine)
    with turn, turn:  # a writer holding it may write again
        taken: list[bool] = []
        thread = threading.Thread(
            target=lambda: taken.append(turn.acquire(blocking=False))  # type: ignore[attr-defined]
        )
        thread.start()
        thread.join()
        assert taken == [False]
    engine.dispose()
    postgres = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1/none")
    assert not hasattr(write_turn(postgres), "acquire")


def test_translation_maps_operational_and_other_errors_and_leaves_conflicts() -> None:
    translation = Translation(
        lambda error: Unavailable(str(error)), lambda error: Failed(str(error))
    )
    with pytest.raises(Unavailable):
        with translation:
            raise OperationalError("BEGIN", {}, Exception("database is locked"))
    with pytest.raises(Failed):
        with translation:
            raise ProgrammingError("SELECT", {}, Exception("no such table"))
    with pytest.raises(IntegrityError):
        with translation:
            raise IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))
    with pytest.raises(KeyError):
        with translation:
            raise KeyError("not the database's")


_TABLE = sa.Table(
    "dingen",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("naam", sa.String(20), nullable=False),
    sa.Column("aantal", sa.Integer),
)
_INSERT = (
    sa.insert(_TABLE)
    .values(naam=sa.bindparam("naam"), aantal=sa.bindparam("aantal"))
    .returning(_TABLE.c.id)
)
_INSERT_MANY = sa.insert(_TABLE).values(
    naam=sa.bindparam("naam"), aantal=sa.bindparam("aantal")
)
_SELECT = sa.select(_TABLE.c.naam, _TABLE.c.aantal).where(
    _TABLE.c.id == sa.bindparam("id")
)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_statements_through_the_driver_in_the_callers_transaction(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'emo.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = make_engine(url, owner="test", synchronous="FULL")
    try:
        _TABLE.create(engine)
        with engine.begin() as connection:
            first = run(connection, _INSERT, {"naam": "een", "aantal": 1})
            assert first is not None
            run_many(
                connection,
                _INSERT_MANY,
                [{"naam": "twee", "aantal": 2}, {"naam": "drie", "aantal": None}],
            )
            assert run(connection, _SELECT, {"id": first[0]}) == ("een", 1)
        with engine.connect() as connection:
            rows = connection.execute(sa.select(_TABLE.c.naam).order_by(_TABLE.c.id))
            assert [row.naam for row in rows] == ["een", "twee", "drie"]
        with engine.connect() as connection:
            # Outside a transaction SQLite would commit each statement alone.
            with pytest.raises(RuntimeError, match="transaction"):
                run_many(connection, _INSERT_MANY, [{"naam": "vier", "aantal": 4}])
    finally:
        _TABLE.drop(engine, checkfirst=True)
        engine.dispose()
