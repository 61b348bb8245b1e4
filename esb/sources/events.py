"""The zaakregister's events as a source: every change to a zaak, as a message.

Settings under ``sources:`` in the routes file (all optional)::

    zaken:                       # routes take it as  from: zaakregister-events:zaken
      type: zaakregister-events
      database: sqlite:///var/zaakregister.db   # the register's database
      organisatie: "0392"        # zender of the event messages
      applicatie: EMO            #   (default: applicatie EMO)
      ontvanger: ABONNEES        # ontvanger applicatie (default: EMO)
      document_link: "https://dms.example/{identificatie}"
      poll_seconds: 1            # how often the outbox is read (default 1)
      batch: 100                 # events read and handed over at once
      retry_seconds: 5           # first wait after a fault on EMO's side

``database`` defaults as the zaakregister destination's does (the setting,
else ``EMO_ZAAKREGISTER_URL``, else ``./var/zaakregister.db``), so a routes
file with a ``type: zaakregister`` destination and this source without
settings reads the outbox of the register it writes to.

The register writes an event row in the transaction of each change
(:mod:`registers.zaakregister.gebeurtenissen`, which also describes the
messages: StUF-ZKN ``zakLk01`` and ``edcLk01`` kennisgevingen). This source
polls the rows not yet published, oldest first, and feeds each message to
:meth:`Broker.receive` as a bare StUF message, like a dropped file: it is
identified, validated, journaled and routed (a route publishes it to a file
outbox, RabbitMQ, an HTTP subscriber...). Once the broker has answered, the
event is marked published (``gepubliceerd``) in the register's database.

Delivery is at least once. The broker answers only after its journal has
committed the message and its deliveries, which the journal then carries
out across restarts; an event is marked published only after that answer.
A broker killed in between offers the event again at its next start, with
the same referentienummer, and the journal answers the repeat as before
without publishing it twice. A fault on EMO's side (no route, the journal
unavailable) leaves the events unpublished and the source waits
``retry_seconds``, doubling up to five minutes, before it reads again. An
event the broker refuses for what it is (plek client: the message breaks the
schema in strict mode) is refused the same way every time: it is logged as
an error with the reason and marked published, so it cannot hold up the
events after it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer, reactor, task, threads
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from esb.broker import bare_source
from esb.message import Party
from esb.routes.model import SourceDefinition
from esb.sources.base import BrokerRef, Verdict, read_answer, retry_wait

log = Logger()

# Faults on EMO's side are retried, the wait doubling up to this.

InThread = Callable[..., "defer.Deferred[Any]"]

DOCUMENT_LINK = "urn:emo:zaakregister:document:{identificatie}"


@dataclass(frozen=True, slots=True)
class EventSourceSettings:
    """The settings of one event source, with their defaults."""

    database: str
    zender: Party
    ontvanger: Party
    document_link: str = DOCUMENT_LINK
    poll_seconds: float = 1.0
    batch: int = 100
    retry_seconds: float = 5.0

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any], environ: Mapping[str, str] = os.environ
    ) -> EventSourceSettings:
        """From the loader's checked settings (esb/routes/loader.py)."""
        from esb.adapters.zaakregister import database_url

        link = settings.get("document_link")
        return cls(
            database=database_url(settings, environ),
            zender=Party(
                organisatie=_text(settings.get("organisatie")),
                applicatie=str(settings.get("applicatie") or "EMO"),
            ),
            ontvanger=Party(applicatie=str(settings.get("ontvanger") or "EMO")),
            document_link=str(link) if link else DOCUMENT_LINK,
            poll_seconds=float(settings.get("poll_seconds", 1.0)),
            batch=int(settings.get("batch", 100)),
            retry_seconds=float(settings.get("retry_seconds", 5.0)),
        )


