"""Kennisgevingen (npsLk01, nnpLk01, vesLk01): changes to the register.

StUF 03.01 kennisgevingen carry a ``mutatiesoort`` and one or two objects:

==  =========================================  ================================
T   toevoeging: one object, the new subject     added; an existing one refused
W   wijziging: two objects, *was* and *wordt*   *was* must match the register
V   verwijdering: one object, the old subject   marked deleted, history kept
C   correctie: *was* and *wordt*, like W        applied like W; history row C
==  =========================================  ================================

The *was* object is the sender's idea of the register's current state: any
element in it that differs from what the register holds means the sender
works from stale data, and the change is refused with the elements that
differ (StUF058, plek client), so that nobody's edit is silently lost.

A toevoeging of a subject that exists is refused (StUF058) unless it changes
nothing, or ``indicatorOvername`` is ``I`` (informatief: StUF 03.01 lets the
receiver decide what to take over). Then the register takes the values it
is given and keeps the rest, the way it learns clients from zaken. This is
how a route that publishes zaak initiators as npsLk01 T reaches the register
without creating duplicates.

Faults, all with plek client:

- StUF055 for a value the register cannot accept: a BSN or RSIN failing the
  11-test, a KvK number that is not 8 digits, a missing key, a wrong number
  of objects. The schema's form may be right, but the sector model's rule is
  broken; each problem is a violation with its element's path and line.
- StUF064 for a W, C or V of a subject the register does not know.
- StUF058 for a stale *was*, a T of an existing subject, a changed key, or a
  mutatiesoort the register does not handle (F).

No fault text carries a BSN or RSIN: they are masked as ``*****1234``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import sqlalchemy as sa
from lxml import etree

from esb.errors import StufFault, Violation
from registers.klantregister import nummers, store
from registers.klantregister.entiteiten import Entiteit
from registers.klantregister.objecten import Gegevens, Gelezen, read_object
from registers.klantregister.store import Bron, Subject
from registers.klantregister.stuf import IND_ONVOLLEDIGE_DATUM, line, where
from registers.stuf import child, children, is_nil, path, text

MUTATIESOORTEN = ("T", "W", "V", "C")


@dataclass(frozen=True)
class Kennisgeving:
    """A kennisgeving read and checked, ready to apply."""

    entiteit: Entiteit
    mutatiesoort: str
    overname: str
    was: Gelezen | None
    wordt: Gelezen | None
    # StUF:tijdvakGeldigheid/beginGeldigheid of the new state, if given:
    # from when it holds in reality (materiële historie).
    begin_geldigheid: str | None = None


@dataclass(frozen=True)
class Uitkomst:
    """What a change did: ``aangemaakt``, ``gewijzigd``, ``ongewijzigd`` or
    ``verwijderd``, to which subject."""

    entiteit: str
    subject_id: int
    uitkomst: str


def lees(
    body: etree._Element, entiteit: Entiteit, mutatiesoort: str | None
) -> Kennisgeving:
    """Read a kennisgeving's objects and check every value; raises StufFault."""
    parameters = child(body, "parameters")
    soort = mutatiesoort or text(parameters, "mutatiesoort")
    overname = text(parameters, "indicatorOvername") or "V"
    if soort is None:
        raise StufFault(
            "StUF055",
            "Mutatiesoort ontbreekt",
            details="parameters/mutatiesoort is verplicht in een kennisgeving",
        )
    if soort not in MUTATIESOORTEN:
        raise StufFault(
            "StUF058",
            f"Mutatiesoort {soort[:5]} wordt niet ondersteund",
            details="het klantregister verwerkt mutatiesoort T, W, V en C",
        )

    objects = list(children(body, "object"))
    filled = [o for o in objects if not is_nil(o)]
    if soort in ("T", "V"):
        if len(filled) != 1:
            _wrong_count(body, soort, "één object")
        found = filled[0]
        gelezen = read_object(found, entiteit.kennisgeving)
        was, wordt = (None, gelezen) if soort == "T" else (gelezen, None)
        identifying = gelezen
    else:
        if len(objects) != 2 or len(filled) != 2:
            _wrong_count(body, soort, "twee objecten: was en wordt")
        found = objects[0]
        was = read_object(objects[0], entiteit.kennisgeving)
        wordt = read_object(objects[1], entiteit.kennisgeving)
        identifying = was

    violations = [
        *(was.violations if was else []),
        *(wordt.violations if wordt else []),
    ]
    begin_geldigheid = None
    if wordt is not None:
        new = filled[0] if soort == "T" else objects[1]
        begin_geldigheid = _begin_geldigheid(new, violations)
    if not violations and not any(identifying.gegevens.get(k) for k in entiteit.keys):
        violations.append(
            Violation(
                line(found),
                where(found),
                f"een {entiteit.naam} wordt geïdentificeerd met "
                + " of ".join(entiteit.key_elements),
            )
        )
    if violations:
        raise invalid(violations)
    return Kennisgeving(entiteit, soort, overname, was, wordt, begin_geldigheid)


