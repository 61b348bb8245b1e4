"""End to end: the fast ingress (esb/ingress.py) over real sockets.

A SOAP POST to /stuf/zds or /stuf/bg is read and answered by the ingress
itself; any other request is handed to twisted.web on the same connection,
which answers it as it always did. The two can be told apart by one header:
twisted.web names itself in ``Server``, the ingress sends none. The tests
write raw bytes, so that they decide exactly how a request is framed and cut
into writes: persistent connections, pipelining, chunked bodies,
``Expect: 100-continue``, HTTP/1.0, bodies over the limit, malformed requests,
and clients that go away at the wrong moment.

What takes hours or a client that stops reading (the idle time-out, back
pressure) is tested in memory at the end, with a clock driven by the test.
"""

from __future__ import annotations

import signal
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer, protocol, task
from twisted.internet.testing import StringTransport

from esb.answers import Answer
from esb.app import DRAIN_SECONDS
from esb.ingress import EAGER_READ, Ingress, IngressFactory
from esb.schemaset import SchemaRegistry
from esb.web import make_site
from tests.conftest import EXAMPLES
from tests.esb.conftest import (
    SMALL_LIMIT,
    ZKN_ACTION,
    HeldBackoffice,
    Response,
    RunningBroker,
    assert_dispatched,
    assert_fault,
    read_fault,
    request_stuurgegevens,
    start_broker,
)

LK01 = (EXAMPLES / "gisvg-flow" / "creeerZaak_Lk01.request.xml").read_text()
LK01_ACTION = f'"{ZKN_ACTION}creeerZaak_Lk01"'
LK01_REFERENCE = "9fc3e711-869f-44a6-aba9-1b21e21841e4"
BIG = EXAMPLES / "regressions" / "Issue329-voegZaakdocumentToe_Lk01.request.xml"
WAIT = 30.0
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\n\r\n"


def kennisgeving(reference: str | None = None) -> tuple[str, bytes]:
    """GISvg's creeerZaak with a referentienummer of its own (a no-route
    fault echoes it as crossRefnummer, which tells answers apart)."""
    reference = reference or str(uuid.uuid4())
    return reference, LK01.replace(LK01_REFERENCE, reference, 1).encode()


