"""Vragen through the register: selections, scope, maximumAantal, faults.

Every vraag and every answer validates against the official StUF-BG 03.10
schemas (the ``send`` fixture checks both); each test runs on SQLite and on
PostgreSQL.
"""

from __future__ import annotations

import itertools

import pytest
from lxml import etree

from tests.registers.klantregister.berichten import (
    BG,
    BSN_INVALID,
    BSN_JAN,
    BSN_KLAAS,
    BSN_PIET,
    KVK_ACME,
    RSIN_ACME,
    STUF,
    answered,
    kennisgeving,
    parameter,
    value,
    vraag,
)
from tests.registers.klantregister.conftest import Sender
from tests.registers.klantregister.csvdata import bsns
from tests.registers.klantregister.test_kennisgeving import ACME, JAN, WINKEL

PIET = {
    "bsn": BSN_PIET,
    "geslachtsnaam": "Jansen",
    "voornamen": "Piet",
    "geboortedatum": "19800517",
    "verblijf_postcode": "1234AB",
    "verblijf_huisnummer": "12",
    "verblijf_huisletter": "b",
}
KLAAS = {
    "bsn": BSN_KLAAS,
    "geslachtsnaam": "de Boer",
    "voornamen": "Klaas",
    "geboortedatum": "19991231",
    "verblijf_postcode": "9876ZX",
    "verblijf_huisnummer": "3",
}


@pytest.fixture
def persons(send: Sender) -> Sender:
    for person in (JAN, PIET, KLAAS):
        send(kennisgeving("NPS", "T", person))
    return send


def bsns_in(answer: etree._Element) -> list[str | None]:
    return [value(o, "inp.bsn") for o in answered(answer)]


def test_a_person_is_found_by_bsn(persons: Sender) -> None:
    """npsLv01 gelijk inp.bsn answers npsLa01 with that person, whole."""
    answer = persons(vraag("NPS", {"bsn": BSN_JAN}))

    assert etree.QName(answer).localname == "npsLa01"
    [found] = answered(answer)
    assert value(found, "inp.bsn") == BSN_JAN
    assert value(found, "geslachtsnaam") == "Jansen"
    assert value(found, "voorvoegselGeslachtsnaam") == "van"
    assert value(found, "geboortedatum") == "19800517"
    assert value(found, "verblijfsadres/aoa.postcode") == "1234AB"
    assert value(found, "verblijfsadres/gor.openbareRuimteNaam") == "Kerkstraat"
    assert value(found, "sub.emailadres") == "jan@example.nl"
    assert parameter(answer, "indicatorVervolgvraag") == "false"


def test_the_answer_echoes_the_vraag_in_its_stuurgegevens(persons: Sender) -> None:
    """La01: zender and ontvanger swapped, crossRefnummer the vraag's."""
    answer = persons(vraag("NPS", {"bsn": BSN_JAN}, referentienummer="vraag-7"))

    s = "{http://www.egem.nl/StUF/StUF0301}"
    stuurgegevens = answer.find(BG + "stuurgegevens")
    assert stuurgegevens is not None
    assert stuurgegevens.findtext(f"{s}zender/{s}applicatie") == "EMO"
    assert stuurgegevens.findtext(f"{s}ontvanger/{s}applicatie") == "TESTAPP"
    assert stuurgegevens.findtext(f"{s}crossRefnummer") == "vraag-7"
    assert stuurgegevens.findtext(f"{s}entiteittype") == "NPS"


def test_persons_are_found_by_name_and_birth_date(persons: Sender) -> None:
    """gelijk geslachtsnaam and geboortedatum selects both Jansens born that
    day, sorted by the vraag's sortering (8: by BSN)."""
    answer = persons(
        vraag(
            "NPS", {"geslachtsnaam": "Jansen", "geboortedatum": "19800517"}, sortering=8
        )
    )

    assert bsns_in(answer) == sorted([BSN_JAN, BSN_PIET])


