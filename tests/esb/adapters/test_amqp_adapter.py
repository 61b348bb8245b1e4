"""The AMQP destination against the real RabbitMQ on 127.0.0.1:5672.

Every test declares its own exchange and queue (named after a fresh uuid)
and deletes them afterwards; what arrived is read back with pika's blocking
client, as a consumer application would.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pika
import pytest
from twisted.internet import defer, task

from esb.adapters.amqp import AmqpAdapter, AmqpConnection
from esb.adapters.base import DeliveryError, Outbound
from esb.errors import ConfigError
from esb.message import Identification, Party, Stuurgegevens
from tests.esb.adapters.conftest import ReactorThread
from tests.esb.log_capture import log_lines
from tests.esb.sources.reactor_thread import wait_for

pytestmark = pytest.mark.rabbitmq

ACTION = "http://www.stufstandaarden.nl/koppelvlak/zds0120/creeerZaak_ZakLk01"

# Any password but guest's is refused by the test RabbitMQ.
WRONG_PASSWORD = "not-guests-password-5f2c"


class Rabbit:
    """Names for one test, and a blocking client to look and clean up."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.url = f"amqp://guest:guest@{host}:5672/%2F"
        self.prefix = f"emo-test-{uuid.uuid4().hex[:10]}"
        self.exchanges: list[str] = []
        self.queues: list[str] = []
        self.connection = pika.BlockingConnection(pika.URLParameters(self.url))
        self.channel = self.connection.channel()

    def exchange(self, suffix: str = "x") -> str:
        name = f"{self.prefix}-{suffix}"
        self.exchanges.append(name)
        return name

    def queue(self, suffix: str = "q") -> str:
        name = f"{self.prefix}-{suffix}"
        self.queues.append(name)
        return name

    def get(self, queue: str) -> tuple[Any, Any, bytes] | None:
        method, properties, body = self.channel.basic_get(queue, auto_ack=True)
        return None if method is None else (method, properties, body)

    def count(self, queue: str) -> int:
        declared = self.channel.queue_declare(queue, passive=True)
        return int(declared.method.message_count)

    def close(self) -> None:
        channel = self.connection.channel()
        for queue in self.queues:
            channel.queue_delete(queue)
        for exchange in self.exchanges:
            channel.exchange_delete(exchange)
        self.connection.close()


@pytest.fixture
def rabbit(rabbitmq_host: str) -> Iterator[Rabbit]:
    made = Rabbit(rabbitmq_host)
    yield made
    made.close()


def outbound(message_id: str = "emo-id-1", attempt: int = 1) -> Outbound:
    stuurgegevens = Stuurgegevens(
        berichtcode="Lk01",
        zender=Party(organisatie="0392", applicatie="MORPLUS"),
        ontvanger=Party(applicatie="ZSH"),
        referentienummer="ref-1",
        entiteittype="ZAK",
    )
    identification = Identification(
        operation="creeerZaak",
        element="creeerZaak_ZakLk01",
        flavour="zds-1.2",
        stuurgegevens=stuurgegevens,
        soap_action=ACTION,
    )
    return Outbound(
        message_id=message_id,
        payload=b"<creeerZaak_ZakLk01/>",
        soap_action=ACTION,
        identification=identification,
        attempt=attempt,
    )


def adapter(rabbit: Rabbit, **settings: Any) -> AmqpAdapter:
    values: dict[str, Any] = {"url": rabbit.url, **settings}
    return AmqpAdapter.from_settings("uit", values, 5.0)


