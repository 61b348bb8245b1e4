"""StUF destination: a StUF SOAP service that takes the message as it is.

For backoffices that speak StUF themselves (a zaaksysteem with a ZDS
interface, a StUF-BG basisregistratie): the original SOAP envelope goes out
unchanged and the service's own answer comes back to the sender. Settings in
the routes file::

    type: stuf
    url: https://zaaksysteem.example/zds     # required
    soap_action: http://...                  # optional; default: the sender's
    headers: {X-Gemeente: "0392"}            # optional, sent as given
    max_connections: 32
    tls: {ca: ..., cert: ..., key: ..., verify: true}   # see esb.adapters.tls
    auth: {username: emo, password: ${ZAAKSYSTEEM_PASSWORD}}

What the answer means:

- a SOAP envelope with status 2xx (a ``La01``, ``Bv03``, ``Du02``): delivered,
  the envelope is the answer; an empty 2xx answer (a one-way service's 202)
  is delivered without one;
- a SOAP Fault, whatever the status: failed, and the fault is kept with status
  500 so that a request-reply sender gets the destination's own foutbericht.
  A ``Fo0x`` with plek ``server`` is worth a retry, plek ``client`` is not
  (:class:`~esb.adapters.http.SoapFault`);
- no fault and no 2xx: by status, as for the ``http`` adapter;
- a 2xx that is not a SOAP envelope (a proxy's login page): failed, worth a
  retry, since the message did not reach the service.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lxml import etree
from twisted.internet import defer

from esb.adapters.base import Delivered, DeliveryError, Outbound
from esb.adapters.connections import HttpAnswer
from esb.adapters.http import (
    CLIENT_KEYS,
    RETRY_STATUSES,
    HttpClient,
    read_fault,
)
from esb.adapters.tls import check_keys
from esb.message import NS_SOAP11, NS_SOAP12

STUF_KEYS = (*CLIENT_KEYS, "soap_action")
ENVELOPES = frozenset({f"{{{NS_SOAP11}}}Envelope", f"{{{NS_SOAP12}}}Envelope"})

_ENCODING = re.compile(
    rb"""^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""",
    re.ASCII,
)


def charset_of(payload: bytes) -> str:
    """The encoding the XML declaration names; UTF-8 without one.

    The message goes out in the bytes the sender used (some send ISO-8859-1),
    so the Content-Type must say the same: for text/xml the charset parameter
    outranks the document's own declaration (RFC 7303 section 3.2).
    """
    found = _ENCODING.match(payload[:200])
    return found.group(1).decode("ascii").lower() if found else "utf-8"


def root_tag(body: bytes) -> str | None:
    """The Clark name of the document element, reading only the start."""
    parser = etree.XMLPullParser(
        events=("start",), resolve_entities=False, no_network=True, load_dtd=False
    )
    try:
        parser.feed(body[: 64 * 1024])
        for _, element in parser.read_events():
            if isinstance(element, etree._Element):
                return str(element.tag)
    except etree.XMLSyntaxError:
        return None
    return None


def judge(url: str, answer: HttpAnswer) -> Delivered:
    """What a SOAP service's answer means; raises DeliveryError for a failure."""
    status = answer.status
    fault = read_fault(answer.body)
    if fault is not None:
        retryable = fault.retryable
        if fault.side is None:
            retryable = status >= 500 or status in RETRY_STATUSES
        # SOAP 1.1 section 6.2: a fault goes with status 500, and that is how
        # the dispatcher knows to give the sender this fault as it is, even
        # from a service that sends its faults with 200.
        raise DeliveryError(
            f"{url} answered HTTP {status} with {fault}",
            retryable=retryable,
            answer=answer.body,
            status=500,
        )
    if 200 <= status < 300:
        if answer.body.strip() and root_tag(answer.body) not in ENVELOPES:
            raise DeliveryError(
                f"{url} answered HTTP {status} with something that is not a "
                f"SOAP envelope ({answer.content_type or 'no content type'})",
                retryable=True,
                answer=answer.body,
                status=status,
            )
        return Delivered(
            answer=answer.body or None,
            content_type=answer.content_type or "text/xml; charset=utf-8",
            status=status,
        )
    raise DeliveryError(
        f"{url} answered HTTP {status}",
        retryable=status >= 500 or status in RETRY_STATUSES,
        answer=answer.body,
        status=status,
    )


class StufAdapter:
    """Passes the original SOAP envelope to a StUF service."""

    # Its HttpClient gives up after the destination's time-out.
    keeps_timeout = True

    def __init__(
        self, name: str, client: HttpClient, *, soap_action: str | None = None
    ) -> None:
        self.name = name
        self.client = client
        self.soap_action = soap_action

    @property
    def url(self) -> str:
        return self.client.url

    @classmethod
    def from_settings(
        cls, name: str, settings: Mapping[str, Any], timeout: float
    ) -> StufAdapter:
        check_keys(name, "stuf", settings, STUF_KEYS)
        soap_action = settings.get("soap_action")
        return cls(
            name,
            HttpClient.from_settings(name, settings, timeout),
            soap_action=str(soap_action) if soap_action else None,
        )

    def deliver(self, outbound: Outbound) -> defer.Deferred[Delivered]:
        # SOAP 1.1 section 6.1.1: the SOAPAction header is required and
        # quoted; "" when neither the sender nor the routes file gave one.
        action = self.soap_action or outbound.soap_action or ""
        headers = {
            **outbound.headers,
            "Content-Type": f"text/xml; charset={charset_of(outbound.payload)}",
            "SOAPAction": f'"{action}"',
            "X-EMO-Message-Id": outbound.message_id,
        }
        sent = self.client.post(outbound.payload, headers)
        return sent.addCallback(lambda answer: judge(self.url, answer))

    def close(self) -> defer.Deferred[None]:
        return self.client.close()
