"""Routes, destinations and the table that chooses a route for a message.

Everything here is immutable and built once per load of the routes file
(:func:`esb.routes.loader.load_routes`); a reload builds a new
:class:`RouteTable` and the broker swaps it in with one assignment, so a
message being handled keeps the table it started with.

Source names
    A route takes messages from sources, named ``kind:target``:

    ``soap:/stuf/zds``   SOAP 1.1 requests POSTed to that path
    ``http:/stuf/plain`` plain XML (no SOAP envelope) POSTed to that path
    ``file:inbox``       files dropped in the file source's folder ``inbox``
    ``amqp:stuf-in``     messages from the AMQP queue ``stuf-in``
    ``zaakregister-events:zaken``  the zaakregister's events (its outbox)

    A bare path (``/stuf/zds``) means ``soap:/stuf/zds``: SOAP is what StUF
    speaks. Sources hand :meth:`RouteTable.match` the normalised name. The
    folders and queues EMO reads itself are declared under ``sources:``
    (:class:`SourceDefinition`); the web server's paths need no declaration.

Validation mode
    Chosen per message, the first that applies:

    1. an override for the sender (``validation.senders``), matched on the
       zender's organisatie and applicatie, then on the applicatie alone;
    2. the route's ``validate`` step;
    3. the file's ``validation.default`` (``report`` unless set).

    The sender comes first because it is about a particular client's habits
    ("GISVG sends nils where none are allowed; accept and report") that hold
    whatever route its messages take.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from lxml import etree
from twisted.logger import Logger

from esb.message import Message, Party, ValidationMode
from esb.routes.steps import SetStuurgegevens, Step, Tap, Transform, Validate, Wiretap

log = Logger()

DeliveryMode = Literal["reply", "publish"]

SOURCE_KINDS: tuple[str, ...] = ("soap", "http", "file", "amqp", "zaakregister-events")


def normalize_source(text: str) -> str:
    """The canonical ``kind:target`` name of a source; ValueError if it is none."""
    text = text.strip()
    if text.startswith("/"):
        kind, target = "soap", text
    else:
        kind, colon, target = text.partition(":")
        if not colon:
            raise ValueError(
                f"'{text}' is not a source name; expected kind:target such as "
                "soap:/stuf/zds, http:/stuf/plain, file:inbox or amqp:stuf-in"
            )
        kind = kind.lower()
    if kind not in SOURCE_KINDS:
        raise ValueError(
            f"unknown source kind '{kind}' in '{text}'; expected one of: "
            + ", ".join(SOURCE_KINDS)
        )
    if any(character.isspace() for character in target):
        raise ValueError(f"source '{text}' contains white space")
    if kind in ("soap", "http"):
        if not target.startswith("/") or target.startswith("//"):
            raise ValueError(
                f"source '{text}' needs a path on EMO's own server, such as "
                f"{kind}:/stuf/zds (no host: EMO serves it)"
            )
        if "?" in target or "#" in target:
            raise ValueError(f"source '{text}' may not have a query or fragment")
        if len(target) > 1:
            target = target.rstrip("/")
    elif not target:
        raise ValueError(f"source '{text}' needs a name after '{kind}:'")
    return f"{kind}:{target}"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a destination is tried again.

    ``attempts`` counts every try, the first included (1 means no retry).
    Before try n+1 the engine waits ``delay(n)``: ``initial`` seconds after
    the first failure, ``multiplier`` times longer after each next one, never
    more than ``cap``; ``jitter`` takes up to that fraction off at random, so
    that many messages failing together do not retry together.
    """

    attempts: int = 5
    initial: float = 1.0
    multiplier: float = 2.0
    cap: float = 300.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.initial < 0 or self.cap < self.initial:
            raise ValueError("need 0 <= initial <= cap")
        if self.multiplier < 1:
            raise ValueError("multiplier must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed try ``attempt`` (1-based).

        The result lies in ``[base * (1 - jitter), base]`` where ``base`` is
        ``min(cap, initial * multiplier ** (attempt - 1))``.
        """
        if attempt < 1:
            raise ValueError("attempt counts from 1")
        try:
            base = min(self.cap, self.initial * self.multiplier ** (attempt - 1))
        except OverflowError:
            base = self.cap
        return base * (1.0 - self.jitter * rand())


@dataclass(frozen=True, slots=True)
class Destination:
    """Where messages go: an adapter (``type``) and its settings.

    ``settings`` holds everything in the destination's section besides the
    common keys, as YAML gave it (mappings read-only, lists as tuples); only
    the adapter knows what it means.
    """

    name: str
    type: str
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    dead_letter: str | None = None
    line: int = 0


Values = frozenset[str] | None


def _holds(values: Values, value: str | None) -> bool:
    return values is None or (value is not None and value in values)


@dataclass(frozen=True, slots=True)
class PartyMatch:
    """Which zender or ontvanger a route takes; None means any."""

    organisatie: Values = None
    applicatie: Values = None
    administratie: Values = None
    gebruiker: Values = None

    def holds(self, party: Party) -> bool:
        return (
            _holds(self.applicatie, party.applicatie)
            and _holds(self.organisatie, party.organisatie)
            and _holds(self.administratie, party.administratie)
            and _holds(self.gebruiker, party.gebruiker)
        )


@dataclass(frozen=True, slots=True)
class Match:
    """A route's condition, compiled. Every given criterion must hold; each
    criterion holds when the message has any one of its values.

    ``xpath`` expressions are evaluated on the StUF message element
    (``message.body``); the criterion holds when any of them is true in the
    XPath sense (a non-empty node-set, true, a non-zero number, a non-empty
    string).
    """

    operation: Values = None
    berichtcode: Values = None
    entiteittype: Values = None
    mutatiesoort: Values = None
    flavour: Values = None
    soap_action: Values = None
    zender: PartyMatch | None = None
    ontvanger: PartyMatch | None = None
    xpath: tuple[etree.XPath, ...] = field(default=(), compare=False, repr=False)
    xpath_text: tuple[str, ...] = ()
    _identifying: bool = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        identifying = any(
            criterion is not None
            for criterion in (
                self.operation,
                self.berichtcode,
                self.entiteittype,
                self.mutatiesoort,
                self.flavour,
                self.soap_action,
                self.zender,
                self.ontvanger,
            )
        )
        object.__setattr__(self, "_identifying", identifying)

    @property
    def everything(self) -> bool:
        """True for the empty match, which takes every message."""
        return not self._identifying and not self.xpath_text

    def holds(self, message: Message) -> bool:
        ident = message.identification
        if ident is None:
            # Nothing is known but the body: only body criteria can hold.
            if self._identifying:
                return False
        else:
            sg = ident.stuurgegevens
            if not (
                _holds(self.operation, ident.operation)
                and _holds(self.berichtcode, sg.berichtcode)
                and _holds(self.entiteittype, sg.entiteittype)
                and _holds(self.mutatiesoort, ident.mutatiesoort)
                and _holds(self.flavour, ident.flavour)
            ):
                return False
            if self.soap_action is not None and not _holds(
                self.soap_action, _unquote(ident.soap_action or message.soap_action)
            ):
                return False
            if self.zender is not None and not self.zender.holds(sg.zender):
                return False
            if self.ontvanger is not None and not self.ontvanger.holds(sg.ontvanger):
                return False
        return not self.xpath or self._xpath_holds(message)

    def _xpath_holds(self, message: Message) -> bool:
        if message.body is None:
            return False
        for expression, text in zip(self.xpath, self.xpath_text, strict=True):
            try:
                result = expression(message.body)
            except etree.XPathError as exc:
                # Compile and a trial run at load catch what can be caught;
                # what remains depends on the message. Not matching is the
                # safe reading, and the admin needs to hear about it.
                log.warn(
                    "XPath {xpath!r} failed on message {id}: {error}",
                    xpath=text,
                    id=message.id,
                    error=str(exc),
                )
                continue
            if _xpath_true(result):
                return True
        return False


def _unquote(soap_action: str | None) -> str | None:
    # SOAP 1.1 section 6.1.1: the SOAPAction header value is a quoted URI,
    # and clients differ in whether they send the quotes.
    if soap_action is None:
        return None
    return soap_action.strip().strip('"')


def _xpath_true(result: object) -> bool:
    if isinstance(result, float):
        return result != 0 and not math.isnan(result)
    return bool(result)


@dataclass(frozen=True, slots=True)
class Route:
    """One route: which messages, what to do to them, where they go.

    ``mode`` is ``reply`` (request-reply to the one destination; its answer
    goes back to the sender) or ``publish`` (asynchronous fan-out to every
    destination; the sender gets Bv03 once the message is journaled).
    """

    id: str
    sources: tuple[str, ...]
    mode: DeliveryMode
    destinations: tuple[str, ...]
    steps: tuple[Step, ...] = ()
    line: int = 0
    match: Match = field(default_factory=Match)
    description: str | None = None
    validation: ValidationMode | None = field(init=False, compare=False)
    wiretaps: tuple[str, ...] = field(init=False, compare=False)
    alters_message: bool = field(init=False, compare=False)
    # The index of the last transform or set step (-1: none); a wiretap after
    # it sees the message as it is delivered, and needs no copy of its own.
    last_change: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        modes = [step.mode for step in self.steps if isinstance(step, Validate)]
        taps = tuple(
            step.destination for step in self.steps if isinstance(step, Wiretap)
        )
        alters = any(isinstance(s, Transform | SetStuurgegevens) for s in self.steps)
        object.__setattr__(self, "validation", modes[0] if modes else None)
        object.__setattr__(self, "wiretaps", taps)
        # Without transform or set, the original bytes can be delivered as is.
        object.__setattr__(self, "alters_message", alters)
        changes = [
            index
            for index, step in enumerate(self.steps)
            if isinstance(step, Transform | SetStuurgegevens)
        ]
        object.__setattr__(self, "last_change", changes[-1] if changes else -1)

    def matches(self, message: Message) -> bool:
        """Whether this route's match holds for ``message`` (sources aside)."""
        return self.match.holds(message)

    def run_steps(self, message: Message) -> tuple[Tap, ...]:
        """Apply the steps in order to ``message``; the wiretap copies made.

        A wiretap after the last step that changes the message shares the
        message instead of copying it: copying a tree holding a 25 MB
        document costs as much memory again, for nothing.
        """
        taps = []
        for index, step in enumerate(self.steps):
            if isinstance(step, Wiretap) and index > self.last_change:
                taps.append(Tap(step.destination, message))
                continue
            tap = step.apply(message)
            if tap is not None:
                taps.append(tap)
        return tuple(taps)


@dataclass(frozen=True, slots=True)
class SenderOverride:
    """The validation mode for one sending application."""

    applicatie: str
    organisatie: str | None
    mode: ValidationMode
    line: int = 0


@dataclass(frozen=True, slots=True)
class ValidationPolicy:
    """The file's default validation mode and its per-sender overrides."""

    default: ValidationMode = "report"
    senders: tuple[SenderOverride, ...] = ()
    _by_sender: Mapping[tuple[str | None, str], ValidationMode] = field(
        init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        by_sender = {(s.organisatie, s.applicatie): s.mode for s in self.senders}
        object.__setattr__(self, "_by_sender", MappingProxyType(by_sender))

    def for_sender(self, zender: Party) -> ValidationMode | None:
        """The override for this zender, the most specific first, or None."""
        if zender.applicatie is None or not self._by_sender:
            return None
        return self._by_sender.get(
            (zender.organisatie, zender.applicatie)
        ) or self._by_sender.get((None, zender.applicatie))


@dataclass(frozen=True, slots=True)
class SourceDefinition:
    """A source EMO reads from itself: a watched folder or an AMQP queue.

    Declared under ``sources:`` as ``name: {type: file, ...}``; routes take
    its messages with ``from: file:name`` (or ``amqp:name``), the
    :attr:`source` name. ``settings`` holds the type's settings, already
    checked and typed by the loader (numbers as numbers); the source module
    (:mod:`esb.sources`) gives them their meaning.
    """

    name: str
    type: str
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    line: int = 0

    @property
    def source(self) -> str:
        """The name routes use for this source, ``kind:name``."""
        return f"{self.type}:{self.name}"


@dataclass(frozen=True, slots=True)
class RouteTable:
    """The routes of one routes file, ready to choose a route per message.

    Built once per load and never changed; replace the whole table to reload.
    ``source_definitions`` holds the ``sources:`` section by source name
    (``file:inbox``); SOAP and plain-HTTP sources are EMO's own web server's
    and need no definition.
    """

    routes: tuple[Route, ...]
    destinations: Mapping[str, Destination]
    validation: ValidationPolicy = field(default_factory=ValidationPolicy)
    source_file: str | None = None
    source_definitions: Mapping[str, SourceDefinition] = field(
        default_factory=lambda: MappingProxyType({})
    )
    _by_source: Mapping[str, tuple[Route, ...]] = field(
        init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "destinations", MappingProxyType(dict(self.destinations))
        )
        object.__setattr__(
            self, "source_definitions", MappingProxyType(dict(self.source_definitions))
        )
        by_source: dict[str, list[Route]] = {}
        for route in self.routes:
            for source in route.sources:
                by_source.setdefault(source, []).append(route)
        index = {source: tuple(routes) for source, routes in by_source.items()}
        object.__setattr__(self, "_by_source", MappingProxyType(index))

    def match(self, source: str, message: Message) -> Route | None:
        """The first route, in file order, that takes ``message`` from ``source``."""
        routes = self._by_source.get(source)
        if routes is None:
            try:
                routes = self._by_source.get(normalize_source(source), ())
            except ValueError:
                return None
        for route in routes:
            if route.match.holds(message):
                return route
        return None

    def validation_mode(self, route: Route | None, message: Message) -> ValidationMode:
        """The validation mode for ``message``: sender, then route, then default."""
        ident = message.identification
        if ident is not None:
            mode = self.validation.for_sender(ident.stuurgegevens.zender)
            if mode is not None:
                return mode
        if route is not None and route.validation is not None:
            return route.validation
        return self.validation.default

    def sources(self) -> set[str]:
        """Every source some route takes messages from."""
        return set(self._by_source)

    def routes_for(self, source: str) -> tuple[Route, ...]:
        """The routes taking messages from ``source``, in file order."""
        return self._by_source.get(source, ())
