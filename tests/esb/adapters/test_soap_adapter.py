"""The soap adapter: services described by a WSDL.

Two kinds of WSDL: the one a legacy SOAP service made with spyne serves about
itself (fetched over HTTP), and the official ZDS WSDLs of the shared
distributions (read from files, with ``address`` pointing at the test
backoffice), which zeep can read only with EMO's patch for list types.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from twisted.internet import defer

from esb.adapters.base import DeliveryError
from esb.adapters.http import HttpClient
from esb.adapters.soap import SoapAdapter, WsdlPort, load_wsdl
from esb.errors import ConfigError
from tests.conftest import EXAMPLES, ZDS_12, ZDS_1102
from tests.esb.adapters.conftest import (
    BV03,
    KENNISGEVING,
    LA01,
    LEGACY_NS,
    NS_SOAP11,
    ZKN_ACTION,
    Backoffice,
    Behaviour,
    LegacySoap,
    ReactorThread,
    outbound,
    registreer_zaak,
)

ZDS_1102_MUTATIE = (
    ZDS_1102 / "zkn0310" / "zs-dms" / "zkn0310_ontvangAsynchroon_mutatie_zs-dms.wsdl"
)
ZDS_12_VRAAG = ZDS_12 / "zds0120" / "berichten" / "zds0120_beantwoordVraag_zs-dms.wsdl"
ZDS12_ACTION = "http://www.stufstandaarden.nl/koppelvlak/zds0120/"


def soap(settings: dict[str, Any], timeout: float = 10.0) -> SoapAdapter:
    return SoapAdapter.from_settings("legacy", settings, timeout)


def body_of(envelope: bytes) -> etree._Element:
    root = etree.fromstring(envelope)
    assert root.tag == f"{{{NS_SOAP11}}}Envelope"
    return root[-1][0]


# A service that describes itself ---------------------------------------------------


@pytest.fixture(scope="module")
def legacy(legacy_soap: LegacySoap) -> Iterator[SoapAdapter]:
    adapter = soap({"wsdl": legacy_soap.wsdl})
    yield adapter


def test_the_wsdl_is_read_once_when_the_adapter_is_built(
    reactor_thread: ReactorThread, legacy_soap: LegacySoap
) -> None:
    """Start-up or reload reads the WSDL; messages do not."""
    before = legacy_soap.wsdl_fetches
    adapter = soap({"wsdl": legacy_soap.wsdl})
    assert legacy_soap.wsdl_fetches == before + 1

    for number in range(3):
        reactor_thread.deliver(adapter, outbound(registreer_zaak(f"Z-{number}")))

    assert legacy_soap.wsdl_fetches == before + 1
    reactor_thread.close(adapter)


def test_the_body_element_is_the_operations_input(
    reactor_thread: ReactorThread, legacy: SoapAdapter, legacy_soap: LegacySoap
) -> None:
    """The operation is found by the body element; the service's response
    envelope is the answer."""
    delivered = reactor_thread.deliver(legacy, outbound(registreer_zaak("Z-100")))

    assert delivered.status == 200
    assert delivered.answer is not None
    result = body_of(delivered.answer)
    assert result.tag == f"{{{LEGACY_NS}}}registreerZaakResponse"
    assert result[0].text == "ontvangen Z-100"
    assert "Z-100" in legacy_soap.calls


def test_a_service_that_speaks_http_10_gets_a_connection_per_request(
    reactor_thread: ReactorThread, legacy: SoapAdapter
) -> None:
    """wsgiref, under this spyne service, answers in HTTP/1.0 and closes the
    connection; no message may fail on a connection kept open for reuse."""
    for number in range(4):
        delivered = reactor_thread.deliver(
            legacy, outbound(registreer_zaak(f"Z-2{number}"))
        )
        assert delivered.answer is not None
        assert body_of(delivered.answer)[0].text == f"ontvangen Z-2{number}"


def test_a_message_without_envelope_is_wrapped_in_one(
    reactor_thread: ReactorThread, legacy: SoapAdapter
) -> None:
    """A message that came in as bare XML (an http: or file: source) is put
    in an envelope of the port's SOAP version."""
    bare = etree.tostring(body_of(registreer_zaak("Z-101")))

    delivered = reactor_thread.deliver(legacy, outbound(bare))

    assert delivered.answer is not None
    assert body_of(delivered.answer)[0].text == "ontvangen Z-101"


@pytest.mark.parametrize(("plek", "retryable"), [("client", False), ("server", True)])
def test_a_fault_of_the_service_is_judged_by_its_plek(
    reactor_thread: ReactorThread, legacy: SoapAdapter, plek: str, retryable: bool
) -> None:
    """The service's SOAP Fault with a Fo03 inside: plek decides, and the
    fault is kept for the sender with status 500."""
    with pytest.raises(DeliveryError) as caught:
        reactor_thread.deliver(
            legacy, outbound(registreer_zaak(f"FOUT-{plek.upper()}"))
        )

    error = caught.value
    assert error.retryable is retryable
    assert error.status == 500
    assert error.answer is not None and b"Fo03Bericht" in error.answer
    assert f"plek {plek}" in error.reason


