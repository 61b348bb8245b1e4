"""Subjects in the database: finding them, and changing them with history.

Every change goes through :func:`insert` or :func:`change`, which write the
subject's new state and, in the same transaction, one history row with that
state (see :mod:`registers.klantregister.model`). The import writes the same
rows in batches (:mod:`registers.klantregister.importer`), with the helpers
:func:`to_db` and :func:`history_row` from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from esb.engines import run
from registers.klantregister.database import Database
from registers.klantregister.entiteiten import ENTITEITEN, Entiteit
from registers.klantregister.model import INTEGER_COLUMNS
from registers.klantregister.objecten import Gegevens


@dataclass(frozen=True, slots=True)
class Bron:
    """Where a change came from: ``stuf:<applicatie>``, ``import:<file>``,
    ``zaak:<applicatie>``; and the message's referentienummer, if any."""

    naam: str
    referentienummer: str | None = None


@dataclass(frozen=True, slots=True)
class Subject:
    """A subject as stored: its row id, version, whether deleted, its data."""

    id: int
    versie: int
    verwijderd: bool
    gegevens: Gegevens


def to_db(gegevens: Mapping[str, str | None]) -> dict[str, Any]:
    """Column values as the database takes them (house numbers as integers)."""
    return {
        column: int(value) if column in INTEGER_COLUMNS and value else value
        for column, value in gegevens.items()
    }


def subject_from_row(entiteit: Entiteit, row: sa.RowMapping) -> Subject:
    """A row of an entiteit's table as a :class:`Subject`."""
    gegevens: Gegevens = {}
    for column in entiteit.columns:
        value = row[column]
        gegevens[column] = None if value is None else str(value)
    return Subject(
        int(row["id"]), int(row["versie"]), bool(row["verwijderd"]), gegevens
    )


def find(
    connection: sa.Connection,
    entiteit: Entiteit,
    gegevens: Mapping[str, str | None],
    *,
    lock: bool = False,
) -> Subject | None:
    """The subject that ``gegevens`` identify, deleted or not.

    The keys are tried in order (for a niet-natuurlijk persoon the RSIN, then
    the KvK number). ``lock`` takes the row lock on PostgreSQL (SELECT ... FOR
    UPDATE); SQLite's BEGIN IMMEDIATE has locked the database already.
    """
    selects = _STATEMENTS[entiteit.code].select
    for key in entiteit.keys:
        value = gegevens.get(key)
        if value:
            row = run(connection, selects[key, lock], {"key": value})
            if row is not None:
                return _subject(entiteit, row)
    return None


def look_up(
    database: Database, entiteit: Entiteit, gegevens: Mapping[str, str | None]
) -> Subject | None:
    """What :func:`find` finds, read outside any transaction and without a
    lock: enough to see that a change would change nothing, never to base
    one on (a writer may come in between)."""
    selects = _STATEMENTS[entiteit.code].select
    for key in entiteit.keys:
        value = gegevens.get(key)
        if value:
            row = database.first(selects[key, False], {"key": value})
            if row is not None:
                return _subject(entiteit, row)
    return None


def _subject(entiteit: Entiteit, row: Sequence[Any]) -> Subject:
    # A row of _Statements.select: id, versie, verwijderd, the data columns.
    values = zip(entiteit.columns, row[3:], strict=True)
    return Subject(
        int(row[0]),
        int(row[1]),
        bool(row[2]),
        {column: None if value is None else str(value) for column, value in values},
    )


def history_row(
    subject_id: int,
    versie: int,
    mutatiesoort: str,
    bron: Bron,
    now: float,
    gegevens: Mapping[str, str | None],
    entiteit: Entiteit,
    *,
    verwijderd: bool = False,
    begin_geldigheid: str | None = None,
) -> dict[str, Any]:
    """One row of the history table: the state after a change."""
    state = to_db({column: gegevens.get(column) for column in entiteit.columns})
    return {
        **state,
        **history_meta(
            mutatiesoort,
            bron,
            now,
            verwijderd=verwijderd,
            begin_geldigheid=begin_geldigheid,
        ),
        "subject_id": subject_id,
        "versie": versie,
    }


def history_meta(
    mutatiesoort: str,
    bron: Bron,
    now: float,
    *,
    verwijderd: bool = False,
    begin_geldigheid: str | None = None,
) -> dict[str, Any]:
    """What a history row says about the change itself.

    ``begin_geldigheid`` (a StUF Tijdstip) is when the new state holds in
    reality, as the sender said; None: from the moment it is registered.
    """
    return {
        "begin_geldigheid": begin_geldigheid,
        "mutatiesoort": mutatiesoort,
        "bron": bron.naam[:200],
        "referentienummer": (
            bron.referentienummer[:40] if bron.referentienummer else None
        ),
        "geregistreerd_op": now,
        "verwijderd": verwijderd,
    }


