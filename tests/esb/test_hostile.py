"""End to end: hostile and broken requests against a running broker.

Each entry of the corpus is something a careless or malicious client sends:
broken XML, entity tricks (XXE, billion laughs), depth and size bombs, wrong
content types, envelopes and bodies that are not what SOAP 1.1 and StUF
03.01 prescribe, stuurgegevens that lie. Each gets a precise StUF fault (its
code asserted) or HTTP error (its status asserted), never a traceback; a few
are tricks that change nothing (a comment in the berichtcode, a CDATA
section) and the message goes through as usual. After the whole corpus the
broker still serves and its memory stayed bounded.

Most requests are built from a real message (error-handling's valid
genereerZaakIdentificatie_Di02, GISvg's creeerZaak zakLk01) by changing
one thing.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from lxml import etree

from esb.schemaset import SchemaRegistry
from tests.conftest import EXAMPLES
from tests.esb.conftest import (
    NS_SOAP11,
    SMALL_LIMIT,
    ZKN_ACTION,
    Response,
    RssSampler,
    RunningBroker,
    assert_dispatched,
    assert_fault,
    assert_no_leak,
    read_fault,
    request_stuurgegevens,
)

DI02_TEXT = (
    EXAMPLES / "error-handling" / "01_Valid_SoapMessage.request.xml"
).read_text()
LK01_TEXT = (EXAMPLES / "gisvg-flow" / "creeerZaak_Lk01.request.xml").read_text()
DI02_ACTION = f'"{ZKN_ACTION}genereerZaakIdentificatie_Di02"'
LK01_ACTION = f'"{ZKN_ACTION}creeerZaak_Lk01"'
MIB = 1024 * 1024

# How much a broker's memory may grow while it refuses a 150 MB request or
# takes the whole corpus: far less than the bodies it was sent.
RSS_BOUND_MIB = 50


def di02(old: str, new: str, count: int = 1) -> bytes:
    """The valid Di02 with one thing changed."""
    assert old in DI02_TEXT, old
    return DI02_TEXT.replace(old, new, count).encode()


def lk01(old: str, new: str) -> bytes:
    """GISvg's valid creeerZaak with one thing changed."""
    assert old in LK01_TEXT, old
    return LK01_TEXT.replace(old, new, 1).encode()


def with_doctype(doctype: str, *, reference: str = "") -> bytes:
    """The Di02 behind a DOCTYPE, with ``reference`` as the zender's name."""
    text = DI02_TEXT.replace("<StUF:applicatie>GISVG", f"<StUF:applicatie>{reference}")
    return (doctype + "\n" + text).encode()


def soap(body: str, header: str = "") -> bytes:
    return (
        f'<s:Envelope xmlns:s="{NS_SOAP11}">{header}<s:Body>{body}</s:Body>'
        "</s:Envelope>"
    ).encode()


DI02_BODY = DI02_TEXT[DI02_TEXT.index("<genereerZaak") : DI02_TEXT.index("</s:Body>")]


def nested(depth: int) -> bytes:
    """The Di02 with ``depth`` levels of nesting inside the functie."""
    inner = "<a>" * depth + "x" + "</a>" * depth
    return di02("genereerZaakidentificatie</StUF:functie>", inner + "</StUF:functie>")


@dataclass(frozen=True)
class Expect:
    """What the broker must answer: a fault with ``code`` (and HTTP
    ``status``), a plain HTTP error (``code`` None), or ``dispatched``."""

    code: str | None = None
    status: int = 500
    faultcode: str | None = None
    says: str = ""  # in the omschrijving or the details
    dispatched: bool = False


DISPATCHED = Expect(dispatched=True)


def fault(
    code: str, says: str = "", *, status: int = 500, faultcode: str | None = None
) -> Expect:
    return Expect(code, status=status, faultcode=faultcode, says=says)


@dataclass(frozen=True)
class Case:
    """One hostile request and what it must get."""

    body: bytes
    expect: Expect
    soap_action: str | None = DI02_ACTION
    content_type: str | None = "text/xml; charset=utf-8"
    path: str = "/stuf/zds"
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)


NOT_WELL_FORMED = "geen welgevormde XML"
DOCTYPE = "DOCTYPE is in een SOAP-bericht niet toegestaan"

