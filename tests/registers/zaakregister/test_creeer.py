"""creeerZaak's rows, written with SQLAlchemy Core: the same as the ORM wrote.

creeerZaak inserts a new zaak with one statement per table (issue 5: the
ORM's unit of work was most of its cost). These tests hold it to what the
ORM stored for the same request, row for row, on SQLite and PostgreSQL,
and to the faults the ORM's flush gave: the same value named too long,
the same refusal of a zaak that exists.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from lxml import etree
from sqlalchemy.orm import Session

from esb.envelope import open_envelope, parse_xml
from esb.errors import StufFault
from esb.identify import identify
from esb.message import Identification
from registers.zaakregister import Config, Zaakregister, gebeurtenissen, parse, zaken
from registers.zaakregister.context import Request
from registers.zaakregister.model import (
    Base,
    Besluit,
    Kenmerk,
    Rol,
    Status,
    Zaak,
    ZaakRelatie,
)
from registers.zaakregister.stuf import fragment
from tests.registers.zaakregister import messages
from tests.registers.zaakregister.conftest import NOW, example

ID = "0392-2025-0000001"
OTHER = "0392-2025-0000002"
RELATIONS = (
    "zrg_statussen",
    "zrg_rollen",
    "zrg_kenmerken",
    "zrg_zaakrelaties",
    "zrg_besluiten",
)


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def register(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Zaakregister]:
    """A zaakregister on a fresh SQLite file or PostgreSQL schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'zaakregister.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    opened = Zaakregister.open(
        url, Config(documents=tmp_path / "documenten", organisatie="0392")
    )
    opened.clock = lambda: NOW
    yield opened
    opened.close()


def request_for(raw: bytes, action: str, identificatie: str | None = None) -> Request:
    """The request the register makes of ``raw``; its zaak renamed to
    ``identificatie`` when given."""
    body = open_envelope(parse_xml(raw)).body
    if identificatie is not None:
        found = body.find("{*}object/{*}identificatie")
        assert found is not None
        found.text = identificatie
    return Request(identify(body, action), body, NOW)


def orm_creeer(session: Session, request: Request) -> None:
    """creeerZaak as the ORM wrote it before issue 5: ORM objects, added to
    the session, flushed at commit. The reference for the Core inserts."""
    gegevens = parse.zaak(request.objects()[-1])
    assert gegevens.identificatie
    zaak = Zaak(
        identificatie=gegevens.identificatie,
        bronorganisatie=request.stuurgegevens.zender.organisatie,
        aangemaakt_door=request.zender,
        aangemaakt_op=request.now,
        gewijzigd_op=request.now,
    )
    for column, new in (gegevens.fields | (gegevens.zaaktype or {})).items():
        setattr(zaak, column, new)
    if gegevens.kenmerken is not None:
        zaak.kenmerken = [Kenmerk(kenmerk=k, bron=b) for k, b in gegevens.kenmerken]
    if gegevens.andere_zaakobjecten is not None:
        fragments = [fragment(element) for element in gegevens.andere_zaakobjecten]
        zaak.andere_zaakobjecten = json.dumps(fragments) if fragments else None
    for rol in gegevens.rollen:
        if rol.verwerkingssoort not in ("V", "E"):
            zaken._add_rol(zaak.rollen, rol, Rol)
    for status in gegevens.statussen:
        if status.verwerkingssoort not in ("V", "E"):
            zaken._add_status(
                zaak.statussen,
                status,
                lambda **values: Status(geregistreerd_op=request.now, **values),
            )
    for relatie in gegevens.relaties:
        if relatie.verwerkingssoort not in ("V", "E"):
            zaken._add_relatie(zaak.relaties, relatie, ZaakRelatie)
    for besluit in gegevens.besluiten:
        if besluit.verwerkingssoort not in ("V", "E"):
            zaken._add_besluit(zaak.besluiten, besluit, Besluit)
    session.add(zaak)
    gebeurtenissen.record(session, request, "zaak-aangemaakt", zaak.identificatie)


def core_creeer(register: Zaakregister, request: Request) -> None:
    register.database.write(lambda s: zaken.creeer(s, request, register.config))


