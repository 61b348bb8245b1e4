"""The stuf adapter against a real legacy backoffice over HTTP.

The backoffice (tests/esb/adapters/conftest.py) is told per path what to do:
answer with a real La01 or Bv03, fault with a StUF foutbericht, answer 4xx or
5xx, or hang. What matters is what the delivery engine and the dispatcher get
back: a Delivered with the destination's answer, or a DeliveryError saying
whether a retry can help and keeping the destination's fault for the sender.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from twisted.internet import defer, reactor

from esb.adapters import connections
from esb.adapters.base import DeliveryError
from esb.adapters.http import read_fault
from esb.adapters.stuf import StufAdapter, charset_of
from esb.errors import ConfigError
from tests.esb.adapters.conftest import (
    BV03,
    FO03_SERVER,
    KENNISGEVING,
    LA01,
    VRAAG,
    ZKN_ACTION,
    Backoffice,
    Behaviour,
    ReactorThread,
    foutbericht,
    outbound,
    soap_fault,
)

GEEF_ZAAKDETAILS = ZKN_ACTION + "geefZaakdetails_Lv01"
CREEER_ZAAK = ZKN_ACTION + "creeerZaak_Lk01"


def stuf(url: str, timeout: float = 10.0, **settings: Any) -> StufAdapter:
    return StufAdapter.from_settings("legacy", {"url": url, **settings}, timeout)


def failure_of(
    reactor_thread: ReactorThread, adapter: StufAdapter, message: Any
) -> Any:
    with pytest.raises(DeliveryError) as caught:
        reactor_thread.deliver(adapter, message)
    return caught.value


# Answers ------------------------------------------------------------------------


def test_a_vraag_goes_out_unchanged_and_its_la01_comes_back(
    reactor_thread: ReactorThread, backoffice: Backoffice
) -> None:
    """The original envelope, byte for byte, with the sender's SOAPAction
    (quoted, SOAP 1.1 section 6.1.1) and text/xml; the La01 is the answer."""
    url = backoffice.on("/zds", Behaviour(body=LA01.read_bytes()))
    adapter = stuf(url)
    payload = VRAAG.read_bytes()

    delivered = reactor_thread.deliver(adapter, outbound(payload, GEEF_ZAAKDETAILS))

    assert delivered.answer == LA01.read_bytes()
    assert delivered.status == 200
    assert delivered.content_type == "text/xml; charset=utf-8"
    [request] = backoffice.requests_to("/zds")
    assert request.body == payload
    assert request.headers["soapaction"] == f'"{GEEF_ZAAKDETAILS}"'
    assert request.headers["content-type"] == "text/xml; charset=utf-8"
    assert request.headers["x-emo-message-id"] == "msg-1"
    reactor_thread.close(adapter)


def test_a_kennisgeving_gets_the_services_bv03(
    reactor_thread: ReactorThread, backoffice: Backoffice
) -> None:
    """A Bv03 from the service is the answer the sender gets."""
    url = backoffice.on("/zds", Behaviour(body=BV03.read_bytes()))
    adapter = stuf(url)

    delivered = reactor_thread.deliver(
        adapter, outbound(KENNISGEVING.read_bytes(), CREEER_ZAAK)
    )

    assert delivered.answer == BV03.read_bytes()
    reactor_thread.close(adapter)


def test_a_configured_soap_action_replaces_the_senders(
    reactor_thread: ReactorThread, backoffice: Backoffice
) -> None:
    """``soap_action`` in the routes file wins over the sender's SOAPAction."""
    url = backoffice.on("/zds", Behaviour(body=BV03.read_bytes()))
    adapter = stuf(url, soap_action="urn:legacy:ontvang")

    reactor_thread.deliver(adapter, outbound(KENNISGEVING.read_bytes(), CREEER_ZAAK))

    assert backoffice.requests_to("/zds")[0].headers["soapaction"] == (
        '"urn:legacy:ontvang"'
    )
    reactor_thread.close(adapter)


def test_without_any_soap_action_an_empty_one_is_sent(
    reactor_thread: ReactorThread, backoffice: Backoffice
) -> None:
    """SOAP 1.1 requires the header; "" says the URL is the intent."""
    url = backoffice.on("/zds", Behaviour(body=BV03.read_bytes()))
    adapter = stuf(url)

    reactor_thread.deliver(adapter, outbound(KENNISGEVING.read_bytes()))

    assert backoffice.requests_to("/zds")[0].headers["soapaction"] == '""'
    reactor_thread.close(adapter)


