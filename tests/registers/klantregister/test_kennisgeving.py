"""Kennisgevingen through the register: what is stored, what is refused.

Every message here validates against the official StUF-BG 03.10 schemas and
so does every answer (the ``send`` fixture checks both); each test runs on
SQLite and on PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from lxml import etree

from registers.klantregister import Klantregister, store
from registers.klantregister.entiteiten import NNP, NPS, VES, Entiteit
from tests.registers.klantregister.berichten import (
    BSN_INVALID,
    BSN_JAN,
    BSN_PIET,
    KVK_ACME,
    RSIN_ACME,
    kennisgeving,
)
from tests.registers.klantregister.conftest import Clock, Sender

JAN = {
    "bsn": BSN_JAN,
    "geslachtsnaam": "Jansen",
    "voorvoegsel": "van",
    "voorletters": "J.",
    "voornamen": "Jan",
    "geslachtsaanduiding": "M",
    "geboortedatum": "19800517",
    "verblijf_woonplaats": "Utrecht",
    "verblijf_straatnaam": "Kerkstraat",
    "verblijf_postcode": "1234AB",
    "verblijf_huisnummer": "12",
    "verblijf_huisletter": "a",
    "telefoonnummer": "0301234567",
    "emailadres": "jan@example.nl",
}
ACME = {
    "rsin": RSIN_ACME,
    "kvk_nummer": KVK_ACME,
    "statutaire_naam": "Acme B.V.",
    "rechtsvorm": "Besloten vennootschap",
    "bezoek_postcode": "3511AA",
    "bezoek_huisnummer": "1",
    "bezoek_woonplaats": "Utrecht",
}
WINKEL = {
    "vestigingsnummer": "000012345678",
    "handelsnaam": "Acme Utrecht",
    "kvk_nummer": KVK_ACME,
    "verblijf_postcode": "3511AB",
    "verblijf_huisnummer": "2",
}


def stored(
    register: Klantregister, entiteit: Entiteit, key: dict[str, str]
) -> store.Subject:
    subject = register.database.read(lambda c: store.find(c, entiteit, key))
    assert subject is not None
    return subject


def history(
    register: Klantregister, entiteit: Entiteit, subject_id: int
) -> list[dict[str, Any]]:
    return register.database.read(lambda c: store.history(c, entiteit, subject_id))


def is_bv03(answer: etree._Element) -> bool:
    return etree.QName(answer).localname == "Bv03Bericht"


# Toevoeging -----------------------------------------------------------------


def test_a_person_added_is_stored_with_every_element(
    send: Sender, register: Klantregister
) -> None:
    """npsLk01 T stores every element the register keeps, and answers Bv03."""
    answer = send(kennisgeving("NPS", "T", JAN))

    assert is_bv03(answer)
    subject = stored(register, NPS, {"bsn": BSN_JAN})
    assert {k: subject.gegevens[k] for k in JAN} == JAN
    assert subject.versie == 1 and not subject.verwijderd


def test_a_toevoeging_writes_the_first_history_row(
    send: Sender, register: Klantregister, clock: Clock
) -> None:
    """The history starts with a T row: the state, the sender, the moment."""
    send(kennisgeving("NPS", "T", JAN, referentienummer="ref-t-1"))

    subject = stored(register, NPS, {"bsn": BSN_JAN})
    [row] = history(register, NPS, subject.id)
    assert row["mutatiesoort"] == "T"
    assert row["bron"] == "stuf:0392/TESTAPP"
    assert row["referentienummer"] == "ref-t-1"
    assert row["geregistreerd_op"] == clock.now
    assert row["geslachtsnaam"] == "Jansen" and row["versie"] == 1


def test_an_incomplete_birth_date_keeps_its_indicator(
    send: Sender, register: Klantregister
) -> None:
    """StUF's incomplete dates are kept: 19800000 with indOnvolledigeDatum M."""
    message = kennisgeving("NPS", "T", {"bsn": BSN_JAN, "geboortedatum": "19800000"})
    datum = message.find(".//{*}geboortedatum")
    assert datum is not None
    datum.set("{http://www.egem.nl/StUF/StUF0301}indOnvolledigeDatum", "M")
    send(message)

    subject = stored(register, NPS, {"bsn": BSN_JAN})
    assert subject.gegevens["geboortedatum"] == "19800000"
    assert subject.gegevens["geboortedatum_indicator"] == "M"


