"""History in answers: the state at a peiltijdstip, and the history groups.

Every change writes a history row with the subject's whole state after it
(:mod:`registers.klantregister.model`). From those rows this module derives
what StUF 03.01 asks of a register that keeps history:

- **formele historie**: each row is what the register held from its
  ``geregistreerd_op`` until the next row's. The state *as registered at*
  ``peiltijdstipFormeel`` is the last row registered by then.
- **materiële historie**: when each state held in reality. A row begins a
  period at its ``begin_geldigheid`` (the kennisgeving's
  ``tijdvakGeldigheid/beginGeldigheid``), else at the moment it was
  registered; the period ends where the next one begins. A correctie (C)
  replaces the state of the period it corrects instead of starting one; a
  verwijdering (V) ends the last period. The state *valid at*
  ``peiltijdstipMaterieel`` is the period holding that moment.

Vragen (bg0310_msg_vraagAntwoord.xsd, StUF 03.01 berichtcodes):

====  ==========================================================  =========
Lv01  current state                                               La01
Lv03  the state valid at peiltijdstipMaterieel                    La03
Lv05  ... as registered at peiltijdstipFormeel                    La05
Lv07  current state, with historieMaterieel (changed data only)   La07
Lv09  ... and historieFormeel (changed data only)                 La09
====  ==========================================================  =========

The history groups hold only the elements the schemas allow in them
(``NPS-historieMaterieel`` has no geboortedatum, ``NNP-historieFormeel`` no
correspondentieadres, ...), each with ``StUF:tijdvakGeldigheid`` and
``StUF:tijdstipRegistratie``. "Alleen gewijzigde gegevens" (Lv07, Lv09): a
voorkomen names the elements that differ from the voorkomen before it (an
address whole), the first names everything. Both groups list every
voorkomen, the current one included.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from lxml import etree

from esb.answers import stuf_tijdstip
from registers.klantregister.entiteiten import Entiteit
from registers.klantregister.objecten import Gegevens, write_object
from registers.stuf import BG, ENTITEITTYPE, NO_VALUE, STUF, local, nil, sub

# Elements of a CorrespondentieAdresGrp that its -historie form lacks.
_NOT_IN_HISTORIE_ADRES = frozenset(
    {"typering", "sub.postadresType", "sub.postadresNummer"}
)


@dataclass(frozen=True, slots=True)
class Voorkomen:
    """One state of a subject: what it was, when, and since when known.

    ``begin`` and ``eind`` (None: open) are the tijdvakGeldigheid,
    ``registratie`` the tijdstipRegistratie, all 17-digit StUF Tijdstippen.
    """

    gegevens: Gegevens
    begin: str
    eind: str | None
    registratie: str
    verwijderd: bool


def rows_of(
    connection: sa.Connection, entiteit: Entiteit, subject_ids: Iterable[int]
) -> dict[int, list[dict[str, Any]]]:
    """The history rows of ``subject_ids``, oldest first, in one query."""
    ids = list(subject_ids)
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if not ids:
        return found
    table = entiteit.history
    query = (
        sa.select(table)
        .where(table.c.subject_id.in_(ids))
        .order_by(table.c.subject_id, table.c.id)
    )
    for row in connection.execute(query).mappings():
        found[int(row["subject_id"])].append(dict(row))
    return found


def formeel(entiteit: Entiteit, rows: Sequence[dict[str, Any]]) -> list[Voorkomen]:
    """Every registered state, oldest first (formele historie)."""
    return [_voorkomen(entiteit, row) for row in rows]


def materieel(entiteit: Entiteit, rows: Sequence[dict[str, Any]]) -> list[Voorkomen]:
    """The periods in reality, oldest first (materiële historie)."""
    periods: list[Voorkomen] = []
    for row in rows:
        current = _voorkomen(entiteit, row)
        if row["mutatiesoort"] == "C" and periods and not periods[-1].verwijderd:
            # A correctie says the period's state was wrong all along.
            begin = row["begin_geldigheid"] or periods[-1].begin
            periods[-1] = replace(current, begin=begin, eind=periods[-1].eind)
            continue
        # A change backdated before later periods supersedes them.
        while periods and periods[-1].begin >= current.begin:
            periods.pop()
        if periods and (periods[-1].eind is None or periods[-1].eind > current.begin):
            periods[-1] = replace(periods[-1], eind=current.begin)
        if not current.verwijderd:
            periods.append(current)
    return periods


def op(
    entiteit: Entiteit,
    rows: Sequence[dict[str, Any]],
    *,
    materieel_op: str,
    formeel_op: str | None,
) -> Voorkomen | None:
    """The state valid at ``materieel_op`` as registered at ``formeel_op``
    (None: as the register knows it now); None when there was none."""
    known = [
        row
        for row in rows
        if formeel_op is None or _tijdstip(row["geregistreerd_op"]) <= formeel_op
    ]
    for period in materieel(entiteit, known):
        if period.begin <= materieel_op and (
            period.eind is None or materieel_op < period.eind
        ):
            return period
    return None


def _voorkomen(entiteit: Entiteit, row: dict[str, Any]) -> Voorkomen:
    gegevens: Gegevens = {
        column: None if row[column] is None else str(row[column])
        for column in entiteit.columns
    }
    registratie = _tijdstip(row["geregistreerd_op"])
    return Voorkomen(
        gegevens,
        row["begin_geldigheid"] or registratie,
        None,
        registratie,
        bool(row["verwijderd"]),
    )


def _tijdstip(moment: float) -> str:
    return stuf_tijdstip(moment)


# Writing --------------------------------------------------------------------


def add_tijdvak(element: etree._Element, voorkomen: Voorkomen) -> None:
    """StUF:tijdvakGeldigheid and StUF:tijdstipRegistratie of ``voorkomen``
    in ``element`` (an answer object), before its relations."""
    tijdvak = etree.Element(STUF + "tijdvakGeldigheid")
    sub(tijdvak, STUF + "beginGeldigheid", voorkomen.begin)
    _eind(tijdvak, voorkomen.eind)
    registratie = etree.Element(STUF + "tijdstipRegistratie")
    registratie.text = voorkomen.registratie
    _insert_before_relations(element, [tijdvak, registratie])


def add_groups(
    element: etree._Element,
    entiteit: Entiteit,
    rows: Sequence[dict[str, Any]],
    *,
    formele: bool,
) -> None:
    """The historieMaterieel (and with ``formele`` historieFormeel) groups
    of a subject in its answer object, before its relations."""
    groups = _groups(
        "historieMaterieel",
        entiteit,
        materieel(entiteit, rows),
        entiteit.historie_materieel,
    )
    if formele:
        groups += _groups(
            "historieFormeel",
            entiteit,
            formeel(entiteit, rows),
            entiteit.historie_formeel,
        )
    _insert_before_relations(element, groups)


def _groups(
    tag: str,
    entiteit: Entiteit,
    voorkomens: list[Voorkomen],
    allowed: frozenset[str],
) -> list[etree._Element]:
    groups: list[etree._Element] = []
    previous: Gegevens | None = None
    holder = etree.Element("holder")
    for voorkomen in voorkomens:
        changed = _changed(entiteit, previous, voorkomen.gegevens)
        previous = voorkomen.gegevens
        group = write_object(
            holder,
            BG + tag,
            entiteit.code,
            entiteit.antwoord,
            changed,
            given_only=True,
        )
        # The history groups prohibit StUF:entiteittype and noValue on
        # themselves (NPS-historieMaterieel and the like).
        for attribute in (ENTITEITTYPE, NO_VALUE):
            if attribute in group.attrib:
                del group.attrib[attribute]
        for child in list(group):
            name = local(child)
            if name not in allowed:
                group.remove(child)
            elif name == "sub.correspondentieAdres":
                for part in list(child):
                    if local(part) in _NOT_IN_HISTORIE_ADRES:
                        child.remove(part)
        tijdvak = sub(group, STUF + "tijdvakGeldigheid")
        sub(tijdvak, STUF + "beginGeldigheid", voorkomen.begin)
        _eind(tijdvak, voorkomen.eind)
        sub(group, STUF + "tijdstipRegistratie", voorkomen.registratie)
        groups.append(group)
    return groups


def _changed(
    entiteit: Entiteit, previous: Gegevens | None, gegevens: Gegevens
) -> Gegevens:
    if previous is None:
        return dict(gegevens)
    columns = {
        column
        for column in entiteit.columns
        if (previous.get(column) or None) != (gegevens.get(column) or None)
    }
    # An address (and the choice it is in) is one value: all of it or none.
    for group in entiteit.groups:
        if columns.intersection(group):
            columns.update(group)
    for column in list(columns):
        if column.endswith("_indicator"):
            columns.add(column[: -len("_indicator")])
        elif f"{column}_indicator" in gegevens:
            columns.add(f"{column}_indicator")
    return {column: gegevens.get(column) for column in columns}


def _eind(tijdvak: etree._Element, eind: str | None) -> None:
    if eind is None:
        # Required and nillable: the period has not ended (StUF 03.01
        # noValue geenWaarde).
        nil(tijdvak, STUF + "eindGeldigheid")
    else:
        sub(tijdvak, STUF + "eindGeldigheid", eind)


def _insert_before_relations(
    element: etree._Element, new: list[etree._Element]
) -> None:
    # Relations (elements with an entiteittype, such as rps.isEigenaarVan)
    # come after tijdvakGeldigheid and the history groups in every answer
    # type; everything else the register writes comes before.
    position = len(element)
    for index, child in enumerate(element):
        if isinstance(child.tag, str) and child.get(ENTITEITTYPE):
            position = index
            break
    for offset, item in enumerate(new):
        element.insert(position + offset, item)
