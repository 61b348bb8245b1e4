"""The http adapter, and the TLS and basic authentication that the http,
stuf and soap adapters share, against real servers.

The TLS backoffice requires a client certificate issued by the test CA
(tests/esb/adapters/conftest.py makes the CA, the server's and the client's
certificates, and a stranger's CA, in a temporary folder).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer

from esb.adapters import connections
from esb.adapters.base import DeliveryError
from esb.adapters.http import HttpAdapter
from esb.adapters.stuf import StufAdapter
from esb.errors import ConfigError
from tests.esb.adapters.conftest import (
    BV03,
    KENNISGEVING,
    Backoffice,
    Behaviour,
    Pki,
    ReactorThread,
    foutbericht,
    outbound,
    soap_fault,
)


def adapter(url: str, timeout: float = 10.0, **settings: Any) -> HttpAdapter:
    return HttpAdapter.from_settings("backoffice", {"url": url, **settings}, timeout)


def client_tls(pki: Pki, **extra: Any) -> dict[str, Any]:
    return {
        "ca": str(pki.ca),
        "cert": str(pki.client_cert),
        "key": str(pki.client_key),
        **extra,
    }


# The http adapter ---------------------------------------------------------------


def test_a_message_is_posted_with_its_soap_action(
    reactor_thread: ReactorThread, backoffice: Backoffice
) -> None:
    """The payload as it is, the configured content type and headers, the
    SOAPAction and EMO's message id; any 2xx answer is delivered."""
    url = backoffice.on(
        "/in", Behaviour(status=201, body=b"ok", content_type="text/plain")
    )
    sender = adapter(
        url, headers={"X-Gemeente": "0392"}, content_type="application/xml"
    )

    delivered = reactor_thread.deliver(sender, outbound(b"<a/>", "urn:x", "m-7"))

    assert (delivered.status, delivered.answer) == (201, b"ok")
    assert delivered.content_type == "text/plain"
    [request] = backoffice.requests_to("/in")
    assert (request.method, request.body) == ("POST", b"<a/>")
    assert request.headers["content-type"] == "application/xml"
    assert request.headers["x-gemeente"] == "0392"
    assert request.headers["soapaction"] == '"urn:x"'
    assert request.headers["x-emo-message-id"] == "m-7"
    reactor_thread.close(sender)


def test_put_is_possible(reactor_thread: ReactorThread, backoffice: Backoffice) -> None:
    """``method: PUT`` for stores that take a document per URL."""
    url = backoffice.on("/doc", Behaviour(status=204))
    sender = adapter(url, method="put")

    reactor_thread.deliver(sender, outbound(b"<a/>"))

    assert backoffice.requests_to("/doc")[0].method == "PUT"
    reactor_thread.close(sender)


@pytest.mark.parametrize(
    ("behaviour", "retryable"),
    [
        (Behaviour(status=404), False),
        (Behaviour(status=408), True),
        (Behaviour(status=503), True),
        (
            Behaviour(
                status=500, body=soap_fault("Client", "x", foutbericht("client"))
            ),
            False,
        ),
        (
            Behaviour(
                status=500, body=soap_fault("Server", "x", foutbericht("server"))
            ),
            True,
        ),
    ],
)
def test_the_http_adapter_judges_status_and_faults(
    reactor_thread: ReactorThread,
    backoffice: Backoffice,
    behaviour: Behaviour,
    retryable: bool,
) -> None:
    """4xx final except 408/425/429, 5xx retried, a StUF fault by its plek."""
    sender = adapter(backoffice.on("/in", behaviour))

    with pytest.raises(DeliveryError) as caught:
        reactor_thread.deliver(sender, outbound(b"<a/>"))

    assert caught.value.retryable is retryable
    assert caught.value.status == behaviour.status
    reactor_thread.close(sender)


def test_a_method_other_than_post_or_put_is_refused() -> None:
    with pytest.raises(ConfigError, match="POST or PUT"):
        adapter("http://127.0.0.1:1/x", method="GET")