CORPUS: dict[str, Case] = {
    # --- Not well-formed ---------------------------------------------------
    "truncated": Case(
        DI02_TEXT[: len(DI02_TEXT) // 2].encode(), fault("StUF055", NOT_WELL_FORMED)
    ),
    "mismatched-end-tag": Case(
        di02("</StUF:berichtcode>", "</StUF:berichtkode>"),
        fault("StUF055", NOT_WELL_FORMED),
    ),
    "unclosed-attribute": Case(
        di02(
            'xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"', 'xmlns:s="http://x'
        ),
        fault("StUF055", NOT_WELL_FORMED),
    ),
    "two-root-elements": Case(
        (DI02_TEXT + DI02_TEXT).encode(), fault("StUF055", NOT_WELL_FORMED)
    ),
    "text-before-root": Case(
        b"hallo" + DI02_TEXT.encode(), fault("StUF055", NOT_WELL_FORMED)
    ),
    "declaration-not-at-start": Case(
        b'<!-- x --><?xml version="1.0"?>' + DI02_TEXT.encode(),
        fault("StUF055", NOT_WELL_FORMED),
    ),
    "undeclared-prefix": Case(
        di02("<StUF:functie>", "<onbekend:functie>").replace(
            b"</StUF:functie>", b"</onbekend:functie>"
        ),
        fault("StUF055", NOT_WELL_FORMED),
    ),
    "nul-character-reference": Case(
        di02("genereerZaakidentificatie", "genereer&#0;"),
        fault("StUF055", NOT_WELL_FORMED),
    ),
    "raw-nul-byte": Case(
        di02("genereerZaakidentificatie", "genereer\x00"),
        fault("StUF055", NOT_WELL_FORMED),
    ),
    "undefined-entity": Case(
        di02("genereerZaakidentificatie", "&onbekend;"),
        fault("StUF055", NOT_WELL_FORMED),
    ),
    "unterminated-cdata": Case(
        di02("genereerZaakidentificatie", "<![CDATA[genereer"),
        fault("StUF055", NOT_WELL_FORMED),
    ),
    "invalid-utf-8": Case(
        DI02_TEXT.encode().replace(b"GISVG", b"GIS\xff\xfeVG", 1),
        fault("StUF055", "regel 8"),
    ),
    "overlong-utf-8": Case(
        DI02_TEXT.encode().replace(b"GISVG", b"GIS\xc0\xafVG", 1),
        fault("StUF055", "regel 8"),
    ),
    "binary-garbage": Case(bytes(range(256)) * 64, fault("StUF055", NOT_WELL_FORMED)),
    "unknown-declared-encoding": Case(
        b'<?xml version="1.0" encoding="klingon"?>' + DI02_TEXT.encode(),
        fault("StUF055", "klingon"),
    ),
    "unknown-http-charset": Case(
        DI02_TEXT.encode(),
        fault("StUF055", "Onbekende tekenset"),
        content_type="text/xml; charset=klingon",
    ),
    # Without a BOM, "<?" in UTF-16 tells libxml2 the encoding (XML 1.0
    # appendix F); the contradicting label is overruled and the text intact.
    "utf-16-without-bom-labelled-utf-8": Case(
        ('<?xml version="1.0" encoding="UTF-8"?>' + DI02_TEXT).encode("utf-16-le"),
        DISPATCHED,
    ),
    # With neither BOM nor declaration, XML 1.0 section 4.3.3 says UTF-8.
    "utf-16-without-bom-or-declaration": Case(
        DI02_TEXT.encode("utf-16-le"), fault("StUF055", NOT_WELL_FORMED)
    ),
    "utf-16-declared-but-utf-8-sent": Case(
        b'<?xml version="1.0" encoding="UTF-16"?>' + DI02_TEXT.encode(),
        fault("StUF055", NOT_WELL_FORMED),
    ),
    "name-of-a-megabyte": Case(
        di02("<StUF:functie>", "<StUF:" + "f" * MIB + ">").replace(
            b"</StUF:functie>", b"</StUF:" + b"f" * MIB + b">"
        ),
        fault("StUF055", NOT_WELL_FORMED),
    ),
    # --- Entities and DTDs --------------------------------------------------
    "xxe-file": Case(
        with_doctype(
            '<!DOCTYPE s:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
            reference="&xxe;",
        ),
        fault("StUF055", DOCTYPE),
    ),
    "xxe-http": Case(
        with_doctype(
            '<!DOCTYPE s:Envelope [<!ENTITY xxe SYSTEM "http://127.0.0.1:1/geheim">]>',
            reference="&xxe;",
        ),
        fault("StUF055", DOCTYPE),
    ),
    "xxe-parameter-entity": Case(
        with_doctype(
            "<!DOCTYPE s:Envelope ["
            '<!ENTITY % p SYSTEM "http://127.0.0.1:1/p.dtd"> %p;]>'
        ),
        fault("StUF055"),
    ),
    "external-dtd": Case(
        with_doctype('<!DOCTYPE s:Envelope SYSTEM "file:///etc/passwd">'),
        fault("StUF055"),
    ),
    # libxml2 refuses these itself ("maximum entity amplification factor
    # exceeded") before EMO gets to refuse the DOCTYPE; either way StUF055.
    "billion-laughs": Case(
        with_doctype(
            "<!DOCTYPE s:Envelope ["
            '<!ENTITY l0 "ha">'
            + "".join(f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10))
            + "]>",
            reference="&l9;",
        ),
        fault("StUF055"),
    ),
    "quadratic-blowup": Case(
        with_doctype(
            f'<!DOCTYPE s:Envelope [<!ENTITY a "{"a" * 50_000}">]>',
            reference="&a;" * 50_000,
        ),
        fault("StUF055"),
    ),
    "harmless-looking-dtd": Case(
        with_doctype("<!DOCTYPE s:Envelope [<!ATTLIST s:Envelope x CDATA 'y'>]>"),
        fault("StUF055", DOCTYPE),
    ),
    "xinclude-is-not-processed": Case(
        di02(
            "<StUF:applicatie>GISVG</StUF:applicatie>",
            "<StUF:applicatie>GISVG</StUF:applicatie><xi:include "
            'xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" '
            'parse="text"/>',
        ),
        fault("StUF055", "include"),
    ),
    # --- Size and depth -------------------------------------------------------
    "nested-150-deep": Case(nested(150), fault("StUF055", "dieper genest")),
    "nested-10000-deep": Case(nested(10_000), fault("StUF055", NOT_WELL_FORMED)),
    "attribute-of-5-mib": Case(
        di02("<stuurgegevens>", f'<stuurgegevens x="{"a" * (5 * MIB)}">'),
        fault("StUF055", "attribute 'x' is not allowed"),
    ),
    "attribute-of-20-mib": Case(
        di02("<stuurgegevens>", f'<stuurgegevens x="{"a" * (20 * MIB)}">'),
        fault("StUF055", NOT_WELL_FORMED),
    ),
    "text-node-of-1-mib": Case(
        di02("genereerZaakidentificatie", "g" * MIB),
        fault("StUF055", "maximum length of '30'"),
    ),
    "zender-of-1-mib-in-a-kennisgeving": Case(
        lk01(
            "<StUF:applicatie>GISVG</StUF:applicatie>",
            f"<StUF:applicatie>{'G' * MIB}</StUF:applicatie>",
        ),
        fault("StUF055", "applicatie"),
        soap_action=LK01_ACTION,
    ),
    # StUF:Applicatie is 3 to 50 characters; a Fo03 that echoes the zender
    # as its ontvanger must still fit stuf0301.xsd.
    "zender-applicatie-of-2-characters-in-a-kennisgeving": Case(
        lk01(
            "<StUF:applicatie>GISVG</StUF:applicatie>",
            "<StUF:applicatie>GI</StUF:applicatie>",
        ),
        fault("StUF055", "minimum length"),
        soap_action=LK01_ACTION,
    ),
    "ten-thousand-siblings": Case(
        di02(
            "genereerZaakidentificatie</StUF:functie>",
            "x</StUF:functie>" + "<StUF:functie>x</StUF:functie>" * 10_000,
        ),
        fault("StUF055", "functie[2]"),
    ),
    # --- Content type and method ---------------------------------------------
    "json": Case(
        b'{"berichtcode": "Di02"}',
        fault("StUF055", "application/json", status=415),
        content_type="application/json",
    ),
    "multipart-form-data": Case(
        b"--grens\r\nContent-Disposition: form-data; name=x\r\n\r\n"
        + DI02_TEXT.encode()
        + b"\r\n--grens--\r\n",
        fault("StUF055", "multipart/form-data", status=415),
        content_type="multipart/form-data; boundary=grens",
    ),
    "text-plain": Case(
        DI02_TEXT.encode(),
        fault("StUF055", "text/plain", status=415),
        content_type="text/plain",
    ),
    "no-content-type": Case(DI02_TEXT.encode(), DISPATCHED, content_type=None),
    # RFC 9110 section 15.5.6: a method the server knows but the resource
    # does not allow is 405 with an Allow header (501 is for unknown methods).
    "put": Case(DI02_TEXT.encode(), Expect(status=405), method="PUT"),
    "delete": Case(b"", Expect(status=405), method="DELETE"),
    "options": Case(b"", Expect(status=405), method="OPTIONS"),
    "dot-dot-to-admin": Case(
        DI02_TEXT.encode(),
        fault("StUF004", status=404),
        path="/stuf/zds/../../admin/reload",
    ),
    "admin-without-token": Case(b"", Expect(status=403), path="/admin/reload"),
    "admin-with-a-wrong-token": Case(
        b"",
        Expect(status=403),
        path="/admin/reload",
        headers={"X-EMO-Admin-Token": "raden"},
    ),
    # --- The envelope -------------------------------------------------------
    "empty-body": Case(b"", fault("StUF055", "Leeg bericht")),
    "whitespace-only": Case(b" \r\n\t  \n", fault("StUF055", "Leeg bericht")),
    "soap-1.2": Case(
        DI02_TEXT.replace(
            NS_SOAP11, "http://www.w3.org/2003/05/soap-envelope"
        ).encode(),
        fault("StUF001", "SOAP 1.2", faultcode="VersionMismatch"),
        content_type="application/soap+xml; charset=utf-8",
        soap_action=None,
    ),
    "no-envelope": Case(DI02_BODY.encode(), fault("StUF055", "geen SOAP 1.1-envelope")),
    "envelope-without-namespace": Case(
        f"<Envelope><Body>{DI02_BODY}</Body></Envelope>".encode(),
        fault("StUF055", "geen SOAP 1.1-envelope"),
    ),
    "no-body": Case(
        f'<s:Envelope xmlns:s="{NS_SOAP11}"><s:Header/></s:Envelope>'.encode(),
        fault("StUF055", "zonder Body"),
    ),
    "empty-soap-body": Case(soap(""), fault("StUF055", "Body is leeg")),
    "text-only-soap-body": Case(
        soap("Di02 alstublieft"), fault("StUF055", "Body is leeg")
    ),
    "two-body-elements": Case(
        soap(DI02_BODY + DI02_BODY), fault("StUF055", "meer dan één bericht")
    ),
    "must-understand-header": Case(
        soap(
            DI02_BODY,
            header='<s:Header><w:Security xmlns:w="urn:wsse" s:mustUnderstand="1"/>'
            "</s:Header>",
        ),
        fault("StUF055", "mustUnderstand", faultcode="MustUnderstand"),
    ),
    "must-understand-0-header": Case(
        soap(
            DI02_BODY,
            header='<s:Header><w:Trace xmlns:w="urn:trace" s:mustUnderstand="0"/>'
            "</s:Header>",
        ),
        DISPATCHED,
    ),
    # --- The body element -------------------------------------------------------
    "unknown-namespace": Case(
        soap('<bericht xmlns="urn:kwaadwillend"><stuurgegevens/></bericht>'),
        fault("StUF004", "urn:kwaadwillend"),
    ),
    "no-namespace": Case(soap("<zakLk01><stuurgegevens/></zakLk01>"), fault("StUF004")),
    "stuf-bg-at-zds": Case(
        soap(DI02_BODY.replace("sector/zkn/0310", "sector/bg/0310", 1)),
        fault("StUF004"),
    ),
    "zkn-at-bg": Case(DI02_TEXT.encode(), fault("StUF004"), path="/stuf/bg"),
    "not-a-stuf-message": Case(
        di02("genereerZaakIdentificatie_Di02", "hallo", count=2),
        fault("StUF040", "Onbekend bericht hallo"),
        soap_action=None,
    ),
    "generic-name-without-berichtcode": Case(
        lk01("<StUF:berichtcode>Lk01</StUF:berichtcode>", "").replace(
            b"zakLk01", b"zakBericht"
        ),
        fault("StUF040", "Onbekend bericht zakBericht"),
        soap_action=None,
    ),
    "missing-stuurgegevens": Case(
        soap(
            '<zakLk01 xmlns="http://www.egem.nl/StUF/sector/zkn/0310"><parameters/>'
            "</zakLk01>"
        ),
        fault("StUF055", "Stuurgegevens ontbreken"),
        soap_action=None,
    ),
    "missing-berichtcode-in-a-generic-message": Case(
        lk01("<StUF:berichtcode>Lk01</StUF:berichtcode>", ""),
        fault("StUF055", "berichtcode"),
        soap_action=LK01_ACTION,
    ),
    "empty-berichtcode": Case(
        lk01("<StUF:berichtcode>Lk01</StUF:berichtcode>", "<StUF:berichtcode/>"),
        fault("StUF055", "berichtcode"),
        soap_action=LK01_ACTION,
    ),
    "unknown-berichtcode": Case(
        di02("<StUF:berichtcode>Di02", "<StUF:berichtcode>Xx99"),
        fault("StUF022", "Xx99"),
    ),
    "answer-berichtcode-as-request": Case(
        lk01("<StUF:berichtcode>Lk01", "<StUF:berichtcode>La01"),
        fault("StUF025", "La01"),
        soap_action=LK01_ACTION,
    ),
    "answer-message-as-request": Case(
        lk01("<StUF:berichtcode>Lk01", "<StUF:berichtcode>La01").replace(
            b"zakLk01", b"zakLa01"
        ),
        fault("StUF025", "La01"),
        soap_action=None,
    ),
    "berichtcode-contradicts-name": Case(
        lk01("<StUF:berichtcode>Lk01", "<StUF:berichtcode>Lv01"),
        fault("StUF040", "past niet bij bericht zakLk01"),
        soap_action=LK01_ACTION,
    ),
    "missing-zender": Case(
        lk01(
            "<StUF:zender>\n               <StUF:organisatie>1900</StUF:organisatie>\n"
            "               <StUF:applicatie>GISVG</StUF:applicatie>\n"
            "            </StUF:zender>",
            "",
        ),
        fault("StUF013", "Zender ontbreekt"),
        soap_action=LK01_ACTION,
    ),
    "blank-zender-applicatie": Case(
        lk01(
            "<StUF:applicatie>GISVG</StUF:applicatie>",
            "<StUF:applicatie> </StUF:applicatie>",
        ),
        fault("StUF013"),
        soap_action=LK01_ACTION,
    ),
    "soap-action-contradicts-body": Case(
        DI02_TEXT.encode(),
        fault("StUF040", "SOAPAction past niet"),
        soap_action=f'"{ZKN_ACTION}creeerZaak_Lk01"',
    ),
    "soap-action-garbage": Case(
        DI02_TEXT.encode(),
        fault("StUF040", "geen bekende operatie"),
        soap_action='"%%%\'<>&"',
    ),
    "soap-action-of-10-kib": Case(
        DI02_TEXT.encode(),
        fault("StUF040", "geen bekende operatie"),
        soap_action='"urn:' + "x" * 10_240 + '"',
    ),
    # --- Tricks that change nothing -----------------------------------------
    "comment-inside-berichtcode": Case(
        di02("<StUF:berichtcode>Di02", "<StUF:berichtcode>Di<!-- x -->02"), DISPATCHED
    ),
    "comment-hiding-a-closing-envelope": Case(
        di02("<s:Body>", "<s:Body><!-- </s:Body></s:Envelope> -->"), DISPATCHED
    ),
    "processing-instruction-before-root": Case(
        b'<?xml-stylesheet type="text/xsl" href="file:///etc/passwd"?>'
        + DI02_TEXT.encode(),
        DISPATCHED,
    ),
    "processing-instruction-in-stuurgegevens": Case(
        di02("<stuurgegevens>", "<stuurgegevens><?php system('id'); ?>"), DISPATCHED
    ),
    "cdata-in-stuurgegevens": Case(
        di02("<StUF:applicatie>GISVG", "<StUF:applicatie><![CDATA[GISVG]]>"), DISPATCHED
    ),
    "cdata-with-markup-as-berichtcode": Case(
        di02("<StUF:berichtcode>Di02", "<StUF:berichtcode><![CDATA[<Di02/>]]>"),
        fault("StUF022"),
    ),
    "utf-8-byte-order-mark": Case(b"\xef\xbb\xbf" + DI02_TEXT.encode(), DISPATCHED),
    "utf-16-with-byte-order-mark": Case(
        ('<?xml version="1.0" encoding="UTF-16"?>' + DI02_TEXT).encode("utf-16"),
        DISPATCHED,
        content_type="text/xml",
    ),
}


