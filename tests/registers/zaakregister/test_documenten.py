"""Documents: adding, reading, listing, and the checkout cycle of ZDS 1.2."""

from __future__ import annotations

import base64
from pathlib import Path

from lxml import etree

from registers.zaakregister import Zaakregister
from tests.registers.zaakregister import messages
from tests.registers.zaakregister.conftest import NS, Client, one, texts

ZAAK = "0392-2025-0000001"
DOC = "0392-D2025-0000001"
OBJECT = "ZKN:antwoord/ZKN:object/"
CONTENT = b"%PDF-1.4 " + bytes(range(256)) * 40


def blobs(register: Zaakregister) -> list[Path]:
    return sorted(p for p in register.config.documents.rglob("*") if p.is_file())


def add_document(client: Client) -> None:
    client.send(messages.creeer_zaak(ZAAK))
    client.send(messages.voeg_zaakdocument_toe(DOC, ZAAK, CONTENT))


def test_voeg_zaakdocument_toe_stores_the_content(
    client: Client, register: Zaakregister
) -> None:
    """The base64 inhoud is decoded into one file with exactly the bytes sent,
    and the Bv03 confirms it."""
    client.send(messages.creeer_zaak(ZAAK))
    bv03 = client.send(messages.voeg_zaakdocument_toe(DOC, ZAAK, CONTENT))
    assert etree.QName(bv03).localname == "Bv03Bericht"
    stored = blobs(register)
    assert len(stored) == 1
    assert stored[0].read_bytes() == CONTENT


def test_geef_zaakdocument_lezen_returns_the_content(client: Client) -> None:
    """geefZaakdocumentLezen (1.2) and the generic edcLv01 (1.1) return the
    document with its content, file name and the zaak it belongs to."""
    add_document(client)
    for zds12, name in ((True, "geefZaakdocumentLezen_EdcLa01"), (False, "edcLa01")):
        answer = client.send(messages.geef_zaakdocument_lezen(DOC, zds12=zds12))
        assert etree.QName(answer).localname == name
        assert base64.b64decode(one(answer, OBJECT + "ZKN:inhoud")) == CONTENT
        inhoud = answer.find(OBJECT + "ZKN:inhoud", NS)
        assert inhoud is not None
        assert inhoud.get(f"{{{NS['StUF']}}}bestandsnaam") == "brief.pdf"
        zaak = OBJECT + "ZKN:isRelevantVoor/ZKN:gerelateerde/ZKN:identificatie"
        assert one(answer, zaak) == ZAAK


def test_geef_lijst_zaakdocumenten(client: Client) -> None:
    """The zaak's documents are listed with their metadata, without content,
    the relation registered today."""
    add_document(client)
    answer = client.send(messages.geef_lijst_zaakdocumenten(ZAAK))
    relevant = OBJECT + "ZKN:heeftRelevant/"
    assert one(answer, relevant + "ZKN:gerelateerde/ZKN:identificatie") == DOC
    assert one(answer, relevant + "ZKN:gerelateerde/ZKN:titel") == (
        "Ontvangstbevestiging"
    )
    assert one(answer, relevant + "ZKN:registratiedatum") == "20250301"
    assert texts(answer, ".//ZKN:inhoud") == []


def test_geef_lijst_zaakdocumenten_of_a_zaak_without_documents(
    client: Client,
) -> None:
    """A zaak without documents gets an empty heeftRelevant (ZDS 1.2 demands
    one)."""
    client.send(messages.creeer_zaak(ZAAK))
    answer = client.send(messages.geef_lijst_zaakdocumenten(ZAAK))
    relevant = answer.find(OBJECT + "ZKN:heeftRelevant", NS)
    assert relevant is not None and len(relevant) == 0


def test_document_for_an_unknown_zaak_is_refused_and_not_kept(
    client: Client, register: Zaakregister
) -> None:
    """StUF064 for the zaak, and the content already written is removed."""
    fault = client.fault(messages.voeg_zaakdocument_toe(DOC, ZAAK, CONTENT))
    assert fault.code == "StUF064"
    assert blobs(register) == []


def test_document_with_invalid_base64_is_refused(
    client: Client, register: Zaakregister
) -> None:
    """Content that is not base64 is a client fault, and nothing is kept."""
    client.send(messages.creeer_zaak(ZAAK))
    raw = messages.voeg_zaakdocument_toe(DOC, ZAAK, b"x")
    start = raw.index(b'contentType="application/pdf">') + 30
    broken = raw[:start] + b"!!!not*base64" + raw[raw.index(b"</ZKN:inhoud>") :]
    fault = client.fault(broken)
    assert (fault.code, fault.plek) == ("StUF055", "client")
    assert blobs(register) == []


def test_document_added_twice_is_refused(
    client: Client, register: Zaakregister
) -> None:
    """The second voegZaakdocumentToe with the same identificatie is refused
    and its content not kept."""
    add_document(client)
    fault = client.fault(messages.voeg_zaakdocument_toe(DOC, ZAAK, b"other"))
    assert (fault.code, fault.plek) == ("StUF058", "client")
    assert len(blobs(register)) == 1


def test_unknown_document_is_object_niet_gevonden(client: Client) -> None:
    fault = client.fault(messages.geef_zaakdocument_lezen("0392-D2025-0000404"))
    assert fault.code == "StUF064"


