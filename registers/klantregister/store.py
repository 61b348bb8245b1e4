"""Subjects in the database: finding them, and changing them with history.

Every change goes through :func:`insert` or :func:`change`, which write the
subject's new state and, in the same transaction, one history row with that
state (see :mod:`registers.klantregister.model`). The import writes the same
rows in batches (:mod:`registers.klantregister.importer`), with the helpers
:func:`to_db` and :func:`history_row` from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from registers.klantregister.entiteiten import Entiteit
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
    table = entiteit.table
    for key in entiteit.keys:
        value = gegevens.get(key)
        if not value:
            continue
        query = sa.select(table).where(table.c[key] == value)
        if lock:
            query = query.with_for_update()
        row = connection.execute(query).mappings().first()
        if row is not None:
            return subject_from_row(entiteit, row)
    return None


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
    result = connection.execute(
        sa.insert(entiteit.table).returning(entiteit.table.c.id), values
    )
    subject_id = int(result.scalar_one())
    connection.execute(
        sa.insert(entiteit.history),
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
    table = entiteit.table
    connection.execute(
        sa.update(table)
        .where(table.c.id == subject.id)
        .values(
            **to_db(state),
            versie=versie,
            verwijderd=verwijderd,
            gewijzigd_op=now,
        )
    )
    connection.execute(
        sa.insert(entiteit.history),
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