def test_a_message_is_published_persistent_confirmed_and_with_emo_headers(
    reactor_thread: ReactorThread, rabbit: Rabbit
) -> None:
    """The exchange and queue are declared durable; the message arrives
    persistent, with the routing key filled in, EMO's message id and the
    SOAPAction."""
    exchange, queue = rabbit.exchange(), rabbit.queue()
    destination = adapter(
        rabbit,
        exchange=exchange,
        routing_key="zds.{operation}.{berichtcode}",
        queue=queue,
        headers={"x-gemeente": "0392"},
    )

    delivered = reactor_thread.deliver(destination, outbound())
    reactor_thread.close(destination)

    assert delivered.note == f"amqp {exchange}/zds.creeerZaak.Lk01"
    got = rabbit.get(queue)
    assert got is not None
    method, properties, body = got
    assert body == b"<creeerZaak_ZakLk01/>"
    assert method.routing_key == "zds.creeerZaak.Lk01"
    assert properties.delivery_mode == 2
    assert properties.message_id == "emo-id-1"
    assert properties.content_type == "text/xml"
    assert properties.headers["x-emo-message-id"] == "emo-id-1"
    assert properties.headers["SOAPAction"] == ACTION
    assert properties.headers["x-emo-operation"] == "creeerZaak"
    assert properties.headers["x-emo-berichtcode"] == "Lk01"
    assert properties.headers["x-gemeente"] == "0392"
    # Declared durable: a passive declaration with durable=True is accepted.
    rabbit.channel.exchange_declare(exchange, "topic", passive=True)
    assert rabbit.channel.queue_declare(queue, durable=True, passive=True)


def test_a_message_no_queue_takes_is_not_delivered_and_worth_a_retry(
    reactor_thread: ReactorThread, rabbit: Rabbit
) -> None:
    """mandatory: an exchange without a bound queue returns the message;
    that is a retryable failure, since a queue may be bound later."""
    destination = adapter(rabbit, exchange=rabbit.exchange())

    with pytest.raises(DeliveryError) as raised:
        reactor_thread.deliver(destination, outbound())
    reactor_thread.close(destination)

    assert raised.value.retryable
    assert "no queue is bound for this routing key" in raised.value.reason


def test_the_default_exchange_delivers_to_the_queue_named_by_the_key(
    reactor_thread: ReactorThread, rabbit: Rabbit
) -> None:
    """exchange: "" is RabbitMQ's default exchange: the routing key is the
    queue's name."""
    queue = rabbit.queue()
    rabbit.channel.queue_declare(queue, durable=True)
    destination = adapter(rabbit, exchange="", routing_key=queue)

    reactor_thread.deliver(destination, outbound())
    reactor_thread.close(destination)

    assert rabbit.count(queue) == 1


def test_the_connection_is_made_again_after_it_is_lost(
    reactor_thread: ReactorThread, rabbit: Rabbit
) -> None:
    """The TCP connection dropped: the next message waits for a new
    connection (declared again) and is delivered."""
    exchange, queue = rabbit.exchange(), rabbit.queue()
    destination = adapter(rabbit, exchange=exchange, queue=queue)
    reactor_thread.deliver(destination, outbound("emo-id-1"))

    reactor_thread.call(
        lambda: destination.connection.protocol.transport.abortConnection()
    )
    delivered = reactor_thread.deliver(destination, outbound("emo-id-2"))
    connections = destination.connection.connections
    reactor_thread.close(destination)

    assert delivered.note.startswith("amqp ")
    assert connections == 2
    assert rabbit.count(queue) == 2


