"""What a search answers: zaken in a list, one zaak in full, and its parts.

:class:`zaakzoeker.search.Zoeker` reads the zaakregister's rows; the
functions here turn them into the values pages and the API show. The
zaakregister keeps what StUF sent, so dates are texts (``yyyymmdd``) and
names are parts (voorletters, voorvoegsel, geslachtsnaam); they are read
here, once.

Confidentiality (zkn0310 VertrouwelijkAanduiding): OPENBAAR, BEPERKT
OPENBAAR, INTERN and ZAAKVERTROUWELIJK, or no aanduiding at all, are not
confidential (ZAAKVERTROUWELIJK means: for those who work on the zaak, which
an employee of the municipality does). VERTROUWELIJK, CONFIDENTIEEL, GEHEIM,
ZEER GEHEIM and any value outside the standard's list are: an unknown value
is kept from view rather than shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo

import sqlalchemy as sa

NIET_VERTROUWELIJK = frozenset(
    {"", "OPENBAAR", "BEPERKT OPENBAAR", "INTERN", "ZAAKVERTROUWELIJK"}
)

# StUF moments carry no offset: they are Dutch local time.
NL = ZoneInfo("Europe/Amsterdam")

# A row of the zaakregister's tables, its columns read by name: which
# columns it has is up to the query.
_Row: TypeAlias = sa.Row[*tuple[Any, ...]]


@dataclass(frozen=True)
class ZaakRegel:
    """One zaak in a list of results."""

    identificatie: str
    omschrijving: str | None
    zaaktype_code: str | None
    zaaktype_omschrijving: str | None
    # The omschrijving of the current status: the one set last
    # (datumStatusGezet, then the order received), as geefZaakstatus says.
    status: str | None
    startdatum: date | None
    einddatum_gepland: date | None
    einddatum: date | None
    vertrouwelijkheid: str | None


@dataclass(frozen=True)
class Pagina:
    """One page of results.

    ``totaal`` counts the matching zaken up to
    :data:`zaakzoeker.search.MAX_RESULTATEN`; when more match, it is that
    limit and ``totaal_exact`` is False (show "meer dan 5.000").
    """

    regels: list[ZaakRegel]
    pagina: int
    per_pagina: int
    totaal: int
    totaal_exact: bool = True

    @property
    def paginas(self) -> int:
        """How many pages the results fill (at least 1)."""
        return max(1, -(-self.totaal // self.per_pagina))


@dataclass(frozen=True)
class StatusRegel:
    volgnummer: str | None
    omschrijving: str | None
    # datumStatusGezet as sent: Dutch local time, without an offset.
    datum: datetime | None
    toelichting: str | None
    gezet_door: str | None


@dataclass(frozen=True)
class DocumentInfo:
    identificatie: str
    titel: str | None
    formaat: str | None
    bestandsnaam: str | None
    content_type: str | None
    grootte: int | None
    vertrouwelijk_aanduiding: str | None
    creatiedatum: date | None
    # The blob store's key; None for a document without content.
    inhoud_sleutel: str | None

    @property
    def vertrouwelijk(self) -> bool:
        return is_vertrouwelijk(self.vertrouwelijk_aanduiding)


@dataclass(frozen=True)
class Betrokkene:
    # Initiator, Belanghebbende, Gemachtigde, ... (heeftAls... without it).
    rol: str
    # natuurlijkPersoon, nietNatuurlijkPersoon, vestiging, medewerker, ...
    soort: str | None
    naam: str | None
    bsn: str | None
    kvk_nummer: str | None
    vestigingsnummer: str | None


@dataclass(frozen=True)
class Bericht:
    """A message that changed the zaak, from the zaakregister's log."""

    # When the register processed it, in Dutch time (with its offset).
    tijdstip: datetime
    operation: str
    zender: str | None
    referentienummer: str | None
    soort: str | None = None


@dataclass(frozen=True)
class ZaakDetail(ZaakRegel):
    """One zaak in full: its :class:`ZaakRegel` and the rest. Statussen
    oldest first (a timeline); documenten and betrokkenen in the order they
    were registered; berichten oldest first."""

    toelichting: str | None
    bronorganisatie: str | None
    registratiedatum: date | None
    resultaat: str | None
    statussen: list[StatusRegel] = field(default_factory=list)
    documenten: list[DocumentInfo] = field(default_factory=list)
    betrokkenen: list[Betrokkene] = field(default_factory=list)
    berichten: list[Bericht] = field(default_factory=list)

    @property
    def vertrouwelijk(self) -> bool:
        return is_vertrouwelijk(self.vertrouwelijkheid)

    @property
    def regel(self) -> ZaakRegel:
        """The zaak as a list shows it, without the rest."""
        names = [f.name for f in fields(ZaakRegel)]
        return ZaakRegel(**{name: getattr(self, name) for name in names})