@pytest.fixture(scope="module")
def baseline_rss(broker: RunningBroker) -> int:
    """The broker's RSS before the corpus, after one ordinary message."""
    broker.post(DI02_TEXT.encode(), DI02_ACTION)
    return broker.rss_kib()


def send(broker: RunningBroker, case: Case) -> Response:
    headers = dict(case.headers)
    if case.content_type is not None:
        headers["Content-Type"] = case.content_type
    if case.soap_action is not None:
        headers["SOAPAction"] = case.soap_action
    return broker.request(case.method, case.path, case.body, headers)


@pytest.mark.parametrize("name", list(CORPUS))
def test_hostile_request_gets_a_precise_answer(
    broker: RunningBroker, official: SchemaRegistry, baseline_rss: int, name: str
) -> None:
    """Each hostile or broken request gets the fault or HTTP error that names
    its problem (or, for harmless tricks, goes through as usual), never a
    traceback, and the broker keeps running."""
    case = CORPUS[name]
    response = send(broker, case)
    expect = case.expect
    assert_no_leak(response)
    assert b"root:x:0:0" not in response.body, "file contents leaked"

    if expect.dispatched:
        assert_dispatched(response, official=official)
    elif expect.code is None:
        assert response.status == expect.status, response
        if expect.status == 405:
            assert "POST" in response.headers.get("allow", ""), response.headers
    else:
        try:
            request = request_stuurgegevens(case.body)
        except (etree.XMLSyntaxError, ValueError):
            request = None  # not XML to us either: no stuurgegevens to answer
        found = assert_fault(
            response,
            expect.code,
            official=official,
            request=request,
            status=expect.status,
            faultcode=expect.faultcode,
            plek="client",
        )
        text = f"{found.omschrijving}\n{found.details}\n" + "\n".join(
            f"{e.path}: {e.rule}" for e in found.schema_errors
        )
        assert expect.says in text, text
    assert broker.alive(), broker.log_text()[-3000:]


