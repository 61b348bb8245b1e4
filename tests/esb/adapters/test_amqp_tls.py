"""AMQP over TLS (``amqps://``): the destination and the source, for real.

This machine's RabbitMQ listens on 5672 without TLS, so each test puts a
TLS-terminating relay in front of it (:class:`Relay`): a Twisted TLS server
with the test CA's server certificate, optionally demanding a client
certificate, that passes the bytes both ways to 127.0.0.1:5672, as a TLS
load balancer or RabbitMQ's own amqps listener would. What arrives is read
back on 5672 with pika's blocking client.
"""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pika
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from OpenSSL import crypto
from twisted.internet import endpoints, protocol, ssl
from twisted.internet.interfaces import IHandshakeListener, IListeningPort
from zope.interface import implementer

from esb.adapters.amqp import AmqpAdapter
from esb.adapters.base import DeliveryError, Outbound
from esb.errors import ConfigError
from esb.routes import check_routes
from esb.sources.amqp import AmqpSource
from tests.esb.adapters.conftest import (
    KENNISGEVING,
    Pki,
    ReactorThread,
    reactor,
)
from tests.esb.sources.conftest import Service, kennisgeving, referentienummer_of
from tests.esb.sources.reactor_thread import start_reactor, wait_for

RABBITMQ_PORT = 5672


# The relay ----------------------------------------------------------------------


@implementer(IHandshakeListener)
class _Inbound(protocol.Protocol):
    """One TLS client of the relay; RabbitMQ is dialled once the handshake
    is done, so a refused client never reaches it."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.upstream: _Upstream | None = None
        self.pending: list[bytes] = []
        self.gone = False

    def connectionMade(self) -> None:
        self.relay.inbound.append(self)

    def handshakeCompleted(self) -> None:
        peer = self.transport.getPeerCertificate()  # type: ignore[attr-defined]
        name = None
        if peer is not None:
            subject = peer.to_cryptography().subject
            name = str(subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
        self.relay.clients.append(name)
        upstream = endpoints.TCP4ClientEndpoint(
            reactor, self.relay.rabbitmq_host, RABBITMQ_PORT
        )
        connected = endpoints.connectProtocol(upstream, _Upstream(self))
        connected.addCallbacks(self._connected, lambda _: self._drop())

    def _connected(self, upstream: _Upstream) -> None:
        if self.gone:
            upstream.transport.loseConnection()  # type: ignore[union-attr]
            return
        self.upstream = upstream
        for data in self.pending:
            upstream.transport.write(data)  # type: ignore[union-attr]
        self.pending = []

    def _drop(self) -> None:
        self.transport.loseConnection()  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        if self.upstream is None:
            self.pending.append(data)
        else:
            self.upstream.transport.write(data)  # type: ignore[union-attr]

    def connectionLost(self, reason: object = None) -> None:
        self.gone = True
        if self.upstream is not None:
            self.upstream.transport.loseConnection()  # type: ignore[union-attr]


class _Upstream(protocol.Protocol):
    """The relay's connection to RabbitMQ for one TLS client."""

    def __init__(self, inbound: _Inbound) -> None:
        self.inbound = inbound

    def dataReceived(self, data: bytes) -> None:
        self.inbound.transport.write(data)  # type: ignore[union-attr]

    def connectionLost(self, reason: object = None) -> None:
        self.inbound.transport.loseConnection()  # type: ignore[union-attr]