def is_vertrouwelijk(aanduiding: str | None) -> bool:
    """Whether a vertrouwelijkAanduiding keeps a zaak or document from
    those without the right to see confidential ones."""
    if aanduiding is None:
        return False
    return aanduiding.strip().upper() not in NIET_VERTROUWELIJK


# From the zaakregister's rows -------------------------------------------------


def zaak_regel(row: _Row) -> ZaakRegel:
    """A row of zrg_zaken with its ``huidige_status`` as a ZaakRegel."""
    return ZaakRegel(**_regel_velden(row))


def zaak_detail(
    row: _Row,
    *,
    statussen: list[StatusRegel],
    documenten: list[DocumentInfo],
    betrokkenen: list[Betrokkene],
    berichten: list[Bericht],
) -> ZaakDetail:
    """A whole row of zrg_zaken with its ``huidige_status``, and its parts."""
    return ZaakDetail(
        **_regel_velden(row),
        toelichting=row.toelichting,
        bronorganisatie=row.bronorganisatie,
        registratiedatum=datum(row.registratiedatum),
        resultaat=row.resultaat_omschrijving,
        statussen=statussen,
        documenten=documenten,
        betrokkenen=betrokkenen,
        berichten=berichten,
    )


def _regel_velden(row: _Row) -> dict[str, Any]:
    return {
        "identificatie": row.identificatie,
        "omschrijving": row.omschrijving,
        "zaaktype_code": row.zaaktype_code,
        "zaaktype_omschrijving": row.zaaktype_omschrijving,
        "status": row.huidige_status,
        "startdatum": datum(row.startdatum),
        "einddatum_gepland": datum(row.einddatum_gepland),
        "einddatum": datum(row.einddatum),
        "vertrouwelijkheid": row.vertrouwelijkheid,
    }


def status_regel(row: _Row) -> StatusRegel:
    """A row of zrg_statussen."""
    gezet_door = _naam(
        row.gezet_door_voorletters, row.gezet_door_voorvoegsel, row.gezet_door_naam
    )
    return StatusRegel(
        volgnummer=row.volgnummer,
        omschrijving=row.omschrijving,
        datum=tijdstip(row.datum_status_gezet),
        toelichting=row.toelichting,
        gezet_door=gezet_door or row.gezet_door_identificatie,
    )


def document_info(row: _Row) -> DocumentInfo:
    """A row of zrg_documenten joined to the zaak's zrg_zaakdocumenten (the
    link's titel standing in for a document without one)."""
    return DocumentInfo(
        identificatie=row.identificatie,
        titel=row.titel,
        formaat=row.formaat,
        bestandsnaam=row.bestandsnaam,
        content_type=row.content_type,
        grootte=row.inhoud_grootte,
        vertrouwelijk_aanduiding=row.vertrouwelijk_aanduiding,
        creatiedatum=datum(row.creatiedatum),
        inhoud_sleutel=row.inhoud_sleutel,
    )


def betrokkene(row: _Row) -> Betrokkene:
    """A row of zrg_rollen: a person by their names, anyone else by the
    name the register holds, else by the role's omschrijving."""
    if row.soort == "natuurlijkPersoon":
        naam = _naam(row.voornamen or row.voorletters, row.voorvoegsel, row.naam)
    else:
        naam = row.naam
    return Betrokkene(
        rol=row.rol,
        soort=row.soort,
        naam=naam or row.omschrijving,
        bsn=row.bsn,
        kvk_nummer=row.kvk_nummer,
        vestigingsnummer=row.vestigingsnummer,
    )


def bericht(row: _Row) -> Bericht:
    """A row of the zaakregister's log of changes (zrg_gebeurtenissen)."""
    return Bericht(
        tijdstip=datetime.fromtimestamp(row.tijdstip, tz=NL),
        operation=row.operation,
        zender=row.zender,
        referentienummer=row.referentienummer,
        soort=row.soort,
    )


def _naam(*parts: str | None) -> str | None:
    text = " ".join(part.strip() for part in parts if part and part.strip())
    return text or None


# StUF's dates and moments -----------------------------------------------------


def datum(text: str | None) -> date | None:
    """A StUF Datum (yyyymmdd) as a date; None when missing or incomplete
    (StUF's ``20200000``: a year only)."""
    if not text or len(text) < 8 or not text[:8].isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def tijdstip(text: str | None) -> datetime | None:
    """A StUF Tijdstip (yyyymmdd[hh[mm[ss[mmm]]]]) as a naive local time."""
    day = datum(text)
    if day is None or text is None:
        return None
    rest = text[8:]
    if not rest.isdigit() and rest:
        return None
    parts = [int(rest[i : i + 2]) if len(rest) >= i + 2 else 0 for i in (0, 2, 4)]
    milliseconds = int(rest[6:9].ljust(3, "0")) if len(rest) > 6 else 0
    hour, minute, second = parts
    try:
        return datetime(
            day.year, day.month, day.day, hour, minute, second, milliseconds * 1000
        )
    except ValueError:
        return None
