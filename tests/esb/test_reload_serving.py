"""A reload reads the routes off the reactor thread: the broker answers
messages while a ``soap`` destination's WSDL is being fetched.

The broker runs in this process (:class:`tests.esb.sources.conftest.Service`:
the routed dispatcher, a SQLite journal, a real listening port, the reactor
in a background thread). The WSDL is served by :class:`HeldWsdl`, a real HTTP
server that holds every fetch until the test lets it go, so "the reload is
still fetching" is a fact the test controls, not a guess about timing.
Messages go to :class:`~tests.esb.processes.Sink` servers over HTTP.
"""

from __future__ import annotations

import http.client
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from esb.app import ReloadResult
from tests.esb.processes import ACTION, Sink, kennisgeving
from tests.esb.sources.conftest import Service
from tests.esb.sources.reactor_thread import in_reactor, start_reactor, wait_for

# How long a held fetch waits for the test at most, so that a failing test
# does not leave the broker's reload thread behind for long.
HOLD_LIMIT = 30.0
# How long the test watches for a fetch that must not come.
ABSENCE = 1.0

WSDL = """\
<definitions xmlns="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:tns="urn:emo:test:traag" targetNamespace="urn:emo:test:traag">
  <types>
    <xsd:schema targetNamespace="urn:emo:test:traag"
        elementFormDefault="qualified">
      <xsd:element name="registreer" type="xsd:string"/>
      <xsd:element name="ontvangen" type="xsd:string"/>
    </xsd:schema>
  </types>
  <message name="registreerIn"><part name="body" element="tns:registreer"/></message>
  <message name="registreerUit"><part name="body" element="tns:ontvangen"/></message>
  <portType name="Traag">
    <operation name="registreer">
      <input message="tns:registreerIn"/><output message="tns:registreerUit"/>
    </operation>
  </portType>
  <binding name="TraagSoap" type="tns:Traag">
    <soap:binding style="document"
        transport="http://schemas.xmlsoap.org/soap/http"/>
    <operation name="registreer">
      <soap:operation soapAction="urn:emo:test:registreer"/>
      <input><soap:body use="literal"/></input>
      <output><soap:body use="literal"/></output>
    </operation>
  </binding>
  <service name="TraagService">
    <port name="TraagPort" binding="tns:TraagSoap">
      <soap:address location="http://127.0.0.1:9/traag"/>
    </port>
  </service>
</definitions>
"""


class HeldWsdl:
    """Serves :data:`WSDL` at ``/traag?wsdl``, each fetch held until
    :meth:`release`; any other path is 404. Counts the fetches, and the
    most that were under way at once."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.fetches = 0
        self.most_at_once = 0
        self._under_way = 0
        self._changed = threading.Condition()
        held = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/traag?wsdl":
                    self.send_error(404)
                    return
                held._begin()
                try:
                    held.released.wait(HOLD_LIMIT)
                    body = WSDL.encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/xml")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    held._end()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _begin(self) -> None:
        with self._changed:
            self.fetches += 1
            self._under_way += 1
            self.most_at_once = max(self.most_at_once, self._under_way)
            self._changed.notify_all()

    def _end(self) -> None:
        with self._changed:
            self._under_way -= 1

    def fetched(self, count: int, seconds: float) -> bool:
        """Whether ``count`` fetches have begun within ``seconds``."""
        with self._changed:
            return self._changed.wait_for(lambda: self.fetches >= count, seconds)

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


def routes(sink: Sink, wsdl: str | None = None) -> str:
    """Kennisgevingen published to ``sink``; with ``wsdl``, vragen answered
    by a soap destination described by it."""
    vragen = traag = ""
    if wsdl is not None:
        vragen = """
          - id: vragen
            from: soap:/stuf/zds
            match: {berichtcode: Lv01}
            reply: traag"""
        traag = f"""
          traag: {{type: soap, wsdl: "{wsdl}", timeout: 30, retry: {{attempts: 1}}}}"""
    return f"""
        routes:
          - id: kennisgevingen
            from: soap:/stuf/zds
            match: {{berichtcode: Lk01}}
            publish: [sink]{vragen}
        destinations:
          sink: {{type: http, url: "http://127.0.0.1:{sink.port}/stuf"}}{traag}
        """


@dataclass
class Running:
    """A started in-process broker, its first routes sending kennisgevingen
    to ``first``; ``second`` and ``wsdl`` are there for the routes a test
    reloads."""

    service: Service
    first: Sink
    second: Sink
    wsdl: HeldWsdl
    answers: list[tuple[int, str]] = field(default_factory=list)

    @property
    def port(self) -> int:
        port = self.service.service.port
        assert port is not None
        return int(getattr(port.getHost(), "port", 0))

    def send(self, referentienummer: str) -> tuple[int, bytes]:
        """POST a kennisgeving to /stuf/zds; the answer's status and body."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.request(
            "POST",
            "/stuf/zds",
            kennisgeving(referentienummer),
            {"Content-Type": "text/xml", "SOAPAction": ACTION},
        )
        answer = connection.getresponse()
        body = answer.read()
        connection.close()
        return answer.status, body

    def reload_over_http(self) -> threading.Thread:
        """``POST /admin/reload`` as ``emo reload`` does, in a thread of its
        own; its status and text are appended to ``answers``."""

        def ask() -> None:
            connection = http.client.HTTPConnection(
                "127.0.0.1", self.port, timeout=HOLD_LIMIT + 30
            )
            connection.request(
                "POST",
                "/admin/reload",
                b"",
                {"X-EMO-Admin-Token": self.service.service.admin_token},
            )
            answer = connection.getresponse()
            self.answers.append((answer.status, answer.read().decode()))
            connection.close()

        asking = threading.Thread(target=ask, daemon=True)
        asking.start()
        return asking


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    start_reactor()
    first, second, wsdl = Sink(), Sink(), HeldWsdl()
    service = Service(tmp_path / "service", routes(first))
    try:
        service.start()
        yield Running(service, first, second, wsdl)
    finally:
        # A held fetch first: a stop waits for the reload that made it.
        wsdl.close()
        service.stop()
        first.close()
        second.close()


