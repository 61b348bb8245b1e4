"""The zaakzoeker's searches, on SQLite and PostgreSQL alike.

The zaakregister is filled through its front door (registerdata.fill: the
real example requests and generated creeerZaak messages); the zaakzoeker
then searches what the register stored. Expected answers come from the
messages sent, never from the search itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from esb.envelope import open_envelope, parse_xml
from esb.schemaset import SchemaRegistry
from tests.conftest import ZDS_12, ZDS_1102
from tests.registers.zaakregister import messages
from tests.zaakzoeker import registerdata
from tests.zaakzoeker.registerdata import (
    BAKKER_BV,
    DE_VRIES,
    JANSEN,
    NIEMAND,
    PIETERS,
    ZAKEN,
)
from zaakzoeker.database import (
    SQLITE_TRIGGERS,
    alembic_config,
    current_revision,
    metadata,
    open_engine,
)
from zaakzoeker.results import datum, is_vertrouwelijk, tijdstip
from zaakzoeker.search import (
    MAX_RESULTATEN,
    SORTS,
    Filters,
    Ongeldig,
    Zoeker,
    parse_filters,
    parse_positive,
)

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]

# What fill() stores: the examples' zaken and registerdata.ZAKEN.
EXAMPLE_ZAKEN = {"1900852", "0392-2020-0000027", "1900831", "1900230"}
GENERATED = {zaak.identificatie for zaak in ZAKEN}
ALL = EXAMPLE_ZAKEN | GENERATED
CONFIDENTIAL = {"0392-2025-0000105"}  # VERTROUWELIJK
PUBLIC = ALL - CONFIDENTIAL


@pytest.fixture(scope="module", params=BACKENDS)
def filled(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """One filled register per backend for the whole module (read-only)."""
    folder = tmp_path_factory.mktemp("zaakzoeker")
    with registerdata.filled_database(request.param, folder) as found:
        yield found


@pytest.fixture(scope="module")
def zoeker(filled: tuple[str, Path]) -> Iterator[Zoeker]:
    engine = open_engine(filled[0])
    yield Zoeker(engine)
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database per test, for tests that change the register."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'zaakregister.db'}"
    else:
        with registerdata.postgres_schema() as url:
            yield url


def found(zoeker: Zoeker, filters: Filters, **options: object) -> list[str]:
    pagina = zoeker.zoek(filters, per_pagina=100, **options)  # type: ignore[arg-type]
    assert pagina.totaal == len(pagina.regels)
    return [regel.identificatie for regel in pagina.regels]


# The test data itself -------------------------------------------------------


def test_generated_messages_break_the_schema_only_where_meant_to() -> None:
    """Every generated creeerZaak is valid ZDS 1.2, except the two things
    real clients add that the zaakzoeker searches on."""
    schemas = SchemaRegistry.load([ZDS_12, ZDS_1102])
    for zaak in ZAKEN:
        body = open_envelope(parse_xml(registerdata.creeer_zaak(zaak))).body
        problems = [str(v) for v in schemas.validate(body)]
        allowed = []
        if zaak.vertrouwelijk:
            allowed.append("isVan/gerelateerde/vertrouwelijkAanduiding")
        if zaak.initiator_kvk:
            allowed.append("vestiging/kvkNummer")
        assert len(problems) == len(allowed), problems
        for problem, where in zip(problems, allowed, strict=True):
            assert where in problem


# Migrations -----------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
# Alembic cannot compare the expression index on lower(omschrijving) on SQLite.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_migrations_run_after_the_zaakregister_and_twice(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """open_engine migrates the zaakregister, then the zaakzoeker; opening
    again changes nothing. Alembic finds the zaakzoeker's tables equal to
    its metadata (which leaves out each backend's own full-text tables)."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'zaakregister.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = open_engine(url)
    with engine.connect() as connection:
        assert current_revision(connection) == "0002"
        tables = set(sa.inspect(connection).get_table_names())
    engine.dispose()
    assert {
        "zrg_zaken",
        "zzk_sessions",
        "zzk_accounts",
        "zzk_api_clients",
        "zzk_huidige_status",
        "zaakzoeker_alembic_version",
    } <= tables
    engine = open_engine(url)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"include_object": _zaakzoeker_tables, "compare_type": True},
        )
        assert compare_metadata(context, metadata) == []
    engine.dispose()


def _zaakzoeker_tables(
    obj: object, name: str | None, kind: str, reflected: bool, compare_to: object
) -> bool:
    if kind != "table":
        return True
    full_text = ("zzk_zaken_fts", "zzk_zaak_tekst")
    return bool(name and name.startswith("zzk_") and not name.startswith(full_text))


