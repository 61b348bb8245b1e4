"""The broker's HTTP face: SOAP endpoints, health and metrics.

``POST /stuf/zds`` and ``POST /stuf/bg`` take SOAP 1.1 requests; everything
that is not a usable request gets an answer that names the problem: a SOAP
Fault where a SOAP client is talking, an HTTP error otherwise. Request bodies
over the size limit are discarded as they arrive, never held in memory.

The SOAP POSTs themselves usually arrive through :mod:`esb.ingress`, which
reads them faster than twisted.web and hands everything else to the site
built here; :func:`receive_soap` is the part both share.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from email.message import Message as MimeHeaders
from typing import Any

from lxml import etree
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import http, resource, server

from esb import metrics, wsdl
from esb.answers import Answer, fault_answer
from esb.broker import BG_SOURCE, ZDS_SOURCE, Broker, Source, bare_source
from esb.envelope import normalise_soap_action
from esb.errors import EnvelopeError, StufFault
from esb.message import NS_SOAP11, NS_STUF

log = Logger()

# Content types a SOAP 1.1 request may carry. SOAP 1.1 asks for text/xml;
# application/xml and a missing header are common enough to accept, and a
# SOAP 1.2 content type is let through so the envelope check can say exactly
# what is wrong.
XML_TYPES = frozenset({"text/xml", "application/xml", "application/soap+xml"})


class BrokerChannel(http.HTTPChannel):
    """An HTTP channel that answers a header line over the limit with 431
    instead of dropping the connection without a word."""

    def lineLengthExceeded(self, line: bytes) -> None:
        transport = self.transport
        if transport is None:
            return
        text = b"A request header line is too long.\r\n"
        transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(text)).encode() + b"\r\n\r\n" + text
        )
        transport.loseConnection()


class BrokerSite(server.Site):
    """The site serving the broker, with what :mod:`esb.ingress` and a
    graceful stop need to know of it."""

    def __init__(self, root: Root, *, max_body_bytes: int) -> None:
        request_class = type(
            "BrokerRequest", (LimitedRequest,), {"max_body_bytes": max_body_bytes}
        )
        super().__init__(
            root, requestFactory=request_class, parsePOSTFormSubmission=False
        )
        self.root = root
        self.max_body_bytes = max_body_bytes
        # Requests whose body is arriving or whose answer is not written yet,
        # over both ingresses; a graceful stop waits for them (esb.app).
        self.requests_open = 0


class LimitedRequest(server.Request):
    """A request that stops storing its body once it exceeds the limit."""

    max_body_bytes = 100 * 1024 * 1024

    def gotLength(self, length: int | None) -> None:
        # Count the request from the moment its body starts to arrive, so a
        # graceful stop waits for uploads still under way.
        site = getattr(self.channel, "site", None)
        if isinstance(site, BrokerSite):
            site.requests_open += 1
            self.notifyFinish().addBoth(_closed, site)
        self.body_received = 0
        self.body_too_large = length is not None and length > self.max_body_bytes
        super().gotLength(None if self.body_too_large else length)

    def handleContentChunk(self, data: bytes) -> None:
        self.body_received += len(data)
        if self.body_too_large or self.body_received > self.max_body_bytes:
            # Keep reading so the connection stays in a sane state, but throw
            # the bytes away; process() answers 413.
            self.body_too_large = True
            return
        super().handleContentChunk(data)


def _closed(result: object, site: BrokerSite) -> None:
    site.requests_open -= 1


def receive_soap(
    broker: Broker,
    source: Source,
    body: bytes | None,
    *,
    content_type: str | None,
    soap_action: str | None,
    max_body_bytes: int,
) -> defer.Deferred[Answer]:
    """Check a SOAP POST and hand it to the broker: the part of a request
    that both ingresses (twisted.web's and :mod:`esb.ingress`) share.

    ``body`` is None when it was over ``max_body_bytes`` and discarded;
    ``content_type`` and ``soap_action`` are the headers as sent (None when
    absent). The Deferred always fires with an answer.
    """
    if body is None:
        return defer.succeed(
            refusal(
                broker,
                source,
                http.REQUEST_ENTITY_TOO_LARGE,
                f"Bericht is groter dan de grens van {max_body_bytes} bytes",
            )
        )
    media_type, charset = content_type_parts(content_type)
    if media_type is not None and media_type not in XML_TYPES:
        return defer.succeed(
            refusal(
                broker,
                source,
                http.UNSUPPORTED_MEDIA_TYPE,
                f"Content-Type {media_type} wordt niet ondersteund; stuur text/xml "
                "(SOAP 1.1)",
            )
        )
    action = normalise_soap_action(soap_action or _action_param(content_type))
    return broker.receive(source, body, soap_action=action, charset=charset)


def refusal(broker: Broker, source: Source, status: int, text: str) -> Answer:
    """A request refused before it reaches the broker: StUF055 with ``text``,
    under HTTP ``status``."""
    fault = EnvelopeError("StUF055", text)
    answer = fault_answer(
        fault, None, system=broker.system, referentienummer="-", http_status=status
    )
    metrics.MESSAGES.labels(source.name, "none", "refused").inc()
    log.info(
        "Request on {source} refused with HTTP {status}: {text}",
        source=source.name,
        status=status,
        text=text,
    )
    return answer


def content_type_parts(header: str | None) -> tuple[str | None, str | None]:
    """The media type and charset of a Content-Type header (RFC 9110
    section 8.3.1)."""
    if not header:
        return None, None
    media_type, *parameters = header.split(";")
    charset = None
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    return media_type.strip().lower() or None, charset


def _write(request: server.Request, answer: Answer) -> None:
    if request.finished or getattr(request, "_disconnected", False):
        return
    request.setResponseCode(answer.status)
    request.setHeader("content-type", answer.content_type)
    request.setHeader("content-length", str(len(answer.body)))
    request.write(answer.body)
    request.finish()


class SoapEndpoint(resource.Resource):
    """One SOAP endpoint: reads the request and hands it to the broker."""

    isLeaf = True

    def __init__(self, broker_ref: Callable[[], Broker], source: Source) -> None:
        super().__init__()
        self._broker = broker_ref
        self.source = source

    def render(self, request: server.Request) -> bytes | int:
        if request.method not in (b"GET", b"HEAD", b"POST"):
            # RFC 9110 section 15.5.6: say which methods the endpoint takes.
            request.setResponseCode(http.NOT_ALLOWED)
            request.setHeader("allow", "GET, POST")
            request.setHeader("content-type", "text/plain; charset=utf-8")
            return f"{self.source.name} takes POST (and GET ?wsdl)\n".encode()
        result: bytes | int = super().render(request)
        return result

    def render_GET(self, request: server.Request) -> bytes:
        if wsdl.wants_document(request):
            return wsdl.render(request, self.source.name, self._broker().schemas)
        request.setHeader("content-type", "text/plain; charset=utf-8")
        request.setResponseCode(http.NOT_ALLOWED)
        request.setHeader("allow", "POST")
        return (
            f"{self.source.name} takes StUF messages as SOAP 1.1 POST requests.\n"
        ).encode()

    def render_POST(self, request: server.Request) -> int:
        body: bytes | None = None
        if not getattr(request, "body_too_large", False):
            assert request.content is not None
            body = request.content.read()
        answered = receive_soap(
            self._broker(),
            self.source,
            body,
            content_type=_header(request, "content-type"),
            soap_action=_header(request, "soapaction"),
            max_body_bytes=getattr(
                request, "max_body_bytes", LimitedRequest.max_body_bytes
            ),
        )
        answered.addCallback(lambda answer: self._deliver(request, answer))
        answered.addErrback(self._crash, request)
        return server.NOT_DONE_YET

    def _deliver(self, request: server.Request, answer: Answer) -> None:
        _write(request, answer)

    def _crash(self, failure: Failure, request: server.Request) -> None:
        # Broker.receive always answers; reaching this is a bug in writing.
        log.failure("Could not write the answer", failure)
        if not request.finished:
            request.setResponseCode(http.INTERNAL_SERVER_ERROR)
            request.finish()


class PlainEndpoint(SoapEndpoint):
    """A plain-HTTP source: the bare StUF message in, the bare answer out.

    For web forms and scripts that do not speak SOAP. The answer is the StUF
    element itself (a Bv03Bericht, the destination's answer, or a
    foutbericht), with an HTTP status that fits: 200 for an answer, 400 for a
    fault with plek client, 503 for one with plek server.
    """

    def _deliver(self, request: server.Request, answer: Answer) -> None:
        status, body = unwrap_answer(answer.body, answer.status)
        _write(request, Answer(status, body, answer.content_type))


def unwrap_answer(soap: bytes, status: int) -> tuple[int, bytes]:
    """The StUF element inside a SOAP answer, and the HTTP status for it."""
    try:
        root = etree.fromstring(soap, _ANSWER_PARSER)
    except etree.XMLSyntaxError:
        return status, soap
    body = root.find(f"{{{NS_SOAP11}}}Body")
    if body is None or len(body) == 0:
        return status, soap
    element = body[0]
    if element.tag == f"{{{NS_SOAP11}}}Fault":
        detail = element.find("detail")
        plek = element.findtext(f".//{{{NS_STUF}}}plek")
        status = 400 if plek == "client" else 503
        if detail is not None and len(detail):
            element = detail[0]
    return status, etree.tostring(element, xml_declaration=True, encoding="UTF-8")


_ANSWER_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


def _header(request: server.Request, name: str) -> str | None:
    """A request header as text; bytes that are not UTF-8 are read as
    Latin-1 (RFC 9110 section 5.5) instead of failing the request."""
    values = request.requestHeaders.getRawHeaders(name.encode("ascii"))
    if not values:
        return None
    raw = values[0]
    return raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)


def _action_param(content_type: str | None) -> str | None:
    # SOAP 1.2 carries the action in the Content-Type; used only to identify a
    # SOAP 1.2 request well enough to refuse it precisely.
    if not content_type or "action=" not in content_type:
        return None
    parsed = MimeHeaders()
    parsed["content-type"] = content_type
    value = parsed.get_param("action")
    return value if isinstance(value, str) else None


class Health(resource.Resource):
    """``GET /healthz``: is the broker up, and what did it load."""

    isLeaf = True

    def __init__(self, status: Callable[[], dict[str, Any]]) -> None:
        super().__init__()
        self._status = status

    def render_GET(self, request: server.Request) -> bytes:
        request.setHeader("content-type", "application/json")
        return json.dumps(self._status(), indent=2).encode() + b"\n"


class Metrics(resource.Resource):
    """``GET /metrics`` in the Prometheus text format."""

    isLeaf = True

    def render_GET(self, request: server.Request) -> bytes:
        request.setHeader("content-type", "text/plain; version=0.0.4")
        return metrics.exposition()


class NotFound(resource.Resource):
    """Any other path: a SOAP Fault for POSTs, plain text otherwise."""

    isLeaf = True

    def __init__(self, broker_ref: Callable[[], Broker], known: list[str]) -> None:
        super().__init__()
        self._broker = broker_ref
        self._known = known

    def render(self, request: server.Request) -> bytes:
        path = request.path.decode("utf-8", "replace")
        text = f"Geen StUF-dienst op {path[:200]}; wel op: {', '.join(self._known)}"
        request.setResponseCode(http.NOT_FOUND)
        if request.method == b"POST":
            fault = StufFault("StUF004", text, plek="client")
            answer = fault_answer(
                fault, None, system=self._broker().system, referentienummer="-"
            )
            request.setHeader("content-type", answer.content_type)
            return answer.body
        request.setHeader("content-type", "text/plain; charset=utf-8")
        return text.encode() + b"\n"


AdminHandler = Callable[[str, "str | None"], defer.Deferred[tuple[int, str]]]
"""Runs an admin command (name, token given); fires with the HTTP status and
text once it is done."""


class Admin(resource.Resource):
    """``POST /admin/<command>``: operators' commands, from this machine only,
    with the token the running broker wrote to its state file.

    The answer comes when the command is done: a reload takes as long as
    reading the routes and their WSDLs, and the broker serves messages
    meanwhile.
    """

    isLeaf = True

    def __init__(self, handler: AdminHandler) -> None:
        super().__init__()
        self._handler = handler

    def render_POST(self, request: server.Request) -> bytes | int:
        request.setHeader("content-type", "text/plain; charset=utf-8")
        peer = request.getClientAddress()
        if getattr(peer, "host", None) not in ("127.0.0.1", "::1"):
            request.setResponseCode(http.FORBIDDEN)
            return b"admin commands are taken from this machine only\n"
        command = request.path.decode("ascii", "replace").rsplit("/", 1)[-1]
        done = self._handler(command, _header(request, "x-emo-admin-token"))
        done.addCallback(self._answer, request)
        done.addErrback(self._crash, request)
        return server.NOT_DONE_YET

    def _answer(self, outcome: tuple[int, str], request: server.Request) -> None:
        status, text = outcome
        _write(request, Answer(status, text.encode(), "text/plain; charset=utf-8"))

    def _crash(self, failure: Failure, request: server.Request) -> None:
        log.failure("Admin command failed", failure)
        text = b"admin command failed; the broker's log says why\n"
        _write(
            request,
            Answer(http.INTERNAL_SERVER_ERROR, text, "text/plain; charset=utf-8"),
        )


class Root(resource.Resource):
    """The resource tree; the broker is looked up per request, so a reload
    that builds a new one takes effect for the next message."""

    def __init__(
        self,
        broker_ref: Callable[[], Broker],
        status: Callable[[], dict[str, Any]],
        admin: AdminHandler | None = None,
        mounts: Mapping[bytes, resource.Resource] | None = None,
    ) -> None:
        super().__init__()
        self.broker_ref = broker_ref
        # Whole applications under a first path segment (b"zaakzoeker").
        self.mounts = dict(mounts or {})
        self._plain_endpoints: dict[str, PlainEndpoint] = {}
        self.admin = Admin(admin) if admin else None
        self.endpoints = {
            b"/stuf/zds": SoapEndpoint(broker_ref, ZDS_SOURCE),
            b"/stuf/bg": SoapEndpoint(broker_ref, BG_SOURCE),
        }
        self.fixed: dict[bytes, resource.Resource] = {
            b"/healthz": Health(status),
            b"/metrics": Metrics(),
        }
        self.missing = NotFound(broker_ref, ["/stuf/zds", "/stuf/bg"])

    def getChildWithDefault(
        self, path: bytes, request: server.Request
    ) -> resource.Resource:
        mounted = self.mounts.get(path)
        if mounted is not None:
            return mounted
        full = request.path.rstrip(b"/") or b"/"
        if self.admin is not None and full.startswith(b"/admin/"):
            return self.admin
        plain = self._plain(full)
        if plain is not None:
            return plain
        return self.endpoints.get(full) or self.fixed.get(full) or self.missing

    def render(self, request: server.Request) -> bytes:
        return self.missing.render(request)

    def _plain(self, path: bytes) -> PlainEndpoint | None:
        """The plain-HTTP source at ``path``, if the current routes have one."""
        if path in self.endpoints or path in self.fixed:
            return None
        name = "http:" + path.decode("utf-8", "replace")
        table = getattr(self.broker_ref().dispatcher, "table", None)
        if table is None or name not in table.sources():
            return None
        endpoint = self._plain_endpoints.get(name)
        if endpoint is None:
            endpoint = PlainEndpoint(self.broker_ref, bare_source(name))
            self._plain_endpoints[name] = endpoint
        return endpoint


def make_site(
    broker_ref: Callable[[], Broker],
    status: Callable[[], dict[str, Any]],
    *,
    max_body_bytes: int,
    admin: AdminHandler | None = None,
    mounts: Mapping[bytes, resource.Resource] | None = None,
) -> BrokerSite:
    """The Twisted site serving the broker."""
    site = BrokerSite(
        Root(broker_ref, status, admin, mounts), max_body_bytes=max_body_bytes
    )
    site.protocol = BrokerChannel  # type: ignore[assignment]
    site.displayTracebacks = False
    site.noisy = False
    # The broker logs one event per message itself; Twisted's access log
    # would add a second line per request and cost time on the hot path.
    site.log = lambda request: None  # type: ignore[method-assign]
    return site