def test_corpus_is_large_enough() -> None:
    """The corpus covers at least forty distinct hostile inputs."""
    assert len(CORPUS) >= 40


# The file system ----------------------------------------------------------------


def test_doctype_does_not_make_the_broker_open_local_files(
    broker: RunningBroker, official: SchemaRegistry, tmp_path: Path
) -> None:
    """A DOCTYPE naming a local file is refused without the broker opening
    that file: reading what a sender names would let it probe the server's
    files, or hang the reactor on a FIFO or a terminal.

    The file is a FIFO: opening it for reading blocks until a writer comes,
    so the test sees whether the broker opened it (and then lets it go on).
    """
    fifo = tmp_path / "extern.dtd"
    os.mkfifo(fifo)
    body = with_doctype(f'<!DOCTYPE s:Envelope SYSTEM "file://{fifo}">')
    sender = Sending(lambda: broker.post(body, DI02_ACTION))
    sender.start()
    opened = False
    deadline = time.monotonic() + 10
    while sender.is_alive() and time.monotonic() < deadline:
        try:
            writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:  # ENXIO: nobody has it open for reading
            assert exc.errno == errno.ENXIO, exc
            time.sleep(0.01)
            continue
        opened = True
        os.close(writer)  # end of file: the broker's read returns
        break
    sender.join(30)
    assert not opened, "the broker opened the file the DOCTYPE named"
    assert sender.response is not None
    assert_fault(sender.response, "StUF055", official=official, plek="client")
    assert DOCTYPE in read_fault(sender.response).omschrijving