# Filters --------------------------------------------------------------------


def test_without_filters_every_zaak_but_the_confidential_one(zoeker: Zoeker) -> None:
    assert set(found(zoeker, Filters())) == PUBLIC


def test_identificatie_is_exact(zoeker: Zoeker) -> None:
    assert found(zoeker, Filters(identificatie="1900852")) == ["1900852"]
    assert found(zoeker, Filters(identificatie=" 0392-2025-0000101 ")) == [
        "0392-2025-0000101"
    ]
    assert found(zoeker, Filters(identificatie="0392-2025")) == []


def test_bsn_finds_initiator_and_belanghebbende(zoeker: Zoeker) -> None:
    """Jansen initiated 101 (and the confidential 105) and is belanghebbende
    in 102; the BSN of the GISVG example is its initiator's."""
    assert set(found(zoeker, Filters(bsn=JANSEN))) == {
        "0392-2025-0000101",
        "0392-2025-0000102",
    }
    assert set(found(zoeker, Filters(bsn=JANSEN, vertrouwelijk=True))) == {
        "0392-2025-0000101",
        "0392-2025-0000102",
        "0392-2025-0000105",
    }
    assert found(zoeker, Filters(bsn="111111110")) == ["1900852"]
    assert found(zoeker, Filters(bsn="900070511")) == ["0392-2020-0000027"]
    assert found(zoeker, Filters(bsn=NIEMAND)) == []


def test_kvk_finds_the_company_zaak(zoeker: Zoeker) -> None:
    assert found(zoeker, Filters(kvk=BAKKER_BV)) == ["0392-2024-0000104"]
    assert found(zoeker, Filters(kvk="12345678")) == []


def test_zaaktype_is_the_code(zoeker: Zoeker) -> None:
    assert set(found(zoeker, Filters(zaaktype="B1210"))) == {
        "1900852",
        "0392-2025-0000101",
        "0392-2025-0000106",
    }
    assert found(zoeker, Filters(zaaktype="B1026")) == [
        "0392-2025-0000102",
        "1900230",
    ]


def test_status_is_the_current_one_in_any_case(zoeker: Zoeker) -> None:
    """A zaak's current status is the one set last (datumStatusGezet), even
    when it arrived first; earlier statussen do not match."""
    in_behandeling = found(zoeker, Filters(status="in BEHANDELING", vertrouwelijk=True))
    assert set(in_behandeling) == {"0392-2025-0000101", "0392-2025-0000105"}
    assert found(zoeker, Filters(status="Afgehandeld")) == ["0392-2025-0000103"]
    ontvangen = set(found(zoeker, Filters(status="Ontvangen")))
    # 1900831 is Issue330's zaak, sent with status Ontvangen.
    assert ontvangen == {
        "0392-2025-0000102",
        "0392-2024-0000104",
        "0392-2025-0000106",
        "1900831",
    }


def test_date_range_is_inclusive_on_startdatum(zoeker: Zoeker) -> None:
    assert set(found(zoeker, Filters(van=date(2025, 2, 3), tot=date(2025, 3, 1)))) == {
        "0392-2025-0000102",
        "0392-2025-0000103",
    }
    assert set(found(zoeker, Filters(tot=date(2022, 10, 11)))) == {
        "0392-2020-0000027",
        "1900230",
    }
    assert found(zoeker, Filters(van=date(2025, 3, 5))) == ["0392-2025-0000106"]


def test_filters_combine(zoeker: Zoeker) -> None:
    assert found(zoeker, Filters(bsn=PIETERS, zaaktype="B1210")) == [
        "0392-2025-0000106"
    ]
    assert found(zoeker, Filters(bsn=PIETERS, status="Afgehandeld")) == []
    assert found(zoeker, Filters(bsn=DE_VRIES, tekst="parkeervergunning")) == [
        "0392-2025-0000103"
    ]


def test_zaaktype_and_status_together(zoeker: Zoeker) -> None:
    """Both must hold: a zaak of the zaaktype with another status, or with
    the status and another zaaktype, is not found."""
    assert found(zoeker, Filters(zaaktype="B1210", status="in behandeling")) == [
        "0392-2025-0000101"
    ]
    assert found(zoeker, Filters(zaaktype="B1210", status="Ontvangen")) == [
        "0392-2025-0000106"
    ]
    assert found(zoeker, Filters(zaaktype="B1210", status="Afgehandeld")) == []
    # 105 is confidential: found only when asked.
    assert found(zoeker, Filters(zaaktype="B0911", status="In behandeling")) == []
    assert found(
        zoeker,
        Filters(zaaktype="B0911", status="In behandeling", vertrouwelijk=True),
    ) == ["0392-2025-0000105"]


