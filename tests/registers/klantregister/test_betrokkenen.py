"""One view of a client: the register learns initiators from zaken.

The zaak messages are the real ones in ``../shared/stuf/examples`` (ZDS 1.2
from Haarlem, ZDS 1.1 from GISvg, a StUF-ZKN updateZaak), given to the
register the way the broker hands them over after a wiretap.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from lxml import etree

from esb.envelope import open_envelope, parse_xml
from esb.errors import StufFault
from esb.identify import identify
from registers.klantregister import Klantregister, store
from registers.klantregister.entiteiten import NNP, NPS, VES
from registers.klantregister.kennisgeving import Uitkomst
from tests.conftest import EXAMPLES
from tests.registers.klantregister.berichten import (
    BSN_INVALID,
    BSN_JAN,
    KVK_ACME,
    RSIN_ACME,
    kennisgeving,
)
from tests.registers.klantregister.conftest import Clock, Sender
from tests.registers.klantregister.test_kennisgeving import history, stored

ZKN = "http://www.egem.nl/StUF/sector/zkn/0310/"


def example(name: str) -> etree._Element:
    return open_envelope(parse_xml((EXAMPLES / name).read_bytes())).body


def count(register: Klantregister, table: sa.Table) -> int:
    return int(
        register.database.read(
            lambda c: c.execute(
                sa.select(sa.func.count()).select_from(table)
            ).scalar_one()
        )
    )


def test_an_unknown_betrokkene_is_added(register: Klantregister) -> None:
    """learn_from_betrokkene with a new BSN adds the person (history T)."""
    uitkomst = register.learn_from_betrokkene(
        {
            "bsn": BSN_JAN,
            "geslachtsnaam": "Jansen",
            "voornamen": "Jan",
            "geboortedatum": "19800517",
            "verblijf_postcode": "1234 ab",
            "verblijf_huisnummer": "12",
        },
        bron="zaak:0392/ZAAKSYS",
        referentienummer="zaak-1",
    )

    assert (uitkomst.entiteit, uitkomst.uitkomst) == ("NPS", "aangemaakt")
    subject = stored(register, NPS, {"bsn": BSN_JAN})
    assert subject.gegevens["verblijf_postcode"] == "1234AB"
    [row] = history(register, NPS, subject.id)
    assert (row["mutatiesoort"], row["bron"]) == ("T", "zaak:0392/ZAAKSYS")


def test_a_known_betrokkene_is_updated_never_duplicated(
    register: Klantregister,
) -> None:
    """The same BSN again: one person, new values taken, empty ones erase
    nothing; the same data a third time changes nothing."""
    register.learn_from_betrokkene(
        {"bsn": BSN_JAN, "geslachtsnaam": "Jansen", "telefoonnummer": "0301234567"}
    )
    second = register.learn_from_betrokkene(
        {
            "bsn": BSN_JAN,
            "geslachtsnaam": "Jansen",
            "emailadres": "jan@example.nl",
            "telefoonnummer": None,
        }
    )
    third = register.learn_from_betrokkene({"bsn": BSN_JAN, "geslachtsnaam": "Jansen"})

    assert (second.uitkomst, third.uitkomst) == ("gewijzigd", "ongewijzigd")
    assert count(register, NPS.table) == 1
    subject = stored(register, NPS, {"bsn": BSN_JAN})
    assert subject.gegevens["telefoonnummer"] == "0301234567"
    assert subject.gegevens["emailadres"] == "jan@example.nl"


def test_a_new_address_replaces_the_old_one_whole(register: Klantregister) -> None:
    """An address learnt with any value replaces the stored address."""
    register.learn_from_betrokkene(
        {
            "bsn": BSN_JAN,
            "verblijf_postcode": "1234AB",
            "verblijf_huisletter": "a",
            "verblijf_huisnummer": "1",
        }
    )
    register.learn_from_betrokkene(
        {"bsn": BSN_JAN, "verblijf_postcode": "9876ZX", "verblijf_huisnummer": "5"}
    )

    gegevens = stored(register, NPS, {"bsn": BSN_JAN}).gegevens
    assert (gegevens["verblijf_postcode"], gegevens["verblijf_huisletter"]) == (
        "9876ZX",
        None,
    )


def test_a_company_is_learnt_by_rsin_or_kvk_number(register: Klantregister) -> None:
    """A company known by its KvK number, later named with RSIN and KvK
    number, stays one company and gains the RSIN."""
    register.learn_from_betrokkene({"kvk_nummer": KVK_ACME, "statutaire_naam": "Acme"})
    register.learn_from_betrokkene(
        {"rsin": RSIN_ACME, "kvk_nummer": KVK_ACME, "statutaire_naam": "Acme"}
    )

    assert count(register, NNP.table) == 1
    assert stored(register, NNP, {"kvk_nummer": KVK_ACME}).gegevens["rsin"] == RSIN_ACME


def test_contradicting_numbers_are_refused(register: Klantregister) -> None:
    """RSIN of one company with another KvK number: refused, not merged."""
    register.learn_from_betrokkene({"rsin": RSIN_ACME, "kvk_nummer": KVK_ACME})

    with pytest.raises(StufFault) as raised:
        register.learn_from_betrokkene({"rsin": RSIN_ACME, "kvk_nummer": "87654321"})
    assert raised.value.code == "StUF058"


def test_an_invalid_bsn_is_not_learnt(register: Klantregister) -> None:
    """A BSN failing the 11-test: StUF055, nothing stored, BSN masked."""
    with pytest.raises(StufFault) as raised:
        register.learn_from_betrokkene({"bsn": BSN_INVALID, "geslachtsnaam": "X"})

    assert raised.value.code == "StUF055"
    assert BSN_INVALID not in str(raised.value.full_details)
    assert count(register, NPS.table) == 0


def test_an_unknown_field_is_a_programming_error(register: Klantregister) -> None:
    """A key the register does not know raises ValueError naming it."""
    with pytest.raises(ValueError, match="achternaam"):
        register.learn_from_betrokkene({"bsn": BSN_JAN, "achternaam": "Jansen"})


@pytest.mark.parametrize(
    ("name", "soap_action", "bsn", "geslachtsnaam"),
    [
        ("haarlem/creeerzaakRequest.xml", None, "900070511", "Mug"),
        (
            "gisvg-flow/creeerZaak_Lk01.request.xml",
            ZKN + "creeerZaak_Lk01",
            "111111110",
            "Precies",
        ),
        (
            "regressions/Issue332-updateZaak_Lk01.request.xml",
            ZKN + "updateZaak_Lk01",
            "111111110",
            "Precies",
        ),
    ],
)
def test_the_initiator_of_a_real_zaak_is_learnt(
    register: Klantregister,
    name: str,
    soap_action: str | None,
    bsn: str,
    geslachtsnaam: str,
) -> None:
    """creeerZaak (ZDS 1.2 and 1.1) and updateZaak: the initiator becomes a
    client, answered with Bv03."""
    body = example(name)
    answer = register.handle(
        body, identify(body, soap_action), referentienummer="wiretap-1"
    )

    assert answer is not None and etree.QName(answer).localname == "Bv03Bericht"
    subject = stored(register, NPS, {"bsn": bsn})
    assert subject.gegevens["geslachtsnaam"] == geslachtsnaam


def test_the_same_zaak_twice_makes_one_client(register: Klantregister) -> None:
    """creeerZaak then updateZaak with the same initiator: one person."""
    for name, action in (
        ("regressions/Issue332-creeerZaak_Lk01.request.xml", "creeerZaak_Lk01"),
        ("regressions/Issue332-updateZaak_Lk01.request.xml", "updateZaak_Lk01"),
    ):
        body = example(name)
        register.handle(body, identify(body, ZKN + action), referentienummer=name)

    assert count(register, NPS.table) == 1
    subject = stored(register, NPS, {"bsn": "111111110"})
    assert subject.gegevens["verblijf_woonplaats"] == "Bolsward"


def test_other_zaak_messages_are_not_the_registers_business(
    register: Klantregister,
) -> None:
    """geefZaakdetails (a vraag) through a wiretap: no answer, nothing stored."""
    body = example("gisvg-flow/geefZaakdetails_Lv01.request.xml")
    answer = register.handle(
        body, identify(body, ZKN + "geefZaakdetails_Lv01"), referentienummer="x"
    )

    assert answer is None
    assert count(register, NPS.table) == 0


def test_a_vestiging_initiator_is_learnt(register: Klantregister) -> None:
    """A zaak whose initiator is a vestiging: the vestiging is learnt."""
    body = example("haarlem/creeerzaakRequest.xml")
    persoon = body.find(".//{*}heeftAlsInitiator/{*}gerelateerde/{*}natuurlijkPersoon")
    assert persoon is not None
    gerelateerde = persoon.getparent()
    assert gerelateerde is not None
    gerelateerde.remove(persoon)
    vestiging = etree.SubElement(
        gerelateerde, persoon.tag.replace("natuurlijkPersoon", "vestiging")
    )
    bg = "{http://www.egem.nl/StUF/sector/bg/0310}"
    etree.SubElement(vestiging, bg + "vestigingsNummer").text = "000012345678"
    etree.SubElement(vestiging, bg + "handelsnaam").text = "Bakkerij Mug"

    register.handle(body, identify(body, None), referentienummer="ves")

    assert (
        stored(register, VES, {"vestigingsnummer": "000012345678"}).gegevens[
            "handelsnaam"
        ]
        == "Bakkerij Mug"
    )


def test_learning_keeps_the_history_of_each_change(register: Klantregister) -> None:
    """Each learnt change is a history row with its source."""
    register.learn_from_betrokkene(
        {"bsn": BSN_JAN, "geslachtsnaam": "Jansen"}, bron="zaak:a"
    )
    register.learn_from_betrokkene(
        {"bsn": BSN_JAN, "geslachtsnaam": "Janssen"}, bron="zaak:b"
    )

    subject = stored(register, NPS, {"bsn": BSN_JAN})
    rows = register.database.read(lambda c: store.history(c, NPS, subject.id))
    assert [(r["mutatiesoort"], r["bron"]) for r in rows] == [
        ("T", "zaak:a"),
        ("W", "zaak:b"),
    ]


# What a wiretapped zaak writes ----------------------------------------------


def wiretapped(
    register: Klantregister, body: etree._Element, referentienummer: str
) -> list[Uitkomst]:
    """What the register learns from a zaak, as the wiretap hands it over."""
    identification = identify(body, None)
    return register.learn_from_zaak(
        body, identification, referentienummer=referentienummer
    )


def initiator(body: etree._Element) -> etree._Element:
    found = body.find(".//{*}heeftAlsInitiator/{*}gerelateerde/{*}natuurlijkPersoon")
    assert found is not None
    return found


def spy_on_writes(
    register: Klantregister, monkeypatch: pytest.MonkeyPatch
) -> list[object]:
    """The write transactions the register begins from now on."""
    writes: list[object] = []
    original = register.database.write

    def write(work: Any, **options: Any) -> Any:
        writes.append(work)
        return original(work, **options)

    monkeypatch.setattr(register.database, "write", write)
    return writes


def test_an_initiator_known_as_given_writes_nothing(
    register: Klantregister, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same initiator in the next zaak (the common case): ongewijzigd,
    without a write transaction, and the history stays as it was."""
    wiretapped(register, example("haarlem/creeerzaakRequest.xml"), "zaak-1")
    before = stored(register, NPS, {"bsn": "900070511"})
    writes = spy_on_writes(register, monkeypatch)
    clock.advance(60)

    [uitkomst] = wiretapped(
        register, example("haarlem/creeerzaakRequest.xml"), "zaak-2"
    )

    assert (uitkomst.subject_id, uitkomst.uitkomst) == (before.id, "ongewijzigd")
    assert writes == []
    assert stored(register, NPS, {"bsn": "900070511"}) == before
    assert [r["mutatiesoort"] for r in history(register, NPS, before.id)] == ["T"]


