"""End to end: real StUF requests posted to a running broker's SOAP ingress.

Every request in ``../shared/stuf/examples`` goes to ``POST /stuf/zds`` with
the SOAPAction its client sent. The session's broker has no routes file, so a
message that passes the envelope, identification and strict validation is
refused by the dispatcher with StUF040 "Geen route" (plek server); the
assertions accept any answer from the routing side, so they keep their
meaning once routes exist. Identification is read from ``/metrics``: the
broker counts each message under the operation it identified.

Of the real requests, one breaks the official schemas in strict mode:
Issue329's ``edcLk01`` leaves out the berichtcode. The others are valid; the
schema-invalid variants further down break one rule each, taken from the
kinds the field shows (order, length, enumeration, pattern).
"""

from __future__ import annotations

import json

import pytest
from lxml import etree

from esb.schemaset import SchemaRegistry
from tests.conftest import EXAMPLES
from tests.esb.conftest import (
    NS_SOAP11,
    NS_STUF,
    ZKN_ACTION,
    Example,
    Response,
    RunningBroker,
    SchemaError,
    assert_dispatched,
    assert_fault,
    counted_for,
    examples,
    read_fault,
    request_stuurgegevens,
)

ZDS = "soap:/stuf/zds"
VALID_DI02 = EXAMPLES / "error-handling" / "01_Valid_SoapMessage.request.xml"
CREEER_ZAAK = EXAMPLES / "gisvg-flow" / "creeerZaak_Lk01.request.xml"

# The real requests that break the official schemas, with every violation.
INVALID = {
    "regressions/Issue329-voegZaakdocumentToe_Lk01.request.xml": [
        # The client left out stuurgegevens/berichtcode; StUF 03.01 makes it
        # the first, required element.
        SchemaError(6, "/edcLk01/stuurgegevens/zender", "berichtcode"),
    ],
}


def operation_of(example: Example) -> str:
    """``.../creeerZaak_Lk01`` and ``.../creeerZaak_ZakLk01`` name creeerZaak."""
    return example.soap_action.rsplit("/", 1)[1].split("_")[0]


def post_counted(
    broker: RunningBroker, raw: bytes, soap_action: str | None, operation: str
) -> Response:
    """POST and check that the broker counted it under ``operation``."""
    before = broker.metrics()
    response = broker.post(raw, soap_action)
    after = broker.metrics()
    counted = counted_for(after, ZDS, operation) - counted_for(before, ZDS, operation)
    assert counted == 1, f"not identified as {operation}: {response.body[:600]!r}"
    return response


def assert_schema_errors(
    actual: list[SchemaError], expected: list[SchemaError]
) -> None:
    """Same lines and element paths; each rule names what ``expected`` says."""
    assert [(e.line, e.path) for e in actual] == [(e.line, e.path) for e in expected], (
        actual
    )
    for got, want in zip(actual, expected, strict=True):
        assert want.rule in got.rule, (got, want)
        assert got.rule.split(":")[0] == got.path.rsplit("/", 1)[1].split("[")[0]


# The real requests -------------------------------------------------------


@pytest.mark.parametrize(
    "example",
    [
        *examples("gisvg-flow"),
        *examples("haarlem"),
        *examples("regressions"),
        *[
            e
            for e in examples("error-handling")
            if e.path.name.startswith(("01", "05", "06"))
        ],
    ],
    ids=lambda example: example.id,
)
def test_real_request_is_identified_and_validated(
    broker: RunningBroker, official: SchemaRegistry, example: Example
) -> None:
    """A real request with its client's SOAPAction is identified as the
    operation the SOAPAction names; a schema-valid one reaches the routing
    side, an invalid one gets StUF055 naming every broken rule."""
    raw = example.raw
    response = post_counted(
        broker, raw, f'"{example.soap_action}"', operation_of(example)
    )
    request = request_stuurgegevens(raw)

    if example.id in INVALID:
        fault = assert_fault(
            response, "StUF055", official=official, request=request, plek="client"
        )
        assert_schema_errors(fault.schema_errors, INVALID[example.id])
        assert fault.omschrijving == "Berichtbody is niet conform schema in sectormodel"
        for error in fault.schema_errors:
            assert f"line {error.line}, {error.path}" in fault.details
        return

    refused = assert_dispatched(response, official=official)
    if refused is not None and refused.code == "StUF040":
        # The no-route fault names the operation and the zender it identified.
        assert f"Geen route voor {operation_of(example)} " in refused.omschrijving
        assert request.zender["applicatie"] in refused.details
        assert_fault(response, "StUF040", official=official, request=request)


