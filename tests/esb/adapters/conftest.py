"""Real services for the adapter tests, and a running reactor to call into.

The adapters return Deferreds that need a running reactor. One reactor runs in
a daemon thread for the whole session (:func:`reactor_thread`); tests call into
it with ``blockingCallFromThread``, exactly as a second thread of a real
program would.

The services play a municipality's legacy backoffice:

- :class:`Backoffice`, a small HTTP/1.1 server (``http.server``) that does
  what each path is told to do (answer, fault, 4xx, 5xx, hang) and keeps
  every request it got; with TLS it requires a client certificate;
- :func:`legacy_soap`, a SOAP service made with spyne, which serves its own
  WSDL and answers ``registreerZaak`` or faults with a StUF foutbericht;
- :class:`Pki`, a throwaway CA with server and client certificates, and a
  stranger's CA that nobody trusts.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from lxml import etree
from twisted.internet import defer
from twisted.internet import reactor as global_reactor
from twisted.internet.threads import blockingCallFromThread
from twisted.python.failure import Failure

from esb.adapters.base import Adapter, Delivered, Outbound
from tests.conftest import EXAMPLES

NS_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
NS_STUF = "http://www.egem.nl/StUF/StUF0301"
ZKN_ACTION = "http://www.egem.nl/StUF/sector/zkn/0310/"

# Real messages of the shared examples: a vraag and its La01, a kennisgeving
# and its Bv03, and a real zaaksysteem's Fo03 (plek server) to a vraag.
VRAAG = EXAMPLES / "gisvg-flow" / "geefZaakdetails_Lv01.request.xml"
LA01 = EXAMPLES / "gisvg-flow" / "geefZaakdetails_Lv01.response.xml"
KENNISGEVING = EXAMPLES / "gisvg-flow" / "creeerZaak_Lk01.request.xml"
BV03 = EXAMPLES / "gisvg-flow" / "creeerZaak_Lk01.response.xml"
FO03_SERVER = (
    EXAMPLES
    / "error-handling"
    / "05_Invalid_SoapAction_geefZaakdetails_Lv01_ABCDE_.response.xml"
)

# How long a service thread waits for a client that never comes back.
HANG_LIMIT = 20.0

# The global reactor, as the running thing it is (its stubs know less).
reactor: Any = global_reactor


# The reactor ------------------------------------------------------------------


class ReactorThread:
    """Calls into the reactor running in its own thread."""

    def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``function`` in the reactor thread and wait for its result
        (for a Deferred: until it fires); its failure is raised here."""
        return blockingCallFromThread(reactor, function, *args, **kwargs)

    def deliver(self, adapter: Adapter, outbound: Outbound) -> Delivered:
        delivered: Delivered = self.call(adapter.deliver, outbound)
        return delivered

    def start(self, adapter: Adapter, outbound: Outbound) -> defer.Deferred[Delivered]:
        """Start a delivery and return its Deferred without waiting (to cancel
        it); touch the Deferred only through :meth:`call`."""
        started: defer.Deferred[Delivered] = self.call(
            lambda: _holder(adapter.deliver(outbound))
        )[0]
        return started

    def outcome(self, deferred: defer.Deferred[Any], timeout: float = 30.0) -> Any:
        """What ``deferred`` fired with: its result, or its exception."""
        done = threading.Event()
        box: list[Any] = []

        def watch() -> None:
            def keep(result: Any) -> None:
                box.append(result.value if isinstance(result, Failure) else result)
                done.set()

            deferred.addBoth(keep)

        reactor.callFromThread(watch)
        assert done.wait(timeout), "the Deferred never fired"
        return box[0]

    def close(self, adapter: Adapter) -> None:
        self.call(lambda: adapter.close() or defer.succeed(None))


def _holder(deferred: defer.Deferred[Any]) -> list[defer.Deferred[Any]]:
    # blockingCallFromThread waits for a returned Deferred; in a list it does not.
    return [deferred]


