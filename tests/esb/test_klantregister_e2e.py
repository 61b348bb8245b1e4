"""StUF-BG through a real broker to the klantregister, end to end.

``emo run`` with the default ``config/routes.yaml`` (copied as it is): every
message at ``POST /stuf/bg`` is answered by the klantregister. Its database
is ``./var/klantregister.db`` in the broker's working folder, or, for the
PostgreSQL run, a fresh schema named by ``EMO_KLANTREGISTER_URL``. Every
test runs against both.

The tests talk to the broker over HTTP as a backoffice application would,
check every answer against the official schemas, and read what the register
stored from its database, as the broker left it.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from lxml import etree

from esb.schemaset import SchemaRegistry
from registers.klantregister import store
from registers.klantregister.database import Database
from registers.klantregister.entiteiten import ENTITEITEN, NPS, Entiteit, Leaf
from tests.conftest import EXAMPLES, POSTGRES_URL, ROOT, need_service
from tests.esb.conftest import (
    Fault,
    RunningBroker,
    assert_fault,
    assert_no_leak,
    request_stuurgegevens,
    soap_action_for,
    start_broker,
)
from tests.registers.klantregister.berichten import (
    BG,
    STUF,
    answered,
    envelope,
    kennisgeving,
    parameter,
    value,
    vraag,
)
from tests.registers.klantregister.csvdata import bsns

BG_ACTION = "http://www.egem.nl/StUF/sector/bg/0310/"
SOAP = "{http://schemas.xmlsoap.org/soap/envelope/}"
# The elements that hold a BSN or RSIN in the messages these tests send.
_NUMBERS = re.compile(rb"<BG:(?:inp\.bsn|inn\.nnpId)>([0-9]{9})<")
# The BSNs of the initiators in the example zaken.
EXAMPLE_BSNS = ("111111110", "900070511")


@dataclass
class BgBroker:
    """The running broker, its klantregister's database, and every BSN and
    RSIN sent to it (none may reach its log)."""

    broker: RunningBroker
    database: Database
    sent: set[str] = field(default_factory=set)

    def post(self, message: etree._Element) -> tuple[int, bytes]:
        raw = envelope(message)
        self.sent.update(n.decode() for n in _NUMBERS.findall(raw))
        name = etree.QName(message).localname
        response = self.broker.post(raw, f'"{BG_ACTION}{name}"', path="/stuf/bg")
        assert_no_leak(response)
        return response.status, response.body

    def fault(
        self, message: etree._Element, code: str, official: SchemaRegistry
    ) -> tuple[Fault, bytes]:
        raw = envelope(message)
        self.sent.update(n.decode() for n in _NUMBERS.findall(raw))
        name = etree.QName(message).localname
        response = self.broker.post(raw, f'"{BG_ACTION}{name}"', path="/stuf/bg")
        assert_no_leak(response)
        fault = assert_fault(
            response,
            code,
            official=official,
            request=request_stuurgegevens(raw),
            plek="client",
        )
        return fault, response.body

    def stored(self, entiteit: Entiteit, key: dict[str, str]) -> store.Subject | None:
        return self.database.read(lambda c: store.find(c, entiteit, key))

    def history(self, entiteit: Entiteit, subject_id: int) -> list[dict[str, Any]]:
        return self.database.read(lambda c: store.history(c, entiteit, subject_id))


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def bg(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BgBroker]:
    """A broker with the default routes; the klantregister on SQLite in
    ./var, or in a PostgreSQL schema of its own."""
    base = tmp_path_factory.mktemp(f"bg-broker-{request.param}")
    (base / "config").mkdir()
    shutil.copy(ROOT / "config" / "routes.yaml", base / "config" / "routes.yaml")
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{base / 'var' / 'klantregister.db'}"
        setting = None
    else:
        need_service("PostgreSQL", "127.0.0.1", 5432)
        schema = f"emo_e2e_{uuid.uuid4().hex[:12]}"
        engine = sa.create_engine(POSTGRES_URL)
        with engine.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        url = setting = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"

    saved = os.environ.pop("EMO_KLANTREGISTER_URL", None)
    if setting is not None:
        os.environ["EMO_KLANTREGISTER_URL"] = setting
    try:
        running = start_broker(base)
    finally:
        os.environ.pop("EMO_KLANTREGISTER_URL", None)
        if saved is not None:
            os.environ["EMO_KLANTREGISTER_URL"] = saved
    database = Database.open(url)
    try:
        yield BgBroker(running, database)
    finally:
        database.close()
        running.stop()
        if schema is not None:
            engine = sa.create_engine(POSTGRES_URL)
            with engine.begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            engine.dispose()


def bericht(body: bytes) -> etree._Element:
    root = etree.fromstring(body)
    soap_body = root.find(SOAP + "Body")
    assert soap_body is not None
    [element] = list(soap_body)
    return element


def answer_of(
    bg: BgBroker, message: etree._Element, official: SchemaRegistry
) -> etree._Element:
    """The broker's answer to ``message``: status 200, valid StUF-BG."""
    status, body = bg.post(message)
    assert status == 200, body[:2000]
    answer = bericht(body)
    assert official.validate(answer) == [], etree.tostring(answer)[:2000]
    return answer


