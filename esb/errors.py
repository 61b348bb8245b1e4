"""The errors EMO raises and the StUF faults they become.

Every failure that reaches a sender is a :class:`StufFault`: it carries the StUF
foutcode, the plek (``client`` when the sender can fix it, ``server`` when EMO
or a destination failed), a short omschrijving and the details. The transport
decides how to put it on the wire (a SOAP Fault with a Fo01/Fo02/Fo03, or an
HTTP error for a request that is not a message at all)::

    EmoError
    ├── StufFault                 a fault answered to the sender
    │   ├── EnvelopeError         no SOAP 1.1 envelope, or not XML at all
    │   ├── IdentificationError   operation, stuurgegevens or SOAPAction wrong
    │   ├── SchemaViolation       StUF055: the body breaks the schema
    │   └── NoRouteError          a valid message that no route takes
    ├── ConfigError               a configuration or routes file is wrong
    └── SchemaLoadError           a schema distribution does not compile

StUF 03.01 defines the codes (chapter 5, "Foutberichten"); :data:`FOUTCODES`
holds the standard omschrijving of those EMO uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Plek = Literal["client", "server"]

# StUF 03.01, table of foutcodes: the standard text per code.
FOUTCODES: dict[str, str] = {
    "StUF001": "Versie StUF niet ondersteund",
    "StUF004": "Sectormodel niet ondersteund",
    "StUF010": "Combinatie van ontvangende organisatie, applicatie en "
    "administratie onbekend",
    "StUF013": "Combinatie van zendende organisatie, applicatie en "
    "administratie onbekend",
    "StUF016": "Combinatie zender en referentienummer niet uniek",
    "StUF022": "Berichtcode onbekend",
    "StUF025": "Berichtcode niet ondersteund",
    "StUF028": "Entiteittype onbekend binnen sectormodel",
    "StUF031": "Entiteittype niet ondersteund",
    "StUF037": "Functie niet ondersteund",
    "StUF040": "Combinatie van berichtcode, entiteittype en functie niet ondersteund",
    "StUF046": "Opslaan bericht niet mogelijk",
    "StUF049": "Proces voor afhandelen synchroon bericht niet beschikbaar",
    "StUF052": "Het zendende systeem is niet geautoriseerd voor de gevraagde "
    "combinatie van berichtcode, entiteittype en functie",
    "StUF055": "Berichtbody is niet conform schema in sectormodel",
    "StUF058": "Proces voor afhandelen bericht geeft fout",
    "StUF064": "Object niet gevonden",
    "StUF067": "Dubbelen voor object gevonden",
    "StUF960": "Het antwoordende systeem is niet in staat het verzoek af te "
    "handelen binnen de connection time out",
}

# Schema limits of the Foutbericht (stuf0301.xsd): Foutomschrijving and
# Foutdetails are strings of at most 200 and 1000 characters.
OMSCHRIJVING_MAX = 200
DETAILS_MAX = 1000


class EmoError(Exception):
    """The root of every error EMO raises on purpose."""


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken schema rule: where it is and what the rule says."""

    line: int | None
    path: str
    rule: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "line ?"
        return f"{where}, {self.path}: {self.rule}"


class StufFault(EmoError):
    """A fault that is answered to the sender as a StUF foutbericht.

    ``http_status`` is used where no SOAP Fault can be given (plain HTTP
    errors); SOAP faults always go out with status 500 (SOAP 1.1 section 6.2).
    """

    def __init__(
        self,
        code: str,
        omschrijving: str | None = None,
        *,
        plek: Plek = "client",
        details: str | None = None,
        violations: Sequence[Violation] = (),
        http_status: int = 500,
        soap_faultcode: str | None = None,
    ) -> None:
        self.code = code
        self.omschrijving = omschrijving or FOUTCODES.get(code, code)
        self.plek: Plek = plek
        self.details = details
        self.violations = tuple(violations)
        self.http_status = http_status
        # SOAP 1.1 section 4.4.1: VersionMismatch and MustUnderstand are the
        # envelope's own faults; otherwise the plek decides Client or Server.
        self.soap_faultcode = soap_faultcode or plek.capitalize()
        super().__init__(f"{code} ({plek}): {self.omschrijving}")

    @property
    def full_details(self) -> str | None:
        """The details text, each violation on its own line after it."""
        lines = [self.details] if self.details else []
        lines.extend(str(violation) for violation in self.violations)
        return "\n".join(lines) or None


class EnvelopeError(StufFault):
    """The request is not a usable SOAP 1.1 envelope."""


class IdentificationError(StufFault):
    """The operation, the stuurgegevens or the SOAPAction cannot be accepted."""


class SchemaViolation(StufFault):
    """StUF055: the message body does not conform to the official schema."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        super().__init__("StUF055", violations=violations, plek="client")


class NoRouteError(StufFault):
    """A valid message that no route takes."""


class ConfigError(EmoError):
    """A configuration or routes file is wrong; the text says where and why."""


class SchemaLoadError(EmoError):
    """A schema distribution could not be read or compiled."""
