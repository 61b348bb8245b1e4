"""Vragen with history: the state at a peiltijdstip (Lv03, Lv05) and the
historieMaterieel and historieFormeel groups (Lv07, Lv09).

Every vraag and answer validates against the official StUF-BG 03.10 schemas
(the ``send`` fixture checks both); each test runs on SQLite and PostgreSQL.
The register's clock is moved by hand, so the registration moments are
known.
"""

from __future__ import annotations

import time

import pytest
from lxml import etree

from esb.answers import stuf_tijdstip
from tests.registers.klantregister.berichten import (
    BG,
    BSN_JAN,
    BSN_PIET,
    KVK_ACME,
    NSMAP,
    STUF,
    answered,
    kennisgeving,
    parameter,
    value,
    vraag,
)
from tests.registers.klantregister.conftest import Clock, Sender
from tests.registers.klantregister.test_kennisgeving import ACME, JAN, WINKEL

DAY = 86_400.0


@pytest.fixture
def moments(send: Sender, clock: Clock) -> dict[str, str]:
    """Jan added; a day later he moves (valid from a date in the past, as
    the sender says); a day later his new address is corrected (C). The
    StUF Tijdstippen of the three registrations, and of the moments
    between them."""
    # 15 January 2027, 08:00 local time (StUF Tijdstippen are local).
    clock.now = time.mktime((2027, 1, 15, 8, 0, 0, 0, 0, -1))
    registered = {"T": stuf_tijdstip(clock.now)}
    send(kennisgeving("NPS", "T", JAN))
    clock.advance(DAY)
    registered["tussen_T_W"] = stuf_tijdstip(clock.now - DAY / 2)
    registered["W"] = stuf_tijdstip(clock.now)
    moved = {**JAN, "verblijf_postcode": "3511AA", "verblijf_huisnummer": "7"}
    send(
        kennisgeving(
            "NPS",
            "W",
            {"bsn": BSN_JAN, "verblijf_postcode": "1234AB"},
            moved,
            begin_geldigheid="20270116",
        )
    )
    clock.advance(DAY)
    registered["C"] = stuf_tijdstip(clock.now)
    corrected = {**moved, "verblijf_huisnummer": "9"}
    send(
        kennisgeving(
            "NPS",
            "C",
            {"bsn": BSN_JAN, "verblijf_huisnummer": "7"},
            corrected,
        )
    )
    clock.advance(60)
    return registered


def _groups(found: etree._Element, tag: str) -> list[etree._Element]:
    return found.findall(BG + tag)


def _begin(group: etree._Element) -> str | None:
    return group.findtext(f"{STUF}tijdvakGeldigheid/{STUF}beginGeldigheid")


def test_lv09_answers_materiele_and_formele_historie(
    send: Sender, moments: dict[str, str]
) -> None:
    """npsLv09: the current state with two material periods (the correctie
    replaced the second one's state) and three formal voorkomens, each
    with its tijdvakGeldigheid and tijdstipRegistratie."""
    answer = send(vraag("NPS", {"bsn": BSN_JAN}, berichtcode="Lv09"))

    assert etree.QName(answer).localname == "npsLa09"
    [found] = answered(answer)
    assert value(found, "verblijfsadres/aoa.huisnummer") == "9"
    materieel = _groups(found, "historieMaterieel")
    assert [_begin(g) for g in materieel] == [moments["T"], "20270116000000000"]
    assert [value(g, "verblijfsadres/aoa.huisnummer") for g in materieel] == [
        "12",
        "9",
    ]
    # The first period ends where the second begins; the second is open.
    eind = f"{STUF}tijdvakGeldigheid/{STUF}eindGeldigheid"
    assert materieel[0].findtext(eind) == "20270116000000000"
    assert materieel[1].find(eind) is not None and not materieel[1].findtext(eind)
    # Only elements the schema allows: no birth date in historieMaterieel.
    assert materieel[0].find(BG + "geboortedatum") is None

    formeel = _groups(found, "historieFormeel")
    registraties = [g.findtext(STUF + "tijdstipRegistratie") for g in formeel]
    assert registraties == [moments["T"], moments["W"], moments["C"]]
    # Changed data only: the W names the address, not the unchanged name.
    assert value(formeel[1], "verblijfsadres/aoa.postcode") == "3511AA"
    assert formeel[1].find(BG + "geslachtsnaam") is None
    assert value(formeel[0], "geslachtsnaam") == "Jansen"