def test_a_latin_1_message_is_labelled_latin_1(
    reactor_thread: ReactorThread, backoffice: Backoffice
) -> None:
    """The bytes go out as the sender wrote them, so the Content-Type names
    the encoding of their XML declaration."""
    payload = (
        b'<?xml version="1.0" encoding="ISO-8859-1"?>\n'
        + KENNISGEVING.read_bytes().replace(
            b"Precies", "Pr\u00e9cies".encode("latin-1")
        )
    )
    url = backoffice.on("/zds", Behaviour(body=BV03.read_bytes()))
    adapter = stuf(url)

    reactor_thread.deliver(adapter, outbound(payload, CREEER_ZAAK))

    [request] = backoffice.requests_to("/zds")
    assert request.headers["content-type"] == "text/xml; charset=iso-8859-1"
    assert request.body == payload
    reactor_thread.close(adapter)


@pytest.mark.parametrize(
    ("payload", "charset"),
    [
        (b"<a/>", "utf-8"),
        (b"<?xml version='1.0'?><a/>", "utf-8"),
        (b'<?xml version="1.0" encoding="UTF-8"?><a/>', "utf-8"),
        (
            b"\xef\xbb\xbf<?xml version='1.0' encoding='windows-1252'?><a/>",
            "windows-1252",
        ),
    ],
)
def test_the_charset_is_the_one_the_xml_declaration_names(
    payload: bytes, charset: str
) -> None:
    """No declaration or no encoding in it means UTF-8 (XML 1.0 section 4.3.3)."""
    assert charset_of(payload) == charset


def test_an_empty_202_is_delivered_without_answer(
    reactor_thread: ReactorThread, backoffice: Backoffice
) -> None:
    """A one-way service that answers 202 with nothing took the message."""
    url = backoffice.on("/async", Behaviour(status=202))
    adapter = stuf(url)

    delivered = reactor_thread.deliver(adapter, outbound(KENNISGEVING.read_bytes()))

    assert delivered.status == 202
    assert delivered.answer is None
    reactor_thread.close(adapter)


def test_an_answer_ended_by_closing_the_connection_is_read_whole(
    reactor_thread: ReactorThread, backoffice: Backoffice
) -> None:
    """Old servers give no Content-Length and close after the answer."""
    url = backoffice.on("/old", Behaviour(body=LA01.read_bytes(), close_delimited=True))
    adapter = stuf(url)

    delivered = reactor_thread.deliver(adapter, outbound(VRAAG.read_bytes()))

    assert delivered.answer == LA01.read_bytes()
    reactor_thread.close(adapter)


def test_a_2xx_that_is_not_a_soap_envelope_is_retried(
    reactor_thread: ReactorThread, backoffice: Backoffice
) -> None:
    """A proxy's login page with status 200 is no answer of the service."""
    page = b"<html><body>Log in</body></html>"
    url = backoffice.on("/proxy", Behaviour(body=page, content_type="text/html"))
    adapter = stuf(url)

    error = failure_of(reactor_thread, adapter, outbound(VRAAG.read_bytes()))

    assert error.retryable
    assert "not a SOAP envelope" in error.reason
    assert error.answer == page
    reactor_thread.close(adapter)


# Faults ---------------------------------------------------------------------------


def test_a_fault_with_plek_client_is_final_and_kept_for_the_sender(
    reactor_thread: ReactorThread, backoffice: Backoffice
) -> None:
    """StUF: plek client means the message is wrong; a retry cannot help. The
    fault is kept with status 500 so the sender gets it as it is."""
    fault = soap_fault("Client", "Zaak onbekend", foutbericht("client", "StUF064"))
    url = backoffice.on("/zds", Behaviour(status=500, body=fault))
    adapter = stuf(url)

    error = failure_of(reactor_thread, adapter, outbound(VRAAG.read_bytes()))

    assert not error.retryable
    assert error.answer == fault
    assert error.status == 500
    assert "StUF064" in error.reason and "client" in error.reason
    reactor_thread.close(adapter)


def test_a_real_fo03_with_plek_server_is_worth_a_retry(
    reactor_thread: ReactorThread, backoffice: Backoffice
) -> None:
    """A real zaaksysteem's Fo03 (plek server, faultcode env:Receiver) is the
    receiver's failure: worth a retry, and kept for the sender."""
    fault = FO03_SERVER.read_bytes()
    url = backoffice.on("/zds", Behaviour(status=500, body=fault))
    adapter = stuf(url)

    error = failure_of(reactor_thread, adapter, outbound(VRAAG.read_bytes()))

    assert error.retryable
    assert error.answer == fault
    assert error.status == 500
    assert "StUF058" in error.reason
    reactor_thread.close(adapter)