def confirmed(bg: BgBroker, message: etree._Element, official: SchemaRegistry) -> None:
    answer = answer_of(bg, message, official)
    assert etree.QName(answer).localname == "Bv03Bericht"


_numbers = bsns(30_000_000)


def new_number() -> str:
    """A valid BSN or RSIN no other test uses."""
    return next(_numbers)


# Kennisgevingen: T, W, stale W, C, V for each entiteit ----------------------


@dataclass(frozen=True)
class Flow:
    """One subject's life: its data, the element a W changes and its values."""

    code: str
    subject: dict[str, str]
    key: dict[str, str]
    column: str
    old: str
    new: str
    corrected: str


def _flow(code: str) -> Flow:
    if code == "NPS":
        bsn = new_number()
        subject = {
            "bsn": bsn,
            "geslachtsnaam": "Visser",
            "geboortedatum": "19750203",
            "verblijf_postcode": "2511AA",
            "verblijf_huisnummer": "4",
        }
        return Flow(
            code,
            subject,
            {"bsn": bsn},
            "geslachtsnaam",
            "Visser",
            "Visser-Mol",
            "Visser-Mol-de Wit",
        )
    kvk = new_number()[:8]
    if code == "NNP":
        rsin = new_number()
        subject = {
            "rsin": rsin,
            "kvk_nummer": kvk,
            "statutaire_naam": "Molen B.V.",
            "bezoek_postcode": "8011AB",
            "bezoek_huisnummer": "2",
        }
        return Flow(
            code,
            subject,
            {"rsin": rsin},
            "statutaire_naam",
            "Molen B.V.",
            "Molen Holding B.V.",
            "Molen Groep B.V.",
        )
    nummer = "0000" + kvk
    subject = {
        "vestigingsnummer": nummer,
        "handelsnaam": "De Molen",
        "kvk_nummer": kvk,
        "verblijf_postcode": "8011AC",
        "verblijf_huisnummer": "3",
    }
    return Flow(
        code,
        subject,
        {"vestigingsnummer": nummer},
        "handelsnaam",
        "De Molen",
        "Molen Zwolle",
        "Molen Zwolle-Zuid",
    )


