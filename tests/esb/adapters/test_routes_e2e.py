"""Legacy backoffices reached through routes, by a real broker process.

A plain StUF service (``type: stuf``) and a WSDL-described service (``type:
soap``, spyne, reached after an XSLT step turns the ZDS creeerZaak into its
own registreerZaak) answer or fault; the original sender sees the answer, or
the backoffice's own StUF fault.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from esb.message import NS_STUF
from tests.conftest import EXAMPLES, ZDS_12
from tests.esb.adapters.conftest import (
    LEGACY_NS,
    Backoffice,
    Behaviour,
    LegacySoap,
    foutbericht,
    soap_fault,
)
from tests.esb.conftest import NS_SOAP11, RunningBroker, start_broker

ZKN_ACTION = "http://www.egem.nl/StUF/sector/zkn/0310/"
ZDS_ACTION = "http://www.stufstandaarden.nl/koppelvlak/zds0120/"
DETAILS = EXAMPLES / "gisvg-flow" / "geefZaakdetails_Lv01.request.xml"
CREEER = EXAMPLES / "haarlem" / "creeerzaakRequest.xml"

STYLESHEET = f"""\
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:zkn="http://www.egem.nl/StUF/sector/zkn/0310" xmlns:z="{LEGACY_NS}">
  <xsl:template match="/">
    <z:registreerZaak>
      <z:identificatie><xsl:value-of select="//zkn:object/zkn:identificatie"/>
      </z:identificatie>
      <z:omschrijving><xsl:value-of select="//zkn:object/zkn:omschrijving"/>
      </z:omschrijving>
    </z:registreerZaak>
  </xsl:template>
</xsl:stylesheet>
"""

ROUTES = """\
version: 1
validation: {{default: report}}
routes:
  - id: vragen
    from: soap:/stuf/zds
    match: {{berichtcode: Lv01}}
    reply: zaaksysteem
  - id: nieuwe-zaken
    from: soap:/stuf/zds
    match: {{operation: creeerZaak}}
    steps:
      - transform: registreer.xsl
    reply: legacy
destinations:
  zaaksysteem:
    type: stuf
    url: "{stuf_url}"
    timeout: 5
    retry: {{attempts: 2, initial: 0.1}}
  legacy: {{type: soap, wsdl: "{wsdl}", timeout: 10, retry: {{attempts: 1}}}}
"""

LA01 = (EXAMPLES / "gisvg-flow" / "geefZaakdetails_Lv01.response.xml").read_bytes()


@pytest.fixture
def backoffice_broker(
    tmp_path: Path, backoffice: Backoffice, legacy_soap: LegacySoap
) -> Iterator[tuple[RunningBroker, Backoffice]]:
    (tmp_path / "registreer.xsl").write_text(STYLESHEET)
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        ROUTES.format(stuf_url=backoffice.url("/zds"), wsdl=legacy_soap.wsdl)
    )
    running = start_broker(tmp_path, schemas=(ZDS_12,), routes=str(routes))
    yield running, backoffice
    running.stop()


def _fault_code(body: bytes) -> tuple[str | None, str | None]:
    root = etree.fromstring(body)
    return (
        root.findtext(f".//{{{NS_STUF}}}code"),
        root.findtext(f".//{{{NS_STUF}}}plek"),
    )


def test_a_plain_stuf_service_answers_the_sender_through_a_route(
    backoffice_broker: tuple[RunningBroker, Backoffice],
) -> None:
    broker, backoffice = backoffice_broker
    backoffice.on("/zds", Behaviour(body=LA01))

    answer = broker.post(DETAILS.read_bytes(), f'"{ZKN_ACTION}geefZaakdetails_Lv01"')

    assert answer.status == 200, answer.body
    assert answer.body == LA01
    [request] = backoffice.requests_to("/zds")
    assert request.body == DETAILS.read_bytes()
    assert "geefZaakdetails_Lv01" in request.headers.get("soapaction", "")


def test_the_stuf_services_client_fault_reaches_the_sender_unchanged(
    backoffice_broker: tuple[RunningBroker, Backoffice],
) -> None:
    broker, backoffice = backoffice_broker
    fault = soap_fault("Client", "zaak onbekend", foutbericht("client", "StUF064"))
    backoffice.on("/zds", Behaviour(status=500, body=fault))

    answer = broker.post(DETAILS.read_bytes(), f'"{ZKN_ACTION}geefZaakdetails_Lv01"')

    assert answer.status == 500
    assert _fault_code(answer.body) == ("StUF064", "client")
    assert len(backoffice.requests_to("/zds")) == 1, "a client fault is not retried"


def test_a_reply_destination_is_tried_again_while_the_sender_waits(
    backoffice_broker: tuple[RunningBroker, Backoffice],
) -> None:
    """The service is unavailable once: the second attempt, made within the
    destination's time-out, gives the sender its answer."""
    broker, backoffice = backoffice_broker
    backoffice.on("/zds", Behaviour(body=LA01, unavailable_first=1))

    answer = broker.post(DETAILS.read_bytes(), f'"{ZKN_ACTION}geefZaakdetails_Lv01"')

    assert answer.status == 200, answer.body
    assert answer.body == LA01
    assert len(backoffice.requests_to("/zds")) == 2


def test_a_reply_destination_that_stays_away_gives_the_sender_a_server_fault(
    backoffice_broker: tuple[RunningBroker, Backoffice],
) -> None:
    """Unavailable at every attempt the retry policy allows (2): a StUF058
    with plek server, worth sending again later; and the same fault again
    for a repeat of the request."""
    broker, backoffice = backoffice_broker
    backoffice.on("/zds", Behaviour(body=LA01, unavailable_first=10))

    answer = broker.post(DETAILS.read_bytes(), f'"{ZKN_ACTION}geefZaakdetails_Lv01"')
    again = broker.post(DETAILS.read_bytes(), f'"{ZKN_ACTION}geefZaakdetails_Lv01"')

    assert answer.status == 500
    assert _fault_code(answer.body) == ("StUF058", "server")
    assert len(backoffice.requests_to("/zds")) == 2
    assert again.body == answer.body


def test_a_wsdl_described_service_takes_the_transformed_message(
    backoffice_broker: tuple[RunningBroker, Backoffice], legacy_soap: LegacySoap
) -> None:
    broker, _ = backoffice_broker

    answer = broker.post(CREEER.read_bytes(), f'"{ZDS_ACTION}creeerZaak_ZakLk01"')

    assert answer.status == 200, answer.body
    root = etree.fromstring(answer.body)
    assert root.find(f"{{{NS_SOAP11}}}Body") is not None
    assert b"ontvangen 0392-2020-0000027" in answer.body
    assert "0392-2020-0000027" in legacy_soap.calls


def test_the_wsdl_services_fault_reaches_the_sender_as_a_stuf_fault(
    backoffice_broker: tuple[RunningBroker, Backoffice], legacy_soap: LegacySoap
) -> None:
    broker, _ = backoffice_broker
    raw = CREEER.read_bytes().replace(b"0392-2020-0000027", b"FOUT-CLIENT")

    answer = broker.post(raw, f'"{ZDS_ACTION}creeerZaak_ZakLk01"')

    assert answer.status == 500
    assert _fault_code(answer.body) == ("StUF058", "client")
