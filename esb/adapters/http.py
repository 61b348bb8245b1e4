"""HTTP destination: POST the message to a URL; and the HTTP client under
the ``stuf`` and ``soap`` adapters.

Settings in the routes file::

    type: http
    url: https://backoffice.example/stuf     # required
    method: POST                             # or PUT
    headers: {X-Gemeente: "0392"}            # optional, sent as given
    content_type: text/xml; charset=utf-8    # optional
    max_connections: 32                      # persistent connections per host
    tls: {ca: ..., cert: ..., key: ..., verify: true}   # see esb.adapters.tls
    auth: {username: emo, password: ${BACKOFFICE_PASSWORD}}

The original SOAPAction travels along. Status codes decide what a failure
means: 2xx delivered; 408, 425, 429 and 5xx are worth a retry; every other
status is final. An answer carrying a SOAP Fault is judged by the fault
instead (:class:`SoapFault`): a StUF foutbericht with plek ``client`` says the
message itself is wrong, so trying again cannot help.

A request that gets no complete answer within the destination's time-out
fails, worth a retry, and its connection is closed. Cancelling the Deferred
that :meth:`HttpClient.post` returns aborts the request the same way, and it
then fails with :class:`~twisted.internet.defer.CancelledError`, so the
delivery engine's own time-out reads as one.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import Any, TypeVar
from urllib.parse import urlsplit

from lxml import etree
from OpenSSL import SSL
from twisted.internet import defer, error, reactor
from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web._newclient import RequestNotSent
from twisted.web.client import (
    Agent,
    BrowserLikePolicyForHTTPS,
    FileBodyProducer,
    HTTPConnectionPool,
    RequestTransmissionFailed,
    ResponseDone,
    ResponseFailed,
)
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers
from twisted.web.iweb import IPolicyForHTTPS, IResponse

from esb.adapters.base import Delivered, DeliveryError, Outbound, setting
from esb.adapters.tls import BasicAuth, TlsPolicy, TlsSettings, check_keys
from esb.errors import ConfigError
from esb.message import NS_SOAP11, NS_SOAP12, NS_STUF

log = Logger()

RETRY_STATUSES = frozenset({408, 425, 429})

# Failures of the connection or the exchange, never of the message: worth a
# retry. A TLS handshake that fails (SSL.Error) is here too: a certificate is
# put right by an admin while the retries run.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    error.ConnectError,
    error.DNSLookupError,
    error.ConnectionLost,
    ResponseFailed,
    RequestTransmissionFailed,
    RequestNotSent,
    SSL.Error,
)

CLIENT_KEYS = ("url", "headers", "tls", "auth", "max_connections")
HTTP_KEYS = (*CLIENT_KEYS, "method", "content_type")

# Answers are parsed only to find a fault: no entities, no network, no huge
# text nodes (a fault has none, and a 50 MB document in an La01 should not be
# built into a tree just to learn that it is not a fault).
_ANSWER_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
)
# A SOAP Fault is the first child of the Body (SOAP 1.1 section 4.4); only a
# large SOAP Header can push it further from the start than this.
_FAULT_WITHIN = 64 * 1024
_FOUTBERICHTEN = frozenset({"Fo01Bericht", "Fo02Bericht", "Fo03Bericht"})

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """What the destination answered."""

    status: int
    content_type: str | None
    body: bytes


class HttpClient:
    """Sends requests to one URL over a pool of persistent connections.

    Built once per destination; TLS material and the basic-auth header are
    prepared here, not per request.
    """

    def __init__(
        self,
        destination: str,
        url: str,
        *,
        timeout: float,
        headers: Mapping[str, Any] | None = None,
        tls: TlsSettings | None = None,
        auth: BasicAuth | None = None,
        max_connections: int = 32,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"destination '{destination}': '{url}' is not an http(s) URL"
            )
        if parts.username or parts.password:
            # Credentials in the URL would end up in every error message and
            # so in the journal and the logs.
            raise ConfigError(
                f"destination '{destination}': put the user name and password "
                "under 'auth', not in the URL"
            )
        if tls is not None and parts.scheme != "https":
            raise ConfigError(
                f"destination '{destination}': 'tls' is set but '{url}' is not "
                "an https URL"
            )
        if auth is not None and parts.scheme != "https":
            log.warn(
                "Destination {destination} sends its password without TLS to {url}",
                destination=destination,
                url=url,
            )
        self.destination = destination
        self.url = url
        self.timeout = timeout
        self.headers = {str(k): str(v) for k, v in (headers or {}).items()}
        if auth is not None:
            self.headers["Authorization"] = auth.header
        self.policy: IPolicyForHTTPS = (
            TlsPolicy(destination, tls) if tls else BrowserLikePolicyForHTTPS()
        )
        self.pool = HTTPConnectionPool(reactor, persistent=True)
        self.pool.maxPersistentPerHost = max_connections
        # A POST is not idempotent: a request that failed on a stale
        # connection is the delivery engine's to retry, with a journal entry.
        self.pool.retryAutomatically = False
        self.agent = self._agent()

    def _agent(self) -> Agent:
        return Agent(
            reactor,
            contextFactory=self.policy,
            connectTimeout=self.timeout,
            pool=self.pool,
        )

    def _one_connection_per_request(self) -> None:
        """Stop keeping connections open to a server that closes them.

        An HTTP/1.0 server closes the connection after each answer (RFC 7230
        section 6.3), but Twisted's pool keeps it as if it were HTTP/1.1 and
        the next request fails on it. Old servers (wsgiref, under many a
        spyne service) speak HTTP/1.0; from the first such answer on, every
        request gets a connection of its own.
        """
        if not self.pool.persistent:
            return
        stale = self.pool
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.agent = self._agent()
        # Next turn: the connection of this answer is in the pool by then.
        reactor.callLater(0, stale.closeCachedConnections)
        log.info(
            "Destination {destination} answers in HTTP/1.0: one connection "
            "per request from now on",
            destination=self.destination,
        )

    @classmethod
    def from_settings(
        cls,
        destination: str,
        settings: Mapping[str, Any],
        timeout: float,
        *,
        url_key: str = "url",
    ) -> HttpClient:
        """The client for the URL in ``settings[url_key]`` with the shared
        ``headers``, ``tls``, ``auth`` and ``max_connections`` settings."""
        headers = settings.get("headers") or {}
        if not isinstance(headers, Mapping):
            raise ConfigError(
                f"destination '{destination}': 'headers' must map names to values"
            )
        tls = settings.get("tls")
        auth = settings.get("auth")
        return cls(
            destination,
            str(setting(settings, url_key, destination)),
            timeout=timeout,
            headers=headers,
            tls=TlsSettings.from_settings(destination, tls) if tls else None,
            auth=BasicAuth.from_settings(destination, auth) if auth else None,
            max_connections=int(settings.get("max_connections", 32)),
        )

    def post(
        self,
        payload: bytes,
        headers: Mapping[str, str],
        *,
        method: str = "POST",
        url: str | None = None,
    ) -> defer.Deferred[HttpAnswer]:
        """Send ``payload``; fires with the answer, whatever its status.

        Fails with DeliveryError (retryable) when no answer came: refused,
        reset, TLS failure, or the time-out passed. Cancelling aborts the
        request and fails with CancelledError.
        """
        target = url or self.url
        sent = {**self.headers, **headers}
        answer = _cancellable(self._exchange(method, target, payload, sent))
        answer.addTimeout(self.timeout, reactor)
        answer.addErrback(self._failed, target)
        return answer

    @defer.inlineCallbacks
    def _exchange(
        self, method: str, url: str, payload: bytes, headers: Mapping[str, str]
    ) -> Generator[defer.Deferred[Any], Any, HttpAnswer]:
        response: IResponse = yield self.agent.request(
            method.encode("ascii"),
            url.encode("ascii"),
            Headers({name: [value] for name, value in headers.items()}),
            FileBodyProducer(BytesIO(payload)),
        )
        if tuple(response.version[1:]) < (1, 1):
            self._one_connection_per_request()
        body: bytes = yield _read_body(response)
        content_type = response.headers.getRawHeaders(b"content-type")
        return HttpAnswer(
            int(response.code),
            content_type[0].decode("latin-1") if content_type else None,
            body,
        )

    def _failed(self, failure: Failure, url: str) -> Failure:
        if failure.check(defer.TimeoutError):
            raise DeliveryError(
                f"{url}: no answer within {self.timeout:g} s", retryable=True
            ) from failure.value
        if failure.check(*TRANSPORT_ERRORS) and failure.value is not None:
            raise DeliveryError(
                f"{url}: {_describe(failure.value)}", retryable=True
            ) from failure.value
        return failure

    def close(self) -> defer.Deferred[None]:
        closed: defer.Deferred[None] = self.pool.closeCachedConnections()
        return closed


def _cancellable(inner: defer.Deferred[T]) -> defer.Deferred[T]:
    """``inner``, such that cancelling aborts it and fails with CancelledError.

    Cancelling Twisted's HTTP client aborts the connection, but the request's
    Deferred then fails with ResponseNeverReceived or the like; callers that
    cancel (``addTimeout`` above all) expect CancelledError.
    """
    cancelled = False

    def cancel(_: defer.Deferred[T]) -> None:
        nonlocal cancelled
        cancelled = True
        inner.cancel()

    outer: defer.Deferred[T] = defer.Deferred(cancel)

    def relay(result: T | Failure) -> None:
        # After a cancel, outer has failed already; inner's own ending is of
        # no more interest.
        if cancelled:
            return
        if isinstance(result, Failure):
            outer.errback(result)
        else:
            outer.callback(result)

    inner.addBoth(relay)
    return outer


class _BodyCollector(Protocol):
    """Gathers an answer's body; ``finished`` fires with it."""

    def __init__(self, finished: defer.Deferred[bytes]) -> None:
        self.finished = finished
        self.parts: list[bytes] = []

    def dataReceived(self, data: bytes) -> None:
        self.parts.append(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self.finished.called:
            return  # cancelled
        # PotentialDataLoss: an HTTP/1.0 server ends its answer by closing the
        # connection, which Twisted cannot tell from a cut-off one. Take it.
        if reason.check(ResponseDone, PotentialDataLoss):
            self.finished.callback(b"".join(self.parts))
        else:
            self.finished.errback(reason)


def _read_body(response: IResponse) -> defer.Deferred[bytes]:
    """The body of ``response``; cancelling closes the connection at once."""
    collector: _BodyCollector

    def cancel(_: defer.Deferred[bytes]) -> None:
        transport = collector.transport
        if transport is None:
            return
        # FIXME: Twisted 26.10 hands the body to a TransportProxyProducer,
        # which has loseConnection but no abortConnection, so its own
        # readBody cannot abort (it warns instead). loseConnection is not
        # enough: over TLS it waits for the server's close_notify, which a
        # hung server never sends. Abort the real transport behind the proxy.
        behind = getattr(transport, "_producer", None)
        abort = getattr(behind, "abortConnection", None)
        if abort is not None:
            abort()
        else:
            transport.loseConnection()

    finished: defer.Deferred[bytes] = defer.Deferred(cancel)
    collector = _BodyCollector(finished)
    response.deliverBody(collector)
    return finished


def _describe(exc: BaseException) -> str:
    """A one-line reason, including what Twisted wrapped inside ``exc``."""
    reasons = getattr(exc, "reasons", None)
    if reasons:
        inner = "; ".join(
            f"{reason.type.__name__}: {reason.getErrorMessage()}" for reason in reasons
        )
        return f"{type(exc).__name__} ({inner})"
    return f"{type(exc).__name__}: {exc}"


# SOAP faults -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SoapFault:
    """A SOAP 1.1 or 1.2 Fault in an answer, and the StUF foutbericht in it.

    StUF 03.01 chapter 5: a foutbericht (Fo01, Fo02, Fo03) says in ``plek``
    whose fault it is; ``client``: the message is wrong and must not be sent
    again unchanged; ``server``: the receiver failed and may succeed later.
    Without a foutbericht the SOAP faultcode says the same (SOAP 1.1 section
    4.4.1: Client means "should not be resent without change", Server that
    it "could succeed at a later point in time"; SOAP 1.2 calls them Sender
    and Receiver).
    """

    faultcode: str
    faultstring: str
    berichtcode: str | None = None
    code: str | None = None
    plek: str | None = None
    omschrijving: str | None = None

    @property
    def side(self) -> str | None:
        """``client`` or ``server``: the plek, else the faultcode's class."""
        if self.plek in ("client", "server"):
            return self.plek
        local = self.faultcode.rpartition(":")[2].split(".")[0]
        if local in ("Client", "Sender"):
            return "client"
        if local in ("Server", "Receiver"):
            return "server"
        return None

    @property
    def retryable(self) -> bool:
        # VersionMismatch and MustUnderstand are about the envelope EMO sent;
        # sending it again changes nothing either.
        return self.side == "server"

    def __str__(self) -> str:
        if self.code:
            text = f"{self.berichtcode or 'Fo'} {self.code} (plek {self.plek})"
            return f"{text}: {self.omschrijving or self.faultstring}"
        return f"SOAP Fault {self.faultcode}: {self.faultstring}"


def read_fault(body: bytes) -> SoapFault | None:
    """The SOAP Fault in an answer, or None if it is not one."""
    if body.find(b"Fault", 0, _FAULT_WITHIN) < 0:
        return None
    try:
        root = etree.fromstring(body, _ANSWER_PARSER)
    except etree.XMLSyntaxError:
        return None
    for soap in (NS_SOAP11, NS_SOAP12):
        if root.tag == f"{{{soap}}}Envelope":
            break
    else:
        return None
    fault = root.find(f"{{{soap}}}Body/{{{soap}}}Fault")
    if fault is None:
        return None
    if soap == NS_SOAP11:
        faultcode = fault.findtext("faultcode", "")
        faultstring = fault.findtext("faultstring", "")
        detail = fault.find("detail")
    else:
        faultcode = fault.findtext(f"{{{soap}}}Code/{{{soap}}}Value", "")
        faultstring = fault.findtext(f"{{{soap}}}Reason/{{{soap}}}Text", "")
        detail = fault.find(f"{{{soap}}}Detail")
    found = SoapFault(faultcode.strip(), faultstring.strip())
    bericht = _foutbericht(detail)
    if bericht is None:
        return found

    def text(path: str) -> str | None:
        value = bericht.findtext(path, None, {"StUF": NS_STUF})
        return value.strip() if value and value.strip() else None

    return SoapFault(
        found.faultcode,
        found.faultstring,
        berichtcode=text("StUF:stuurgegevens/StUF:berichtcode"),
        code=text("StUF:body/StUF:code"),
        plek=text("StUF:body/StUF:plek"),
        omschrijving=text("StUF:body/StUF:omschrijving"),
    )


def _foutbericht(detail: etree._Element | None) -> etree._Element | None:
    """The Fo01/Fo02/Fo03 bericht inside a fault's detail, if there is one."""
    if detail is None:
        return None
    for element in detail.iter(f"{{{NS_STUF}}}*"):
        if etree.QName(element).localname in _FOUTBERICHTEN:
            return element
    # Some services put the foutbericht's body in the detail without the
    # bericht element around it.
    plek = next(detail.iter(f"{{{NS_STUF}}}plek"), None)
    body = plek.getparent() if plek is not None else None
    return body.getparent() if body is not None else None


# The http adapter ------------------------------------------------------------


class HttpAdapter:
    """Delivers by HTTP POST (or PUT), judging the answer by its status."""

    def __init__(
        self,
        name: str,
        client: HttpClient,
        *,
        method: str = "POST",
        content_type: str = "text/xml; charset=utf-8",
    ) -> None:
        self.name = name
        self.client = client
        self.method = method
        self.content_type = content_type

    @property
    def url(self) -> str:
        return self.client.url

    @classmethod
    def from_settings(
        cls, name: str, settings: Mapping[str, Any], timeout: float
    ) -> HttpAdapter:
        check_keys(name, "http", settings, HTTP_KEYS)
        method = str(settings.get("method", "POST")).upper()
        if method not in ("POST", "PUT"):
            raise ConfigError(
                f"destination '{name}': method must be POST or PUT, not {method}"
            )
        return cls(
            name,
            HttpClient.from_settings(name, settings, timeout),
            method=method,
            content_type=str(settings.get("content_type", "text/xml; charset=utf-8")),
        )

    def deliver(self, outbound: Outbound) -> defer.Deferred[Delivered]:
        headers = {"Content-Type": self.content_type, **outbound.headers}
        if outbound.soap_action:
            headers["SOAPAction"] = f'"{outbound.soap_action}"'
        headers["X-EMO-Message-Id"] = outbound.message_id
        sent = self.client.post(outbound.payload, headers, method=self.method)
        return sent.addCallback(self._judge)

    def _judge(self, answer: HttpAnswer) -> Delivered:
        status = answer.status
        if 200 <= status < 300:
            return Delivered(
                answer=answer.body, content_type=answer.content_type, status=status
            )
        retryable = status >= 500 or status in RETRY_STATUSES
        reason = f"{self.url} answered HTTP {status}"
        fault = read_fault(answer.body)
        if fault is not None and fault.side is not None:
            retryable = fault.retryable
            reason = f"{reason}: {fault}"
        raise DeliveryError(
            reason, retryable=retryable, answer=answer.body, status=status
        )

    def close(self) -> defer.Deferred[None]:
        return self.client.close()
