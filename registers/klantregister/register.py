"""The klantregister: an identified message in, an answer out.

:meth:`Klantregister.handle` takes the body element of a message the broker
has identified, and returns the answer element:

- ``npsLk01``, ``nnpLk01``, ``vesLk01`` (kennisgevingen) -> ``Bv03Bericht``
  (:mod:`registers.klantregister.kennisgeving`);
- ``npsLv01``, ``nnpLv01``, ``vesLv01`` (vragen) -> ``npsLa01``, ...,
  and the vragen with history Lv03, Lv05, Lv07, Lv09 -> La03, ...
  (:mod:`registers.klantregister.vraag`, :mod:`registers.klantregister.historie`);
- a ZDS or StUF-ZKN zaak kennisgeving (creeerZaak, updateZaak, zakLk01) ->
  ``Bv03Bericht``, after learning the zaak's initiators
  (:mod:`registers.klantregister.betrokkenen`); every other ZDS/ZKN message
  -> None: not the klantregister's business, so a wiretap of all zaak
  traffic to the klantregister is harmless.

Anything it cannot answer raises :class:`~esb.errors.StufFault`; the caller
(the broker's klantregister adapter) makes the foutbericht. The register
imports nothing of the broker but the message types, the errors and the
answer helpers, so either side can be replaced.

It logs one event per message, naming the subject by its row id: a BSN never
reaches a log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TypeVar

import sqlalchemy as sa
from lxml import etree
from twisted.logger import Logger

from esb.answers import bv03
from esb.errors import StufFault
from esb.message import Identification, Party
from registers.klantregister import betrokkenen, kennisgeving, vraag
from registers.klantregister.betrokkenen import Betrokkene
from registers.klantregister.database import Conflict, Database, database_url
from registers.klantregister.entiteiten import BY_PREFIX
from registers.klantregister.kennisgeving import Uitkomst
from registers.klantregister.store import Bron

log = Logger()

T = TypeVar("T")

# ZDS 1.1/1.2 and StUF-ZKN kennisgevingen that may name an initiator.
_ZAAK_OPERATIONS = frozenset({"creeerZaak", "updateZaak", "zakLk01"})


class Klantregister:
    """The klantregister on one database."""

    def __init__(
        self,
        database: Database,
        *,
        system: Party | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        # Who answers when the request names no ontvanger.
        self.system = system or Party(applicatie="EMO")
        self.clock = clock

    @classmethod
    def open(
        cls, url: str | None = None, *, system: Party | None = None
    ) -> Klantregister:
        """The register at ``url`` (else ``EMO_KLANTREGISTER_URL``, else
        ``sqlite:///./var/klantregister.db``), migrated."""
        return cls(Database.open(database_url(url)), system=system)

    def close(self) -> None:
        self.database.close()

    # Messages ---------------------------------------------------------------

    def handle(
        self,
        body: etree._Element,
        identification: Identification,
        *,
        referentienummer: str,
    ) -> etree._Element | None:
        """The answer to one message; see the module's docstring."""
        if identification.flavour != "stuf-bg":
            return self._zaak(body, identification, referentienummer)

        entiteit = BY_PREFIX.get(identification.operation[:3])
        if entiteit is None:
            raise StufFault(
                "StUF031",
                details=f"het klantregister beantwoordt {identification.operation} "
                "niet; het kent natuurlijke personen (NPS), niet-natuurlijke "
                "personen (NNP) en vestigingen (VES)",
            )
        berichtcode = identification.berichtcode
        stuurgegevens = identification.stuurgegevens

        if berichtcode == "Lk01":
            gelezen = kennisgeving.lees(body, entiteit, identification.mutatiesoort)
            bron = Bron(_bron("stuf", identification), stuurgegevens.referentienummer)
            now = self.clock()
            uitkomst = self._write(lambda c: kennisgeving.apply(c, gelezen, bron, now))
            self._logged(identification.operation, referentienummer, [uitkomst])
            return bv03(
                stuurgegevens,
                system=self.system,
                referentienummer=referentienummer,
                now=now,
            )

        if berichtcode in vraag.SYNCHROON:
            gevraagd = vraag.lees(body, entiteit, berichtcode)
            moment = self.clock()
            resultaat = self.database.read(
                lambda c: vraag.zoek(c, gevraagd, now=moment)
            )
            log.info(
                "Klantregister {operation} for message {message}: {count} {entiteit}",
                operation=identification.operation,
                message=referentienummer,
                count=len(resultaat.gevonden),
                entiteit=entiteit.code,
            )
            return vraag.antwoord(
                gevraagd,
                resultaat,
                stuurgegevens,
                system=self.system,
                referentienummer=referentienummer,
                now=self.clock(),
            )

        raise StufFault(
            "StUF040",
            details=f"het klantregister beantwoordt van de {entiteit.naam} "
            "kennisgevingen (Lk01) en synchrone vragen (Lv01, Lv03, Lv05, Lv07, "
            f"Lv09), geen {berichtcode}",
        )

    @staticmethod
    def ignores(identification: Identification) -> bool:
        """Whether :meth:`handle` would answer None: a ZDS message that is no
        zaak kennisgeving. Lets a caller skip parsing it (a voegZaakdocumentToe
        may carry a 25 MB document)."""
        return identification.flavour != "stuf-bg" and (
            identification.berichtcode != "Lk01"
            or identification.operation not in _ZAAK_OPERATIONS
        )

    def _zaak(
        self,
        body: etree._Element,
        identification: Identification,
        referentienummer: str,
    ) -> etree._Element | None:
        if (
            identification.berichtcode != "Lk01"
            or identification.operation not in _ZAAK_OPERATIONS
        ):
            return None
        self.learn_from_zaak(body, identification, referentienummer=referentienummer)
        return bv03(
            identification.stuurgegevens,
            system=self.system,
            referentienummer=referentienummer,
            now=self.clock(),
        )

    # Learning ---------------------------------------------------------------

    def learn_from_zaak(
        self,
        body: etree._Element,
        identification: Identification,
        *,
        referentienummer: str | None = None,
    ) -> list[Uitkomst]:
        """Learn the initiators of a zaak kennisgeving, in one transaction."""
        found = betrokkenen.read_initiators(body, identification.mutatiesoort)
        if not found:
            return []
        bron = Bron(
            _bron("zaak", identification),
            identification.stuurgegevens.referentienummer,
        )
        uitkomsten = self._learn(found, bron)
        self._logged(identification.operation, referentienummer, uitkomsten)
        return uitkomsten

    def learn_from_betrokkene(
        self,
        data: Mapping[str, str | None],
        *,
        bron: str = "zaak",
        referentienummer: str | None = None,
    ) -> Uitkomst:
        """Learn a person or company a zaak names, from plain data.

        ``data`` holds column names of :mod:`registers.klantregister.model`:
        ``bsn``, ``geslachtsnaam``, ``voorvoegsel``, ``voornamen``,
        ``geboortedatum`` (``yyyymmdd``, zeros for unknown parts),
        ``verblijf_postcode``, ``verblijf_huisnummer``, ...; or ``rsin``,
        ``kvk_nummer``, ``statutaire_naam``, ``rechtsvorm``, ``bezoek_...``;
        or ``vestigingsnummer``, ``handelsnaam``, ``kvk_nummer``. The subject
        is added when unknown and updated when known, never duplicated;
        empty values erase nothing. Raises StufFault (StUF055) for a number
        that is not valid, ValueError for a key the register does not know.
        """
        betrokkene = betrokkenen.read_betrokkene(data)
        [uitkomst] = self._learn([betrokkene], Bron(bron, referentienummer))
        self._logged("learn_from_betrokkene", referentienummer, [uitkomst])
        return uitkomst

    def _learn(self, found: list[Betrokkene], bron: Bron) -> list[Uitkomst]:
        # A look-up first: when every betrokkene is known as given, no write
        # transaction is begun. Otherwise the write looks each one up again
        # under its lock, and decides on what it finds there.
        uitkomsten = [betrokkenen.unchanged(self.database, b) for b in found]
        if all(uitkomst is not None for uitkomst in uitkomsten):
            return [uitkomst for uitkomst in uitkomsten if uitkomst is not None]
        now = self.clock()
        return self._write(
            lambda c: [betrokkenen.learn(c, b, bron, now) for b in found]
        )

    # Helpers ----------------------------------------------------------------

    def _write(self, work: Callable[[sa.Connection], T]) -> T:
        try:
            return self.database.write(work)
        except Conflict as exc:
            raise StufFault(
                "StUF058",
                "Nummer is al in gebruik",
                details="een ander object in het klantregister heeft dit nummer al",
            ) from exc

    def _logged(
        self, operation: str, referentienummer: str | None, uitkomsten: list[Uitkomst]
    ) -> None:
        for uitkomst in uitkomsten:
            log.info(
                "Klantregister {operation} for message {message}: {entiteit} "
                "{subject} {uitkomst}",
                operation=operation,
                message=referentienummer,
                entiteit=uitkomst.entiteit,
                subject=uitkomst.subject_id,
                uitkomst=uitkomst.uitkomst,
            )


def _bron(kind: str, identification: Identification) -> str:
    zender = identification.stuurgegevens.zender
    return f"{kind}:{zender.organisatie or '-'}/{zender.applicatie or '-'}"