def stored(register: Zaakregister, identificatie: str) -> dict[str, list[Any]]:
    """A zaak's rows, its relations' and its events', in id order, without
    what names the zaak (its id and identificatie)."""
    tables = Base.metadata.tables
    with register.database.engine.connect() as connection:
        zaken_table = tables["zrg_zaken"]
        zaak = (
            connection.execute(
                sa.select(zaken_table).where(
                    zaken_table.c.identificatie == identificatie
                )
            )
            .mappings()
            .one()
        )
        found: dict[str, list[Any]] = {
            "zrg_zaken": [_without(zaak, "id", "identificatie")]
        }
        for name in RELATIONS:
            table = tables[name]
            rows = connection.execute(
                sa.select(table)
                .where(table.c.zaak_id == zaak["id"])
                .order_by(table.c.id)
            )
            found[name] = [_without(row, "id", "zaak_id") for row in rows.mappings()]
        events = tables["zrg_gebeurtenissen"]
        rows = connection.execute(
            sa.select(events)
            .where(events.c.zaak_identificatie == identificatie)
            .order_by(events.c.id)
        )
        found["zrg_gebeurtenissen"] = [
            _without(row, "id", "zaak_identificatie") for row in rows.mappings()
        ]
    return found


def _without(row: sa.RowMapping, *names: str) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key not in names}


def fault_of(work: Callable[[], object]) -> StufFault:
    with pytest.raises(StufFault) as raised:
        work()
    return raised.value


def _persoon(relation: str, bsn: str, naam: str, verwerkingssoort: str = "T") -> str:
    return (
        f'<ZKN:{relation} StUF:verwerkingssoort="{verwerkingssoort}">'
        "<ZKN:gerelateerde><ZKN:natuurlijkPersoon>"
        f"<BG:inp.bsn>{bsn}</BG:inp.bsn><BG:geslachtsnaam>{naam}</BG:geslachtsnaam>"
        "<BG:verblijfsadres><BG:aoa.postcode>2011AA</BG:aoa.postcode>"
        "</BG:verblijfsadres>"
        f"</ZKN:natuurlijkPersoon></ZKN:gerelateerde></ZKN:{relation}>"
    )


def _medewerker(relation: str, identificatie: str, naam: str) -> str:
    return (
        f'<ZKN:{relation} StUF:verwerkingssoort="T"><ZKN:gerelateerde>'
        f"<ZKN:medewerker><ZKN:identificatie>{identificatie}</ZKN:identificatie>"
        f"<ZKN:achternaam>{naam}</ZKN:achternaam></ZKN:medewerker>"
        f"</ZKN:gerelateerde><ZKN:toelichting>behandelt</ZKN:toelichting>"
        f"</ZKN:{relation}>"
    )


# A zaak with every kind of row, and relations named twice: merged, kept
# once or replaced the way an update would; V and E relations left out.
EXTRA = (
    "<ZKN:toelichting>Met alles erop en eraan</ZKN:toelichting>"
    "<ZKN:kenmerk><ZKN:kenmerk>K-1</ZKN:kenmerk><ZKN:bron>DMS</ZKN:bron></ZKN:kenmerk>"
    "<ZKN:kenmerk><ZKN:kenmerk>K-2</ZKN:kenmerk></ZKN:kenmerk>"
    "<ZKN:kenmerk/>"
    "<ZKN:anderZaakObject><ZKN:omschrijving>Dakkapel</ZKN:omschrijving>"
    "<ZKN:lokatie><gml:Point xmlns:gml='http://www.opengis.net/gml'>"
    "<gml:pos>1 2</gml:pos></gml:Point></ZKN:lokatie></ZKN:anderZaakObject>"
    "<ZKN:resultaat><ZKN:omschrijving>Verleend</ZKN:omschrijving></ZKN:resultaat>"
    '<ZKN:opschorting xsi:nil="true" StUF:noValue="geenWaarde"/>'
)
RELATIES = (
    _persoon("heeftAlsBelanghebbende", "111111110", "Jansen")
    + _persoon("heeftAlsBelanghebbende", "111111110", "Jansen-de Vries")
    + _persoon("heeftAlsBelanghebbende", "123456782", "Pietersen")
    + _persoon("heeftAlsGemachtigde", "123456782", "Weg", verwerkingssoort="V")
    + "<ZKN:heeftAlsGemachtigde><ZKN:gerelateerde/></ZKN:heeftAlsGemachtigde>"
    + _medewerker("heeftAlsUitvoerende", "mdw01", "Behandelaar")
    + messages.deelzaak(OTHER)
    + messages.deelzaak(OTHER)
    + messages.betrekking_op_andere("0392-2025-0000009")
    + messages.deelzaak("0392-2025-0000008", verwerkingssoort="E")
    + messages.status("1", "Ontvangen", "20250301090000000")
    + messages.status("1", "Ontvangen", "20250301090000000")
    + messages.status("2", "In behandeling", "20250302090000000")
    + messages.status("3", "Weg", "20250303090000000", verwerkingssoort="V")
    + messages.besluit("0392-B-1", "Vergunning", "20250310")
    + messages.besluit("0392-B-1", "Vergunning verleend", "20250311")
    + messages.besluit("0392-B-2", "Leges", "20250312")
)
CREEER = messages.ZDS12 + "creeerZaak_ZakLk01"
SAMPLES = {
    "full": (messages.creeer_zaak(ID, extra=EXTRA, statussen=RELATIES), CREEER),
    "plain": (messages.creeer_zaak(ID), CREEER),
    "haarlem": example("haarlem/creeerzaakRequest.xml"),
    "gisvg": example("gisvg-flow/creeerZaak_Lk01.request.xml"),
    **{
        f"issue{issue}": example(
            f"regressions/Issue{issue}-creeerZaak_Lk01.request.xml"
        )
        for issue in ("235", "329", "330", "332")
    },
}


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_creeer_zaak_stores_what_the_orm_stored(
    register: Zaakregister, sample: str
) -> None:
    """The Core inserts store the rows the ORM stored for the same request:
    every column of the zaak, its relations in the same order, its event."""
    raw, action = SAMPLES[sample]
    core_creeer(register, request_for(raw, action, ID))
    reference = request_for(raw, action, OTHER)
    register.database.write(lambda session: orm_creeer(session, reference))

    core, orm = stored(register, ID), stored(register, OTHER)
    assert core == orm
    if sample == "full":
        assert [len(core[name]) for name in RELATIONS] == [2, 4, 2, 2, 2]


