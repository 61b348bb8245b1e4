"""Vragen (npsLv01, nnpLv01, vesLv01) and their answers (npsLa01, ...).

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
``sortering``, pruned to the ``scope``; ``indicatorVervolgvraag`` says
whether more subjects were selected, ``aantalVoorkomens`` (when
``indicatorAantal`` asks for it) how many.

A vraag that selects nothing is answered with an La01 *without* an
``antwoord`` element, not with a fault: StUF 03.01 reserves foutberichten for
a vraag that cannot be answered, and the La01 schemas make ``antwoord``
optional while requiring at least one object inside it. Faults (plek client):

- StUF055 for an invalid number in ``gelijk`` (a BSN failing the 11-test);
- StUF058 for a vraag without any selection (the register does not hand out
  all its clients), a selection on an element the register does not keep
  (the answer would be a guess), or a vervolgvraag with ``start``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from lxml import etree

from esb.answers import PARTY_LIMITS, REFNUMMER_MAX, fits_systeem, stuf_tijdstip
from esb.errors import StufFault, Violation
from esb.message import Party, Stuurgegevens
from registers.klantregister import kennisgeving
from registers.klantregister.entiteiten import Entiteit
from registers.klantregister.model import INTEGER_COLUMNS
from registers.klantregister.objecten import (
    Gelezen,
    prune,
    read_object,
    unsupported,
    write_object,
)
from registers.klantregister.store import Subject, subject_from_row
from registers.klantregister.stuf import (
    BG,
    NSMAP,
    STUF,
    child,
    line,
    local,
    sub,
    text,
    where,
)

DEFAULT_MAXIMUM = 15
MAXIMUM = 1000


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


@dataclass(frozen=True)
class Resultaat:
    subjects: list[Subject]
    meer: bool
    aantal: int | None


def lees(body: etree._Element, entiteit: Entiteit) -> Vraag:
    """Read the selection, scope and parameters of a vraag; raises StufFault."""
    parameters = child(body, "parameters")
    maximum = _number(text(parameters, "maximumAantal")) or DEFAULT_MAXIMUM
    if child(body, "start") is not None:
        # FIXME(issue 6): a vervolgvraag continues after the object in
        # ``start`` in the vraag's sortering; not built yet, and answering
        # from the beginning again would hand out the same subjects twice.
        raise StufFault(
            "StUF058",
            "Vervolgvraag wordt niet ondersteund",
            details="het klantregister beantwoordt geen vraag met start; vraag "
            "met een nauwere selectie of een groter maximumAantal",
        )

    selections: dict[str, Gelezen | None] = {}
    problems: list[etree._Element] = []
    violations: list[Violation] = []
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
    )


def _number(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _criteria(gelezen: Gelezen) -> dict[str, str | None]:
    # The indicator of an incomplete date is no criterion of its own.
    return {
        column: value
        for column, value in gelezen.gegevens.items()
        if not column.endswith("_indicator")
    }


def zoek(connection: sa.Connection, vraag: Vraag) -> Resultaat:
    """The subjects the vraag selects, within its maximum."""
    table = vraag.entiteit.table
    conditions: list[sa.ColumnElement[bool]] = [table.c.verwijderd.is_(False)]
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

    # Subjects without a value sort last on both databases (PostgreSQL's
    # default; SQLite would put them first).
    order = [
        table.c[c].asc().nulls_last()
        for c in vraag.entiteit.sortering.get(vraag.sortering, ())
    ]
    query = (
        sa.select(table)
        .where(*conditions)
        .order_by(*order, table.c.id)
        .limit(vraag.maximum + 1)
    )
    rows = connection.execute(query).mappings().all()
    subjects = [subject_from_row(vraag.entiteit, row) for row in rows[: vraag.maximum]]
    aantal = None
    if vraag.aantal:
        count = sa.select(sa.func.count()).select_from(table).where(*conditions)
        aantal = int(connection.execute(count).scalar_one())
    return Resultaat(subjects, len(rows) > vraag.maximum, aantal)


def _typed(column: str, value: str) -> str | int:
    if column in INTEGER_COLUMNS:
        return int(value) if value.isdigit() else -1
    return value


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def antwoord(
    vraag: Vraag,
    resultaat: Resultaat,
    request: Stuurgegevens,
    *,
    system: Party,
    referentienummer: str,
    now: float | None = None,
) -> etree._Element:
    """The La01 answering ``vraag`` (npsLa01, nnpLa01, vesLa01)."""
    entiteit = vraag.entiteit
    bericht = etree.Element(BG + f"{entiteit.code.lower()}La01", nsmap=NSMAP)
    _stuurgegevens(
        bericht,
        request,
        entiteit.code,
        system=system,
        referentienummer=referentienummer,
        now=now,
    )

    parameters = sub(bericht, BG + "parameters")
    sub(
        parameters,
        STUF + "indicatorVervolgvraag",
        "true" if resultaat.meer else "false",
    )
    if resultaat.aantal is not None:
        sub(
            parameters, STUF + "aantalVoorkomens", str(min(resultaat.aantal, 999999999))
        )

    if resultaat.subjects:
        container = sub(bericht, BG + "antwoord")
        for subject in resultaat.subjects:
            element = write_object(
                container,
                BG + "object",
                entiteit.code,
                entiteit.antwoord,
                subject.gegevens,
            )
            prune(
                element, vraag.scope, entiteit.antwoord, keep=entiteit.key_elements[:1]
            )
    return bericht


def _stuurgegevens(
    bericht: etree._Element,
    request: Stuurgegevens,
    entiteittype: str,
    *,
    system: Party,
    referentienummer: str,
    now: float | None,
) -> None:
    # StUF 03.01: the answer swaps zender and ontvanger and gives the vraag's
    # referentienummer as crossRefnummer. Zender and ontvanger are optional
    # in an La01; one that would not fit StUF:Systeem is left out.
    stuurgegevens = sub(bericht, BG + "stuurgegevens")
    sub(stuurgegevens, STUF + "berichtcode", "La01")
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
    for field in PARTY_LIMITS:
        value = getattr(party, field)
        if value:
            sub(element, STUF + field, value)
