"""``emo bench``: drive a running broker with copies of one message, measure it.

Every copy of the example message gets a fresh referentienummer (the text of
its first ``referentienummer`` element), because the broker refuses a repeat
of zender plus referentienummer as a duplicate (StUF 03.01: the pair is
unique) and a benchmark of duplicates would measure the wrong path.

Two ways to load the broker:

- closed loop (the default): ``--concurrency`` connections, each sending
  the next copy as soon as the previous answer is in, for ``--duration``
  seconds or ``--count`` copies. This finds the throughput.
- open loop (``--rate R``): copies are due at a fixed rate whatever the
  broker does, spread over the ``--concurrency`` connections; a copy that
  finds every connection busy waits. Latency is measured from the moment a
  copy was due, not from when it could be sent, so a broker that falls behind
  is seen to (no "coordinated omission"). This answers "what is the p99 at
  500 per second".

The load generator must never be what is measured: it is a bare Twisted
protocol on persistent HTTP/1.1 connections writing requests whose bytes are
built once (only the referentienummer changes), and it classifies answers by
looking at a few bytes, never parsing them. Against ``bench/sink.py`` it
makes well over ten times the requests per second the broker does; the README
in ``bench/`` has the figures.

With ``--ceiling`` the same message is also parsed and validated in this
process (lxml and :class:`esb.schemaset.SchemaRegistry`, the schemas named
with ``--schemas``), with nothing else around it; the ratio of that rate to
the broker's says how much the rest of the path costs.

Answers are counted by outcome: ``200 Bv03``, ``200 other``, ``fault
StUF055`` (the StUF foutcode inside a fault), ``http 503`` (any other
status), ``error ...`` (connection refused or lost, no answer in time).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
import uuid
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lxml import etree
from twisted.internet import protocol
from twisted.internet.interfaces import IDelayedCall, IReactorCore, IReactorTCP
from twisted.python.failure import Failure

from esb.message import NS_BG, NS_SOAP11, NS_ZDS, NS_ZKN

DEFAULT_URL = "http://127.0.0.1:8470/stuf/zds"

# SOAPActions by body namespace. ZDS 1.2 names its action after the message
# element in the zds0120 namespace (the zds0120 WSDLs); StUF-ZKN and StUF-BG
# 03.10 put the element's name after the sector namespace (GISvg's
# soapactions.txt in the shared examples: .../zkn/0310/genereerZaakIdentificatie_Di02).
_ACTION_BASES = {NS_ZDS: NS_ZDS, NS_ZKN: NS_ZKN, NS_BG: NS_BG}

_SAFE_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    huge_tree=False,
    collect_ids=False,
)

# The first referentienummer element, with any prefix: its text, or the
# element written empty. Checked against lxml's reading of the same bytes.
_REFERENTIENUMMER = re.compile(
    rb"<(?P<name>(?:[A-Za-z_][\w.-]*:)?referentienummer)(?P<attrs>(?:\s[^>]*?)?)"
    rb"(?:/>|>(?P<text>[^<]*)</(?P=name)\s*>)"
)

# Faults: a SOAP Fault or a bare foutbericht (Fo01/Fo02/Fo03), and the StUF
# foutcode in it (StUF 03.01: Fo0xBericht/body/code).
_FAULT = re.compile(rb"Fault>|<(?:[\w.-]+:)?Fo0\dBericht[\s>]")
_FAULT_CODE = re.compile(rb"<(?:[\w.-]+:)?code>\s*([^<\s]{1,40})\s*</")


# The message -----------------------------------------------------------------


def body_element(root: etree._Element) -> etree._Element:
    """The StUF message element: the SOAP Body's child, or ``root`` itself."""
    if root.tag == f"{{{NS_SOAP11}}}Envelope":
        body = root.find(f"{{{NS_SOAP11}}}Body")
        if body is not None:
            for child in body:
                if isinstance(child.tag, str):
                    return child
        raise BenchError("the SOAP envelope holds no message in its Body")
    return root