def test_error_handling_02_posted_to_a_wrong_path_gets_404_with_a_soap_fault(
    broker: RunningBroker, official: SchemaRegistry
) -> None:
    """A POST to a path where no StUF service lives is answered 404 with a SOAP
    Fault that names the paths that do exist."""
    raw = (EXAMPLES / "error-handling" / "02_Invalid_path.request.xml").read_bytes()
    response = broker.post(
        raw, f'"{ZKN_ACTION}genereerZaakIdentificatie_Di02"', path="/stuf/zds/verkeerd"
    )
    fault = assert_fault(
        response,
        "StUF004",
        official=official,
        request=request_stuurgegevens(raw),
        plek="client",
        status=404,
    )
    assert "/stuf/zds/verkeerd" in fault.omschrijving
    assert "/stuf/zds" in fault.omschrijving and "/stuf/bg" in fault.omschrijving


def test_error_handling_03_invalid_xml_gets_stuf055_with_line_and_column(
    broker: RunningBroker, official: SchemaRegistry
) -> None:
    """A request that is not well-formed gets StUF055 "geen welgevormde XML"
    with the line and column where the parser stopped, in a Fo02 (nothing
    of the request can be trusted)."""
    raw = (EXAMPLES / "error-handling" / "03_Invalid_xml.request.xml").read_bytes()
    response = broker.post(raw, f'"{ZKN_ACTION}genereerZaakIdentificatie_Di02"')
    fault = assert_fault(response, "StUF055", official=official, plek="client")
    assert fault.berichtcode == "Fo02"
    assert "geen welgevormde XML" in fault.omschrijving
    # The stray "<<<<" is on line 19; the parser stops at its second "<".
    assert "regel 19, kolom 8" in fault.details


@pytest.mark.parametrize(
    ("soap_action", "omschrijving"),
    [
        pytest.param(
            f'"{ZKN_ACTION}geefZaakdetails_Lv01"',
            "SOAPAction past niet bij het bericht in de Body",
            id="other-operation",
        ),
        pytest.param(
            f'"{ZKN_ACTION}genereerZaakIdentificatie_Lk01"',
            "SOAPAction past niet bij het bericht in de Body",
            id="other-berichtcode",
        ),
        pytest.param(
            '"http://example.org/StUF/bestaatNiet"',
            "SOAPAction noemt geen bekende operatie",
            id="unknown",
        ),
        pytest.param(
            '"urn:iets:doeIets_Di02"',
            "SOAPAction past niet bij het bericht in de Body",
            id="unknown-operation-with-berichtcode",
        ),
    ],
)
def test_error_handling_04_wrong_soap_action_gets_stuf040(
    broker: RunningBroker, official: SchemaRegistry, soap_action: str, omschrijving: str
) -> None:
    """A SOAPAction that contradicts the body, or names no operation, is
    refused with StUF040 (plek client): routing on either would be a guess."""
    raw = (
        EXAMPLES / "error-handling" / "04_Invalid_SoapAction.request.xml"
    ).read_bytes()
    response = broker.post(raw, soap_action)
    fault = assert_fault(
        response,
        "StUF040",
        official=official,
        request=request_stuurgegevens(raw),
        plek="client",
    )
    assert fault.omschrijving == omschrijving
    assert soap_action.strip('"') in fault.details
    assert "genereerZaakIdentificatie_Di02" in fault.details


