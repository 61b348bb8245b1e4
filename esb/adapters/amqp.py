"""AMQP 0-9-1 destination: publish each message to a RabbitMQ exchange.

Settings in the routes file::

    type: amqp
    url: amqp://user:password@rabbitmq:5672/%2F     # required; amqps:// for TLS
    exchange: stuf.out                # required ("" is RabbitMQ's default exchange)
    exchange_type: topic              # direct | topic | fanout | headers
    routing_key: "{operation}"        # may use {operation}, {berichtcode},
                                      # {entiteittype}, {zender}, {flavour}
    queue: stuf.out.backoffice        # optional: declare this queue and bind it,
    binding_key: "#"                  #   so nothing is lost before a consumer exists
    mandatory: true                   # unroutable counts as not delivered
    headers: {x-gemeente: "0392"}     # optional, sent with every message
    tls: {ca: ..., cert: ..., key: ..., verify: true}   # amqps:// only;
                                      # see esb.adapters.tls

The exchange (and the queue, if named) is declared durable when the
connection is made. Every message goes out persistent (delivery mode 2) with
content type ``text/xml``, EMO's message id as ``message_id`` and in the
``x-emo-message-id`` header, the SOAPAction in a ``SOAPAction`` header, and
``x-emo-operation``, ``x-emo-berichtcode`` and ``x-emo-attempt``. A message
counts as delivered only when RabbitMQ confirms it (publisher confirms);
``mandatory`` makes a message no queue takes a failure, retried like any
other: a queue may be bound later. A consumer that must not see a message
twice keeps the ``message_id``s it has seen, since delivery is at least once.

:class:`AmqpConnection` is the connection the destination and the AMQP
source (:mod:`esb.sources.amqp`) share the logic of: it is made again,
waiting longer each time (0.5 s doubling up to 30 s), whenever RabbitMQ goes
away, and runs the user's ``setup`` (declarations, confirms, consumers) on
every new channel.

``amqps://`` connections are made by Twisted's TLS, not pika's (pika's
``ssl_options`` serve its own socket adapters, not this one): the server's
certificate must chain to the system's CAs, or to ``tls.ca`` when the
``tls`` setting is given, which may also name a client certificate
(:func:`tls_policy`). A handshake that fails is a connection that failed,
tried again like any other, its reason logged and named by the deliveries
that time out meanwhile.

So is a connection RabbitMQ refuses (a wrong user or password, a vhost that
does not exist or the user may not use), its reason naming the broker, the
user and the vhost, never the password (:mod:`esb.adapters.amqp_errors`).
"""

from __future__ import annotations

import hashlib
import random
import string
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import pika
from pika import exceptions as pika_errors
from pika import spec
from pika.adapters.twisted_connection import TwistedProtocolConnection
from twisted.internet import defer, endpoints, reactor, ssl
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from esb.adapters.amqp_errors import ClosedByRabbitMQ, describe
from esb.adapters.base import Delivered, DeliveryError, Outbound, setting
from esb.adapters.tls import TlsPolicy, TlsSettings
from esb.errors import ConfigError

log = Logger()

CONNECT_TIMEOUT = 10.0
ROUTING_FIELDS = ("operation", "berichtcode", "entiteittype", "zender", "flavour")
EXCHANGE_TYPES = ("direct", "topic", "fanout", "headers")

Channel = Any  # pika.adapters.twisted_connection.TwistedChannel (untyped)
Setup = Callable[[Channel], "defer.Deferred[Any]"]