def test_a_changed_initiator_is_written_with_its_history(
    register: Klantregister, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same BSN with another geslachtsnaam: one write, versie 2, and a
    history row W with the zaak's zender and referentienummer; what the
    zaak leaves out is kept."""
    wiretapped(register, example("haarlem/creeerzaakRequest.xml"), "zaak-1")
    body = example("haarlem/creeerzaakRequest.xml")
    naam = initiator(body).find("{*}geslachtsnaam")
    assert naam is not None
    naam.text = "Mug-Visser"
    identification = identify(body, None)
    writes = spy_on_writes(register, monkeypatch)
    clock.advance(60)

    [uitkomst] = wiretapped(register, body, "zaak-2")

    assert uitkomst.uitkomst == "gewijzigd"
    assert len(writes) == 1
    subject = stored(register, NPS, {"bsn": "900070511"})
    assert subject.versie == 2
    assert subject.gegevens["geslachtsnaam"] == "Mug-Visser"
    assert subject.gegevens["voornamen"] == "Sjaak"
    rows = history(register, NPS, subject.id)
    assert [(r["mutatiesoort"], r["versie"]) for r in rows] == [("T", 1), ("W", 2)]
    zender = identification.stuurgegevens.zender
    assert rows[1]["bron"] == f"zaak:{zender.organisatie}/{zender.applicatie}"
    assert rows[1]["referentienummer"] == (
        identification.stuurgegevens.referentienummer
    )
    assert rows[1]["geregistreerd_op"] == clock.now
    assert rows[1]["geslachtsnaam"] == "Mug-Visser"


def test_an_address_without_its_huisletter_is_a_change(
    register: Klantregister, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An address is one value: the same address without the huisletter
    the register holds takes the huisletter away; that is no 'known as
    given'."""
    register.learn_from_betrokkene(
        {
            "bsn": BSN_JAN,
            "verblijf_postcode": "1234AB",
            "verblijf_huisnummer": "1",
            "verblijf_huisletter": "a",
        }
    )
    writes = spy_on_writes(register, monkeypatch)

    uitkomst = register.learn_from_betrokkene(
        {"bsn": BSN_JAN, "verblijf_postcode": "1234AB", "verblijf_huisnummer": "1"}
    )

    assert uitkomst.uitkomst == "gewijzigd"
    assert len(writes) == 1
    gegevens = stored(register, NPS, {"bsn": BSN_JAN}).gegevens
    assert gegevens["verblijf_huisletter"] is None


def test_a_deleted_initiator_is_added_again(
    register: Klantregister, send: Sender
) -> None:
    """A person deleted (npsLk01 V) and then named by a zaak comes back,
    with the zaak's values only, and a history row T."""
    wiretapped(register, example("haarlem/creeerzaakRequest.xml"), "zaak-1")
    send(kennisgeving("NPS", "V", {"bsn": "900070511"}))

    [uitkomst] = wiretapped(
        register, example("haarlem/creeerzaakRequest.xml"), "zaak-2"
    )

    assert uitkomst.uitkomst == "aangemaakt"
    subject = stored(register, NPS, {"bsn": "900070511"})
    assert not subject.verwijderd
    assert subject.gegevens["geslachtsnaam"] == "Mug"
    rows = history(register, NPS, subject.id)
    assert [r["mutatiesoort"] for r in rows] == ["T", "V", "T"]


def test_an_unknown_initiator_is_added_with_its_history(
    register: Klantregister, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zaak naming a person the register does not know: one write, the
    person with every value the zaak gives, history T."""
    writes = spy_on_writes(register, monkeypatch)

    [uitkomst] = wiretapped(
        register, example("haarlem/creeerzaakRequest.xml"), "zaak-1"
    )

    assert uitkomst.uitkomst == "aangemaakt"
    assert len(writes) == 1
    subject = stored(register, NPS, {"bsn": "900070511"})
    assert subject.id == uitkomst.subject_id
    assert {
        k: subject.gegevens[k]
        for k in ("geslachtsnaam", "voorvoegsel", "voornamen", "geboortedatum")
    } == {
        "geslachtsnaam": "Mug",
        "voorvoegsel": "de",
        "voornamen": "Sjaak",
        "geboortedatum": "19760930",
    }
    [row] = history(register, NPS, subject.id)
    assert (row["mutatiesoort"], row["versie"], row["verwijderd"]) == ("T", 1, False)


def test_comments_among_the_initiators_elements_are_passed_over(
    register: Klantregister,
) -> None:
    """An XML comment or processing instruction between the elements of
    the initiator (some clients leave them) changes nothing in what is
    read."""
    body = example("haarlem/creeerzaakRequest.xml")
    persoon = initiator(body)
    persoon.insert(0, etree.Comment(" initiator "))
    persoon.insert(3, etree.ProcessingInstruction("client", "note"))

    wiretapped(register, body, "zaak-1")

    subject = stored(register, NPS, {"bsn": "900070511"})
    assert subject.gegevens["voornamen"] == "Sjaak"


def test_concurrent_learners_make_one_client(register: Klantregister) -> None:
    """Eight threads learning the same new person at once (eight zaken
    arriving together): one person, however the writes interleave."""
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def learn(number: int) -> None:
        try:
            barrier.wait()
            uitkomst = register.learn_from_betrokkene(
                {"bsn": BSN_JAN, "geslachtsnaam": "Jansen", "voornamen": f"Jan{number}"}
            )
            outcomes.append(uitkomst.uitkomst)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=learn, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert count(register, NPS.table) == 1
    assert outcomes.count("aangemaakt") == 1