def head(
    path: str = "/stuf/zds",
    *,
    method: str = "POST",
    length: int | None = None,
    version: str = "HTTP/1.1",
    extra: tuple[str, ...] = (),
) -> bytes:
    """A request head with the SOAP headers, and Content-Length if given."""
    lines = [f"{method} {path} {version}", "Host: emo"]
    if method == "POST":
        lines += ["Content-Type: text/xml; charset=utf-8", f"SOAPAction: {LK01_ACTION}"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines += extra
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def post(
    body: bytes,
    *,
    path: str = "/stuf/zds",
    version: str = "HTTP/1.1",
    extra: tuple[str, ...] = (),
) -> bytes:
    return head(path, length=len(body), version=version, extra=extra) + body


def chunked(body: bytes, size: int = 1000) -> bytes:
    """``body`` in chunked transfer coding, with a chunk extension and a
    trailer field as RFC 9112 section 7.1 allows."""
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    framed = b"".join(b"%x;stuk=ja\r\n%s\r\n" % (len(p), p) for p in pieces)
    return framed + b"0\r\nX-Nagekomen: ja\r\n\r\n"


@dataclass(frozen=True)
class Received:
    """One answer as it came over the wire."""

    version: bytes
    response: Response

    @property
    def status(self) -> int:
        return self.response.status

    @property
    def by_twisted(self) -> bool:
        return self.response.headers.get("server", "").startswith("TwistedWeb")


class Wire:
    """A client connection that writes bytes as given and reads answers one
    at a time (Content-Length, or up to the close)."""

    def __init__(self, broker: RunningBroker) -> None:
        self.sock = socket.create_connection((broker.host, broker.port), timeout=WAIT)
        self.file = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def trickle(self, data: bytes) -> None:
        """Write ``data`` one byte at a time."""
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for index in range(len(data)):
            self.sock.send(data[index : index + 1])

    def answer(self) -> Received:
        status_line = self.file.readline()
        assert status_line, "the broker closed the connection without an answer"
        version, status, *_ = status_line.split(b" ", 2)
        headers: dict[str, str] = {}
        while (line := self.file.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = self.file.read(int(headers["content-length"]))
        elif int(status) in (100, 204, 304):
            body = b""
        else:
            body = self.file.read()
        return Received(version, Response(int(status), headers, body))

    def closed_by_broker(self) -> bool:
        """Whether the broker has closed its side (nothing more to read)."""
        try:
            return self.file.read(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def wire(broker: RunningBroker) -> Iterator[Wire]:
    connection = Wire(broker)
    yield connection
    connection.close()


def assert_no_route_for(
    answer: Received, reference: str, official: SchemaRegistry
) -> None:
    """The session's broker has no routes: a valid kennisgeving gets a
    StUF040 Fo03 that answers ``reference``."""
    fault = assert_dispatched(answer.response, official=official)
    assert fault is not None and fault.code == "StUF040", answer
    assert fault.stuurgegeven("crossRefnummer") == reference


# Persistent connections and pipelining -----------------------------------------


def test_several_soap_posts_on_one_connection_are_answered_by_the_ingress(
    wire: Wire, official: SchemaRegistry
) -> None:
    """Three SOAP POSTs one after another on a persistent connection each
    get their own complete answer from the ingress, with Content-Type,
    Content-Length and Date, and the connection stays open."""
    for _ in range(3):
        reference, body = kennisgeving()
        wire.send(post(body))
        answer = wire.answer()
        assert answer.version == b"HTTP/1.1"
        assert not answer.by_twisted, answer.response.headers
        assert answer.response.content_type == "text/xml; charset=utf-8"
        assert "date" in answer.response.headers
        assert "connection" not in answer.response.headers
        assert_no_route_for(answer, reference, official)


def test_two_pipelined_soap_posts_are_answered_in_order(
    wire: Wire, official: SchemaRegistry
) -> None:
    """Two SOAP POSTs in a single write get their answers in the order they
    were sent, whatever the broker does with them in between."""
    first, first_body = kennisgeving()
    second, second_body = kennisgeving()
    wire.send(post(first_body) + post(second_body))
    assert_no_route_for(wire.answer(), first, official)
    assert_no_route_for(wire.answer(), second, official)


def test_soap_post_then_healthz_on_one_connection_goes_to_twisted(
    wire: Wire, official: SchemaRegistry
) -> None:
    """After a SOAP POST, a GET /healthz on the same connection is handed to
    twisted.web, which answers it and every request after it, SOAP POSTs
    included, on that connection."""
    reference, body = kennisgeving()
    wire.send(post(body))
    first = wire.answer()
    assert not first.by_twisted
    assert_no_route_for(first, reference, official)

    wire.send(head("/healthz", method="GET"))
    health = wire.answer()
    assert health.status == 200 and health.by_twisted
    assert b'"status": "ok"' in health.response.body

    reference, body = kennisgeving()
    wire.send(post(body))
    last = wire.answer()
    assert last.by_twisted
    assert_no_route_for(last, reference, official)


def test_pipelined_soap_post_healthz_and_soap_post_in_one_write(
    wire: Wire, official: SchemaRegistry
) -> None:
    """A SOAP POST, a GET /healthz and another SOAP POST written at once are
    all answered, in order: the hand-over to twisted.web starts exactly at
    the second request."""
    first, first_body = kennisgeving()
    third, third_body = kennisgeving()
    wire.send(post(first_body) + head("/healthz", method="GET") + post(third_body))
    assert_no_route_for(wire.answer(), first, official)
    assert wire.answer().status == 200
    assert_no_route_for(wire.answer(), third, official)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        pytest.param(head("/stuf/zds?wsdl", method="GET"), 200, id="wsdl"),
        pytest.param(head("/stuf/zds", method="PUT", length=0), 405, id="put"),
        pytest.param(post(b"<x/>", path="/stuf/zaken"), 404, id="other-path"),
        pytest.param(
            post(
                kennisgeving()[1],
                extra=("Connection: Upgrade", "Upgrade: websocket"),
            ),
            500,
            id="upgrade",
        ),
    ],
)
def test_requests_the_ingress_does_not_take_get_twisteds_answer(
    wire: Wire, request_bytes: bytes, status: int
) -> None:
    """A WSDL query, another method, another path or an upgrade after a SOAP
    POST on the same connection get what twisted.web has always answered."""
    wire.send(post(kennisgeving()[1]))
    assert not wire.answer().by_twisted
    wire.send(request_bytes)
    answer = wire.answer()
    assert answer.by_twisted
    assert answer.status == status, answer


# Framing -----------------------------------------------------------------------


def test_chunked_body_is_read_by_the_ingress(
    wire: Wire, official: SchemaRegistry
) -> None:
    """A body in chunked transfer coding, with chunk extensions and a
    trailer, is decoded; a SOAP POST after it on the same connection is
    read from where the chunked body ended."""
    reference, body = kennisgeving()
    wire.send(head(extra=("Transfer-Encoding: chunked",)) + chunked(body))
    answer = wire.answer()
    assert not answer.by_twisted
    assert_no_route_for(answer, reference, official)

    reference, body = kennisgeving()
    wire.send(post(body))
    assert_no_route_for(wire.answer(), reference, official)


def test_request_trickling_in_byte_by_byte(
    wire: Wire, official: SchemaRegistry
) -> None:
    """A chunked request and then one with Content-Length, written one byte
    at a time, are read as if they had come at once."""
    first, first_body = kennisgeving()
    second, second_body = kennisgeving()
    wire.trickle(
        head(extra=("Transfer-Encoding: chunked",))
        + chunked(first_body, size=700)
        + post(second_body)
    )
    assert_no_route_for(wire.answer(), first, official)
    assert_no_route_for(wire.answer(), second, official)


def test_expect_100_continue_gets_100_before_the_body(
    wire: Wire, official: SchemaRegistry
) -> None:
    """A client that asks ``Expect: 100-continue`` hears 100 Continue after
    its head, sends the body, and gets the answer."""
    reference, body = kennisgeving()
    wire.send(head(length=len(body), extra=("Expect: 100-continue",)))
    interim = wire.answer()
    assert interim.status == 100 and not interim.response.body
    wire.send(body)
    assert_no_route_for(wire.answer(), reference, official)


def test_http_10_is_answered_in_http_10_and_the_connection_closed(
    wire: Wire, official: SchemaRegistry
) -> None:
    """An HTTP/1.0 request gets an HTTP/1.0 answer with its length, and the
    broker closes the connection after it, as twisted.web does."""
    reference, body = kennisgeving()
    wire.send(post(body, version="HTTP/1.0"))
    answer = wire.answer()
    assert answer.version == b"HTTP/1.0"
    assert not answer.by_twisted
    assert_no_route_for(answer, reference, official)
    assert wire.closed_by_broker()


def test_connection_close_is_honoured(wire: Wire, official: SchemaRegistry) -> None:
    """``Connection: close`` gets its answer with ``Connection: close``, then
    the broker closes, ignoring anything sent after."""
    reference, body = kennisgeving()
    wire.send(post(body, extra=("Connection: close",)) + post(body))
    answer = wire.answer()
    assert answer.response.headers.get("connection") == "close"
    assert_no_route_for(answer, reference, official)
    assert wire.closed_by_broker()


# Over the limit ------------------------------------------------------------------


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_body_over_the_limit_gets_413_and_the_connection_goes_on(
    small_broker: RunningBroker, official: SchemaRegistry, framing: str
) -> None:
    """A 150 KB request to a broker that takes 64 KiB gets 413 with a StUF055
    fault naming the limit, whether its length was announced or not; the
    body is read to its end, so the next request on the connection is
    answered as usual."""
    wire = Wire(small_broker)
    try:
        big = BIG.read_bytes()
        assert len(big) > SMALL_LIMIT
        if framing == "chunked":
            wire.send(head(extra=("Transfer-Encoding: chunked",)) + chunked(big, 9000))
        else:
            wire.send(post(big))
        refused = wire.answer()
        assert not refused.by_twisted
        fault = assert_fault(refused.response, "StUF055", official=official, status=413)
        assert str(SMALL_LIMIT) in fault.omschrijving

        reference, body = kennisgeving()
        wire.send(post(body))
        assert_no_route_for(wire.answer(), reference, official)
    finally:
        wire.close()


# Malformed requests ---------------------------------------------------------------


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(b"POST /stuf/zds HTTP/1.1 toegift\r\n\r\n", id="four-parts"),
        pytest.param(b"POST /stuf/zds\r\nHost: emo\r\n\r\n", id="no-version"),
        pytest.param(
            b"POST /stuf/zds HTTP/1.1\r\nGeen dubbele punt\r\n\r\n",
            id="header-without-colon",
        ),
        pytest.param(
            b"POST /stuf/zds HTTP/1.1\r\nContent-Length: tien\r\n\r\n",
            id="length-not-a-number",
        ),
        pytest.param(
            b"POST /stuf/zds HTTP/1.1\r\nContent-Length: 4\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n",
            id="length-and-chunked",
        ),
        pytest.param(
            head(extra=("Transfer-Encoding: chunked",)) + b"zz\r\nabc\r\n0\r\n\r\n",
            id="chunk-size-not-hex",
        ),
        pytest.param(
            head(extra=("Transfer-Encoding: chunked",)) + b"3\r\nabcX\r\n0\r\n\r\n",
            id="chunk-without-crlf",
        ),
    ],
)
def test_malformed_request_gets_twisteds_400_and_the_connection_closed(
    wire: Wire, request_bytes: bytes
) -> None:
    """A malformed request to a SOAP endpoint gets what twisted.web has
    always answered it: a bare 400 Bad Request, then the connection closed."""
    wire.send(request_bytes)
    received = wire.file.read()
    assert received == BAD_REQUEST