def derive_soap_action(body_tag: str) -> str | None:
    """The SOAPAction a client sends with the body element ``body_tag``.

    ``{zds0120}creeerZaak_ZakLk01`` gives
    ``http://www.stufstandaarden.nl/koppelvlak/zds0120/creeerZaak_ZakLk01``;
    ``{zkn}genereerZaakIdentificatie_Di02`` gives
    ``http://www.egem.nl/StUF/sector/zkn/0310/genereerZaakIdentificatie_Di02``.
    A ZDS 1.1 kennisgeving (``zakLk01``) names its operation only in the
    SOAPAction, which cannot be derived: give it with ``--soap-action``.
    None for a namespace that is not StUF's.
    """
    qname = etree.QName(body_tag)
    base = _ACTION_BASES.get(qname.namespace or "")
    return f"{base}/{qname.localname}" if base else None


@dataclass(frozen=True)
class MessageTemplate:
    """A message as bytes, split around the text of its first referentienummer
    (and, for ``--unique-zaak``, of its zaak's identificatie).

    ``render(value)`` puts the value in every slot with one ``bytes.join``,
    so the generator can make a fresh copy per request at any rate.
    """

    head: bytes
    tail: bytes
    body_tag: str
    original: str
    # More slots after the first, when the value goes in more than one place.
    rest: tuple[bytes, ...] = ()

    @classmethod
    def from_bytes(cls, raw: bytes) -> MessageTemplate:
        """Raises :class:`BenchError` when the message is not XML or has no
        referentienummer."""
        try:
            root = etree.fromstring(raw, _SAFE_PARSER)
        except etree.XMLSyntaxError as exc:
            raise BenchError(f"the message is not well-formed XML: {exc}") from exc
        body = body_element(root)
        first = next(root.iter("{*}referentienummer", "referentienummer"), None)
        found = _REFERENTIENUMMER.search(raw)
        if first is None or found is None:
            raise BenchError(
                "the message has no referentienummer element to make unique"
            )
        if found["text"] is None:
            # <stuf:referentienummer/>: written out with room for a value.
            opening = b"<" + found["name"] + found["attrs"] + b">"
            head = raw[: found.start()] + opening
            tail = b"</" + found["name"] + b">" + raw[found.end() :]
        else:
            head, tail = raw[: found.start("text")], raw[found.end("text") :]
        template = cls(head, tail, str(body.tag), (first.text or "").strip())
        # The pattern must have found the element lxml calls the first (not
        # one in a comment or CDATA section): check on a rendered copy.
        probe = "bench-probe"
        copy = etree.fromstring(template.render(probe), _SAFE_PARSER)
        again = next(copy.iter("{*}referentienummer", "referentienummer"), None)
        if again is None or again.text != probe:
            raise BenchError(
                "could not locate the first referentienummer element in the "
                "bytes of the message (is it inside a comment or CDATA?)"
            )
        return template

    def render(self, referentienummer: str) -> bytes:
        return referentienummer.encode("ascii").join((self.head, self.tail, *self.rest))

    def with_unique_zaak(self) -> MessageTemplate:
        """The same, with the zaak identificatie (``object/identificatie``)
        also replaced by the fresh value: a creeerZaak for a new zaak each
        time. Raises :class:`BenchError` when the message has no such element.
        """
        root = etree.fromstring(self.render("bench-probe"), _SAFE_PARSER)
        zaak = body_element(root).find("{*}object/{*}identificatie")
        if zaak is None or not (zaak.text or "").strip():
            raise BenchError(
                "--unique-zaak: the message has no object/identificatie to vary"
            )
        # The identificatie follows the stuurgegevens, so it is in the tail;
        # its text, between its own tags, the first time it occurs there.
        text = (zaak.text or "").encode("utf-8")
        local = etree.QName(zaak).localname.encode()
        found = re.search(
            rb"<((?:[A-Za-z_][\w.-]*:)?"
            + local
            + rb")(\s[^>]*)?>"
            + re.escape(text)
            + rb"</\1\s*>",
            self.tail,
        )
        if found is None:
            raise BenchError(
                "--unique-zaak: could not locate object/identificatie in the bytes"
            )
        start = found.start() + found.group(0).index(b">") + 1
        end = start + len(text)
        varied = MessageTemplate(
            self.head,
            self.tail[:start],
            self.body_tag,
            self.original,
            (self.tail[end:], *self.rest),
        )
        probe = etree.fromstring(varied.render("bench-probe-2"), _SAFE_PARSER)
        again = body_element(probe).find("{*}object/{*}identificatie")
        if again is None or again.text != "bench-probe-2":
            raise BenchError(
                "--unique-zaak: could not locate object/identificatie in the bytes"
            )
        return varied


