"""StUF-BG through a real broker to the klantregister, end to end.

``emo run`` with the default ``config/routes.yaml`` (copied as it is): every
message at ``POST /stuf/bg`` is answered by the klantregister, whose
database is then ``./var/klantregister.db`` in the broker's working folder.
The tests talk to it over HTTP as a backoffice application would, and check
every answer against the official schemas.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import pytest
from lxml import etree

from esb.schemaset import SchemaRegistry
from tests.conftest import ROOT
from tests.esb.conftest import (
    RunningBroker,
    assert_fault,
    assert_no_leak,
    request_stuurgegevens,
    start_broker,
)
from tests.registers.klantregister.berichten import (
    BG,
    BSN_INVALID,
    BSN_JAN,
    BSN_KLAAS,
    BSN_PIET,
    answered,
    envelope,
    kennisgeving,
    value,
    vraag,
)

BG_ACTION = "http://www.egem.nl/StUF/sector/bg/0310/"
SOAP = "{http://schemas.xmlsoap.org/soap/envelope/}"
ALL_BSNS = (BSN_JAN, BSN_PIET, BSN_KLAAS, BSN_INVALID)


@pytest.fixture(scope="module")
def bg_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    """A broker with the default routes; the klantregister in ./var."""
    base = tmp_path_factory.mktemp("bg-broker")
    (base / "config").mkdir()
    shutil.copy(ROOT / "config" / "routes.yaml", base / "config" / "routes.yaml")
    saved = os.environ.pop("EMO_KLANTREGISTER_URL", None)
    try:
        running = start_broker(base)
    finally:
        if saved is not None:
            os.environ["EMO_KLANTREGISTER_URL"] = saved
    yield running
    running.stop()


def post(broker: RunningBroker, message: etree._Element) -> tuple[int, bytes]:
    name = etree.QName(message).localname
    response = broker.post(envelope(message), f'"{BG_ACTION}{name}"', path="/stuf/bg")
    assert_no_leak(response)
    return response.status, response.body


def bericht(body: bytes) -> etree._Element:
    root = etree.fromstring(body)
    soap_body = root.find(SOAP + "Body")
    assert soap_body is not None
    [element] = list(soap_body)
    return element


def test_a_person_added_over_soap_is_found_by_a_vraag(
    bg_broker: RunningBroker, official: SchemaRegistry
) -> None:
    """npsLk01 T answered Bv03, then npsLv01 by BSN answered npsLa01 with
    the person; both answers valid StUF, in the broker's ./var database."""
    person = {
        "bsn": BSN_JAN,
        "geslachtsnaam": "Jansen",
        "voornamen": "Jan",
        "geboortedatum": "19800517",
        "verblijf_postcode": "1234AB",
        "verblijf_huisnummer": "12",
    }
    status, body = post(bg_broker, kennisgeving("NPS", "T", person))
    assert status == 200, body
    confirmation = bericht(body)
    assert etree.QName(confirmation).localname == "Bv03Bericht"
    assert official.validate(confirmation) == []

    status, body = post(bg_broker, vraag("NPS", {"bsn": BSN_JAN}))
    assert status == 200, body
    answer = bericht(body)
    assert etree.QName(answer).localname == "npsLa01"
    assert official.validate(answer) == []
    [found] = answered(answer)
    assert value(found, "geslachtsnaam") == "Jansen"
    assert value(found, "verblijfsadres/aoa.postcode") == "1234AB"
    assert (bg_broker.data_dir.parent / "var" / "klantregister.db").exists()


def test_persons_are_found_by_name_and_birth_date_and_by_address(
    bg_broker: RunningBroker, official: SchemaRegistry
) -> None:
    """Two more persons; vragen by geslachtsnaam and geboortedatum, and by
    postcode and huisnummer, through the broker."""
    for person in (
        {
            "bsn": BSN_PIET,
            "geslachtsnaam": "Bakker",
            "geboortedatum": "19700101",
            "verblijf_postcode": "9876ZX",
            "verblijf_huisnummer": "3",
        },
        {
            "bsn": BSN_KLAAS,
            "geslachtsnaam": "Bakker",
            "geboortedatum": "19700101",
            "verblijf_postcode": "9876ZX",
            "verblijf_huisnummer": "5",
        },
    ):
        assert post(bg_broker, kennisgeving("NPS", "T", person))[0] == 200

    status, body = post(
        bg_broker,
        vraag(
            "NPS", {"geslachtsnaam": "Bakker", "geboortedatum": "19700101"}, sortering=8
        ),
    )
    answer = bericht(body)
    assert official.validate(answer) == []
    assert [value(o, "inp.bsn") for o in answered(answer)] == sorted(
        [BSN_PIET, BSN_KLAAS]
    )

    status, body = post(
        bg_broker,
        vraag("NPS", {"verblijf_postcode": "9876ZX", "verblijf_huisnummer": "5"}),
    )
    assert status == 200
    assert [value(o, "inp.bsn") for o in answered(bericht(body))] == [BSN_KLAAS]


def test_a_vraag_that_finds_nobody_gets_an_empty_la01(
    bg_broker: RunningBroker, official: SchemaRegistry
) -> None:
    """No match: npsLa01 without antwoord, status 200, not a fault."""
    status, body = post(bg_broker, vraag("NPS", {"bsn": "100000009"}))

    assert status == 200
    answer = bericht(body)
    assert official.validate(answer) == []
    assert answer.find(BG + "antwoord") is None


