"""SOAP destination described by a WSDL: the message body becomes the input
of one of the WSDL's operations.

Settings in the routes file::

    type: soap
    wsdl: /etc/emo/wsdl/zaaksysteem.wsdl    # required: a file or an http(s) URL
    operation: creeerZaak_Lk01               # optional; default: by body element
    service: ZaakService                     # optional; default: the first
    port: ZaakServicePort                    # optional; default: the first SOAP 1.1
    address: https://zaaksysteem.example/zs  # optional; default: the WSDL's
    headers: {X-Gemeente: "0392"}            # optional, sent as given
    max_connections: 32
    tls: {ca: ..., cert: ..., key: ..., verify: true}   # see esb.adapters.tls
    auth: {username: emo, password: ${ZAAKSYSTEEM_PASSWORD}}

The WSDL is read once, when the adapter is built (start-up or reload), with
the destination's TLS and auth settings; a WSDL that cannot be read or that
lacks the named service, port or operation is a ConfigError then. Reading
one of the official StUF WSDLs takes one to three seconds, fetching one from
a slow server up to the destination's time-out; so :data:`factory` builds
in two steps (:class:`~esb.adapters.base.TwoStepFactory`), and a reload
reads the WSDL in a thread while the broker goes on answering messages.
Start-up reads it in the reactor thread, before the broker listens.

Each message's body element (the first child of its SOAP Body, or the whole
document for a message without envelope) is sent in a fresh envelope of the
port's SOAP version, with the operation's SOAPAction; the sender's SOAP
Header stays behind, it was meant for EMO. Without ``operation``, the
operation is the one whose input element is the body element; where several
take the same element (ZDS 1.1: ``creeerZaak_Lk01``, ``updateZaak_Lk01`` and
``actualiseerZaakstatus_Lk01`` all take a ``zakLk01``), the sender's
SOAPAction decides, then the identified operation. The answer is judged as
the ``stuf`` adapter judges it (:func:`esb.adapters.stuf.judge`).

Why zeep reads the WSDL but does not send the message: zeep's transport is
synchronous (requests). In the reactor it would stop the broker; in a thread
a backoffice that hangs holds that thread for the whole time-out, and the
delivery engine's cancel cannot stop it (a thread cannot be interrupted), so
a few hanging requests starve every other user of the thread pool. zeep's
object model would also turn each message into Python values and back,
dropping whatever the WSDL's schema does not describe. So zeep follows the
WSDL with all its imports once, EMO keeps per operation what it needs
(SOAPAction, input element, SOAP version, address), and messages go over the
same cancellable Twisted HTTP client as the ``http`` and ``stuf`` adapters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
import zeep
from lxml import etree
from twisted.internet import defer
from zeep.wsdl.bindings.soap import Soap12Binding, SoapBinding
from zeep.xsd.types import collection, unresolved

from esb.adapters.base import (
    Delivered,
    DeliveryError,
    Outbound,
    TwoStepFactory,
    setting,
)
from esb.adapters.http import CLIENT_KEYS, HttpClient
from esb.adapters.stuf import judge
from esb.adapters.tls import BasicAuth, TlsSettings, check_keys
from esb.envelope import parse_xml
from esb.errors import ConfigError, EmoError
from esb.message import NS_SOAP11, NS_SOAP12

SOAP_KEYS = (
    *(key for key in CLIENT_KEYS if key != "url"),
    "wsdl",
    "operation",
    "service",
    "port",
    "address",
)


def _patch_zeep_list_restrictions() -> None:
    """Let zeep read schemas that restrict a list type.

    FIXME: zeep 4.3.3 builds a restriction of an xsd:list with the
    restriction's own name as item type, and fails later with "'QName' object
    has no attribute 'resolve'" (python-zeep issue 803, open since 2018). The
    GML 3.1.1 schemas that every official StUF WSDL imports have such types
    (gml:CountExtentType), so without this no StUF WSDL loads. The patch only
    changes the case that would fail: the restriction keeps its base's item
    type. Drop it when zeep fixes the issue.
    """
    original = unresolved.UnresolvedCustomType.resolve
    if getattr(original, "_emo_patched", False):
        return

    def resolve(self: Any) -> Any:
        base = self.base_type.resolve()
        if isinstance(base, collection.ListType):
            restricted = type(
                self.name, (base.__class__,), {"__module__": "zeep.xsd.dynamic_types"}
            )
            return restricted(base.item_type)
        return original(self)  # type: ignore[no-untyped-call]

    resolve._emo_patched = True  # type: ignore[attr-defined]
    unresolved.UnresolvedCustomType.resolve = resolve  # type: ignore[method-assign]


_patch_zeep_list_restrictions()


@dataclass(frozen=True, slots=True)
class WsdlOperation:
    """What EMO needs of one operation of the WSDL's binding."""

    name: str
    soap_action: str
    input_element: str | None  # Clark name of the input's body element