def with_referentienummer(raw: bytes, referentienummer: str) -> bytes:
    """``raw`` with the text of its first referentienummer replaced."""
    return MessageTemplate.from_bytes(raw).render(referentienummer)


class References:
    """Fresh referentienummers: a random run prefix and a counter.

    Each is 36 characters, shaped like a UUID (as the example messages'
    are), well within StUF's Refnummer limit of 40; fixed length keeps the
    Content-Length of every copy the same.
    """

    def __init__(self, run: str | None = None) -> None:
        self.run = run or uuid.uuid4().hex[:8]
        self.next = 0

    def __call__(self) -> str:
        self.next += 1
        return f"{self.run}-be9c-4000-8000-{self.next:012d}"


class BenchError(Exception):
    """A benchmark that cannot run: a bad option, message or URL."""


# Answers ---------------------------------------------------------------------


def classify(status: int, body: bytes) -> str:
    """The outcome of one answer, from its status and a few of its bytes."""
    if _FAULT.search(body):
        code = _FAULT_CODE.search(body)
        return f"fault {code[1].decode('ascii', 'replace') if code else '?'}"
    if status == 200:
        return "200 Bv03" if b"Bv03Bericht" in body else "200 other"
    return f"http {status}"


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of an ascending sequence (0.0 if empty)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Result:
    """What one load run measured; ``latency_ms`` over the answered copies."""

    url: str
    soap_action: str | None
    mode: str
    concurrency: int
    target_rate: float | None
    sent: int
    answered: int
    seconds: float
    throughput: float
    latency_ms: dict[str, float]
    outcomes: dict[str, int]
    max_backlog: int = 0
    ceiling: dict[str, Any] | None = None