def test_persons_are_found_by_postcode_and_house_number(persons: Sender) -> None:
    """gelijk verblijfsadres aoa.postcode and aoa.huisnummer."""
    answer = persons(
        vraag("NPS", {"verblijf_postcode": "1234AB", "verblijf_huisnummer": "12"})
    )

    assert set(bsns_in(answer)) == {BSN_JAN, BSN_PIET}


def test_a_vraag_that_finds_nobody_has_no_antwoord(persons: Sender) -> None:
    """StUF: an La01 without antwoord, not a fault (the schema requires an
    object inside an antwoord, so an empty antwoord would not validate)."""
    answer = persons(vraag("NPS", {"bsn": "100000009"}))

    assert answer.find(BG + "antwoord") is None
    assert parameter(answer, "indicatorVervolgvraag") == "false"


def test_a_deleted_person_is_not_found(persons: Sender) -> None:
    """After V the person is no longer in any answer."""
    persons(kennisgeving("NPS", "V", {"bsn": BSN_KLAAS}))

    assert answered(persons(vraag("NPS", {"bsn": BSN_KLAAS}))) == []


def test_maximum_aantal_limits_the_answer_and_sets_vervolgvraag(
    persons: Sender,
) -> None:
    """Two of three selected: indicatorVervolgvraag true, aantalVoorkomens 3."""
    answer = persons(
        vraag(
            "NPS",
            vanaf={"geboortedatum": "19000101"},
            maximum=2,
            sortering=7,
            aantal=True,
        )
    )

    assert bsns_in(answer) == [BSN_JAN, BSN_PIET]
    assert parameter(answer, "indicatorVervolgvraag") == "true"
    assert parameter(answer, "aantalVoorkomens") == "3"


def test_a_range_selects_between_vanaf_and_tot_en_met(persons: Sender) -> None:
    """vanaf and totEnMet on geboortedatum, both ends included."""
    answer = persons(
        vraag(
            "NPS",
            vanaf={"geboortedatum": "19900101"},
            tot_en_met={"geboortedatum": "19991231"},
        )
    )

    assert bsns_in(answer) == [BSN_KLAAS]


def test_an_inexact_name_matches_the_start_ignoring_case(persons: Sender) -> None:
    """StUF:exact="false" on geslachtsnaam: starting with, any case."""
    message = vraag("NPS", {"geslachtsnaam": "jans"})
    name = message.find(f"{BG}gelijk/{BG}geslachtsnaam")
    assert name is not None
    name.set("{http://www.egem.nl/StUF/StUF0301}exact", "false")

    assert set(bsns_in(persons(message))) == {BSN_JAN, BSN_PIET}


def test_the_scope_limits_the_answer_to_what_it_names(persons: Sender) -> None:
    """A scope naming geslachtsnaam: the answer has that and the key only."""
    answer = persons(vraag("NPS", {"bsn": BSN_JAN}, scope={"geslachtsnaam": None}))

    [found] = answered(answer)
    names = [etree.QName(child).localname for child in found]
    assert names == ["inp.bsn", "geslachtsnaam"]


def test_a_scope_of_kerngegevens_leaves_out_contact_details(persons: Sender) -> None:
    """StUF:scope="kerngegevens": names, birth date, address; no e-mail."""
    answer = persons(vraag("NPS", {"bsn": BSN_JAN}, scope="kerngegevens"))

    [found] = answered(answer)
    assert value(found, "geslachtsnaam") == "Jansen"
    assert value(found, "verblijfsadres/aoa.postcode") == "1234AB"
    assert found.find(BG + "sub.emailadres") is None


def test_a_scope_of_alles_gives_everything(persons: Sender) -> None:
    """StUF:scope="alles": every element the register keeps."""
    answer = persons(vraag("NPS", {"bsn": BSN_JAN}, scope="alles"))

    [found] = answered(answer)
    assert value(found, "sub.telefoonnummer") == "0301234567"


