"""What every operation of the zaakregister gets: the request and the setup."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from esb.answers import bv03
from esb.errors import StufFault
from esb.message import Identification, Party, Stuurgegevens
from registers.stuf import child, children
from registers.zaakregister.answers import Flavour, flavour_of
from registers.zaakregister.identificaties import (
    DOCUMENT_PATTERN,
    ZAAK_PATTERN,
    Pattern,
)
from registers.zaakregister.inhoud import Later

# The most objects one vraag returns, whatever maximumAantal asks.
MAXIMUM_AANTAL = 1000


@dataclass(frozen=True)
class Config:
    """The register's settings (the destination's settings in routes.yaml)."""

    documents: Path
    organisatie: str | None = None
    zaak_pattern: Pattern = field(default_factory=lambda: Pattern.parse(ZAAK_PATTERN))
    document_pattern: Pattern = field(
        default_factory=lambda: Pattern.parse(DOCUMENT_PATTERN)
    )
    # How the register names itself as zender when a request named no
    # ontvanger it can echo.
    system: Party = field(default_factory=lambda: Party(applicatie="EMO"))
    # The link given for a document that came without one; {identificatie}
    # is filled in. ZDS 1.2 demands a link in geefZaakdocumentBewerken.
    document_link: str = "urn:emo:zaakregister:document:{identificatie}"


@dataclass(frozen=True)
class Request:
    """One identified message for the register, and when it is handled."""

    identification: Identification
    body: etree._Element
    now: float
    # When given, document content goes into the answer after it is
    # serialised (registers.zaakregister.inhoud), not into the tree.
    later: Later | None = None

    @property
    def operation(self) -> str:
        return self.identification.operation

    @property
    def stuurgegevens(self) -> Stuurgegevens:
        return self.identification.stuurgegevens

    @property
    def flavour(self) -> Flavour:
        return flavour_of(self.identification.flavour)

    def parameter(self, name: str) -> str | None:
        return self.identification.parameters.get(name)

    @property
    def zender(self) -> str:
        """Who sent it, for the record (``organisatie/applicatie/gebruiker``)."""
        zender = self.stuurgegevens.zender
        parts = (zender.organisatie, zender.applicatie, zender.gebruiker)
        return "/".join(part or "" for part in parts)

    def objects(self, container: etree._Element | None = None) -> list[etree._Element]:
        """The ``object`` elements of the body (or of ``container``); StUF055
        when there is none."""
        found = list(children(self.body if container is None else container, "object"))
        if not found:
            raise _missing("object", self.operation)
        return found

    def element(self, name: str) -> etree._Element:
        """A required child of the body; StUF055 when the sender left it out."""
        found = child(self.body, name)
        if found is None:
            raise _missing(name, self.operation)
        return found

    def maximum_aantal(self) -> int:
        """StUF maximumAantal, capped at :data:`MAXIMUM_AANTAL`."""
        asked = self.parameter("maximumAantal")
        if asked and asked.isdigit() and int(asked) > 0:
            return min(int(asked), MAXIMUM_AANTAL)
        return MAXIMUM_AANTAL


def _missing(name: str, operation: str) -> StufFault:
    return StufFault(
        "StUF055",
        f"Element {name} ontbreekt",
        plek="client",
        details=f"{operation} verwacht een {name} in het bericht",
    )


def referentienummer() -> str:
    """A fresh referentienummer for an answer (32 characters, within 40)."""
    return uuid.uuid4().hex


def bevestiging(request: Request, config: Config) -> etree._Element:
    """The Bv03 for a kennisgeving the register carried out."""
    return bv03(
        request.stuurgegevens,
        system=config.system,
        referentienummer=referentienummer(),
        now=request.now,
    )


def not_found(kind: str, identificatie: str | None) -> StufFault:
    """StUF064: the zaak or document the request names is not registered."""
    return StufFault(
        "StUF064",
        plek="client",
        details=f"{kind} '{identificatie}' komt in het zaakregister niet voor",
    )


def refused(omschrijving: str, details: str) -> StufFault:
    """StUF058 with plek client: the request cannot be carried out as sent."""
    return StufFault("StUF058", omschrijving, plek="client", details=details)
