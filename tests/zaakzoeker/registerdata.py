"""A zaakregister filled through its front door, for the zaakzoeker's tests.

Real requests from ``../shared/stuf/examples`` and generated ZDS 1.2
creeerZaak / actualiseerZaakstatus / voegZaakdocumentToe messages go to
:meth:`registers.zaakregister.Zaakregister.handle`, as the broker's adapter
hands them over; the zaakzoeker then reads what the register stored. The
generated messages validate against the official schemas (see
``test_search.py``), except for two things real clients send outside them
and the zaakzoeker searches on: a zaaktype's vertrouwelijkAanduiding and a
vestiging's kvkNummer.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from esb.envelope import open_envelope, parse_xml
from esb.identify import identify
from registers.zaakregister import Config, Zaakregister
from tests.conftest import POSTGRES_URL, need_service
from tests.registers.zaakregister import messages
from tests.registers.zaakregister.conftest import NOW, example, soap_action

# Citizens and a company (BSNs pass the 11-test; none is a real person's).
JANSEN = "111222333"
PIETERS = "123456782"
DE_VRIES = "999990019"
BAKKER_BV = "69599084"  # KvK number
NIEMAND = "100000009"  # valid, but in no zaak


@dataclass(frozen=True)
class Zaak:
    """A generated zaak as the tests expect to find it."""

    identificatie: str
    omschrijving: str
    toelichting: str
    zaaktype: tuple[str, str]
    startdatum: str
    einddatum_gepland: str | None = None
    initiator_bsn: str | None = None
    initiator_kvk: str | None = None
    belanghebbende_bsn: str | None = None
    # (volgnummer, omschrijving, datumStatusGezet) in the order sent.
    statussen: tuple[tuple[str, str, str], ...] = ()
    vertrouwelijk: str | None = None
    documenten: tuple[tuple[str, str, bytes], ...] = field(default=())


ZAKEN: tuple[Zaak, ...] = (
    Zaak(
        "0392-2025-0000101",
        "Aanvraag omgevingsvergunning dakkapel",
        "Aanvrager wil een dakkapel plaatsen aan de Kerkstraat 12.",
        ("B1210", "Omgevingsvergunning"),
        "20250110",
        einddatum_gepland="20250307",
        initiator_bsn=JANSEN,
        statussen=(
            ("1", "Ontvangen", "20250110090000"),
            ("2", "In behandeling", "20250115100000"),
        ),
        documenten=(("0392-D2025-0000101", "Tekening dakkapel", b"%PDF-1.4 tekening"),),
    ),
    Zaak(
        "0392-2025-0000102",
        "Melding losliggende stoeptegels",
        "Stoeptegels liggen los voor de bakkerij aan de Molenweg; "
        "gevaarlijk voor fietsers.",
        ("B1026", "Melding openbare ruimte"),
        "20250203",
        initiator_bsn=PIETERS,
        belanghebbende_bsn=JANSEN,
        statussen=(("1", "Ontvangen", "20250203080000"),),
    ),
    Zaak(
        "0392-2025-0000103",
        "Aanvragen parkeervergunning bewoners",
        "Tweede auto; aanvragen worden op volgorde behandeld.",
        ("B0335", "Parkeervergunning"),
        "20250301",
        einddatum_gepland="20250315",
        initiator_bsn=DE_VRIES,
        statussen=(
            ("1", "Ontvangen", "20250301090000"),
            ("2", "In behandeling", "20250302090000"),
            ("3", "Afgehandeld", "20250310160000"),
        ),
    ),
    Zaak(
        "0392-2024-0000104",
        "Evenementenvergunning braderie",
        "Braderie op de Grote Markt met kramen en muziek.",
        ("B0475", "Evenementenvergunning"),
        "20241120",
        einddatum_gepland="20250120",
        initiator_kvk=BAKKER_BV,
        statussen=(("1", "Ontvangen", "20241120110000"),),
    ),
    Zaak(
        "0392-2025-0000105",
        "Aanvraag bijzondere bijstand",
        "Schulden bij de energieleverancier; aanvraag bijzondere bijstand.",
        ("B0911", "Bijzondere bijstand"),
        "20250220",
        initiator_bsn=JANSEN,
        # Sent out of order: the later status arrives first.
        statussen=(
            ("2", "In behandeling", "20250225100000"),
            ("1", "Ontvangen", "20250220090000"),
        ),
        vertrouwelijk="VERTROUWELIJK",
        documenten=(("0392-D2025-0000105", "Inkomensgegevens", b"loonstrook"),),
    ),
    Zaak(
        "0392-2025-0000106",
        "Kapvergunning eik achtertuin",
        "Eik in de achtertuin is ziek; kap aangevraagd.",
        ("B1210", "Omgevingsvergunning"),
        "20250305",
        einddatum_gepland="20250416",
        initiator_bsn=PIETERS,
        statussen=(("1", "Ontvangen", "20250305090000"),),
        vertrouwelijk="ZAAKVERTROUWELIJK",
    ),
)


def _natuurlijk_persoon(bsn: str, naam: str) -> str:
    return (
        '<ZKN:natuurlijkPersoon StUF:entiteittype="NPS" StUF:verwerkingssoort="I">'
        f"<BG:inp.bsn>{bsn}</BG:inp.bsn>"
        f"<BG:geslachtsnaam>{naam}</BG:geslachtsnaam>"
        "<BG:voorletters>J</BG:voorletters>"
        "</ZKN:natuurlijkPersoon>"
    )


def _vestiging(kvk: str) -> str:
    # ZDS has no KvK number for a betrokkene (VES-zkn-kerngegevens names
    # vestigingsNummer, handelsnaam, verblijfsadres); clients that know it
    # send it anyway, and the register keeps it.
    return (
        '<ZKN:vestiging StUF:entiteittype="VES" StUF:verwerkingssoort="I">'
        "<BG:vestigingsNummer>000012345678</BG:vestigingsNummer>"
        "<BG:handelsnaam>Bakker Evenementen</BG:handelsnaam>"
        f"<BG:kvkNummer>{kvk}</BG:kvkNummer>"
        "</ZKN:vestiging>"
    )


def _rol(element: str, entiteittype: str, betrokkene: str) -> str:
    return (
        f'<ZKN:{element} StUF:entiteittype="{entiteittype}" '
        f'StUF:verwerkingssoort="T"><ZKN:gerelateerde>{betrokkene}'
        f"</ZKN:gerelateerde></ZKN:{element}>"
    )


def creeer_zaak(zaak: Zaak) -> bytes:
    """creeerZaak_ZakLk01 (ZDS 1.2) for a generated zaak."""
    code, omschrijving = zaak.zaaktype
    gepland = (
        f"<ZKN:einddatumGepland>{zaak.einddatum_gepland}</ZKN:einddatumGepland>"
        if zaak.einddatum_gepland
        else ""
    )
    # Not in ZKT-kerngegevensKennisgeving: real clients send it anyway, and
    # the register keeps it (the broker accepts it in report mode).
    vertrouwelijk = (
        f"<ZKN:vertrouwelijkAanduiding>{zaak.vertrouwelijk}"
        "</ZKN:vertrouwelijkAanduiding>"
        if zaak.vertrouwelijk
        else ""
    )
    belanghebbende = (
        _rol(
            "heeftAlsBelanghebbende",
            "ZAKBTRBLH",
            _natuurlijk_persoon(zaak.belanghebbende_bsn, "Buurman"),
        )
        if zaak.belanghebbende_bsn
        else ""
    )
    if zaak.initiator_bsn:
        initiator = _rol(
            "heeftAlsInitiator",
            "ZAKBTRINI",
            _natuurlijk_persoon(zaak.initiator_bsn, "Aanvrager"),
        )
    elif zaak.initiator_kvk:
        initiator = _rol(
            "heeftAlsInitiator", "ZAKBTRINI", _vestiging(zaak.initiator_kvk)
        )
    else:
        initiator = ""
    statussen = "".join(
        messages.status(volgnummer, tekst, moment, zaaktype=code)
        for volgnummer, tekst, moment in zaak.statussen
    )
    return messages.envelope(
        "<ZDS:creeerZaak_ZakLk01>"
        + messages.stuurgegevens("Lk01", entiteittype="ZAK")
        + "<ZKN:parameters><StUF:mutatiesoort>T</StUF:mutatiesoort>"
        "<StUF:indicatorOvername>V</StUF:indicatorOvername></ZKN:parameters>"
        '<ZKN:object StUF:entiteittype="ZAK" StUF:verwerkingssoort="T">'
        f"<ZKN:identificatie>{zaak.identificatie}</ZKN:identificatie>"
        f"<ZKN:omschrijving>{zaak.omschrijving}</ZKN:omschrijving>"
        f"<ZKN:toelichting>{zaak.toelichting}</ZKN:toelichting>"
        f"<ZKN:startdatum>{zaak.startdatum}</ZKN:startdatum>"
        f"<ZKN:registratiedatum>{zaak.startdatum}</ZKN:registratiedatum>"
        f"{gepland}"
        "<ZKN:archiefnominatie>N</ZKN:archiefnominatie>"
        "<ZKN:zaakniveau>1</ZKN:zaakniveau>"
        "<ZKN:deelzakenIndicatie>N</ZKN:deelzakenIndicatie>"
        '<ZKN:isVan StUF:entiteittype="ZAKZKT" StUF:verwerkingssoort="T">'
        '<ZKN:gerelateerde StUF:entiteittype="ZKT" StUF:verwerkingssoort="I">'
        f"<ZKN:omschrijving>{omschrijving}</ZKN:omschrijving>"
        f"<ZKN:code>{code}</ZKN:code>{vertrouwelijk}"
        "</ZKN:gerelateerde></ZKN:isVan>"
        f"{belanghebbende}{initiator}{statussen}"
        "</ZKN:object></ZDS:creeerZaak_ZakLk01>"
    )


def send(register: Zaakregister, raw: bytes, action: str | None = None) -> None:
    """Hand one request to the register as the broker's adapter does."""
    body = open_envelope(parse_xml(raw)).body
    register.handle(identify(body, action or soap_action(raw)), body)


