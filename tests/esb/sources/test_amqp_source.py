"""The AMQP source inside a running broker service, against the real RabbitMQ.

Each test gets its own queue and exchanges (named after a fresh uuid),
publishes to them with pika's blocking client as a sending application
would, and deletes them afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pika
import pytest

from esb.sources.amqp import AmqpSource
from tests.esb.log_capture import log_lines
from tests.esb.sources.conftest import Service, kennisgeving, referentienummer_of
from tests.esb.sources.reactor_thread import in_reactor, wait_for

pytestmark = pytest.mark.rabbitmq

MakeService = Callable[[str], Service]


class Rabbit:
    """One test's names on the real RabbitMQ, and a blocking client."""

    def __init__(self, host: str) -> None:
        self.url = f"amqp://guest:guest@{host}:5672/%2F"
        prefix = f"emo-test-{uuid.uuid4().hex[:10]}"
        self.queue = f"{prefix}-in"
        self.errors = f"{prefix}-fouten"
        self.dead = f"{prefix}-dlx"
        self.watch = f"{prefix}-watch"
        self.connection = pika.BlockingConnection(pika.URLParameters(self.url))
        self.channel = self.connection.channel()

    def publish(self, body: bytes, **properties: Any) -> None:
        self.channel.basic_publish(
            exchange="",
            routing_key=self.queue,
            body=body,
            properties=pika.BasicProperties(delivery_mode=2, **properties),
        )

    def watch_exchange(self, exchange: str, kind: str) -> str:
        """A queue receiving what goes to ``exchange``."""
        self.channel.exchange_declare(exchange, kind, durable=True)
        self.channel.queue_declare(self.watch, durable=True)
        self.channel.queue_bind(self.watch, exchange, routing_key="#")
        return self.watch

    def get(self, queue: str) -> tuple[Any, Any, bytes] | None:
        method, properties, body = self.channel.basic_get(queue, auto_ack=True)
        return None if method is None else (method, properties, body)

    def count(self, queue: str) -> int:
        declared = self.channel.queue_declare(queue, passive=True)
        return int(declared.method.message_count)

    def close(self) -> None:
        channel = self.connection.channel()
        for queue in (self.queue, self.watch):
            channel.queue_delete(queue)
        for exchange in (self.errors, self.dead):
            channel.exchange_delete(exchange)
        self.connection.close()


@pytest.fixture
def rabbit(rabbitmq_host: str) -> Iterator[Rabbit]:
    """Asked for before the service, so the service stops before the queues
    are deleted."""
    made = Rabbit(rabbitmq_host)
    yield made
    made.close()


def routes(
    rabbit: Rabbit,
    outbox: Path,
    *,
    match: str = "",
    extra: str = "",
    url: str | None = None,
) -> str:
    return f"""
        sources:
          stuf-in:
            type: amqp
            url: {url or rabbit.url}
            queue: {rabbit.queue}
            prefetch: 8
            retry_seconds: 0.1
            {extra}
        routes:
          - id: queue
            from: amqp:stuf-in
            {match}
            publish: [outbox]
        destinations:
          outbox:
            type: file
            path: {outbox}
            name: "{{referentienummer}}.xml"
        """


def outbox_refs(outbox: Path) -> list[str]:
    if not outbox.is_dir():
        return []
    return sorted(
        referentienummer_of(path.read_bytes()) or "?"
        for path in outbox.iterdir()
        if not path.name.startswith(".")
    )


def amqp_source(running: Service) -> AmqpSource:
    source = running.source("amqp:stuf-in")
    assert isinstance(source, AmqpSource)
    return source


def start(running: Service) -> AmqpSource:
    """Start the service and wait until its source consumes: a message
    published before its queue is declared would go nowhere."""
    running.start()
    source = amqp_source(running)
    wait_for(lambda: source.connection.connected, what="the source's connection")
    return source