# Free text ------------------------------------------------------------------


def test_free_text_searches_omschrijving_and_toelichting(zoeker: Zoeker) -> None:
    # "dakkapel" is in 101's omschrijving; "Molenweg" only in 102's toelichting.
    assert found(zoeker, Filters(tekst="dakkapel")) == ["0392-2025-0000101"]
    assert found(zoeker, Filters(tekst="molenweg")) == ["0392-2025-0000102"]
    # Every word must occur.
    assert found(zoeker, Filters(tekst="dakkapel molenweg")) == []
    # Punctuation is not a word; it does not break the query.
    assert found(zoeker, Filters(tekst='eik" OR (achtertuin')) in (
        ["0392-2025-0000106"],
        [],
    )


def test_free_text_stems_dutch_on_postgresql_and_matches_prefixes_on_sqlite(
    zoeker: Zoeker,
) -> None:
    """PostgreSQL's Dutch dictionary finds "aanvraag" for "aanvragen";
    SQLite's FTS5 has no stemmer and matches a word or its beginning."""
    aanvragen = set(found(zoeker, Filters(tekst="aanvragen")))
    if zoeker.engine.dialect.name == "postgresql":
        assert {"0392-2025-0000101", "0392-2025-0000103", "1900230"} <= aanvragen
        assert found(zoeker, Filters(tekst="parkeervergunningen bewoner")) == [
            "0392-2025-0000103"
        ]
    else:
        assert aanvragen == {"0392-2025-0000103"}
        assert set(found(zoeker, Filters(tekst="aanvra"))) >= {
            "0392-2025-0000101",
            "0392-2025-0000103",
        }
    # Diacritics and case do not matter on either.
    assert found(zoeker, Filters(tekst="BRADERIE")) == ["0392-2024-0000104"]


# Confidentiality --------------------------------------------------------------


def test_confidential_zaken_only_when_asked(zoeker: Zoeker) -> None:
    """VERTROUWELIJK is kept out unless the searcher may see it;
    ZAAKVERTROUWELIJK is for those who work on the zaak: every employee."""
    assert "0392-2025-0000105" not in found(zoeker, Filters(zaaktype="B0911"))
    assert found(zoeker, Filters(zaaktype="B0911", vertrouwelijk=True)) == [
        "0392-2025-0000105"
    ]
    assert "0392-2025-0000106" in found(zoeker, Filters())
    assert set(found(zoeker, Filters(vertrouwelijk=True))) == ALL


@pytest.mark.parametrize(
    ("aanduiding", "vertrouwelijk"),
    [
        (None, False),
        ("", False),
        ("OPENBAAR", False),
        ("beperkt openbaar", False),
        ("INTERN", False),
        (" ZAAKVERTROUWELIJK ", False),
        ("VERTROUWELIJK", True),
        ("CONFIDENTIEEL", True),
        ("GEHEIM", True),
        ("ZEER GEHEIM", True),
        ("STAATSGEHEIM", True),  # unknown: kept from view
    ],
)
def test_which_aanduidingen_are_confidential(
    aanduiding: str | None, vertrouwelijk: bool
) -> None:
    assert is_vertrouwelijk(aanduiding) is vertrouwelijk


# Sorting and paging -------------------------------------------------------------


def test_default_order_is_newest_startdatum_first(zoeker: Zoeker) -> None:
    assert found(zoeker, Filters(bsn=JANSEN, vertrouwelijk=True)) == [
        "0392-2025-0000105",  # 20250220
        "0392-2025-0000102",  # 20250203
        "0392-2025-0000101",  # 20250110
    ]


@pytest.mark.parametrize("sortering", SORTS)
def test_every_sorting_orders_by_its_column(zoeker: Zoeker, sortering: str) -> None:
    pagina = zoeker.zoek(
        Filters(vertrouwelijk=True), sortering=sortering, per_pagina=100
    )
    name = sortering.lstrip("-")
    column = "zaaktype_code" if name == "zaaktype" else name
    # Missing values count as the smallest.
    keys = [
        (getattr(regel, column) is not None, getattr(regel, column) or "")
        for regel in pagina.regels
    ]
    assert keys == sorted(keys, reverse=sortering.startswith("-"))
    assert {regel.identificatie for regel in pagina.regels} == ALL