def test_refusing_a_doctype_says_nothing_about_the_servers_files(
    broker: RunningBroker,
) -> None:
    """Whether the file a DOCTYPE names exists on the server or not, the
    sender gets the same refusal: no oracle for probing the file system."""
    answers = []
    for path in ("/etc/passwd", "/bestaat/niet.dtd"):
        body = with_doctype(f'<!DOCTYPE s:Envelope SYSTEM "file://{path}">')
        found = read_fault(broker.post(body, DI02_ACTION))
        answers.append((found.code, found.omschrijving, found.details))
    assert answers[0] == answers[1], answers


class Sending(threading.Thread):
    """POSTs in a thread, keeping the response."""

    def __init__(self, send: Callable[[], Response]) -> None:
        super().__init__(daemon=True)
        self._send = send
        self.response: Response | None = None

    def run(self) -> None:
        self.response = self._send()


# Headers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("SOAPAction", b'"urn:\xffcre\xe9erZaak"', id="soap-action"),
        pytest.param("Content-Type", b'text/xml; charset="\xe9"', id="content-type"),
        pytest.param(
            "Content-Type", b'text/xml; action="\xff"', id="content-type-action"
        ),
    ],
)
def test_header_bytes_that_are_not_utf8_get_a_fault(
    broker: RunningBroker, official: SchemaRegistry, name: str, value: bytes
) -> None:
    """HTTP header values are bytes (RFC 9110 section 5.5 allows any octet
    but controls); a SOAPAction or Content-Type that is not UTF-8 gets a
    StUF fault saying what is wrong, not Twisted's "Processing Failed"."""
    headers: dict[str, str | bytes] = {"Content-Type": "text/xml", name: value}
    response = broker.request("POST", "/stuf/zds", DI02_TEXT.encode(), headers)
    assert b"Processing Failed" not in response.body
    found = read_fault(response)
    assert found.code in ("StUF040", "StUF055"), found
    assert found.plek == "client"
    assert response.status in (400, 415, 500)
    assert_fault(response, found.code, official=official, status=response.status)