def fill(register: Zaakregister) -> None:
    """The real examples' zaken, then :data:`ZAKEN` with their documents."""
    send(register, *example("gisvg-flow/creeerZaak_Lk01.request.xml"))
    send(register, *example("gisvg-flow/updateZaak_Lk01.request.xml"))
    send(register, *example("haarlem/creeerzaakRequest.xml"))
    send(register, *example("regressions/Issue330-creeerZaak_Lk01.request.xml"))
    send(register, *example("regressions/Issue329-creeerZaak_Lk01.request.xml"))
    send(
        register, *example("regressions/Issue329-voegZaakdocumentToe_Lk01.request.xml")
    )
    for zaak in ZAKEN:
        send(register, creeer_zaak(zaak))
        for identificatie, titel, content in zaak.documenten:
            send(
                register,
                messages.voeg_zaakdocument_toe(
                    identificatie, zaak.identificatie, content, titel=titel
                ),
            )


def open_register(url: str, documents: Path) -> Zaakregister:
    """A zaakregister on ``url``, its clock fixed (see the register's tests)."""
    register = Zaakregister.open(url, Config(documents=documents, organisatie="0392"))
    register.clock = lambda: NOW
    return register


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema for a whole test module (the shared
    ``postgres_url`` fixture is per test); skips when PostgreSQL is down."""
    need_service("PostgreSQL", "127.0.0.1", 5432)
    schema = f"emo_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@contextmanager
def filled_database(kind: str, folder: Path) -> Iterator[tuple[str, Path]]:
    """A database of ``kind`` (sqlite, postgresql) filled by :func:`fill`:
    its URL and the register's document folder."""
    documents = folder / "documenten"
    with ExitStack() as stack:
        if kind == "sqlite":
            url = f"sqlite:///{folder / 'zaakregister.db'}"
        else:
            url = stack.enter_context(postgres_schema())
        register = open_register(url, documents)
        try:
            fill(register)
        finally:
            register.close()
        yield url, documents
