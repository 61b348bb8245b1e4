"""Vragen (npsLv01, nnpLv01, vesLv01, ...) and their answers (npsLa01, ...).

A vraag selects with ``gelijk`` (equal; with ``StUF:exact="false"`` on an
element: starting with, ignoring case), ``vanaf`` and ``totEnMet`` (ranges),
on any element the register keeps: a person by ``inp.bsn``, by
``geslachtsnaam`` and ``geboortedatum``, by ``verblijfsadres/aoa.postcode``
and ``aoa.huisnummer``; a niet-natuurlijk persoon by ``inn.nnpId``,
``statutaireNaam``, ``rps.isEigenaarVan/gerelateerde/kvkNummer`` or its
bezoekadres; a vestiging by ``vestigingsNummer``, ``handelsnaam``,
``oefentActiviteitenUitVoor/gerelateerde/kvkNummer`` or its address. An
element given nil selects the subjects without a value for it.

The answer holds at most ``maximumAantal`` objects (StUF's default 15, also
for 0; EMO answers no more than :data:`MAXIMUM` at once), sorted by the vraag's
``sortering`` (then by the order in which the register learnt them), pruned
to the ``scope``; ``indicatorVervolgvraag`` says whether more subjects were
selected, ``aantalVoorkomens`` (when ``indicatorAantal`` asks for it) how
many in all.

Vervolgvraag (StUF 03.01): to get the next objects the sender asks again
with ``indicatorVervolgvraag`` true and, in ``start``, the last object of
the answer it has (its key is enough: ``inp.bsn``, ``inn.nnpId`` or the KvK
number, ``vestigingsNummer``). The answer continues after that object in the
same sortering, so no object is handed out twice and none is skipped, even
when subjects are added between the two vragen.

The synchronous vragen with history (Lv03, Lv05, Lv07, Lv09) are answered
from the register's history (:mod:`registers.klantregister.historie`): a
vraag with peiltijdstipMaterieel or peiltijdstipFormeel selects on, and
answers with, the state at that moment. The asynchronous vragen (Lv02,
Lv04, ...) need an answer channel back to the sender that the register does
not have.

A vraag that selects nothing is answered with an La01 *without* an
``antwoord`` element, not with a fault: StUF 03.01 reserves foutberichten for
a vraag that cannot be answered, and the La01 schemas make ``antwoord``
optional while requiring at least one object inside it. Faults (plek client):

- StUF055 for an invalid number in ``gelijk`` (a BSN failing the 11-test),
  an impossible peiltijdstip, a ``start`` without its key, or
  ``indicatorVervolgvraag`` true without a ``start``;
- StUF058 for a vraag without any selection (the register does not hand out
  all its clients), or a selection on an element the register does not keep
  (the answer would be a guess);
- StUF064 for a ``start`` naming a subject the register never knew.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from lxml import etree

from esb.answers import PARTY_LIMITS, REFNUMMER_MAX, fits_systeem, stuf_tijdstip
from esb.errors import StufFault, Violation
from esb.message import Party, Stuurgegevens
from registers.klantregister import historie, kennisgeving, nummers, store
from registers.klantregister.entiteiten import Entiteit
from registers.klantregister.model import INTEGER_COLUMNS
from registers.klantregister.objecten import (
    Gegevens,
    Gelezen,
    prune,
    read_object,
    unsupported,
    write_object,
)
from registers.klantregister.stuf import NSMAP, line, where
from registers.stuf import BG, STUF, child, local, path, sub, text

DEFAULT_MAXIMUM = 15
MAXIMUM = 1000

# The synchronous vragen and their answers (StUF 03.01 berichtcodes; the
# ones bg0310_msg_vraagAntwoord.xsd defines for NPS, NNP and VES).
SYNCHROON = {
    "Lv01": "La01",
    "Lv03": "La03",
    "Lv05": "La05",
    "Lv07": "La07",
    "Lv09": "La09",
}
# Vragen answered with the state at a peiltijdstip, and with history groups.
_OP_PEILTIJDSTIP = frozenset({"Lv03", "Lv05"})
_MET_HISTORIE = frozenset({"Lv07", "Lv09"})


@dataclass(frozen=True)
class Vraag:
    """A vraag read and checked."""

    entiteit: Entiteit
    gelijk: Gelezen | None
    vanaf: Gelezen | None
    tot_en_met: Gelezen | None
    scope: etree._Element | None
    sortering: int
    maximum: int
    aantal: bool
    berichtcode: str = "Lv01"
    # The key of the start object of a vervolgvraag.
    start: Gegevens | None = None
    # 17-digit StUF Tijdstippen; None: now.
    peil_materieel: str | None = None
    peil_formeel: str | None = None


@dataclass(frozen=True)
class Gevonden:
    """One subject in an answer: its state, and for vragen with history the
    voorkomen that state is (its tijdvak) and its history rows."""

    id: int
    gegevens: Gegevens
    voorkomen: historie.Voorkomen | None = None
    rows: Sequence[dict[str, Any]] = ()


@dataclass(frozen=True)
class Resultaat:
    gevonden: list[Gevonden]
    meer: bool
    aantal: int | None
    # The peiltijdstippen the answer holds to (La03, La05).
    peil_materieel: str | None = None
    peil_formeel: str | None = None


def lees(body: etree._Element, entiteit: Entiteit, berichtcode: str = "Lv01") -> Vraag:
    """Read the selection, scope and parameters of a vraag; raises StufFault."""
    parameters = child(body, "parameters")
    maximum = _number(text(parameters, "maximumAantal")) or DEFAULT_MAXIMUM
    violations: list[Violation] = []
    peil_materieel = _peiltijdstip(parameters, "peiltijdstipMaterieel", violations)
    peil_formeel = _peiltijdstip(parameters, "peiltijdstipFormeel", violations)
    start = _start(body, entiteit, parameters, violations)

    selections: dict[str, Gelezen | None] = {}
    problems: list[etree._Element] = []
    for name in ("gelijk", "vanaf", "totEnMet"):
        element = child(body, name)
        if element is None:
            selections[name] = None
            continue
        gelezen = read_object(
            element, entiteit.antwoord, whole_groups=False, checked=name == "gelijk"
        )
        violations.extend(gelezen.violations)
        problems.extend(unsupported(element, entiteit.antwoord))
        selections[name] = gelezen
    if violations:
        raise kennisgeving.invalid(violations)
    if problems:
        names = ", ".join(dict.fromkeys(local(p) for p in problems))
        raise StufFault(
            "StUF058",
            f"Selectie op {names} wordt niet ondersteund"[:200],
            details="het klantregister houdt deze gegevens niet bij: "
            + "; ".join(f"{where(p)} (regel {line(p)})" for p in problems[:10]),
        )
    if not any(s and _criteria(s) for s in selections.values()):
        raise StufFault(
            "StUF058",
            "Vraag zonder selectie wordt niet beantwoord",
            details="geef in gelijk, vanaf of totEnMet ten minste één gegeven "
            f"van de {entiteit.naam}",
        )

    scope = child(child(body, "scope"), "object")
    return Vraag(
        entiteit=entiteit,
        gelijk=selections["gelijk"],
        vanaf=selections["vanaf"],
        tot_en_met=selections["totEnMet"],
        scope=scope,
        sortering=_number(text(parameters, "sortering")) or 0,
        maximum=min(maximum, MAXIMUM),
        aantal=text(parameters, "indicatorAantal") in ("true", "1"),
        berichtcode=berichtcode,
        start=start,
        peil_materieel=peil_materieel,
        peil_formeel=peil_formeel,
    )


def _number(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _peiltijdstip(
    parameters: etree._Element | None, name: str, violations: list[Violation]
) -> str | None:
    found = child(parameters, name)
    value = text(parameters, name)
    if found is None or value is None:
        return None
    try:
        return nummers.tijdstip(value)
    except nummers.InvalidValue as exc:
        violations.append(Violation(line(found), where(found), str(exc)))
        return None


def _start(
    body: etree._Element,
    entiteit: Entiteit,
    parameters: etree._Element | None,
    violations: list[Violation],
) -> Gegevens | None:
    """The key of the vervolgvraag's start object; None for a first vraag."""
    element = path(body, "start/object")
    if element is None:
        if text(parameters, "indicatorVervolgvraag") in ("true", "1"):
            found = child(parameters, "indicatorVervolgvraag")
            assert found is not None
            violations.append(
                Violation(
                    line(found),
                    where(found),
                    "een vervolgvraag (indicatorVervolgvraag true) noemt in "
                    "start het laatste object van het vorige antwoord",
                )
            )
        return None
    gelezen = read_object(element, entiteit.antwoord, whole_groups=False)
    violations.extend(gelezen.violations)
    key = {k: gelezen.gegevens[k] for k in entiteit.keys if gelezen.gegevens.get(k)}
    if not key and not gelezen.violations:
        violations.append(
            Violation(
                line(element),
                where(element),
                "het start-object van een vervolgvraag wordt geïdentificeerd met "
                + " of ".join(entiteit.key_elements),
            )
        )
    return key


