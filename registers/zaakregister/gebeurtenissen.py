"""Every change is an event: the register's outbox, and the messages it sends.

Writing
    :func:`record` adds a row to ``zrg_gebeurtenissen`` inside the
    transaction that makes the change, so the change and its event commit
    together or not at all (a transactional outbox). Which operation writes
    which event::

        creeerZaak                                zaak-aangemaakt
        updateZaak, actualiseerZaakstatus         status-gewijzigd (a status
                                                  added or removed) and/or
                                                  zaak-gewijzigd (anything else)
        voegZaakdocumentToe, maakZaakdocument     document-toegevoegd, per zaak
        updateZaakdocument                        document-gewijzigd, per zaak

    An update that changes nothing writes no event; neither do the checkout
    cycle (geefZaakdocumentBewerken, cancelCheckout: a lock, not a change)
    and the genereer...Identificatie operations.

Publishing
    :class:`Outbox` gives the events not yet published, each as a standard
    StUF-ZKN 03.10 kennisgeving (the ``ontvangAsynchroon`` messages of
    zkn0310_msg_mutatie.xsd), and marks them published once the broker has
    journaled them (:mod:`esb.sources.events` drives it). The message:

    - zaak-aangemaakt: ``zakLk01``, mutatiesoort T, one object with
      verwerkingssoort T: the zaak as the register holds it when the event is
      published (its data, zaaktype, roles, statuses, related zaken and
      besluiten; no documents, which ZAK-kennisgeving does not carry);
    - zaak-gewijzigd and status-gewijzigd: ``zakLk01``, mutatiesoort W, one
      object with verwerkingssoort W, the zaak as it is now. StUF 03.01 pairs
      a W with a *was* object; the register keeps no history to give one, so
      the kennisgeving says "this is the zaak now", which is what a
      subscriber (the zaakzoeker, a DMS) needs;
    - document-toegevoegd (T) and document-gewijzigd (W): ``edcLk01`` with the
      document's metadata and its isRelevantVoor relations, without content
      (a subscriber reads it with geefZaakdocumentLezen).

    stuurgegevens: berichtcode Lk01, the configured zender and ontvanger,
    referentienummer ``zrg-<event id>-<milliseconds>`` (the same every time
    the event is offered, so the journal answers a repeat as before and
    publishes it once), tijdstipBericht the moment of the change, and
    entiteittype ZAK or EDC. The object's ``StUF:extraElementen`` names the
    event: ``emo.gebeurtenis`` (the soort), ``emo.operation`` (the operation
    that made the change) and ``emo.referentienummer`` (that message's
    referentienummer), so a route can tell the kinds apart with an XPath,
    besides berichtcode and entiteittype. Each message validates against the
    official zkn0310 schemas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from lxml import etree
from sqlalchemy.orm import Session, selectinload

from esb.answers import stuf_tijdstip
from esb.message import Party
from registers.stuf import ENTITEITTYPE, STUF, local, sub
from registers.zaakregister import answers
from registers.zaakregister.context import Request
from registers.zaakregister.database import Database
from registers.zaakregister.model import (
    SOORTEN,
    Document,
    Gebeurtenis,
    Zaak,
    ZaakDocument,
)
from registers.zaakregister.stuf import NSMAP, VERWERKINGSSOORT, ZKN

# What each soort is in StUF: the message, its mutatiesoort.
_KENNISGEVING = {
    "zaak-aangemaakt": ("zakLk01", "T"),
    "zaak-gewijzigd": ("zakLk01", "W"),
    "status-gewijzigd": ("zakLk01", "W"),
    "document-toegevoegd": ("edcLk01", "T"),
    "document-gewijzigd": ("edcLk01", "W"),
}

# ZAK-antwoord elements that a ZAK-kennisgeving does not have: documents are
# related from the document's side (EDC isRelevantVoor), the hoofdzaak from
# the hoofdzaak's (heeftAlsDeelzaak).
_NOT_IN_KENNISGEVING = frozenset({"heeftRelevant", "heeftAlsHoofdzaak"})

# Where extraElementen goes: before the first relation (zkn0310 ZAK- and
# EDC-kennisgeving put StUF:tijdvakGeldigheid, tijdstipRegistratie and
# extraElementen between the attributes and the relations).
_RELATIONS = frozenset(
    {
        "isVan",
        "heeftBetrekkingOp",
        "heeftAlsBelanghebbende",
        "heeftAlsGemachtigde",
        "heeftAlsInitiator",
        "heeftAlsUitvoerende",
        "heeftAlsVerantwoordelijke",
        "heeftAlsOverigBetrokkene",
        "heeftAlsDeelzaak",
        "heeftBetrekkingOpAndere",
        "heeft",
        "leidtTot",
        "isRelevantVoor",
    }
)


def record(
    session: Session,
    request: Request,
    soort: str,
    zaak_identificatie: str,
    document_identificatie: str | None = None,
) -> None:
    """Add the event of a change to the transaction making it."""
    session.add(
        Gebeurtenis(
            **values(request, soort, zaak_identificatie, document_identificatie)
        )
    )


def values(
    request: Request,
    soort: str,
    zaak_identificatie: str,
    document_identificatie: str | None = None,
) -> dict[str, Any]:
    """The columns of the event of a change: :func:`record` adds it to a
    session, creeerZaak inserts it with its zaak (SQLAlchemy Core)."""
    assert soort in SOORTEN, soort
    zender = request.stuurgegevens.zender
    return {
        "soort": soort,
        "zaak_identificatie": zaak_identificatie,
        "document_identificatie": document_identificatie,
        "tijdstip": request.now,
        "referentienummer": request.stuurgegevens.referentienummer,
        "zender": f"{zender.organisatie or ''}/{zender.applicatie or ''}",
        "operation": request.operation,
        "gepubliceerd": None,
    }


@dataclass(frozen=True)
class Event:
    """One event to publish: its row id, what it is, and the message."""

    id: int
    soort: str
    zaak_identificatie: str
    document_identificatie: str | None
    referentienummer: str
    message: bytes


class Outbox:
    """The events not yet published, and marking them published.

    Several event sources may read one outbox (two brokers on one
    PostgreSQL database): each may offer an event the other has just
    published; the journal answers the repeat as before, so a subscriber
    still gets it once per journal.
    """

    def __init__(
        self,
        database: Database,
        *,
        zender: Party,
        ontvanger: Party,
        document_link: str = "urn:emo:zaakregister:document:{identificatie}",
    ) -> None:
        self.database = database
        self.zender = zender
        self.ontvanger = ontvanger
        self.document_link = document_link

    def pending(self, limit: int = 100) -> list[Event]:
        """Up to ``limit`` unpublished events, oldest first, as messages."""
        return self.database.read(lambda session: self._pending(session, limit))

    def published(self, ids: Sequence[int], now: float) -> None:
        """Mark events published: the broker has journaled their messages."""
        if not ids:
            return

        def mark(session: Session) -> None:
            session.execute(
                sa.update(Gebeurtenis)
                .where(
                    Gebeurtenis.id.in_(list(ids)), Gebeurtenis.gepubliceerd.is_(None)
                )
                .values(gepubliceerd=now)
            )

        self.database.write(mark)

    def _pending(self, session: Session, limit: int) -> list[Event]:
        query = (
            sa.select(Gebeurtenis)
            .where(Gebeurtenis.gepubliceerd.is_(None))
            .order_by(Gebeurtenis.id)
            .limit(limit)
        )
        return [self._event(session, row) for row in session.execute(query).scalars()]

    def _event(self, session: Session, row: Gebeurtenis) -> Event:
        name, mutatiesoort = _KENNISGEVING[row.soort]
        referentienummer = f"zrg-{row.id}-{round(row.tijdstip * 1000)}"
        bericht = etree.Element(ZKN + name, nsmap=NSMAP)
        entiteittype = "ZAK" if name == "zakLk01" else "EDC"
        _stuurgegevens(
            bericht, self.zender, self.ontvanger, referentienummer, row, entiteittype
        )
        parameters = sub(bericht, ZKN + "parameters")
        sub(parameters, STUF + "mutatiesoort", mutatiesoort)
        sub(parameters, STUF + "indicatorOvername", "V")
        if name == "zakLk01":
            found = _zaak_object(session, row.zaak_identificatie)
        else:
            found = _document_object(
                session, row.document_identificatie, self.document_link
            )
        if found is None:
            # Gone since (the register deletes nothing today, but a database
            # may be cleaned by hand): what the event itself knows.
            found = etree.Element(ZKN + "object")
            found.set(ENTITEITTYPE, entiteittype)
            sub(
                found,
                ZKN + "identificatie",
                row.zaak_identificatie
                if entiteittype == "ZAK"
                else row.document_identificatie,
            )
        bericht.append(_kennisgeving(found, mutatiesoort, row))
        message = etree.tostring(bericht, xml_declaration=True, encoding="UTF-8")
        return Event(
            row.id,
            row.soort,
            row.zaak_identificatie,
            row.document_identificatie,
            referentienummer,
            message,
        )


def _stuurgegevens(
    bericht: etree._Element,
    zender: Party,
    ontvanger: Party,
    referentienummer: str,
    row: Gebeurtenis,
    entiteittype: str,
) -> None:
    element = sub(bericht, ZKN + "stuurgegevens")
    sub(element, STUF + "berichtcode", "Lk01")
    for tag, party in (("zender", zender), ("ontvanger", ontvanger)):
        systeem = sub(element, STUF + tag)
        for name in ("organisatie", "applicatie", "administratie", "gebruiker"):
            value = getattr(party, name)
            if value:
                sub(systeem, STUF + name, value)
    sub(element, STUF + "referentienummer", referentienummer)
    sub(element, STUF + "tijdstipBericht", stuf_tijdstip(row.tijdstip))
    sub(element, STUF + "entiteittype", entiteittype)


def _zaak_object(session: Session, identificatie: str) -> etree._Element | None:
    # Imported here: zaken records events through this module.
    from registers.zaakregister import zaken

    query = sa.select(Zaak).where(Zaak.identificatie == identificatie)
    zaak = session.execute(query.options(*zaken.LOAD)).scalar_one_or_none()
    if zaak is None:
        return None
    verwanten = zaken.verwanten(session, [zaak])[zaak.id]
    return answers.zaak_object(zaak, form="generiek", verwanten=verwanten)


def _document_object(
    session: Session, identificatie: str | None, link: str
) -> etree._Element | None:
    query = (
        sa.select(Document)
        .where(Document.identificatie == identificatie)
        .options(selectinload(Document.zaken).selectinload(ZaakDocument.zaak))
    )
    document = session.execute(query).scalar_one_or_none()
    if document is None:
        return None
    return answers.document_object(
        document, None, link=link.format(identificatie=document.identificatie)
    )


def _kennisgeving(
    element: etree._Element, verwerkingssoort: str, row: Gebeurtenis
) -> etree._Element:
    """An answer object made a kennisgeving object, in place.

    Every entity gets a verwerkingssoort: the object and its relations the
    event's (T or W), the related entities I (zkn0310: "in de gerelateerde is
    alleen verwerkingssoort I toegestaan"). A ZAK-kennisgeving has one
    initiator at most, no heeftRelevant or heeftAlsHoofdzaak, and no
    indicatieLaatsteStatus on its statuses.
    """
    initiators = 0
    for found in list(element):
        name = local(found)
        if name in _NOT_IN_KENNISGEVING:
            element.remove(found)
        elif name == "heeftAlsInitiator":
            initiators += 1
            if initiators > 1:
                element.remove(found)
        elif name == "heeft":
            # An answer's marker (ZAKSTT-antwoord); the kennisgeving has none.
            for marker in found.findall(ZKN + "indicatieLaatsteStatus"):
                found.remove(marker)
    for entity in element.iter():
        if entity.get(ENTITEITTYPE) is None:
            continue
        if entity is element or entity.getparent() is element:
            entity.set(VERWERKINGSSOORT, verwerkingssoort)
        else:
            entity.set(VERWERKINGSSOORT, "I")

    extra = etree.Element(STUF + "extraElementen")
    for naam, value in (
        ("emo.gebeurtenis", row.soort),
        ("emo.operation", row.operation),
        ("emo.referentienummer", row.referentienummer),
    ):
        if value:
            sub(extra, STUF + "extraElement", value, naam=naam)
    position = next(
        (i for i, c in enumerate(element) if local(c) in _RELATIONS), len(element)
    )
    element.insert(position, extra)
    return element