@pytest.mark.parametrize("writes", [1, 2], ids=["one-write", "two-writes"])
def test_header_line_over_the_limit_gets_431(wire: Wire, writes: int) -> None:
    """A SOAP POST with a 20 KiB SOAPAction (over twisted.web's 16 KiB per
    line) gets 431, whether it arrives at once or in parts."""
    _, body = kennisgeving()
    request = (
        b"POST /stuf/zds HTTP/1.1\r\nHost: emo\r\nContent-Type: text/xml\r\n"
        b'SOAPAction: "' + b"x" * 20_480 + b'"\r\n'
        b"Content-Length: %d\r\n\r\n" % len(body)
    ) + body
    if writes == 1:
        wire.send(request)
    else:
        wire.send(request[:10_000])
        time.sleep(0.05)
        wire.send(request[10_000:])
    answer = wire.answer()
    assert answer.status == 431, answer


# Clients that go away ---------------------------------------------------------------


ROUTES = """\
version: 1
validation: {default: "off"}
routes:
  - {id: alles, from: "soap:/stuf/zds", reply: achterkant}
destinations:
  achterkant: {type: http, url: "http://127.0.0.1:%d/", timeout: 30}
"""


@pytest.fixture
def held(tmp_path: Path, held_backoffice: HeldBackoffice) -> Iterator[RunningBroker]:
    """A broker whose answers wait for :class:`HeldBackoffice`."""
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES % held_backoffice.server_address[1])
    running = start_broker(tmp_path, schemas=(), routes=str(routes))
    yield running
    running.stop()