def masked(url: str) -> str:
    """``url`` with its password masked, to be logged."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def tls_policy(
    name: str, url: str, value: object, *, owner: str = "destination"
) -> TlsPolicy | None:
    """The TLS of an ``amqps://`` connection from a ``tls`` setting, or None
    when there is none (the system's CAs, no client certificate).

    Its files are read now; ConfigError when one is missing or wrong, or
    when ``tls`` is set for a URL that is not ``amqps://``, where it would be
    silently ignored and the connection made in the clear.
    """
    if not value:
        return None
    if urlsplit(url).scheme != "amqps":
        raise ConfigError(
            f"{owner} '{name}': 'tls' is set but '{masked(url)}' is not an amqps:// URL"
        )
    settings = TlsSettings.from_settings(name, value, owner=owner)
    return TlsPolicy(name, settings, owner=owner)


def _fingerprint(policy: TlsPolicy | None) -> tuple[Any, ...]:
    """What makes two TLS settings the same: the files' contents as well as
    their names, so a certificate renewed in place and a reload give a new
    connection with the new certificate."""
    if policy is None:
        return ()
    tls = policy.tls
    digests = [
        hashlib.sha256(path.read_bytes()).hexdigest() if path else ""
        for path in (tls.ca, tls.cert, tls.key)
    ]
    return (tls, *digests)


class AmqpConnection:
    """A connection to RabbitMQ, with one channel, made again when lost.

    ``setup`` runs on each new channel before it is handed out; when it
    fails (RabbitMQ refuses a declaration, say) the connection is closed and
    tried again later, the failure logged. :meth:`ready` gives the channel,
    waiting while there is none.
    """

    def __init__(
        self,
        url: str,
        *,
        name: str,
        setup: Setup,
        clock: IReactorTime | None = None,
        initial_delay: float = 0.5,
        max_delay: float = 30.0,
        rand: Callable[[], float] = random.random,
        tls: TlsPolicy | None = None,
    ) -> None:
        self.url = url
        self.name = name
        self.parameters = pika.URLParameters(url)
        self.tls = tls
        self._setup = setup
        self.clock: IReactorTime = clock or reactor
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self._rand = rand
        self.protocol: Any = None
        self.channel: Channel = None
        self.connections = 0
        self._failures = 0
        self._running = False
        self._retry: IDelayedCall | None = None
        self._waiters: list[defer.Deferred[Channel]] = []
        self._complaint: str | None = None

    @property
    def connected(self) -> bool:
        return self.channel is not None and bool(self.channel.is_open)

    @property
    def last_failure(self) -> str | None:
        """Why the last try to connect failed; None once connected."""
        return self._complaint

    def start(self) -> None:
        """Connect now, and again whenever the connection is lost."""
        if self._running:
            return
        self._running = True
        self._connect()

    def ready(self) -> defer.Deferred[Channel]:
        """The channel, set up; waits (without a limit) while there is none."""
        self.start()
        if self.connected:
            return defer.succeed(self.channel)
        waiter: defer.Deferred[Channel] = defer.Deferred(self._forget)
        self._waiters.append(waiter)
        return waiter

    def _forget(self, waiter: defer.Deferred[Channel]) -> None:
        # A caller gave up waiting (its time-out cancelled the Deferred).
        if waiter in self._waiters:
            self._waiters.remove(waiter)

    @defer.inlineCallbacks
    def stop(self) -> Any:
        """Close the connection and make no new one."""
        self._running = False
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.errback(pika_errors.ConnectionClosedByClient(200, "EMO stops"))
        connection, self.protocol, self.channel = self.protocol, None, None
        if connection is not None and connection.is_open:
            closed = connection.close()
            if closed is not None:
                yield closed

    @defer.inlineCallbacks
    def _connect(self) -> Any:
        self._retry = None
        connection = None
        try:
            connection = yield self._open()
            yield connection.ready
            channel = yield connection.channel()
            yield self._setup(channel)
        except Exception as exc:
            if connection is not None and connection.is_open:
                connection.close()
            if self._running:
                self._schedule(exc)
            return
        if not self._running:
            connection.close()
            return
        self.protocol, self.channel = connection, channel
        self._failures = 0
        self._complaint = None
        self.connections += 1
        log.info(
            "AMQP {name}: connected to {url}", name=self.name, url=masked(self.url)
        )
        connection.closed.addBoth(self._lost, connection)
        channel.on_closed.addBoth(self._channel_closed, connection)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(channel)

    def _open(self) -> defer.Deferred[Any]:
        parameters = self.parameters
        endpoint: Any = endpoints.HostnameEndpoint(
            reactor, parameters.host, parameters.port, timeout=CONNECT_TIMEOUT
        )
        if parameters.ssl_options is not None:  # an amqps:// URL
            creator: Any
            if self.tls is not None:
                host = parameters.host.encode("idna")
                creator = self.tls.creatorForNetloc(host, parameters.port)
            else:
                creator = ssl.optionsForClientTLS(parameters.host)
            endpoint = endpoints.wrapClientTLS(creator, endpoint)
        opened: defer.Deferred[Any] = endpoints.connectProtocol(
            endpoint, _Protocol(parameters)
        )
        return opened

    def _channel_closed(self, reason: object, connection: Any) -> None:
        # RabbitMQ closes a channel on a protocol error (a publish to an
        # exchange that is gone, say). A fresh connection sets everything up
        # again; closing this one leads there through _lost.
        if connection is self.protocol and connection.is_open:
            log.warn(
                "AMQP {name}: channel closed ({reason}); reconnecting",
                name=self.name,
                reason=describe(reason, self.parameters),
            )
            connection.close()

    def _lost(self, reason: object, connection: Any) -> None:
        if connection is not self.protocol:
            return
        self.protocol = self.channel = None
        if self._running:
            self._schedule(reason)

    def _schedule(self, reason: object) -> None:
        self._failures += 1
        base = min(self.max_delay, self.initial_delay * 2 ** (self._failures - 1))
        delay = base * (1.0 - 0.2 * self._rand())
        text = describe(reason, self.parameters)
        # The first failure of a series is a warning; repeats of the same
        # failure (RabbitMQ down for a while) are not logged each time.
        if text != self._complaint:
            self._complaint = text
            log.warn(
                "AMQP {name}: no connection to {url} ({reason}); trying again in "
                "{delay:.1f} s, then less and less often",
                name=self.name,
                url=masked(self.url),
                reason=text,
                delay=delay,
            )
        self._retry = self.clock.callLater(delay, self._connect)


class _Protocol(TwistedProtocolConnection):  # type: ignore[misc]  # untyped
    """pika's Twisted protocol, whose ``ready`` fails with the reason.

    pika 1.4 fails ``ready`` with ``AMQPConnectionError(attempts)``, which
    reads "1", and drops the reason it was given, such as a TLS handshake
    that failed and why. And when RabbitMQ closes the connection, refusing a
    login say, the reason pika gives is the socket's clean ``ConnectionDone``
    instead of RabbitMQ's ``connection.close`` (see
    :mod:`esb.adapters.amqp_errors`): this protocol keeps the close and
    reports it as a :class:`ClosedByRabbitMQ`, both to ``ready`` and to
    ``closed``. The log and the deliveries waiting need the reason.
    """

    ready: defer.Deferred[Any] | None

    def __init__(self, parameters: pika.connection.Parameters) -> None:
        super().__init__(parameters)
        self._close: tuple[int, str] | None = None
        # After pika's own callback for the close, which starts closing the
        # socket; one connection per protocol, so once is enough.
        self._impl.callbacks.add(0, spec.Connection.Close, self._closing)

    def _closing(self, frame: Any) -> None:
        self._close = (int(frame.method.reply_code), str(frame.method.reply_text))

    def _closed_by_rabbitmq(self, error: Exception, *, opening: bool) -> Exception:
        if self._close is None:
            return error
        code, text = self._close
        closed: Exception = ClosedByRabbitMQ.from_close(
            code, text, self._impl.params, opening=opening
        )
        return closed

    def _on_connection_failed(
        self, _connection: Any, _error_message: Exception | None = None
    ) -> None:
        if _error_message is None:
            super()._on_connection_failed(_connection, _error_message)
            return
        ready, self.ready = self.ready, None
        if ready is not None:
            ready.errback(self._closed_by_rabbitmq(_error_message, opening=True))

    def _on_connection_closed(self, _connection: Any, exception: Exception) -> None:
        reason = self._closed_by_rabbitmq(exception, opening=False)
        super()._on_connection_closed(_connection, reason)


# -- the destination ------------------------------------------------------------


class _Pool:
    """Connections shared by destinations with the same broker and exchange.

    A route reload builds new adapters and then closes the old ones; with a
    shared connection the new adapter takes over the old one's connection
    instead of opening another, and the connection closes when its last
    adapter does.
    """

    def __init__(self) -> None:
        self.connections: dict[tuple[Any, ...], AmqpConnection] = {}
        self.users: dict[tuple[Any, ...], int] = {}

    def take(
        self, key: tuple[Any, ...], make: Callable[[], AmqpConnection]
    ) -> AmqpConnection:
        if key not in self.connections:
            self.connections[key] = make()
        self.users[key] = self.users.get(key, 0) + 1
        return self.connections[key]

    def give_back(self, key: tuple[Any, ...]) -> AmqpConnection | None:
        """The connection to stop, if this was its last user."""
        self.users[key] -= 1
        if self.users[key]:
            return None
        del self.users[key]
        return self.connections.pop(key)


_pool = _Pool()


class AmqpAdapter:
    """Publishes messages to an exchange, each confirmed by RabbitMQ."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        exchange: str,
        exchange_type: str = "topic",
        routing_key: str = "{operation}",
        queue: str | None = None,
        binding_key: str = "#",
        mandatory: bool = True,
        headers: Mapping[str, Any] | None = None,
        timeout: float = 30.0,
        clock: IReactorTime | None = None,
        share: bool = True,
        tls: TlsPolicy | None = None,
    ) -> None:
        if exchange_type not in EXCHANGE_TYPES:
            raise ConfigError(
                f"destination '{name}': unknown exchange_type '{exchange_type}'; "
                f"expected one of: {', '.join(EXCHANGE_TYPES)}"
            )
        _check_template(name, routing_key)
        self.name = name
        self.exchange = exchange
        self.exchange_type = exchange_type
        self.routing_key = routing_key
        self.queue = queue
        self.binding_key = binding_key
        self.mandatory = mandatory
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.clock: IReactorTime = clock or reactor
        self._in_flight = 0
        self._drained: list[defer.Deferred[None]] = []
        self._closed = False

        def connect() -> AmqpConnection:
            return AmqpConnection(
                url,
                name=f"destination {name}",
                setup=self._setup,
                clock=clock,
                tls=tls,
            )

        self._key = (
            url,
            exchange,
            exchange_type,
            queue,
            binding_key,
            *_fingerprint(tls),
        )
        self._shared = share
        self.connection = _pool.take(self._key, connect) if share else connect()

    @classmethod
    def from_settings(
        cls, name: str, settings: Mapping[str, Any], timeout: float
    ) -> AmqpAdapter:
        url = str(setting(settings, "url", name))
        if "exchange" not in settings or settings["exchange"] is None:
            raise ConfigError(f"destination '{name}' needs an 'exchange' setting")
        headers = settings.get("headers") or {}
        if not isinstance(headers, Mapping):
            raise ConfigError(f"destination '{name}': headers must be a mapping")
        return cls(
            name,
            url,
            exchange=str(settings["exchange"]),
            exchange_type=str(settings.get("exchange_type", "topic")),
            routing_key=str(settings.get("routing_key", "{operation}")),
            queue=str(settings["queue"]) if settings.get("queue") else None,
            binding_key=str(settings.get("binding_key", "#")),
            mandatory=bool(settings.get("mandatory", True)),
            headers=headers,
            timeout=timeout,
            tls=tls_policy(name, url, settings.get("tls")),
        )

    @defer.inlineCallbacks
    def _setup(self, channel: Channel) -> Any:
        yield channel.confirm_delivery()
        if self.exchange:
            yield channel.exchange_declare(
                exchange=self.exchange,
                exchange_type=self.exchange_type,
                durable=True,
            )
        if self.queue:
            yield channel.queue_declare(queue=self.queue, durable=True)
            if self.exchange:
                yield channel.queue_bind(
                    queue=self.queue,
                    exchange=self.exchange,
                    routing_key=self.binding_key,
                )

    def routing_key_for(self, outbound: Outbound) -> str:
        """The routing key for one message, its placeholders filled."""
        values = dict.fromkeys(ROUTING_FIELDS, "")
        identification = outbound.identification
        if identification is not None:
            stuurgegevens = identification.stuurgegevens
            values.update(
                operation=identification.operation,
                berichtcode=stuurgegevens.berichtcode,
                entiteittype=stuurgegevens.entiteittype or "",
                zender=stuurgegevens.zender.applicatie or "",
                flavour=identification.flavour,
            )
        return self.routing_key.format(**values)

    def properties(self, outbound: Outbound) -> Any:
        """The AMQP properties of one message: persistent, with EMO's id."""
        headers: dict[str, Any] = {
            **self.headers,
            **outbound.headers,
            "x-emo-message-id": outbound.message_id,
            "x-emo-attempt": outbound.attempt,
        }
        if outbound.soap_action:
            headers["SOAPAction"] = outbound.soap_action
        identification = outbound.identification
        if identification is not None:
            headers["x-emo-operation"] = identification.operation
            headers["x-emo-berichtcode"] = identification.stuurgegevens.berichtcode
        return pika.BasicProperties(
            content_type="text/xml",
            delivery_mode=2,
            message_id=outbound.message_id,
            timestamp=int(time.time()),
            headers=headers,
        )

    def deliver(self, outbound: Outbound) -> defer.Deferred[Delivered]:
        self._in_flight += 1
        published = self._publish(outbound)
        published.addTimeout(self.timeout, self.clock)
        published.addErrback(self._failed)
        published.addBoth(self._settled)
        return published

    def _settled(self, result: Any) -> Any:
        self._in_flight -= 1
        if not self._in_flight:
            drained, self._drained = self._drained, []
            for waiter in drained:
                waiter.callback(None)
        return result

    @defer.inlineCallbacks
    def _publish(self, outbound: Outbound) -> Any:
        routing_key = self.routing_key_for(outbound)
        channel = yield self.connection.ready()
        yield channel.basic_publish(
            exchange=self.exchange,
            routing_key=routing_key,
            body=outbound.payload,
            properties=self.properties(outbound),
            mandatory=self.mandatory,
        )
        return Delivered(note=f"amqp {self.exchange or '(default)'}/{routing_key}")

    def _failed(self, failure: Any) -> None:
        where = f"exchange '{self.exchange}'" if self.exchange else "default exchange"
        if failure.check(pika_errors.UnroutableError):
            reason = f"{where}: no queue is bound for this routing key"
        elif failure.check(pika_errors.NackError):
            reason = f"{where}: RabbitMQ refused the message (nack)"
        elif failure.check(defer.TimeoutError, defer.CancelledError):
            connected = self.connection.connected
            reason = (
                f"{where}: not confirmed within {self.timeout:g} s "
                f"(connected: {connected})"
            )
            if not connected and self.connection.last_failure:
                # Why there is no connection: RabbitMQ away, a TLS
                # handshake that failed (and why: the certificate).
                reason += f"; no connection: {self.connection.last_failure}"
        else:
            reason = f"{where}: {describe(failure, self.connection.parameters)}"
        # Every AMQP failure may pass: a queue bound later, RabbitMQ back, a
        # refused login put right in RabbitMQ (or refused only while it starts).
        raise DeliveryError(reason, retryable=True) from failure.value

    @defer.inlineCallbacks
    def close(self) -> Any:
        """Once the messages being published are confirmed (or have failed),
        give up the connection; it closes when no destination uses it."""
        if self._closed:
            return
        self._closed = True
        if self._in_flight:
            waiter: defer.Deferred[None] = defer.Deferred()
            self._drained.append(waiter)
            yield waiter
        if not self._shared:
            yield self.connection.stop()
            return
        last = _pool.give_back(self._key)
        if last is not None:
            yield last.stop()


def _check_template(name: str, template: str) -> None:
    try:
        fields = [part[1] for part in string.Formatter().parse(template)]
    except ValueError as exc:
        raise ConfigError(
            f"destination '{name}': routing_key '{template}' is not a valid "
            f"pattern: {exc}"
        ) from exc
    unknown = [
        field for field in fields if field is not None and field not in ROUTING_FIELDS
    ]
    if unknown:
        raise ConfigError(
            f"destination '{name}': routing_key uses {{{unknown[0]}}}; it may use "
            + ", ".join(f"{{{field}}}" for field in ROUTING_FIELDS)
        )
