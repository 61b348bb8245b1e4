"""The routing side of the broker: journal, route table and delivery.

:func:`prepare_dispatcher` is called at start-up and on every reload, in
two steps. The first reads the routes file and what it names (YAML,
stylesheets, the WSDLs of ``soap`` destinations); it may block, touches
nothing of the reactor's, and a reload runs it in a thread. The second,
in the reactor thread, makes the adapters' connection pools and the
dispatcher. The journal, its writer and the delivery engine are made once
per process and shared by the dispatchers that reloads create; the route
table and the adapters are new each time. A message keeps the dispatcher it
was planned with, so a reload never changes the route of a message in
flight.

For one message, after the broker has identified and validated it::

    plan      the first route whose match holds (and so the validation mode)
    steps     transform, set, wiretap: on the broker's copy of the message
    journal   raw bytes, identification, route and deliveries, committed
    reply     one destination, now; its answer is the sender's answer
    publish   Bv03 to the sender at once; deliveries run on their own
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from lxml import etree
from twisted.internet import defer, reactor, task, threads
from twisted.logger import Logger

from esb.adapters.base import (
    Adapter,
    AdapterFactory,
    DeliveryError,
    Outbound,
    TwoStepFactory,
    adapter_factories,
)
from esb.adapters.http import read_fault
from esb.answers import Answer, confirmation_answer, fault_answer
from esb.broker import NoRoutes, Plan, source_for, split_message
from esb.config import Settings
from esb.delivery import AttemptResult, DeliveryEngine
from esb.envelope import parse_xml
from esb.errors import StufFault
from esb.identify import identify
from esb.journal import (
    DeliveryMode,
    DueDelivery,
    DuplicateMessageError,
    GroupCommitWriter,
    Journal,
    PlannedDelivery,
    ReceivedMessage,
    RecordRouted,
    Retention,
)
from esb.message import Message, Party
from esb.routes import load_routes
from esb.routes.model import Route, RouteTable
from esb.schemaset import SchemaRegistry

log = Logger()


@dataclass
class Runtime:
    """What outlives reloads: the journal, its writer and the engine."""

    journal: Journal
    writer: GroupCommitWriter
    engine: DeliveryEngine
    retention: Retention = field(default_factory=Retention)
    _purger: task.LoopingCall | None = None

    @classmethod
    def open(cls, settings: Settings) -> Runtime:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        journal = Journal.open(
            settings.journal_url, synchronous=settings.journal_synchronous
        )
        writer = GroupCommitWriter(journal)
        writer.start()
        engine = DeliveryEngine(writer, reactor)
        runtime = cls(journal, writer, engine)
        runtime.retention = Retention(
            delivered=_seconds(settings.keep_delivered_days),
            dead=_seconds(settings.keep_dead_days),
        )
        return runtime

    def start(self) -> None:
        self.engine.start()
        self._purger = task.LoopingCall(self.purge)
        self._purger.start(PURGE_SECONDS, now=True).addErrback(
            lambda why: log.failure("Journal purge stopped", why)
        )

    @defer.inlineCallbacks
    def purge(self) -> Any:
        """Remove finished messages past their retention (off the reactor)."""
        try:
            count = yield threads.deferToThread(
                self.journal.apply_retention, self.retention
            )
        except Exception:
            log.failure("Journal purge failed")
            return
        if count:
            log.info("Purged {count} finished message(s) from the journal", count=count)

    @defer.inlineCallbacks
    def close(self) -> Any:
        if self._purger is not None and self._purger.running:
            self._purger.stop()
        self.engine.stop()
        yield self.writer.stop()
        self.journal.close()


class RoutedDispatcher:
    """Routes by one route table, journals, and delivers."""

    def __init__(
        self,
        table: RouteTable,
        runtime: Runtime,
        adapters: Mapping[str, Adapter],
        *,
        system: Party,
    ) -> None:
        self.table = table
        self.runtime = runtime
        self.adapters = adapters
        self.system = system

    # Plan -------------------------------------------------------------------

    def rebuild(self, due: DueDelivery) -> Outbound:
        """The outbound message for a delivery resumed from the journal.

        The route's steps run again on the journaled original, so what is
        delivered after a restart is what would have been delivered before.
        """
        message = Message(raw=due.raw, source=due.source, soap_action=due.soap_action)
        source = source_for(due.source)
        message.envelope, message.body = split_message(parse_xml(due.raw), source)
        message.identification = identify(
            message.body, due.soap_action, source.namespaces
        )
        message.id = due.delivery.message_id
        route = next((r for r in self.table.routes if r.id == due.route), None)
        payload = due.raw
        if route is not None:
            route.run_steps(message)
            payload = _payload(route, message)
        return Outbound(
            message_id=message.id,
            payload=payload,
            soap_action=due.soap_action,
            identification=message.identification,
            attempt=due.delivery.attempts + 1,
        )

    def plan(self, source: str, message: Message) -> Plan:
        route = self.table.match(source, message)
        return Plan(self.table.validation_mode(route, message), route)

    # Dispatch ---------------------------------------------------------------

    def dispatch(self, plan: Plan, message: Message) -> defer.Deferred[Answer]:
        route = plan.route
        if not isinstance(route, Route):
            raise NoRoutes().no_route(message)
        message.route = route.id
        identification = message.identification
        assert identification is not None
        now = reactor.seconds()

        # Snapshot for the journal before the steps change the message.
        if route.mode == "publish":
            answer = confirmation_answer(
                identification.stuurgegevens,
                system=self.system,
                referentienummer=message.id,
                now=now,
            )
            received = ReceivedMessage.from_message(message, answer=answer.body)
        else:
            answer = None
            received = ReceivedMessage.from_message(message)

        # Steps: transform, set, wiretap; and the bytes each destination gets.
        taps = route.run_steps(message)
        payload = _payload(route, message)
        outbounds = [(route.destinations, message, payload)] + [
            ((tap.destination,), tap.message, _payload(route, tap.message))
            for tap in taps
        ]
        # The bytes to deliver are made; the parsed trees are needed no more.
        # Letting them go now, not when the answer is written, keeps a large
        # document (a 25 MB zaakdocument) in memory once instead of twice.
        for _names, held, _payload_bytes in outbounds:
            held.body = held.envelope = None

        # Journal: one transaction holds the message and all its deliveries.
        # From planning on nothing raises: the room kept for the deliveries
        # to attempt now is taken by them, or given back by _refused.
        deliveries = self._planned(route, taps, now)
        now_flags = [delivery.next_attempt_at > now for delivery in deliveries]
        stored = self.runtime.writer.submit(
            RecordRouted(received, route.id, tuple(deliveries), now)
        )

        # Deliver: reply now and wait, or publish and answer Bv03.
        answered: defer.Deferred[Any]
        if route.mode == "publish":
            assert answer is not None
            answered = stored.addCallbacks(
                self._publish,
                self._refused,
                callbackArgs=(outbounds, now_flags, answer),
                errbackArgs=(message, deliveries, now_flags),
            )
        else:
            answered = stored.addCallbacks(
                self._reply,
                self._refused,
                callbackArgs=(route, message, payload, outbounds, now_flags),
                errbackArgs=(message, deliveries, now_flags),
            )
        return cast(defer.Deferred[Answer], answered)

    def _planned(
        self, route: Route, taps: tuple[Any, ...], now: float
    ) -> list[PlannedDelivery]:
        """One delivery per destination and wiretap, in that order.

        A delivery attempted at once is due again only after its attempt's
        time-out (a crash during the attempt makes it due then). A published
        one to a destination with all its attempts under way is not
        attempted now: it is due at once, and the engine's poller takes it
        when the destination has room, so a slow destination holds a bounded
        number of attempts and the rest wait in the journal.
        """
        engine = self.runtime.engine

        def delivery(name: str, mode: DeliveryMode) -> PlannedDelivery:
            if mode == "publish" and not engine.reserve(name):
                engine.wait_for_room(name)
                return PlannedDelivery(name, mode, now)
            return PlannedDelivery(
                name, mode, now + self.table.destinations[name].timeout + 5
            )

        mode: DeliveryMode = "request-reply" if route.mode == "reply" else "publish"
        planned = [delivery(name, mode) for name in route.destinations]
        planned += [delivery(tap.destination, "publish") for tap in taps]
        return planned

    def _refused(
        self,
        failure: Any,
        message: Message,
        deliveries: Sequence[PlannedDelivery],
        now_flags: Sequence[bool],
    ) -> Answer:
        """The journal did not store the message: a repeat gets the answer
        the first one got; anything else is a fault. The room kept for its
        published deliveries is given back."""
        for delivery, at_once in zip(deliveries, now_flags, strict=True):
            if at_once and delivery.mode == "publish":
                self.runtime.engine.release(delivery.destination)
        if failure.check(DuplicateMessageError):
            original = failure.value.original
            if original.answer is not None:
                log.info(
                    "Message {id} repeats {original}: answered as before",
                    id=message.id,
                    original=original.id,
                )
                # A stored foutbericht goes back as it went the first time:
                # a SOAP Fault, HTTP 500.
                status = 500 if read_fault(original.answer) else 200
                return Answer(status, original.answer)
            if original.state == "dead":
                raise StufFault(
                    "StUF016",
                    details=f"bericht {original.id} met dit referentienummer is "
                    "eerder mislukt zonder antwoord (de broker stopte terwijl de "
                    "zender wachtte); stuur het opnieuw met een nieuw "
                    "referentienummer",
                )
            raise StufFault(
                "StUF016",
                details=f"bericht {original.id} met dit referentienummer is nog "
                "in behandeling",
            )
        if failure.check(StufFault):
            failure.raiseException()
        log.failure("Journal write failed for {id}", failure, id=message.id)
        raise StufFault(
            "StUF046",
            plek="server",
            details="het journaal kon het bericht niet "
            "opslaan; probeer het later opnieuw",
        )

    def _outbound(self, message: Message, payload: bytes) -> Outbound:
        return Outbound(
            message_id=message.id,
            payload=payload,
            soap_action=message.soap_action,
            identification=message.identification,
        )

    def _publish(
        self,
        delivery_ids: list[int],
        outbounds: list[tuple[tuple[str, ...], Message, bytes]],
        now_flags: list[bool],
        answer: Answer,
    ) -> Answer:
        self._attempt_published(delivery_ids, outbounds, now_flags)
        return answer

    def _attempt_published(
        self,
        delivery_ids: Sequence[int],
        outbounds: Sequence[tuple[tuple[str, ...], Message, bytes]],
        now_flags: Sequence[bool],
    ) -> None:
        engine = self.runtime.engine
        planned = iter(zip(delivery_ids, now_flags, strict=True))
        for names, message, payload in outbounds:
            outbound = self._outbound(message, payload)
            for name in names:
                delivery_id, at_once = next(planned)
                if at_once:
                    engine.attempt(delivery_id, name, outbound, reserved=True)

    def _reply(
        self,
        delivery_ids: list[int],
        route: Route,
        message: Message,
        payload: bytes,
        outbounds: list[tuple[tuple[str, ...], Message, bytes]],
        now_flags: list[bool],
    ) -> defer.Deferred[Answer]:
        engine = self.runtime.engine
        # Wiretaps are published alongside; only the first delivery replies.
        self._attempt_published(delivery_ids[1:], outbounds[1:], now_flags[1:])

        name = route.destinations[0]
        outbound = self._outbound(message, payload)
        started = reactor.seconds()
        # Plain callbacks for the common case, an answer at the first
        # attempt; retrying while the sender waits is _reply_again's.
        attempted = engine.attempt(delivery_ids[0], name, outbound, keep_answer=True)
        return attempted.addCallback(
            self._replied, delivery_ids[0], name, message, outbound, started
        )

    def _replied(
        self,
        result: AttemptResult,
        delivery_id: int,
        name: str,
        message: Message,
        outbound: Outbound,
        started: float,
    ) -> Answer | defer.Deferred[Answer]:
        if result.outcome == "ok":
            # Kept with its attempt (keep_answer) for a repeat of the request.
            delivered = result.delivered
            assert delivered is not None
            return Answer(
                delivered.status or 200,
                delivered.answer or b"",
                delivered.content_type or "text/xml; charset=utf-8",
            )
        answered: defer.Deferred[Answer] = self._reply_again(
            result, delivery_id, name, message, outbound, started
        )
        return answered

    @defer.inlineCallbacks
    def _reply_again(
        self,
        result: AttemptResult,
        delivery_id: int,
        name: str,
        message: Message,
        outbound: Outbound,
        started: float,
    ) -> Any:
        engine = self.runtime.engine
        destination = self.table.destinations[name]
        while result.outcome == "retry":
            # Retry while the sender waits, within the destination's time-out.
            delay = destination.retry.delay(outbound.attempt, engine.rand)
            elapsed = reactor.seconds() - started
            if elapsed + delay >= destination.timeout:
                yield self._give_up(delivery_id, result.error)
                break
            yield task.deferLater(reactor, delay, lambda: None)
            outbound = dataclasses.replace(outbound, attempt=outbound.attempt + 1)
            result = yield engine.attempt(delivery_id, name, outbound, keep_answer=True)
        if result.outcome == "ok":
            return self._replied(result, delivery_id, name, message, outbound, started)
        # The fault is kept like an answer, so that a repeat of this request
        # (same zender and referentienummer) gets it and has no second
        # effect. A sender that wants another try after a fault with plek
        # server sends a new message: a new referentienummer.
        answer = self._destination_fault(message, name, result.error)
        now = reactor.seconds()
        yield self.runtime.writer.submit(
            lambda tx: tx.store_answer(message.id, answer.body, now=now)
        )
        return answer

    def _give_up(self, delivery_id: int, error: DeliveryError | None) -> Any:
        now = reactor.seconds()
        reason = error.reason if error else "no answer"
        return self.runtime.writer.submit(
            lambda tx: tx.record_attempt(
                delivery_id,
                started_at=now,
                ended_at=now,
                outcome="dead",
                error=f"gave up while the sender waited: {reason}",
            )
        )

    def _destination_fault(
        self, message: Message, name: str, error: DeliveryError | None
    ) -> Answer:
        if error is not None and error.answer and error.status == 500:
            # The destination answered with its own SOAP Fault: the sender
            # sees exactly what the destination said.
            if b"Fault" in error.answer:
                return Answer(500, error.answer)
        identification = message.identification
        fault = StufFault(
            "StUF058",
            plek="server",
            details=f"bestemming {name}: {error.reason if error else 'geen antwoord'}",
        )
        return fault_answer(
            fault,
            identification.stuurgegevens if identification else None,
            system=self.system,
            referentienummer=message.id,
        )


PURGE_SECONDS = 3600.0


def _seconds(days: float | None) -> float | None:
    return None if days is None else days * 86400.0


def _payload(route: Route, message: Message) -> bytes:
    """The bytes to deliver: the original, unless a step changed the message."""
    if not route.alters_message or message.body is None:
        return message.raw
    whole = message.envelope if message.envelope is not None else message.body
    return etree.tostring(whole, xml_declaration=True, encoding="UTF-8")


class Unavailable:
    """A destination whose adapter type is not installed (yet).

    The broker still starts, so that other routes work; every delivery to
    this destination fails, not worth a retry, naming what is missing.
    """

    def __init__(self, name: str, kind: str, installed: list[str]) -> None:
        self.reason = (
            f"destination '{name}' has type '{kind}', for which no adapter is "
            f"installed (installed: {', '.join(installed)})"
        )

    def deliver(self, outbound: Outbound) -> defer.Deferred[Any]:
        return defer.fail(DeliveryError(self.reason, retryable=False))

    def close(self) -> None:
        return None


_runtime: Runtime | None = None


MakeAdapter = Callable[[], Adapter]


def prepare_adapters(
    table: RouteTable, factories: Mapping[str, AdapterFactory]
) -> dict[str, MakeAdapter]:
    """Per destination, what makes its adapter in the reactor thread, with
    the blocking work of a :class:`TwoStepFactory` done here, in the
    calling thread. Raises ConfigError."""
    steps: dict[str, MakeAdapter] = {}
    for name, destination in table.destinations.items():
        factory = factories.get(destination.type)
        if factory is None:
            unavailable = Unavailable(name, destination.type, sorted(factories))
            log.warn("{reason}", reason=unavailable.reason)
            steps[name] = _made(unavailable)
        elif isinstance(factory, TwoStepFactory):
            steps[name] = factory.prepare(
                name, destination.settings, destination.timeout
            )
        else:
            steps[name] = functools.partial(
                factory, name, destination.settings, destination.timeout
            )
    return steps


def _made(adapter: Adapter) -> MakeAdapter:
    return lambda: adapter


def make_adapters(steps: Mapping[str, MakeAdapter]) -> dict[str, Adapter]:
    """Run the second steps of :func:`prepare_adapters`, in the reactor
    thread. When one fails, those made before it are closed again."""
    adapters: dict[str, Adapter] = {}
    try:
        for name, make in steps.items():
            adapters[name] = make()
    except Exception:
        _close(adapters.values())
        raise
    return adapters


def prepare_dispatcher(
    settings: Settings, schemas: SchemaRegistry
) -> Callable[[], NoRoutes | RoutedDispatcher]:
    """Read the routes file of ``settings``; returns the step that makes its
    dispatcher.

    This first step may block (a ``soap`` destination's WSDL is fetched
    here) and may run in any thread. The step returned must run in the
    reactor thread. Either raises ConfigError (with every problem) when the
    file or a destination is broken. Without a routes file nothing is routed
    and every valid message gets a fault saying so.
    """
    path = settings.routes_path
    if not path.exists():
        log.warn("No routes file at {path}: no message will be routed", path=str(path))
        return NoRoutes
    # The stylesheets compiled here are applied in the reactor thread; lxml
    # allows that since 2.0 (its FAQ, on threads), and an identity transform
    # of a creeerZaak measured no slower than with one compiled there.
    table = load_routes(path)
    steps = prepare_adapters(table, adapter_factories())
    return functools.partial(_install, settings, table, steps)


def _install(
    settings: Settings, table: RouteTable, steps: Mapping[str, MakeAdapter]
) -> RoutedDispatcher:
    """The second step of :func:`prepare_dispatcher`: the adapters, the
    runtime at start-up, and the dispatcher; the engine takes the new
    adapters, and the old ones are closed."""
    global _runtime
    adapters = make_adapters(steps)
    if _runtime is None:
        _runtime = Runtime.open(settings)
        _runtime.start()
    dispatcher = RoutedDispatcher(table, _runtime, adapters, system=settings.system)
    previous = _runtime.engine.adapters
    _runtime.engine.update(table.destinations, adapters, dispatcher.rebuild)
    # Attempts under way keep their adapter object and finish; closing
    # releases what the old adapters hold idle (pooled connections).
    _close(previous.values())
    return dispatcher


def _close(adapters: Iterable[Adapter]) -> None:
    for adapter in adapters:
        closed = adapter.close()
        if isinstance(closed, defer.Deferred):
            closed.addErrback(
                lambda failure: log.failure("Closing an adapter", failure)
            )


def close_runtime() -> defer.Deferred[Any]:
    global _runtime
    runtime, _runtime = _runtime, None
    if runtime is None:
        return defer.succeed(None)
    result: defer.Deferred[Any] = runtime.close()
    return result