def test_a_body_no_operation_takes_is_final_and_not_sent(
    reactor_thread: ReactorThread, legacy: SoapAdapter, legacy_soap: LegacySoap
) -> None:
    """A zakLk01 to a service that has no operation for it: a retry cannot
    help, and nothing reaches the service."""
    calls = len(legacy_soap.calls)

    with pytest.raises(DeliveryError) as caught:
        reactor_thread.deliver(legacy, outbound(KENNISGEVING.read_bytes()))

    assert not caught.value.retryable
    assert "zakLk01" in caught.value.reason
    assert len(legacy_soap.calls) == calls


def test_a_message_that_is_not_xml_is_final(
    reactor_thread: ReactorThread, legacy: SoapAdapter
) -> None:
    with pytest.raises(DeliveryError) as caught:
        reactor_thread.deliver(legacy, outbound(b"<niet-af"))

    assert not caught.value.retryable


# The official ZDS WSDLs ----------------------------------------------------------


@pytest.fixture(scope="module")
def zds_mutatie() -> WsdlPort:
    """The ZDS 1.1.02 kennisgevingen WSDL, read once for this module."""
    return load_wsdl("zaaksysteem", str(ZDS_1102_MUTATIE))


def zds_adapter(
    port: WsdlPort, url: str, operation: str | None = None, timeout: float = 10.0
) -> SoapAdapter:
    """What from_settings builds with ``address: url``, without reading the
    WSDL again."""
    client = HttpClient("zaaksysteem", url, timeout=timeout)
    return SoapAdapter("zaaksysteem", client, port, operation=operation)


def test_the_official_zds_wsdls_are_read() -> None:
    """zeep follows every import of the official WSDLs (the GML list types
    included) and EMO keeps each operation's SOAPAction and input element."""
    port = load_wsdl("zaaksysteem", str(ZDS_1102_MUTATIE))

    creeer = port.operations["creeerZaak_Lk01"]
    assert creeer.soap_action == ZKN_ACTION + "creeerZaak_Lk01"
    assert creeer.input_element == "{http://www.egem.nl/StUF/sector/zkn/0310}zakLk01"
    assert port.soap_version == NS_SOAP11

    vraag = load_wsdl("zaaksysteem", str(ZDS_12_VRAAG))
    details = vraag.operations["geefZaakdetails_ZakLv01"]
    assert details.input_element == (
        "{http://www.stufstandaarden.nl/koppelvlak/zds0120}geefZaakdetails_ZakLv01"
    )


@pytest.mark.parametrize("operation", ["creeerZaak_Lk01", "updateZaak_Lk01"])
def test_the_soap_action_chooses_among_operations_that_take_the_same_element(
    reactor_thread: ReactorThread,
    backoffice: Backoffice,
    zds_mutatie: WsdlPort,
    operation: str,
) -> None:
    """ZDS 1.1: creeerZaak, updateZaak and actualiseerZaakstatus all take a
    zakLk01; the sender's SOAPAction says which is meant, and the WSDL's
    SOAPAction for it goes out with the body element in a fresh envelope."""
    url = backoffice.on("/zs", Behaviour(body=BV03.read_bytes()))
    adapter = soap({"wsdl": str(ZDS_1102_MUTATIE), "address": url})
    payload = KENNISGEVING.read_bytes()

    delivered = reactor_thread.deliver(
        adapter, outbound(payload, ZKN_ACTION + operation)
    )

    assert delivered.answer == BV03.read_bytes()
    [request] = backoffice.requests_to("/zs")
    assert request.headers["soapaction"] == f'"{ZKN_ACTION}{operation}"'
    sent = body_of(request.body)
    assert etree.tostring(sent, method="c14n", exclusive=True) == etree.tostring(
        body_of(payload), method="c14n", exclusive=True
    )
    reactor_thread.close(adapter)


def test_without_a_telling_soap_action_the_choice_is_refused(
    reactor_thread: ReactorThread, backoffice: Backoffice, zds_mutatie: WsdlPort
) -> None:
    """Guessing would send a creeerZaak as an updateZaak: final failure that
    tells the admin to set ``operation``."""
    url = backoffice.on("/zs", Behaviour(body=BV03.read_bytes()))
    adapter = zds_adapter(zds_mutatie, url)

    with pytest.raises(DeliveryError) as caught:
        reactor_thread.deliver(adapter, outbound(KENNISGEVING.read_bytes(), "urn:x"))

    assert not caught.value.retryable
    assert "set 'operation'" in caught.value.reason
    assert backoffice.requests_to("/zs") == []
    reactor_thread.close(adapter)


