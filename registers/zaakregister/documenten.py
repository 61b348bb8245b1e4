"""The document operations: genereerDocumentIdentificatie, voegZaakdocumentToe,
maakZaakdocument, geefZaakdocumentLezen, and the checkout cycle of ZDS 1.2
section 4.6: geefZaakdocumentBewerken (check out), updateZaakdocument (check
in a new version), cancelCheckout.

Content goes to the blob store before the database transaction that names
it (see :mod:`registers.zaakregister.blobs`), so that decoding a large
document never holds the database's write lock. :class:`Stored` carries
the blob keys a transaction made or gave up, for the register to clean up
after the commit or the rollback.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from lxml import etree
from sqlalchemy.orm import Session, selectinload

from registers.stuf import path, text
from registers.zaakregister import answers, gebeurtenissen, inhoud, parse, zaken
from registers.zaakregister.blobs import BlobStore
from registers.zaakregister.context import (
    Config,
    Request,
    bevestiging,
    not_found,
    refused,
)
from registers.zaakregister.model import Document, Zaak, ZaakDocument
from registers.zaakregister.parse import DocumentGegevens
from registers.zaakregister.scope import prune
from registers.zaakregister.stuf import today

# What GeefZaakdocumentLezen-EDC-antwoord (ZDS 1.2) demands, whatever the scope.
_DEMANDED = answers.DOCUMENT_DEMANDED | {"inhoud"}


@dataclass
class Stored:
    """Blobs written for one request: ``new`` to delete if the transaction
    fails, ``replaced`` to delete once it has committed."""

    new: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)


def find(session: Session, identificatie: str | None) -> Document:
    """The document with this identificatie; StUF064 when there is none."""
    if identificatie:
        query = (
            sa.select(Document)
            .where(Document.identificatie == identificatie)
            .options(selectinload(Document.zaken).selectinload(ZaakDocument.zaak))
        )
        document = session.execute(query).scalar_one_or_none()
        if document is not None:
            return document
    raise not_found("document", identificatie)


# genereerDocumentIdentificatie ---------------------------------------------


def genereer_identificatie(
    session: Session, request: Request, config: Config
) -> etree._Element:
    return zaken.genereer(session, request, config, "document")


# voegZaakdocumentToe, maakZaakdocument --------------------------------------


def read_new(request: Request, blobs: BlobStore, stored: Stored) -> DocumentGegevens:
    """Parse the document of a kennisgeving and store its content.

    Runs before the transaction; the blob key goes into ``stored.new``.
    """
    objects = request.objects()
    gegevens = parse.document(objects[-1])
    if not gegevens.identificatie:
        raise refused(
            "Document zonder identificatie",
            f"{request.operation} vraagt een identificatie; vraag er een aan "
            "met genereerDocumentIdentificatie",
        )
    if gegevens.inhoud is None and request.operation == "voegZaakdocumentToe":
        raise refused(
            "Document zonder inhoud",
            "voegZaakdocumentToe vraagt de inhoud van het document (inhoud, "
            "base64); een document zonder inhoud maakt maakZaakdocument",
        )
    if gegevens.inhoud is not None:
        _store(gegevens, blobs, stored)
    return gegevens


def _store(gegevens: DocumentGegevens, blobs: BlobStore, stored: Stored) -> None:
    """Put the document's content in the blob store, unless it is there."""
    assert gegevens.inhoud is not None
    already = inhoud.stored(gegevens.inhoud)
    if already is not None:
        # Decoded while the request was parsed (registers.zaakregister.inhoud).
        key, size = already
        gegevens.inhoud.set(inhoud.TAKEN, key)
    else:
        key, size = blobs.write_base64(gegevens.inhoud.text or "")
        # The decoded text is not needed any more; the element would keep
        # the base64 alive as long as the request's tree.
        gegevens.inhoud.text = None
    stored.new.append(key)
    gegevens.fields["inhoud_sleutel"] = key
    gegevens.fields["inhoud_grootte"] = str(size)


def voeg_toe(
    session: Session, request: Request, config: Config, gegevens: DocumentGegevens
) -> etree._Element:
    """voegZaakdocumentToe and maakZaakdocument: a new document on zaken."""
    exists = sa.select(Document.id).where(
        Document.identificatie == gegevens.identificatie
    )
    if session.execute(exists).first() is not None:
        raise refused(
            "Document bestaat al",
            f"document '{gegevens.identificatie}' staat al in het zaakregister; "
            "een nieuwe versie gaat met updateZaakdocument",
        )
    if not gegevens.zaken:
        raise refused(
            "Document zonder zaak",
            f"{request.operation} vraagt een isRelevantVoor met de "
            "identificatie van de zaak",
        )
    assert gegevens.identificatie is not None
    document = Document(
        identificatie=gegevens.identificatie,
        bestandsnaam=gegevens.bestandsnaam,
        content_type=gegevens.content_type,
        aangemaakt_op=request.now,
        gewijzigd_op=request.now,
    )
    _set_fields(document, gegevens)
    for link in gegevens.zaken:
        zaak = session.execute(
            sa.select(Zaak).where(Zaak.identificatie == link.identificatie)
        ).scalar_one_or_none()
        if zaak is None:
            raise not_found("zaak", link.identificatie)
        # The relation is registered today unless the sender says otherwise.
        koppeling = ZaakDocument(
            zaak=zaak, document=document, registratiedatum=today(request.now)
        )
        for column, new in link.fields.items():
            if new is not None or column != "registratiedatum":
                setattr(koppeling, column, new)
        gebeurtenissen.record(
            session,
            request,
            "document-toegevoegd",
            zaak.identificatie,
            document.identificatie,
        )
    session.add(document)
    return bevestiging(request, config)