# TLS -----------------------------------------------------------------------------


def test_a_client_certificate_opens_the_door(
    reactor_thread: ReactorThread, tls_backoffice: Backoffice, pki: Pki
) -> None:
    """The server checks EMO's certificate, EMO checks the server's against
    the configured CA and the host name in the URL."""
    url = tls_backoffice.on("/in", Behaviour(body=b"ok"))
    sender = adapter(url, tls=client_tls(pki))

    delivered = reactor_thread.deliver(sender, outbound(b"<a/>"))

    assert delivered.answer == b"ok"
    assert tls_backoffice.requests_to("/in")[0].client_cn == "emo-broker"
    reactor_thread.close(sender)


def test_the_stuf_adapter_uses_the_same_tls(
    reactor_thread: ReactorThread, tls_backoffice: Backoffice, pki: Pki
) -> None:
    """tls and auth are shared: a StUF service behind mutual TLS."""
    url = tls_backoffice.on("/zds", Behaviour(body=BV03.read_bytes()))
    sender = StufAdapter.from_settings(
        "zaaksysteem", {"url": url, "tls": client_tls(pki)}, 10.0
    )

    delivered = reactor_thread.deliver(sender, outbound(KENNISGEVING.read_bytes()))

    assert delivered.answer == BV03.read_bytes()
    reactor_thread.close(sender)


def test_a_key_given_inside_the_certificate_file_is_found(
    reactor_thread: ReactorThread, tls_backoffice: Backoffice, pki: Pki, tmp_path: Path
) -> None:
    """Without ``key``, the private key is read from the ``cert`` file."""
    both = tmp_path / "client-with-key.pem"
    both.write_bytes(pki.client_cert.read_bytes() + pki.client_key.read_bytes())
    url = tls_backoffice.on("/in", Behaviour(body=b"ok"))
    sender = adapter(url, tls={"ca": str(pki.ca), "cert": str(both)})

    assert reactor_thread.deliver(sender, outbound(b"<a/>")).answer == b"ok"
    reactor_thread.close(sender)


def test_the_chain_of_the_client_certificate_goes_along(
    reactor_thread: ReactorThread, tls_backoffice: Backoffice, pki: Pki
) -> None:
    """A certificate issued by an intermediate CA, followed by that CA in the
    cert file: the server, trusting only the root, can check it."""
    url = tls_backoffice.on("/in", Behaviour(body=b"ok"))
    sender = adapter(
        url,
        tls={
            "ca": str(pki.ca),
            "cert": str(pki.chained_cert),
            "key": str(pki.chained_key),
        },
    )

    assert reactor_thread.deliver(sender, outbound(b"<a/>")).answer == b"ok"
    assert tls_backoffice.requests_to("/in")[0].client_cn == "emo-broker-2"
    reactor_thread.close(sender)


def test_without_a_client_certificate_the_handshake_fails_worth_a_retry(
    reactor_thread: ReactorThread, tls_backoffice: Backoffice, pki: Pki
) -> None:
    """The server refuses EMO; an admin can install the certificate while
    the retries run, so the failure is retryable."""
    url = tls_backoffice.on("/in", Behaviour(body=b"ok"))
    sender = adapter(url, tls={"ca": str(pki.ca)})

    with pytest.raises(DeliveryError) as caught:
        reactor_thread.deliver(sender, outbound(b"<a/>"))

    assert caught.value.retryable
    assert tls_backoffice.requests_to("/in") == []
    reactor_thread.close(sender)


def test_a_client_certificate_of_another_ca_is_refused_by_the_server(
    reactor_thread: ReactorThread, tls_backoffice: Backoffice, pki: Pki
) -> None:
    url = tls_backoffice.on("/in", Behaviour(body=b"ok"))
    sender = adapter(
        url,
        tls={
            "ca": str(pki.ca),
            "cert": str(pki.stranger_cert),
            "key": str(pki.stranger_key),
        },
    )

    with pytest.raises(DeliveryError):
        reactor_thread.deliver(sender, outbound(b"<a/>"))

    assert tls_backoffice.requests_to("/in") == []
    reactor_thread.close(sender)


