"""Checking import rows and writing them in batches, for the importer.

A batch of checked rows becomes a few statements: one look-up of the
subjects the rows name (by every key they carry), then one executemany of
new subjects, one of changed subjects, one of history rows. Rows are applied
in order in memory first, so that several rows for one subject in a batch
make one change with the last row's values, and a company named by its RSIN
in one row and by its KvK number in the next stays one company.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from registers.klantregister import nummers, store
from registers.klantregister.entiteiten import NNP, NPS, VES, Entiteit, Leaf
from registers.klantregister.model import INTEGER_COLUMNS
from registers.klantregister.objecten import Gegevens
from registers.klantregister.store import Bron, Subject

_WORDS = {"man": "M", "vrouw": "V", "onbekend": "O"}


@dataclass
class Row:
    """One data row, checked: its number and its subjects' values."""

    rij: int
    main: Gegevens
    vestiging: Gegevens | None = None


@dataclass
class Outcome:
    """What a batch did to the register, and the rows it rejected."""

    aangemaakt: int = 0
    gewijzigd: int = 0
    ongewijzigd: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


# Checking a row ---------------------------------------------------------------


def _checker(entiteit: Entiteit, column: str) -> Callable[[Gegevens, str], None]:
    """How one cell of ``column`` is checked and stored; made once per column,
    since an import checks a hundred thousand rows."""
    if column == "geboortedatum":

        def datum(gegevens: Gegevens, value: str) -> None:
            digits, indicator = (
                nummers.datum_uit_tekst(value) if value else (None, None)
            )
            gegevens[column] = digits
            gegevens["geboortedatum_indicator"] = indicator

        return datum
    node = entiteit.fields.get(column)
    check = node.check if node is not None else None
    length = node.length if isinstance(node, Leaf) else None
    words = column == "geslachtsaanduiding"

    def cell(gegevens: Gegevens, value: str) -> None:
        if value:
            if words:
                value = _WORDS.get(value.lower(), value)
            if check is not None:
                value = check(value)
            if length is not None and len(value) > length:
                raise nummers.InvalidValue(f"langer dan {length} tekens")
        gegevens[column] = value or None

    return cell


_CHECKERS: dict[tuple[str, str], Callable[[Gegevens, str], None]] = {}


def _checked(
    entiteit: Entiteit, cells: dict[str, str], problems: list[str]
) -> Gegevens:
    gegevens: Gegevens = {}
    for column, raw in cells.items():
        checker = _CHECKERS.get((entiteit.code, column))
        if checker is None:
            checker = _CHECKERS[(entiteit.code, column)] = _checker(entiteit, column)
        try:
            checker(gegevens, raw.strip())
        except nummers.InvalidValue as exc:
            problems.append(f"{column}: {exc}")
    return gegevens


def read_row(kind: str, rij: int, cells: dict[str, str]) -> Row | str:
    """A checked row, or the reason it is rejected."""
    problems: list[str] = []
    if kind == "personen":
        main = _checked(NPS, cells, problems)
        if not problems and not main.get("bsn"):
            problems.append("bsn: ontbreekt")
        return "; ".join(problems) if problems else Row(rij, main)

    ves_cells = {
        "vestigingsnummer": cells.pop("vestigingsnummer", ""),
        "handelsnaam": cells.pop("handelsnaam", ""),
    }
    main = _checked(NNP, cells, problems)
    vestiging: Gegevens | None = None
    if ves_cells["vestigingsnummer"].strip():
        # The vestiging is at the row's address and belongs to its KvK number.
        ves_cells.update(
            {
                column.replace("bezoek_", "verblijf_"): value
                for column, value in cells.items()
                if column.startswith(("bezoek_", "correspondentie_"))
                or column in ("telefoonnummer", "emailadres", "kvk_nummer")
            }
        )
        vestiging = _checked(VES, ves_cells, problems)
        if not problems and not main.get("kvk_nummer"):
            problems.append("kvk_nummer: een vestiging hoort bij een KvK-nummer")
    if not problems and not (main.get("rsin") or main.get("kvk_nummer")):
        problems.append("rsin en kvk_nummer: ontbreken allebei")
    return "; ".join(problems) if problems else Row(rij, main, vestiging)


# Writing a batch ------------------------------------------------------------


def _existing(
    connection: sa.Connection, entiteit: Entiteit, rows: Sequence[Gegevens]
) -> dict[tuple[str, str], Subject]:
    found: dict[tuple[str, str], Subject] = {}
    table = entiteit.table
    for key in entiteit.keys:
        values = sorted({str(v) for r in rows if (v := r.get(key))})
        if not values:
            continue
        query = sa.select(table).where(table.c[key].in_(values))
        for row in connection.execute(query).mappings():
            subject = store.subject_from_row(entiteit, row)
            found[(key, str(row[key]))] = subject
    return found


@dataclass
class _Pending:
    """A subject's state at the end of the batch, and what to write."""

    subject: Subject | None
    state: Gegevens
    mutatiesoort: str


