"""The real flows of ../shared/stuf/examples, replayed through a running broker.

Shared by the end-to-end tests that put the zaakregister behind a broker in
different ways: inside the broker (``test_zaakregister_e2e.py``) and as a
separate EMO process the broker reaches over SOAP
(``test_zaakregister_remote.py``). Each function sends real clients'
requests as they were sent, checks every answer against the official
schemas, and checks that what was stored comes back from the vragen after
it. Each expects a register of its own: the identificaties are the
examples' own.
"""

from __future__ import annotations

import base64
import re
import threading
from concurrent.futures import ThreadPoolExecutor

from lxml import etree

from esb.schemaset import SchemaRegistry
from tests.conftest import EXAMPLES
from tests.esb.conftest import (
    NS_SOAP11,
    Response,
    RunningBroker,
    assert_fault,
    request_stuurgegevens,
    soap_action_for,
)
from tests.registers.zaakregister import messages

NS = {
    "ZKN": "http://www.egem.nl/StUF/sector/zkn/0310",
    "StUF": "http://www.egem.nl/StUF/StUF0301",
    "BG": "http://www.egem.nl/StUF/sector/bg/0310",
}
CREATORS = 20


def answer_of(response: Response, schemas: SchemaRegistry) -> etree._Element:
    """The StUF answer in a 200 response, checked against the schemas."""
    assert response.status == 200, response.body[:2000]
    body = response.xml().find(f"{{{NS_SOAP11}}}Body")
    assert body is not None
    answer = body[0]
    assert schemas.validate(answer) == [], etree.tostring(answer)[:2000]
    return answer


def post(broker: RunningBroker, raw: bytes, action: str) -> Response:
    return broker.post(raw, f'"{action}"')


def post_message(broker: RunningBroker, raw: bytes) -> Response:
    body = etree.fromstring(raw).find(f"{{{NS_SOAP11}}}Body")
    assert body is not None
    qname = etree.QName(body[0])
    base = (
        messages.ZDS12
        if qname.namespace == "http://www.stufstandaarden.nl/koppelvlak/zds0120"
        else messages.ZKN11
    )
    return post(broker, raw, base + qname.localname)


def replay_gisvg_flow(broker: RunningBroker, schemas: SchemaRegistry) -> None:
    """GISVG's flow as sent: identificaties, creeerZaak, updateZaak and the
    vragen are answered by the register; its actualiseerZaakstatus for a zaak
    that does not exist gets the register's own Fo03 StUF064."""
    folder = EXAMPLES / "gisvg-flow"
    answers: dict[str, etree._Element] = {}
    for name in (
        "genereerZaakIdentificatie_Di02",
        "creeerZaak_Lk01",
        "genereerDocumentIdentificatie_Di02",
        "updateZaak_Lk01",
        "actualiseerZaakstatus_Lk01",
        "geefZaakdetails_Lv01",
        "geefLijstZaakdocumenten_Lv01",
    ):
        path = folder / f"{name}.request.xml"
        response = post(broker, path.read_bytes(), soap_action_for(path))
        if name == "actualiseerZaakstatus_Lk01":
            fault = assert_fault(
                response,
                "StUF064",
                official=schemas,
                request=request_stuurgegevens(path.read_bytes()),
                plek="client",
            )
            assert "1900147" in fault.details
            continue
        answers[name] = answer_of(response, schemas)

    assert etree.QName(answers["creeerZaak_Lk01"]).localname == "Bv03Bericht"
    details = answers["geefZaakdetails_Lv01"]
    zaak = "ZKN:antwoord/ZKN:object/"
    assert details.findtext(zaak + "ZKN:identificatie", None, NS) == "1900852"
    assert details.findtext(zaak + "ZKN:einddatum", None, NS) == "20210402"
    bsn = (
        zaak + "ZKN:heeftAlsInitiator/ZKN:gerelateerde/ZKN:natuurlijkPersoon/BG:inp.bsn"
    )
    assert details.findtext(bsn, None, NS) == "111111110"