def insert(
    connection: sa.Connection,
    entiteit: Entiteit,
    gegevens: Mapping[str, str | None],
    bron: Bron,
    now: float,
    *,
    begin_geldigheid: str | None = None,
) -> int:
    """Add a new subject; returns its id."""
    state = {column: gegevens.get(column) for column in entiteit.columns}
    values = {
        **to_db(state),
        "versie": 1,
        "verwijderd": False,
        "aangemaakt_op": now,
        "gewijzigd_op": now,
    }
    statements = _STATEMENTS[entiteit.code]
    row = run(connection, statements.insert, values)
    assert row is not None, "INSERT ... RETURNING id returns the id"
    subject_id = int(row[0])
    run(
        connection,
        statements.history,
        history_row(
            subject_id,
            1,
            "T",
            bron,
            now,
            state,
            entiteit,
            begin_geldigheid=begin_geldigheid,
        ),
    )
    return subject_id


def change(
    connection: sa.Connection,
    entiteit: Entiteit,
    subject: Subject,
    changes: Mapping[str, str | None],
    mutatiesoort: str,
    bron: Bron,
    now: float,
    *,
    verwijderd: bool = False,
    replace: bool = False,
    begin_geldigheid: str | None = None,
) -> Subject:
    """Apply ``changes`` to ``subject`` and record the new state.

    ``replace`` makes ``changes`` the whole new state (a deleted subject
    added again starts afresh); otherwise columns not in ``changes`` keep
    their values.
    """
    if replace:
        state = {column: changes.get(column) for column in entiteit.columns}
    else:
        state = {**subject.gegevens, **changes}
    versie = subject.versie + 1
    statements = _STATEMENTS[entiteit.code]
    run(
        connection,
        statements.update,
        {
            **to_db({column: state.get(column) for column in entiteit.columns}),
            "versie": versie,
            "verwijderd": verwijderd,
            "gewijzigd_op": now,
            "subject_id": subject.id,
        },
    )
    run(
        connection,
        statements.history,
        history_row(
            subject.id,
            versie,
            mutatiesoort,
            bron,
            now,
            state,
            entiteit,
            verwijderd=verwijderd,
            begin_geldigheid=begin_geldigheid,
        ),
    )
    return Subject(subject.id, versie, verwijderd, state)


@dataclass(frozen=True)
class _Statements:
    """An entiteit's statements on the path of every zaak and kennisgeving,
    built once: :func:`~registers.klantregister.database.run` compiles each
    once per kind of database and runs it through the driver."""

    # (key column, lock) -> the subject by that key: id, versie, verwijderd,
    # then the data columns in Entiteit.columns' order.
    select: dict[tuple[str, bool], sa.Select[Any]]
    # A new subject (every column a parameter of its name), returning its id.
    insert: sa.ClauseElement
    # A subject's new state, where id is the parameter ``subject_id``.
    update: sa.ClauseElement
    # A history row, as history_row makes it.
    history: sa.ClauseElement


def _statements(entiteit: Entiteit) -> _Statements:
    table = entiteit.table
    select: dict[tuple[str, bool], sa.Select[Any]] = {}
    for key in entiteit.keys:
        query = sa.select(
            table.c.id,
            table.c.versie,
            table.c.verwijderd,
            *(table.c[column] for column in entiteit.columns),
        ).where(table.c[key] == sa.bindparam("key"))
        select[key, False] = query
        select[key, True] = query.with_for_update()
    changed = (*entiteit.columns, "versie", "verwijderd", "gewijzigd_op")
    history_columns = [c.name for c in entiteit.history.columns if c.name != "id"]
    return _Statements(
        select=select,
        insert=sa.insert(table)
        .values(_parameters((*changed, "aangemaakt_op")))
        .returning(table.c.id),
        update=sa.update(table)
        .where(table.c.id == sa.bindparam("subject_id"))
        .values(_parameters(changed)),
        history=sa.insert(entiteit.history).values(_parameters(history_columns)),
    )


def _parameters(columns: Iterable[str]) -> dict[str, Any]:
    return {column: sa.bindparam(column) for column in columns}


_STATEMENTS = {code: _statements(entiteit) for code, entiteit in ENTITEITEN.items()}


def differences(
    stored: Mapping[str, str | None], given: Mapping[str, str | None]
) -> list[str]:
    """The columns of ``given`` whose value differs from ``stored``.

    An incomplete date's indicator counts: ``19800000`` with M is another
    value than the same digits with J.
    """
    return [
        column
        for column, value in given.items()
        if (stored.get(column) or None) != (value or None)
    ]


def history(
    connection: sa.Connection, entiteit: Entiteit, subject_id: int
) -> list[dict[str, Any]]:
    """Every history row of a subject, oldest first."""
    table = entiteit.history
    rows = connection.execute(
        sa.select(table).where(table.c.subject_id == subject_id).order_by(table.c.id)
    ).mappings()
    return [dict(row) for row in rows]