def upsert(
    connection: sa.Connection,
    entiteit: Entiteit,
    rows: Sequence[tuple[int, Gegevens]],
    columns: set[str],
    bron: Bron,
    now: float,
    outcome: Outcome,
) -> set[int]:
    """Add or change the subjects of ``rows``; returns the rows rejected."""
    existing = _existing(connection, entiteit, [g for _, g in rows])
    pending: dict[int, _Pending] = {}  # by id(existing subject) or -rij for new
    by_key: dict[tuple[str, str], int] = {}
    rejected: set[int] = set()

    for rij, gegevens in rows:
        # Which subject: the first key that names one, pending or stored.
        slots: set[int] = set()
        for key in entiteit.keys:
            value = gegevens.get(key)
            if not value:
                continue
            slot = by_key.get((key, value))
            if slot is None and (key, value) in existing:
                subject = existing[(key, value)]
                slot = subject.id
                pending.setdefault(slot, _Pending(subject, dict(subject.gegevens), ""))
            if slot is not None:
                slots.add(slot)
        if len(slots) > 1:
            rejected.add(rij)
            outcome.rejected.append(
                (rij, "rsin en kvk_nummer horen bij verschillende organisaties")
            )
            continue
        slot = slots.pop() if slots else -rij
        entry = pending.get(slot)
        if entry is None:
            state = {column: gegevens.get(column) for column in entiteit.columns}
            pending[slot] = _Pending(None, state, "T")
            outcome.aangemaakt += 1
        elif (
            entry.subject is not None
            and entry.subject.verwijderd
            and not entry.mutatiesoort
        ):
            entry.state = {column: gegevens.get(column) for column in entiteit.columns}
            entry.mutatiesoort = "T"
            outcome.aangemaakt += 1
        else:
            given = {c: v for c, v in gegevens.items() if c in columns}
            if store.differences(entry.state, given):
                entry.state = {**entry.state, **given}
                entry.mutatiesoort = entry.mutatiesoort or "W"
                outcome.gewijzigd += 1
            else:
                outcome.ongewijzigd += 1
        for key in entiteit.keys:
            value = pending[slot].state.get(key)
            if value:
                by_key[(key, value)] = slot

    _write(connection, entiteit, pending, bron, now)
    return rejected


def _write(
    connection: sa.Connection,
    entiteit: Entiteit,
    pending: dict[int, _Pending],
    bron: Bron,
    now: float,
) -> None:
    table, history = entiteit.table, entiteit.history
    columns = entiteit.columns
    new = [p for p in pending.values() if p.subject is None]
    changed = [p for p in pending.values() if p.subject is not None and p.mutatiesoort]
    # The history rows: the state, then what _HISTORY names.
    histories: list[tuple[Any, ...]] = []
    referentienummer = bron.referentienummer[:40] if bron.referentienummer else None

    if new:
        states = [_row(columns, p.state) for p in new]
        # A plain executemany: INSERT ... RETURNING would go row by row on
        # SQLite to keep the ids in order, ten times slower. The ids are read
        # back by key instead.
        _insert_many(
            connection,
            table,
            (*columns, "versie", "verwijderd", "aangemaakt_op", "gewijzigd_op"),
            [(*state, 1, False, now, now) for state in states],
        )
        ids = _ids(connection, entiteit, new)
        for entry, state in zip(new, states, strict=True):
            subject_id = ids[_key(entiteit, entry.state)]
            histories.append(
                (
                    *state,
                    subject_id,
                    1,
                    "T",
                    bron.naam[:200],
                    referentienummer,
                    now,
                    False,
                )
            )

    if changed:
        statement = (
            sa.update(table)
            .where(table.c.id == sa.bindparam("b_id"))
            .values(
                {c: sa.bindparam(f"b_{c}") for c in columns}
                | {
                    "versie": sa.bindparam("b_versie"),
                    "verwijderd": False,
                    "gewijzigd_op": now,
                }
            )
        )
        parameters = []
        for entry in changed:
            assert entry.subject is not None
            versie = entry.subject.versie + 1
            state = _row(columns, entry.state)
            parameters.append(
                {f"b_{c}": v for c, v in zip(columns, state, strict=True)}
                | {"b_id": entry.subject.id, "b_versie": versie}
            )
            histories.append(
                (
                    *state,
                    entry.subject.id,
                    versie,
                    entry.mutatiesoort,
                    bron.naam[:200],
                    referentienummer,
                    now,
                    False,
                )
            )
        connection.execute(statement, parameters)

    if histories:
        _insert_many(connection, history, (*columns, *_HISTORY), histories)


# The columns of a history row after the subject's state.
_HISTORY = (
    "subject_id",
    "versie",
    "mutatiesoort",
    "bron",
    "referentienummer",
    "geregistreerd_op",
    "verwijderd",
)


def _row(columns: tuple[str, ...], state: Gegevens) -> tuple[Any, ...]:
    """A state as database values in ``columns`` order (house numbers as
    integers)."""
    return tuple(
        int(value) if value and column in INTEGER_COLUMNS else value
        for column in columns
        for value in (state.get(column),)
    )


def _insert_many(
    connection: sa.Connection,
    table: sa.Table,
    columns: tuple[str, ...],
    rows: list[tuple[Any, ...]],
) -> None:
    """INSERT ``rows`` with the driver's own executemany: SQLAlchemy's
    processing of bound parameters costs more than SQLite's inserting, for
    wide rows by the hundred thousand."""
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join([marker] * len(columns))})"
    )
    connection.exec_driver_sql(sql, rows)


def _key(entiteit: Entiteit, state: Gegevens) -> tuple[str, str]:
    for key in entiteit.keys:
        value = state.get(key)
        if value:
            return key, value
    raise AssertionError("a checked row has a key")


def _ids(
    connection: sa.Connection, entiteit: Entiteit, new: list[_Pending]
) -> dict[tuple[str, str], int]:
    table = entiteit.table
    wanted: dict[str, list[str]] = {}
    for entry in new:
        key, value = _key(entiteit, entry.state)
        wanted.setdefault(key, []).append(value)
    ids: dict[tuple[str, str], int] = {}
    for key, values in wanted.items():
        query = sa.select(table.c.id, table.c[key]).where(table.c[key].in_(values))
        for subject_id, value in connection.execute(query):
            ids[(key, str(value))] = int(subject_id)
    return ids