def test_messages_are_answered_while_a_reload_fetches_a_wsdl(
    running: Running,
) -> None:
    """While ``POST /admin/reload`` waits for a soap destination's WSDL, a
    kennisgeving is answered (Bv03) and delivered by the routes in force;
    once the WSDL comes the reload answers "routes reloaded", and the next
    kennisgeving takes the new routes."""
    running.service.write_routes(
        routes(running.second, running.wsdl.url + "/traag?wsdl")
    )
    asking = running.reload_over_http()
    assert running.wsdl.fetched(1, 10), "the reload never fetched the WSDL"

    during = str(uuid.uuid4())
    status, body = running.send(during)
    assert status == 200 and b"Bv03" in body
    assert running.answers == [], "the reload answered before its WSDL came"
    wait_for(lambda: running.first.received[during], what="delivery by the old routes")

    running.wsdl.release()
    asking.join(HOLD_LIMIT)
    assert running.answers == [(200, "routes reloaded\n")]

    after = str(uuid.uuid4())
    assert running.send(after)[0] == 200
    wait_for(lambda: running.second.received[after], what="delivery by the new routes")
    assert not running.first.received[after]


def test_reloads_asked_for_together_are_built_one_after_the_other(
    running: Running,
) -> None:
    """A reload asked for while another is being built waits for it: the
    WSDL is never fetched twice at once, and each reload gets its own
    result."""
    running.service.write_routes(
        routes(running.second, running.wsdl.url + "/traag?wsdl")
    )
    results: list[ReloadResult] = []

    def twice() -> None:
        for _ in range(2):
            running.service.service.reload().addCallback(results.append)

    in_reactor(twice)
    assert running.wsdl.fetched(1, 10), "the reload never fetched the WSDL"
    # That the second does not fetch meanwhile takes a wait to show; one
    # that did not wait its turn would have fetched within it many times.
    assert not running.wsdl.fetched(2, ABSENCE)

    running.wsdl.release()
    wait_for(lambda: len(results) == 2, what="both reloads")
    assert [result.ok for result in results] == [True, True]
    assert running.wsdl.fetches == 2
    assert running.wsdl.most_at_once == 1


def test_a_wsdl_that_cannot_be_read_refuses_the_reload_and_keeps_the_routes(
    running: Running,
) -> None:
    """A soap destination whose WSDL answers 404: the reload answers 409
    naming the WSDL, and kennisgevingen still take the routes in force."""
    running.service.write_routes(routes(running.second, running.wsdl.url + "/weg?wsdl"))

    running.reload_over_http().join(HOLD_LIMIT)

    [(status, text)] = running.answers
    assert status == 409
    assert text.startswith("reload refused, routes unchanged:\n")
    assert "destination 'traag': cannot read the WSDL" in text
    reference = str(uuid.uuid4())
    assert running.send(reference)[0] == 200
    wait_for(lambda: running.first.received[reference], what="the old routes")