@pytest.mark.parametrize("code", ["NPS", "NNP", "VES"])
def test_every_kennisgeving_through_the_broker(
    bg: BgBroker, official: SchemaRegistry, code: str
) -> None:
    """T, W (was/wordt), a stale W, C and V of a person, a company and a
    vestiging: each answered (Bv03, or Fo03 StUF058 naming the stale
    element), each stored as it says, with its history row."""
    flow = _flow(code)
    entiteit = ENTITEITEN[code]
    leaf = entiteit.fields[flow.column]
    assert isinstance(leaf, Leaf)
    element = leaf.element

    confirmed(bg, kennisgeving(code, "T", flow.subject), official)
    subject = bg.stored(entiteit, flow.key)
    assert subject is not None
    assert {c: subject.gegevens[c] for c in flow.subject} == flow.subject

    was = {**flow.key, flow.column: flow.old}
    confirmed(
        bg,
        kennisgeving(code, "W", was, {**flow.subject, flow.column: flow.new}),
        official,
    )
    subject = bg.stored(entiteit, flow.key)
    assert subject is not None and subject.gegevens[flow.column] == flow.new

    # The same was-object again is stale now: refused, nothing changes.
    fault, _ = bg.fault(
        kennisgeving(code, "W", was, {**flow.subject, flow.column: "Anders"}),
        "StUF058",
        official,
    )
    assert fault.omschrijving == "Was-object wijkt af van de registratie"
    assert [e.path for e in fault.schema_errors] == [
        f"/{code.lower()}Lk01/object[1]/{element}"
    ]
    unchanged = bg.stored(entiteit, flow.key)
    assert unchanged is not None and unchanged.gegevens[flow.column] == flow.new

    confirmed(
        bg,
        kennisgeving(
            code,
            "C",
            {**flow.key, flow.column: flow.new},
            {**flow.subject, flow.column: flow.corrected},
        ),
        official,
    )
    confirmed(bg, kennisgeving(code, "V", flow.key), official)

    subject = bg.stored(entiteit, flow.key)
    assert subject is not None and subject.verwijderd
    rows = bg.history(entiteit, subject.id)
    assert [r["mutatiesoort"] for r in rows] == ["T", "W", "C", "V"]
    assert [r[flow.column] for r in rows] == [
        flow.old,
        flow.new,
        flow.corrected,
        flow.corrected,
    ]
    assert all(r["bron"] == "stuf:0392/TESTAPP" for r in rows)
    # Deleted: no vraag finds it, and a W of it finds nothing (StUF064).
    assert answered(answer_of(bg, vraag(code, flow.key), official)) == []
    fault, _ = bg.fault(
        kennisgeving(code, "W", flow.key, flow.subject), "StUF064", official
    )
    assert "niet gevonden" in fault.omschrijving


# Vragen ---------------------------------------------------------------------


def _add(bg: BgBroker, official: SchemaRegistry, code: str, **data: str) -> None:
    confirmed(bg, kennisgeving(code, "T", data), official)


def _keys(answer: etree._Element, element: str) -> list[str | None]:
    return [value(o, element) for o in answered(answer)]


def test_persons_are_found_by_bsn_name_and_birth_date_and_address(
    bg: BgBroker, official: SchemaRegistry
) -> None:
    """npsLv01 by inp.bsn, by geslachtsnaam and geboortedatum, and by
    verblijfsadres postcode and huisnummer."""
    one, two, three = new_number(), new_number(), new_number()
    birth = "19610417"
    _add(
        bg,
        official,
        "NPS",
        bsn=one,
        geslachtsnaam="Kuipers",
        geboortedatum=birth,
        verblijf_postcode="7411AA",
        verblijf_huisnummer="10",
    )
    _add(
        bg,
        official,
        "NPS",
        bsn=two,
        geslachtsnaam="Kuipers",
        geboortedatum=birth,
        verblijf_postcode="7411AA",
        verblijf_huisnummer="12",
    )
    _add(
        bg,
        official,
        "NPS",
        bsn=three,
        geslachtsnaam="Kuipers",
        geboortedatum="19620101",
        verblijf_postcode="7411AA",
        verblijf_huisnummer="12",
    )

    by_bsn = answer_of(bg, vraag("NPS", {"bsn": two}), official)
    assert etree.QName(by_bsn).localname == "npsLa01"
    assert _keys(by_bsn, "inp.bsn") == [two]
    by_name = answer_of(
        bg,
        vraag("NPS", {"geslachtsnaam": "Kuipers", "geboortedatum": birth}, sortering=8),
        official,
    )
    assert _keys(by_name, "inp.bsn") == sorted([one, two])
    by_address = answer_of(
        bg,
        vraag(
            "NPS",
            {"verblijf_postcode": "7411AA", "verblijf_huisnummer": "12"},
            sortering=8,
        ),
        official,
    )
    assert _keys(by_address, "inp.bsn") == sorted([two, three])