def _begin_geldigheid(
    element: etree._Element, violations: list[Violation]
) -> str | None:
    found = path(element, "tijdvakGeldigheid/beginGeldigheid")
    value = text(element, "tijdvakGeldigheid/beginGeldigheid")
    if found is None or value is None:
        return None
    try:
        return nummers.tijdstip(value, found.get(IND_ONVOLLEDIGE_DATUM))
    except nummers.InvalidValue as exc:
        violations.append(Violation(line(found), where(found), str(exc)))
        return None


def invalid(violations: list[Violation]) -> StufFault:
    """StUF055 for values the register refuses, each with its path."""
    omschrijving = (
        f"Ongeldige waarde: {violations[0].rule}"
        if len(violations) == 1
        else f"{len(violations)} ongeldige waarden in het bericht"
    )
    return StufFault(
        "StUF055", omschrijving[:200], plek="client", violations=violations
    )


def _wrong_count(body: etree._Element, soort: str, expected: str) -> NoReturn:
    raise invalid(
        [
            Violation(
                line(body),
                where(body) + "/object",
                f"mutatiesoort {soort} vraagt {expected}",
            )
        ]
    )


def apply(
    connection: sa.Connection, kennisgeving: Kennisgeving, bron: Bron, now: float
) -> Uitkomst:
    """Apply a checked kennisgeving in the caller's transaction."""
    entiteit = kennisgeving.entiteit
    soort = kennisgeving.mutatiesoort
    if soort == "T":
        assert kennisgeving.wordt is not None
        return _toevoeging(connection, kennisgeving, kennisgeving.wordt, bron, now)

    assert kennisgeving.was is not None
    was = kennisgeving.was
    subject = store.find(connection, entiteit, was.gegevens, lock=True)
    if subject is None or subject.verwijderd:
        raise StufFault(
            "StUF064",
            f"{entiteit.naam.capitalize()} niet gevonden",
            details=f"het klantregister kent geen {entiteit.naam} met "
            + describe_key(entiteit, was.gegevens),
        )
    _check_was(entiteit, subject, was)

    if soort == "V":
        store.change(connection, entiteit, subject, {}, "V", bron, now, verwijderd=True)
        return Uitkomst(entiteit.code, subject.id, "verwijderd")

    assert kennisgeving.wordt is not None
    wordt = kennisgeving.wordt
    _check_key_unchanged(entiteit, was, wordt)
    if not store.differences(subject.gegevens, wordt.gegevens):
        return Uitkomst(entiteit.code, subject.id, "ongewijzigd")
    store.change(
        connection,
        entiteit,
        subject,
        wordt.gegevens,
        soort,
        bron,
        now,
        begin_geldigheid=kennisgeving.begin_geldigheid,
    )
    return Uitkomst(entiteit.code, subject.id, "gewijzigd")


