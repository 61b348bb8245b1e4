"""The zaakregister's events through a real broker, to a file outbox and RabbitMQ.

``emo run`` with ``config/examples/zaak-events.yaml`` (or a variant that
sends every event to both destinations) and the official ZDS 1.2 schemas.
The register's database is a SQLite file in the test's folder
(``EMO_ZAAKREGISTER_URL``). Changes come in over SOAP as a backoffice sends
them, or are written to the register directly by the test process (as a
second EMO process sharing the database would); either way each change is
an event row, which the broker's ``zaakregister-events`` source publishes.

The kill test: while events are being published the broker gets SIGKILL,
more changes are made while it is down, and it is started again. In the end
every event has reached the outbox and RabbitMQ at least once, each message
valid against the official schemas, and every event is marked published.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pika
import pytest
import sqlalchemy as sa
from lxml import etree

from esb.envelope import open_envelope, parse_xml
from esb.identify import identify
from esb.routes import load_routes
from esb.routes.errors import RoutesError
from esb.schemaset import SchemaRegistry
from esb.sources.events import EventSource
from registers.zaakregister import Config, Zaakregister
from registers.zaakregister.model import Gebeurtenis
from tests.conftest import ROOT, ZDS_12
from tests.esb.conftest import EMO, Response
from tests.esb.sources.conftest import Service
from tests.esb.sources.reactor_thread import start_reactor, wait_for
from tests.registers.zaakregister import messages

EXAMPLE = ROOT / "config" / "examples" / "zaak-events.yaml"
NS = {
    "ZKN": "http://www.egem.nl/StUF/sector/zkn/0310",
    "StUF": "http://www.egem.nl/StUF/StUF0301",
}
SOORT = "ZKN:object/StUF:extraElementen/StUF:extraElement[@naam='emo.gebeurtenis']"
REFERENTIE = "ZKN:stuurgegevens/StUF:referentienummer"

# Every event to both destinations, for the kill test.
EVERY_EVENT = """
version: 1
sources:
  zaken:
    type: zaakregister-events
    organisatie: "0392"
    poll_seconds: 0.2
    batch: 25
routes:
  - id: zds
    from: soap:/stuf/zds
    reply: zaakregister
  - id: gebeurtenissen
    from: zaakregister-events:zaken
    publish: [outbox, rabbitmq]
destinations:
  zaakregister: {type: zaakregister, timeout: 30}
  outbox:
    type: file
    path: ${EMO_EVENTS_OUTBOX}
    timeout: 10
    retry: {attempts: 20, initial: 0.5, multiplier: 2, cap: 5, jitter: 0.1}
  rabbitmq:
    type: amqp
    url: amqp://guest:guest@${EMO_RABBITMQ_HOST}:5672/%2F
    exchange: ${EMO_EXCHANGE}
    exchange_type: topic
    routing_key: "{operation}.{entiteittype}"
    timeout: 10
    retry: {attempts: 20, initial: 0.5, multiplier: 2, cap: 5, jitter: 0.1}
