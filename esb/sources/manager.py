"""Starting, re-applying and stopping the sources a routes file declares.

The broker service hands the manager the ``sources:`` of every route table
it loads: at start-up, and again after each reload. The manager compares
them with what runs: a source whose definition is unchanged keeps running
(it looks the broker up per message, so it uses the new routes at once), a
changed one is stopped and started with its new settings, a removed one is
stopped, a new one started. At shutdown the sources stop first, so no new
message comes in while the rest of the broker winds down.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger

from esb.routes.model import SourceDefinition
from esb.sources.base import BrokerRef, InboundSource

log = Logger()

SourceFactory = Callable[[SourceDefinition, BrokerRef, int], InboundSource]
"""Builds a source from (its definition, the broker reference, max bytes)."""


def _file_source(
    definition: SourceDefinition, broker_ref: BrokerRef, max_bytes: int
) -> InboundSource:
    from esb.sources.files import FileSource

    return FileSource(definition, broker_ref, max_bytes=max_bytes)


def _amqp_source(
    definition: SourceDefinition, broker_ref: BrokerRef, max_bytes: int
) -> InboundSource:
    # pika is imported only when a routes file reads a queue.
    from esb.sources.amqp import AmqpSource

    return AmqpSource(definition, broker_ref, max_bytes=max_bytes)


def _events_source(
    definition: SourceDefinition, broker_ref: BrokerRef, max_bytes: int
) -> InboundSource:
    from esb.sources.events import EventSource

    return EventSource(definition, broker_ref)


FACTORIES: Mapping[str, SourceFactory] = {
    "file": _file_source,
    "amqp": _amqp_source,
    "zaakregister-events": _events_source,
}


class SourceManager:
    """The sources of one broker process."""

    def __init__(
        self,
        broker_ref: BrokerRef,
        *,
        max_bytes: int,
        factories: Mapping[str, SourceFactory] = FACTORIES,
    ) -> None:
        self._broker = broker_ref
        self.max_bytes = max_bytes
        self._factories = factories
        self.running: dict[str, tuple[SourceDefinition, InboundSource]] = {}
        # One application at a time: a quick second reload waits its turn.
        self._lock = defer.DeferredLock()

    def apply(
        self,
        definitions: Mapping[str, SourceDefinition],
        route_sources: Collection[str] = (),
    ) -> defer.Deferred[None]:
        """Make the running sources those of ``definitions``.

        ``route_sources`` are the sources the routes take messages from; one
        of kind file or amqp that is not defined gets a warning, since no
        message will ever arrive there.
        """
        for name in sorted(route_sources):
            if name.startswith(("file:", "amqp:")) and name not in definitions:
                log.warn(
                    "Routes take messages from {source}, but the routes file "
                    "declares no such source under 'sources:'; nothing will "
                    "arrive there",
                    source=name,
                )
        applied: defer.Deferred[None] = self._lock.run(self._apply, dict(definitions))
        return applied

    def stop(self) -> defer.Deferred[None]:
        """Stop every source; fires when each has let go of its messages."""
        stopped: defer.Deferred[None] = self._lock.run(self._apply, {})
        return stopped

    def settled(self) -> defer.Deferred[None]:
        """Fires once the applications asked for so far have been made."""
        settled: defer.Deferred[None] = self._lock.run(lambda: None)
        return settled

    def describe(self) -> list[Mapping[str, Any]]:
        return [source.describe() for _, source in self.running.values()]

    @defer.inlineCallbacks
    def _apply(self, wanted: dict[str, SourceDefinition]) -> Any:
        leaving = [
            name
            for name, (definition, _) in self.running.items()
            if wanted.get(name) != definition
        ]
        stops = []
        for name in leaving:
            _, source = self.running.pop(name)
            stops.append(source.stop())
        results = yield defer.DeferredList(stops, consumeErrors=True)
        for ok, failure in results:
            if not ok:
                log.failure("A source did not stop cleanly", failure)
        for name, definition in wanted.items():
            if name in self.running:
                continue
            factory = self._factories.get(definition.type)
            if factory is None:
                log.error(
                    "Source {source} has type {type}, which this EMO cannot read",
                    source=name,
                    type=definition.type,
                )
                continue
            try:
                source = factory(definition, self._broker, self.max_bytes)
                source.start()
            except Exception:
                log.failure("Source {source} could not start", source=name)
                continue
            self.running[name] = (definition, source)