def test_clients_that_go_away_leave_the_broker_serving_and_stoppable(
    held: RunningBroker, held_backoffice: HeldBackoffice
) -> None:
    """A client that closes halfway through its body, and one that closes
    while its answer is being made, cost the broker nothing: it answers the
    next client, and a graceful stop does not wait for requests that are
    gone."""
    halfway = Wire(held)
    halfway.send(post(kennisgeving()[1])[:2000])
    time.sleep(0.1)
    halfway.close()

    impatient = Wire(held)
    impatient.send(post(kennisgeving()[1]))
    assert held_backoffice.arrived.wait(WAIT), held.log_text()
    impatient.sock.setsockopt(
        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
    )
    impatient.close()  # a reset, before the answer
    time.sleep(0.1)
    held_backoffice.let_go.set()

    patient = Wire(held)
    try:
        patient.send(post(kennisgeving()[1]))
        answer = patient.answer()
    finally:
        patient.close()
    assert answer.status == 200 and answer.response.body == HeldBackoffice.answer
    assert not answer.by_twisted

    began = time.monotonic()
    held.process.send_signal(signal.SIGTERM)
    held.process.wait(DRAIN_SECONDS + 10)
    assert time.monotonic() - began < DRAIN_SECONDS / 2, held.log_text()[-2000:]
    assert held.process.returncode == 0, held.log_text()[-2000:]
    assert "Traceback" not in held.log_text()