def test_a_company_and_its_vestiging_are_stored(
    send: Sender, register: Klantregister
) -> None:
    """nnpLk01 T (KvK number in extraElementen) and vesLk01 T (KvK number in
    the relation to the maatschappelijke activiteit) are both stored."""
    assert is_bv03(send(kennisgeving("NNP", "T", ACME)))
    assert is_bv03(send(kennisgeving("VES", "T", WINKEL)))

    company = stored(register, NNP, {"rsin": RSIN_ACME})
    assert company.gegevens["kvk_nummer"] == KVK_ACME
    assert company.gegevens["statutaire_naam"] == "Acme B.V."
    vestiging = stored(register, VES, {"vestigingsnummer": "000012345678"})
    assert vestiging.gegevens["kvk_nummer"] == KVK_ACME
    assert vestiging.gegevens["verblijf_postcode"] == "3511AB"


def test_a_company_without_rsin_is_known_by_its_kvk_number(
    send: Sender, register: Klantregister
) -> None:
    """A niet-natuurlijk persoon with only a KvK number is stored by it."""
    send(
        kennisgeving(
            "NNP", "T", {"kvk_nummer": "87654321", "statutaire_naam": "Eenmanszaak"}
        )
    )

    assert stored(register, NNP, {"kvk_nummer": "87654321"}).gegevens["rsin"] is None


def test_a_second_toevoeging_of_a_known_person_is_refused(send: Sender) -> None:
    """T of an existing BSN with other values: StUF058, pointing at W."""
    send(kennisgeving("NPS", "T", JAN))
    fault = send.fault(kennisgeving("NPS", "T", {**JAN, "geslachtsnaam": "Janssen"}))

    assert (fault.code, fault.plek) == ("StUF058", "client")
    assert "bestaat al" in fault.omschrijving
    assert "mutatiesoort W" in (fault.details or "")


def test_the_same_toevoeging_again_changes_nothing(
    send: Sender, register: Klantregister
) -> None:
    """T repeated with the same values (a new referentienummer): Bv03, no
    second history row."""
    send(kennisgeving("NPS", "T", JAN))
    assert is_bv03(send(kennisgeving("NPS", "T", JAN)))

    subject = stored(register, NPS, {"bsn": BSN_JAN})
    assert len(history(register, NPS, subject.id)) == 1


def test_an_informative_toevoeging_merges_into_the_known_person(
    send: Sender, register: Klantregister
) -> None:
    """T with indicatorOvername I (a zaak's initiator published by a route)
    takes the new values, keeps the rest and makes no duplicate."""
    send(kennisgeving("NPS", "T", JAN))
    send(
        kennisgeving(
            "NPS",
            "T",
            {"bsn": BSN_JAN, "emailadres": "nieuw@example.nl", "telefoonnummer": None},
            overname="I",
        )
    )

    subject = stored(register, NPS, {"bsn": BSN_JAN})
    assert subject.gegevens["emailadres"] == "nieuw@example.nl"
    assert subject.gegevens["telefoonnummer"] == "0301234567"
    assert subject.gegevens["geslachtsnaam"] == "Jansen"
    count = register.database.read(
        lambda c: c.execute(sa.select(sa.func.count()).select_from(NPS.table)).scalar()
    )
    assert count == 1


# Wijziging ------------------------------------------------------------------


def test_a_wijziging_applies_the_wordt_object(
    send: Sender, register: Klantregister, clock: Clock
) -> None:
    """W with a current was-object changes the person and adds history W."""
    send(kennisgeving("NPS", "T", JAN))
    clock.advance(60)
    answer = send(
        kennisgeving(
            "NPS",
            "W",
            {"bsn": BSN_JAN, "geslachtsnaam": "Jansen"},
            {"bsn": BSN_JAN, "geslachtsnaam": "Jansen-de Boer"},
        )
    )

    assert is_bv03(answer)
    subject = stored(register, NPS, {"bsn": BSN_JAN})
    assert subject.gegevens["geslachtsnaam"] == "Jansen-de Boer"
    assert subject.gegevens["voornamen"] == "Jan"
    assert subject.versie == 2
    rows = history(register, NPS, subject.id)
    assert [r["mutatiesoort"] for r in rows] == ["T", "W"]
    assert [r["geslachtsnaam"] for r in rows] == ["Jansen", "Jansen-de Boer"]
    assert rows[1]["geregistreerd_op"] == rows[0]["geregistreerd_op"] + 60