def _criteria(gelezen: Gelezen) -> dict[str, str | None]:
    # The indicator of an incomplete date is no criterion of its own.
    return {
        column: value
        for column, value in gelezen.gegevens.items()
        if not column.endswith("_indicator")
    }


# Selecting ------------------------------------------------------------------


def zoek(
    connection: sa.Connection, vraag: Vraag, *, now: float | None = None
) -> Resultaat:
    """The subjects the vraag selects, within its maximum."""
    if vraag.berichtcode in _OP_PEILTIJDSTIP:
        return _zoek_op_peiltijdstip(connection, vraag, now)

    entiteit = vraag.entiteit
    table = entiteit.table
    conditions = [table.c.verwijderd.is_(False), *_conditions(table, vraag)]
    columns = entiteit.sortering.get(vraag.sortering, ())
    # Subjects without a value sort last on both databases (PostgreSQL's
    # default; SQLite would put them first); the row id decides ties.
    order = [table.c[c].asc().nulls_last() for c in columns]
    after: list[sa.ColumnElement[bool]] = []
    if vraag.start is not None:
        begin = _start_subject(connection, vraag)
        after.append(_after(table, columns, begin.gegevens, begin.id))
    query = (
        sa.select(table)
        .where(*conditions, *after)
        .order_by(*order, table.c.id)
        .limit(vraag.maximum + 1)
    )
    found = connection.execute(query).mappings().all()
    subjects = [store.subject_from_row(entiteit, row) for row in found]
    aantal = None
    if vraag.aantal:
        count = sa.select(sa.func.count()).select_from(table).where(*conditions)
        aantal = int(connection.execute(count).scalar_one())

    shown = subjects[: vraag.maximum]
    rows: dict[int, list[dict[str, Any]]] = {}
    if vraag.berichtcode in _MET_HISTORIE:
        rows = historie.rows_of(connection, entiteit, [s.id for s in shown])
    gevonden = [
        Gevonden(
            s.id,
            s.gegevens,
            _laatste(entiteit, rows.get(s.id, ())),
            rows.get(s.id, ()),
        )
        for s in shown
    ]
    return Resultaat(gevonden, len(subjects) > vraag.maximum, aantal)