def summarise(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    mean = sum(ordered) / len(ordered) if ordered else 0.0
    return {
        "p50": round(percentile(ordered, 0.50) * 1000, 3),
        "p90": round(percentile(ordered, 0.90) * 1000, 3),
        "p99": round(percentile(ordered, 0.99) * 1000, 3),
        "max": round(ordered[-1] * 1000, 3) if ordered else 0.0,
        "mean": round(mean * 1000, 3),
    }


# The load generator ----------------------------------------------------------


class _Response:
    """An HTTP/1.1 response read incrementally: Content-Length or chunked."""

    __slots__ = ("body", "chunked", "close", "length", "status")

    def __init__(self, status: int, length: int | None, chunked: bool, close: bool):
        self.status = status
        self.length = length
        self.chunked = chunked
        self.close = close
        self.body = b""


class _Connection(protocol.Protocol):
    """One persistent connection: one request in flight at a time."""

    def __init__(self, load: _Load) -> None:
        self.load = load
        self.buffer = b""
        self.response: _Response | None = None
        self.due = 0.0  # when the copy in flight was due (perf_counter)
        self.sent_at = 0.0  # when it was written
        self.counted = False  # whether its answer counts (past the warm-up)
        self.busy = False
        self.open = False

    def connectionMade(self) -> None:
        self.open = True
        self.load.ready(self)

    def send(self, request: bytes, due: float, counted: bool) -> None:
        self.busy = True
        self.due = due
        self.sent_at = time.perf_counter()
        self.counted = counted
        transport: Any = self.transport
        # Twisted's write() queues the bytes and sends them on the next turn
        # of the reactor, two epoll changes and a callback later. A request
        # fits the socket buffer, and nothing is queued (one request at a
        # time), so it goes straight out; whatever does not fit is queued.
        if transport.dataBuffer or getattr(transport, "_tempDataBuffer", True):
            transport.write(request)
            return
        try:
            sent = transport.socket.send(request)
        except BlockingIOError:
            sent = 0
        except OSError:
            transport.write(request)  # Twisted notices and reports the loss
            return
        if sent < len(request):
            transport.write(request[sent:])

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        while self.buffer and self._read():
            pass

    def _read(self) -> bool:
        """Consume what the buffer holds of the response; True when one ended
        and more bytes may follow."""
        response = self.response
        if response is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return False
            response = self.response = _head(self.buffer[:end])
            self.buffer = self.buffer[end + 4 :]
            if response is None:
                self._broken("unreadable answer")
                return False
        if response.chunked:
            taken = _dechunk(self.buffer)
            if taken is None:
                return False
            response.body, used = taken
            self.buffer = self.buffer[used:]
        else:
            length = response.length or 0
            if len(self.buffer) < length:
                return False
            response.body = self.buffer[:length]
            self.buffer = self.buffer[length:]
        self.response = None
        self.busy = False
        self.load.answered(self, response.status, response.body)
        if response.close:
            self.transport.loseConnection()  # type: ignore[union-attr]
            return False
        return True

    def _broken(self, reason: str) -> None:
        self.buffer = b""
        self.transport.loseConnection()  # type: ignore[union-attr]
        if self.busy:
            self.busy = False
            self.load.failed(self, reason)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.open = False
        if self.busy:
            self.busy = False
            self.load.failed(self, "connection lost")
        self.load.lost(self)


def _head(head: bytes) -> _Response | None:
    status = head[9:12]
    if not head.startswith(b"HTTP/1.") or not status.isdigit():
        return None
    lower = head.lower()
    length: int | None = None
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.find(b"\r\n", at + 2)
        length = int(lower[at + 17 : end if end >= 0 else None])
    chunked = b"\r\ntransfer-encoding: chunked" in lower
    close = b"\r\nconnection: close" in lower
    return _Response(int(status), length, chunked, close)


def _dechunk(buffer: bytes) -> tuple[bytes, int] | None:
    """A whole chunked body at the start of ``buffer`` and its length in
    bytes, or None when it has not all arrived."""
    parts: list[bytes] = []
    position = 0
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        size = int(buffer[position:line_end].split(b";")[0], 16)
        start = line_end + 2
        if size == 0:
            trailer_end = buffer.find(b"\r\n", start)
            if trailer_end < 0:
                return None
            return b"".join(parts), trailer_end + 2
        if len(buffer) < start + size + 2:
            return None
        parts.append(buffer[start : start + size])
        position = start + size + 2


class _ClientFactory(protocol.ClientFactory):
    noisy = False

    def __init__(self, load: _Load) -> None:
        self.load = load

    def buildProtocol(self, addr: object) -> _Connection:
        return _Connection(self.load)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.load.connect_failed(reason)


@dataclass
class LoadPlan:
    """What to send, where, and how hard."""

    host: str
    port: int
    path: str
    template: MessageTemplate
    soap_action: str | None
    concurrency: int = 16
    duration: float | None = 10.0
    count: int | None = None
    rate: float | None = None
    warmup: float = 0.0
    timeout: float = 30.0
    references: References = field(default_factory=References)

    def request(self) -> bytes:
        """The bytes of one request: a fresh copy of the message."""
        body = self.template.render(self.references())
        return self._head % len(body) + body

    def __post_init__(self) -> None:
        action = (
            b'SOAPAction: "' + self.soap_action.encode() + b'"\r\n'
            if self.soap_action
            else b""
        )
        self._head = (
            b"POST " + self.path.encode() + b" HTTP/1.1\r\n"
            b"Host: " + f"{self.host}:{self.port}".encode() + b"\r\n"
            b"Content-Type: text/xml; charset=utf-8\r\n"
            + action
            + b"Content-Length: %d\r\n\r\n"
        )


class _Load:
    """Runs one load plan on the reactor and collects what came back."""

    def __init__(self, plan: LoadPlan, reactor: Any) -> None:
        self.plan = plan
        self.reactor = reactor
        self.connections: list[_Connection] = []
        self.idle: deque[_Connection] = deque()
        self.backlog: deque[float] = deque()  # due times of copies waiting
        self.max_backlog = 0
        self.latencies: list[float] = []
        self.outcomes: Counter[str] = Counter()
        self.sent = 0  # every copy sent, warm-up included
        self.counted_sent = 0
        self.scheduled = 0  # open loop: copies made due so far
        self.started = 0.0
        self.window_start = 0.0
        self.last_answer = 0.0
        self.stopping = False
        self.finished = False
        self.connect_errors = 0
        self._ticker: IDelayedCall | None = None
        self._watchdog: IDelayedCall | None = None

    # Starting and stopping ------------------------------------------------------

    def start(self) -> None:
        self.started = time.perf_counter()
        self.window_start = self.started + self.plan.warmup
        tcp: IReactorTCP = self.reactor
        for _ in range(self.plan.concurrency):
            tcp.connectTCP(self.plan.host, self.plan.port, _ClientFactory(self))
        if self.plan.rate:
            self._tick()
        self._watch()

    def _end_of_sending(self, now: float) -> bool:
        plan = self.plan
        if plan.count is not None:
            # The warm-up is by time with --count too: its copies do not
            # count towards N.
            return self.counted_sent >= plan.count
        assert plan.duration is not None
        return now >= self.window_start + plan.duration

    def _maybe_finish(self) -> None:
        if not self.stopping:
            return
        if any(c.busy for c in self.connections) or self.backlog:
            return
        self._finish()

    def _finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        for call in (self._ticker, self._watchdog):
            if call is not None and call.active():
                call.cancel()
        for connection in self.connections:
            if connection.open:
                connection.transport.loseConnection()  # type: ignore[union-attr]
        core: IReactorCore = self.reactor
        core.stop()

    # Sending ---------------------------------------------------------------------

    def ready(self, connection: _Connection) -> None:
        self.connections.append(connection)
        self._next(connection)

    def _next(self, connection: _Connection) -> None:
        """Give an idle connection work: closed loop sends at once, open loop
        takes the oldest copy waiting."""
        now = time.perf_counter()
        if self.plan.rate:
            self._drop_stale(now)
            if self.backlog:
                self._send(connection, self.backlog.popleft())
            else:
                self.idle.append(connection)
                self._maybe_finish()
            return
        if self.stopping or self._end_of_sending(now):
            self.stopping = True
            self._maybe_finish()
            return
        self._send(connection, now)

    def _drop_stale(self, now: float) -> None:
        """Open loop: copies that waited longer than the time-out for a free
        connection are counted as timed out, never sent; a broker far
        behind the rate cannot stretch the run without end."""
        backlog = self.backlog
        while backlog and now - backlog[0] > self.plan.timeout:
            if backlog.popleft() >= self.window_start:
                self.outcomes["error timeout (not sent)"] += 1

    def _send(self, connection: _Connection, due: float) -> None:
        counted = due >= self.window_start
        self.sent += 1
        if counted:
            self.counted_sent += 1
        connection.send(self.plan.request(), due, counted)

    def _tick(self) -> None:
        """Open loop: make due every copy whose time has come."""
        plan = self.plan
        assert plan.rate
        now = time.perf_counter()
        due_now = int((now - self.started) * plan.rate) + 1
        if plan.count is not None:
            due_now = min(due_now, plan.count + int(plan.warmup * plan.rate))
        if plan.duration is not None:
            last = int((plan.warmup + plan.duration) * plan.rate)
            due_now = min(due_now, last)
        while self.scheduled < due_now:
            due = self.started + self.scheduled / plan.rate
            self.scheduled += 1
            while self.idle and not self.idle[0].open:
                self.idle.popleft()
            if self.idle:
                self._send(self.idle.popleft(), due)
            else:
                self.backlog.append(due)
        self.max_backlog = max(self.max_backlog, len(self.backlog))
        total = (
            plan.count + int(plan.warmup * plan.rate)
            if plan.count is not None
            else int((plan.warmup + (plan.duration or 0.0)) * plan.rate)
        )
        if self.scheduled >= total:
            self.stopping = True
            self._maybe_finish()
            return
        wait = self.started + self.scheduled / plan.rate - time.perf_counter()
        self._ticker = self.reactor.callLater(max(0.0, wait), self._tick)

    # Answers ---------------------------------------------------------------------

    def answered(self, connection: _Connection, status: int, body: bytes) -> None:
        now = time.perf_counter()
        if connection.counted:
            self.latencies.append(now - connection.due)
            self.outcomes[classify(status, body)] += 1
            self.last_answer = now
        self._next(connection)

    def failed(self, connection: _Connection, reason: str) -> None:
        if connection.counted:
            self.outcomes[f"error {reason}"] += 1
            self.last_answer = time.perf_counter()

    def lost(self, connection: _Connection) -> None:
        if connection in self.connections:
            self.connections.remove(connection)
        if self.finished:
            return
        if not self.stopping:
            # The broker closed the connection: open another one.
            tcp: IReactorTCP = self.reactor
            tcp.connectTCP(self.plan.host, self.plan.port, _ClientFactory(self))
        self._maybe_finish()

    def connect_failed(self, reason: Failure) -> None:
        self.connect_errors += 1
        self.outcomes["error connect"] += 1
        if self.connect_errors >= self.plan.concurrency and not self.connections:
            # Nothing listens there: no point waiting out the duration.
            self.stopping = True
            self.backlog.clear()
            self._finish()

    def _watch(self) -> None:
        """Once a second: give up on answers overdue by the time-out."""
        now = time.perf_counter()
        for connection in list(self.connections):
            if connection.busy and now - connection.sent_at > self.plan.timeout:
                connection.busy = False
                if connection.counted:
                    self.outcomes["error timeout"] += 1
                connection.transport.loseConnection()  # type: ignore[union-attr]
        if self.plan.rate is None and not self.stopping:
            if self._end_of_sending(now):
                self.stopping = True
        else:
            self._drop_stale(now)
        self._maybe_finish()
        if not self.finished:
            self._watchdog = self.reactor.callLater(1.0, self._watch)

    # The result ------------------------------------------------------------------

    def result(self, url: str) -> Result:
        plan = self.plan
        answered = len(self.latencies)
        end = self.last_answer or time.perf_counter()
        seconds = max(end - self.window_start, 1e-9)
        return Result(
            url=url,
            soap_action=plan.soap_action,
            mode="open" if plan.rate else "closed",
            concurrency=plan.concurrency,
            target_rate=plan.rate,
            sent=self.counted_sent,
            answered=answered,
            seconds=round(seconds, 3),
            throughput=round(answered / seconds, 1),
            latency_ms=summarise(self.latencies),
            outcomes=dict(self.outcomes.most_common()),
            max_backlog=self.max_backlog,
        )


def run_load(plan: LoadPlan, url: str) -> Result:
    """Run ``plan`` on the global reactor (once per process) and return what
    it measured."""
    from twisted.internet import reactor

    load = _Load(plan, reactor)
    reactor.callWhenRunning(load.start)
    reactor.run()
    return load.result(url)


# The ceiling -----------------------------------------------------------------


@dataclass(frozen=True)
class Ceiling:
    """Bare parse-and-validate of the message in this process."""

    messages: int
    seconds: float
    per_second: float
    microseconds_each: float
    violations: int


def measure_ceiling(
    template: MessageTemplate,
    schemas: Sequence[Path],
    *,
    seconds: float = 5.0,
    references: References | None = None,
) -> Ceiling:
    """Parse fresh copies with lxml and validate their body element with the
    registry, one after another, for ``seconds``."""
    from esb.schemaset import SchemaRegistry

    registry = SchemaRegistry.load(list(schemas))
    fresh = references or References()
    # Copies are made beforehand: only parsing and validation are timed.
    copies = [template.render(fresh()) for _ in range(2000)]
    body = body_element(etree.fromstring(copies[0], _SAFE_PARSER))
    if not registry.knows(str(body.tag)):
        raise BenchError(f"no schema given with --schemas declares {body.tag}")
    violations = len(registry.validate(body))

    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    now = started
    while now < deadline:
        for raw in copies[:200]:
            root = etree.fromstring(raw, _SAFE_PARSER)
            registry.validate(body_element(root))
        count += 200
        copies.append(copies.pop(0))
        now = time.perf_counter()
    elapsed = now - started
    return Ceiling(
        messages=count,
        seconds=round(elapsed, 3),
        per_second=round(count / elapsed, 1),
        microseconds_each=round(elapsed / count * 1e6, 1),
        violations=violations,
    )


# The command -----------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emo bench",
        description="Drive a running broker with copies of one message (a fresh "
        "referentienummer each) and print throughput and latency percentiles.",
    )
    parser.add_argument("--url", default=DEFAULT_URL, help=f"default {DEFAULT_URL}")
    parser.add_argument(
        "--message", type=Path, required=True, help="the example message (XML file)"
    )
    parser.add_argument(
        "--soap-action",
        help="default: derived from the body element (zds0120 and StUF-ZKN/BG "
        "names); give '' to send none",
    )
    parser.add_argument(
        "--unique-zaak",
        action="store_true",
        help="also give every copy its own zaak identificatie (object/"
        "identificatie): creeerZaak for a new zaak each time",
    )
    parser.add_argument(
        "--concurrency", type=int, default=16, help="connections (default 16)"
    )
    amount = parser.add_mutually_exclusive_group()
    amount.add_argument("--duration", type=float, help="seconds (default 10)")
    amount.add_argument("--count", type=int, help="copies to send")
    parser.add_argument(
        "--rate",
        type=float,
        help="open loop: copies per second due whatever the broker does; "
        "latency counts from when each was due",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=0.0,
        help="seconds of load before measuring starts (default 0)",
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for an answer"
    )
    parser.add_argument(
        "--ceiling",
        action="store_true",
        help="also parse and validate the message in-process and print the ratio",
    )
    parser.add_argument("--ceiling-seconds", type=float, default=5.0, help="default 5")
    parser.add_argument(
        "--schemas",
        type=Path,
        action="append",
        default=[],
        help="schema distribution for --ceiling (repeat)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def plan_from_args(args: argparse.Namespace) -> tuple[LoadPlan, str]:
    """The load plan the options ask for; raises BenchError when they are
    wrong."""
    url = urlsplit(args.url)
    if url.scheme != "http" or not url.hostname:
        raise BenchError(f"--url must be an http:// URL, not {args.url!r}")
    try:
        raw = args.message.read_bytes()
    except OSError as exc:
        raise BenchError(f"cannot read {args.message}: {exc.strerror}") from exc
    template = MessageTemplate.from_bytes(raw)
    if args.unique_zaak:
        template = template.with_unique_zaak()
    if args.soap_action is None:
        soap_action = derive_soap_action(template.body_tag)
    else:
        soap_action = args.soap_action or None
    if args.concurrency < 1:
        raise BenchError("--concurrency must be at least 1")
    if args.rate is not None and args.rate <= 0:
        raise BenchError("--rate must be above 0")
    if args.count is not None and args.count < 1:
        raise BenchError("--count must be at least 1")
    if args.ceiling and not args.schemas:
        raise BenchError("--ceiling needs the schemas to validate with: --schemas DIR")
    duration = None if args.count is not None else (args.duration or 10.0)
    target = url.path or "/"
    if url.query:
        target += "?" + url.query
    plan = LoadPlan(
        host=url.hostname,
        port=url.port or 80,
        path=target,
        template=template,
        soap_action=soap_action,
        concurrency=args.concurrency,
        duration=duration,
        count=args.count,
        rate=args.rate,
        warmup=args.warmup,
        timeout=args.timeout,
    )
    return plan, args.url


def report(result: Result) -> str:
    """The human-readable summary."""
    lines = [
        f"url          {result.url}",
        f"soap action  {result.soap_action or '(none)'}",
    ]
    if result.mode == "open":
        lines.append(
            f"load         open loop, {result.target_rate:g}/s due, "
            f"{result.concurrency} connections (most waiting: {result.max_backlog})"
        )
    else:
        lines.append(f"load         closed loop, {result.concurrency} connections")
    rate = "achieved rate" if result.mode == "open" else "throughput"
    lines += [
        f"sent         {result.sent}",
        f"answered     {result.answered} in {result.seconds:.2f} s: "
        f"{rate} {result.throughput:.1f}/s",
        "latency ms   "
        + "  ".join(f"{key} {value:.2f}" for key, value in result.latency_ms.items()),
        "outcomes",
    ]
    lines += [f"  {count:>8}  {name}" for name, count in result.outcomes.items()]
    if result.ceiling:
        ceiling = result.ceiling
        lines += [
            f"ceiling      {ceiling['per_second']:.1f}/s parse+validate in-process "
            f"({ceiling['microseconds_each']:.1f} µs each, "
            f"{ceiling['violations']} violation(s))",
            f"ratio        {ceiling['ratio']:.2f} (ceiling / broker throughput)",
        ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        plan, url = plan_from_args(args)
    except BenchError as exc:
        print(f"emo bench: {exc}", file=sys.stderr)
        return 2

    result = run_load(plan, url)

    if args.ceiling:
        try:
            ceiling = measure_ceiling(
                plan.template, args.schemas, seconds=args.ceiling_seconds
            )
        except Exception as exc:  # a schema that cannot load, a message unknown
            print(f"emo bench: ceiling not measured: {exc}", file=sys.stderr)
            return 2
        ratio = ceiling.per_second / result.throughput if result.throughput else 0.0
        result.ceiling = {**asdict(ceiling), "ratio": round(ratio, 2)}

    if args.json:
        print(json.dumps(asdict(result), indent=2))
    else:
        print(report(result))
    if result.answered == 0:
        print("emo bench: no answer came back", file=sys.stderr)
        return 1
    return 0