def test_an_address_is_replaced_whole(send: Sender, register: Klantregister) -> None:
    """A new verblijfsadres without huisletter leaves no old huisletter."""
    send(kennisgeving("NPS", "T", JAN))
    send(
        kennisgeving(
            "NPS",
            "W",
            {"bsn": BSN_JAN, "verblijf_postcode": "1234AB"},
            {
                "bsn": BSN_JAN,
                "verblijf_straatnaam": "Dorpsweg",
                "verblijf_postcode": "9876ZX",
                "verblijf_huisnummer": "3",
                "verblijf_woonplaats": "Zwolle",
            },
        )
    )

    subject = stored(register, NPS, {"bsn": BSN_JAN})
    assert subject.gegevens["verblijf_postcode"] == "9876ZX"
    assert subject.gegevens["verblijf_huisletter"] is None


def test_a_stale_was_object_is_refused_precisely(
    send: Sender, register: Klantregister
) -> None:
    """W whose was-object no longer matches: StUF058 naming the element that
    differs, and nothing changes."""
    send(kennisgeving("NPS", "T", JAN))
    fault = send.fault(
        kennisgeving(
            "NPS",
            "W",
            {"bsn": BSN_JAN, "geslachtsnaam": "Pietersen"},
            {"bsn": BSN_JAN, "geslachtsnaam": "Jansen-de Boer"},
        )
    )

    assert (fault.code, fault.plek) == ("StUF058", "client")
    assert fault.omschrijving == "Was-object wijkt af van de registratie"
    assert [v.path for v in fault.violations] == ["/npsLk01/object[1]/geslachtsnaam"]
    assert fault.violations[0].line is not None
    assert stored(register, NPS, {"bsn": BSN_JAN}).gegevens["geslachtsnaam"] == "Jansen"


def test_a_wijziging_of_an_unknown_person_is_object_niet_gevonden(send: Sender) -> None:
    """W for a BSN the register does not know: StUF064, BSN masked."""
    fault = send.fault(
        kennisgeving(
            "NPS", "W", {"bsn": BSN_PIET}, {"bsn": BSN_PIET, "voornamen": "Piet"}
        )
    )

    assert (fault.code, fault.plek) == ("StUF064", "client")
    assert BSN_PIET not in (fault.details or "")
    assert "*****6782" in (fault.details or "")


def test_the_bsn_cannot_change_in_a_wijziging(send: Sender) -> None:
    """A wordt-object with another BSN is refused: delete and add instead."""
    send(kennisgeving("NPS", "T", JAN))
    fault = send.fault(kennisgeving("NPS", "W", {"bsn": BSN_JAN}, {"bsn": BSN_PIET}))

    assert fault.code == "StUF058"
    assert "inp.bsn kan niet wijzigen" in fault.omschrijving


def test_a_wijziging_of_a_vestiging_moves_it(
    send: Sender, register: Klantregister
) -> None:
    """vesLk01 W changes the handelsnaam of a vestiging."""
    send(kennisgeving("VES", "T", WINKEL))
    send(
        kennisgeving(
            "VES",
            "W",
            {"vestigingsnummer": "000012345678", "handelsnaam": "Acme Utrecht"},
            {"vestigingsnummer": "000012345678", "handelsnaam": "Acme Centrum"},
        )
    )

    subject = stored(register, VES, {"vestigingsnummer": "000012345678"})
    assert subject.gegevens["handelsnaam"] == "Acme Centrum"


def test_a_wijziging_of_a_company_found_by_rsin(
    send: Sender, register: Klantregister
) -> None:
    """nnpLk01 W identifies the company by inn.nnpId."""
    send(kennisgeving("NNP", "T", ACME))
    send(
        kennisgeving(
            "NNP",
            "W",
            {"rsin": RSIN_ACME, "statutaire_naam": "Acme B.V."},
            {"rsin": RSIN_ACME, "statutaire_naam": "Acme Holding B.V."},
        )
    )

    assert stored(register, NNP, {"rsin": RSIN_ACME}).gegevens["statutaire_naam"] == (
        "Acme Holding B.V."
    )


# Correctie and verwijdering ---------------------------------------------------


def test_a_correctie_is_applied_and_recorded_as_c(
    send: Sender, register: Klantregister
) -> None:
    """C corrects like W; its history row says C."""
    send(kennisgeving("NPS", "T", JAN))
    send(
        kennisgeving(
            "NPS",
            "C",
            {"bsn": BSN_JAN, "voornamen": "Jan"},
            {"bsn": BSN_JAN, "voornamen": "Johannes"},
        )
    )

    subject = stored(register, NPS, {"bsn": BSN_JAN})
    assert subject.gegevens["voornamen"] == "Johannes"
    assert [r["mutatiesoort"] for r in history(register, NPS, subject.id)] == ["T", "C"]


