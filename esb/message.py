"""What the broker knows about one message on its way through.

A :class:`Message` is created by a source (SOAP, HTTP, file, AMQP) from the raw
bytes; identification fills in an :class:`Identification`, validation a
:class:`ValidationReport`. Routes, the journal and the adapters read these and
never parse the XML again for stuurgegevens.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from typing import Literal

from lxml import etree

from esb.errors import Violation

NS_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NS_STUF = "http://www.egem.nl/StUF/StUF0301"
NS_ZKN = "http://www.egem.nl/StUF/sector/zkn/0310"
NS_BG = "http://www.egem.nl/StUF/sector/bg/0310"
NS_ZDS = "http://www.stufstandaarden.nl/koppelvlak/zds0120"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"

ValidationMode = Literal["strict", "report", "off"]
VALIDATION_MODES: tuple[ValidationMode, ...] = ("strict", "report", "off")


@dataclass(frozen=True, slots=True)
class Party:
    """A zender or ontvanger: StUF:Systeem."""

    organisatie: str | None = None
    applicatie: str | None = None
    administratie: str | None = None
    gebruiker: str | None = None

    def describe(self) -> str:
        """``organisatie/applicatie``, the way operators name a system."""
        return f"{self.organisatie or '-'}/{self.applicatie or '-'}"


@dataclass(frozen=True, slots=True)
class Stuurgegevens:
    """The StUF stuurgegevens of a message, as sent."""

    berichtcode: str
    zender: Party = field(default_factory=Party)
    ontvanger: Party = field(default_factory=Party)
    referentienummer: str | None = None
    tijdstip_bericht: str | None = None
    cross_refnummer: str | None = None
    entiteittype: str | None = None
    functie: str | None = None


@dataclass(frozen=True, slots=True)
class Identification:
    """What a message is, decided once before anything else happens.

    ``operation`` is the ZDS or StUF-BG operation without version suffixes
    (``creeerZaak``, ``genereerZaakIdentificatie``, ``npsLv01``); ``element``
    is the body element's Clark name; ``flavour`` says which form the sender
    used (``zds-1.2``, ``zds-1.1``, ``stuf-zkn``, ``stuf-bg``).
    """

    operation: str
    element: str
    flavour: str
    stuurgegevens: Stuurgegevens
    soap_action: str | None = None
    mutatiesoort: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)

    @property
    def berichtcode(self) -> str:
        return self.stuurgegevens.berichtcode

    @property
    def namespace(self) -> str:
        return etree.QName(self.element).namespace or ""

    @property
    def local_name(self) -> str:
        return etree.QName(self.element).localname


@dataclass(slots=True)
class ValidationReport:
    """The outcome of validating one body: the mode, the schema, violations."""

    mode: ValidationMode
    schema_set: str | None = None
    violations: list[Violation] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.violations


# 128 random bits per message id, as uuid4().hex has 122, from a generator
# seeded once from os.urandom: uuid4 makes a system call per id.
_ids = random.Random()
# A forked child must not repeat its parent's ids.
os.register_at_fork(after_in_child=_ids.seed)


def new_message_id() -> str:
    """A new message id: 32 hex digits, unique for all practical purposes."""
    return f"{_ids.getrandbits(128):032x}"


@dataclass(slots=True)
class Message:
    """One message as a source received it, and what EMO learnt about it."""

    raw: bytes
    source: str
    soap_action: str | None = None
    content_type: str | None = None
    id: str = field(default_factory=lambda: new_message_id())
    received_at: float = field(default_factory=time.time)
    envelope: etree._Element | None = None
    body: etree._Element | None = None
    identification: Identification | None = None
    validation: ValidationReport | None = None
    route: str | None = None
    outcome: str | None = None