class EventSource:
    """Reads the zaakregister's outbox and feeds its events to the broker."""

    def __init__(
        self,
        definition: SourceDefinition,
        broker_ref: BrokerRef,
        *,
        clock: IReactorTime | None = None,
        in_thread: InThread | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.definition = definition
        self.name = definition.source
        self.settings = EventSourceSettings.from_settings(definition.settings, environ)
        self.source = bare_source(self.name)
        self._broker = broker_ref
        self.clock: IReactorTime = clock or reactor
        self._in_thread: InThread = in_thread or threads.deferToThread
        self._loop: task.LoopingCall | None = None
        self._outbox: Any = None
        self._polling: defer.Deferred[None] | None = None
        self._not_before = float("-inf")
        self._failures = 0
        self._complaint: str | None = None
        self._stopping = False
        self.counts = {"published": 0, "refused": 0, "retried": 0}

    # Starting and stopping --------------------------------------------------

    def start(self) -> None:
        """Read the outbox every ``poll_seconds``, the first time now."""
        self._stopping = False
        loop = self._loop = task.LoopingCall(self._tick)
        loop.clock = self.clock
        running = loop.start(self.settings.poll_seconds, now=True)
        running.addErrback(
            lambda failure: log.failure(
                "Event source {name} stopped", failure, name=self.name
            )
        )
        log.info("Publishing zaakregister events as {name}", name=self.name)

    @defer.inlineCallbacks
    def stop(self) -> Any:
        """Read no more; wait for the events being handed over; let go of the
        database. Events not yet marked published are offered at the next
        start."""
        self._stopping = True
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self._polling is not None:
            yield self._polling
        if self._outbox is not None:
            from esb.adapters.zaakregister import release_database

            self._outbox = None
            release_database(self.settings.database)
        log.info("Stopped publishing zaakregister events as {name}", name=self.name)

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.name,
            "type": "zaakregister-events",
            "failures": self._failures,
            **self.counts,
        }

    # Polling ----------------------------------------------------------------

    def _tick(self) -> None:
        # A poll still running (a large batch, a slow broker) is not doubled.
        if self._polling is not None or self._stopping:
            return
        if self.clock.seconds() < self._not_before:
            return
        polling = self._polling = self.poll()
        polling.addErrback(self._complain)
        polling.addBoth(self._polled)

    def _polled(self, result: object) -> None:
        self._polling = None

    @defer.inlineCallbacks
    def poll(self) -> Any:
        """Hand over the unpublished events, a batch at a time, until none
        are left or the broker refuses for its own reasons."""
        if self._outbox is None:
            self._outbox = yield self._in_thread(self._open)
        while not self._stopping:
            events = yield self._in_thread(self._outbox.pending, self.settings.batch)
            self._complaint = None
            if not events:
                return
            verdicts = yield defer.gatherResults(
                [self._hand_over(event) for event in events], consumeErrors=True
            )
            done = [
                event.id
                for event, verdict in zip(events, verdicts, strict=True)
                if not verdict.retry
            ]
            yield self._in_thread(self._outbox.published, done, self.clock.seconds())
            self._count(events, verdicts)
            if len(done) < len(events):
                self._back_off(verdicts)
                return
            self._failures = 0
            if len(events) < self.settings.batch:
                return

    def _open(self) -> Any:
        # The register's modules are imported only when a routes file
        # declares this source, as the adapter's are.
        from esb.adapters.zaakregister import open_database
        from registers.zaakregister.gebeurtenissen import Outbox

        return Outbox(
            open_database(self.settings.database),
            zender=self.settings.zender,
            ontvanger=self.settings.ontvanger,
            document_link=self.settings.document_link,
        )

    @defer.inlineCallbacks
    def _hand_over(self, event: Any) -> Any:
        try:
            answer = yield self._broker().receive(self.source, event.message)
        except Exception:
            # Broker.receive always answers; this is a bug, not the event's.
            log.failure("No answer for event {event}", event=event.id)
            return Verdict(False, 500, b"", code="StUF058", plek="server")
        verdict = read_answer(answer)
        if not verdict.ok and not verdict.retry:
            log.error(
                "Event {event} ({soort}, zaak {zaak}) refused: {summary}; "
                "it will not be offered again",
                event=event.id,
                soort=event.soort,
                zaak=event.zaak_identificatie,
                summary=verdict.summary,
            )
        return verdict

    def _count(self, events: list[Any], verdicts: list[Verdict]) -> None:
        for verdict in verdicts:
            if verdict.ok:
                self.counts["published"] += 1
            elif verdict.retry:
                self.counts["retried"] += 1
            else:
                self.counts["refused"] += 1

    def _back_off(self, verdicts: list[Verdict]) -> None:
        self._failures += 1
        delay = retry_wait(self.settings.retry_seconds, self._failures)
        self._not_before = self.clock.seconds() + delay
        first = next(v for v in verdicts if v.retry)
        log.warn(
            "Events on {source} refused by EMO itself ({summary}); "
            "reading the outbox again in {delay:.0f} s",
            source=self.name,
            summary=first.summary,
            delay=delay,
        )

    def _complain(self, failure: Failure) -> None:
        # The database may be unreachable for a while; say so once, not at
        # every poll, and wait as after a refusal.
        text = str(failure.value)
        if text != self._complaint:
            self._complaint = text
            log.error(
                "Event source {name} cannot read the zaakregister's outbox: {error}",
                name=self.name,
                error=text,
            )
        self._failures += 1
        self._not_before = self.clock.seconds() + retry_wait(
            self.settings.retry_seconds, self._failures
        )


def _text(value: object) -> str | None:
    return None if value in (None, "") else str(value)
