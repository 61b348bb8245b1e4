"""The file-drop source: StUF messages dropped as files in a folder.

Settings under ``sources:`` in the routes file::

    inbox:                      # routes take it as  from: file:inbox
      type: file
      path: /srv/emo/inbox      # required; created if missing
      pattern: "*.xml"          # which files are messages (default: all)
      stable_seconds: 2         # complete once unchanged this long (default 2)
      marker: .ready            # or: complete once NAME.ready exists
      poll_seconds: 1           # how often the folder is read (default 1)
      concurrency: 16           # files handled at once (default 16)
      retry_seconds: 5          # first wait after a fault on EMO's side

A file goes through the folder like this::

    inbox/NAME  --claim-->  work/NAME  --answer-->  done/NAME
                                                or  error/NAME + NAME.reason

A file is *complete* when its marker file is there (with ``marker``), or
else when its size and modification time have not changed for
``stable_seconds``. Dot-files, marker files, symbolic links and names that
do not match ``pattern`` are never taken, so a producer writes ``.NAME`` and
renames it when done, or writes the marker last.

Claiming is safe among several brokers reading one folder: the claimer
takes an exclusive ``flock`` on the file, checks it still has the name it
was listed under, and renames it into ``work/``; a rename succeeds once. The
lock is held until the file has left ``work/``, so a file in ``work/`` that
nobody holds a lock on belongs to a process that died: it is taken again, at
start-up and every half minute. Taking it again is harmless, because the
journal knows the message (same zender and referentienummer) and answers as
before without delivering it a second time.

Each file is fed to :meth:`Broker.receive` like any bare StUF message, so
it is identified, validated, journaled and routed exactly as if it had
arrived over HTTP. The answer decides (:mod:`esb.sources.base`): journaled,
to ``done/``; refused for what it is (plek client), to ``error/`` with
``NAME.reason`` beside it giving the StUF code, omschrijving and details;
refused for EMO's own trouble (plek server), kept in ``work/`` and tried
again, waiting twice as long each time up to five minutes.

Names in ``done/`` and ``error/`` are never overwritten: a name already
there gets a few random characters before its extension. All folders must
be on one file system (renames) that supports ``flock`` (local disks do;
NFS v4 does).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twisted.internet import defer, reactor, task, threads
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

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
from esb.sources.folder import Claim, Completeness, Inbox

log = Logger()

# A file in work/ whose owner died is looked for this often (and at start).
RECOVER_SECONDS = 30.0
# Faults on EMO's side are retried, the wait doubling up to this.

InThread = Callable[..., "defer.Deferred[Any]"]


@dataclass(frozen=True, slots=True)
class FileSourceSettings:
    """The settings of one file source, with their defaults."""

    path: Path
    pattern: str = "*"
    marker: str | None = None
    stable_seconds: float = 2.0
    poll_seconds: float = 1.0
    concurrency: int = 16
    retry_seconds: float = 5.0

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> FileSourceSettings:
        """From the loader's checked settings (esb/routes/loader.py)."""
        return cls(
            path=Path(str(settings["path"])).expanduser(),
            pattern=str(settings.get("pattern", "*")),
            marker=str(settings["marker"]) if settings.get("marker") else None,
            stable_seconds=float(settings.get("stable_seconds", 2.0)),
            poll_seconds=float(settings.get("poll_seconds", 1.0)),
            concurrency=int(settings.get("concurrency", 16)),
            retry_seconds=float(settings.get("retry_seconds", 5.0)),
        )