@dataclass(frozen=True, slots=True)
class WsdlPort:
    """The chosen service and port of a WSDL: where and how to send."""

    service: str
    port: str
    address: str | None
    soap_version: str  # the envelope namespace, SOAP 1.1 or 1.2
    operations: Mapping[str, WsdlOperation]


def load_wsdl(
    destination: str,
    location: str,
    *,
    service: str | None = None,
    port: str | None = None,
    tls: TlsSettings | None = None,
    auth: BasicAuth | None = None,
    timeout: float = 30.0,
) -> WsdlPort:
    """Read the WSDL at ``location`` (file or URL) and choose a SOAP port.

    Blocks for as long as the fetch takes (up to ``timeout`` per document
    it imports); it touches nothing of the reactor's, so it may run in any
    thread. Raises ConfigError saying what is wrong: unreadable, not a
    WSDL, no such service or port, no SOAP binding.
    """
    session = requests.Session()
    if tls is not None:
        session.verify = str(tls.ca) if tls.ca else True
        if not tls.verify:
            session.verify = False
        if tls.cert is not None:
            session.cert = (str(tls.cert), str(tls.key or tls.cert))
    if auth is not None:
        session.auth = (auth.username, auth.password)
    transport = zeep.Transport(session=session, timeout=timeout)  # type: ignore[no-untyped-call]
    try:
        client = zeep.Client(location, transport=transport)  # type: ignore[no-untyped-call]
        document = client.wsdl
    except Exception as exc:
        # zeep raises anything from IOError to AttributeError on a WSDL it
        # cannot follow; all of them mean this destination cannot be used.
        raise ConfigError(
            f"destination '{destination}': cannot read the WSDL {location}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    finally:
        session.close()

    services = document.services
    if not services:
        raise ConfigError(
            f"destination '{destination}': {location} describes no service; "
            "is it a WSDL?"
        )
    if service is None:
        service = next(iter(services))
    if service not in services:
        raise ConfigError(
            f"destination '{destination}': no service '{service}' in {location}; "
            f"it has: {', '.join(services)}"
        )
    ports = {
        name: found
        for name, found in services[service].ports.items()
        if isinstance(found.binding, SoapBinding)
    }
    if port is None:
        # EMO's senders speak SOAP 1.1; a port of that version keeps the
        # destination's answers and faults readable for them.
        # FIXME: a SOAP 1.2 port is used when it is the only one, and its
        # answers go back to the sender as SOAP 1.2 envelopes, unconverted
        # (and untested against a SOAP 1.2 service).
        soap11 = [
            n for n, p in ports.items() if not isinstance(p.binding, Soap12Binding)
        ]
        port = (soap11 or list(ports) or [None])[0]
    if port not in ports:
        raise ConfigError(
            f"destination '{destination}': no SOAP port '{port}' in service "
            f"'{service}' of {location}; it has: {', '.join(ports) or 'none'}"
        )
    chosen = ports[port]
    binding = chosen.binding
    operations = {}
    for name, operation in binding.all().items():
        body = operation.input.body if operation.input is not None else None
        qname = getattr(body, "qname", None)
        operations[name] = WsdlOperation(
            name, operation.soapaction or "", qname.text if qname is not None else None
        )
    return WsdlPort(
        service,
        port,
        (chosen.binding_options or {}).get("address"),
        NS_SOAP12 if isinstance(binding, Soap12Binding) else NS_SOAP11,
        operations,
    )


class SoapAdapter:
    """Delivers a message's body as the input of a WSDL operation."""

    def __init__(
        self,
        name: str,
        client: HttpClient,
        wsdl: WsdlPort,
        *,
        operation: str | None = None,
    ) -> None:
        self.name = name
        self.client = client
        self.wsdl = wsdl
        self.fixed: WsdlOperation | None = None
        if operation is not None:
            if operation not in wsdl.operations:
                raise ConfigError(
                    f"destination '{name}': no operation '{operation}' in port "
                    f"'{wsdl.port}'; it has: {', '.join(wsdl.operations)}"
                )
            self.fixed = wsdl.operations[operation]
        self.by_element: dict[str, list[WsdlOperation]] = {}
        for candidate in wsdl.operations.values():
            if candidate.input_element is not None:
                self.by_element.setdefault(candidate.input_element, []).append(
                    candidate
                )

    @property
    def url(self) -> str:
        return self.client.url

    @classmethod
    def from_settings(
        cls, name: str, settings: Mapping[str, Any], timeout: float
    ) -> SoapAdapter:
        """Both steps of :meth:`prepare` at once, in the reactor thread."""
        return cls.prepare(name, settings, timeout)()

    @classmethod
    def prepare(
        cls, name: str, settings: Mapping[str, Any], timeout: float
    ) -> Callable[[], SoapAdapter]:
        """Check the settings and read the WSDL, in any thread; returns the
        step that makes the adapter and its HTTP client, for the reactor
        thread. Raises ConfigError."""
        check_keys(name, "soap", settings, SOAP_KEYS)
        tls = settings.get("tls")
        auth = settings.get("auth")
        tls_settings = TlsSettings.from_settings(name, tls) if tls else None
        basic_auth = BasicAuth.from_settings(name, auth) if auth else None
        wsdl = load_wsdl(
            name,
            str(setting(settings, "wsdl", name)),
            service=_optional(settings, "service"),
            port=_optional(settings, "port"),
            tls=tls_settings,
            auth=basic_auth,
            timeout=timeout,
        )
        address = _optional(settings, "address") or wsdl.address
        if not address:
            raise ConfigError(
                f"destination '{name}': the WSDL gives no address for port "
                f"'{wsdl.port}'; set 'address'"
            )
        headers = settings.get("headers") or {}
        if not isinstance(headers, Mapping):
            raise ConfigError(
                f"destination '{name}': 'headers' must map names to values"
            )

        max_connections = int(settings.get("max_connections", 32))
        operation = _optional(settings, "operation")

        def make() -> SoapAdapter:
            client = HttpClient(
                name,
                address,
                timeout=timeout,
                headers=headers,
                tls=tls_settings,
                auth=basic_auth,
                max_connections=max_connections,
            )
            return cls(name, client, wsdl, operation=operation)

        return make

    def deliver(self, outbound: Outbound) -> defer.Deferred[Delivered]:
        try:
            body = _body_element(outbound.payload)
            operation = self.operation_for(outbound, body.tag)
        except DeliveryError as exc:
            return defer.fail(exc)

        soap = self.wsdl.soap_version
        envelope = etree.Element(f"{{{soap}}}Envelope", nsmap={"soapenv": soap})
        etree.SubElement(envelope, f"{{{soap}}}Body").append(body)
        payload = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
        headers = {**outbound.headers, "X-EMO-Message-Id": outbound.message_id}
        if soap == NS_SOAP12:
            # SOAP 1.2 part 2 section 7.1.4 and RFC 3902: the action is a
            # parameter of the media type; there is no SOAPAction header.
            headers["Content-Type"] = (
                f'application/soap+xml; charset=utf-8; action="{operation.soap_action}"'
            )
        else:
            headers["Content-Type"] = "text/xml; charset=utf-8"
            headers["SOAPAction"] = f'"{operation.soap_action}"'
        sent = self.client.post(payload, headers)
        return sent.addCallback(lambda answer: judge(self.url, answer))

    def operation_for(self, outbound: Outbound, element: str) -> WsdlOperation:
        """The operation that takes this body element; DeliveryError if none."""
        if self.fixed is not None:
            return self.fixed
        candidates = self.by_element.get(element, [])
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise DeliveryError(
                f"no operation of port '{self.wsdl.port}' takes a {element}",
                retryable=False,
            )
        action = outbound.soap_action
        if action:
            for candidate in candidates:
                if action in (candidate.soap_action, candidate.name):
                    return candidate
            for candidate in candidates:
                if action.rsplit("/", 1)[-1] == candidate.name:
                    return candidate
        identification = outbound.identification
        if identification is not None:
            # creeerZaak_Lk01 is the operation creeerZaak of a Lk01.
            for candidate in candidates:
                if candidate.name.split("_")[0] == identification.operation:
                    return candidate
        raise DeliveryError(
            f"operations {', '.join(c.name for c in candidates)} all take a "
            f"{element}, and the SOAPAction {action or '(none)'} names none of "
            "them; set 'operation' for this destination",
            retryable=False,
        )

    def close(self) -> defer.Deferred[None]:
        return self.client.close()


factory = TwoStepFactory(SoapAdapter.prepare)
"""The ``soap`` destination type (:data:`esb.adapters.base.BUILTIN`)."""


def _optional(settings: Mapping[str, Any], key: str) -> str | None:
    value = settings.get(key)
    return str(value) if value not in (None, "") else None


def _body_element(payload: bytes) -> etree._Element:
    """The message inside the payload: the SOAP Body's first element, or the
    document element of a message that came without envelope."""
    try:
        root = parse_xml(payload)
    except EmoError as exc:
        raise DeliveryError(
            f"the message cannot be read: {exc}", retryable=False
        ) from exc
    if root.tag not in (f"{{{NS_SOAP11}}}Envelope", f"{{{NS_SOAP12}}}Envelope"):
        return root
    soap = etree.QName(root).namespace
    body = root.find(f"{{{soap}}}Body")
    child = None if body is None else next(iter(body.iterchildren("{*}*")), None)
    if child is None:
        raise DeliveryError("the message has an empty SOAP Body", retryable=False)
    return child