@pytest.fixture(scope="session")
def reactor_thread() -> Iterator[ReactorThread]:
    """The session's reactor, running in a daemon thread."""
    thread = None
    if not reactor.running:
        thread = threading.Thread(
            target=reactor.run,
            kwargs={"installSignalHandlers": False},
            name="reactor",
            daemon=True,
        )
        thread.start()
        started = threading.Event()
        reactor.callFromThread(started.set)
        assert started.wait(10), "the reactor did not start"
    yield ReactorThread()
    if thread is not None:
        reactor.callFromThread(reactor.stop)
        thread.join(10)


def outbound(
    payload: bytes, soap_action: str | None = None, message_id: str = "msg-1"
) -> Outbound:
    return Outbound(
        message_id=message_id,
        payload=payload,
        soap_action=soap_action,
        identification=None,
    )


# Foutberichten ----------------------------------------------------------------


def foutbericht(
    plek: str,
    code: str = "StUF058",
    berichtcode: str = "Fo02",
    omschrijving: str = "Proces voor afhandelen bericht geeft fout",
) -> etree._Element:
    """A StUF foutbericht as a legacy backoffice writes it."""
    s = f"{{{NS_STUF}}}"
    bericht = etree.Element(f"{s}{berichtcode}Bericht", nsmap={"StUF": NS_STUF})
    stuurgegevens = etree.SubElement(bericht, f"{s}stuurgegevens")
    etree.SubElement(stuurgegevens, f"{s}berichtcode").text = berichtcode
    body = etree.SubElement(bericht, f"{s}body")
    etree.SubElement(body, f"{s}code").text = code
    etree.SubElement(body, f"{s}plek").text = plek
    etree.SubElement(body, f"{s}omschrijving").text = omschrijving
    return bericht


def soap_fault(
    faultcode: str, faultstring: str, detail: etree._Element | None = None
) -> bytes:
    envelope = etree.Element(f"{{{NS_SOAP11}}}Envelope", nsmap={"soap": NS_SOAP11})
    body = etree.SubElement(envelope, f"{{{NS_SOAP11}}}Body")
    fault = etree.SubElement(body, f"{{{NS_SOAP11}}}Fault")
    etree.SubElement(fault, "faultcode").text = f"soap:{faultcode}"
    etree.SubElement(fault, "faultstring").text = faultstring
    if detail is not None:
        etree.SubElement(fault, "detail").append(detail)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


# The backoffice over plain HTTP -------------------------------------------------