def test_companies_are_found_by_rsin_kvk_number_name_and_address(
    bg: BgBroker, official: SchemaRegistry
) -> None:
    """nnpLv01 by inn.nnpId, by the KvK number of the maatschappelijke
    activiteit, by statutaireNaam, by bezoekadres postcode and huisnummer."""
    rsin, kvk = new_number(), new_number()[:8]
    _add(
        bg,
        official,
        "NNP",
        rsin=rsin,
        kvk_nummer=kvk,
        statutaire_naam="Veer N.V.",
        bezoek_postcode="6511AB",
        bezoek_huisnummer="8",
    )

    for selection in (
        {"rsin": rsin},
        {"kvk_nummer": kvk},
        {"statutaire_naam": "Veer N.V."},
        {"bezoek_postcode": "6511AB", "bezoek_huisnummer": "8"},
    ):
        answer = answer_of(bg, vraag("NNP", selection), official)
        assert etree.QName(answer).localname == "nnpLa01"
        [found] = answered(answer)
        assert value(found, "inn.nnpId") == rsin
        assert value(found, "rps.isEigenaarVan/gerelateerde/kvkNummer") == kvk


def test_vestigingen_are_found_by_number_name_kvk_number_and_address(
    bg: BgBroker, official: SchemaRegistry
) -> None:
    """vesLv01 by vestigingsNummer, handelsnaam, the KvK number, and
    verblijfsadres postcode and huisnummer."""
    kvk = new_number()[:8]
    first, second = "0001" + kvk, "0002" + kvk
    _add(
        bg,
        official,
        "VES",
        vestigingsnummer=first,
        handelsnaam="Veerpont",
        kvk_nummer=kvk,
        verblijf_postcode="6511AC",
        verblijf_huisnummer="1",
    )
    _add(
        bg,
        official,
        "VES",
        vestigingsnummer=second,
        handelsnaam="Veerpont Noord",
        kvk_nummer=kvk,
        verblijf_postcode="6511AD",
        verblijf_huisnummer="2",
    )

    cases: list[tuple[dict[str, str], list[str]]] = [
        ({"vestigingsnummer": first}, [first]),
        ({"handelsnaam": "Veerpont Noord"}, [second]),
        ({"kvk_nummer": kvk}, [first, second]),
        ({"verblijf_postcode": "6511AD", "verblijf_huisnummer": "2"}, [second]),
    ]
    for selection, expected in cases:
        answer = answer_of(bg, vraag("VES", selection, sortering=1), official)
        assert etree.QName(answer).localname == "vesLa01"
        assert _keys(answer, "vestigingsNummer") == expected


def test_a_vervolgvraag_through_the_broker(
    bg: BgBroker, official: SchemaRegistry
) -> None:
    """maximumAantal 2 of 5, then vervolgvragen with start: every person
    once, indicatorVervolgvraag false on the last answer."""
    numbers = sorted(new_number() for _ in range(5))
    for number in numbers:
        _add(bg, official, "NPS", bsn=number, geslachtsnaam="Vervolg")

    seen: list[str | None] = []
    start: dict[str, str] | None = None
    while True:
        answer = answer_of(
            bg,
            vraag(
                "NPS", {"geslachtsnaam": "Vervolg"}, sortering=8, maximum=2, start=start
            ),
            official,
        )
        page = _keys(answer, "inp.bsn")
        seen += page
        if parameter(answer, "indicatorVervolgvraag") == "false":
            break
        assert page[-1] is not None
        start = {"bsn": page[-1]}
    assert seen == numbers