def test_the_full_sample_merges_relations_named_twice(
    register: Zaakregister,
) -> None:
    """A relation named twice in one creeerZaak is stored once: a
    betrokkene's later data wins, a status is kept once, a besluit with the
    same identificatie is replaced."""
    raw, action = SAMPLES["full"]
    core_creeer(register, request_for(raw, action))
    rows = stored(register, ID)
    assert [r["naam"] for r in rows["zrg_rollen"]] == [
        "Jansen",
        "Jansen-de Vries",
        "Pietersen",
        "Behandelaar",
    ]
    assert [r["omschrijving"] for r in rows["zrg_statussen"]] == [
        "Ontvangen",
        "In behandeling",
    ]
    assert [r["bst_omschrijving"] for r in rows["zrg_besluiten"]] == [
        "Vergunning verleend",
        "Leges",
    ]
    assert [r["kenmerk"] for r in rows["zrg_kenmerken"]] == ["K-1", "K-2"]
    (zaak,) = rows["zrg_zaken"]
    assert zaak["resultaat_omschrijving"] == "Verleend"
    assert zaak["opschorting_indicatie"] is None
    assert json.loads(zaak["andere_zaakobjecten"])[0].startswith("<ZKN:anderZaakObject")


LONG = "x" * 250
OVERLONG = {
    # Where the values are too long -> the column the fault names: the
    # first of the zaak, then its statuses, roles, kenmerken, relations to
    # other zaken, besluiten, and last its event (an ORM flush's order).
    "zaak": ({"omschrijving": LONG}, "zrg_zaken.omschrijving"),
    "identificatie": ({"identificatie": "0392-" + "9" * 40}, "zrg_zaken.identificatie"),
    "status before rol": (
        {"status": LONG, "rol": LONG, "kenmerk": LONG},
        "zrg_statussen.omschrijving",
    ),
    "rol before kenmerk": ({"rol": LONG, "kenmerk": LONG}, "zrg_rollen.naam"),
    "kenmerk before relatie": (
        {"kenmerk": LONG, "relatie": "0392-" + "8" * 40},
        "zrg_kenmerken.kenmerk",
    ),
    "relatie before besluit": (
        {"relatie": "0392-" + "8" * 40, "besluit": LONG},
        "zrg_zaakrelaties.andere_identificatie",
    ),
    "besluit before event": (
        {"besluit": LONG, "referentienummer": "r" * 81},
        "zrg_besluiten.bst_omschrijving",
    ),
    "event": ({"referentienummer": "r" * 81}, "zrg_gebeurtenissen.referentienummer"),
}


def overlong_request(values: dict[str, str]) -> bytes:
    identificatie = values.get("identificatie", ID)
    relations = (
        messages.deelzaak(values.get("relatie", OTHER))
        + messages.status("1", values.get("status", "Ontvangen"), "20250301090000000")
        + messages.besluit("0392-B-1", values.get("besluit", "Vergunning"), "20250310")
    )
    raw = messages.creeer_zaak(
        identificatie,
        omschrijving=values.get("omschrijving", "Aanvraag"),
        initiator=messages.initiator_nps("111111110", values.get("rol", "Jansen")),
        extra="<ZKN:kenmerk><ZKN:kenmerk>"
        + values.get("kenmerk", "K-1")
        + "</ZKN:kenmerk></ZKN:kenmerk>",
        statussen=relations,
    )
    if "referentienummer" in values:
        body = open_envelope(parse_xml(raw)).body
        found = body.find("{*}stuurgegevens/{*}referentienummer")
        assert found is not None
        found.text = values["referentienummer"]
        raw = etree.tostring(body.getroottree())
    return raw