@dataclass(frozen=True)
class Behaviour:
    """What the backoffice does with a request to one path."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/xml; charset=utf-8"
    hang: bool = False
    hang_in_body: bool = False  # headers and a first part, then nothing more
    close_delimited: bool = False  # no Content-Length: the close ends it
    http10: bool = False  # HTTP/1.0, and the connection is good for one answer
    password: str | None = None  # basic auth required: "user:password"
    unavailable_first: int = 0  # the first this many requests get a 503


@dataclass(frozen=True)
class Received:
    """One request as the backoffice got it."""

    path: str
    method: str
    headers: dict[str, str]
    body: bytes
    client_cn: str | None


@dataclass
class Backoffice:
    """An HTTP server that plays a legacy backoffice, path by path."""

    tls: ssl.SSLContext | None = None
    host: str = "127.0.0.1"
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    abandoned: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer((self.host, 0), _handler(self))
        self.server.daemon_threads = True
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(
                self.server.socket, server_side=True
            )
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}{path}"

    def on(self, path: str, behaviour: Behaviour) -> str:
        """Tell the backoffice what to do at ``path``; returns its URL."""
        self.behaviours[path] = behaviour
        return self.url(path)

    def requests_to(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def _handler(backoffice: Backoffice) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.handle_request()

        def do_PUT(self) -> None:
            self.handle_request()

        def handle_request(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            client_cn = None
            if backoffice.tls is not None:
                connection: Any = self.connection
                certificate = connection.getpeercert()
                subject = dict(pair[0] for pair in certificate.get("subject", ()))
                client_cn = subject.get("commonName")
            with backoffice.lock:
                backoffice.received.append(
                    Received(
                        self.path,
                        self.command,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                        client_cn,
                    )
                )
                ordinal = sum(1 for r in backoffice.received if r.path == self.path)
            behaviour = backoffice.behaviours.get(self.path, Behaviour(status=404))
            if ordinal <= behaviour.unavailable_first:
                self.answer(
                    Behaviour(status=503, body=b"busy", content_type="text/plain")
                )
                return
            if behaviour.hang_in_body:
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", behaviour.content_type)
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    self.wfile.write(b"<soap:Envelope")
                    self.wfile.flush()
                except OSError:
                    # The client gave up after the headers, before this part.
                    backoffice.abandoned.set()
                    return
            if behaviour.hang or behaviour.hang_in_body:
                self.hang()
                return
            if behaviour.password is not None:
                import base64

                expected = "Basic " + base64.b64encode(
                    behaviour.password.encode()
                ).decode("ascii")
                if self.headers.get("Authorization") != expected:
                    self.answer(
                        Behaviour(status=401, body=b"", content_type="text/plain")
                    )
                    return
            self.answer(behaviour)

        def answer(self, behaviour: Behaviour) -> None:
            if behaviour.http10:
                self.protocol_version = "HTTP/1.0"
            self.send_response(behaviour.status)
            self.send_header("Content-Type", behaviour.content_type)
            if behaviour.close_delimited:
                self.send_header("Connection", "close")
                self.close_connection = True
            else:
                self.send_header("Content-Length", str(len(behaviour.body)))
            self.end_headers()
            self.wfile.write(behaviour.body)
            if behaviour.http10:
                # An HTTP/1.0 server is done with the connection, but closes
                # it only when the client sends more or goes away, so that a
                # client that reuses it always finds it dead.
                self.wfile.flush()
                self.connection.settimeout(HANG_LIMIT)
                try:
                    self.connection.recv(1)
                except OSError:
                    pass
                self.close_connection = True

        def hang(self) -> None:
            """Never answer; notice when the client gives up and closes."""
            backoffice.arrived.set()
            self.connection.settimeout(HANG_LIMIT)
            try:
                while not backoffice.release.is_set():
                    if not self.connection.recv(1):
                        backoffice.abandoned.set()
                        break
            except OSError:
                backoffice.abandoned.set()
            self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def backoffice() -> Iterator[Backoffice]:
    service = Backoffice()
    yield service
    service.close()


@pytest.fixture
def refused_url() -> str:
    """A URL on a port where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/stuf"