def _set_fields(document: Document, gegevens: DocumentGegevens) -> None:
    for column, new in gegevens.fields.items():
        if column == "inhoud_grootte":
            document.inhoud_grootte = int(new) if new else None
        else:
            setattr(document, column, new)


# geefZaakdocumentLezen ------------------------------------------------------


def lees(
    session: Session, request: Request, config: Config, blobs: BlobStore
) -> etree._Element:
    gelijk = request.element("gelijk")
    document = find(session, text(gelijk, "identificatie"))
    element = _with_inhoud(document, request, config, blobs)
    prune(element, path(request.body, "scope/object"), keep=_DEMANDED)
    return answers.la01(
        request.operation,
        "EDC",
        request.stuurgegevens,
        config.system,
        request.flavour,
        [element],
        now=request.now,
    )


def _with_inhoud(
    document: Document, request: Request, config: Config, blobs: BlobStore
) -> etree._Element:
    """The document with its content: in the tree, or as a placeholder the
    caller fills in after serialising (``request.later``)."""
    key = document.inhoud_sleutel

    def content() -> str:
        if not key:
            return ""
        if request.later is not None:
            return request.later.placeholder(key)
        return blobs.read_base64(key)

    return answers.document_object(
        document,
        content,
        link=config.document_link.format(identificatie=document.identificatie),
    )


# geefZaakdocumentBewerken, updateZaakdocument, cancelCheckout ---------------


def bewerken(
    session: Session, request: Request, config: Config, blobs: BlobStore
) -> etree._Element:
    """Check the document out: the answer carries its content and the
    checkedOutId that updateZaakdocument or cancelCheckout must give back."""
    vraag = request.element("edcLv01")
    document = find(session, text(vraag, "gelijk/identificatie"))
    if document.checkout_id is not None:
        raise refused(
            "Document is al uitgecheckt",
            f"document '{document.identificatie}' is uitgecheckt door "
            f"{document.checkout_door or 'onbekend'}; wacht op updateZaakdocument "
            "of cancelCheckout",
        )
    document.checkout_id = uuid.uuid4().hex
    document.checkout_door = request.zender
    document.gewijzigd_op = request.now
    element = _with_inhoud(document, request, config, blobs)
    return answers.du02_bewerken(
        element,
        document.checkout_id,
        request.stuurgegevens,
        config.system,
        request.flavour,
        now=request.now,
    )


def read_update(
    request: Request, blobs: BlobStore, stored: Stored
) -> tuple[DocumentGegevens | None, DocumentGegevens]:
    """The was and wordt of updateZaakdocument, the new content stored."""
    kennisgeving = request.element("edcLk02")
    objects = request.objects(kennisgeving)
    was = parse.document(objects[0]) if len(objects) > 1 else None
    wordt = parse.document(objects[-1])
    if wordt.inhoud is not None:
        _store(wordt, blobs, stored)
    return was, wordt


def update(
    session: Session,
    request: Request,
    config: Config,
    was: DocumentGegevens | None,
    wordt: DocumentGegevens,
    stored: Stored,
) -> etree._Element:
    """updateZaakdocument: a new version, checked in with its checkedOutId.

    A document that is not checked out may be updated without one (ZDS 1.2
    uses updateZaakdocument for metadata too).
    """
    document = find(
        session, wordt.identificatie or (was.identificatie if was else None)
    )
    _check_checkout(document, request)
    previous = was.fields if was else {}
    for column, new in list(wordt.fields.items()):
        if column in previous and previous[column] == new:
            del wordt.fields[column]
    if "inhoud_sleutel" in wordt.fields and document.inhoud_sleutel:
        stored.replaced.append(document.inhoud_sleutel)
    if wordt.inhoud is not None:
        document.bestandsnaam = wordt.bestandsnaam or document.bestandsnaam
        document.content_type = wordt.content_type or document.content_type
    _set_fields(document, wordt)
    document.checkout_id = None
    document.checkout_door = None
    document.gewijzigd_op = request.now
    for koppeling in document.zaken:
        gebeurtenissen.record(
            session,
            request,
            "document-gewijzigd",
            koppeling.zaak.identificatie,
            document.identificatie,
        )
    return answers.bv02(request.stuurgegevens, config.system)


def cancel_checkout(
    session: Session, request: Request, config: Config
) -> etree._Element:
    document = find(session, text(request.element("document"), "identificatie"))
    if document.checkout_id is None:
        raise refused(
            "Document is niet uitgecheckt",
            f"document '{document.identificatie}' is niet uitgecheckt",
        )
    _check_checkout(document, request)
    document.checkout_id = None
    document.checkout_door = None
    document.gewijzigd_op = request.now
    return answers.bv02(request.stuurgegevens, config.system)


def _check_checkout(document: Document, request: Request) -> None:
    given = request.parameter("checkedOutId")
    if document.checkout_id is None or given == document.checkout_id:
        return
    raise refused(
        "Document is uitgecheckt met een ander checkedOutId",
        f"document '{document.identificatie}' is uitgecheckt; geef het "
        "checkedOutId uit het antwoord op geefZaakdocumentBewerken mee"
        if not given
        else f"document '{document.identificatie}': checkedOutId '{given}' "
        "hoort niet bij de huidige checkout",
    )
