"""EMO's own answers are what the standard prescribes, and validate."""

from __future__ import annotations

import pytest
from lxml import etree

from esb.answers import (
    NS_EMO_FOUT,
    bv03,
    confirmation_answer,
    fault_answer,
    fault_berichtcode,
    foutbericht,
    stuf_tijdstip,
)
from esb.errors import SchemaViolation, StufFault, Violation
from esb.message import NS_SOAP11, NS_STUF, Party, Stuurgegevens
from esb.schemaset import SchemaRegistry
from tests.conftest import ZDS_12

S = f"{{{NS_STUF}}}"
SYSTEM = Party(organisatie="0392", applicatie="EMO")
REQUEST = Stuurgegevens(
    berichtcode="Lk01",
    zender=Party(organisatie="1900", applicatie="GISVG", gebruiker="jan"),
    ontvanger=Party(organisatie="1900", applicatie="ZDS"),
    referentienummer="c8e8f52f-69d1-4110-93a7-f4690c63f99a",
    tijdstip_bericht="20210520204501593",
    entiteittype="ZAK",
)


@pytest.fixture(scope="module")
def schemas() -> SchemaRegistry:
    return SchemaRegistry.load([ZDS_12])


def _text(element: etree._Element, path: str) -> str | None:
    found = element.find(path.replace("S:", S))
    return None if found is None else found.text


def test_bv03_swaps_zender_and_ontvanger_and_echoes_the_referentienummer(
    schemas: SchemaRegistry,
) -> None:
    """StUF 03.01: a Bv03 answers from the ontvanger to the zender, with the
    request's referentienummer as crossRefnummer; it validates."""
    answer = bv03(REQUEST, system=SYSTEM, referentienummer="emo-1", now=0.5)

    assert _text(answer, "S:stuurgegevens/S:berichtcode") == "Bv03"
    assert _text(answer, "S:stuurgegevens/S:zender/S:applicatie") == "ZDS"
    assert _text(answer, "S:stuurgegevens/S:ontvanger/S:applicatie") == "GISVG"
    assert _text(answer, "S:stuurgegevens/S:ontvanger/S:gebruiker") == "jan"
    assert _text(answer, "S:stuurgegevens/S:referentienummer") == "emo-1"
    assert _text(answer, "S:stuurgegevens/S:crossRefnummer") == REQUEST.referentienummer
    assert schemas.validate(answer) == []


def test_bv03_names_emo_as_zender_when_the_request_had_no_ontvanger(
    schemas: SchemaRegistry,
) -> None:
    """A request without ontvanger is answered by EMO's own system name."""
    request = Stuurgegevens(berichtcode="Lk01", zender=Party(applicatie="APP"))
    answer = bv03(request, system=SYSTEM, referentienummer="emo-2")

    assert _text(answer, "S:stuurgegevens/S:zender/S:applicatie") == "EMO"
    assert _text(answer, "S:stuurgegevens/S:crossRefnummer") == "emo-2"
    assert schemas.validate(answer) == []


@pytest.mark.parametrize(
    ("berichtcode", "expected"),
    [
        ("Lk01", "Fo03"),
        ("Di01", "Fo03"),
        ("Lv01", "Fo02"),
        ("Di02", "Fo02"),
        (None, "Fo02"),
    ],
)
def test_the_foutbericht_follows_the_requests_berichtcode(
    berichtcode: str | None, expected: str
) -> None:
    """Kennisgevingen get Fo03, vragen and synchronous vrije berichten Fo02."""
    assert fault_berichtcode(berichtcode) == expected


@pytest.mark.parametrize("code", ["Fo01", "Fo02", "Fo03"])
def test_every_foutbericht_validates_against_the_official_schema(
    code: str, schemas: SchemaRegistry
) -> None:
    """Fo01, Fo02 and Fo03 built by EMO validate against stuf0301.xsd."""
    fault = StufFault("StUF058", plek="server", details="x" * 1500)
    bericht = foutbericht(
        fault, REQUEST, system=SYSTEM, referentienummer="emo-3", berichtcode=code
    )

    assert etree.QName(bericht).localname == f"{code}Bericht"
    assert _text(bericht, "S:body/S:code") == "StUF058"
    assert _text(bericht, "S:body/S:plek") == "server"
    assert len(_text(bericht, "S:body/S:details") or "") == 1000
    assert schemas.validate(bericht) == []