def _rabbitmqctl(*words: str) -> str:
    done = subprocess.run(
        ["rabbitmqctl", *words], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        pytest.skip(f"rabbitmqctl {words[0]} failed: {done.stderr.strip()[:200]}")
    return done.stdout


def _close_with_rabbitmqctl(
    reactor_thread: ReactorThread, destination: AmqpAdapter, why: str
) -> None:
    """Close the destination's connection as an operator would, and wait
    until the destination has noticed."""
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed here")
    port = reactor_thread.call(
        lambda: destination.connection.protocol.transport.getHost().port
    )
    # Close only this test's connection: other programs may use RabbitMQ.
    listing = _rabbitmqctl("list_connections", "pid", "peer_port", "-q")
    pids = [
        line.rsplit("\t", 1)[0]
        for line in listing.splitlines()
        if line.rsplit("\t", 1)[-1].strip() == str(port)
    ]
    assert pids, listing
    _rabbitmqctl("close_connection", pids[0], why)
    wait_for(lambda: not destination.connection.connected, what="the close")


def test_a_connection_closed_by_rabbitmq_is_made_again(
    reactor_thread: ReactorThread, rabbit: Rabbit
) -> None:
    """RabbitMQ closes the connection (as an operator or a restart does):
    the adapter reconnects with backoff and delivers."""
    exchange, queue = rabbit.exchange(), rabbit.queue()
    destination = adapter(rabbit, exchange=exchange, queue=queue)
    reactor_thread.deliver(destination, outbound("emo-id-1"))

    _close_with_rabbitmqctl(reactor_thread, destination, "EMO test: go away")
    reactor_thread.deliver(destination, outbound("emo-id-2"))
    connections = destination.connection.connections
    reactor_thread.close(destination)

    assert connections == 2
    assert rabbit.count(queue) == 2


def test_a_connection_closed_by_rabbitmq_is_logged_with_rabbitmqs_reason(
    reactor_thread: ReactorThread, rabbit: Rabbit, rabbitmq_host: str
) -> None:
    """The log says that RabbitMQ closed the connection, with its code and
    text (320 CONNECTION_FORCED and the operator's words, or RabbitMQ's
    when it shuts down), not pika's "closed cleanly"."""
    exchange, queue = rabbit.exchange(), rabbit.queue()
    destination = adapter(rabbit, exchange=exchange, queue=queue)
    reactor_thread.deliver(destination, outbound("emo-id-1"))

    with log_lines() as lines:
        _close_with_rabbitmqctl(reactor_thread, destination, "EMO test: go away")
        line = wait_for(
            lambda: next((line for line in lines if "no connection" in line), ""),
            what="the log line",
        )
    reactor_thread.close(destination)

    assert (
        f"AMQP destination uit: no connection to amqp://guest:***@{rabbitmq_host}"
        in line
    )
    assert (
        f"(RabbitMQ at {rabbitmq_host}:5672 closed the connection "
        "(320 CONNECTION_FORCED - EMO test: go away))" in line
    )


def test_no_rabbitmq_is_a_retryable_failure_within_the_timeout(
    reactor_thread: ReactorThread,
) -> None:
    """Nothing listens: the message is not confirmed within the
    destination's time-out, and may be tried again."""
    destination = AmqpAdapter.from_settings(
        "nergens", {"url": "amqp://guest:guest@127.0.0.1:1/%2F", "exchange": "x"}, 0.5
    )

    with pytest.raises(DeliveryError) as raised:
        reactor_thread.deliver(destination, outbound())
    reactor_thread.close(destination)

    assert raised.value.retryable
    assert "not confirmed within 0.5 s (connected: False)" in raised.value.reason


def test_nothing_listening_is_named_with_the_address(
    reactor_thread: ReactorThread,
) -> None:
    """Nothing listens at the URL's host and port: the delivery's reason
    says the connection there was refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once closed
    url = f"amqp://guest:guest@127.0.0.1:{port}/%2F"
    destination = AmqpAdapter.from_settings(
        "nergens", {"url": url, "exchange": "x"}, 0.5
    )

    with pytest.raises(DeliveryError) as raised:
        reactor_thread.deliver(destination, outbound())
    reactor_thread.close(destination)

    assert raised.value.retryable
    assert (
        f"no connection: the connection to 127.0.0.1:{port} was refused: "
        "nothing listens there" in raised.value.reason
    )


def test_a_wrong_password_names_the_refused_login_and_the_user(
    reactor_thread: ReactorThread, rabbitmq_host: str
) -> None:
    """RabbitMQ refuses the login (403 ACCESS_REFUSED): the delivery's
    reason says so, naming the broker and the user, never the password. It
    is worth a retry: an admin may put the password right in RabbitMQ, and a
    RabbitMQ starting up may refuse logins for a moment."""
    url = f"amqp://guest:{WRONG_PASSWORD}@{rabbitmq_host}:5672/%2F"
    destination = AmqpAdapter.from_settings("uit", {"url": url, "exchange": "x"}, 1.0)

    with pytest.raises(DeliveryError) as raised:
        reactor_thread.deliver(destination, outbound())
    reactor_thread.close(destination)

    reason = raised.value.reason
    assert raised.value.retryable
    assert "not confirmed within 1 s (connected: False); no connection: " in reason
    assert (
        f"RabbitMQ at {rabbitmq_host}:5672 refused the login of user 'guest' "
        "(403 ACCESS_REFUSED - " in reason
    )
    assert reason.endswith("): check user and password")
    assert WRONG_PASSWORD not in reason


def test_an_unknown_vhost_is_named_with_the_user(
    reactor_thread: ReactorThread, rabbitmq_host: str
) -> None:
    """RabbitMQ refuses a vhost that does not exist (530 NOT_ALLOWED, as
    for one the user may not use): the delivery's reason names the vhost
    and the user, and says what to check."""
    vhost = f"emo-test-{uuid.uuid4().hex[:10]}"
    url = f"amqp://guest:guest@{rabbitmq_host}:5672/{vhost}"
    destination = AmqpAdapter.from_settings("uit", {"url": url, "exchange": "x"}, 1.0)

    with pytest.raises(DeliveryError) as raised:
        reactor_thread.deliver(destination, outbound())
    reactor_thread.close(destination)

    assert raised.value.retryable
    assert (
        f"RabbitMQ at {rabbitmq_host}:5672 does not let user 'guest' use vhost "
        f"'{vhost}' (530 NOT_ALLOWED - vhost {vhost} not found): check the vhost "
        "in the URL and the user's permissions" in raised.value.reason
    )


def test_destinations_with_the_same_settings_share_a_connection(
    reactor_thread: ReactorThread, rabbit: Rabbit
) -> None:
    """A reload builds a new adapter and closes the old: the connection
    passes from one to the other and closes with the last."""
    exchange, queue = rabbit.exchange(), rabbit.queue()
    old = adapter(rabbit, exchange=exchange, queue=queue)
    reactor_thread.deliver(old, outbound("emo-id-1"))
    new = adapter(rabbit, exchange=exchange, queue=queue)
    reactor_thread.close(old)

    reactor_thread.deliver(new, outbound("emo-id-2"))

    assert new.connection is old.connection
    assert new.connection.connections == 1
    reactor_thread.close(new)
    assert not new.connection.connected
    assert rabbit.count(queue) == 2


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"exchange": "x"}, "needs a 'url' setting"),
        ({"url": "amqp://h/"}, "needs an 'exchange' setting"),
        (
            {"url": "amqp://h/", "exchange": "x", "routing_key": "{bsn}"},
            "routing_key uses {bsn}",
        ),
        (
            {"url": "amqp://h/", "exchange": "x", "exchange_type": "fan"},
            "unknown exchange_type 'fan'",
        ),
    ],
)
def test_settings_that_cannot_work_are_refused_at_load(
    settings: dict[str, str], complaint: str
) -> None:
    """A wrong setting is a ConfigError naming it, not a failure per message."""
    with pytest.raises(ConfigError, match=complaint.replace("{", r"\{")):
        AmqpAdapter.from_settings("uit", settings, 5.0)


def test_reconnecting_waits_twice_as_long_each_time_up_to_the_cap(
    reactor_thread: ReactorThread,
) -> None:
    """While RabbitMQ is away the waits between tries double from 0.5 s up
    to the cap (timed by a deterministic clock, jitter off)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once closed
    clock = task.Clock()

    connection = AmqpConnection(
        f"amqp://guest:guest@127.0.0.1:{port}/%2F",
        name="test",
        setup=lambda channel: defer.succeed(None),
        clock=clock,
        max_delay=4.0,
        rand=lambda: 0.0,
    )

    def next_wait() -> float | None:
        calls = reactor_thread.call(lambda: [clock.getDelayedCalls()])[0]
        return calls[0].getTime() - clock.seconds() if calls else None

    reactor_thread.call(connection.start)
    waits = []
    for _ in range(5):
        waits.append(wait_for(next_wait, 10, "the next try to be planned"))
        reactor_thread.call(clock.advance, waits[-1])
    reactor_thread.call(connection.stop)

    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert not connection.connected