def test_lv07_answers_only_materiele_historie(
    send: Sender, moments: dict[str, str]
) -> None:
    """npsLv07: historieMaterieel, no historieFormeel."""
    answer = send(vraag("NPS", {"bsn": BSN_JAN}, berichtcode="Lv07"))

    [found] = answered(answer)
    assert len(_groups(found, "historieMaterieel")) == 2
    assert _groups(found, "historieFormeel") == []


def test_lv05_answers_the_state_as_registered_then(
    send: Sender, moments: dict[str, str]
) -> None:
    """npsLv05 with peiltijdstipFormeel between the T and the W: the old
    address, as the register held it then; the answer names both
    peiltijdstippen."""
    answer = send(
        vraag(
            "NPS",
            {"bsn": BSN_JAN},
            berichtcode="Lv05",
            peiltijdstip_materieel=moments["C"],
            peiltijdstip_formeel=moments["tussen_T_W"],
        )
    )

    assert etree.QName(answer).localname == "npsLa05"
    [found] = answered(answer)
    assert value(found, "verblijfsadres/aoa.postcode") == "1234AB"
    assert parameter(answer, "peiltijdstipFormeel") == moments["tussen_T_W"]
    assert parameter(answer, "peiltijdstipMaterieel") == moments["C"]


def test_lv03_answers_the_state_valid_then(
    send: Sender, moments: dict[str, str]
) -> None:
    """npsLv03: before the move's begin of validity the old address holds,
    after it the corrected new one."""
    before = send(
        vraag(
            "NPS",
            {"bsn": BSN_JAN},
            berichtcode="Lv03",
            peiltijdstip_materieel="20270115120000",
        )
    )
    after = send(
        vraag(
            "NPS",
            {"bsn": BSN_JAN},
            berichtcode="Lv03",
            peiltijdstip_materieel="20270117",
        )
    )

    assert etree.QName(before).localname == "npsLa03"
    [old] = answered(before)
    assert value(old, "verblijfsadres/aoa.huisnummer") == "12"
    [new] = answered(after)
    assert value(new, "verblijfsadres/aoa.huisnummer") == "9"
    tijdvak = new.find(STUF + "tijdvakGeldigheid")
    assert tijdvak is not None
    assert tijdvak.findtext(STUF + "beginGeldigheid") == "20270116000000000"


def test_a_selection_at_a_peiltijdstip_uses_the_state_then(
    send: Sender, moments: dict[str, str]
) -> None:
    """By postcode: the old address finds Jan at an old peiltijdstip, and
    not now (Lv01)."""
    old_address = {"verblijf_postcode": "1234AB", "verblijf_huisnummer": "12"}

    then = send(
        vraag(
            "NPS",
            old_address,
            berichtcode="Lv03",
            peiltijdstip_materieel="20270115120000",
        )
    )
    now = send(vraag("NPS", old_address))

    assert [value(o, "inp.bsn") for o in answered(then)] == [BSN_JAN]
    assert answered(now) == []


def test_a_deleted_person_is_found_at_a_moment_before_the_deletion(
    send: Sender, clock: Clock
) -> None:
    """V ends the last period: Lv03 before it finds the person, after it
    nobody."""
    before = stuf_tijdstip(clock.now + 10)
    send(kennisgeving("NPS", "T", {"bsn": BSN_PIET, "geslachtsnaam": "Bakker"}))
    clock.advance(DAY)
    send(kennisgeving("NPS", "V", {"bsn": BSN_PIET}))
    clock.advance(60)

    then = send(
        vraag(
            "NPS", {"bsn": BSN_PIET}, berichtcode="Lv03", peiltijdstip_materieel=before
        )
    )
    now = send(vraag("NPS", {"bsn": BSN_PIET}, berichtcode="Lv03"))

    assert [value(o, "geslachtsnaam") for o in answered(then)] == ["Bakker"]
    assert answered(now) == []