def test_a_journaled_message_is_acked_and_published(
    rabbit: Rabbit, service: MakeService, tmp_path: Path
) -> None:
    """Consumed with a manual ack given once journaled: the queue is empty
    even after the consumer has gone, and the outbox has the message."""
    outbox = tmp_path / "outbox"
    running = service(routes(rabbit, outbox))
    start(running)

    rabbit.publish(kennisgeving("ref-amqp-1"), content_type="text/xml; charset=utf-8")

    wait_for(lambda: outbox_refs(outbox) == ["ref-amqp-1"], what="the outbox file")
    wait_for(lambda: amqp_source(running).counts["acked"] == 1, what="the ack")
    running.stop()
    assert rabbit.count(rabbit.queue) == 0, "given back: it was not acked"


def test_the_queue_is_declared_durable(
    rabbit: Rabbit, service: MakeService, tmp_path: Path
) -> None:
    """The source declares its queue durable when it connects."""
    running = service(routes(rabbit, tmp_path / "outbox"))
    start(running)

    assert rabbit.channel.queue_declare(rabbit.queue, durable=True, passive=True)


def test_a_refused_message_is_acked_and_its_foutbericht_published(
    rabbit: Rabbit, service: MakeService, tmp_path: Path
) -> None:
    """plek client: the foutbericht goes to error_exchange with the fault in
    its headers; the message is acked, never requeued."""
    watch = rabbit.watch_exchange(rabbit.errors, "topic")
    outbox = tmp_path / "outbox"
    running = service(routes(rabbit, outbox, extra=f"error_exchange: {rabbit.errors}"))
    start(running)

    rabbit.publish(b"<zakLk01>kapot", message_id="sender-id-7")

    got = wait_for(lambda: rabbit.get(watch), what="the foutbericht")
    method, properties, body = got
    assert method.routing_key == rabbit.queue
    assert b"Fo02Bericht" in body and b"StUF055" in body
    assert properties.headers["x-emo-fout-code"] == "StUF055"
    assert properties.headers["x-emo-fout-plek"] == "client"
    assert properties.correlation_id == "sender-id-7"
    wait_for(lambda: amqp_source(running).counts["refused"] == 1, what="the ack")
    running.stop()
    assert rabbit.count(rabbit.queue) == 0
    assert outbox_refs(outbox) == []


def test_a_refused_message_goes_to_the_dead_letter_exchange_when_there_is_one(
    rabbit: Rabbit, service: MakeService, tmp_path: Path
) -> None:
    """dead_letter_exchange: the original is nacked without requeue, and
    RabbitMQ moves it there."""
    outbox = tmp_path / "outbox"
    running = service(
        routes(rabbit, outbox, extra=f"dead_letter_exchange: {rabbit.dead}")
    )
    start(running)
    watch = rabbit.watch_exchange(rabbit.dead, "fanout")

    rabbit.publish(b"not xml at all")

    got = wait_for(lambda: rabbit.get(watch), what="the dead letter")
    assert got[2] == b"not xml at all"
    assert got[1].headers["x-death"][0]["reason"] == "rejected"


def test_a_fault_on_emos_side_gives_the_message_back_until_it_is_taken(
    rabbit: Rabbit, service: MakeService, tmp_path: Path
) -> None:
    """No route (StUF040, plek server): nacked with requeue after a delay
    that doubles each time; after a reload that routes it, acked and
    published, and the delay is back at its first value."""
    outbox = tmp_path / "outbox"
    running = service(
        routes(rabbit, outbox, match="match: {operation: geefZaakdetails}")
    )
    start(running)

    rabbit.publish(kennisgeving("ref-amqp-wait"))
    source = amqp_source(running)
    wait_for(lambda: source.counts["requeued"] >= 3, what="three give-backs")
    assert outbox_refs(outbox) == []
    assert source.retry_delay() >= 0.1 * 2**2

    running.write_routes(routes(rabbit, outbox))
    running.reload()

    wait_for(lambda: outbox_refs(outbox) == ["ref-amqp-wait"], what="the outbox")
    wait_for(lambda: source.counts["acked"] == 1, what="the ack")
    assert running.source("amqp:stuf-in") is source, "unchanged source kept"
    assert source.retry_delay() == 0.1