def test_identificatie_sorting_is_exact(zoeker: Zoeker) -> None:
    ascending = found(zoeker, Filters(vertrouwelijk=True), sortering="identificatie")
    assert ascending == sorted(ALL)
    descending = found(zoeker, Filters(vertrouwelijk=True), sortering="-identificatie")
    assert descending == sorted(ALL, reverse=True)


@pytest.mark.parametrize("sortering", SORTS)
def test_pages_neither_repeat_nor_skip(zoeker: Zoeker, sortering: str) -> None:
    whole = found(zoeker, Filters(vertrouwelijk=True), sortering=sortering)
    paged: list[str] = []
    for number in range(1, 5):
        pagina = zoeker.zoek(
            Filters(vertrouwelijk=True),
            sortering=sortering,
            pagina=number,
            per_pagina=3,
        )
        assert (pagina.pagina, pagina.per_pagina, pagina.totaal) == (number, 3, 10)
        assert pagina.paginas == 4
        paged.extend(regel.identificatie for regel in pagina.regels)
    assert paged == whole


def test_counting_stops_at_the_paging_limit(
    zoeker: Zoeker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MAX_RESULTATEN matches, totaal is that limit and not exact (the
    limit lowered here to 4, of the 10 zaken)."""
    monkeypatch.setattr("zaakzoeker.search.MAX_RESULTATEN", 4)
    pagina = zoeker.zoek(Filters(vertrouwelijk=True), per_pagina=2)
    assert (pagina.totaal, pagina.totaal_exact, pagina.paginas) == (4, False, 2)
    exact = zoeker.zoek(Filters(bsn=JANSEN, vertrouwelijk=True), per_pagina=2)
    assert (exact.totaal, exact.totaal_exact) == (3, True)
    with pytest.raises(Ongeldig):
        zoeker.zoek(Filters(vertrouwelijk=True), pagina=3, per_pagina=2)


@pytest.mark.parametrize("sortering", ["-startdatum", "identificatie", "zaaktype"])
def test_many_text_matches_page_the_same_as_few(
    zoeker: Zoeker, monkeypatch: pytest.MonkeyPatch, sortering: str
) -> None:
    """Past the counting limit PostgreSQL walks the sort's index and checks
    each zaak's text; the page is the same as when all matches are sorted."""
    filters = Filters(tekst="aanvraag", vertrouwelijk=True)
    expected = found(zoeker, filters, sortering=sortering)
    assert len(expected) >= 3
    monkeypatch.setattr("zaakzoeker.search.MAX_RESULTATEN", 2)
    pagina = zoeker.zoek(filters, sortering=sortering, per_pagina=2)
    assert not pagina.totaal_exact
    assert [regel.identificatie for regel in pagina.regels] == expected[:2]


def test_many_zaaktype_and_status_matches_page_the_same_as_few(
    fresh: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Zaaktype and status together are counted from zzk_huidige_status's
    copy of the zaaktype, and past the counting limit PostgreSQL walks the
    zaaktype's index checking each zaak's status: the same zaken, in the
    same order, either way."""
    register = registerdata.open_register(fresh, tmp_path / "documenten")
    engine = open_engine(fresh)
    try:
        zaak = ZAKEN[0]  # B1210, In behandeling
        for number, startdatum in enumerate(("20250110", "20250301", "20250205")):
            registerdata.send(
                register,
                registerdata.creeer_zaak(
                    replace(
                        zaak,
                        identificatie=f"0392-2025-000020{number}",
                        startdatum=startdatum,
                    )
                ),
            )
        # Another status, and another zaaktype: neither matches.
        registerdata.send(register, registerdata.creeer_zaak(ZAKEN[5]))
        registerdata.send(register, registerdata.creeer_zaak(ZAKEN[2]))
        zoeker = Zoeker(engine)
        filters = Filters(zaaktype="B1210", status="In behandeling")
        newest_first = ["0392-2025-0000201", "0392-2025-0000202", "0392-2025-0000200"]
        assert found(zoeker, filters) == newest_first

        monkeypatch.setattr("zaakzoeker.search.MAX_RESULTATEN", 2)
        pagina = zoeker.zoek(filters, per_pagina=2)
        assert not pagina.totaal_exact
        assert [regel.identificatie for regel in pagina.regels] == newest_first[:2]
    finally:
        engine.dispose()
        register.close()


def test_a_page_past_the_end_is_empty(zoeker: Zoeker) -> None:
    pagina = zoeker.zoek(Filters(), pagina=5, per_pagina=25)
    assert pagina.regels == []
    assert pagina.totaal == len(PUBLIC)


# Citizens -----------------------------------------------------------------------


def test_a_citizen_sees_the_zaken_with_their_bsn_in_any_role(zoeker: Zoeker) -> None:
    """zaken_van includes the citizen's own confidential zaak."""
    zaken = zoeker.zaken_van(JANSEN)
    assert [r.identificatie for r in zaken.regels] == [
        "0392-2025-0000105",
        "0392-2025-0000102",
        "0392-2025-0000101",
    ]
    assert zoeker.zaken_van(NIEMAND).totaal == 0


def test_mag_zien_only_for_a_role_in_the_zaak(zoeker: Zoeker) -> None:
    assert zoeker.mag_zien("0392-2025-0000101", JANSEN)
    assert zoeker.mag_zien("0392-2025-0000102", JANSEN)  # belanghebbende
    assert not zoeker.mag_zien("0392-2025-0000103", JANSEN)
    assert not zoeker.mag_zien("0392-2025-0000101", PIETERS)
    assert not zoeker.mag_zien("bestaat-niet", JANSEN)
    assert not zoeker.mag_zien("0392-2025-0000101", "")


def test_document_only_through_its_own_zaak(zoeker: Zoeker) -> None:
    document = zoeker.document("0392-2025-0000101", "0392-D2025-0000101")
    assert document is not None
    assert (document.titel, document.content_type, document.grootte) == (
        "Tekening dakkapel",
        "application/pdf",
        len(b"%PDF-1.4 tekening"),
    )
    assert zoeker.document("0392-2025-0000102", "0392-D2025-0000101") is None
    assert zoeker.document("0392-2025-0000101", "bestaat-niet") is None


# One zaak -----------------------------------------------------------------------


def test_zaak_in_full(zoeker: Zoeker) -> None:
    zaak = zoeker.zaak("0392-2025-0000101")
    assert zaak is not None
    assert (zaak.omschrijving, zaak.zaaktype_code, zaak.zaaktype_omschrijving) == (
        "Aanvraag omgevingsvergunning dakkapel",
        "B1210",
        "Omgevingsvergunning",
    )
    assert zaak.toelichting == ZAKEN[0].toelichting
    assert (zaak.startdatum, zaak.einddatum_gepland, zaak.registratiedatum) == (
        date(2025, 1, 10),
        date(2025, 3, 7),
        date(2025, 1, 10),
    )
    assert zaak.status == "In behandeling"
    assert [(s.volgnummer, s.omschrijving, s.datum) for s in zaak.statussen] == [
        ("1", "Ontvangen", datetime(2025, 1, 10, 9, 0)),
        ("2", "In behandeling", datetime(2025, 1, 15, 10, 0)),
    ]
    assert zaak.statussen[0].gezet_door == "Behandelaar"
    assert [(b.rol, b.soort, b.naam, b.bsn) for b in zaak.betrokkenen] == [
        ("Initiator", "natuurlijkPersoon", "J Aanvrager", JANSEN)
    ]
    assert [d.identificatie for d in zaak.documenten] == ["0392-D2025-0000101"]
    assert zaak.regel.identificatie == zaak.identificatie
    assert not zaak.vertrouwelijk


def test_zaak_timeline_is_in_time_order_whatever_the_order_received(
    zoeker: Zoeker,
) -> None:
    zaak = zoeker.zaak("0392-2025-0000105")
    assert zaak is not None
    assert [s.omschrijving for s in zaak.statussen] == ["Ontvangen", "In behandeling"]
    assert zaak.status == "In behandeling"
    assert zaak.vertrouwelijk


def test_zaak_of_a_company_and_of_a_real_example(zoeker: Zoeker) -> None:
    bedrijf = zoeker.zaak("0392-2024-0000104")
    assert bedrijf is not None
    assert [
        (b.soort, b.naam, b.kvk_nummer, b.vestigingsnummer) for b in bedrijf.betrokkenen
    ] == [("vestiging", "Bakker Evenementen", BAKKER_BV, "000012345678")]

    gisvg = zoeker.zaak("1900852")
    assert gisvg is not None
    # The update in the GISVG flow set einddatum.
    assert gisvg.einddatum == date(2021, 4, 2)
    assert gisvg.toelichting == "Reguliere omgevingsvergunning"
    assert zoeker.zaak("bestaat-niet") is None


def test_confidential_document_of_a_real_example(zoeker: Zoeker) -> None:
    zaak = zoeker.zaak("1900230")
    assert zaak is not None
    [document] = zaak.documenten
    assert (document.identificatie, document.vertrouwelijk_aanduiding) == (
        "190055",
        "VERTROUWELIJK",
    )
    assert document.vertrouwelijk


def test_berichten_are_the_messages_that_changed_the_zaak(zoeker: Zoeker) -> None:
    """The zaakregister's log names each message: operation, sender and
    referentienummer, oldest first."""
    zaak = zoeker.zaak("1900852")
    assert zaak is not None
    assert [(b.operation, b.zender) for b in zaak.berichten] == [
        ("creeerZaak", "1900/GISVG"),
        ("updateZaak", "1900/GISVG"),
    ]
    assert all(b.referentienummer for b in zaak.berichten)
    document_zaak = zoeker.zaak("0392-2025-0000101")
    assert document_zaak is not None
    assert [b.operation for b in document_zaak.berichten] == [
        "creeerZaak",
        "voegZaakdocumentToe",
    ]


# Invalid input --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "veld"),
    [
        (Filters(bsn="12345678"), "bsn"),
        (Filters(bsn="12345678a"), "bsn"),
        (Filters(bsn="123456789"), "bsn"),  # fails the 11-test
        (Filters(kvk="1234567"), "kvk"),
        (Filters(kvk="1234567x"), "kvk"),
        (Filters(identificatie="x" * 41), "identificatie"),
        (Filters(zaaktype="x" * 81), "zaaktype"),
        (Filters(van=date(2025, 3, 2), tot=date(2025, 3, 1)), "tot"),
        (Filters(tekst="!!! ???"), "tekst"),
        (Filters(tekst="woord " * 40), "tekst"),
    ],
)
def test_invalid_filters_are_refused_by_name(
    zoeker: Zoeker, filters: Filters, veld: str
) -> None:
    with pytest.raises(Ongeldig) as raised:
        zoeker.zoek(filters)
    assert raised.value.veld == veld
    assert raised.value.reden
    # The value given (perhaps a BSN) is not repeated in the message.
    if filters.bsn:
        assert filters.bsn not in str(raised.value)


@pytest.mark.parametrize(
    ("options", "veld"),
    [
        ({"sortering": "omschrijving"}, "sortering"),
        ({"pagina": 0}, "pagina"),
        ({"per_pagina": 0}, "per_pagina"),
        ({"per_pagina": 101}, "per_pagina"),
        ({"pagina": MAX_RESULTATEN // 25 + 1}, "pagina"),
    ],
)
def test_invalid_sorting_and_paging(
    zoeker: Zoeker, options: dict[str, object], veld: str
) -> None:
    with pytest.raises(Ongeldig) as raised:
        zoeker.zoek(Filters(), **options)  # type: ignore[arg-type]
    assert raised.value.veld == veld


def test_only_stopwords_is_refused_on_postgresql(zoeker: Zoeker) -> None:
    """PostgreSQL drops Dutch stopwords; a text of only those cannot be
    searched. SQLite has no stopwords and searches them."""
    if zoeker.engine.dialect.name == "postgresql":
        with pytest.raises(Ongeldig) as raised:
            zoeker.zoek(Filters(tekst="de het een"))
        assert raised.value.veld == "tekst"
    else:
        assert set(found(zoeker, Filters(tekst="de"))) >= {"0392-2025-0000101"}


def test_parse_filters_from_texts() -> None:
    filters = parse_filters(
        {"bsn": " 111222333 ", "van": "2025-01-01", "tekst": "", "onbekend": "x"},
        vertrouwelijk=True,
    )
    assert filters == Filters(bsn="111222333", van=date(2025, 1, 1), vertrouwelijk=True)
    with pytest.raises(Ongeldig) as raised:
        parse_filters({"tot": "1-3-2025"})
    assert raised.value.veld == "tot"
    assert parse_positive("pagina", "", 1) == 1
    assert parse_positive("pagina", " 3 ", 1) == 3
    with pytest.raises(Ongeldig):
        parse_positive("pagina", "-1", 1)


def test_stuf_dates_and_moments() -> None:
    assert datum("20250301") == date(2025, 3, 1)
    assert datum("20250000") is None  # incomplete: a year only
    assert datum(None) is None
    assert tijdstip("20250301") == datetime(2025, 3, 1)
    assert tijdstip("202503011230") == datetime(2025, 3, 1, 12, 30)
    assert tijdstip("20220724235959000") == datetime(2022, 7, 24, 23, 59, 59)
    assert tijdstip("20250301123045120") == datetime(2025, 3, 1, 12, 30, 45, 120000)
    assert tijdstip("2025030125") is None


# What the triggers keep -------------------------------------------------------------


def test_triggers_follow_new_statussen_and_changed_texts(
    fresh: str, tmp_path: Path
) -> None:
    """A new status through actualiseerZaakstatus becomes the current one;
    an updateZaak with a new omschrijving changes what free text finds."""
    register = registerdata.open_register(fresh, tmp_path / "documenten")
    engine = open_engine(fresh)
    try:
        zoeker = Zoeker(engine)
        zaak = ZAKEN[0]
        registerdata.send(register, registerdata.creeer_zaak(zaak))
        assert found(zoeker, Filters(status="In behandeling")) == [zaak.identificatie]

        registerdata.send(
            register,
            messages.actualiseer_zaakstatus(
                zaak.identificatie,
                messages.status("3", "Besluit genomen", "20250301100000"),
            ),
        )
        assert found(zoeker, Filters(status="In behandeling")) == []
        assert found(zoeker, Filters(status="Besluit genomen")) == [zaak.identificatie]

        registerdata.send(
            register,
            messages.update_zaak(
                zaak.identificatie,
                f"<ZKN:omschrijving>{zaak.omschrijving}</ZKN:omschrijving>",
                "<ZKN:omschrijving>Aanvraag omgevingsvergunning serre"
                "</ZKN:omschrijving>",
            ),
        )
        assert found(zoeker, Filters(tekst="serre")) == [zaak.identificatie]
        # Still in the toelichting; gone from the omschrijving only.
        assert found(zoeker, Filters(tekst="dakkapel")) == [zaak.identificatie]
        assert found(zoeker, Filters(tekst="aanvraag serre kerkstraat")) == [
            zaak.identificatie
        ]
    finally:
        engine.dispose()
        register.close()


def _is_van(code: str, omschrijving: str) -> str:
    return (
        '<ZKN:isVan StUF:entiteittype="ZAKZKT" StUF:verwerkingssoort="T">'
        '<ZKN:gerelateerde StUF:entiteittype="ZKT" StUF:verwerkingssoort="I">'
        f"<ZKN:omschrijving>{omschrijving}</ZKN:omschrijving>"
        f"<ZKN:code>{code}</ZKN:code>"
        "</ZKN:gerelateerde></ZKN:isVan>"
    )


def test_zaaktype_and_status_follow_a_new_zaaktype(fresh: str, tmp_path: Path) -> None:
    """An updateZaak with another isVan moves the zaak to the new zaaktype
    in searches by zaaktype and status together, and a status set after it
    is found under the new zaaktype too."""
    register = registerdata.open_register(fresh, tmp_path / "documenten")
    engine = open_engine(fresh)
    try:
        zoeker = Zoeker(engine)
        zaak = ZAKEN[0]  # B1210, In behandeling
        registerdata.send(register, registerdata.creeer_zaak(zaak))

        registerdata.send(
            register,
            messages.update_zaak(
                zaak.identificatie,
                _is_van("B1210", "Omgevingsvergunning"),
                _is_van("B0257", "Kapvergunning"),
            ),
        )
        assert found(zoeker, Filters(zaaktype="B1210", status="In behandeling")) == []
        assert found(zoeker, Filters(zaaktype="B0257", status="In behandeling")) == [
            zaak.identificatie
        ]

        registerdata.send(
            register,
            messages.actualiseer_zaakstatus(
                zaak.identificatie,
                messages.status("3", "Besluit genomen", "20250301100000"),
            ),
        )
        assert found(zoeker, Filters(zaaktype="B0257", status="Besluit genomen")) == [
            zaak.identificatie
        ]
    finally:
        engine.dispose()
        register.close()


def test_deleting_a_zaak_leaves_nothing_behind(fresh: str, tmp_path: Path) -> None:
    """The register has no delete operation; an administrator deleting a
    zaak in SQL (its statussen cascade) takes its index entries along."""
    register = registerdata.open_register(fresh, tmp_path / "documenten")
    engine = open_engine(fresh)
    try:
        for zaak in ZAKEN[:2]:
            registerdata.send(register, registerdata.creeer_zaak(zaak))
        with engine.begin() as connection:
            connection.execute(
                sa.text("DELETE FROM zrg_zaken WHERE identificatie = :id"),
                {"id": ZAKEN[0].identificatie},
            )
        zoeker = Zoeker(engine)
        assert found(zoeker, Filters(tekst="dakkapel")) == []
        assert found(zoeker, Filters()) == [ZAKEN[1].identificatie]
        with engine.connect() as connection:
            current = connection.execute(
                sa.text("SELECT count(*) FROM zzk_huidige_status")
            ).scalar_one()
        assert current == 1
    finally:
        engine.dispose()
        register.close()


def test_existing_zaken_are_indexed_when_the_zaakzoeker_arrives(
    fresh: str, tmp_path: Path
) -> None:
    """A zaakregister that ran before the zaakzoeker was installed: the
    migration fills the index and current statuses from what is there."""
    register = registerdata.open_register(fresh, tmp_path / "documenten")
    try:
        for zaak in ZAKEN[:3]:
            registerdata.send(register, registerdata.creeer_zaak(zaak))
    finally:
        register.close()
    engine = open_engine(fresh)
    try:
        zoeker = Zoeker(engine)
        assert found(zoeker, Filters(tekst="stoeptegels")) == ["0392-2025-0000102"]
        assert found(zoeker, Filters(status="afgehandeld")) == ["0392-2025-0000103"]
    finally:
        engine.dispose()


def test_migration_0002_copies_the_zaaktypen_of_existing_zaken(
    fresh: str, tmp_path: Path
) -> None:
    """A zaakzoeker at 0001 with zaken in it: upgrading fills in each
    current status's zaaktype, so zaaktype and status together find them."""
    register = registerdata.open_register(fresh, tmp_path / "documenten")
    try:
        command.upgrade(alembic_config(fresh), "0001")
        for zaak in ZAKEN[:3]:
            registerdata.send(register, registerdata.creeer_zaak(zaak))
    finally:
        register.close()
    engine = open_engine(fresh)
    try:
        zoeker = Zoeker(engine)
        assert found(zoeker, Filters(zaaktype="B0335", status="afgehandeld")) == [
            "0392-2025-0000103"
        ]
        assert found(zoeker, Filters(zaaktype="B1026", status="ontvangen")) == [
            "0392-2025-0000102"
        ]
    finally:
        engine.dispose()


def test_migration_0002_goes_back_to_0001_and_forward_again(
    fresh: str, tmp_path: Path
) -> None:
    """After a downgrade to 0001 the 0001 triggers keep current statuses
    again; upgrading once more brings back the zaaktypen."""
    register = registerdata.open_register(fresh, tmp_path / "documenten")
    try:
        open_engine(fresh).dispose()
        registerdata.send(register, registerdata.creeer_zaak(ZAKEN[0]))
        command.downgrade(alembic_config(fresh), "0001")
        registerdata.send(
            register,
            messages.actualiseer_zaakstatus(
                ZAKEN[0].identificatie,
                messages.status("3", "Besluit genomen", "20250301100000"),
            ),
        )
        engine = sa.create_engine(fresh)
        try:
            with engine.connect() as connection:
                assert current_revision(connection) == "0001"
                row = connection.execute(
                    sa.text("SELECT * FROM zzk_huidige_status")
                ).one()
        finally:
            engine.dispose()
        assert row.omschrijving == "Besluit genomen"
        assert "zaaktype_code" not in row._fields
    finally:
        register.close()
    engine = open_engine(fresh)
    try:
        assert found(
            Zoeker(engine), Filters(zaaktype="B1210", status="Besluit genomen")
        ) == [ZAKEN[0].identificatie]
    finally:
        engine.dispose()


def test_sqlite_triggers_dropped_by_a_table_copy_come_back(tmp_path: Path) -> None:
    """SQLite alters a table by copying it, which drops its triggers: the
    next open_engine puts them back and rebuilds what they keep."""
    url = f"sqlite:///{tmp_path / 'zaakregister.db'}"
    register = registerdata.open_register(url, tmp_path / "documenten")
    engine = open_engine(url)
    try:
        registerdata.send(register, registerdata.creeer_zaak(ZAKEN[0]))
        with engine.begin() as connection:
            for name in SQLITE_TRIGGERS:
                connection.execute(sa.text(f"DROP TRIGGER {name}"))
        registerdata.send(register, registerdata.creeer_zaak(ZAKEN[1]))
        assert found(Zoeker(engine), Filters(tekst="stoeptegels")) == []
    finally:
        engine.dispose()
    engine = open_engine(url)
    try:
        zoeker = Zoeker(engine)
        assert found(zoeker, Filters(tekst="stoeptegels")) == ["0392-2025-0000102"]
        assert found(zoeker, Filters(status="ontvangen")) == ["0392-2025-0000102"]
        with engine.connect() as connection:
            names = set(
                connection.execute(
                    sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
                ).scalars()
            )
        assert set(SQLITE_TRIGGERS) <= names
    finally:
        engine.dispose()
        register.close()