def test_a_server_certificate_from_an_untrusted_ca_is_refused(
    reactor_thread: ReactorThread, tls_backoffice: Backoffice, pki: Pki
) -> None:
    """With ``ca`` naming another CA, EMO does not talk to this server."""
    url = tls_backoffice.on("/in", Behaviour(body=b"ok"))
    sender = adapter(url, tls=client_tls(pki, ca=str(pki.stranger_ca)))

    with pytest.raises(DeliveryError) as caught:
        reactor_thread.deliver(sender, outbound(b"<a/>"))

    assert "certificate verify failed" in caught.value.reason
    assert tls_backoffice.requests_to("/in") == []
    reactor_thread.close(sender)


def test_a_host_the_certificate_does_not_name_is_refused(
    reactor_thread: ReactorThread, pki: Pki
) -> None:
    """The certificate names localhost and 127.0.0.1; a server at 127.0.0.2
    showing it is not the server EMO was told to reach."""
    elsewhere = Backoffice(tls=pki.server_context(), host="127.0.0.2")
    try:
        sender = adapter(
            elsewhere.on("/in", Behaviour(body=b"ok")), tls=client_tls(pki)
        )

        with pytest.raises(DeliveryError) as caught:
            reactor_thread.deliver(sender, outbound(b"<a/>"))

        assert "VerificationError" in caught.value.reason
        assert elsewhere.requests_to("/in") == []
        reactor_thread.close(sender)
    finally:
        elsewhere.close()


def test_verify_off_accepts_any_server_certificate(
    reactor_thread: ReactorThread, tls_backoffice: Backoffice, pki: Pki
) -> None:
    """``verify: false`` (a test system with a home-made certificate) still
    presents the client certificate."""
    url = tls_backoffice.on("/in", Behaviour(body=b"ok"))
    sender = adapter(url, tls=client_tls(pki, ca=str(pki.stranger_ca), verify=False))

    assert reactor_thread.deliver(sender, outbound(b"<a/>")).answer == b"ok"
    assert tls_backoffice.requests_to("/in")[0].client_cn == "emo-broker"
    reactor_thread.close(sender)