def _laatste(
    entiteit: Entiteit, rows: Sequence[dict[str, Any]]
) -> historie.Voorkomen | None:
    periods = historie.materieel(entiteit, rows)
    return periods[-1] if periods else None


def _conditions(table: sa.Table, vraag: Vraag) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if vraag.gelijk is not None:
        for column, value in _criteria(vraag.gelijk).items():
            field = table.c[column]
            if value is None:
                conditions.append(field.is_(None))
            elif column in vraag.gelijk.inexact:
                pattern = _escape(value.lower()) + "%"
                conditions.append(sa.func.lower(field).like(pattern, escape="\\"))
            else:
                conditions.append(field == _typed(column, value))
    for selection, compare in ((vraag.vanaf, "ge"), (vraag.tot_en_met, "le")):
        if selection is None:
            continue
        for column, value in _criteria(selection).items():
            if value is None:
                continue
            field = table.c[column]
            bound = _typed(column, value)
            conditions.append(field >= bound if compare == "ge" else field <= bound)
    return conditions


def _start_subject(connection: sa.Connection, vraag: Vraag) -> store.Subject:
    assert vraag.start is not None
    entiteit = vraag.entiteit
    # A subject deleted since the first vraag is still found: its row stays.
    subject = store.find(connection, entiteit, vraag.start)
    if subject is None:
        raise StufFault(
            "StUF064",
            "Start-object van de vervolgvraag niet gevonden",
            details=f"het klantregister kent geen {entiteit.naam} met "
            + kennisgeving.describe_key(entiteit, vraag.start)
            + "; stuur de vraag opnieuw zonder start",
        )
    return subject