def replay_zaak_with_status_and_document(
    broker: RunningBroker, schemas: SchemaRegistry
) -> None:
    """A zaak created in one message comes back, with its status history,
    its initiator and its document (84 kB, Haarlem's), from the vragen after
    it; the document's content is returned byte for byte."""
    haarlem = EXAMPLES / "haarlem"
    creeer = (haarlem / "creeerzaakRequest.xml").read_bytes()
    answer_of(post_message(broker, creeer.replace(b"0000027", b"0000001")), schemas)
    status = messages.status("2", "In behandeling", "20250302090000000")
    answer_of(
        post_message(
            broker, messages.actualiseer_zaakstatus("0392-2020-0000001", status)
        ),
        schemas,
    )
    voeg = (haarlem / "voegZaakdocumentToe.xml").read_bytes()
    answer_of(post_message(broker, voeg), schemas)

    details = answer_of(
        post_message(broker, messages.geef_zaakdetails("0392-2020-0000001")), schemas
    )
    zaak = "ZKN:antwoord/ZKN:object/"
    initiator = zaak + "ZKN:heeftAlsInitiator/ZKN:gerelateerde/ZKN:natuurlijkPersoon/"
    assert details.findtext(initiator + "BG:geslachtsnaam", None, NS) == "Mug"
    assert [
        e.text
        for e in details.iterfind(
            zaak + "ZKN:heeft/ZKN:gerelateerde/ZKN:omschrijving", NS
        )
    ] == ["In behandeling"]
    document = zaak + "ZKN:heeftRelevant/ZKN:gerelateerde/ZKN:identificatie"
    identificatie = details.findtext(document, None, NS)
    assert identificatie == "03922b716147-99e4-4b18-a7fa-f4dfac4746fe"

    lezen = answer_of(
        post_message(broker, messages.geef_zaakdocument_lezen(identificatie)), schemas
    )
    inhoud = lezen.findtext("ZKN:antwoord/ZKN:object/ZKN:inhoud", None, NS)
    sent = re.search(rb"<zkn:inhoud[^>]*>([^<]+)<", voeg)
    assert inhoud is not None and sent is not None
    assert base64.b64decode(inhoud) == base64.b64decode(sent[1])


def replay_regressions(broker: RunningBroker, schemas: SchemaRegistry) -> None:
    """The regression requests in order: identificaties, zaken (one with an
    anderZaakObject in GML), a document of 110 kB, a status an update gives
    a second time kept once, and an update of an unknown zaak refused with
    the register's Fo03 StUF064."""
    folder = EXAMPLES / "regressions"

    def send(name: str) -> Response:
        path = folder / name
        return post(broker, path.read_bytes(), soap_action_for(path))

    for issue in ("235", "329", "330", "332"):
        for step in ("genereerZaakIdentificatie_Di02", "creeerZaak_Lk01"):
            answer_of(send(f"Issue{issue}-{step}.request.xml"), schemas)
    answer_of(send("Issue329-genereerDocumentIdentificatie_Di02.request.xml"), schemas)
    answer_of(send("Issue329-voegZaakdocumentToe_Lk01.request.xml"), schemas)
    answer_of(send("Issue330-updateZaak_Lk01.request.xml"), schemas)

    lezen = answer_of(
        post_message(broker, messages.geef_zaakdocument_lezen("190055")), schemas
    )
    inhoud = lezen.findtext("ZKN:antwoord/ZKN:object/ZKN:inhoud", "", NS)
    content = base64.b64decode(inhoud)
    assert content.startswith(b"%PDF") and len(content) > 100_000

    status = answer_of(
        post_message(broker, messages.geef_zaakstatus("1900831", alleen_laatste=False)),
        schemas,
    )
    omschrijvingen = [
        e.text
        for e in status.iterfind(
            "ZKN:antwoord/ZKN:object/ZKN:heeft/ZKN:gerelateerde/ZKN:omschrijving", NS
        )
    ]
    assert omschrijvingen == ["Ontvangen"], "the same status given again is one"

    details = answer_of(
        post_message(broker, messages.geef_zaakdetails("190090")), schemas
    )
    lokatie = "ZKN:antwoord/ZKN:object/ZKN:anderZaakObject/ZKN:lokatie"
    assert len(details.findall(lokatie, NS)) == 1

    raw = (folder / "Issue332-updateZaak_Lk01.request.xml").read_bytes()
    assert_fault(
        send("Issue332-updateZaak_Lk01.request.xml"),
        "StUF064",
        official=schemas,
        request=request_stuurgegevens(raw),
        plek="client",
    )


def replay_register_fault(broker: RunningBroker, schemas: SchemaRegistry) -> None:
    """A second creeerZaak for the same zaak: the register's Fo03 (StUF058,
    plek client), with zender and ontvanger swapped, is the sender's answer."""
    first = messages.creeer_zaak("0392-2025-7000001")
    answer_of(post_message(broker, first), schemas)
    again = messages.creeer_zaak("0392-2025-7000001")
    fault = assert_fault(
        post_message(broker, again),
        "StUF058",
        official=schemas,
        request=request_stuurgegevens(again),
        plek="client",
    )
    assert "bestaat al" in fault.omschrijving


def create_concurrently(broker: RunningBroker, schemas: SchemaRegistry) -> None:
    """20 clients at once, each genereerZaakIdentificatie then creeerZaak
    through the broker: 20 different identificaties, 20 zaken."""
    start = threading.Barrier(CREATORS)

    def create(_: int) -> str:
        start.wait()
        du02 = answer_of(post_message(broker, messages.genereer("zaak")), schemas)
        identificatie = du02.findtext("{*}zaak/ZKN:identificatie", None, NS)
        assert identificatie
        answer_of(post_message(broker, messages.creeer_zaak(identificatie)), schemas)
        return identificatie

    with ThreadPoolExecutor(CREATORS) as pool:
        created = list(pool.map(create, range(CREATORS)))
    assert len(set(created)) == CREATORS
    for identificatie in created:
        answer_of(
            post_message(broker, messages.geef_zaakdetails(identificatie)), schemas
        )