def test_cancelling_over_tls_closes_the_connection(
    reactor_thread: ReactorThread,
    tls_backoffice: Backoffice,
    pki: Pki,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A TLS service that stops in the middle of its answer is cut off, not
    politely asked to close (which a hung server never answers)."""
    reading = threading.Event()
    original = connections.HttpConnection.on_headers_complete

    def headers_complete(connection: connections.HttpConnection) -> None:
        original(connection)
        reading.set()

    monkeypatch.setattr(
        connections.HttpConnection, "on_headers_complete", headers_complete
    )
    url = tls_backoffice.on("/slow", Behaviour(hang_in_body=True))
    sender = adapter(url, timeout=60, tls=client_tls(pki))
    attempt = reactor_thread.start(sender, outbound(b"<a/>"))
    assert reading.wait(10), "the headers never arrived"

    reactor_thread.call(attempt.cancel)

    assert isinstance(reactor_thread.outcome(attempt), defer.CancelledError)
    assert tls_backoffice.abandoned.wait(10), "the connection stayed open"
    reactor_thread.close(sender)


@pytest.mark.parametrize(
    ("tls", "complaint"),
    [
        ({"key": "{client_key}"}, "tls.key needs tls.cert"),
        ({"cert": "{client_cert}", "key": "{stranger_key}"}, "does not belong"),
        ({"cert": "{client_key}", "key": "{client_key}"}, "no PEM certificate"),
        (
            {"cert": "{client_cert}", "key": "{client_cert}"},
            "no unencrypted PEM private key",
        ),
        ({"ca": "{client_key}"}, "no PEM certificate"),
    ],
)
def test_wrong_tls_material_is_refused_when_the_adapter_is_built(
    pki: Pki, tls: dict[str, str], complaint: str
) -> None:
    """A key of another certificate, or a file that is not what it should
    be, is found at start-up, not at the first delivery."""
    files = {name: str(getattr(pki, name)) for name in Pki.__dataclass_fields__}
    settings = {name: value.format(**files) for name, value in tls.items()}

    with pytest.raises(ConfigError, match=complaint):
        adapter("https://127.0.0.1:1/x", tls=settings)


# Basic authentication ------------------------------------------------------------


def test_basic_auth_is_sent_with_every_request(
    reactor_thread: ReactorThread, tls_backoffice: Backoffice, pki: Pki
) -> None:
    """RFC 7617: user and password, base64, in the Authorization header."""
    url = tls_backoffice.on("/in", Behaviour(body=b"ok", password="emo:g\u00e9heim"))
    sender = adapter(
        url, tls=client_tls(pki), auth={"username": "emo", "password": "g\u00e9heim"}
    )

    for _ in range(2):
        assert reactor_thread.deliver(sender, outbound(b"<a/>")).answer == b"ok"
    reactor_thread.close(sender)


def test_a_wrong_password_is_final(
    reactor_thread: ReactorThread, backoffice: Backoffice
) -> None:
    """401: the same request fails the same way until an admin acts."""
    url = backoffice.on("/in", Behaviour(body=b"ok", password="emo:geheim"))
    sender = adapter(url, auth={"username": "emo", "password": "fout"})

    with pytest.raises(DeliveryError) as caught:
        reactor_thread.deliver(sender, outbound(b"<a/>"))

    assert caught.value.status == 401
    assert not caught.value.retryable
    assert "fout" not in caught.value.reason
    reactor_thread.close(sender)


def test_a_username_with_a_colon_is_refused() -> None:
    """RFC 7617 section 2: the user-id cannot contain a colon."""
    with pytest.raises(ConfigError, match="may not contain ':'"):
        adapter("https://h/x", auth={"username": "a:b", "password": "c"})


def test_beyond_max_connections_a_request_waits_for_a_free_one(
    reactor_thread: ReactorThread, backoffice: Backoffice
) -> None:
    """With max_connections 1 and the one connection busy (the service
    hangs), a second request opens no connection of its own: it waits, and
    cancelling it takes it out of the queue without a trace."""
    url = backoffice.on("/hang", Behaviour(hang=True))
    sender = adapter(url, timeout=60, max_connections=1)
    first = reactor_thread.start(sender, outbound(b"<a/>"))
    deadline = time.monotonic() + 10
    while len(backoffice.requests_to("/hang")) < 1:
        assert time.monotonic() < deadline, "the first request never arrived"
        time.sleep(0.02)
    second = reactor_thread.start(sender, outbound(b"<b/>"))
    time.sleep(0.5)

    assert len(backoffice.requests_to("/hang")) == 1, "the second did not wait"
    reactor_thread.call(second.cancel)
    assert isinstance(reactor_thread.outcome(second), defer.CancelledError)
    pool = next(iter(sender.client.pools.values()))
    assert not pool.waiting
    reactor_thread.call(first.cancel)
    assert isinstance(reactor_thread.outcome(first), defer.CancelledError)
    reactor_thread.close(sender)


def test_waiting_requests_take_the_connection_in_turn(
    reactor_thread: ReactorThread, backoffice: Backoffice
) -> None:
    """Twenty requests at once over at most two connections: all delivered."""
    url = backoffice.on("/in", Behaviour(body=b"ok"))
    sender = adapter(url, max_connections=2)
    started = [
        reactor_thread.start(sender, outbound(f"<m n='{n}'/>".encode()))
        for n in range(20)
    ]

    answers = [reactor_thread.outcome(attempt) for attempt in started]

    assert all(answer.answer == b"ok" for answer in answers)
    assert len(backoffice.requests_to("/in")) == 20
    pool = next(iter(sender.client.pools.values()))
    assert len(pool.idle) <= 2 and not pool.waiting and not pool.busy
    reactor_thread.close(sender)