def test_a_fault_sent_with_status_200_is_still_a_fault(
    reactor_thread: ReactorThread, backoffice: Backoffice
) -> None:
    """Some services send their faults with 200; the plek still decides, and
    the status given to the dispatcher is SOAP's 500."""
    fault = soap_fault("Client", "Fout", foutbericht("client"))
    url = backoffice.on("/zds", Behaviour(status=200, body=fault))
    adapter = stuf(url)

    error = failure_of(reactor_thread, adapter, outbound(VRAAG.read_bytes()))

    assert not error.retryable
    assert error.status == 500
    assert "HTTP 200" in error.reason
    reactor_thread.close(adapter)


@pytest.mark.parametrize(
    ("faultcode", "retryable"),
    [("Client", False), ("Server", True), ("Client.Authentication", False)],
)
def test_a_fault_without_foutbericht_is_judged_by_its_faultcode(
    reactor_thread: ReactorThread,
    backoffice: Backoffice,
    faultcode: str,
    retryable: bool,
) -> None:
    """SOAP 1.1 section 4.4.1: Client faults must not be resent unchanged,
    Server faults may succeed later."""
    url = backoffice.on("/zds", Behaviour(status=500, body=soap_fault(faultcode, "x")))
    adapter = stuf(url)

    error = failure_of(reactor_thread, adapter, outbound(VRAAG.read_bytes()))

    assert error.retryable is retryable
    reactor_thread.close(adapter)


def test_a_soap_12_fault_is_read_too() -> None:
    """Code/Value Sender and a foutbericht in the Detail: plek client."""
    fault = (
        b'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope">'
        b"<env:Body><env:Fault><env:Code><env:Value>env:Sender</env:Value></env:Code>"
        b"<env:Reason><env:Text>nee</env:Text></env:Reason><env:Detail>"
        b'<Fo02Bericht xmlns="http://www.egem.nl/StUF/StUF0301"><body>'
        b"<code>StUF055</code><plek>client</plek><omschrijving>schema</omschrijving>"
        b"</body></Fo02Bericht></env:Detail></env:Fault></env:Body></env:Envelope>"
    )

    read = read_fault(fault)

    assert read is not None
    assert (read.faultcode, read.faultstring) == ("env:Sender", "nee")
    assert (read.berichtcode, read.code, read.plek) == (None, "StUF055", "client")
    assert not read.retryable


# Status codes and the connection ------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (401, False),
        (404, False),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
    ],
)
def test_the_status_decides_when_there_is_no_fault(
    reactor_thread: ReactorThread,
    backoffice: Backoffice,
    status: int,
    retryable: bool,
) -> None:
    """4xx is final (the same message fails the same way) except 429 Too Many
    Requests; 5xx is worth a retry."""
    url = backoffice.on(
        "/zds", Behaviour(status=status, body=b"error page", content_type="text/plain")
    )
    adapter = stuf(url)

    error = failure_of(reactor_thread, adapter, outbound(VRAAG.read_bytes()))

    assert error.retryable is retryable
    assert error.status == status
    assert error.answer == b"error page"
    assert f"HTTP {status}" in error.reason
    reactor_thread.close(adapter)


def test_a_refused_connection_is_worth_a_retry(
    reactor_thread: ReactorThread, refused_url: str
) -> None:
    """The backoffice is down: try again later."""
    adapter = stuf(refused_url)

    error = failure_of(reactor_thread, adapter, outbound(VRAAG.read_bytes()))

    assert error.retryable
    assert "ConnectionRefusedError" in error.reason
    assert error.answer is None
    reactor_thread.close(adapter)


def test_cancelling_aborts_the_request(
    reactor_thread: ReactorThread, backoffice: Backoffice
) -> None:
    """The delivery engine's time-out cancels the Deferred: the connection to
    the hanging backoffice is closed, and the Deferred fails with
    CancelledError (which addTimeout turns into a TimeoutError)."""
    url = backoffice.on("/hang", Behaviour(hang=True))
    adapter = stuf(url, timeout=60)
    attempt = reactor_thread.start(adapter, outbound(VRAAG.read_bytes()))
    assert backoffice.arrived.wait(10), "the request never arrived"

    reactor_thread.call(attempt.cancel)

    assert isinstance(reactor_thread.outcome(attempt), defer.CancelledError)
    assert backoffice.abandoned.wait(10), "the connection stayed open"
    reactor_thread.close(adapter)


