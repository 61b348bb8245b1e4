"""The zaakregister: one identified ZDS message in, one answer out.

:meth:`Zaakregister.handle` is the whole interface. It takes the
:class:`~esb.message.Identification` the broker made and the message's body
element, runs the operation in one database transaction, and returns the
answer's bericht element (La01, Du02, Bv02 or Bv03); a request it cannot
carry out raises :class:`~esb.errors.StufFault`, which the caller turns into
a Fo02/Fo03. It blocks (SQLAlchemy, files): call it from a thread.

Operations by name, as identification names them. ZDS 1.1 and 1.2 give the
same names; plain StUF-ZKN messages (``zakLk01`` without a ZDS SOAPAction)
are taken as the ZDS operation they amount to::

    genereerZaakIdentificatie   Du02     geefZaakdetails          La01
    creeerZaak                  Bv03     geefZaakstatus           La01
    updateZaak                  Bv03     geefLijstZaakdocumenten  La01
    actualiseerZaakstatus       Bv03     geefZaakdocumentLezen    La01
    genereerDocumentIdentificatie Du02   geefZaakdocumentBewerken Du02
    voegZaakdocumentToe         Bv03     updateZaakdocument       Bv02
    maakZaakdocument            Bv03     cancelCheckout           Bv02
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from lxml import etree
from sqlalchemy.orm import Session
from twisted.logger import Logger

from esb.errors import StufFault
from esb.message import Identification
from registers.zaakregister import documenten, inhoud, zaken
from registers.zaakregister.blobs import BlobStore
from registers.zaakregister.context import Config, Request
from registers.zaakregister.database import Conflict, Database

log = Logger()

Operation = Callable[[Session, Request, Config], etree._Element]

_ZAAK_OPERATIONS: dict[str, tuple[Operation, bool]] = {
    # name: (operation, whether it writes)
    "genereerZaakIdentificatie": (zaken.genereer_identificatie, True),
    "creeerZaak": (zaken.creeer, True),
    "updateZaak": (zaken.update, True),
    "actualiseerZaakstatus": (zaken.actualiseer_status, True),
    "geefZaakdetails": (zaken.geef_details, False),
    "geefZaakstatus": (zaken.geef_status, False),
    "geefLijstZaakdocumenten": (zaken.geef_documenten, False),
    "genereerDocumentIdentificatie": (documenten.genereer_identificatie, True),
    "cancelCheckout": (documenten.cancel_checkout, True),
}


def _generic(identification: Identification) -> str:
    """The ZDS operation a plain StUF-ZKN message amounts to."""
    operation = identification.operation
    mutatiesoort = identification.mutatiesoort
    if operation == "zakLk01":
        return "updateZaak" if mutatiesoort == "W" else "creeerZaak"
    if operation == "zakLv01":
        return "geefZaakdetails"
    if operation == "edcLk01":
        return "voegZaakdocumentToe"
    if operation == "edcLv01":
        return "geefZaakdocumentLezen"
    return operation


class Zaakregister:
    """EMO's zaakregister over one database and one document folder."""

    def __init__(
        self,
        database: Database,
        config: Config,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.config = config
        self.blobs = BlobStore(config.documents)
        self.clock = clock

    @classmethod
    def open(cls, url: str, config: Config, *, pool_size: int = 8) -> Zaakregister:
        """Connect to ``url`` (migrating it) and use ``config.documents``."""
        Path(config.documents).mkdir(parents=True, exist_ok=True)
        return cls(Database.open(url, pool_size=pool_size), config)

    def close(self) -> None:
        self.database.close()

    def handle(
        self, identification: Identification, body: etree._Element
    ) -> etree._Element:
        """Carry out the request; the answer's bericht element, or a fault."""
        return self._handle(self._request(identification, body, None))

    def answer(
        self,
        identification: Identification,
        body: etree._Element,
        serialise: Callable[[etree._Element], bytes],
        *,
        prestored: Sequence[str] = (),
    ) -> bytes:
        """Carry out the request; the answer serialised by ``serialise``.

        Document content goes into the serialised answer straight from the
        blob store (:func:`registers.zaakregister.inhoud.splice`), so a large
        document is in memory once. ``prestored`` are the blobs that
        :func:`registers.zaakregister.inhoud.parse` made of the request's
        inhoud: those the operation does not take are deleted.
        """
        later = inhoud.Later()
        request = self._request(identification, body, later)
        try:
            element = self._handle(request)
            return inhoud.splice(element, serialise, later, self.blobs)
        finally:
            # Most requests carry no large inhoud: no tree walk for them.
            referenced = _referenced(body) if prestored else set()
            for key in prestored:
                if key not in referenced:
                    self.blobs.delete(key)

    def _request(
        self,
        identification: Identification,
        body: etree._Element,
        later: inhoud.Later | None,
    ) -> Request:
        if identification.flavour == "stuf-zkn":
            operation = _generic(identification)
        else:
            operation = identification.operation
        if operation != identification.operation:
            identification = _renamed(identification, operation)
        return Request(identification, body, self.clock(), later)

    def _handle(self, request: Request) -> etree._Element:
        operation = request.operation
        identification = request.identification

        if operation in ("voegZaakdocumentToe", "maakZaakdocument"):
            return self._new_document(request)
        if operation == "updateZaakdocument":
            return self._update_document(request)
        if operation == "creeerZaak":
            # Read and checked before the turn to write, which then holds
            # only the statements.
            aanmaak = zaken.voorbereid(request)
            return self._write(
                lambda s: zaken.creeer(s, request, self.config, aanmaak),
                together=True,
            )
        if operation == "geefZaakdocumentLezen":
            return self.database.read(
                lambda s: documenten.lees(s, request, self.config, self.blobs)
            )
        if operation == "geefZaakdocumentBewerken":
            return self._write(
                lambda s: documenten.bewerken(s, request, self.config, self.blobs)
            )
        known = _ZAAK_OPERATIONS.get(operation)
        if known is None:
            raise StufFault(
                "StUF040",
                f"Operatie {operation} wordt door het zaakregister niet ondersteund",
                plek="client",
                details=f"bericht {identification.local_name} "
                f"({identification.flavour}); het zaakregister kent: "
                + ", ".join(sorted(_SUPPORTED)),
            )
        work, writes = known
        if writes:
            return self._write(lambda s: work(s, request, self.config))
        return self.database.read(lambda s: work(s, request, self.config))

    def _write(
        self, work: Callable[[Session], etree._Element], *, together: bool = False
    ) -> etree._Element:
        """Run ``work`` in a write transaction; ``together``: one that may be
        shared with other creeerZaak works (it touches only the database)."""
        write = self.database.write_together if together else self.database.write
        try:
            return write(work)
        except Conflict as exc:
            # Two senders created the same zaak or document at once; the
            # loser's answer is the one a second creeerZaak would get.
            raise StufFault(
                "StUF058",
                "Object bestaat al",
                plek="client",
                details="een zaak of document met deze identificatie is zojuist "
                "door een ander bericht aangemaakt",
            ) from exc

    def _new_document(self, request: Request) -> etree._Element:
        stored = documenten.Stored()
        try:
            gegevens = documenten.read_new(request, self.blobs, stored)
            return self._write(
                lambda s: documenten.voeg_toe(s, request, self.config, gegevens)
            )
        except BaseException:
            for key in stored.new:
                self.blobs.delete(key)
            raise

    def _update_document(self, request: Request) -> etree._Element:
        stored = documenten.Stored()
        try:
            was, wordt = documenten.read_update(request, self.blobs, stored)
            answer = self._write(
                lambda s: documenten.update(s, request, self.config, was, wordt, stored)
            )
        except BaseException:
            for key in stored.new:
                self.blobs.delete(key)
            raise
        for key in stored.replaced:
            self.blobs.delete(key)
        return answer


_SUPPORTED = frozenset(_ZAAK_OPERATIONS) | {
    "voegZaakdocumentToe",
    "maakZaakdocument",
    "updateZaakdocument",
    "geefZaakdocumentLezen",
    "geefZaakdocumentBewerken",
}


def _renamed(identification: Identification, operation: str) -> Identification:
    return replace(identification, operation=operation)


def _referenced(body: etree._Element) -> set[str]:
    """The prestored blobs a document operation took: it marks each inhoud
    it stored with :data:`registers.zaakregister.inhoud.TAKEN`."""
    return {
        key for element in body.iter() if (key := element.get(inhoud.TAKEN)) is not None
    }