@pytest.mark.parametrize(
    "name",
    [
        "05_Invalid_SoapAction_geefZaakdetails_Lv01_ABCDE_.request.xml",
        "06_Invalid_SoapAction_geefZaakdetails_Lv01_NULL_.request.xml",
    ],
)
def test_generic_zaklv01_under_a_geefzaakdetails_action_is_geefzaakdetails(
    broker: RunningBroker, official: SchemaRegistry, name: str
) -> None:
    """ZDS 1.1 sends geefZaakdetails as a generic zakLv01; the SOAPAction
    says which operation is meant, and the message reaches the routing side
    as geefZaakdetails (what it asks for, ABCDE or nothing, is the
    zaakregister's to answer)."""
    raw = (EXAMPLES / "error-handling" / name).read_bytes()
    response = post_counted(
        broker, raw, f"{ZKN_ACTION}geefZaakdetails_Lv01", "geefZaakdetails"
    )
    assert_dispatched(response, official=official)


# SOAPAction forms -----------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "operation"),
    [
        pytest.param(f'"{ZKN_ACTION}creeerZaak_Lk01"', "creeerZaak", id="quoted"),
        pytest.param(f"{ZKN_ACTION}creeerZaak_Lk01", "creeerZaak", id="unquoted"),
        pytest.param(f'  " {ZKN_ACTION}creeerZaak_Lk01 " ', "creeerZaak", id="blanks"),
        pytest.param('""', "zakLk01", id="empty-quoted"),
        pytest.param(None, "zakLk01", id="absent"),
    ],
)
def test_soap_action_quoted_unquoted_or_absent(
    broker: RunningBroker, official: SchemaRegistry, header: str | None, operation: str
) -> None:
    """SOAP 1.1 section 6.1.1 asks for a quoted SOAPAction; bare ones mean the
    same. Without one, a generic zakLk01 is identified by its name alone."""
    response = post_counted(broker, CREEER_ZAAK.read_bytes(), header, operation)
    assert_dispatched(response, official=official)


def test_soap_12_envelope_gets_a_version_mismatch_fault(
    broker: RunningBroker, official: SchemaRegistry
) -> None:
    """A SOAP 1.2 envelope gets StUF001 in a SOAP 1.1 Fault whose faultcode is
    VersionMismatch (SOAP 1.1 section 4.4.1)."""
    raw = VALID_DI02.read_bytes().replace(
        NS_SOAP11.encode(), b"http://www.w3.org/2003/05/soap-envelope"
    )
    response = broker.post(
        raw,
        None,
        content_type='application/soap+xml; charset=utf-8; action="'
        f'{ZKN_ACTION}genereerZaakIdentificatie_Di02"',
    )
    fault = assert_fault(
        response,
        "StUF001",
        official=official,
        plek="client",
        faultcode="VersionMismatch",
    )
    assert "SOAP 1.2" in fault.omschrijving


# Character encodings --------------------------------------------------------

# A user name with letters outside ASCII, in the zender, so that a Fo03 or a
# Bv03 (which name the request's zender as their ontvanger) echoes it.
GEBRUIKER = "Zoë Müller-Öztürk"


def creeer_zaak_with_accents(declaration: str | None) -> str:
    text = CREEER_ZAAK.read_text(encoding="utf-8")
    text = text.replace(
        "<StUF:applicatie>GISVG</StUF:applicatie>",
        f"<StUF:applicatie>GISVG</StUF:applicatie><StUF:gebruiker>{GEBRUIKER}"
        "</StUF:gebruiker>",
        1,
    ).replace("Reguliere omgevingsvergunning", "Aanbouw café « één » à Sneek")
    if declaration is not None:
        text = f'<?xml version="1.0" encoding="{declaration}"?>\n' + text
    return text


