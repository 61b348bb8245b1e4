"""The AMQP source: StUF messages taken from a RabbitMQ queue.

Settings under ``sources:`` in the routes file::

    stuf-in:                         # routes take it as  from: amqp:stuf-in
      type: amqp
      url: amqp://guest:guest@127.0.0.1:5672/%2F   # required
      queue: stuf-in                 # default: the source's name
      prefetch: 32                   # messages being handled at once
      exchange: stuf                 # optional: bind the queue to this exchange
      exchange_type: topic           #   (declared durable, this type)
      binding_key: "#"               #   with this key
      error_exchange: stuf.fouten    # optional: where foutberichten go
      dead_letter_exchange: stuf.dlx # optional: where refused messages go
      retry_seconds: 5               # first wait before a message is given back
      tls: {ca: ..., cert: ..., key: ..., verify: true}   # amqps:// only

``tls`` is the destinations' (:mod:`esb.adapters.tls`): the CAs the
server's certificate must chain to instead of the system's, and a client
certificate for a RabbitMQ that asks for one. The routes loader checks it,
and reads its files, when the routes file is loaded.

The queue is declared durable at every (re)connection, with
``x-dead-letter-exchange`` when ``dead_letter_exchange`` is set (RabbitMQ
refuses a redeclaration with other arguments: an existing queue must have
been declared the same way). Each message is fed to
:meth:`Broker.receive` as a bare StUF message, with the ``SOAPAction``
header if it has one, and acknowledged by hand once the answer is known:

- journaled (a 2xx answer): ack. If the message names a ``reply_to`` queue,
  the answer (Bv03 or the destination's) is published there first, with the
  message's ``correlation_id``.
- refused for what it is (plek client): the foutbericht is published to
  ``error_exchange`` (routing key: the queue's name; headers: the
  original's, plus ``x-emo-fout-code`` and ``x-emo-fout-plek``) and to
  ``reply_to``, then the message is acked, or nacked without requeue when a
  ``dead_letter_exchange`` should keep the original. Never requeued: it
  would be refused again, for ever.
- refused for EMO's own trouble (plek server): nacked with requeue after
  a wait, so RabbitMQ gives it (to this or another broker) again. The wait
  is ``retry_seconds`` and doubles with every such refusal in a row, up to
  five minutes: trouble on EMO's side (the journal unreachable) is not the
  message's, and should not be hammered. The first message handled well
  resets it.

A message that was being handled when the connection dropped is not acked;
RabbitMQ gives it again and the journal answers it as before, delivering
nothing twice. The connection is made again with growing waits
(:class:`esb.adapters.amqp.AmqpConnection`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message as MimeHeaders
from typing import Any

import pika
from pika import exceptions as pika_errors
from twisted.internet import defer, reactor
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from esb.adapters.amqp import AmqpConnection, Channel, masked, tls_policy
from esb.broker import bare_source
from esb.errors import EnvelopeError
from esb.routes.model import SourceDefinition
from esb.sources.base import (
    BrokerRef,
    Verdict,
    fault_verdict,
    read_answer,
    retry_wait,
)

log = Logger()


_GONE = (
    pika_errors.ChannelClosed,
    pika_errors.ConnectionClosed,
    pika_errors.ConsumerCancelled,
    pika_errors.ChannelWrongStateError,
    pika_errors.StreamLostError,
)


@dataclass(frozen=True, slots=True)
class AmqpSourceSettings:
    """The settings of one AMQP source, with their defaults."""

    url: str
    queue: str
    prefetch: int = 32
    exchange: str | None = None
    exchange_type: str = "topic"
    binding_key: str = "#"
    error_exchange: str | None = None
    dead_letter_exchange: str | None = None
    retry_seconds: float = 5.0
    tls: Mapping[str, Any] | None = None

    @classmethod
    def from_definition(cls, definition: SourceDefinition) -> AmqpSourceSettings:
        """From the loader's checked settings (esb/routes/loader.py)."""
        settings = definition.settings

        def optional(key: str) -> str | None:
            value = settings.get(key)
            return str(value) if value else None

        return cls(
            url=str(settings["url"]),
            queue=str(settings.get("queue") or definition.name),
            prefetch=int(settings.get("prefetch", 32)),
            exchange=optional("exchange"),
            exchange_type=str(settings.get("exchange_type", "topic")),
            binding_key=str(settings.get("binding_key", "#")),
            error_exchange=optional("error_exchange"),
            dead_letter_exchange=optional("dead_letter_exchange"),
            retry_seconds=float(settings.get("retry_seconds", 5.0)),
            tls=settings.get("tls"),
        )


