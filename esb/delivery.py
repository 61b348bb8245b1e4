"""Guaranteed delivery: attempts, retries, dead letters, resumption.

Every delivery is a row in the journal before its first attempt. An attempt
is made straight away for a new message; the row's ``next_attempt_at`` is set
past the attempt's time-out first, so if the process dies during the attempt
the poller of the next process finds it due and tries again: delivery is at
least once. The outcome of every attempt is journaled:

- ``ok``: delivered;
- a failure worth retrying (:attr:`DeliveryError.retryable`) with attempts
  left: retrying, due again after the destination's backoff;
- otherwise dead, and a copy goes to the destination's dead letter, if any.

A destination that fails only pushes back its own deliveries; each
destination has its own cap on attempts in flight, so one that hangs cannot
take every slot.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer, task
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from esb.adapters.base import Adapter, Delivered, DeliveryError, Outbound
from esb.journal import (
    DueDelivery,
    GroupCommitWriter,
    Outcome,
    PlannedDelivery,
    RecordDelivered,
    Transaction,
)
from esb.routes.model import Destination

log = Logger()

POLL_SECONDS = 0.5
MAX_IN_FLIGHT = 64
# At most this many due deliveries per destination in one poll, and of those
# to destinations gone from the routes.
CLAIM_LIMIT = 200
OTHERS_LIMIT = 20


@dataclass(frozen=True, slots=True)
class AttemptResult:
    outcome: Outcome
    delivered: Delivered | None = None
    error: DeliveryError | None = None


Rebuild = Callable[[DueDelivery], Outbound]


class DeliveryEngine:
    """Makes delivery attempts and journals their outcomes.

    One engine lives as long as the process; a route reload hands it new
    destinations and adapters with :meth:`update`, and attempts under way
    finish with the adapter they started with.
    """

    def __init__(
        self,
        writer: GroupCommitWriter,
        reactor: IReactorTime,
        *,
        rand: Callable[[], float] = random.random,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self.writer = writer
        self.reactor = reactor
        self.rand = rand
        self.max_in_flight = max_in_flight
        self.destinations: Mapping[str, Destination] = {}
        self.adapters: Mapping[str, Adapter] = {}
        self.rebuild: Rebuild | None = None
        self.in_flight: dict[str, int] = {}
        # Room kept for attempts whose message is being journaled.
        self.reserved: dict[str, int] = {}
        self._poller: task.LoopingCall | None = None
        self._polling = False
        # Destinations whose last poll found more due than they had room for.
        self._backlogged: set[str] = set()

    def update(
        self,
        destinations: Mapping[str, Destination],
        adapters: Mapping[str, Adapter],
        rebuild: Rebuild,
    ) -> None:
        self.destinations = destinations
        self.adapters = adapters
        self.rebuild = rebuild

    def now(self) -> float:
        return self.reactor.seconds()

    def has_room(self, destination_name: str) -> bool:
        """Whether another attempt to this destination may start now."""
        busy = self.in_flight.get(destination_name, 0)
        return busy + self.reserved.get(destination_name, 0) < self.max_in_flight

    def reserve(self, destination_name: str) -> bool:
        """Keep room for an attempt that starts once its message is
        journaled (:meth:`attempt` with ``reserved``); False when there is
        none."""
        if not self.has_room(destination_name):
            return False
        self.reserved[destination_name] = self.reserved.get(destination_name, 0) + 1
        return True

    def release(self, destination_name: str) -> None:
        """Give back room kept by :meth:`reserve` for an attempt that will
        not start (its message was not journaled)."""
        self.reserved[destination_name] -= 1

    def wait_for_room(self, destination_name: str) -> None:
        """A delivery to this destination waits in the journal, due: poll
        as soon as half the destination's room is free again."""
        self._backlogged.add(destination_name)

    # One attempt ------------------------------------------------------------

    def attempt(
        self,
        delivery_id: int,
        destination_name: str,
        outbound: Outbound,
        *,
        keep_answer: bool = False,
        reserved: bool = False,
    ) -> defer.Deferred[AttemptResult]:
        """Make one attempt and journal it; fires with an AttemptResult.

        ``reserved``: the attempt takes the room :meth:`reserve` kept for it.

        ``keep_answer``: a request-reply delivery's answer is the sender's,
        kept for a repeat of the request; a delivered one is stored in the
        transaction that records the attempt (one journal write, not two).

        Written with plain callbacks rather than inlineCallbacks: every
        delivery passes here, and the generator machinery cost more than
        the bookkeeping itself.
        """
        destination = self.destinations.get(destination_name)
        adapter = self.adapters.get(destination_name)
        started = self.now()
        if reserved:
            self.release(destination_name)
        self.in_flight[destination_name] = self.in_flight.get(destination_name, 0) + 1
        sent: defer.Deferred[Any]
        if destination is None or adapter is None:
            sent = defer.fail(
                DeliveryError(
                    f"destination '{destination_name}' is not in the current routes",
                    retryable=True,
                )
            )
        else:
            try:
                sent = adapter.deliver(outbound)
            except Exception:
                sent = defer.fail()
            else:
                if not getattr(adapter, "keeps_timeout", False):
                    sent.addTimeout(destination.timeout, self.reactor)
        attempted: defer.Deferred[AttemptResult] = sent.addBoth(
            self._attempted,
            delivery_id,
            destination_name,
            destination,
            outbound,
            started,
            keep_answer,
        )
        return attempted

    def _attempted(
        self,
        result: Delivered | Failure,
        delivery_id: int,
        destination_name: str,
        destination: Destination | None,
        outbound: Outbound,
        started: float,
        keep_answer: bool,
    ) -> defer.Deferred[AttemptResult]:
        self.in_flight[destination_name] -= 1
        if (
            destination_name in self._backlogged
            and self.in_flight[destination_name] <= self.max_in_flight // 2
        ):
            # Half its room is free again and deliveries are waiting: take
            # them now rather than at the next tick of the poller.
            self._backlogged.discard(destination_name)
            self.kick()
        ended = self.now()
        if not isinstance(result, Failure):
            delivered = result
            written = self.writer.submit(
                RecordDelivered(
                    delivery_id,
                    started,
                    ended,
                    outbound.message_id,
                    (delivered.answer or b"") if keep_answer else None,
                )
            )
            return written.addCallback(
                lambda _: AttemptResult("ok", delivered=delivered)
            )

        error = self._error_of(result, destination, destination_name, outbound)
        attempts_allowed = destination.retry.attempts if destination else 1
        retry = error.retryable and outbound.attempt < attempts_allowed
        if destination is None and error.retryable:
            retry = True
        outcome: Outcome = "retry" if retry else "dead"
        delay = (
            destination.retry.delay(outbound.attempt, self.rand)
            if destination
            else 60.0
        )
        dead_letter = destination.dead_letter if destination and not retry else None
        log.warn(
            "Delivery of {id} to {destination} failed (attempt {attempt}): "
            "{reason}; {next}",
            id=outbound.message_id,
            destination=destination_name,
            attempt=outbound.attempt,
            reason=error.reason,
            next=f"retry in {delay:.1f} s" if retry else "dead",
        )

        def record(tx: Transaction) -> None:
            tx.record_attempt(
                delivery_id,
                started_at=started,
                ended_at=ended,
                outcome=outcome,
                error=error.reason[:2000],
                answer=error.answer[:100_000] if error.answer else None,
                next_attempt_at=ended + delay if retry else None,
            )
            if dead_letter:
                tx.add_deliveries(
                    outbound.message_id,
                    [PlannedDelivery(dead_letter, "publish", ended)],
                    now=ended,
                )

        def recorded(_: object) -> AttemptResult:
            if dead_letter:
                self.kick()
            return AttemptResult(outcome, error=error)

        return self.writer.submit(record).addCallback(recorded)

    def _error_of(
        self,
        failure: Failure,
        destination: Destination | None,
        destination_name: str,
        outbound: Outbound,
    ) -> DeliveryError:
        """What a failed attempt comes to: the adapter's DeliveryError, a
        time-out, or (a bug in the adapter) anything else, worth a retry."""
        if failure.check(DeliveryError):
            assert isinstance(failure.value, DeliveryError)
            return failure.value
        if failure.check(defer.TimeoutError):
            timeout = destination.timeout if destination else 0
            return DeliveryError(f"no answer within {timeout:g} s", retryable=True)
        log.failure(
            "Adapter of {destination} failed on message {id}",
            failure,
            destination=destination_name,
            id=outbound.message_id,
        )
        exc = failure.value
        return DeliveryError(f"{type(exc).__name__}: {exc}", retryable=True)

    # Polling ----------------------------------------------------------------

    def start(self) -> None:
        self._poller = task.LoopingCall(self.poll)
        self._poller.clock = self.reactor
        self._poller.start(POLL_SECONDS, now=True).addErrback(
            lambda failure: log.failure("Delivery poller stopped", failure)
        )

    def stop(self) -> None:
        if self._poller is not None and self._poller.running:
            self._poller.stop()

    def kick(self) -> None:
        """Poll soon, for deliveries that just became due."""
        self.reactor.callLater(0, self.poll)

    @defer.inlineCallbacks
    def poll(self) -> Any:
        """Claim the deliveries that are due and attempt them."""
        if self._polling or self.rebuild is None:
            return
        self._polling = True
        try:
            # Each destination takes as many due deliveries as it has room
            # for; what it has no room for stays due for the next poll. Each
            # is claimed until its attempt's time-out has passed.
            now = self.now()
            free = {
                name: (
                    min(CLAIM_LIMIT, self.max_in_flight - self.in_flight.get(name, 0)),
                    now + destination.timeout + 5,
                )
                for name, destination in self.destinations.items()
            }
            longest = max((d.timeout for d in self.destinations.values()), default=30.0)
            others = (OTHERS_LIMIT, now + longest + 5)
            due: list[DueDelivery] = yield self.writer.submit(
                lambda tx: tx.claim_due_per_destination(now, free, others=others)
            )
            taken: dict[str, int] = {}
            for item in due:
                name = item.delivery.destination
                taken[name] = taken.get(name, 0) + 1
                self._resume(item)
            self._backlogged.update(
                name
                for name, (limit, _until) in free.items()
                if limit > 0 and taken.get(name, 0) == limit
            )
        except Exception:
            log.failure("Delivery poll failed")
        finally:
            self._polling = False

    def _resume(self, due: DueDelivery) -> None:
        delivery = due.delivery
        if delivery.mode == "request-reply":
            # The sender waited for this answer on a connection that is gone;
            # delivering now would act on a request nobody is waiting for.
            ended = self.now()
            self.writer.submit(
                lambda tx: tx.record_attempt(
                    delivery.id,
                    started_at=ended,
                    ended_at=ended,
                    outcome="dead",
                    error="the broker stopped while the sender waited for the "
                    "answer; not delivered again",
                )
            )
            return
        if not self.has_room(delivery.destination):
            return  # claimed until its time-out; taken up again then
        assert self.rebuild is not None
        try:
            outbound = self.rebuild(due)
        except Exception as exc:
            ended = self.now()
            reason = f"cannot rebuild the message from the journal: {exc}"
            self.writer.submit(
                lambda tx: tx.record_attempt(
                    delivery.id,
                    started_at=ended,
                    ended_at=ended,
                    outcome="dead",
                    error=reason,
                )
            )
            return
        self.attempt(delivery.id, delivery.destination, outbound)