# Certificates ---------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """PEM files of a throwaway CA, a server, a client, and a stranger."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_ca: Path
    stranger_cert: Path
    stranger_key: Path
    chained_cert: Path  # issued by an intermediate CA, which follows it
    chained_key: Path

    def server_context(self) -> ssl.SSLContext:
        """TLS for the backoffice: its own certificate, and a client
        certificate from the CA required."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_cert, self.server_key)
        context.load_verify_locations(self.ca)
        context.verify_mode = ssl.CERT_REQUIRED
        return context


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer or (name, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        ).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    elif not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(folder: Path, name: str, certificate: x509.Certificate) -> Path:
    path = folder / f"{name}.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def _write_key(folder: Path, name: str, key: ec.EllipticCurvePrivateKey) -> Path:
    path = folder / f"{name}.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca_key = _key()
    ca = _certificate("EMO test CA", ca_key, None, ca=True)
    issuer = (ca.subject, ca_key)
    server_key, client_key = _key(), _key()
    server = _certificate("backoffice.test", server_key, issuer, server=True)
    client = _certificate("emo-broker", client_key, issuer)
    stranger_ca_key = _key()
    stranger_ca = _certificate("Someone else's CA", stranger_ca_key, None, ca=True)
    stranger_key = _key()
    stranger = _certificate(
        "stranger", stranger_key, (stranger_ca.subject, stranger_ca_key)
    )
    intermediate_key = _key()
    intermediate = _certificate(
        "EMO test intermediate", intermediate_key, issuer, ca=True
    )
    chained_key = _key()
    chained = _certificate(
        "emo-broker-2", chained_key, (intermediate.subject, intermediate_key)
    )
    chained_cert = _write(folder, "chained", chained)
    chained_cert.write_bytes(
        chained_cert.read_bytes()
        + intermediate.public_bytes(serialization.Encoding.PEM)
    )
    return Pki(
        ca=_write(folder, "ca", ca),
        server_cert=_write(folder, "server", server),
        server_key=_write_key(folder, "server", server_key),
        client_cert=_write(folder, "client", client),
        client_key=_write_key(folder, "client", client_key),
        stranger_ca=_write(folder, "stranger-ca", stranger_ca),
        stranger_cert=_write(folder, "stranger", stranger),
        stranger_key=_write_key(folder, "stranger", stranger_key),
        chained_cert=chained_cert,
        chained_key=_write_key(folder, "chained", chained_key),
    )


@pytest.fixture
def tls_backoffice(pki: Pki) -> Iterator[Backoffice]:
    """The backoffice over HTTPS, requiring a client certificate of the CA."""
    service = Backoffice(tls=pki.server_context())
    yield service
    service.close()


# The legacy SOAP service, made with spyne -------------------------------------------


LEGACY_NS = "urn:gemeente:legacy:zaken"


@dataclass
class LegacySoap:
    """The spyne service: where it is and how often its WSDL was fetched."""

    url: str
    wsdl_fetches: int = 0
    calls: list[str] = field(default_factory=list)

    @property
    def wsdl(self) -> str:
        return f"{self.url}?wsdl"


def registreer_zaak(identificatie: str, omschrijving: str = "") -> bytes:
    """A SOAP request for the legacy service's registreerZaak."""
    return (
        f'<soapenv:Envelope xmlns:soapenv="{NS_SOAP11}" '
        f'xmlns:z="{LEGACY_NS}"><soapenv:Header/><soapenv:Body>'
        f"<z:registreerZaak><z:identificatie>{identificatie}</z:identificatie>"
        f"<z:omschrijving>{omschrijving}</z:omschrijving></z:registreerZaak>"
        "</soapenv:Body></soapenv:Envelope>"
    ).encode()


class _ThreadingWsgiServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietWsgiHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def legacy_soap() -> Iterator[LegacySoap]:
    """A backoffice with a WSDL: ``registreerZaak(identificatie, omschrijving)``
    answers "ontvangen <identificatie>"; identificatie ``FOUT-CLIENT`` and
    ``FOUT-SERVER`` get a SOAP Fault with a Fo03 of that plek."""
    # spyne 2.14's own Twisted server imports twisted.python.constants, which
    # current Twisted no longer has; its WSGI application runs anywhere.
    from spyne import Application, Fault, ServiceBase, Unicode, rpc
    from spyne.protocol.soap import Soap11
    from spyne.server.wsgi import WsgiApplication

    # spyne logs every Fault it sends with a traceback, at error level.
    logging.getLogger("spyne").setLevel(logging.CRITICAL)
    state = LegacySoap("")

    class Zaken(ServiceBase):  # type: ignore[misc]
        @rpc(Unicode, Unicode, _returns=Unicode)  # type: ignore[untyped-decorator]
        def registreerZaak(ctx: Any, identificatie: str, omschrijving: str) -> str:
            state.calls.append(identificatie)
            if identificatie in ("FOUT-CLIENT", "FOUT-SERVER"):
                plek = identificatie.split("-")[1].lower()
                raise Fault(
                    faultcode=plek.capitalize(),
                    faultstring=f"zaak {identificatie} geweigerd",
                    detail=foutbericht(plek, berichtcode="Fo03"),
                )
            return f"ontvangen {identificatie}"

    application = Application(
        [Zaken],
        tns=LEGACY_NS,
        in_protocol=Soap11(validator="lxml"),
        out_protocol=Soap11(),
    )
    wsgi = WsgiApplication(application)

    def counting(environ: dict[str, Any], start_response: Any) -> Any:
        if "wsdl" in environ.get("QUERY_STRING", "").lower():
            state.wsdl_fetches += 1
        return wsgi(environ, start_response)

    server = make_server(
        "127.0.0.1",
        0,
        counting,
        server_class=_ThreadingWsgiServer,
        handler_class=_QuietWsgiHandler,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/"
    yield state
    server.shutdown()
    server.server_close()