def test_the_source_reconnects_and_goes_on_consuming(
    rabbit: Rabbit, service: MakeService, tmp_path: Path
) -> None:
    """The connection is dropped: the source connects again (declares and
    consumes again) and takes the next message."""
    outbox = tmp_path / "outbox"
    running = service(routes(rabbit, outbox))
    start(running)
    rabbit.publish(kennisgeving("ref-before"))
    wait_for(lambda: outbox_refs(outbox) == ["ref-before"], what="the first")
    source = amqp_source(running)

    in_reactor(lambda: source.connection.protocol.transport.abortConnection())
    wait_for(lambda: source.connection.connections == 2, what="a new connection")
    rabbit.publish(kennisgeving("ref-after"))

    wait_for(
        lambda: outbox_refs(outbox) == ["ref-after", "ref-before"], what="the second"
    )


def test_the_answer_goes_to_reply_to_with_the_correlation_id(
    rabbit: Rabbit, service: MakeService, tmp_path: Path
) -> None:
    """A sender that asks for the answer (reply_to) gets the Bv03."""
    rabbit.channel.queue_declare(rabbit.watch, durable=True)
    running = service(routes(rabbit, tmp_path / "outbox"))
    start(running)

    rabbit.publish(
        kennisgeving("ref-rpc"), reply_to=rabbit.watch, correlation_id="vraag-1"
    )

    got = wait_for(lambda: rabbit.get(rabbit.watch), what="the answer")
    assert b"Bv03Bericht" in got[2] and b"ref-rpc" in got[2]
    assert got[1].correlation_id == "vraag-1"


def test_the_same_message_twice_is_published_once(
    rabbit: Rabbit, service: MakeService, tmp_path: Path
) -> None:
    """RabbitMQ gives a message again after a lost ack: the journal knows
    it, and the second copy is acked without a second delivery."""
    outbox = tmp_path / "outbox"
    running = service(routes(rabbit, outbox))
    start(running)

    rabbit.publish(kennisgeving("ref-dup"))
    rabbit.publish(kennisgeving("ref-dup"))

    wait_for(lambda: amqp_source(running).counts["acked"] == 2, what="two acks")
    running.stop()
    assert outbox_refs(outbox) == ["ref-dup"]


def test_a_deleted_queue_is_declared_again_and_consumed(
    rabbit: Rabbit, service: MakeService, tmp_path: Path
) -> None:
    """RabbitMQ cancels the consumer of a deleted queue; the source connects
    again, declares its queue again and goes on."""
    outbox = tmp_path / "outbox"
    running = service(routes(rabbit, outbox))
    source = start(running)

    rabbit.channel.queue_delete(rabbit.queue)
    wait_for(lambda: source.connection.connections == 2, what="a new connection")
    rabbit.publish(kennisgeving("ref-redeclared"))

    wait_for(lambda: outbox_refs(outbox) == ["ref-redeclared"], what="the outbox")


def test_a_refused_login_is_logged_with_the_user_and_not_the_password(
    rabbit: Rabbit, service: MakeService, tmp_path: Path, rabbitmq_host: str
) -> None:
    """A wrong password in the source's URL: RabbitMQ refuses the login, and
    the source's log says so, naming the broker and the user, never the
    password; it keeps trying (the password may be put right in RabbitMQ)."""
    password = "not-guests-password-91ad"
    url = f"amqp://guest:{password}@{rabbitmq_host}:5672/%2F"
    running = service(routes(rabbit, tmp_path / "outbox", url=url))

    with log_lines() as lines:
        running.start()
        line = wait_for(
            lambda: next((line for line in lines if "no connection" in line), ""),
            what="the log line",
        )
        source = amqp_source(running)
        running.stop()

    assert line.startswith(
        f"AMQP source amqp:stuf-in: no connection to amqp://guest:***@{rabbitmq_host}"
    )
    assert (
        f"(RabbitMQ at {rabbitmq_host}:5672 refused the login of user 'guest' "
        "(403 ACCESS_REFUSED - " in line
    )
    assert "): check user and password); trying again in " in line
    assert not any(password in logged for logged in lines)
    assert source.connection.connections == 0