def raw_exchange(broker: RunningBroker, request: bytes) -> bytes:
    """Send bytes as they are and read until the broker closes."""
    received = b""
    with socket.create_connection((broker.host, broker.port), timeout=30) as sock:
        try:
            sock.sendall(request)
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass  # closed with our bytes unread: what was said is in received
    return received


def test_header_over_twisteds_limit_gets_an_http_error(broker: RunningBroker) -> None:
    """A 20 KiB SOAPAction (over Twisted's 16 KiB line limit) gets an HTTP
    error (431 Request Header Fields Too Large, RFC 6585, or 400), not a
    connection closed without a word."""
    body = DI02_TEXT.encode()
    request = (
        b"POST /stuf/zds HTTP/1.1\r\nHost: emo\r\nContent-Type: text/xml\r\n"
        b'SOAPAction: "' + b"x" * 20_480 + b'"\r\n'
        b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    ) + body
    answer = raw_exchange(broker, request)
    assert answer.startswith((b"HTTP/1.1 431", b"HTTP/1.1 400")), answer[:200]


# Bodies over the size limit ------------------------------------------------


def filler(total: int, chunk: int = MIB) -> Iterator[bytes]:
    """``total`` bytes of an endless SOAP request, ``chunk`` at a time, without
    ever holding more than one chunk."""
    head = f'<s:Envelope xmlns:s="{NS_SOAP11}"><s:Body><x>'.encode()
    yield head
    block = b"A" * chunk
    left = total - len(head)
    while left > 0:
        piece = block if left >= chunk else block[:left]
        left -= len(piece)
        yield piece


