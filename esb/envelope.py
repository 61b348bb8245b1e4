"""Taking a SOAP 1.1 request apart safely, and putting answers in an envelope.

Parsing is hardened because the broker faces every application in the
municipality: no DTDs (so no external entities and no entity bombs), no
network access, a depth limit, and a size limit enforced by the transport
before the bytes reach this module.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from lxml import etree

from esb.errors import EnvelopeError
from esb.message import NS_SOAP11, NS_SOAP12

# libxml2 refuses documents deeper than 256 levels unless XML_PARSE_HUGE is
# set; EMO's own limit sits below that so the answer is EMO's, not libxml2's.
DEFAULT_MAX_DEPTH = 100

_XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*encoding\s*=", re.ASCII)


class _NothingOutside(etree.Resolver):
    """Resolves every external reference to nothing.

    ``no_network`` stops http only: without this, libxml2 still opens a local
    file that a DOCTYPE names before EMO can refuse the DOCTYPE, which lets a
    sender probe the server's files or block the reactor on a FIFO.
    """

    # lxml-stubs 0.5 leaves out the context argument lxml passes.
    def resolve(  # type: ignore[override]
        self, system_url: str, public_id: str, context: object
    ) -> object:
        return self.resolve_string("", context, base_url=None)


def _parser(encoding: str | None = None, huge: bool = False) -> etree.XMLParser:
    parser = etree.XMLParser(
        encoding=encoding,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=huge,
        collect_ids=False,
        remove_comments=True,
        remove_pis=True,
    )
    parser.resolvers.add(_NothingOutside())
    return parser


class _Parsers(threading.local):
    """This thread's parsers.

    lxml guards a parser shared between threads with a lock that is held for
    the whole parse, including the moments the parsing thread waits for the
    GIL; under load the reactor thread and the register threads then queue
    behind each other. A parser per thread (libxml2's own rule) avoids that.
    """

    def __init__(self) -> None:
        self.plain = _parser()
        # ZDS documents travel base64-encoded in one text node, and libxml2
        # refuses a text node over 10 MB unless XML_PARSE_HUGE is set. That
        # flag also lifts libxml2's other limits (names, attributes, entity
        # amplification), so only a document that failed on the text-node
        # limit alone is parsed again with it; its size is bounded by the
        # transport's limit and its depth by EMO's check.
        self.huge = _parser(huge=True)


_parsers = _Parsers()
_TEXT_TOO_LONG = "Text node too long"


@dataclass(frozen=True, slots=True)
class SoapRequest:
    """The parts of a SOAP request the broker uses."""

    envelope: etree._Element
    body: etree._Element


def parse_xml(
    raw: bytes, *, charset: str | None = None, max_depth: int = DEFAULT_MAX_DEPTH
) -> etree._Element:
    """Parse bytes into an element tree, refusing anything dangerous.

    ``charset`` is the HTTP charset parameter; it applies only when the XML
    declaration names no encoding (RFC 7303 section 3.2 lets the transport's
    charset win, but real clients declare one thing and send another far more
    often than they label the transport wrongly, so the document's own
    declaration is trusted first).
    """
    if not raw.strip():
        raise EnvelopeError("StUF055", "Leeg bericht: de request bevat geen XML")
    parsers = _parsers
    default = parser = parsers.plain
    if charset and charset.lower() not in ("utf-8", "utf8"):
        if not _XML_DECLARATION.match(raw):
            try:
                parser = _parser(charset)
            except LookupError as exc:
                raise EnvelopeError(
                    "StUF055",
                    f"Onbekende tekenset '{charset}' in Content-Type",
                ) from exc
    try:
        try:
            root = etree.fromstring(raw, parser)
        except etree.XMLSyntaxError as exc:
            if parser is not default or _TEXT_TOO_LONG not in (exc.msg or ""):
                raise
            root = etree.fromstring(raw, parsers.huge)
    except etree.XMLSyntaxError as exc:
        raise EnvelopeError(
            "StUF055",
            "Bericht is geen welgevormde XML",
            details=_syntax_details(exc),
        ) from exc
    except (LookupError, ValueError) as exc:
        raise EnvelopeError(
            "StUF055", "Bericht is niet te lezen als XML", details=str(exc)
        ) from exc

    docinfo = root.getroottree().docinfo
    # lxml-stubs 0.5 does not know DocInfo.doctype.
    doctype: str = docinfo.doctype  # type: ignore[union-attr]
    if doctype or docinfo.internalDTD is not None:
        # SOAP 1.1 section 3: a SOAP message must not contain a DTD. Refusing
        # it outright also closes the door on XXE and entity expansion.
        raise EnvelopeError(
            "StUF055",
            "Een DOCTYPE is in een SOAP-bericht niet toegestaan",
            details="SOAP 1.1 (sectie 3) staat geen DTD toe in een SOAP-bericht; "
            "verwijder de DOCTYPE",
        )
    if _start_tags_at_most(raw, docinfo.encoding) <= max_depth:
        return root  # fewer elements than the limit: none can be that deep
    depth = _depth(root, max_depth)
    if depth > max_depth:
        raise EnvelopeError(
            "StUF055",
            f"Bericht is dieper genest dan de grens van {max_depth} niveaus",
        )
    return root


def _syntax_details(exc: etree.XMLSyntaxError) -> str:
    line, column = exc.position if exc.position else (None, None)
    message = exc.msg or str(exc)
    return f"regel {line}, kolom {column}: {message}"


# Encodings in which "<" and "</" are those bytes and nothing else is.
_ASCII_BASED = frozenset(
    {"UTF-8", "US-ASCII", "ASCII", "WINDOWS-1252", "CP1252"}
    | {f"ISO-8859-{n}" for n in range(1, 17)}
)


def _start_tags_at_most(raw: bytes, encoding: str | None) -> int:
    """An upper bound of the elements in ``raw``: its "<" minus its "</".

    Two passes of memchr-speed counting, where the exact check is an XPath
    over the tree; comments, declarations and CDATA only make the bound
    looser. For an encoding where those bytes may mean something else, no
    bound (the exact check runs).
    """
    if (encoding or "UTF-8").upper() not in _ASCII_BASED:
        return 1 << 62
    return raw.count(b"<") - raw.count(b"</")


def _depth(root: etree._Element, limit: int) -> int:
    """The nesting depth of ``root`` if it is at most ``limit``, else ``limit + 1``.

    One compiled XPath per limit, evaluated by libxml2: asking whether any
    element sits ``limit + 1`` levels deep walks the tree in C, where a
    Python walk would make a proxy object per element.
    """
    return limit + 1 if _too_deep(limit)(root) else limit


_DEEPER: dict[int, etree.XPath] = {}


def _too_deep(limit: int) -> etree.XPath:
    check = _DEEPER.get(limit)
    if check is None:
        # "/*/*/.../*" with limit + 1 steps: some element at depth limit + 1.
        check = _DEEPER[limit] = etree.XPath("boolean(" + "/*" * (limit + 1) + ")")
    return check


def open_envelope(root: etree._Element) -> SoapRequest:
    """Check the SOAP 1.1 envelope and take out its single body element."""
    tag = root.tag if isinstance(root.tag, str) else ""
    if tag == f"{{{NS_SOAP12}}}Envelope":
        raise EnvelopeError(
            "StUF001",
            "SOAP 1.2 wordt niet ondersteund; stuur een SOAP 1.1-envelope",
            details=f"envelope-namespace {NS_SOAP12}; verwacht {NS_SOAP11}",
            soap_faultcode="VersionMismatch",
        )
    if tag != f"{{{NS_SOAP11}}}Envelope":
        raise EnvelopeError(
            "StUF055",
            "Bericht is geen SOAP 1.1-envelope",
            details=f"root-element {tag or root.tag!r}; verwacht "
            f"{{{NS_SOAP11}}}Envelope",
        )
    body = None
    for child in root:
        if child.tag == f"{{{NS_SOAP11}}}Body":
            body = child
        elif child.tag == f"{{{NS_SOAP11}}}Header":
            _check_headers(child)
    if body is None:
        raise EnvelopeError("StUF055", "SOAP-envelope zonder Body")
    elements = [child for child in body if isinstance(child.tag, str)]
    if not elements:
        raise EnvelopeError("StUF055", "SOAP Body is leeg: geen StUF-bericht")
    if len(elements) > 1:
        names = ", ".join(etree.QName(e).localname for e in elements[:5])
        raise EnvelopeError(
            "StUF055",
            "SOAP Body bevat meer dan één bericht",
            details=f"{len(elements)} elementen in Body: {names}",
        )
    return SoapRequest(envelope=root, body=elements[0])


def _check_headers(header: etree._Element) -> None:
    # SOAP 1.1 section 4.2.3: a header entry with mustUnderstand="1" that the
    # receiver does not understand must fault. EMO understands no headers.
    for entry in header:
        if not isinstance(entry.tag, str):
            continue
        if entry.get(f"{{{NS_SOAP11}}}mustUnderstand") in ("1", "true"):
            raise EnvelopeError(
                "StUF055",
                "SOAP Header met mustUnderstand wordt niet begrepen",
                details=f"header {entry.tag}",
                soap_faultcode="MustUnderstand",
            )


def normalise_soap_action(header: str | None) -> str | None:
    """The SOAPAction without quotes and blanks; None when absent or empty.

    SOAP 1.1 section 6.1.1 requires the value quoted, but many clients send it
    bare; both mean the same.
    """
    if header is None:
        return None
    value = header.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].strip()
    return value or None


def soap_envelope(body: etree._Element) -> bytes:
    """Serialise ``body`` inside a fresh SOAP 1.1 envelope."""
    envelope = etree.Element(f"{{{NS_SOAP11}}}Envelope", nsmap={"soap": NS_SOAP11})
    soap_body = etree.SubElement(envelope, f"{{{NS_SOAP11}}}Body")
    soap_body.append(body)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def soap_fault(
    faultcode: str, faultstring: str, detail: etree._Element | None
) -> bytes:
    """A SOAP 1.1 Fault (section 4.4) with a StUF foutbericht as detail."""
    fault = etree.Element(f"{{{NS_SOAP11}}}Fault", nsmap={"soap": NS_SOAP11})
    etree.SubElement(fault, "faultcode").text = f"soap:{faultcode}"
    etree.SubElement(fault, "faultstring").text = faultstring
    if detail is not None:
        etree.SubElement(fault, "detail").append(detail)
    return soap_envelope(fault)
