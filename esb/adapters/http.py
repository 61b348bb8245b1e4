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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from lxml import etree
from OpenSSL import SSL
from service_identity import VerificationError
from twisted.internet import defer, error, reactor
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import BrowserLikePolicyForHTTPS
from twisted.web.iweb import IPolicyForHTTPS

from esb.adapters.base import Delivered, DeliveryError, Outbound, setting
from esb.adapters.connections import (
    AnswerError,
    ConnectionPool,
    HttpAnswer,
    HttpConnection,
    request_head,
)
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
    error.ConnectionDone,
    error.TimeoutError,
    AnswerError,
    SSL.Error,
    VerificationError,
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


class HttpClient:
    """Sends requests to one URL over a pool of persistent connections.

    Built once per destination; TLS material, the connection pool and the
    headers sent with every request are prepared here, not per request.
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
        try:
            parts.port  # noqa: B018  (raises on a port that is not a number)
        except ValueError as exc:
            raise ConfigError(f"destination '{destination}': {url}: {exc}") from exc
        self.destination = destination
        self.url = url
        self.timeout = timeout
        self.max_connections = max_connections
        self.headers = {str(k): _header_value(v) for k, v in (headers or {}).items()}
        if auth is not None:
            self.headers["Authorization"] = auth.header
        self.policy: IPolicyForHTTPS = (
            TlsPolicy(destination, tls) if tls else BrowserLikePolicyForHTTPS()
        )
        self.pools: dict[tuple[str, str, int], ConnectionPool] = {}
        self._targets: dict[str, tuple[ConnectionPool, str, str]] = {}

    def _pool(self, scheme: str, host: str, port: int) -> ConnectionPool:
        key = (scheme, host, port)
        pool = self.pools.get(key)
        if pool is None:
            pool = self.pools[key] = ConnectionPool(
                reactor,
                host,
                port,
                tls=self.policy if scheme == "https" else None,
                connect_timeout=self.timeout,
                keep=self.max_connections,
            )
        return pool

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
        timeout: bool = True,
    ) -> defer.Deferred[HttpAnswer]:
        """Send ``payload``; fires with the answer, whatever its status.

        Fails with DeliveryError (retryable) when no answer came: refused,
        reset, TLS failure, or the time-out passed. Cancelling aborts the
        request and fails with CancelledError. ``timeout=False`` leaves the
        time-out to the caller (the delivery engine sets its own).
        """
        target = url or self.url
        pool, host_header, path = self._target(target)
        sent = {**self.headers}
        for name, value in headers.items():
            sent[name] = _header_value(value)
        sent["Content-Length"] = str(len(payload))
        head = request_head(method, path, host_header, sent) + b"\r\n"
        answer = self._exchange(pool, head, payload)
        if timeout:
            answer.addTimeout(self.timeout, reactor)
        answer.addErrback(self._failed, target)
        return answer

    def _target(self, url: str) -> tuple[ConnectionPool, str, str]:
        """The pool, Host header and request target for ``url``; worked out
        once per URL (a client posts to its own URL nearly always)."""
        known = self._targets.get(url)
        if known is not None:
            return known
        parts = urlsplit(url)
        scheme = parts.scheme
        host = parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        default_port = (scheme == "http" and port == 80) or (
            scheme == "https" and port == 443
        )
        host_header = host if default_port else f"{host}:{port}"
        if ":" in host and not host.startswith("["):
            host_header = f"[{host}]" if default_port else f"[{host}]:{port}"
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        target = (self._pool(scheme, host, port), host_header, path)
        if len(self._targets) < 100:
            self._targets[url] = target
        return target

    def _exchange(
        self, pool: ConnectionPool, head: bytes, payload: bytes
    ) -> defer.Deferred[HttpAnswer]:
        """Get a connection, send, and fire with the answer; cancelling at
        any point closes what was opened and fails with CancelledError."""
        idle = pool.idle_connection()
        if idle is not None:
            # The common case: a kept-alive connection is free, and the
            # request's own Deferred (cancelling it aborts the connection)
            # is the answer.
            return idle.request(head, payload)
        current: defer.Deferred[Any] | None = None

        def cancel(_: defer.Deferred[HttpAnswer]) -> None:
            if current is not None and not current.called:
                current.cancel()

        outer: defer.Deferred[HttpAnswer] = defer.Deferred(cancel)

        def connected(connection: HttpConnection) -> None:
            nonlocal current
            if outer.called:  # cancelled while connecting
                pool.release(connection)
                return
            current = connection.request(head, payload)
            current.addCallbacks(outer.callback, failed)

        def failed(failure: Failure) -> None:
            if not outer.called:
                outer.errback(failure)

        current = pool.connection()
        current.addCallbacks(connected, failed)
        return outer

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
        for pool in self.pools.values():
            pool.close()
        return defer.succeed(None)


def _header_value(value: object) -> str:
    """A header value that cannot end its line early (no CR or LF in it)."""
    return " ".join(str(value).splitlines())


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

    # Its HttpClient gives up after the destination's time-out.
    keeps_timeout = True

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