class Relay:
    """Ends TLS on a local port and relays to RabbitMQ on 5672.

    ``clients`` holds, for every completed handshake, the common name of
    the client's certificate (None when it sent none).
    """

    def __init__(
        self,
        rabbitmq_host: str,
        certificate: Path,
        key: Path,
        *,
        client_ca: Path | None = None,
    ) -> None:
        self.rabbitmq_host = rabbitmq_host
        server: dict[str, Any] = {
            "certificate": x509.load_pem_x509_certificate(certificate.read_bytes()),
            "privateKey": serialization.load_pem_private_key(
                key.read_bytes(), password=None
            ),
        }
        if client_ca is not None:
            # A trustRoot makes the server demand a client certificate that
            # chains to it (and refuse the handshake without one).
            authorities = [
                ssl.Certificate(crypto.X509.from_cryptography(authority))
                for authority in x509.load_pem_x509_certificates(client_ca.read_bytes())
            ]
            server["trustRoot"] = ssl.trustRootFromCertificates(authorities)
        self.options = ssl.CertificateOptions(**server)
        self.clients: list[str | None] = []
        self.inbound: list[_Inbound] = []
        self.port = 0
        self._listening: IListeningPort | None = None

    def start(self) -> None:
        factory = protocol.Factory.forProtocol(lambda: _Inbound(self))
        self._listening = reactor.listenSSL(
            0, factory, self.options, interface="127.0.0.1"
        )
        self.port = self._listening.getHost().port  # type: ignore[attr-defined]

    def stop(self) -> None:
        if self._listening is not None:
            self._listening.stopListening()
        for inbound in self.inbound:
            if not inbound.gone:
                inbound.transport.abortConnection()  # type: ignore[union-attr]

    def url(self) -> str:
        # "localhost", as the server certificate names it.
        return f"amqps://guest:guest@localhost:{self.port}/%2F"


MakeRelay = Callable[..., Relay]


@pytest.fixture
def relay(
    rabbitmq_host: str, pki: Pki, reactor_thread: ReactorThread
) -> Iterator[MakeRelay]:
    """Starts relays (the test CA's server certificate by default); every
    one started is stopped after the test."""
    made: list[Relay] = []

    def make(
        *,
        certificate: Path = pki.server_cert,
        key: Path = pki.server_key,
        client_ca: Path | None = None,
    ) -> Relay:
        started = Relay(rabbitmq_host, certificate, key, client_ca=client_ca)
        reactor_thread.call(started.start)
        made.append(started)
        return started

    yield make
    for started in made:
        reactor_thread.call(started.stop)


# RabbitMQ, seen directly ------------------------------------------------------------


class Rabbit:
    """One test's names on RabbitMQ, and a blocking client on 5672."""

    def __init__(self, host: str) -> None:
        prefix = f"emo-test-tls-{uuid.uuid4().hex[:10]}"
        self.exchange = f"{prefix}-x"
        self.queue = f"{prefix}-q"
        self.connection = pika.BlockingConnection(
            pika.URLParameters(f"amqp://guest:guest@{host}:{RABBITMQ_PORT}/%2F")
        )
        self.channel = self.connection.channel()

    def get(self, queue: str) -> tuple[Any, Any, bytes] | None:
        method, properties, body = self.channel.basic_get(queue, auto_ack=True)
        return None if method is None else (method, properties, body)

    def count(self) -> int:
        declared = self.channel.queue_declare(self.queue, passive=True)
        return int(declared.method.message_count)

    def close(self) -> None:
        channel = self.connection.channel()
        channel.queue_delete(self.queue)
        channel.exchange_delete(self.exchange)
        self.connection.close()


@pytest.fixture
def rabbit(rabbitmq_host: str) -> Iterator[Rabbit]:
    made = Rabbit(rabbitmq_host)
    yield made
    made.close()


def outbound(message_id: str) -> Outbound:
    return Outbound(
        message_id=message_id,
        payload=KENNISGEVING.read_bytes(),
        soap_action=None,
        identification=None,
    )


def destination(
    rabbit: Rabbit, url: str, tls: dict[str, Any] | None, timeout: float = 5.0
) -> AmqpAdapter:
    settings: dict[str, Any] = {
        "url": url,
        "exchange": rabbit.exchange,
        "routing_key": "zds.tls",
        "queue": rabbit.queue,
    }
    if tls is not None:
        settings["tls"] = tls
    return AmqpAdapter.from_settings("uit", settings, timeout)