def test_a_configured_operation_is_always_used(
    reactor_thread: ReactorThread, backoffice: Backoffice, zds_mutatie: WsdlPort
) -> None:
    url = backoffice.on("/zs", Behaviour(body=BV03.read_bytes()))
    adapter = zds_adapter(zds_mutatie, url, operation="updateZaak_Lk01")

    reactor_thread.deliver(adapter, outbound(KENNISGEVING.read_bytes(), "urn:x"))

    assert backoffice.requests_to("/zs")[0].headers["soapaction"] == (
        f'"{ZKN_ACTION}updateZaak_Lk01"'
    )
    reactor_thread.close(adapter)


def test_a_zds_12_vraag_is_answered_through_the_official_wsdl(
    reactor_thread: ReactorThread, backoffice: Backoffice
) -> None:
    """A real ZDS 1.2 geefZaakdetails: the operation by its body element."""
    url = backoffice.on("/zs", Behaviour(body=LA01.read_bytes()))
    adapter = soap({"wsdl": str(ZDS_12_VRAAG), "address": url})
    payload = (EXAMPLES / "haarlem" / "geefZaakDetailsRequest.xml").read_bytes()

    delivered = reactor_thread.deliver(adapter, outbound(payload))

    assert delivered.answer == LA01.read_bytes()
    assert backoffice.requests_to("/zs")[0].headers["soapaction"] == (
        f'"{ZDS12_ACTION}geefZaakdetails_ZakLv01"'
    )
    reactor_thread.close(adapter)


def test_cancelling_aborts_the_request(
    reactor_thread: ReactorThread, backoffice: Backoffice, zds_mutatie: WsdlPort
) -> None:
    """The same cancellable HTTP client as the stuf adapter's."""
    url = backoffice.on("/hang", Behaviour(hang=True))
    adapter = zds_adapter(zds_mutatie, url, timeout=60)
    attempt = reactor_thread.start(
        adapter, outbound(KENNISGEVING.read_bytes(), ZKN_ACTION + "creeerZaak_Lk01")
    )
    assert backoffice.arrived.wait(10), "the request never arrived"

    reactor_thread.call(attempt.cancel)

    assert isinstance(reactor_thread.outcome(attempt), defer.CancelledError)
    assert backoffice.abandoned.wait(10), "the connection stayed open"
    reactor_thread.close(adapter)


def test_a_refused_connection_is_worth_a_retry(
    reactor_thread: ReactorThread, refused_url: str, zds_mutatie: WsdlPort
) -> None:
    adapter = zds_adapter(zds_mutatie, refused_url)

    with pytest.raises(DeliveryError) as caught:
        reactor_thread.deliver(
            adapter, outbound(KENNISGEVING.read_bytes(), ZKN_ACTION + "creeerZaak_Lk01")
        )

    assert caught.value.retryable
    reactor_thread.close(adapter)


# Settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({}, "needs a 'wsdl'"),
        ({"wsdl": "/nonexistent/service.wsdl"}, "cannot read the WSDL"),
        ({"wsdl": "LEGACY", "operation": "maakKoffie"}, "no operation 'maakKoffie'"),
        ({"wsdl": "LEGACY", "service": "Elders"}, "no service 'Elders'"),
        ({"wsdl": "LEGACY", "port": "Elders"}, "no SOAP port 'Elders'"),
        ({"wsdl": "LEGACY", "url": "http://x"}, "unknown soap setting 'url'"),
        ({"wsdl": "LEGACY", "address": "ftp://x"}, "not an http"),
    ],
)
def test_wrong_settings_are_refused_when_the_adapter_is_built(
    legacy_soap: LegacySoap, settings: dict[str, Any], complaint: str
) -> None:
    """At start-up or reload, naming what is wrong and what there is."""
    if settings.get("wsdl") == "LEGACY":
        settings = {**settings, "wsdl": legacy_soap.wsdl}

    with pytest.raises(ConfigError, match=complaint):
        soap(settings)


def test_a_wsdl_that_is_not_a_wsdl_is_refused(tmp_path: Path) -> None:
    wrong = tmp_path / "service.wsdl"
    wrong.write_text("<html>Not found</html>")

    with pytest.raises(ConfigError, match="describes no service; is it a WSDL"):
        soap({"wsdl": str(wrong)})


def test_a_wsdl_without_address_needs_one(
    tmp_path: Path, legacy_soap: LegacySoap
) -> None:
    """The official WSDLs say http://example.com; a WSDL without any
    soap:address cannot be used without ``address``."""
    import urllib.request

    text = urllib.request.urlopen(legacy_soap.wsdl).read()
    without = etree.fromstring(text)
    for address in list(without.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address")):
        port = address.getparent()
        assert port is not None
        port.remove(address)
    path = tmp_path / "legacy.wsdl"
    path.write_bytes(etree.tostring(without))

    with pytest.raises(ConfigError, match="set 'address'"):
        soap({"wsdl": str(path)})