class FileSource:
    """Reads one folder and feeds its complete files to the broker."""

    def __init__(
        self,
        definition: SourceDefinition,
        broker_ref: BrokerRef,
        *,
        max_bytes: int,
        clock: IReactorTime | None = None,
        in_thread: InThread | None = None,
    ) -> None:
        self.definition = definition
        self.name = definition.source
        self.settings = FileSourceSettings.from_settings(definition.settings)
        self.source = bare_source(self.name)
        self.inbox = Inbox(
            self.settings.path, self.settings.pattern, self.settings.marker
        )
        self.completeness = Completeness(
            self.settings.stable_seconds, marker=self.settings.marker is not None
        )
        self._broker = broker_ref
        self.max_bytes = max_bytes
        self.clock: IReactorTime = clock or reactor
        self._in_thread: InThread = in_thread or threads.deferToThread
        self._loop: task.LoopingCall | None = None
        self._ready: deque[str] = deque()
        self._claiming = 0
        self._handling = 0
        self._held: dict[Path, Claim] = {}
        self._idle: list[defer.Deferred[None]] = []
        self._prepared = False
        self._complaint: str | None = None
        self._last_recovery = float("-inf")
        self._stopping = False
        self.recover_seconds = RECOVER_SECONDS
        self.counts = {"done": 0, "error": 0, "retried": 0}

    # Starting and stopping --------------------------------------------------

    def start(self) -> None:
        """Poll the folder every ``poll_seconds``, the first time now."""
        self._stopping = False
        loop = self._loop = task.LoopingCall(self._tick)
        loop.clock = self.clock
        running = loop.start(self.settings.poll_seconds, now=True)
        running.addErrback(
            lambda failure: log.failure(
                "File source {name} stopped", failure, name=self.name
            )
        )
        log.info(
            "Reading files from {path} as {name}",
            path=str(self.settings.path),
            name=self.name,
        )

    @defer.inlineCallbacks
    def stop(self) -> Any:
        """Take no more files; finish those being answered; let go of the rest.

        A file waiting to be tried again stays in work/, where the next start
        (or another broker reading the folder) takes it up.
        """
        self._stopping = True
        self._ready.clear()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        for claim in list(self._held.values()):
            if claim.retry is not None and claim.retry.active():
                claim.retry.cancel()
                self._let_go(claim)
        yield self.idle()
        log.info("Stopped reading files as {name}", name=self.name)

    def describe(self) -> dict[str, Any]:
        retrying = sum(1 for claim in self._held.values() if claim.retry is not None)
        return {
            "source": self.name,
            "type": "file",
            "path": str(self.settings.path),
            "held": len(self._held),
            "retrying": retrying,
            **self.counts,
        }

    # Polling ------------------------------------------------------------------

    def _tick(self) -> defer.Deferred[None]:
        polled = self.poll()
        polled.addErrback(self._complain)
        return polled

    @defer.inlineCallbacks
    def poll(self) -> Any:
        """Read the folder once and start on the complete files.

        Fires when the files are claimed and being answered, not when they
        are done (see :meth:`idle`).
        """
        if not self._prepared:
            yield self._in_thread(self.inbox.prepare)
            self._prepared = True
        now = self.clock.seconds()
        if now - self._last_recovery >= self.recover_seconds:
            self._last_recovery = now
            held = set(self._held)
            orphans = yield self._in_thread(self.inbox.orphans, held, self.max_bytes)
            for claim in orphans:
                log.info(
                    "File {file} was left in work/ by a process that stopped; "
                    "taking it again",
                    file=claim.path.name,
                )
                self._take(claim)
        sightings = yield self._in_thread(self.inbox.look)
        complete = self.completeness.complete(sightings, self.clock.seconds())
        self._ready = deque(complete)
        self._complaint = None
        self._fill()

    def idle(self) -> defer.Deferred[None]:
        """Fires once no file is being claimed or answered (files waiting to
        be tried again aside)."""
        if self._busy():
            waiter: defer.Deferred[None] = defer.Deferred()
            self._idle.append(waiter)
            return waiter
        return defer.succeed(None)

    def _busy(self) -> bool:
        return bool(self._claiming or self._handling or self._ready)

    def _complain(self, failure: Failure) -> None:
        # The folder may be missing or unreadable for a while (a mount that
        # is not there yet); say so once, not at every poll.
        text = str(failure.value)
        if text != self._complaint:
            self._complaint = text
            log.error(
                "File source {name} cannot read {path}: {error}",
                name=self.name,
                path=str(self.settings.path),
                error=text,
            )
        self._ready.clear()
        self._check_idle()

    def _fill(self) -> None:
        """Claim ready files while there is room."""
        while (
            self._ready
            and not self._stopping
            and len(self._held) + self._claiming < self.settings.concurrency
        ):
            name = self._ready.popleft()
            self._claiming += 1
            claimed = self._in_thread(self.inbox.claim, name, self.max_bytes)
            claimed.addCallbacks(self._claimed, self._claim_failed, errbackArgs=(name,))
        self._check_idle()

    def _claimed(self, claim: Claim | None) -> None:
        self._claiming -= 1
        if claim is not None:
            self._take(claim)
        self._fill()

    def _claim_failed(self, failure: Failure, name: str) -> None:
        self._claiming -= 1
        log.error(
            "Could not claim {file} in {name}: {error}",
            file=name,
            name=self.name,
            error=str(failure.value),
        )
        self._fill()

    def _check_idle(self) -> None:
        if not self._busy():
            waiters, self._idle = self._idle, []
            for waiter in waiters:
                waiter.callback(None)

    # One file -------------------------------------------------------------

    def _take(self, claim: Claim) -> None:
        if self._stopping:
            self._let_go(claim)
            return
        self._held[claim.path] = claim
        self._handle(claim).addErrback(self._crashed, claim)

    @defer.inlineCallbacks
    def _handle(self, claim: Claim) -> Any:
        self._handling += 1
        claim.retry = None
        claim.attempts += 1
        try:
            verdict = yield self._answer(claim)
            if verdict.ok:
                yield self._finish(claim, verdict, "done")
            elif verdict.retry and not self._stopping:
                self._try_later(claim, verdict)
            elif verdict.retry:
                self._let_go(claim)
            else:
                yield self._finish(claim, verdict, "error")
        finally:
            self._handling -= 1
            self._fill()

    @defer.inlineCallbacks
    def _answer(self, claim: Claim) -> Any:
        """The verdict on a claimed file: the broker's, unless it is too big."""
        if claim.data is None:
            return fault_verdict(
                EnvelopeError(
                    "StUF055",
                    f"Bestand is groter dan de grens van {self.max_bytes} bytes",
                    details=f"{claim.name} heeft {claim.size} bytes",
                )
            )
        try:
            answer = yield self._broker().receive(self.source, claim.data)
        except Exception:
            # Broker.receive always answers; this is a bug, and the file is
            # not to blame for it.
            log.failure("No answer for file {file}", file=claim.name)
            return Verdict(False, 500, b"", code="StUF058", plek="server")
        return read_answer(answer)

    @defer.inlineCallbacks
    def _finish(self, claim: Claim, verdict: Verdict, outcome: str) -> Any:
        try:
            if outcome == "done":
                target = yield self._in_thread(self.inbox.finish_done, claim)
            else:
                reason = verdict.reason(
                    file=claim.path.name,
                    source=self.name,
                    taken=_utc(self.clock.seconds()),
                )
                target = yield self._in_thread(self.inbox.finish_error, claim, reason)
        except Exception:
            # The file stays in work/, where the recovery takes it up again;
            # the journal answers it as before, so nothing is done twice.
            log.failure(
                "Could not move {file} to {outcome}/", file=claim.name, outcome=outcome
            )
            self._let_go(claim)
            return
        self.counts[outcome] += 1
        self._let_go(claim)
        # The broker logs one info event per message; here only what the
        # operator must act on is a warning, the way to done/ is debug.
        emit = log.debug if outcome == "done" else log.warn
        emit(
            "File {file} on {source}: {outcome} ({summary}), message {id}",
            file=claim.name,
            source=self.name,
            outcome=f"{outcome}/{target.name}",
            summary=verdict.summary,
            id=verdict.message_id or "-",
        )

    def _try_later(self, claim: Claim, verdict: Verdict) -> None:
        delay = retry_wait(self.settings.retry_seconds, claim.attempts)
        self.counts["retried"] += 1
        log.warn(
            "File {file} on {source} refused by EMO itself ({summary}); "
            "trying again in {delay:.0f} s",
            file=claim.name,
            source=self.name,
            summary=verdict.summary,
            delay=delay,
        )
        claim.retry = self.clock.callLater(delay, self._again, claim)

    def _again(self, claim: Claim) -> None:
        if self._stopping:
            self._let_go(claim)
            return
        self._handle(claim).addErrback(self._crashed, claim)

    def _crashed(self, failure: Failure, claim: Claim) -> None:
        # A bug in this module: the file stays in work/ for the recovery.
        log.failure("Handling file {file} failed", failure, file=claim.name)
        self._let_go(claim)

    def _let_go(self, claim: Claim) -> None:
        self._held.pop(claim.path, None)
        claim.release()


def _utc(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))