def declare_queue(rabbit: Rabbit) -> None:
    """The queue and exchange, declared as the adapter does, so a test that
    expects nothing to arrive can count the queue's messages."""
    rabbit.channel.exchange_declare(rabbit.exchange, "topic", durable=True)
    rabbit.channel.queue_declare(rabbit.queue, durable=True)
    rabbit.channel.queue_bind(rabbit.queue, rabbit.exchange, routing_key="#")


# The destination ------------------------------------------------------------------


@pytest.mark.rabbitmq
def test_the_destination_publishes_over_amqps_and_rabbitmq_confirms(
    reactor_thread: ReactorThread, relay: MakeRelay, rabbit: Rabbit, pki: Pki
) -> None:
    """With the CA that signed the server's certificate in tls.ca, the
    message goes through TLS and counts as delivered once RabbitMQ has
    confirmed it; it is in the queue, whole and persistent."""
    tls_relay = relay()
    adapter = destination(rabbit, tls_relay.url(), {"ca": str(pki.ca)})

    delivered = reactor_thread.deliver(adapter, outbound("emo-tls-1"))
    reactor_thread.close(adapter)

    assert delivered.note == f"amqp {rabbit.exchange}/zds.tls"
    assert tls_relay.clients == [None]
    got = rabbit.get(rabbit.queue)
    assert got is not None
    _, properties, body = got
    assert body == KENNISGEVING.read_bytes()
    assert properties.message_id == "emo-tls-1"
    assert properties.delivery_mode == 2


@pytest.mark.rabbitmq
def test_a_server_certificate_from_another_ca_is_refused_and_retried(
    reactor_thread: ReactorThread, relay: MakeRelay, rabbit: Rabbit, pki: Pki
) -> None:
    """tls.ca names a CA that did not sign the server's certificate: no
    connection is made, and the delivery fails, worth a retry (an admin
    puts the certificate right), saying that the certificate failed."""
    declare_queue(rabbit)
    tls_relay = relay()
    adapter = destination(
        rabbit, tls_relay.url(), {"ca": str(pki.stranger_ca)}, timeout=2.0
    )

    with pytest.raises(DeliveryError) as raised:
        reactor_thread.deliver(adapter, outbound("emo-tls-2"))
    reactor_thread.close(adapter)

    assert raised.value.retryable
    assert "not confirmed within 2 s (connected: False)" in raised.value.reason
    assert "certificate verify failed" in raised.value.reason
    assert tls_relay.clients == []
    assert rabbit.count() == 0


@pytest.mark.rabbitmq
def test_without_tls_settings_amqps_trusts_only_the_systems_cas(
    reactor_thread: ReactorThread, relay: MakeRelay, rabbit: Rabbit
) -> None:
    """An amqps:// URL without ``tls`` checks the server against the
    system's CAs, which do not know the test CA."""
    declare_queue(rabbit)
    tls_relay = relay()
    adapter = destination(rabbit, tls_relay.url(), None, timeout=2.0)

    with pytest.raises(DeliveryError) as raised:
        reactor_thread.deliver(adapter, outbound("emo-tls-3"))
    reactor_thread.close(adapter)

    assert raised.value.retryable
    assert "certificate verify failed" in raised.value.reason
    assert rabbit.count() == 0


@pytest.mark.rabbitmq
def test_verify_false_takes_any_server_certificate(
    reactor_thread: ReactorThread, relay: MakeRelay, rabbit: Rabbit, pki: Pki
) -> None:
    """tls.verify false (a test system): a certificate from an unknown CA,
    naming another host, is taken."""
    tls_relay = relay(certificate=pki.stranger_cert, key=pki.stranger_key)
    adapter = destination(rabbit, tls_relay.url(), {"verify": False})

    reactor_thread.deliver(adapter, outbound("emo-tls-4"))
    reactor_thread.close(adapter)

    assert rabbit.count() == 1