BIG = 150 * MIB


@pytest.mark.slow
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_150_mib_body_is_refused_with_413_in_bounded_memory(
    broker: RunningBroker, official: SchemaRegistry, framing: str
) -> None:
    """A 150 MB request (over the default 100 MB limit) is answered 413 with a
    StUF055 fault, whether its length is announced or it comes chunked, and
    the broker discards the bytes as they arrive: its memory does not grow
    by anything like the body's size."""
    length = BIG if framing == "content-length" else None
    with RssSampler(broker.pid) as rss:
        response = broker.post_stream(
            filler(BIG), content_length=length, headers={"SOAPAction": DI02_ACTION}
        )
    fault = assert_fault(response, "StUF055", official=official, status=413)
    assert str(100 * MIB) in fault.omschrijving
    assert rss.growth_mib < RSS_BOUND_MIB, (
        f"RSS grew {rss.growth_mib:.0f} MiB ({rss.before} KiB -> {rss.peak} KiB)"
    )
    assert broker.get("/healthz").status == 200


def test_body_over_a_configured_limit_is_refused_with_413(
    small_broker: RunningBroker, official: SchemaRegistry
) -> None:
    """With max_body_bytes lowered in emo.yaml, a real 150 KB
    voegZaakdocumentToe is refused with 413 and a fault naming that limit."""
    raw = EXAMPLES / "regressions" / "Issue329-voegZaakdocumentToe_Lk01.request.xml"
    response = small_broker.post(
        raw.read_bytes(), f'"{ZKN_ACTION}voegZaakdocumentToe_Lk01"'
    )
    fault = assert_fault(response, "StUF055", official=official, status=413)
    assert str(SMALL_LIMIT) in fault.omschrijving, fault.omschrijving