def test_a_stale_was_object_gets_the_registers_fault(
    bg_broker: RunningBroker, official: SchemaRegistry
) -> None:
    """W with an outdated was-object: the sender gets the register's Fo03
    (StUF058, plek client) as the broker received it."""
    message = kennisgeving(
        "NPS",
        "W",
        {"bsn": BSN_JAN, "geslachtsnaam": "Pietersen"},
        {"bsn": BSN_JAN, "geslachtsnaam": "Jansen-de Boer"},
    )
    response = bg_broker.post(
        envelope(message), f'"{BG_ACTION}npsLk01"', path="/stuf/bg"
    )

    fault = assert_fault(
        response,
        "StUF058",
        official=official,
        request=request_stuurgegevens(envelope(message)),
        plek="client",
    )
    assert fault.omschrijving == "Was-object wijkt af van de registratie"
    assert [e.path for e in fault.schema_errors] == ["/npsLk01/object[1]/geslachtsnaam"]


def test_an_invalid_bsn_is_refused_with_a_precise_fault(
    bg_broker: RunningBroker, official: SchemaRegistry
) -> None:
    """A BSN failing the 11-test (valid to the schema): StUF055 from the
    register, naming the element; the BSN itself is not in the answer's
    texts."""
    message = kennisgeving("NPS", "T", {"bsn": BSN_INVALID, "geslachtsnaam": "X"})
    response = bg_broker.post(
        envelope(message), f'"{BG_ACTION}npsLk01"', path="/stuf/bg"
    )

    fault = assert_fault(
        response,
        "StUF055",
        official=official,
        request=request_stuurgegevens(envelope(message)),
        plek="client",
    )
    assert [e.path for e in fault.schema_errors] == ["/npsLk01/object/inp.bsn"]
    assert BSN_INVALID not in fault.omschrijving + fault.details
    assert BSN_INVALID not in "".join(e.rule for e in fault.schema_errors)


def test_a_company_and_vestiging_round_trip(
    bg_broker: RunningBroker, official: SchemaRegistry
) -> None:
    """nnpLk01 and vesLk01 T, then nnpLv01 and vesLv01 by KvK number."""
    kvk = "12345678"
    company = {"rsin": "001234560", "kvk_nummer": kvk, "statutaire_naam": "Acme B.V."}
    vestiging = {
        "vestigingsnummer": "000012345678",
        "handelsnaam": "Acme",
        "kvk_nummer": kvk,
    }
    assert post(bg_broker, kennisgeving("NNP", "T", company))[0] == 200
    assert post(bg_broker, kennisgeving("VES", "T", vestiging))[0] == 200

    for code, name in (("NNP", "statutaireNaam"), ("VES", "handelsnaam")):
        status, body = post(bg_broker, vraag(code, {"kvk_nummer": kvk}))
        answer = bericht(body)
        assert status == 200 and official.validate(answer) == []
        assert [value(o, name) for o in answered(answer)] == [
            "Acme B.V." if code == "NNP" else "Acme"
        ]


def test_the_broker_log_holds_no_bsn(bg_broker: RunningBroker) -> None:
    """After all of the above (faults included), no BSN in the broker's log;
    the klantregister's events are there, naming subjects by row id."""
    log = bg_broker.log_text()

    assert "Klantregister npsLk01" in log
    assert not [bsn for bsn in ALL_BSNS if bsn in log]


def test_a_unique_message_id_per_answer(bg_broker: RunningBroker) -> None:
    """Each answer has a referentienummer of its own (the broker's id)."""
    first = bericht(post(bg_broker, vraag("NPS", {"bsn": BSN_JAN}))[1])
    second = bericht(post(bg_broker, vraag("NPS", {"bsn": BSN_JAN}))[1])
    s = "{http://www.egem.nl/StUF/StUF0301}"
    path = f"{BG}stuurgegevens/{s}referentienummer"

    assert first.findtext(path) != second.findtext(path)
    assert uuid.UUID(hex=first.findtext(path) or "")


def test_the_initiators_of_the_example_zaken_become_clients(
    bg_broker: RunningBroker, official: SchemaRegistry
) -> None:
    """The default routes send a copy of every ZDS message to the
    klantregister: after the real creeerZaak requests are replayed at
    /stuf/zds, their initiators are found by BSN at /stuf/bg, once each."""
    import time

    from tests.conftest import EXAMPLES
    from tests.esb.conftest import soap_action_for

    for path in (
        EXAMPLES / "gisvg-flow" / "creeerZaak_Lk01.request.xml",
        EXAMPLES / "regressions" / "Issue332-creeerZaak_Lk01.request.xml",
        EXAMPLES / "haarlem" / "creeerzaakRequest.xml",
    ):
        action = soap_action_for(path)
        bg_broker.post(path.read_bytes(), f'"{action}"')

    for bsn, geslachtsnaam in (("111111110", None), ("900070511", "Mug")):
        found: list[etree._Element] = []
        deadline = time.monotonic() + 30
        while not found and time.monotonic() < deadline:
            # The copy is delivered on its own, after the zaakregister answered.
            status, body = post(bg_broker, vraag("NPS", {"bsn": bsn}))
            assert status == 200, body
            answer = bericht(body)
            assert official.validate(answer) == []
            found = answered(answer)
            if not found:
                time.sleep(0.2)
        assert len(found) == 1, f"initiator {bsn} not learnt once"
        if geslachtsnaam:
            assert value(found[0], "geslachtsnaam") == geslachtsnaam