def test_history_through_the_broker(bg: BgBroker, official: SchemaRegistry) -> None:
    """npsLv09 after T and W: two formal voorkomens; npsLv05 at a moment
    before the W: the old name."""
    bsn = new_number()
    _add(bg, official, "NPS", bsn=bsn, geslachtsnaam="Oud")
    # StUF Tijdstippen to the millisecond; a second either side of "between".
    time.sleep(1.1)
    between = time.strftime("%Y%m%d%H%M%S", time.localtime()) + "000"
    time.sleep(1.1)
    confirmed(
        bg,
        kennisgeving(
            "NPS",
            "W",
            {"bsn": bsn, "geslachtsnaam": "Oud"},
            {"bsn": bsn, "geslachtsnaam": "Nieuw"},
        ),
        official,
    )

    answer = answer_of(bg, vraag("NPS", {"bsn": bsn}, berichtcode="Lv09"), official)
    [found] = answered(answer)
    formeel = found.findall(BG + "historieFormeel")
    assert [value(g, "geslachtsnaam") for g in formeel] == ["Oud", "Nieuw"]
    then = answer_of(
        bg,
        vraag("NPS", {"bsn": bsn}, berichtcode="Lv05", peiltijdstip_formeel=between),
        official,
    )
    assert etree.QName(then).localname == "npsLa05"
    assert _keys(then, "geslachtsnaam") == ["Oud"]


def test_abroad_and_postbus_through_the_broker(
    bg: BgBroker, official: SchemaRegistry
) -> None:
    """A person living abroad with a postbus: stored and answered."""
    bsn = new_number()
    _add(
        bg,
        official,
        "NPS",
        bsn=bsn,
        geslachtsnaam="Verweg",
        buitenland_landcode="5010",
        buitenland_adres1="Rue Haute 1",
        correspondentie_postcode="1000AA",
        correspondentie_woonplaats="Amsterdam",
        correspondentie_postadres_type="P",
        correspondentie_postadres_nummer="77",
    )

    subject = bg.stored(NPS, {"bsn": bsn})
    assert subject is not None
    assert subject.gegevens["buitenland_landcode"] == "5010"
    assert subject.gegevens["correspondentie_postadres_nummer"] == "77"
    [found] = answered(answer_of(bg, vraag("NPS", {"bsn": bsn}), official))
    assert value(found, "sub.verblijfBuitenland/sub.adresBuitenland1") == "Rue Haute 1"
    assert value(found, "sub.correspondentieAdres/sub.postadresType") == "P"


# Privacy --------------------------------------------------------------------


def test_invalid_and_unknown_bsns_stay_out_of_faults_and_the_log(
    bg: BgBroker, official: SchemaRegistry
) -> None:
    """A BSN failing the 11-test (in a kennisgeving and in a vraag), nine
    zeros, and a valid BSN the register does not know: precise faults
    (StUF055 naming inp.bsn, StUF064) whose whole answer holds no BSN; and
    after every test so far, no BSN or RSIN sent is in the broker's log."""
    invalid = "123456789"
    unknown = new_number()
    cases = [
        (
            kennisgeving("NPS", "T", {"bsn": invalid, "geslachtsnaam": "X"}),
            "StUF055",
            invalid,
            "/npsLk01/object/inp.bsn",
        ),
        (vraag("NPS", {"bsn": invalid}), "StUF055", invalid, "/npsLv01/gelijk/inp.bsn"),
        (
            kennisgeving("NPS", "T", {"bsn": "000000000"}),
            "StUF055",
            "000000000",
            "/npsLk01/object/inp.bsn",
        ),
        (
            kennisgeving("NPS", "W", {"bsn": unknown}, {"bsn": unknown}),
            "StUF064",
            unknown,
            None,
        ),
    ]
    for message, code, number, path in cases:
        fault, body = bg.fault(message, code, official)
        assert number.encode() not in body
        if path is not None:
            assert [e.path for e in fault.schema_errors] == [path]
            assert "elfproef" in fault.schema_errors[0].rule or number == "000000000"

    log = bg.broker.log_text()
    assert "Klantregister npsLk01" in log
    leaked = sorted(n for n in bg.sent | {invalid, unknown} if n in log)
    assert leaked == []


# One view of a client -------------------------------------------------------