def test_cancelling_while_the_body_comes_in_aborts_the_request(
    reactor_thread: ReactorThread,
    backoffice: Backoffice,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A service that sends its headers and then stops is cut off as well."""
    reading = threading.Event()
    original = connections.HttpConnection.on_headers_complete

    def headers_complete(connection: connections.HttpConnection) -> None:
        original(connection)
        reading.set()

    monkeypatch.setattr(
        connections.HttpConnection, "on_headers_complete", headers_complete
    )
    url = backoffice.on("/slow", Behaviour(hang_in_body=True))
    adapter = stuf(url, timeout=60)
    attempt = reactor_thread.start(adapter, outbound(VRAAG.read_bytes()))
    assert reading.wait(10), "the headers never arrived"

    reactor_thread.call(attempt.cancel)

    assert isinstance(reactor_thread.outcome(attempt), defer.CancelledError)
    assert backoffice.abandoned.wait(10), "the connection stayed open"
    reactor_thread.close(adapter)


def test_the_engines_timeout_reads_as_a_timeout(
    reactor_thread: ReactorThread, backoffice: Backoffice
) -> None:
    """As in DeliveryEngine.attempt: addTimeout on the adapter's Deferred
    fails it with TimeoutError, which the engine reports as no answer."""
    url = backoffice.on("/hang", Behaviour(hang=True))
    adapter = stuf(url, timeout=60)

    def attempt() -> defer.Deferred[Any]:
        return adapter.deliver(outbound(VRAAG.read_bytes())).addTimeout(0.2, reactor)

    with pytest.raises(defer.TimeoutError):
        reactor_thread.call(attempt)
    assert backoffice.abandoned.wait(10)
    reactor_thread.close(adapter)


def test_no_answer_within_the_adapters_timeout_is_worth_a_retry(
    reactor_thread: ReactorThread, backoffice: Backoffice
) -> None:
    """The adapter keeps the destination's time-out itself as well."""
    url = backoffice.on("/hang", Behaviour(hang=True))
    adapter = stuf(url, timeout=0.2)

    error = failure_of(reactor_thread, adapter, outbound(VRAAG.read_bytes()))

    assert error.retryable
    assert "no answer within 0.2 s" in error.reason
    assert backoffice.abandoned.wait(10)
    reactor_thread.close(adapter)


def test_connections_are_reused(
    reactor_thread: ReactorThread, backoffice: Backoffice
) -> None:
    """Several messages, one after the other, all delivered over the pool."""
    url = backoffice.on("/zds", Behaviour(body=BV03.read_bytes()))
    adapter = stuf(url)

    for number in range(5):
        message = outbound(KENNISGEVING.read_bytes(), message_id=f"m{number}")
        assert reactor_thread.deliver(adapter, message).answer == BV03.read_bytes()

    ids = [r.headers["x-emo-message-id"] for r in backoffice.requests_to("/zds")]
    assert ids == [f"m{number}" for number in range(5)]
    reactor_thread.close(adapter)


def test_a_service_that_speaks_http_10_gets_a_connection_per_request(
    reactor_thread: ReactorThread, backoffice: Backoffice
) -> None:
    """An HTTP/1.0 server answers once per connection (RFC 7230 section
    6.3); no message may fail on a connection kept for reuse."""
    url = backoffice.on("/old", Behaviour(body=BV03.read_bytes(), http10=True))
    adapter = stuf(url)

    for number in range(3):
        message = outbound(KENNISGEVING.read_bytes(), message_id=f"m{number}")
        assert reactor_thread.deliver(adapter, message).answer == BV03.read_bytes()

    reactor_thread.close(adapter)


# Settings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({}, "needs a 'url'"),
        ({"url": "ftp://host/x"}, "not an http(s) URL"),
        ({"url": "http://emo:geheim@host/x"}, "under 'auth'"),
        (
            {"url": "http://host/x", "soapaction": "x"},
            "unknown stuf setting 'soapaction'",
        ),
        ({"url": "http://host/x", "tls": {"verify": False}}, "not an https URL"),
        ({"url": "https://host/x", "tls": {"verify": "no"}}, "tls.verify"),
        ({"url": "https://host/x", "tls": {"ca": "/nonexistent.pem"}}, "not a file"),
        ({"url": "https://host/x", "tls": {"cafile": "x"}}, "unknown tls setting"),
        (
            {"url": "https://host/x", "auth": {"username": "emo"}},
            "username and a password",
        ),
        ({"url": "http://host/x", "headers": ["X-A: b"]}, "'headers' must map"),
    ],
)
def test_wrong_settings_are_refused_when_the_adapter_is_built(
    settings: dict[str, Any], complaint: str
) -> None:
    """At start-up or reload, naming the destination and what is wrong."""
    with pytest.raises(ConfigError) as caught:
        StufAdapter.from_settings("legacy", settings, 10.0)

    assert complaint in str(caught.value)
    assert "legacy" in str(caught.value)
