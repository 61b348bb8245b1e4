"""The real flows of ../shared/stuf/examples, replayed against the register.

The requests are fixed files: the gisvg flow's genereerZaakIdentificatie
returns an identificatie its creeerZaak does not use, its
actualiseerZaakstatus names a zaak (1900147) the flow never created, and the
haarlem requests ask for zaak 0392-2020-0000001 while creeerZaak makes
0392-2020-0000027. Replayed as they are, those steps get StUF064; each flow
is also replayed with the zaak they refer to created first.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

from lxml import etree

from registers.zaakregister import Zaakregister
from tests.conftest import EXAMPLES
from tests.registers.zaakregister import messages
from tests.registers.zaakregister.conftest import NS, Client, example, one, texts

GISVG = "gisvg-flow/"
HAARLEM = "haarlem/"


def referentienummer(raw: bytes) -> str:
    found = re.search(rb"referentienummer>([^<]+)<", raw)
    assert found is not None
    return found[1].decode()


def test_gisvg_flow_as_sent(client: Client) -> None:
    """The GISVG flow, file by file: identificaties, the zaak, the update and
    the vragen are answered; the status for the unknown zaak 1900147 is
    refused with StUF064."""
    gzi = client.example(GISVG + "genereerZaakIdentificatie_Di02.request.xml")
    assert etree.QName(gzi).localname == "genereerZaakIdentificatie_Du02"
    assert one(gzi, "ZKN:zaak/ZKN:identificatie") == "0392-2025-0000001"

    raw, action = example(GISVG + "creeerZaak_Lk01.request.xml")
    bv03 = client.send(raw, action)
    assert etree.QName(bv03).localname == "Bv03Bericht"
    assert one(bv03, "StUF:stuurgegevens/StUF:crossRefnummer") == referentienummer(raw)
    assert one(bv03, "StUF:stuurgegevens/StUF:zender/StUF:applicatie") == "ZDS"
    assert one(bv03, "StUF:stuurgegevens/StUF:ontvanger/StUF:applicatie") == "GISVG"

    gdi = client.example(GISVG + "genereerDocumentIdentificatie_Di02.request.xml")
    assert one(gdi, "ZKN:document/ZKN:identificatie") == "0392-D2025-0000001"

    client.example(GISVG + "updateZaak_Lk01.request.xml")

    fault = client.fault(*example(GISVG + "actualiseerZaakstatus_Lk01.request.xml"))
    assert (fault.code, fault.plek) == ("StUF064", "client")
    assert "1900147" in (fault.details or "")

    for name in ("geefZaakdetails_Lv01", "geefZaakdetails_Lv01__2_"):
        details = client.example(GISVG + name + ".request.xml")
        assert etree.QName(details).localname == "zakLa01"
        zaak = "ZKN:antwoord/ZKN:object/"
        assert one(details, zaak + "ZKN:identificatie") == "1900852"
        assert one(details, zaak + "ZKN:einddatum") == "20210402", "the update"
        assert one(details, zaak + "ZKN:isVan/ZKN:gerelateerde/ZKN:code") == "B1210"
        initiator = zaak + "ZKN:heeftAlsInitiator/ZKN:gerelateerde/"
        assert one(details, initiator + "ZKN:natuurlijkPersoon/BG:inp.bsn") == (
            "111111110"
        )
        # The scope asks no statuses and no documents.
        assert texts(details, zaak + "ZKN:heeft") == []

    lijst = client.example(GISVG + "geefLijstZaakdocumenten_Lv01.request.xml")
    assert one(lijst, "ZKN:antwoord/ZKN:object/ZKN:identificatie") == "1900852"
    assert texts(lijst, "ZKN:antwoord/ZKN:object/ZKN:heeftRelevant") == []


def test_gisvg_update_changes_only_what_differs(client: Client) -> None:
    """GISVG's update repeats an empty toelichting and a resultaat in both was
    and wordt: they change nothing; only einddatum, new in wordt, is set."""
    client.example(GISVG + "creeerZaak_Lk01.request.xml")
    client.example(GISVG + "updateZaak_Lk01.request.xml")

    details = client.send(messages.geef_zaakdetails("1900852"))
    zaak = "ZKN:antwoord/ZKN:object/"
    assert one(details, zaak + "ZKN:toelichting") == "Reguliere omgevingsvergunning"
    assert texts(details, zaak + "ZKN:resultaat") == []
    assert one(details, zaak + "ZKN:einddatum") == "20210402"
    # The empty initiator relation in both was and wordt removes nobody.
    assert len(texts(details, zaak + "ZKN:heeftAlsInitiator")) == 1


def test_gisvg_status_on_the_zaak_it_names(client: Client) -> None:
    """actualiseerZaakstatus (ZDS 1.1: one object, mutatiesoort T) adds the
    status to zaak 1900147 once it exists: geefZaakstatus gives it as the
    current status, geefZaakdetails the history newest first."""
    raw, action = example(GISVG + "creeerZaak_Lk01.request.xml")
    client.send(raw.replace(b"1900852", b"1900147"), action)
    client.example(GISVG + "actualiseerZaakstatus_Lk01.request.xml")

    answer = client.send(messages.geef_zaakstatus("1900147", alleen_laatste=True))
    assert etree.QName(answer).localname == "geefZaakstatus_ZakLa01"
    heeft = "ZKN:antwoord/ZKN:object/ZKN:heeft/"
    assert texts(answer, heeft + "ZKN:gerelateerde/ZKN:omschrijving") == ["Afgehandeld"]
    assert texts(answer, heeft + "ZKN:indicatieLaatsteStatus") == ["J"]

    details = client.send(messages.geef_zaakdetails("1900147"))
    zaak = "ZKN:antwoord/ZKN:object/"
    assert one(details, zaak + "ZKN:resultaat/ZKN:omschrijving") == "Toegekend"
    assert texts(details, zaak + "ZKN:heeft/ZKN:datumStatusGezet") == [
        "20231207",
        "20230110000000000",
    ]
    assert texts(details, zaak + "ZKN:heeft/ZKN:indicatieLaatsteStatus") == [
        "J",
        "N",
    ]


def test_haarlem_requests_as_sent(client: Client, register: Zaakregister) -> None:
    """Haarlem's creeerZaak is confirmed; its vragen and its document name a
    zaak that does not exist and get StUF064, and the refused document's
    content is not kept."""
    bv03 = client.example(HAARLEM + "creeerzaakRequest.xml")
    assert etree.QName(bv03).localname == "Bv03Bericht"

    for name in (
        "geefZaakDetailsRequest.xml",
        "geefLijstZaakdocumenten.xml",
        "voegZaakdocumentToe.xml",
    ):
        fault = client.fault(*example(HAARLEM + name))
        assert fault.code == "StUF064", (name, fault)
    assert _blobs(register.config.documents) == []


def test_haarlem_flow_on_the_zaak_it_names(client: Client) -> None:
    """With zaak 0392-2020-0000001 created, Haarlem's document is added, listed
    and read back byte for byte, and geefZaakdetails (scope alles) returns
    the zaak with its initiator and document."""
    raw, action = example(HAARLEM + "creeerzaakRequest.xml")
    client.send(raw.replace(b"0392-2020-0000027", b"0392-2020-0000001"), action)
    client.example(HAARLEM + "voegZaakdocumentToe.xml")

    lijst = client.example(HAARLEM + "geefLijstZaakdocumenten.xml")
    assert etree.QName(lijst).localname == "geefLijstZaakdocumenten_ZakLa01"
    document = "ZKN:antwoord/ZKN:object/ZKN:heeftRelevant/ZKN:gerelateerde/"
    identificatie = "03922b716147-99e4-4b18-a7fa-f4dfac4746fe"
    assert one(lijst, document + "ZKN:identificatie") == identificatie
    assert one(lijst, document + "ZKN:titel") == "Test"

    raw, action = example(HAARLEM + "geefZaakDetailsRequest.xml")
    details = client.send(raw.replace(b"0392-2020-000001", b"0392-2020-0000001"))
    zaak = "ZKN:antwoord/ZKN:object/"
    assert one(details, zaak + "ZKN:omschrijving") == "Test 4"
    initiator = zaak + "ZKN:heeftAlsInitiator/ZKN:gerelateerde/ZKN:natuurlijkPersoon/"
    assert one(details, initiator + "BG:geslachtsnaam") == "Mug"
    assert one(details, zaak + "ZKN:heeftRelevant/ZKN:gerelateerde/ZKN:titel") == (
        "Test"
    )

    lezen = client.send(messages.geef_zaakdocument_lezen(identificatie))
    sent = (EXAMPLES / HAARLEM / "voegZaakdocumentToe.xml").read_text()
    found = re.search(r"<zkn:inhoud[^>]*>([^<]+)<", sent)
    assert found is not None
    inhoud = one(lezen, "ZKN:antwoord/ZKN:object/ZKN:inhoud")
    assert base64.b64decode(inhoud) == base64.b64decode(found[1])


def test_regression_flows(client: Client, register: Zaakregister) -> None:
    """The regression requests in order: identificaties, zaken (one with an
    anderZaakObject in GML), a document of 110 kB, a status added by update
    only once, and an update of an unknown zaak refused with StUF064."""
    base = "regressions/Issue"
    for issue in ("235", "329", "330", "332"):
        client.example(f"{base}{issue}-genereerZaakIdentificatie_Di02.request.xml")
        client.example(f"{base}{issue}-creeerZaak_Lk01.request.xml")

    client.example(base + "329-genereerDocumentIdentificatie_Di02.request.xml")
    client.example(base + "329-voegZaakdocumentToe_Lk01.request.xml")
    lezen = client.send(messages.geef_zaakdocument_lezen("190055"))
    content = base64.b64decode(one(lezen, "ZKN:antwoord/ZKN:object/ZKN:inhoud"))
    assert content.startswith(b"%PDF") and len(content) > 100_000

    client.example(base + "330-updateZaak_Lk01.request.xml")
    status = client.send(messages.geef_zaakstatus("1900831", alleen_laatste=False))
    omschrijvingen = texts(
        status, "ZKN:antwoord/ZKN:object/ZKN:heeft/ZKN:gerelateerde/ZKN:omschrijving"
    )
    assert omschrijvingen == ["Ontvangen"], "the same status given again is one"

    details = client.send(messages.geef_zaakdetails("190090"))
    lokatie = "ZKN:antwoord/ZKN:object/ZKN:anderZaakObject/ZKN:lokatie"
    assert len(details.findall(lokatie, NS)) == 1

    fault = client.fault(*example(base + "332-updateZaak_Lk01.request.xml"))
    assert (fault.code, fault.plek) == ("StUF064", "client")


def _blobs(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]