def test_the_initiators_of_the_example_zaken_become_clients(
    bg: BgBroker, official: SchemaRegistry
) -> None:
    """The default routes send a copy of every ZDS message to the
    klantregister. After the example flows are replayed at /stuf/zds (the
    GISvg flow, the regression zaken, Haarlem's creeerZaak), every initiator
    in them is a person in the klantregister, once, learnt from the zaken,
    and found by BSN at /stuf/bg. (The examples name no company as
    initiator; tests/registers/klantregister/test_betrokkenen.py learns
    companies and vestigingen from zaken.)"""
    flows = [
        *(
            EXAMPLES / "gisvg-flow" / f"{name}.request.xml"
            for name in (
                "genereerZaakIdentificatie_Di02",
                "creeerZaak_Lk01",
                "genereerDocumentIdentificatie_Di02",
                "updateZaak_Lk01",
                "actualiseerZaakstatus_Lk01",
                "geefZaakdetails_Lv01",
            )
        ),
        *sorted((EXAMPLES / "regressions").glob("Issue332-*.request.xml")),
        EXAMPLES / "haarlem" / "creeerzaakRequest.xml",
    ]
    for path in flows:
        bg.broker.post(path.read_bytes(), f'"{soap_action_for(path)}"')

    expected = {
        "111111110": {"geslachtsnaam": "Precies"},
        "900070511": {
            "geslachtsnaam": "Mug",
            "voorvoegsel": "de",
            "geboortedatum": "19760930",
        },
    }
    for bsn, data in expected.items():
        # The copy is delivered on its own, after the zaakregister answered.
        deadline = time.monotonic() + 30
        subject = bg.stored(NPS, {"bsn": bsn})
        while subject is None and time.monotonic() < deadline:
            time.sleep(0.2)
            subject = bg.stored(NPS, {"bsn": bsn})
        assert subject is not None, f"initiator {bsn} not learnt"
        assert {c: subject.gegevens[c] for c in data} == data
        rows = bg.history(NPS, subject.id)
        assert rows and all(r["bron"].startswith("zaak:") for r in rows)

        [found] = answered(answer_of(bg, vraag("NPS", {"bsn": bsn}), official))
        assert value(found, "geslachtsnaam") == data["geslachtsnaam"]

    # Both GISvg's and the regression zaak's address of the same person were
    # learnt, into one client.
    precies = bg.stored(NPS, {"bsn": "111111110"})
    assert precies is not None
    deadline = time.monotonic() + 30
    postcodes: set[str | None] = set()
    while time.monotonic() < deadline:
        rows = bg.history(NPS, precies.id)
        postcodes = {r["verblijf_postcode"] for r in rows}
        if {"8601CR", "8701HP"} <= postcodes:
            break
        time.sleep(0.2)
    assert {"8601CR", "8701HP"} <= postcodes
    count = bg.database.read(
        lambda c: c.execute(
            sa.select(sa.func.count())
            .select_from(NPS.table)
            .where(NPS.table.c.bsn.in_(EXAMPLE_BSNS))
        ).scalar_one()
    )
    assert count == 2
    bg.sent.update(EXAMPLE_BSNS)


def test_a_unique_message_id_per_answer(bg: BgBroker, official: SchemaRegistry) -> None:
    """Each answer has a referentienummer of its own (the broker's id)."""
    bsn = new_number()
    first = answer_of(bg, vraag("NPS", {"bsn": bsn}), official)
    second = answer_of(bg, vraag("NPS", {"bsn": bsn}), official)
    path = f"{BG}stuurgegevens/{STUF}referentienummer"

    assert first.findtext(path) != second.findtext(path)
    assert uuid.UUID(hex=first.findtext(path) or "")


def test_the_log_holds_no_bsn_after_every_flow(bg: BgBroker) -> None:
    """Last: after all of the above, on this database, no BSN or RSIN sent
    (the examples' initiators included) is in the broker's log."""
    log = bg.broker.log_text()

    assert bg.sent
    assert sorted(n for n in bg.sent if n in log) == []