def test_connection_stays_usable_after_a_413(
    small_broker: RunningBroker, official: SchemaRegistry
) -> None:
    """The broker reads and discards an oversized body, so the persistent
    connection it came on carries the next request normally."""
    big = EXAMPLES / "regressions" / "Issue329-voegZaakdocumentToe_Lk01.request.xml"
    connection = small_broker.connect()
    try:
        headers = {"Content-Type": "text/xml", "SOAPAction": DI02_ACTION}
        connection.request("POST", "/stuf/zds", big.read_bytes(), headers)
        first = connection.getresponse()
        first.read()
        assert first.status == 413
        assert not first.will_close, "the broker kept the connection open"
        connection.request("POST", "/stuf/zds", DI02_TEXT.encode(), headers)
        second = connection.getresponse()
        headers_seen = {k.lower(): v for k, v in second.getheaders()}
        answer = Response(second.status, headers_seen, second.read())
    finally:
        connection.close()
    assert_dispatched(answer, official=official)


def test_body_just_under_a_configured_limit_is_read(
    small_broker: RunningBroker, official: SchemaRegistry
) -> None:
    """A request under the lowered limit is read and handled as usual."""
    raw = DI02_TEXT.encode()
    assert len(raw) < SMALL_LIMIT
    assert_dispatched(small_broker.post(raw, DI02_ACTION), official=official)


def test_depth_limit_follows_the_configuration(
    small_broker: RunningBroker, official: SchemaRegistry
) -> None:
    """max_depth in emo.yaml (40 here) is the nesting the broker accepts."""
    response = small_broker.post(nested(40), DI02_ACTION)
    fault = assert_fault(response, "StUF055", official=official, plek="client")
    assert "grens van 40 niveaus" in fault.omschrijving


# Afterwards ------------------------------------------------------------------


def test_broker_still_serves_after_the_corpus(
    broker: RunningBroker, official: SchemaRegistry, baseline_rss: int
) -> None:
    """After every hostile request above, the broker answers /healthz and
    handles a valid message as usual, and its memory stayed bounded."""
    assert broker.alive()
    assert broker.get("/healthz").status == 200
    raw = LK01_TEXT.encode()
    response = broker.post(raw, LK01_ACTION)
    found = assert_dispatched(response, official=official)
    if found is not None:
        assert_fault(
            response, found.code, official=official, request=request_stuurgegevens(raw)
        )
    growth = (broker.rss_kib() - baseline_rss) / 1024
    assert growth < RSS_BOUND_MIB, f"RSS grew {growth:.0f} MiB over the corpus"


def test_no_request_above_logged_a_traceback(broker: RunningBroker) -> None:
    """Bad input is the sender's problem, said in the answer: none of the
    requests above made the broker log a traceback (an unexpected error)."""
    log = broker.log_text()
    found = log.find("Traceback")
    assert found < 0, log[max(0, found - 300) : found + 1500]