def test_a_verwijdering_marks_the_person_deleted_and_keeps_history(
    send: Sender, register: Klantregister
) -> None:
    """V marks the subject deleted; the history ends with V."""
    send(kennisgeving("NPS", "T", JAN))
    assert is_bv03(send(kennisgeving("NPS", "V", {"bsn": BSN_JAN})))

    subject = stored(register, NPS, {"bsn": BSN_JAN})
    assert subject.verwijderd
    rows = history(register, NPS, subject.id)
    assert [r["mutatiesoort"] for r in rows] == ["T", "V"]
    assert rows[-1]["verwijderd"] is True


def test_a_deleted_person_can_be_added_again(
    send: Sender, register: Klantregister
) -> None:
    """T after V revives the same row with only the new values."""
    send(kennisgeving("NPS", "T", JAN))
    send(kennisgeving("NPS", "V", {"bsn": BSN_JAN}))
    send(kennisgeving("NPS", "T", {"bsn": BSN_JAN, "geslachtsnaam": "Jansen"}))

    subject = stored(register, NPS, {"bsn": BSN_JAN})
    assert not subject.verwijderd
    assert subject.gegevens["voornamen"] is None
    assert [r["mutatiesoort"] for r in history(register, NPS, subject.id)] == [
        "T",
        "V",
        "T",
    ]


def test_a_verwijdering_of_a_deleted_person_is_object_niet_gevonden(
    send: Sender,
) -> None:
    """V twice: the second finds nothing (StUF064)."""
    send(kennisgeving("NPS", "T", JAN))
    send(kennisgeving("NPS", "V", {"bsn": BSN_JAN}))

    assert send.fault(kennisgeving("NPS", "V", {"bsn": BSN_JAN})).code == "StUF064"


# Invalid values -------------------------------------------------------------


def test_a_bsn_failing_the_elfproef_is_refused_with_its_path(send: Sender) -> None:
    """StUF055 (plek client) with the element's path; the BSN is masked."""
    fault = send.fault(kennisgeving("NPS", "T", {**JAN, "bsn": BSN_INVALID}))

    assert (fault.code, fault.plek) == ("StUF055", "client")
    [violation] = fault.violations
    assert violation.path == "/npsLk01/object/inp.bsn"
    assert "elfproef" in violation.rule
    assert BSN_INVALID not in str(fault) + violation.rule + fault.omschrijving
    assert "*****6789" in violation.rule


def test_nine_zeros_are_no_bsn(send: Sender) -> None:
    """000000000 passes the arithmetic of the 11-test but is refused."""
    fault = send.fault(kennisgeving("NPS", "T", {**JAN, "bsn": "000000000"}))

    assert fault.code == "StUF055"


def test_an_invalid_rsin_and_date_are_each_reported(send: Sender) -> None:
    """Every invalid value is a violation of its own."""
    message = kennisgeving("NNP", "T", {**ACME, "rsin": "001234561"})
    fault = send.fault(message)
    assert [v.path for v in fault.violations] == ["/nnpLk01/object/inn.nnpId"]

    fault = send.fault(
        kennisgeving(
            "NPS", "T", {**JAN, "bsn": BSN_INVALID, "geboortedatum": "19800230"}
        )
    )
    assert {v.path for v in fault.violations} == {
        "/npsLk01/object/inp.bsn",
        "/npsLk01/object/geboortedatum",
    }


def test_a_kvk_number_of_the_wrong_length_is_refused(send: Sender) -> None:
    """A KvK number in extraElementen must have 8 digits."""
    message = kennisgeving("NNP", "T", {**ACME, "kvk_nummer": "1234567"})
    assert send.fault(message).code == "StUF055"


def test_a_wijziging_needs_two_objects(send: Sender) -> None:
    """W with one object: StUF055 saying that W asks for was and wordt."""
    fault = send.fault(kennisgeving("NPS", "W", {"bsn": BSN_JAN}))

    assert fault.code == "StUF055"
    assert "was en wordt" in fault.violations[0].rule


def test_an_object_without_its_key_is_refused(send: Sender) -> None:
    """A person without inp.bsn cannot be identified."""
    fault = send.fault(kennisgeving("NPS", "T", {"geslachtsnaam": "Naamloos"}))

    assert fault.code == "StUF055"
    assert "inp.bsn" in fault.violations[0].rule


def test_an_unsupported_mutatiesoort_is_refused(send: Sender) -> None:
    """F (formele historie) is not handled: StUF058 saying which are."""
    fault = send.fault(kennisgeving("NPS", "F", {"bsn": BSN_JAN}, JAN))

    assert fault.code == "StUF058"
    assert "T, W, V en C" in (fault.details or "")