def _toevoeging(
    connection: sa.Connection,
    kennisgeving: Kennisgeving,
    wordt: Gelezen,
    bron: Bron,
    now: float,
) -> Uitkomst:
    entiteit = kennisgeving.entiteit
    subject = store.find(connection, entiteit, wordt.gegevens, lock=True)
    if subject is None:
        subject_id = store.insert(
            connection,
            entiteit,
            wordt.gegevens,
            bron,
            now,
            begin_geldigheid=kennisgeving.begin_geldigheid,
        )
        return Uitkomst(entiteit.code, subject_id, "aangemaakt")
    if subject.verwijderd:
        store.change(
            connection,
            entiteit,
            subject,
            wordt.gegevens,
            "T",
            bron,
            now,
            replace=True,
            begin_geldigheid=kennisgeving.begin_geldigheid,
        )
        return Uitkomst(entiteit.code, subject.id, "aangemaakt")
    if not store.differences(subject.gegevens, wordt.gegevens):
        # The same toevoeging once more (another referentienummer, so the
        # broker did not recognise it): nothing to do.
        return Uitkomst(entiteit.code, subject.id, "ongewijzigd")
    if kennisgeving.overname == "I":
        return merge(connection, entiteit, subject, wordt.gegevens, bron, now)
    raise StufFault(
        "StUF058",
        f"{entiteit.naam.capitalize()} bestaat al",
        details=f"het klantregister kent al een {entiteit.naam} met "
        + describe_key(entiteit, wordt.gegevens)
        + "; wijzig het met mutatiesoort W (was en wordt), of stuur de "
        "toevoeging met indicatorOvername I",
    )


def merge(
    connection: sa.Connection,
    entiteit: Entiteit,
    subject: Subject,
    given: Gegevens,
    bron: Bron,
    now: float,
) -> Uitkomst:
    """Take what ``given`` knows and keep what it does not: a value never
    erases one, but an address given with any value replaces the old one
    whole."""
    changes = known_values(entiteit, given)
    if not store.differences(subject.gegevens, changes):
        return Uitkomst(entiteit.code, subject.id, "ongewijzigd")
    store.change(connection, entiteit, subject, changes, "W", bron, now)
    return Uitkomst(entiteit.code, subject.id, "gewijzigd")


def known_values(entiteit: Entiteit, given: Gegevens) -> Gegevens:
    """``given`` without its empty values, except inside a group that has
    a value (an address is one value)."""
    kept: Gegevens = {k: v for k, v in given.items() if v is not None}
    for group in entiteit.groups:
        if any(given.get(column) for column in group):
            kept.update({column: given.get(column) for column in group})
    for column in list(kept):
        # An incomplete date's indicator goes with its date.
        if column.endswith("_indicator") and column[: -len("_indicator")] not in kept:
            del kept[column]
    for column in [c for c in kept if f"{c}_indicator" in given]:
        kept[f"{column}_indicator"] = given[f"{column}_indicator"]
    return kept


def _check_was(entiteit: Entiteit, subject: Subject, was: Gelezen) -> None:
    # Only what the sender wrote counts: an element missing from an address
    # in the was-object is no claim that the register has no value for it.
    claimed = {c: v for c, v in was.gegevens.items() if c not in was.implied}
    stale = store.differences(subject.gegevens, claimed)
    if not stale:
        return
    violations = []
    for column in stale:
        if column.endswith("_indicator") and column[: -len("_indicator")] in stale:
            continue
        element = was.elements.get(column)
        violations.append(
            Violation(
                line(element) if element is not None else None,
                where(element) if element is not None else "/object",
                "de waarde in het was-object wijkt af van de registratie",
            )
        )
    raise StufFault(
        "StUF058",
        "Was-object wijkt af van de registratie",
        plek="client",
        details=f"de {entiteit.naam} is intussen gewijzigd (versie {subject.versie} "
        "in het klantregister); vraag de actuele gegevens op en stuur de "
        "wijziging opnieuw",
        violations=violations,
    )


def _check_key_unchanged(entiteit: Entiteit, was: Gelezen, wordt: Gelezen) -> None:
    for key, element in zip(entiteit.keys, entiteit.key_elements, strict=True):
        old = was.gegevens.get(key)
        if not old:
            continue
        new = wordt.gegevens.get(key, old)
        if new != old:
            raise StufFault(
                "StUF058",
                f"{element} kan niet wijzigen",
                details=f"{element} identificeert de {entiteit.naam}; verwijder "
                "het object en voeg het met het nieuwe nummer toe",
            )
        return


def describe_key(entiteit: Entiteit, gegevens: Gegevens) -> str:
    """The identifying key as a fault may show it: BSN and RSIN masked."""
    for key, element in zip(entiteit.keys, entiteit.key_elements, strict=True):
        value = gegevens.get(key)
        if value:
            shown = nummers.mask(value) if key in entiteit.secret else value
            return f"{element} {shown}"
    return "deze gegevens"