def test_a_company_is_found_by_rsin_kvk_number_and_name(send: Sender) -> None:
    """nnpLv01 by inn.nnpId, by rps.isEigenaarVan/gerelateerde/kvkNummer and
    by statutaireNaam; the answer carries the KvK number in that relation."""
    send(kennisgeving("NNP", "T", ACME))

    for selection in (
        {"rsin": RSIN_ACME},
        {"kvk_nummer": KVK_ACME},
        {"statutaire_naam": "Acme B.V."},
        {"bezoek_postcode": "3511AA", "bezoek_huisnummer": "1"},
    ):
        answer = send(vraag("NNP", selection))
        [found] = answered(answer)
        assert value(found, "inn.nnpId") == RSIN_ACME
        assert value(found, "rps.isEigenaarVan/gerelateerde/kvkNummer") == KVK_ACME
        assert value(found, "bezoekadres/wpl.woonplaatsNaam") == "Utrecht"


def test_vestigingen_are_found_by_number_kvk_number_and_address(send: Sender) -> None:
    """vesLv01 by vestigingsNummer, by the KvK number of the activiteit, and
    by postcode and huisnummer."""
    send(kennisgeving("VES", "T", WINKEL))
    send(
        kennisgeving(
            "VES",
            "T",
            {**WINKEL, "vestigingsnummer": "000012345679", "verblijf_huisnummer": "9"},
        )
    )

    by_number = send(vraag("VES", {"vestigingsnummer": "000012345678"}))
    assert [value(o, "handelsnaam") for o in answered(by_number)] == ["Acme Utrecht"]
    by_kvk = send(vraag("VES", {"kvk_nummer": KVK_ACME}, sortering=1))
    assert [value(o, "vestigingsNummer") for o in answered(by_kvk)] == [
        "000012345678",
        "000012345679",
    ]
    by_address = send(
        vraag("VES", {"verblijf_postcode": "3511AB", "verblijf_huisnummer": "9"})
    )
    [found] = answered(by_address)
    assert value(found, "oefentActiviteitenUitVoor/gerelateerde/kvkNummer") == KVK_ACME


def test_an_invalid_bsn_in_a_vraag_is_refused(persons: Sender) -> None:
    """gelijk inp.bsn failing the 11-test: StUF055, the BSN masked."""
    fault = persons.fault(vraag("NPS", {"bsn": BSN_INVALID}))

    assert (fault.code, fault.plek) == ("StUF055", "client")
    assert fault.violations[0].path == "/npsLv01/gelijk/inp.bsn"
    assert BSN_INVALID not in fault.violations[0].rule


def test_a_vraag_without_selection_is_refused(persons: Sender) -> None:
    """No gelijk, vanaf or totEnMet criterion: the register hands out no list
    of all its clients (StUF058, plek client)."""
    fault = persons.fault(vraag("NPS", scope="alles"))

    assert (fault.code, fault.plek) == ("StUF058", "client")
    assert "zonder selectie" in fault.omschrijving


def test_a_selection_on_an_element_not_kept_is_refused(persons: Sender) -> None:
    """Selecting on inp.a-nummer, which the register does not keep, would
    give a wrong answer: StUF058 naming the element."""
    message = vraag("NPS", {"geslachtsnaam": "Jansen"})
    gelijk = message.find(BG + "gelijk")
    assert gelijk is not None
    anummer = etree.Element(BG + "inp.a-nummer")
    anummer.text = "1234567890"
    gelijk.insert(0, anummer)

    fault = persons.fault(message)
    assert fault.code == "StUF058"
    assert "inp.a-nummer" in fault.omschrijving


def _page(send: Sender, **start: str) -> etree._Element:
    return send(
        vraag(
            "NPS",
            vanaf={"geboortedatum": "19000101"},
            sortering=7,
            maximum=2,
            aantal=True,
            start=start or None,
        )
    )