def _after(
    table: sa.Table, columns: Sequence[str], values: Gegevens, row_id: int
) -> sa.ColumnElement[bool]:
    """Rows after (``values``, ``row_id``) in the order (``columns`` with
    nulls last, id): the keyset of a vervolgvraag."""
    alternatives: list[sa.ColumnElement[bool]] = []
    equal: list[sa.ColumnElement[bool]] = []
    for column in columns:
        field, value = table.c[column], values.get(column)
        if value is not None:
            bound = _typed(column, value)
            alternatives.append(sa.and_(*equal, sa.or_(field > bound, field.is_(None))))
            equal.append(field == bound)
        else:
            # Nothing sorts after "no value" but the ties.
            equal.append(field.is_(None))
    alternatives.append(sa.and_(*equal, table.c.id > row_id))
    return sa.or_(*alternatives)


def _zoek_op_peiltijdstip(
    connection: sa.Connection, vraag: Vraag, now: float | None
) -> Resultaat:
    """Lv03 and Lv05: the selection applied to each subject's state at the
    peiltijdstippen, computed from its history."""
    entiteit = vraag.entiteit
    moment = stuf_tijdstip(time.time() if now is None else now)
    materieel_op = vraag.peil_materieel or moment
    formeel_op = vraag.peil_formeel if vraag.berichtcode == "Lv05" else None

    # Candidates: subjects with a history row that matches (a state that
    # matched at some moment); then the state at the peiltijdstip decides.
    history = entiteit.history
    candidates = (
        sa.select(history.c.subject_id).where(*_conditions(history, vraag)).distinct()
    )
    ids = [int(i) for i in connection.execute(candidates).scalars()]
    rows = historie.rows_of(connection, entiteit, ids)
    matched: list[Gevonden] = []
    for subject_id, subject_rows in rows.items():
        voorkomen = historie.op(
            entiteit, subject_rows, materieel_op=materieel_op, formeel_op=formeel_op
        )
        if voorkomen is not None and _matches(vraag, voorkomen.gegevens):
            matched.append(
                Gevonden(subject_id, voorkomen.gegevens, voorkomen, subject_rows)
            )
    columns = entiteit.sortering.get(vraag.sortering, ())
    matched.sort(key=lambda g: (_sort_key(columns, g.gegevens), g.id))

    selected = matched
    if vraag.start is not None:
        begin = _start_subject(connection, vraag)
        state = next((g.gegevens for g in matched if g.id == begin.id), None)
        mark = (_sort_key(columns, state or begin.gegevens), begin.id)
        selected = [g for g in matched if (_sort_key(columns, g.gegevens), g.id) > mark]
    return Resultaat(
        selected[: vraag.maximum],
        len(selected) > vraag.maximum,
        len(matched) if vraag.aantal else None,
        peil_materieel=materieel_op,
        peil_formeel=(formeel_op or moment) if vraag.berichtcode == "Lv05" else None,
    )


def _matches(vraag: Vraag, gegevens: Gegevens) -> bool:
    """Whether a state meets the selection, as :func:`_conditions` would
    have it in SQL."""
    if vraag.gelijk is not None:
        for column, value in _criteria(vraag.gelijk).items():
            stored = gegevens.get(column)
            if value is None:
                if stored is not None:
                    return False
            elif stored is None:
                return False
            elif column in vraag.gelijk.inexact:
                if not stored.lower().startswith(value.lower()):
                    return False
            elif _typed(column, stored) != _typed(column, value):
                return False
    for selection, sign in ((vraag.vanaf, 1), (vraag.tot_en_met, -1)):
        if selection is None:
            continue
        for column, value in _criteria(selection).items():
            if value is None:
                continue
            stored = gegevens.get(column)
            if stored is None:
                return False
            have, bound = _typed(column, stored), _typed(column, value)
            if (sign == 1 and have < bound) or (sign == -1 and have > bound):  # type: ignore[operator]
                return False
    return True