@pytest.mark.rabbitmq
def test_a_relay_demanding_a_client_certificate_takes_emos(
    reactor_thread: ReactorThread, relay: MakeRelay, rabbit: Rabbit, pki: Pki
) -> None:
    """tls.cert and tls.key: EMO shows its client certificate, which the
    server checks against its CA, and the message is delivered."""
    tls_relay = relay(client_ca=pki.ca)
    adapter = destination(
        rabbit,
        tls_relay.url(),
        {"ca": str(pki.ca), "cert": str(pki.client_cert), "key": str(pki.client_key)},
    )

    reactor_thread.deliver(adapter, outbound("emo-tls-5"))
    reactor_thread.close(adapter)

    assert tls_relay.clients == ["emo-broker"]
    assert rabbit.count() == 1


@pytest.mark.rabbitmq
def test_a_relay_demanding_a_client_certificate_refuses_emo_without_one(
    reactor_thread: ReactorThread, relay: MakeRelay, rabbit: Rabbit, pki: Pki
) -> None:
    """Without tls.cert the server ends the handshake: the delivery fails,
    worth a retry, and says the certificate was asked for."""
    declare_queue(rabbit)
    tls_relay = relay(client_ca=pki.ca)
    adapter = destination(rabbit, tls_relay.url(), {"ca": str(pki.ca)}, timeout=2.0)

    with pytest.raises(DeliveryError) as raised:
        reactor_thread.deliver(adapter, outbound("emo-tls-6"))
    reactor_thread.close(adapter)

    assert raised.value.retryable
    assert "certificate required" in raised.value.reason
    assert tls_relay.clients == []
    assert rabbit.count() == 0


@pytest.mark.parametrize(
    ("url", "tls", "complaint"),
    [
        (
            "amqp://guest:secret@localhost:5672/%2F",
            {"ca": "ca.pem"},
            "destination 'uit': 'tls' is set but "
            "'amqp://guest:***@localhost:5672/%2F' is not an amqps:// URL",
        ),
        (
            "amqps://localhost/%2F",
            {"ca": "/nonexistent/ca.pem"},
            "destination 'uit': tls.ca /nonexistent/ca.pem is not a file",
        ),
        (
            "amqps://localhost/%2F",
            {"capath": "/etc/ssl"},
            "destination 'uit': unknown tls setting 'capath'",
        ),
        (
            "amqps://localhost/%2F",
            "yes",
            "destination 'uit': 'tls' must be a mapping of settings",
        ),
    ],
)
def test_tls_settings_that_cannot_work_are_refused_at_load(
    url: str, tls: object, complaint: str
) -> None:
    """A tls setting on a plain amqp:// URL (it would be ignored, and the
    password sent in the clear) or one that is wrong is a ConfigError
    naming it."""
    with pytest.raises(ConfigError) as raised:
        AmqpAdapter.from_settings("uit", {"url": url, "exchange": "x", "tls": tls}, 5)

    assert complaint in str(raised.value)


def test_a_key_that_is_not_the_certificates_is_refused_at_load(pki: Pki) -> None:
    """The client key must belong to the client certificate: found when
    the destination is built, not at the first handshake."""
    settings = {
        "url": "amqps://localhost/%2F",
        "exchange": "x",
        "tls": {"cert": str(pki.client_cert), "key": str(pki.server_key)},
    }

    with pytest.raises(ConfigError, match="does not belong to the certificate"):
        AmqpAdapter.from_settings("uit", settings, 5)


# The source ---------------------------------------------------------------------


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Callable[[str], Service]]:
    """In-process broker services (tests/esb/sources/conftest.py), stopped
    after the test."""
    start_reactor()
    made: list[Service] = []

    def make(routes: str) -> Service:
        running = Service(tmp_path / f"service-{len(made)}", routes)
        made.append(running)
        return running

    yield make
    for running in made:
        running.stop()


def source_routes(url: str, queue: str, outbox: Path, tls: str) -> str:
    return f"""
        sources:
          stuf-in:
            type: amqp
            url: {url}
            queue: {queue}
            retry_seconds: 0.1
            tls: {tls}
        routes:
          - id: queue
            from: amqp:stuf-in
            publish: [outbox]
        destinations:
          outbox:
            type: file
            path: {outbox}
            name: "{{referentienummer}}.xml"
        """