@pytest.mark.parametrize(
    ("encoding", "declaration", "charset"),
    [
        pytest.param("utf-8", "UTF-8", "utf-8", id="utf-8-declared"),
        pytest.param("utf-8", None, None, id="utf-8-undeclared"),
        pytest.param("iso-8859-1", "ISO-8859-1", "ISO-8859-1", id="latin-1-declared"),
        pytest.param("iso-8859-1", None, "ISO-8859-1", id="latin-1-by-http-charset"),
        pytest.param(
            "iso-8859-1", "ISO-8859-1", "utf-8", id="latin-1-declared-http-says-utf-8"
        ),
        pytest.param("windows-1252", "windows-1252", None, id="windows-1252-declared"),
    ],
)
def test_non_ascii_text_in_utf8_and_iso_8859_1(
    broker: RunningBroker,
    official: SchemaRegistry,
    encoding: str,
    declaration: str | None,
    charset: str | None,
) -> None:
    """Accented letters arrive intact whether the request is UTF-8 or
    ISO-8859-1, named by the XML declaration or by the HTTP charset (the
    declaration wins when they disagree): the message reaches the routing
    side and an answer that names the zender spells it right."""
    raw = creeer_zaak_with_accents(declaration).encode(encoding)
    content_type = "text/xml" + (f"; charset={charset}" if charset else "")
    before = broker.metrics()
    response = broker.post(
        raw, f'"{ZKN_ACTION}creeerZaak_Lk01"', content_type=content_type
    )
    assert counted_for(broker.metrics(), ZDS, "creeerZaak") == (
        counted_for(before, ZDS, "creeerZaak") + 1
    )
    assert_dispatched(response, official=official)
    echoed = response.xml().find(f".//{{{NS_STUF}}}ontvanger/{{{NS_STUF}}}gebruiker")
    assert echoed is not None, "Fo03 and Bv03 name the zender as ontvanger"
    assert echoed.text == GEBRUIKER


# Schema validation ------------------------------------------------------------


def creeer_zaak(old: str, new: str) -> bytes:
    text = CREEER_ZAAK.read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1).encode()


SWAPPED_DATES = (
    "<startdatum>20230110</startdatum>\n"
    "            <registratiedatum>20230110</registratiedatum>",
    "<registratiedatum>20230110</registratiedatum>\n"
    "            <startdatum>20230110</startdatum>",
)


@pytest.mark.parametrize(
    ("raw", "errors"),
    [
        pytest.param(
            creeer_zaak(*SWAPPED_DATES),
            [SchemaError(27, "/zakLk01/object/startdatum", "not expected")],
            id="element-out-of-order",
        ),
        pytest.param(
            creeer_zaak("Dossiernummer GISVG OV1900852", "x" * 81),
            [SchemaError(24, "/zakLk01/object/omschrijving", "maximum length of '80'")],
            id="value-too-long",
        ),
        pytest.param(
            creeer_zaak(
                "<archiefnominatie>N</archiefnominatie>",
                "<archiefnominatie>Q</archiefnominatie>",
            ),
            [SchemaError(28, "/zakLk01/object/archiefnominatie", "'Q'")],
            id="not-in-enumeration",
        ),
        pytest.param(
            creeer_zaak(
                "<BG:inp.bsn>111111110</BG:inp.bsn>", "<BG:inp.bsn>12345</BG:inp.bsn>"
            ),
            [
                SchemaError(
                    56,
                    "/zakLk01/object/heeftAlsInitiator/gerelateerde/"
                    "natuurlijkPersoon/inp.bsn",
                    "pattern '[0-9]{9}'",
                )
            ],
            id="bsn-pattern",
        ),
        pytest.param(
            creeer_zaak(
                "<StUF:mutatiesoort>T</StUF:mutatiesoort>",
                "<StUF:mutatiesoort>X</StUF:mutatiesoort>",
            ),
            [SchemaError(19, "/zakLk01/parameters/mutatiesoort", "'X'")],
            id="mutatiesoort",
        ),
    ],
)
def test_schema_violation_is_named_by_line_path_and_rule(
    broker: RunningBroker,
    official: SchemaRegistry,
    raw: bytes,
    errors: list[SchemaError],
) -> None:
    """In strict mode a body that breaks the official schema gets StUF055 in a
    Fo03 (for a kennisgeving), with one emo:schemafout per broken rule:
    the request's line, the element path and libxml2's rule."""
    response = post_counted(broker, raw, f'"{ZKN_ACTION}creeerZaak_Lk01"', "creeerZaak")
    fault = assert_fault(
        response,
        "StUF055",
        official=official,
        request=request_stuurgegevens(raw),
        plek="client",
    )
    assert_schema_errors(fault.schema_errors, errors)