"""


class Broker:
    """``emo run`` on a routes file, in the test's folder; killable."""

    def __init__(self, base: Path, routes: Path, env: dict[str, str]) -> None:
        self.base = base
        self.routes = routes
        self.data = base / "data"
        self.log = base / "emo.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "EMO_DATABASE_URL"},
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self) -> None:
        command = [str(EMO), "run", "--data", str(self.data), "--port", "0"]
        command += ["--routes", str(self.routes), "--schemas", str(ZDS_12)]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.base,
            )
        process = self.process

        def listening() -> bool:
            assert process.poll() is None, self.log.read_text()
            try:
                state = json.loads((self.data / "emo.state.json").read_text())
            except (OSError, ValueError):
                return False
            if state.get("pid") != process.pid:
                return False
            self.port = int(state["port"])
            return True

        wait_for(listening, 60, "the broker to start")

    def post(self, raw: bytes, action: str) -> Response:
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(
                "POST",
                "/stuf/zds",
                raw,
                {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": action},
            )
            answer = connection.getresponse()
            return Response(answer.status, dict(answer.getheaders()), answer.read())
        finally:
            connection.close()

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()


class Queue:
    """A queue bound to the test's exchange, read with pika's blocking client."""

    def __init__(self, host: str) -> None:
        self.exchange = f"emo-test-zaken-{uuid.uuid4().hex[:8]}"
        self.name = f"{self.exchange}-alles"
        parameters = pika.ConnectionParameters(host=host)
        self.connection = pika.BlockingConnection(parameters)
        self.channel = self.connection.channel()
        self.channel.exchange_declare(self.exchange, "topic", durable=True)
        self.channel.queue_declare(self.name, durable=True)
        self.channel.queue_bind(self.name, self.exchange, routing_key="#")
        self.bodies: list[bytes] = []
        self.keys: list[str] = []

    def drain(self) -> int:
        while True:
            method, _, body = self.channel.basic_get(self.name, auto_ack=True)
            if method is None:
                return len(self.bodies)
            self.bodies.append(body)
            self.keys.append(method.routing_key)

    def close(self) -> None:
        self.channel.queue_delete(self.name)
        self.channel.exchange_delete(self.exchange)
        self.connection.close()


@pytest.fixture
def queue(rabbitmq_host: str) -> Iterator[Queue]:
    opened = Queue(rabbitmq_host)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def schemas() -> SchemaRegistry:
    return SchemaRegistry.load([ZDS_12])


def environment(tmp_path: Path, queue: Queue, host: str) -> dict[str, str]:
    return {
        "EMO_ZAAKREGISTER_URL": f"sqlite:///{tmp_path / 'zaakregister.db'}",
        "EMO_EVENTS_OUTBOX": str(tmp_path / "outbox"),
        "EMO_EXCHANGE": queue.exchange,
        "EMO_RABBITMQ_HOST": host,
        "EMO_AMQP_URL": f"amqp://guest:guest@{host}:5672/%2F",
    }


def outbox_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def checked(raw: bytes, schemas: SchemaRegistry) -> etree._Element:
    bericht = etree.fromstring(raw)
    assert schemas.validate(bericht) == [], raw[:2000]
    return bericht


def test_example_routes_publish_each_kind_of_event(
    tmp_path: Path, queue: Queue, rabbitmq_host: str, schemas: SchemaRegistry
) -> None:
    """config/examples/zaak-events.yaml: a zaak created, its status set and
    a document added over SOAP; RabbitMQ gets the three kennisgevingen
    (routing keys zakLk01.ZAK and edcLk01.EDC), the outbox only the status
    change, as the routes say."""
    broker = Broker(tmp_path, EXAMPLE, environment(tmp_path, queue, rabbitmq_host))
    broker.start()
    try:
        zaak, document = "0392-2025-0000001", "0392-D2025-0000001"
        for raw, action in (
            (messages.creeer_zaak(zaak), "creeerZaak_ZakLk01"),
            (
                messages.actualiseer_zaakstatus(
                    zaak, messages.status("2", "In behandeling", "20250302090000000")
                ),
                "actualiseerZaakstatus_ZakLk01",
            ),
            (
                messages.voeg_zaakdocument_toe(document, zaak, b"brief"),
                "voegZaakdocumentToe_EdcLk01",
            ),
        ):
            answer = broker.post(raw, messages.ZDS12 + action)
            assert answer.status == 200, answer.body[:2000]

        wait_for(lambda: queue.drain() >= 3, 30, "three events in RabbitMQ")
        wait_for(lambda: outbox_files(tmp_path / "outbox"), 30, "the outbox file")
    finally:
        broker.stop()

    soorten = [one_text(checked(body, schemas), SOORT) for body in queue.bodies]
    assert soorten == ["zaak-aangemaakt", "status-gewijzigd", "document-toegevoegd"]
    assert queue.keys == ["zakLk01.ZAK", "zakLk01.ZAK", "edcLk01.EDC"]
    [written] = outbox_files(tmp_path / "outbox")
    assert one_text(checked(written.read_bytes(), schemas), SOORT) == (
        "status-gewijzigd"
    )


def one_text(element: etree._Element, path: str) -> str:
    found = element.findtext(path, None, NS)
    assert found is not None, (path, etree.tostring(element)[:1000])
    return found


def write_zaken(url: str, documents: Path, first: int, count: int) -> None:
    """Create zaken in the register directly, as another EMO process would."""
    register = Zaakregister.open(url, Config(documents=documents, organisatie="0392"))
    try:
        for number in range(first, first + count):
            raw = messages.creeer_zaak(f"0392-2025-{number:07d}")
            body = open_envelope(parse_xml(raw)).body
            register.handle(identify(body, messages.ZDS12 + "creeerZaak_ZakLk01"), body)
    finally:
        register.close()


@pytest.mark.slow
def test_no_event_is_lost_across_a_broker_kill(
    tmp_path: Path, queue: Queue, rabbitmq_host: str, schemas: SchemaRegistry
) -> None:
    """300 events; SIGKILL while they are published, 100 more written while
    the broker is down, a restart: every event reaches the outbox and
    RabbitMQ at least once, and every one is marked published."""
    routes = tmp_path / "routes.yaml"
    routes.write_text(EVERY_EVENT)
    env = environment(tmp_path, queue, rabbitmq_host)
    url = env["EMO_ZAAKREGISTER_URL"]
    documents = tmp_path / "documenten"
    outbox = tmp_path / "outbox"
    broker = Broker(tmp_path, routes, env)
    broker.start()
    try:
        write_zaken(url, documents, 1, 300)
        wait_for(lambda: queue.drain() >= 40, 60, "the first events in RabbitMQ")
        broker.kill()
        published_before = len(queue.bodies)
        write_zaken(url, documents, 301, 100)
        broker.start()
        wait_for(lambda: unpublished(url) == 0, 120, "every event published")
        wait_for(lambda: len(set(referenties(outbox))) >= 400, 60, "400 outbox files")
        wait_for(
            lambda: len({ref(b) for b in drained(queue)}) >= 400,
            60,
            "400 events in RabbitMQ",
        )
    finally:
        broker.stop()

    expected = {f"0392-2025-{n:07d}" for n in range(1, 401)}
    in_queue = Counter(zaak_of(checked(body, schemas)) for body in queue.bodies)
    assert set(in_queue) == expected
    in_outbox = {
        zaak_of(checked(p.read_bytes(), schemas)) for p in outbox_files(outbox)
    }
    assert in_outbox == expected
    assert published_before < 300, "the kill came after every event was published"
    log = (tmp_path / "emo.log").read_text(errors="replace")
    assert "Traceback" not in log


def drained(queue: Queue) -> list[bytes]:
    queue.drain()
    return queue.bodies


def ref(raw: bytes) -> str:
    return one_text(etree.fromstring(raw), REFERENTIE)


def zaak_of(bericht: etree._Element) -> str:
    return one_text(bericht, "ZKN:object/ZKN:identificatie")


def referenties(folder: Path) -> list[str]:
    return [ref(p.read_bytes()) for p in outbox_files(folder)]


def unpublished(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            query = sa.select(sa.func.count()).where(Gebeurtenis.gepubliceerd.is_(None))
            return int(connection.execute(query).scalar_one())
    finally:
        engine.dispose()


# In-process: the source inside a broker service, without schemas ------------


def in_process_routes(database: str, outbox: Path, match: str = "") -> str:
    return f"""
        sources:
          zaken:
            type: zaakregister-events
            database: "{database}"
            poll_seconds: 0.05
            retry_seconds: 0.05
        routes:
          - id: gebeurtenissen
            from: zaakregister-events:zaken
            {match}
            publish: [outbox]
        destinations:
          outbox:
            type: file
            path: {outbox}
            name: "{{referentienummer}}.xml"
        """


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    start_reactor()
    running = Service(tmp_path / "service", "")
    yield running
    running.stop()


def test_a_fault_on_emos_side_keeps_events_until_the_routes_are_fixed(
    service: Service, tmp_path: Path
) -> None:
    """No route takes the events (StUF040, plek server): they stay
    unpublished and are offered again; after a reload that fixes the routes
    they are published, each once, and the source says so in its status."""
    url = f"sqlite:///{tmp_path / 'zaakregister.db'}"
    outbox = tmp_path / "outbox"
    write_zaken(url, tmp_path / "documenten", 1, 3)
    service.write_routes(
        in_process_routes(url, outbox, "match: {operation: geefZaakdetails}")
    )
    service.start()
    source = service.source("zaakregister-events:zaken")
    assert isinstance(source, EventSource)
    wait_for(lambda: source.counts["retried"] >= 6, what="the events offered twice")
    assert unpublished(url) == 3
    assert outbox_files(outbox) == []

    service.write_routes(in_process_routes(url, outbox))
    service.reload()
    wait_for(lambda: unpublished(url) == 0, what="every event published")
    wait_for(lambda: len(outbox_files(outbox)) == 3, what="three outbox files")
    assert source.describe()["published"] == 3
    assert service.source("zaakregister-events:zaken") is source


def test_a_routes_file_declares_the_source_with_checked_settings(
    tmp_path: Path,
) -> None:
    """`emo routes check` knows the source: an unknown setting is named with
    its line and the settings the type has."""
    path = tmp_path / "routes.yaml"
    path.write_text(
        in_process_routes("sqlite:///x.db", tmp_path).replace(
            "poll_seconds: 0.05", "poll_second: 0.05"
        )
    )
    with pytest.raises(RoutesError) as broken:
        load_routes(path)
    text = str(broken.value)
    assert "unknown key 'poll_second'" in text
    assert "did you mean 'poll_seconds'" in text

    env = {"EMO_EVENTS_OUTBOX": str(tmp_path), "EMO_EXCHANGE": "zaken"}
    table = load_routes(EXAMPLE, env)
    [definition] = table.source_definitions.values()
    assert definition.source == "zaakregister-events:zaken"