@pytest.mark.rabbitmq
def test_the_source_consumes_over_amqps_with_a_client_certificate(
    relay: MakeRelay,
    rabbit: Rabbit,
    service: Callable[[str], Service],
    pki: Pki,
    tmp_path: Path,
) -> None:
    """The source connects through TLS, showing its client certificate; a
    message published on RabbitMQ's plain port reaches the route and is
    acked."""
    tls_relay = relay(client_ca=pki.ca)
    outbox = tmp_path / "outbox"
    tls = f"{{ca: {pki.ca}, cert: {pki.client_cert}, key: {pki.client_key}}}"
    running = service(source_routes(tls_relay.url(), rabbit.queue, outbox, tls))
    running.start()
    source = running.source("amqp:stuf-in")
    assert isinstance(source, AmqpSource)
    wait_for(lambda: source.connection.connected, what="the source's connection")

    rabbit.channel.basic_publish(
        exchange="",
        routing_key=rabbit.queue,
        body=kennisgeving("ref-amqps-1"),
        properties=pika.BasicProperties(delivery_mode=2, content_type="text/xml"),
    )

    written = wait_for(lambda: list(outbox.glob("*.xml")), what="the outbox file")
    assert [referentienummer_of(path.read_bytes()) for path in written] == [
        "ref-amqps-1"
    ]
    wait_for(lambda: source.counts["acked"] == 1, what="the ack")
    assert tls_relay.clients == ["emo-broker"]
    assert rabbit.count() == 0


@pytest.mark.parametrize(
    ("url", "tls", "complaint"),
    [
        (
            "amqp://guest:secret@localhost:5672/%2F",
            "{ca: CA}",
            "source 'stuf-in': 'tls' is set but "
            "'amqp://guest:***@localhost:5672/%2F' is not an amqps:// URL",
        ),
        (
            "amqps://localhost/%2F",
            "{ca: /nonexistent/ca.pem}",
            "source 'stuf-in': tls.ca /nonexistent/ca.pem is not a file",
        ),
        (
            "amqps://localhost/%2F",
            "{cert: CLIENT, key: SERVER_KEY}",
            "source 'stuf-in': the private key in SERVER_KEY does not belong to "
            "the certificate in CLIENT",
        ),
        (
            "amqps://localhost/%2F",
            "{ca: CA, verify: maybe}",
            "source 'stuf-in': tls.verify must be true or false",
        ),
        (
            "amqps://localhost/%2F",
            "yes",
            "tls of source 'stuf-in' must be a mapping of ca, cert, key and verify",
        ),
    ],
)
def test_a_sources_tls_is_checked_with_its_line_when_the_routes_load(
    url: str, tls: str, complaint: str, pki: Pki, tmp_path: Path
) -> None:
    """`emo routes check` reports a source's wrong tls at its line: a plain
    amqp:// URL, a missing file, a key not the certificate's."""
    files = {
        "CA": str(pki.ca),
        "CLIENT": str(pki.client_cert),
        "SERVER_KEY": str(pki.server_key),
    }
    for placeholder, path in files.items():
        tls = tls.replace(placeholder, path)
        complaint = complaint.replace(placeholder, path)
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        textwrap.dedent(source_routes(url, "q", tmp_path / "outbox", tls)).lstrip()
    )

    problems = check_routes(routes)

    assert [(problem.line, problem.message) for problem in problems] == [(7, complaint)]


def test_a_sources_tls_with_its_files_loads(pki: Pki, tmp_path: Path) -> None:
    """A right tls section passes the check."""
    routes = tmp_path / "routes.yaml"
    tls = f"{{ca: {pki.ca}, cert: {pki.client_cert}, key: {pki.client_key}}}"
    routes.write_text(
        textwrap.dedent(
            source_routes("amqps://h/%2F", "q", tmp_path / "outbox", tls)
        ).lstrip()
    )

    assert check_routes(routes) == []