def test_fo02_carries_only_the_berichtcode_in_its_stuurgegevens(
    schemas: SchemaRegistry,
) -> None:
    """stuf0301.xsd restricts the Fo02's stuurgegevens to the berichtcode."""
    request = Stuurgegevens(berichtcode="Lv01", zender=Party(applicatie="APP"))
    bericht = foutbericht(
        StufFault("StUF064"), request, system=SYSTEM, referentienummer="emo-4"
    )

    stuurgegevens = bericht.find(S + "stuurgegevens")
    assert stuurgegevens is not None
    assert [etree.QName(child).localname for child in stuurgegevens] == ["berichtcode"]
    assert schemas.validate(bericht) == []


def test_schema_violations_are_listed_in_details_and_in_details_xml(
    schemas: SchemaRegistry,
) -> None:
    """A StUF055 names every violation: line, path and rule."""
    violations = [
        Violation(12, "/zakLk01/object/identificatie", "too long"),
        Violation(None, "/zakLk01/object/omschrijving", "missing"),
    ]
    bericht = foutbericht(
        SchemaViolation(violations), REQUEST, system=SYSTEM, referentienummer="e"
    )

    details = _text(bericht, "S:body/S:details") or ""
    assert "line 12, /zakLk01/object/identificatie: too long" in details
    items = bericht.findall(f"{S}body/{S}detailsXML/{{{NS_EMO_FOUT}}}schemafout")
    assert [(i.get("regel"), i.get("pad"), i.text) for i in items] == [
        ("12", "/zakLk01/object/identificatie", "too long"),
        (None, "/zakLk01/object/omschrijving", "missing"),
    ]
    assert _text(bericht, "S:body/S:code") == "StUF055"
    assert _text(bericht, "S:body/S:plek") == "client"
    assert schemas.validate(bericht) == []


def test_a_fault_answer_is_a_soap_11_fault_with_the_plek_as_faultcode() -> None:
    """SOAP 1.1 section 4.4: Client for plek client, Server for plek server."""
    for plek, faultcode in (("client", "soap:Client"), ("server", "soap:Server")):
        answer = fault_answer(
            StufFault("StUF058", plek=plek),  # type: ignore[arg-type]
            REQUEST,
            system=SYSTEM,
            referentienummer="emo-5",
        )
        root = etree.fromstring(answer.body)
        fault = root.find(f"{{{NS_SOAP11}}}Body/{{{NS_SOAP11}}}Fault")
        assert answer.status == 500
        assert fault is not None
        assert fault.findtext("faultcode") == faultcode
        assert fault.find("detail/" + S + "Fo03Bericht") is not None


def test_a_confirmation_answer_is_a_soap_envelope_with_status_200() -> None:
    answer = confirmation_answer(REQUEST, system=SYSTEM, referentienummer="emo-6")
    root = etree.fromstring(answer.body)

    assert answer.status == 200
    assert root.find(f"{{{NS_SOAP11}}}Body/{S}Bv03Bericht") is not None


def test_stuf_tijdstip_has_the_17_digit_form() -> None:
    """StUF Tijdstip: yyyymmddhhmmssfff."""
    value = stuf_tijdstip(1_700_000_000.25)
    assert len(value) == 17 and value.isdigit() and value.endswith("250")


@pytest.mark.parametrize(
    "request_",
    [
        REQUEST,
        Stuurgegevens(
            berichtcode="Lk01",
            zender=Party(organisatie="A&B <gemeente>", applicatie="app\r\nmet ëen ☃"),
            ontvanger=Party(),
            referentienummer="ref&<>" + "x" * 60,
        ),
        Stuurgegevens(
            berichtcode="Lk01",
            zender=Party(applicatie="Z" * 80, gebruiker="g" * 150),
            ontvanger=Party(applicatie="ZDS", administratie="adm"),
            referentienummer=None,
        ),
    ],
)
def test_the_bv03_template_writes_what_the_tree_would(
    request_: Stuurgegevens,
) -> None:
    from esb.envelope import soap_envelope

    fast = confirmation_answer(
        request_, system=SYSTEM, referentienummer="emo-7", now=1700000000.25
    )
    tree = bv03(request_, system=SYSTEM, referentienummer="emo-7", now=1700000000.25)
    assert fast.body == soap_envelope(tree)
