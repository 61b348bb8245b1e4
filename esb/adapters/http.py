"""HTTP destination: POST the message to a URL.

Settings in the routes file::

    type: http
    url: https://backoffice.example/stuf     # required
    headers: {Authorization: "Basic ..."}    # optional, sent as given
    content_type: text/xml; charset=utf-8    # optional
    max_connections: 32                      # persistent connections per host

The original SOAPAction travels along. Status codes decide what a failure
means: 2xx delivered; 408, 429 and 5xx are worth a retry, unless a 500 carries
a SOAP Fault whose StUF plek is ``client`` (the message itself is wrong);
every other status is final.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import treq
from lxml import etree
from twisted.internet import defer, reactor
from twisted.internet.error import ConnectError, TimeoutError
from twisted.web.client import HTTPConnectionPool, ResponseFailed
from twisted.web.iweb import IResponse

from esb.adapters.base import Delivered, DeliveryError, Outbound, setting
from esb.message import NS_STUF

RETRY_STATUSES = frozenset({408, 425, 429})
TRANSIENT = (ConnectError, TimeoutError, ResponseFailed, defer.CancelledError)


class HttpAdapter:
    """Delivers by HTTP POST over a pool of persistent connections."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        content_type: str = "text/xml; charset=utf-8",
        max_connections: int = 32,
    ) -> None:
        self.name = name
        self.url = url
        self.timeout = timeout
        self.headers: dict[bytes | str, bytes | str] = {
            str(k): str(v) for k, v in (headers or {}).items()
        }
        self.content_type = content_type
        self.pool = HTTPConnectionPool(reactor, persistent=True)
        self.pool.maxPersistentPerHost = max_connections
        self.pool.retryAutomatically = False

    @classmethod
    def from_settings(
        cls, name: str, settings: Mapping[str, Any], timeout: float
    ) -> HttpAdapter:
        return cls(
            name,
            str(setting(settings, "url", name)),
            timeout=timeout,
            headers=settings.get("headers") or {},
            content_type=str(settings.get("content_type", "text/xml; charset=utf-8")),
            max_connections=int(settings.get("max_connections", 32)),
        )

    @defer.inlineCallbacks
    def deliver(self, outbound: Outbound) -> Any:
        headers: dict[bytes | str, bytes | str] = {
            "Content-Type": self.content_type,
            **self.headers,
        }
        if outbound.soap_action:
            headers["SOAPAction"] = f'"{outbound.soap_action}"'
        headers["X-EMO-Message-Id"] = outbound.message_id
        try:
            response: IResponse = yield treq.post(
                self.url,
                data=outbound.payload,
                headers=headers,
                pool=self.pool,
                timeout=self.timeout,
            )
            body: bytes = yield treq.content(response)
        except TRANSIENT as exc:
            raise DeliveryError(
                f"{self.url}: {type(exc).__name__}: {exc}", retryable=True
            ) from exc
        status = int(response.code)
        content_type = _first(response.headers.getRawHeaders(b"content-type"))
        if 200 <= status < 300:
            return Delivered(answer=body, content_type=content_type, status=status)
        retryable = status >= 500 or status in RETRY_STATUSES
        if status == 500 and _stuf_plek(body) == "client":
            retryable = False
        raise DeliveryError(
            f"{self.url} answered HTTP {status}",
            retryable=retryable,
            answer=body,
            status=status,
        )

    def close(self) -> defer.Deferred[None]:
        closed: defer.Deferred[None] = self.pool.closeCachedConnections()
        return closed


def _first(values: list[bytes] | None) -> str | None:
    return values[0].decode("latin-1") if values else None


def _stuf_plek(body: bytes) -> str | None:
    """The plek of a StUF foutbericht inside a SOAP Fault, if there is one."""
    if b"plek" not in body:
        return None
    try:
        root = etree.fromstring(
            body, etree.XMLParser(resolve_entities=False, no_network=True)
        )
    except etree.XMLSyntaxError:
        return None
    plek = root.find(f".//{{{NS_STUF}}}plek")
    return plek.text.strip() if plek is not None and plek.text else None