def test_every_violation_is_reported_not_only_the_first(
    broker: RunningBroker, official: SchemaRegistry
) -> None:
    """Two broken rules in different parts of the body give two schemafouten,
    in document order."""
    text = creeer_zaak(
        "<archiefnominatie>N</archiefnominatie>",
        "<archiefnominatie>Q</archiefnominatie>",
    ).decode()
    raw = text.replace(
        "<BG:inp.bsn>111111110</BG:inp.bsn>", "<BG:inp.bsn>12345</BG:inp.bsn>"
    ).encode()
    response = broker.post(raw, f'"{ZKN_ACTION}creeerZaak_Lk01"')
    fault = assert_fault(response, "StUF055", official=official, plek="client")
    assert [error.line for error in fault.schema_errors] == [28, 56]


# Health and metrics -----------------------------------------------------------


def test_healthz_lists_the_schema_sets(broker: RunningBroker) -> None:
    """GET /healthz says the broker is up, which process it is, and every
    compiled schema set with the distribution it came from."""
    response = broker.get("/healthz")
    assert response.status == 200
    assert response.content_type.startswith("application/json")
    health = json.loads(response.body)
    assert health["status"] == "ok"
    assert health["pid"] == broker.pid
    assert health["validating"] is True
    names = {entry["name"] for entry in health["schema_sets"]}
    assert {"zds-1.2/zds0120", "zds-1.2/zkn0310", "zds-1.1.02/zkn0310"} <= names
    for entry in health["schema_sets"]:
        assert entry["source"].endswith(entry["name"].split("/")[0])
        assert entry["elements"] > 0


def test_metrics_count_messages_by_operation(broker: RunningBroker) -> None:
    """GET /metrics (Prometheus text) counts each message once, under its
    source and identified operation, and a request that is not XML under
    operation "none"."""
    before = broker.metrics()
    broker.post(
        VALID_DI02.read_bytes(), f'"{ZKN_ACTION}genereerZaakIdentificatie_Di02"'
    )
    broker.post(VALID_DI02.read_bytes(), None)
    broker.post(b"<niet-af", None)
    response = broker.get("/metrics")
    assert response.status == 200
    assert response.content_type.startswith("text/plain")
    after = broker.metrics()
    assert (
        counted_for(after, ZDS, "genereerZaakIdentificatie")
        - counted_for(before, ZDS, "genereerZaakIdentificatie")
        == 2
    )
    assert counted_for(after, ZDS, "none") - counted_for(before, ZDS, "none") == 1
    health = json.loads(broker.get("/healthz").body)
    assert f"emo_schema_sets {len(health['schema_sets'])}.0".encode() in response.body


def test_get_on_a_soap_endpoint_says_post(broker: RunningBroker) -> None:
    """A browser pointed at /stuf/zds learns the endpoint takes SOAP POSTs."""
    response = broker.get("/stuf/zds")
    assert response.status == 405
    assert response.headers.get("allow") == "POST"


def test_fault_answer_is_a_soap_11_envelope(broker: RunningBroker) -> None:
    """The fault travels in a SOAP 1.1 envelope, as text/xml in UTF-8."""
    response = broker.post(b"<niet-af", None)
    root = etree.fromstring(response.body)
    assert root.tag == f"{{{NS_SOAP11}}}Envelope"
    assert response.content_type == "text/xml; charset=utf-8"
    assert read_fault(response).faultcode == "soap:Client"
