"""Addresses beyond the street: persons living abroad (sub.verblijfBuitenland)
and a postbus or antwoordnummer as correspondentieadres.

Every message and answer validates against the official StUF-BG 03.10
schemas (the ``send`` fixture checks both); each test runs on SQLite and
PostgreSQL, and checks what is stored as well as what is answered.
"""

from __future__ import annotations

from lxml import etree

from registers.klantregister import Klantregister
from registers.klantregister.entiteiten import NNP, NPS
from tests.registers.klantregister.berichten import (
    BG,
    BSN_JAN,
    RSIN_ACME,
    answered,
    kennisgeving,
    value,
    vraag,
)
from tests.registers.klantregister.conftest import Clock, Sender
from tests.registers.klantregister.test_kennisgeving import ACME, JAN, history, stored

ABROAD = {
    "buitenland_landcode": "6030",
    "buitenland_landnaam": "Duitsland",
    "buitenland_adres1": "Hauptstraße 5",
    "buitenland_adres2": "10115 Berlin",
}
# Jan without his Dutch address.
JAN_ELSEWHERE = {k: v for k, v in JAN.items() if not k.startswith("verblijf_")}
POSTBUS = {
    "correspondentie_postcode": "3500AA",
    "correspondentie_woonplaats": "Utrecht",
    "correspondentie_postadres_type": "P",
    "correspondentie_postadres_nummer": "1234",
}


def names(element: etree._Element) -> list[str]:
    return [etree.QName(child).localname for child in element]


def test_a_person_abroad_is_stored_and_answered(
    send: Sender, register: Klantregister
) -> None:
    """npsLk01 T with sub.verblijfBuitenland: stored in its columns and
    answered in place of a verblijfsadres."""
    person = {"bsn": BSN_JAN, "geslachtsnaam": "Jansen", **ABROAD}
    send(kennisgeving("NPS", "T", person))

    subject = stored(register, NPS, {"bsn": BSN_JAN})
    assert subject.gegevens["buitenland_landcode"] == "6030"
    assert subject.gegevens["buitenland_adres1"] == "Hauptstraße 5"
    assert subject.gegevens["verblijf_postcode"] is None

    [found] = answered(send(vraag("NPS", {"bsn": BSN_JAN})))
    assert found.find(BG + "verblijfsadres") is None
    assert value(found, "sub.verblijfBuitenland/lnd.landnaam") == "Duitsland"
    assert value(found, "sub.verblijfBuitenland/sub.adresBuitenland2") == (
        "10115 Berlin"
    )


def test_moving_abroad_replaces_the_verblijfsadres(
    send: Sender, register: Klantregister, clock: Clock
) -> None:
    """W from a Dutch address to one abroad: the verblijfsadres is gone (a
    person lives in one place), the history keeps it; and back again."""
    send(kennisgeving("NPS", "T", JAN))
    clock.advance(3600)
    send(
        kennisgeving(
            "NPS",
            "W",
            {"bsn": BSN_JAN, "verblijf_postcode": "1234AB"},
            {**JAN_ELSEWHERE, **ABROAD},
        )
    )

    subject = stored(register, NPS, {"bsn": BSN_JAN})
    assert subject.gegevens["verblijf_postcode"] is None
    assert subject.gegevens["verblijf_straatnaam"] is None
    assert subject.gegevens["buitenland_landcode"] == "6030"
    rows = history(register, NPS, subject.id)
    assert [r["verblijf_postcode"] for r in rows] == ["1234AB", None]

    with_history = send(vraag("NPS", {"bsn": BSN_JAN}, berichtcode="Lv09"))
    [found] = answered(with_history)
    periods = found.findall(BG + "historieMaterieel")
    assert value(periods[0], "verblijfsadres/aoa.postcode") == "1234AB"
    assert value(periods[1], "sub.verblijfBuitenland/lnd.landcode") == "6030"

    send(
        kennisgeving(
            "NPS",
            "W",
            {"bsn": BSN_JAN, "buitenland_landcode": "6030"},
            {
                **JAN_ELSEWHERE,
                "verblijf_postcode": "9876ZX",
                "verblijf_huisnummer": "1",
            },
        )
    )
    back = stored(register, NPS, {"bsn": BSN_JAN})
    assert back.gegevens["buitenland_landcode"] is None
    assert back.gegevens["verblijf_postcode"] == "9876ZX"


def test_a_postbus_is_a_correspondentieadres(
    send: Sender, register: Klantregister
) -> None:
    """sub.correspondentieAdres with sub.postadresType P and
    sub.postadresNummer: stored, and answered without street elements."""
    send(kennisgeving("NPS", "T", {**JAN, **POSTBUS}))

    subject = stored(register, NPS, {"bsn": BSN_JAN})
    assert subject.gegevens["correspondentie_postadres_type"] == "P"
    assert subject.gegevens["correspondentie_postadres_nummer"] == "1234"

    [found] = answered(send(vraag("NPS", {"bsn": BSN_JAN})))
    adres = found.find(BG + "sub.correspondentieAdres")
    assert adres is not None
    assert names(adres) == [
        "wpl.woonplaatsNaam",
        "postcode",
        "sub.postadresType",
        "sub.postadresNummer",
    ]
    assert value(found, "sub.correspondentieAdres/sub.postadresNummer") == "1234"


def test_an_antwoordnummer_replaces_a_street_address(
    send: Sender, register: Klantregister
) -> None:
    """A company's correspondentieadres changes from a street to an
    antwoordnummer (A): the street is gone, the number is there."""
    street = {
        **ACME,
        "correspondentie_postcode": "3511AA",
        "correspondentie_straatnaam": "Domplein",
        "correspondentie_huisnummer": "1",
    }
    send(kennisgeving("NNP", "T", street))
    send(
        kennisgeving(
            "NNP",
            "W",
            {"rsin": RSIN_ACME, "correspondentie_huisnummer": "1"},
            {
                **ACME,
                "correspondentie_postcode": "3500VB",
                "correspondentie_postadres_type": "A",
                "correspondentie_postadres_nummer": "5678",
            },
        )
    )

    subject = stored(register, NNP, {"rsin": RSIN_ACME})
    assert subject.gegevens["correspondentie_straatnaam"] is None
    assert subject.gegevens["correspondentie_huisnummer"] is None
    assert subject.gegevens["correspondentie_postadres_type"] == "A"
    [found] = answered(send(vraag("NNP", {"rsin": RSIN_ACME})))
    assert value(found, "sub.correspondentieAdres/sub.postadresType") == "A"
    assert value(found, "sub.correspondentieAdres/gor.openbareRuimteNaam") is None


def test_persons_are_found_by_their_postbus(send: Sender) -> None:
    """gelijk sub.correspondentieAdres/sub.postadresNummer and postcode."""
    send(kennisgeving("NPS", "T", {**JAN, **POSTBUS}))

    answer = send(
        vraag(
            "NPS",
            {
                "correspondentie_postcode": "3500AA",
                "correspondentie_postadres_type": "P",
                "correspondentie_postadres_nummer": "1234",
            },
        )
    )

    assert [value(o, "inp.bsn") for o in answered(answer)] == [BSN_JAN]