def test_fault_answers_keep_their_stuurgegevens(
    wire: Wire, official: SchemaRegistry
) -> None:
    """A fault given on the fast path is the same StUF foutbericht as ever:
    a Fo03 to the zender, valid against stuf0301.xsd."""
    reference, body = kennisgeving()
    wire.send(post(body))
    answer = wire.answer()
    found = read_fault(answer.response)
    assert_fault(
        answer.response,
        found.code,
        official=official,
        request=request_stuurgegevens(body),
    )
    assert found.stuurgegeven("crossRefnummer") == reference


# In memory: time and back pressure ----------------------------------------------


class WaitingBroker:
    """Stands in for the broker: each message waits for the test to answer."""

    system = None

    def __init__(self) -> None:
        self.waiting: list[defer.Deferred[Answer]] = []

    def receive(self, source: Any, raw: bytes, **_: Any) -> defer.Deferred[Answer]:
        self.waiting.append(defer.Deferred())
        return self.waiting[-1]

    def answer(self) -> None:
        self.waiting.pop(0).callback(Answer(200, b"<ok/>"))


@pytest.fixture
def clock() -> task.Clock:
    return task.Clock()


@pytest.fixture
def in_memory(
    clock: task.Clock,
) -> tuple[Ingress, StringTransport, WaitingBroker, float]:
    """An ingress on an in-memory transport, its broker and its time-out."""
    waiting = WaitingBroker()

    def broker() -> Any:
        return waiting

    site = make_site(broker, lambda: {}, max_body_bytes=SMALL_LIMIT)
    site.reactor = clock
    ingress = IngressFactory(site).buildProtocol(None)
    transport = StringTransport()
    connection: protocol.Protocol = ingress
    connection.makeConnection(transport)
    return ingress, transport, waiting, float(site.timeOut or 0)


def test_idle_connection_times_out_but_not_while_the_broker_works(
    clock: task.Clock,
    in_memory: tuple[Ingress, StringTransport, WaitingBroker, float],
) -> None:
    """A connection on which nothing happens for the site's time-out (12
    hours, as in twisted.web) is closed; one whose request is still with the
    broker is not, and its idle time counts from the answer."""
    ingress, transport, waiting, timeout = in_memory
    ingress.dataReceived(post(kennisgeving()[1]))
    clock.advance(timeout + 1)
    assert not transport.disconnecting

    waiting.answer()
    assert transport.value().startswith(b"HTTP/1.1 200 OK\r\n")
    clock.advance(timeout - 1)
    assert not transport.disconnecting
    clock.advance(2)
    assert transport.disconnecting


def test_reading_pauses_while_pipelined_requests_pile_up(
    in_memory: tuple[Ingress, StringTransport, WaitingBroker, float],
) -> None:
    """While a request is with the broker, the requests pipelined behind it
    are buffered up to 16 KiB (as twisted.web does), then the connection is
    no longer read; after the answers it is read again."""
    ingress, transport, waiting, _ = in_memory
    request = post(kennisgeving()[1])
    ingress.dataReceived(request)
    count = EAGER_READ // len(request) + 1
    for _ in range(count):
        assert transport.producerState == "producing"
        ingress.dataReceived(request)
    assert transport.producerState == "paused"

    for _ in range(count + 1):
        waiting.answer()
    assert transport.value().count(b"HTTP/1.1 200 OK") == count + 1
    assert transport.producerState == "producing"


def test_reading_pauses_while_the_client_does_not_read_its_answers(
    in_memory: tuple[Ingress, StringTransport, WaitingBroker, float],
) -> None:
    """When the transport's send buffer is full it pauses the ingress, which
    stops reading requests, also after answering one that was already on its
    way, until the buffer drains."""
    ingress, transport, waiting, _ = in_memory
    ingress.pauseProducing()  # as the transport does when its buffer is full
    assert transport.producerState == "paused"

    ingress.dataReceived(post(kennisgeving()[1]))
    waiting.answer()
    assert transport.value().startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.producerState == "paused"

    ingress.resumeProducing()  # the buffer drained
    assert transport.producerState == "producing"