def test_checkout_update_cycle(client: Client, register: Zaakregister) -> None:
    """geefZaakdocumentBewerken checks out (Du02 with checkedOutId and the
    content); updateZaakdocument with that id checks in a new version (Bv02):
    new title, new content, the old content's file removed."""
    add_document(client)
    du02 = client.send(messages.geef_zaakdocument_bewerken(DOC))
    assert etree.QName(du02).localname == "geefZaakdocumentBewerken_Du02"
    checked_out = one(du02, "ZDS:parameters/ZDS:checkedOutId")
    antwoord = "ZDS:edcLa01/ZKN:antwoord/ZKN:object/"
    assert base64.b64decode(one(du02, antwoord + "ZKN:inhoud")) == CONTENT
    assert one(du02, antwoord + "ZKN:link").endswith(DOC)

    bv02 = client.send(
        messages.update_zaakdocument(
            DOC,
            checked_out,
            oude_titel="Ontvangstbevestiging",
            nieuwe_titel="Ontvangstbevestiging v2",
            content=b"version 2",
        )
    )
    assert etree.QName(bv02).localname == "Bv02Bericht"
    [stored] = blobs(register)
    assert stored.read_bytes() == b"version 2"

    lezen = client.send(messages.geef_zaakdocument_lezen(DOC))
    assert one(lezen, OBJECT + "ZKN:titel") == "Ontvangstbevestiging v2"
    assert base64.b64decode(one(lezen, OBJECT + "ZKN:inhoud")) == b"version 2"


def test_a_checked_out_document_cannot_be_checked_out_again(client: Client) -> None:
    """A second geefZaakdocumentBewerken is refused, naming who holds it."""
    add_document(client)
    client.send(messages.geef_zaakdocument_bewerken(DOC, zender="EDITOR1"))
    fault = client.fault(messages.geef_zaakdocument_bewerken(DOC, zender="EDITOR2"))
    assert (fault.code, fault.plek) == ("StUF058", "client")
    assert "EDITOR1" in (fault.details or "")


def test_update_with_the_wrong_checked_out_id_is_refused(
    client: Client, register: Zaakregister
) -> None:
    """updateZaakdocument without the checkout's id changes nothing and
    keeps no content."""
    add_document(client)
    client.send(messages.geef_zaakdocument_bewerken(DOC))
    fault = client.fault(
        messages.update_zaakdocument(
            DOC,
            "not-the-id",
            oude_titel="Ontvangstbevestiging",
            nieuwe_titel="Kaper",
            content=b"hijacked",
        )
    )
    assert (fault.code, fault.plek) == ("StUF058", "client")
    [stored] = blobs(register)
    assert stored.read_bytes() == CONTENT


def test_cancel_checkout_releases_the_document(client: Client) -> None:
    """cancelCheckout with the checkout's id (Bv02) lets another check it out."""
    add_document(client)
    du02 = client.send(messages.geef_zaakdocument_bewerken(DOC))
    checked_out = one(du02, "ZDS:parameters/ZDS:checkedOutId")
    bv02 = client.send(messages.cancel_checkout(DOC, checked_out))
    assert etree.QName(bv02).localname == "Bv02Bericht"
    client.send(messages.geef_zaakdocument_bewerken(DOC))


def test_cancel_checkout_of_a_document_not_checked_out_is_refused(
    client: Client,
) -> None:
    add_document(client)
    fault = client.fault(messages.cancel_checkout(DOC, "whatever"))
    assert (fault.code, fault.plek) == ("StUF058", "client")


def test_maak_zaakdocument_makes_a_document_without_content(client: Client) -> None:
    """maakZaakdocument registers the document; it can be checked out and
    given its content with updateZaakdocument."""
    client.send(messages.creeer_zaak(ZAAK))
    client.send(messages.maak_zaakdocument(DOC, ZAAK))
    du02 = client.send(messages.geef_zaakdocument_bewerken(DOC))
    checked_out = one(du02, "ZDS:parameters/ZDS:checkedOutId")
    client.send(
        messages.update_zaakdocument(
            DOC,
            checked_out,
            oude_titel="Concept besluit",
            nieuwe_titel="Besluit",
            content=b"besluit",
        )
    )
    lezen = client.send(messages.geef_zaakdocument_lezen(DOC))
    assert base64.b64decode(one(lezen, OBJECT + "ZKN:inhoud")) == b"besluit"


def test_checkout_cycle_in_zds_11(client: Client) -> None:
    """The same cycle in ZDS 1.1's ZKN-namespace vrije berichten: the answer is
    geefZaakdocumentbewerken_Du02 and the checkedOutId works the same."""
    add_document(client)
    du02 = client.send(messages.as_zds11(messages.geef_zaakdocument_bewerken(DOC)))
    assert etree.QName(du02).localname == "geefZaakdocumentbewerken_Du02"
    assert etree.QName(du02).namespace == NS["ZKN"]
    checked_out = one(du02, "ZKN:parameters/ZKN:checkedOutId")
    bv02 = client.send(messages.as_zds11(messages.cancel_checkout(DOC, checked_out)))
    assert etree.QName(bv02).localname == "Bv02Bericht"
    client.send(
        messages.as_zds11(
            messages.update_zaakdocument(
                DOC,
                None,
                oude_titel="Ontvangstbevestiging",
                nieuwe_titel="Zonder checkout",
                content=b"v3",
            )
        )
    )