def test_company_history_holds_only_what_its_schema_allows(
    send: Sender, clock: Clock
) -> None:
    """nnpLv09: a renamed company; its history groups name statutaireNaam
    and no KvK relation or correspondentieadres (NNP-historieFormeel)."""
    send(kennisgeving("NNP", "T", ACME))
    clock.advance(DAY)
    send(
        kennisgeving(
            "NNP",
            "W",
            {"rsin": ACME["rsin"], "statutaire_naam": "Acme B.V."},
            {**ACME, "statutaire_naam": "Acme Holding B.V."},
        )
    )

    answer = send(vraag("NNP", {"kvk_nummer": KVK_ACME}, berichtcode="Lv09"))

    [found] = answered(answer)
    names = [value(g, "statutaireNaam") for g in _groups(found, "historieFormeel")]
    assert names == ["Acme B.V.", "Acme Holding B.V."]
    assert value(found, "rps.isEigenaarVan/gerelateerde/kvkNummer") == KVK_ACME
    # The relation stays last, after the history groups (NNP-antwoord).
    assert etree.QName(found[-1]).localname == "rps.isEigenaarVan"


def test_vestiging_history_and_state_at_a_moment(send: Sender, clock: Clock) -> None:
    """vesLv09 and vesLv03 of a vestiging that moved: the history groups
    before its relation to the activiteit, the old address at a moment
    before the move."""
    before = stuf_tijdstip(clock.now + 10)
    send(kennisgeving("VES", "T", WINKEL))
    clock.advance(DAY)
    send(
        kennisgeving(
            "VES",
            "W",
            {
                "vestigingsnummer": WINKEL["vestigingsnummer"],
                "verblijf_huisnummer": "2",
            },
            {**WINKEL, "verblijf_huisnummer": "4"},
        )
    )
    clock.advance(60)
    selection = {"vestigingsnummer": WINKEL["vestigingsnummer"]}

    [found] = answered(send(vraag("VES", selection, berichtcode="Lv09")))
    [then] = answered(
        send(vraag("VES", selection, berichtcode="Lv03", peiltijdstip_materieel=before))
    )

    periods = _groups(found, "historieMaterieel")
    assert [value(g, "verblijfsadres/aoa.huisnummer") for g in periods] == ["2", "4"]
    assert etree.QName(found[-1]).localname == "oefentActiviteitenUitVoor"
    assert value(then, "verblijfsadres/aoa.huisnummer") == "2"


def test_an_impossible_peiltijdstip_is_refused(send: Sender) -> None:
    """peiltijdstipMaterieel 20261399: StUF055 naming the parameter."""
    fault = send.fault(
        vraag(
            "NPS",
            {"bsn": BSN_JAN},
            berichtcode="Lv03",
            peiltijdstip_materieel="20261399",
        )
    )

    assert fault.code == "StUF055"
    assert fault.violations[0].path == "/npsLv03/parameters/peiltijdstipMaterieel"


def test_an_asynchronous_vraag_is_refused_precisely(send: Sender) -> None:
    """npsLv02 needs an answer channel the register lacks: StUF040."""
    message = vraag("NPS", {"bsn": BSN_JAN})
    fault = send.fault(_as_lv02(message))

    assert fault.code == "StUF040"
    assert "Lv02" in (fault.details or "")


def _as_lv02(message: etree._Element) -> etree._Element:
    renamed = etree.Element(BG + "npsLv02", nsmap=NSMAP)
    for child in message:
        renamed.append(child)
    code = renamed.find(f"{BG}stuurgegevens/{STUF}berichtcode")
    assert code is not None
    code.text = "Lv02"
    return renamed
