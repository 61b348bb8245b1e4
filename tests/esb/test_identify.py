"""Identification of real messages: operation, flavour and stuurgegevens."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from esb.envelope import open_envelope, parse_xml
from esb.errors import IdentificationError
from esb.identify import identify
from esb.message import NS_BG, NS_ZKN
from tests.conftest import EXAMPLES

ZKN_ACTION = "http://www.egem.nl/StUF/sector/zkn/0310/"


def body_of(path: Path) -> etree._Element:
    return open_envelope(parse_xml(path.read_bytes())).body


def action_for(path: Path) -> str:
    """The SOAPAction the client sent: the operation is in the file name."""
    name = path.name.split(".")[0].split("-", 1)[-1]
    return ZKN_ACTION + name.rstrip("_").split("__")[0]


# (file, operation, flavour, berichtcode, zender applicatie, mutatiesoort)
GISVG = [
    ("genereerZaakIdentificatie_Di02", "genereerZaakIdentificatie", "Di02", None),
    ("creeerZaak_Lk01", "creeerZaak", "Lk01", "T"),
    (
        "genereerDocumentIdentificatie_Di02",
        "genereerDocumentIdentificatie",
        "Di02",
        None,
    ),
    ("updateZaak_Lk01", "updateZaak", "Lk01", "W"),
    ("actualiseerZaakstatus_Lk01", "actualiseerZaakstatus", "Lk01", "T"),
    ("geefZaakdetails_Lv01", "geefZaakdetails", "Lv01", None),
    ("geefZaakdetails_Lv01__2_", "geefZaakdetails", "Lv01", None),
    ("geefLijstZaakdocumenten_Lv01", "geefLijstZaakdocumenten", "Lv01", None),
]


@pytest.mark.parametrize(("name", "operation", "code", "mutatie"), GISVG)
def test_gisvg_flow_is_identified_as_zds_11(
    name: str, operation: str, code: str, mutatie: str | None
) -> None:
    """ZDS 1.1: generic zakLk01/zakLv01 get their operation from the SOAPAction."""
    path = EXAMPLES / "gisvg-flow" / f"{name}.request.xml"
    found = identify(body_of(path), action_for(path))

    assert found.operation == operation
    assert found.flavour == "zds-1.1"
    assert found.berichtcode == code
    assert found.mutatiesoort == mutatie
    assert found.stuurgegevens.zender.organisatie == "1900"
    assert found.stuurgegevens.referentienummer


@pytest.mark.parametrize(
    ("name", "operation", "code"),
    [
        ("creeerzaakRequest", "creeerZaak", "Lk01"),
        ("geefZaakDetailsRequest", "geefZaakdetails", "Lv01"),
        ("geefLijstZaakdocumenten", "geefLijstZaakdocumenten", "Lv01"),
        ("voegZaakdocumentToe", "voegZaakdocumentToe", "Lk01"),
    ],
)
def test_haarlem_messages_are_identified_as_zds_12(
    name: str, operation: str, code: str
) -> None:
    """ZDS 1.2 names the operation in the zds0120 body element itself."""
    body = body_of(EXAMPLES / "haarlem" / f"{name}.xml")
    action = "http://www.stufstandaarden.nl/koppelvlak/zds0120/" + etree.QName(
        body
    ).localname.replace("Bewerken", "bewerken")
    found = identify(body, action)

    assert (found.operation, found.flavour, found.berichtcode) == (
        operation,
        "zds-1.2",
        code,
    )


@pytest.mark.parametrize(
    "path",
    sorted((EXAMPLES / "regressions").glob("*.request.xml")),
    ids=lambda p: p.name,
)
def test_regression_messages_are_identified(path: Path) -> None:
    """Every regression request is identified with the operation in its name."""
    found = identify(body_of(path), action_for(path))
    expected = path.name.split("-", 1)[1].split("_")[0]
    assert found.operation == expected
    assert found.stuurgegevens.zender.applicatie == "CLO"


def test_a_missing_berichtcode_is_taken_from_the_message_name() -> None:
    """The Issue329 edcLk01 has no berichtcode; edcLk01 fixes it as Lk01."""
    path = EXAMPLES / "regressions" / "Issue329-voegZaakdocumentToe_Lk01.request.xml"
    found = identify(body_of(path), action_for(path))
    assert (found.operation, found.berichtcode) == ("voegZaakdocumentToe", "Lk01")


def test_a_generic_message_without_soapaction_keeps_its_generic_name() -> None:
    path = EXAMPLES / "gisvg-flow" / "creeerZaak_Lk01.request.xml"
    found = identify(body_of(path), None)
    assert (found.operation, found.flavour) == ("zakLk01", "stuf-zkn")


def test_error_handling_zaklv01_under_geefzaakdetails_is_geefzaakdetails() -> None:
    """Examples 05 and 06 send zakLv01 under the geefZaakdetails SOAPAction."""
    for name in (
        "05_Invalid_SoapAction_geefZaakdetails_Lv01_ABCDE_",
        "06_Invalid_SoapAction_geefZaakdetails_Lv01_NULL_",
    ):
        body = body_of(EXAMPLES / "error-handling" / f"{name}.request.xml")
        found = identify(body, ZKN_ACTION + "geefZaakdetails_Lv01")
        assert found.operation == "geefZaakdetails"
        assert found.stuurgegevens.entiteittype == "ZAK"


@pytest.mark.parametrize(
    "action",
    [
        ZKN_ACTION + "geefZaakdetails_Lv01",  # another operation
        ZKN_ACTION + "genereerZaakIdentificatie_Lk01",  # another berichtcode
        ZKN_ACTION + "zakLk01",  # a generic message, not this one
        "urn:nonsense",  # not a StUF name at all
    ],
)
def test_a_soapaction_contradicting_the_body_is_refused(action: str) -> None:
    """Example 04: the SOAPAction must name the operation in the Body."""
    body = body_of(EXAMPLES / "error-handling" / "04_Invalid_SoapAction.request.xml")
    with pytest.raises(IdentificationError) as raised:
        identify(body, action)
    assert raised.value.code == "StUF040"
    assert raised.value.plek == "client"


def test_a_generic_message_under_a_soapaction_of_another_entity_is_refused() -> None:
    """edcLk01 cannot be creeerZaak, whose message is zakLk01."""
    path = EXAMPLES / "regressions" / "Issue329-voegZaakdocumentToe_Lk01.request.xml"
    with pytest.raises(IdentificationError, match="SOAPAction"):
        identify(body_of(path), ZKN_ACTION + "creeerZaak_Lk01")


def test_a_namespace_the_source_does_not_take_is_stuf004() -> None:
    body = body_of(EXAMPLES / "gisvg-flow" / "creeerZaak_Lk01.request.xml")
    with pytest.raises(IdentificationError) as raised:
        identify(body, None, accepted_namespaces=(NS_BG,))
    assert raised.value.code == "StUF004"
    assert NS_ZKN in (raised.value.details or "")


def _message(stuurgegevens: str, name: str = "zakLk01") -> etree._Element:
    return etree.fromstring(
        f'<Z:{name} xmlns:Z="{NS_ZKN}" xmlns:S="http://www.egem.nl/StUF/StUF0301">'
        f"<Z:stuurgegevens>{stuurgegevens}</Z:stuurgegevens></Z:{name}>"
    )


@pytest.mark.parametrize(
    ("stuurgegevens", "code"),
    [
        ("<S:berichtcode>Xx01</S:berichtcode>", "StUF022"),
        ("<S:berichtcode>La01</S:berichtcode>", "StUF025"),
        (
            "<S:berichtcode>Lv01</S:berichtcode><S:zender><S:applicatie>A"
            "</S:applicatie></S:zender>",
            "StUF040",
        ),
        ("<S:berichtcode>Lk01</S:berichtcode>", "StUF013"),
    ],
    ids=["unknown-code", "answer-code", "code-contradicts-name", "no-zender"],
)
def test_broken_stuurgegevens_get_their_own_fault(
    stuurgegevens: str, code: str
) -> None:
    with pytest.raises(IdentificationError) as raised:
        identify(_message(stuurgegevens), None)
    assert raised.value.code == code


def test_a_body_without_stuurgegevens_is_stuf055() -> None:
    body = etree.fromstring(f'<Z:zakLk01 xmlns:Z="{NS_ZKN}"/>')
    with pytest.raises(IdentificationError) as raised:
        identify(body, None)
    assert raised.value.code == "StUF055"


def test_an_unknown_element_is_stuf040() -> None:
    body = etree.fromstring(f'<Z:hallo xmlns:Z="{NS_ZKN}"/>')
    with pytest.raises(IdentificationError, match="Onbekend bericht"):
        identify(body, None)