class AmqpSource:
    """Consumes one queue and feeds its messages to the broker."""

    def __init__(
        self,
        definition: SourceDefinition,
        broker_ref: BrokerRef,
        *,
        max_bytes: int,
        clock: IReactorTime | None = None,
    ) -> None:
        self.definition = definition
        self.name = definition.source
        self.settings = AmqpSourceSettings.from_definition(definition)
        self.source = bare_source(self.name)
        self.max_bytes = max_bytes
        self._broker = broker_ref
        self.clock: IReactorTime = clock or reactor
        self.connection = AmqpConnection(
            self.settings.url,
            name=f"source {self.name}",
            setup=self._setup,
            clock=clock,
            tls=tls_policy(
                definition.name,
                self.settings.url,
                self.settings.tls,
                owner="source",
            ),
        )
        self._consumer: tuple[Channel, str] | None = None
        self._handling = 0
        # Messages to be given back later: token -> (timer, channel, tag).
        self._later: dict[int, tuple[IDelayedCall, Channel, int]] = {}
        self._later_count = 0
        # EMO-side refusals in a row: each doubles the wait before giving back.
        self._server_failures = 0
        self._idle: list[defer.Deferred[None]] = []
        self._stopping = False
        self.counts = {"acked": 0, "refused": 0, "requeued": 0}

    # Starting and stopping --------------------------------------------------

    def start(self) -> None:
        self._stopping = False
        self.connection.start()
        log.info(
            "Reading queue {queue} at {url} as {name}",
            queue=self.settings.queue,
            url=masked(self.settings.url),
            name=self.name,
        )

    @defer.inlineCallbacks
    def stop(self) -> Any:
        """Take no more messages; answer those being handled; close.

        Messages waiting to be given back are given back now.
        """
        self._stopping = True
        if self._consumer is not None:
            consuming, consumer_tag = self._consumer
            self._consumer = None
            # RabbitMQ may have cancelled the consumer itself (its queue was
            # deleted); pika never answers a cancel of a consumer it no
            # longer knows.
            if consuming.is_open and consumer_tag in consuming.consumer_tags:
                try:
                    yield consuming.basic_cancel(consumer_tag)
                except Exception:
                    pass  # the channel went away meanwhile: nothing to cancel
        for call, channel, tag in list(self._later.values()):
            call.cancel()
            self._nack(channel, tag)
        self._later.clear()
        yield self.idle()
        yield self.connection.stop()
        log.info("Stopped reading queue {queue}", queue=self.settings.queue)

    def idle(self) -> defer.Deferred[None]:
        """Fires once no message is being handled."""
        if self._handling:
            waiter: defer.Deferred[None] = defer.Deferred()
            self._idle.append(waiter)
            return waiter
        return defer.succeed(None)

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.name,
            "type": "amqp",
            "queue": self.settings.queue,
            "connected": self.connection.connected,
            "connections": self.connection.connections,
            "handling": self._handling,
            **self.counts,
        }

    # The channel --------------------------------------------------------------

    @defer.inlineCallbacks
    def _setup(self, channel: Channel) -> Any:
        """Declare, then consume; run on every new connection."""
        settings = self.settings
        yield channel.basic_qos(prefetch_count=settings.prefetch)
        if settings.error_exchange:
            # Foutberichten are published with confirms, so a message is
            # acked only once its foutbericht is safe.
            yield channel.confirm_delivery()
            yield channel.exchange_declare(
                exchange=settings.error_exchange, exchange_type="topic", durable=True
            )
        arguments = None
        if settings.dead_letter_exchange:
            yield channel.exchange_declare(
                exchange=settings.dead_letter_exchange,
                exchange_type="fanout",
                durable=True,
            )
            arguments = {"x-dead-letter-exchange": settings.dead_letter_exchange}
        yield channel.queue_declare(
            queue=settings.queue, durable=True, arguments=arguments
        )
        if settings.exchange:
            yield channel.exchange_declare(
                exchange=settings.exchange,
                exchange_type=settings.exchange_type,
                durable=True,
            )
            yield channel.queue_bind(
                queue=settings.queue,
                exchange=settings.exchange,
                routing_key=settings.binding_key,
            )
        if self._stopping:
            return
        queue, tag = yield channel.basic_consume(queue=settings.queue, auto_ack=False)
        self._consumer = (channel, tag)
        self._consume(channel, queue)

    @defer.inlineCallbacks
    def _consume(self, channel: Channel, queue: Any) -> Any:
        while True:
            try:
                message = yield queue.get()
            except pika_errors.ConsumerCancelled:
                if not self._stopping and channel.is_open:
                    # RabbitMQ cancelled the consumer (its queue was deleted
                    # or its node went down): a new connection declares the
                    # queue again and consumes anew.
                    log.warn(
                        "RabbitMQ cancelled the consumer of queue {queue}; "
                        "connecting again",
                        queue=self.settings.queue,
                    )
                    channel.close()
                return
            except _GONE:
                return  # the connection went; a new one consumes again
            self._handling += 1
            handled = self._handle(channel, message)
            handled.addErrback(self._crashed)
            handled.addBoth(self._handled)

    def _handled(self, result: object) -> None:
        self._handling -= 1
        if not self._handling:
            waiters, self._idle = self._idle, []
            for waiter in waiters:
                waiter.callback(None)

    def _crashed(self, failure: Failure) -> None:
        # A bug here: the message stays unacked, and RabbitMQ gives it again
        # when the channel closes.
        log.failure("Handling a message from {name} failed", failure, name=self.name)

    # One message ----------------------------------------------------------

    @defer.inlineCallbacks
    def _handle(self, channel: Channel, message: Any) -> Any:
        properties = message.properties
        tag = message.method.delivery_tag
        verdict = yield self._answer(message.body, properties)
        if not channel.is_open:
            # Too late to acknowledge: RabbitMQ gives the message again on
            # the next connection, and the journal answers it as before.
            log.info(
                "Message {id} from {name} answered after the connection closed; "
                "RabbitMQ will give it again",
                id=verdict.message_id or "-",
                name=self.name,
            )
            return
        if verdict.ok:
            self._server_failures = 0
            yield self._reply(channel, properties, verdict)
            channel.basic_ack(tag)
            self.counts["acked"] += 1
        elif verdict.retry:
            self._give_back_later(channel, tag, verdict)
            return
        else:
            published = yield self._refuse(channel, properties, verdict)
            if not published:
                self._give_back_later(channel, tag, verdict)
                return
            if self.settings.dead_letter_exchange:
                channel.basic_nack(tag, requeue=False)
            else:
                channel.basic_ack(tag)
            self.counts["refused"] += 1
        # The broker logs one info event per message; a refusal is a warning.
        emit = log.debug if verdict.ok else log.warn
        emit(
            "Message {id} from queue {queue}: {outcome}",
            id=verdict.message_id or "-",
            queue=self.settings.queue,
            outcome=verdict.summary,
        )

    @defer.inlineCallbacks
    def _answer(self, body: bytes, properties: Any) -> Any:
        if len(body) > self.max_bytes:
            return fault_verdict(
                EnvelopeError(
                    "StUF055",
                    f"Bericht is groter dan de grens van {self.max_bytes} bytes",
                )
            )
        headers = properties.headers or {}
        answer = yield self._broker().receive(
            self.source,
            body,
            soap_action=_text(headers.get("SOAPAction")),
            charset=_charset(properties.content_type),
        )
        return read_answer(answer)

    @defer.inlineCallbacks
    def _reply(self, channel: Channel, properties: Any, verdict: Verdict) -> Any:
        """The answer to ``reply_to``, if the sender asked for one (RPC)."""
        if not properties.reply_to or not verdict.answer:
            return
        try:
            yield channel.basic_publish(
                exchange="",
                routing_key=properties.reply_to,
                body=verdict.answer,
                properties=pika.BasicProperties(
                    content_type="text/xml",
                    correlation_id=properties.correlation_id,
                    delivery_mode=2,
                ),
            )
        except Exception as exc:
            # The message is journaled all the same; an answer the sender
            # cannot get is its loss, not a reason to take the message again.
            log.warn(
                "Answer to {reply_to} could not be published: {error}",
                reply_to=properties.reply_to,
                error=str(exc),
            )

    @defer.inlineCallbacks
    def _refuse(self, channel: Channel, properties: Any, verdict: Verdict) -> Any:
        """Publish the foutbericht where it should go; False if that failed."""
        yield self._reply(channel, properties, verdict)
        exchange = self.settings.error_exchange
        if not exchange:
            log.warn(
                "Message {id} from queue {queue} refused and dropped ({summary}); "
                "set error_exchange or dead_letter_exchange to keep it",
                id=verdict.message_id or "-",
                queue=self.settings.queue,
                summary=verdict.summary,
            )
            return True
        headers = dict(properties.headers or {})
        headers["x-emo-fout-code"] = verdict.code or "-"
        headers["x-emo-fout-plek"] = verdict.plek or "-"
        headers["x-emo-source"] = self.name
        try:
            yield channel.basic_publish(
                exchange=exchange,
                routing_key=self.settings.queue,
                body=verdict.answer or verdict.reason().encode(),
                properties=pika.BasicProperties(
                    content_type="text/xml",
                    delivery_mode=2,
                    correlation_id=properties.message_id or properties.correlation_id,
                    headers=headers,
                ),
            )
        except Exception as exc:
            log.warn(
                "Foutbericht for a message from queue {queue} could not be "
                "published to {exchange} ({error}); giving the message back",
                queue=self.settings.queue,
                exchange=exchange,
                error=str(exc),
            )
            return False
        return True

    def _give_back_later(self, channel: Channel, tag: int, verdict: Verdict) -> None:
        self.counts["requeued"] += 1
        self._server_failures += 1
        delay = self.retry_delay()
        log.warn(
            "Message {id} from queue {queue} refused by EMO itself ({summary}); "
            "giving it back in {delay:g} s",
            id=verdict.message_id or "-",
            queue=self.settings.queue,
            summary=verdict.summary,
            delay=delay,
        )
        if self._stopping:
            self._nack(channel, tag)
            return
        self._later_count += 1
        token = self._later_count
        call = self.clock.callLater(delay, self._nack_later, token)
        self._later[token] = (call, channel, tag)

    def retry_delay(self) -> float:
        """The wait before giving back after the current run of refusals."""
        return retry_wait(self.settings.retry_seconds, self._server_failures)

    def _nack_later(self, token: int) -> None:
        _, channel, tag = self._later.pop(token)
        self._nack(channel, tag)

    @staticmethod
    def _nack(channel: Channel, tag: int) -> None:
        if channel.is_open:
            channel.basic_nack(tag, requeue=True)


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value) if value is not None else None


def _charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    parsed = MimeHeaders()
    parsed["content-type"] = content_type
    charset = parsed.get_param("charset")
    return charset if isinstance(charset, str) else None