@pytest.mark.parametrize("case", sorted(OVERLONG))
def test_a_value_too_long_is_refused_as_the_orm_flush_refused_it(
    register: Zaakregister, case: str
) -> None:
    """A value longer than its column is StUF055 naming the first one in
    the order an ORM flush checked them, on SQLite as on PostgreSQL (which
    would refuse the statement), and nothing is stored."""
    values, named = OVERLONG[case]
    raw = overlong_request(values)
    core = fault_of(lambda: core_creeer(register, request_for(raw, CREEER)))
    orm_request = request_for(raw, CREEER)
    orm = fault_of(
        lambda: register.database.write(lambda s: orm_creeer(s, orm_request))
    )

    assert (core.code, core.plek) == ("StUF055", "client")
    assert (core.details or "").startswith(named + ": ")
    assert (core.code, core.omschrijving, core.plek, core.details) == (
        orm.code,
        orm.omschrijving,
        orm.plek,
        orm.details,
    )
    with register.database.engine.connect() as connection:
        for name in ("zrg_zaken", *RELATIONS, "zrg_gebeurtenissen"):
            count = sa.select(sa.func.count()).select_from(Base.metadata.tables[name])
            assert connection.execute(count).scalar_one() == 0, name


def test_creeer_zaak_twice_is_refused_on_both_databases(
    register: Zaakregister,
) -> None:
    """A second creeerZaak of a zaak is refused (StUF058, plek client,
    "Zaak bestaat al") and stores nothing: not its data, not an event."""
    core_creeer(register, request_for(messages.creeer_zaak(ID), CREEER))
    before = stored(register, ID)
    again = messages.creeer_zaak(ID, omschrijving="Tweede")
    fault = fault_of(lambda: core_creeer(register, request_for(again, CREEER)))
    assert (fault.code, fault.plek, fault.omschrijving) == (
        "StUF058",
        "client",
        "Zaak bestaat al",
    )
    assert stored(register, ID) == before


def test_a_zaak_created_meanwhile_is_a_conflict(
    register: Zaakregister, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When another message created the zaak after the check that it does
    not exist (a race the check cannot see), the unique identificatie
    refuses the INSERT: the answer is StUF058 "Object bestaat al" and the
    zaak stays as the first message made it."""
    register.handle(*_identified(messages.creeer_zaak(ID, omschrijving="Eerste")))
    before = stored(register, ID)
    zaken_table = Base.metadata.tables["zrg_zaken"]
    never = sa.select(zaken_table.c.id).where(
        zaken_table.c.identificatie == sa.bindparam("identificatie"), sa.false()
    )
    monkeypatch.setattr(zaken, "_EXISTS", never)

    again = messages.creeer_zaak(ID, omschrijving="Tweede")
    fault = fault_of(lambda: register.handle(*_identified(again)))
    assert (fault.code, fault.plek, fault.omschrijving) == (
        "StUF058",
        "client",
        "Object bestaat al",
    )
    assert stored(register, ID) == before


def _identified(raw: bytes) -> tuple[Identification, etree._Element]:
    body = open_envelope(parse_xml(raw)).body
    return identify(body, CREEER), body


def test_an_update_with_a_value_too_long_is_still_refused(
    register: Zaakregister,
) -> None:
    """The check before every ORM flush (updateZaak writes through the
    ORM) still names a value too long."""
    register.handle(*_identified(messages.creeer_zaak(ID, omschrijving="Aanvraag")))
    raw = messages.update_zaak(
        ID,
        was="<ZKN:omschrijving>Aanvraag</ZKN:omschrijving>",
        wordt=f"<ZKN:omschrijving>{LONG}</ZKN:omschrijving>",
    )
    body = open_envelope(parse_xml(raw)).body
    identification = identify(body, messages.ZDS12 + "updateZaak_ZakLk01")
    fault = fault_of(lambda: register.handle(identification, body))
    assert (fault.code, fault.plek) == ("StUF055", "client")
    assert fault.details == (
        "zrg_zaken.omschrijving: 250 tekens; het zaakregister bewaart er ten "
        "hoogste 200"
    )
