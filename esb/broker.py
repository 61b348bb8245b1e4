"""The message path: one message, read top to bottom.

    source -> envelope -> identify -> validate -> [dispatcher: journal, route,
    deliver] -> answer

The broker owns the steps every message takes whatever its route; the
:class:`Dispatcher` behind it owns the journal, the route table and delivery,
and is swapped as a whole when routes are reloaded. A :class:`StufFault`
raised anywhere becomes the foutbericht the standard prescribes; anything else
is a bug, logged with its traceback and answered with StUF058 (plek server),
and the broker keeps serving.
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from lxml import etree
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from esb import metrics
from esb.answers import Answer, fault_answer
from esb.envelope import open_envelope, parse_xml
from esb.errors import NoRouteError, SchemaViolation, StufFault, Violation
from esb.identify import identify, read_stuurgegevens
from esb.message import (
    NS_BG,
    NS_ZDS,
    NS_ZKN,
    Message,
    Party,
    Stuurgegevens,
    ValidationMode,
    ValidationReport,
)
from esb.schemaset import SchemaRegistry

log = Logger()


@dataclass(frozen=True, slots=True)
class Source:
    """Where messages come in, and which StUF namespaces are taken there.

    ``envelope`` says whether messages arrive in a SOAP envelope (the SOAP
    endpoints) or bare, as the StUF element itself (plain HTTP, files,
    AMQP); a bare source also takes an enveloped message, since some senders
    wrap what they write to a file.
    """

    name: str
    namespaces: Collection[str]
    envelope: bool = True


ALL_NAMESPACES: tuple[str, ...] = (NS_ZDS, NS_ZKN, NS_BG)
ZDS_SOURCE = Source("soap:/stuf/zds", (NS_ZDS, NS_ZKN))
BG_SOURCE = Source("soap:/stuf/bg", (NS_BG,))


def bare_source(name: str) -> Source:
    """A source of bare StUF messages (``http:``, ``file:``, ``amqp:``)."""
    return Source(name, ALL_NAMESPACES, envelope=False)


@dataclass(frozen=True, slots=True)
class Plan:
    """What the dispatcher decided for a message before validation: the
    validation mode and the route (None when no route takes it)."""

    mode: ValidationMode
    route: object | None


class Dispatcher(Protocol):
    """What happens to an identified message: the routing side.

    ``plan`` chooses the route (and so the validation mode) before the body
    is validated; ``dispatch`` returns a Deferred that fires with the answer
    for the sender (the destination's answer, or a Bv03) or fails with a
    StufFault.
    """

    def plan(self, source: str, message: Message) -> Plan: ...

    def dispatch(self, plan: Plan, message: Message) -> defer.Deferred[Answer]: ...


class NoRoutes:
    """The dispatcher of a broker without routes: every message is refused."""

    def __init__(self, mode: ValidationMode = "strict") -> None:
        self.mode: ValidationMode = mode

    def plan(self, source: str, message: Message) -> Plan:
        return Plan(self.mode, None)

    def dispatch(self, plan: Plan, message: Message) -> defer.Deferred[Answer]:
        raise self.no_route(message)

    def no_route(self, message: Message) -> NoRouteError:
        identification = message.identification
        operation = identification.operation if identification else "?"
        sender = identification.stuurgegevens.zender if identification else None
        return NoRouteError(
            "StUF040",
            f"Geen route voor {operation} op {message.source}",
            plek="server",
            details=f"bericht {operation} van {sender.describe() if sender else '?'}"
            ": geen enkele route neemt dit bericht aan (config/routes.yaml)",
        )


class Broker:
    """Takes raw requests from sources and produces the answers."""

    def __init__(
        self,
        schemas: SchemaRegistry,
        dispatcher: Dispatcher,
        *,
        system: Party,
        max_depth: int = 100,
    ) -> None:
        self.schemas = schemas
        self.dispatcher = dispatcher
        self.system = system
        self.max_depth = max_depth
        self.in_flight = 0

    def receive(
        self,
        source: Source,
        raw: bytes,
        *,
        soap_action: str | None = None,
        charset: str | None = None,
    ) -> defer.Deferred[Answer]:
        """Handle one request; the Deferred always fires with an answer."""
        started = time.perf_counter()
        self.in_flight += 1
        message = Message(raw=raw, source=source.name, soap_action=soap_action)
        try:
            # Envelope: parse safely, take the single body element.
            root = parse_xml(raw, charset=charset, max_depth=self.max_depth)
            message.envelope, body = split_message(root, source)
            message.body = body

            # Identify: operation, stuurgegevens, parameters.
            message.identification = identify(body, soap_action, source.namespaces)

            # Validate, in the mode the route and sender ask for.
            plan = self.dispatcher.plan(source.name, message)
            message.validation = self.validate(message, plan.mode)

            # Journal, route and deliver: the dispatcher's part.
            answered = self.dispatcher.dispatch(plan, message)
        except StufFault as fault:
            answered = defer.fail(fault)
        except Exception:
            answered = defer.fail(Failure())

        answered.addErrback(self._fault, message)
        answered.addCallback(self._done, message, source, started)
        return answered

    def validate(self, message: Message, mode: ValidationMode) -> ValidationReport:
        """Validate the body; in strict mode a violation is a StUF055 fault."""
        assert message.body is not None
        if mode == "off" or not self.schemas:
            return ValidationReport(mode="off" if not self.schemas else mode)
        element = message.body
        schema_set = self.schemas.set_for(str(element.tag))
        if schema_set is None:
            violations = [_undeclared(element)]
        else:
            violations = self.schemas.validate(element)
        report = ValidationReport(mode, schema_set, violations)
        if violations:
            metrics.VIOLATIONS.labels(mode).inc()
            if mode == "strict":
                raise SchemaViolation(violations)
            log.warn(
                "Message {id} breaks the schema in {count} place(s), accepted "
                "in report mode: {first}",
                id=message.id,
                count=len(violations),
                first=mask_numbers(str(violations[0])),
            )
        return report

    def _fault(self, failure: Failure, message: Message) -> Answer:
        if failure.check(StufFault):
            fault = failure.value
            assert isinstance(fault, StufFault)
        else:
            log.failure(
                "Unexpected error handling message {id}", failure, id=message.id
            )
            fault = StufFault(
                "StUF058",
                plek="server",
                details=f"interne fout bij bericht {message.id}; zie het log",
            )
        message.outcome = f"fault {fault.code}"
        return fault_answer(
            fault,
            _known_stuurgegevens(message),
            system=self.system,
            referentienummer=message.id,
        )

    def _done(
        self, answer: Answer, message: Message, source: Source, started: float
    ) -> Answer:
        self.in_flight -= 1
        elapsed = time.perf_counter() - started
        identification = message.identification
        operation = identification.operation if identification else None
        outcome = message.outcome or ("ok" if answer.status < 400 else "error")
        metrics.count_message(
            source.name, metrics.operation_label(operation), outcome.split(" ")[0]
        )
        metrics.observe_latency(source.name, elapsed)
        log.info(
            "Message {id} {operation} from {zender} on {source}: {outcome} "
            "in {ms:.1f} ms",
            id=message.id,
            operation=operation or "-",
            zender=identification.stuurgegevens.zender.describe()
            if identification
            else "-",
            source=source.name,
            route=message.route or "-",
            outcome=outcome,
            ms=elapsed * 1000,
        )
        return answer


def source_for(name: str) -> Source:
    """The source called ``name``: a SOAP endpoint, or a bare source."""
    for source in (ZDS_SOURCE, BG_SOURCE):
        if source.name == name:
            return source
    if name.startswith("soap:"):
        return Source(name, ALL_NAMESPACES)
    return bare_source(name)


def split_message(
    root: etree._Element, source: Source
) -> tuple[etree._Element | None, etree._Element]:
    """The envelope (None for a bare message) and the StUF message element."""
    is_envelope = isinstance(root.tag, str) and root.tag.endswith("}Envelope")
    if source.envelope or is_envelope:
        request = open_envelope(root)
        return request.envelope, request.body
    return None, root


_NINE_DIGITS = re.compile(r"(?<!\d)\d{9}(?!\d)")


def mask_numbers(text: str) -> str:
    """``text`` with every run of exactly nine digits masked.

    A schema rule may quote the offending value, and a nine-digit value may
    be a BSN (or an RSIN); those never go to the log.
    """
    return _NINE_DIGITS.sub("*********", text)


def _undeclared(element: etree._Element) -> Violation:
    qname = etree.QName(element)
    line = element.sourceline
    return Violation(
        line=line if isinstance(line, int) else None,
        path=f"/{qname.localname}",
        rule=f"geen schema declareert element {qname.localname} in namespace "
        f"{qname.namespace or '(geen)'}",
    )


def _known_stuurgegevens(message: Message) -> Stuurgegevens | None:
    """The stuurgegevens to answer with, even when identification failed."""
    if message.identification is not None:
        return message.identification.stuurgegevens
    if message.body is None:
        return None
    try:
        stuurgegevens = read_stuurgegevens(message.body)
    except StufFault:
        return None
    # A foutbericht answers with the request's berichtcode in mind; one that
    # is missing or not a StUF code leaves only the Fo02.
    return stuurgegevens if stuurgegevens.berichtcode else None