def _sort_key(columns: Sequence[str], gegevens: Gegevens) -> tuple[Any, ...]:
    key: list[Any] = []
    for column in columns:
        value = gegevens.get(column)
        empty: str | int = 0 if column in INTEGER_COLUMNS else ""
        key.append((value is None, empty if value is None else _typed(column, value)))
    return tuple(key)


def _typed(column: str, value: str) -> str | int:
    if column in INTEGER_COLUMNS:
        return int(value) if value.isdigit() else -1
    return value


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# Answering ------------------------------------------------------------------


def antwoord(
    vraag: Vraag,
    resultaat: Resultaat,
    request: Stuurgegevens,
    *,
    system: Party,
    referentienummer: str,
    now: float | None = None,
) -> etree._Element:
    """The answer to ``vraag`` (npsLa01, nnpLa03, vesLa09, ...)."""
    entiteit = vraag.entiteit
    berichtcode = SYNCHROON[vraag.berichtcode]
    bericht = etree.Element(BG + f"{entiteit.code.lower()}{berichtcode}", nsmap=NSMAP)
    _stuurgegevens(
        bericht,
        request,
        entiteit.code,
        berichtcode,
        system=system,
        referentienummer=referentienummer,
        now=now,
    )

    # ParametersAntwoordSynchroon (La01, La07, La09), ...Materieel (La03)
    # and ...Formeel (La05), in the order stuf0301.xsd gives them.
    parameters = sub(bericht, BG + "parameters")
    sub(
        parameters,
        STUF + "indicatorVervolgvraag",
        "true" if resultaat.meer else "false",
    )
    if resultaat.peil_materieel is not None:
        sub(parameters, STUF + "peiltijdstipMaterieel", resultaat.peil_materieel)
    if resultaat.peil_formeel is not None:
        sub(parameters, STUF + "peiltijdstipFormeel", resultaat.peil_formeel)
    if resultaat.aantal is not None:
        sub(
            parameters, STUF + "aantalVoorkomens", str(min(resultaat.aantal, 999999999))
        )

    if resultaat.gevonden:
        container = sub(bericht, BG + "antwoord")
        for gevonden in resultaat.gevonden:
            element = write_object(
                container,
                BG + "object",
                entiteit.code,
                entiteit.antwoord,
                gevonden.gegevens,
            )
            prune(
                element, vraag.scope, entiteit.antwoord, keep=entiteit.key_elements[:1]
            )
            if gevonden.voorkomen is not None:
                historie.add_tijdvak(element, gevonden.voorkomen)
            if vraag.berichtcode in _MET_HISTORIE:
                historie.add_groups(
                    element,
                    entiteit,
                    gevonden.rows,
                    formele=vraag.berichtcode == "Lv09",
                )
    return bericht


def _stuurgegevens(
    bericht: etree._Element,
    request: Stuurgegevens,
    entiteittype: str,
    berichtcode: str,
    *,
    system: Party,
    referentienummer: str,
    now: float | None,
) -> None:
    # StUF 03.01: the answer swaps zender and ontvanger and gives the vraag's
    # referentienummer as crossRefnummer. Zender and ontvanger are optional
    # in an La01; one that would not fit StUF:Systeem is left out.
    stuurgegevens = sub(bericht, BG + "stuurgegevens")
    sub(stuurgegevens, STUF + "berichtcode", berichtcode)
    zender = request.ontvanger if request.ontvanger.applicatie else system
    for tag, party in (("zender", zender), ("ontvanger", request.zender)):
        if fits_systeem(party):
            _party(stuurgegevens, tag, party)
    sub(stuurgegevens, STUF + "referentienummer", referentienummer[:REFNUMMER_MAX])
    sub(stuurgegevens, STUF + "tijdstipBericht", stuf_tijdstip(now))
    cross = request.referentienummer or referentienummer
    sub(stuurgegevens, STUF + "crossRefnummer", cross[:REFNUMMER_MAX])
    sub(stuurgegevens, STUF + "entiteittype", entiteittype)


def _party(parent: etree._Element, tag: str, party: Party) -> None:
    element = sub(parent, STUF + tag)
    for field_name in PARTY_LIMITS:
        value = getattr(party, field_name)
        if value:
            sub(element, STUF + field_name, value)