def test_a_vervolgvraag_pages_through_every_subject_once(send: Sender) -> None:
    """Seven persons, four sharing a birth date (ties on the sortering),
    maximumAantal 2: each vervolgvraag with the last object of the previous
    answer in start gives the next two, until indicatorVervolgvraag false;
    every person once, in the order of sortering 7."""
    numbers = list(itertools.islice(bsns(), 7))
    births = ["19800517", "19700101", "19800517", "19800517", "19990101"]
    births += ["19800517", "19600101"]
    for number, birth in zip(numbers, births, strict=True):
        send(
            kennisgeving(
                "NPS",
                "T",
                {"bsn": number, "geslachtsnaam": "Smit", "geboortedatum": birth},
            )
        )

    seen: list[str | None] = []
    answer = _page(send)
    pages = 1
    while parameter(answer, "indicatorVervolgvraag") == "true":
        assert parameter(answer, "aantalVoorkomens") == "7"
        last = bsns_in(answer)[-1]
        assert last is not None
        seen += bsns_in(answer)
        answer = _page(send, bsn=last)
        pages += 1
    seen += bsns_in(answer)

    by_birth = sorted(zip(births, range(7), numbers, strict=True))
    assert seen == [number for _, _, number in by_birth]
    assert pages == 4


def test_a_vervolgvraag_skips_nobody_added_meanwhile(persons: Sender) -> None:
    """A person added between the vragen after the start object is in the
    next answer; one sorting before it is not handed out twice."""
    first = _page(persons)
    assert bsns_in(first) == [BSN_JAN, BSN_PIET]
    early, late = itertools.islice(bsns(20_000_000), 2)
    persons(kennisgeving("NPS", "T", {"bsn": early, "geboortedatum": "19500101"}))
    persons(kennisgeving("NPS", "T", {"bsn": late, "geboortedatum": "20000101"}))

    second = _page(persons, bsn=BSN_PIET)

    assert bsns_in(second) == [BSN_KLAAS, late]
    assert parameter(second, "indicatorVervolgvraag") == "false"


def test_a_vervolgvraag_continues_after_a_deleted_start_object(
    persons: Sender,
) -> None:
    """The start object deleted meanwhile: its place in the order is still
    known, and the answer continues after it."""
    persons(kennisgeving("NPS", "V", {"bsn": BSN_PIET}))

    answer = _page(persons, bsn=BSN_PIET)

    assert bsns_in(answer) == [BSN_KLAAS]


def test_a_vervolgvraag_without_start_is_refused(persons: Sender) -> None:
    """indicatorVervolgvraag true without a start object: StUF055 naming
    the parameter."""
    message = vraag("NPS", {"geslachtsnaam": "Jansen"})
    indicator = message.find(f"{BG}parameters/{STUF}indicatorVervolgvraag")
    assert indicator is not None
    indicator.text = "true"

    fault = persons.fault(message)

    assert (fault.code, fault.plek) == ("StUF055", "client")
    assert fault.violations[0].path == "/npsLv01/parameters/indicatorVervolgvraag"


def test_a_start_object_without_its_key_is_refused(persons: Sender) -> None:
    """A start object naming no BSN cannot say where to continue."""
    fault = persons.fault(
        vraag("NPS", {"geslachtsnaam": "Jansen"}, start={"geslachtsnaam": "Jansen"})
    )

    assert fault.code == "StUF055"
    assert fault.violations[0].path == "/npsLv01/start/object"


def test_a_start_object_never_known_is_object_niet_gevonden(persons: Sender) -> None:
    """A start BSN the register never had: StUF064, the BSN masked."""
    fault = persons.fault(
        vraag("NPS", {"geslachtsnaam": "Jansen"}, start={"bsn": "100000009"})
    )

    assert fault.code == "StUF064"
    assert "100000009" not in f"{fault.details} {fault.omschrijving}"
