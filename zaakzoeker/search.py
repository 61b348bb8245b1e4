"""Searching the zaakregister: filters, sortings, pages, one zaak in full.

:class:`Zoeker` reads the zaakregister's tables with SQLAlchemy Core, on
SQLite and PostgreSQL alike; the two differ only in free text:

- PostgreSQL: ``websearch_to_tsquery('dutch', tekst)`` against each
  zaak's stored tsvector of omschrijving and toelichting (GIN-indexed,
  zzk_zaak_tekst), with Dutch stemming ("aanvragen"
  finds "aanvraag"), phrases in quotes, ``or`` and ``-woord``.
- SQLite: FTS5 without stemming; every word of the text must occur, as a
  word or as the start of one ("vergun" finds "vergunning", but
  "aanvragen" does not find "aanvraag").

Confidentiality (zkn0310 VertrouwelijkAanduiding): OPENBAAR, BEPERKT
OPENBAAR, INTERN and ZAAKVERTROUWELIJK, or no aanduiding at all, are not
confidential (ZAAKVERTROUWELIJK means: for those who work on the zaak, which
an employee of the municipality does). VERTROUWELIJK, CONFIDENTIEEL, GEHEIM,
ZEER GEHEIM and any value outside the standard's list are: an unknown value
is kept from view rather than shown.

The exception::

    ValueError
     └── Ongeldig(veld, reden)   a filter, sorting or page the caller gave
                                 cannot be used; reden is fit to show
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from registers.klantregister.nummers import passes_elfproef
from registers.zaakregister import model
from zaakzoeker.database import huidige_status_table

NIET_VERTROUWELIJK = frozenset(
    {"", "OPENBAAR", "BEPERKT OPENBAAR", "INTERN", "ZAAKVERTROUWELIJK"}
)

SORTS = (
    "startdatum",
    "-startdatum",
    "identificatie",
    "-identificatie",
    "zaaktype",
    "-zaaktype",
    "einddatum_gepland",
    "-einddatum_gepland",
)
MAX_PER_PAGINA = 100
# Matches are counted up to this many, and paging deeper is refused: an
# OFFSET of a million rows reads them all, and nobody pages that far; they
# refine the search. At this number, taking all matches and sorting them
# costs about as much as walking a sort index until 25 match (see
# Zoeker._page): the square root of 25 times a million zaken.
MAX_RESULTATEN = 5000
MAX_TEKST = 200

_ZAKEN = cast(sa.Table, model.Zaak.__table__)
_STATUSSEN = cast(sa.Table, model.Status.__table__)
_ROLLEN = cast(sa.Table, model.Rol.__table__)
_DOCUMENTEN = cast(sa.Table, model.Document.__table__)
_ZAAKDOCUMENTEN = cast(sa.Table, model.ZaakDocument.__table__)
_HUIDIG = huidige_status_table

# The zaakregister's log of changes: its column names are an interface.
_GEBEURTENISSEN = cast(sa.Table, model.Gebeurtenis.__table__)

# Each sorting's columns, most significant first; id makes the order total
# so that pages neither repeat nor skip a zaak. Missing values count as the
# smallest (first ascending, last descending): the order the zzk_ indexes
# of migration 0001 are built in.
_SORT_COLUMNS: dict[str, tuple[sa.Column[Any], ...]] = {
    "startdatum": (_ZAKEN.c.startdatum, _ZAKEN.c.id),
    "identificatie": (_ZAKEN.c.identificatie,),
    "zaaktype": (_ZAKEN.c.zaaktype_code, _ZAKEN.c.startdatum, _ZAKEN.c.id),
    "einddatum_gepland": (_ZAKEN.c.einddatum_gepland, _ZAKEN.c.id),
}

# StUF moments carry no offset: they are Dutch local time.
NL = ZoneInfo("Europe/Amsterdam")

_WORD = re.compile(r"\w+")
_DIGITS = re.compile(r"[0-9]+")


class Ongeldig(ValueError):
    """A search the caller asked for cannot be done; ``reden`` says why.

    ``veld`` names the filter (``bsn``, ``van``, ``sortering``, ``pagina``,
    ...). Neither text contains the value given: it may be a BSN.
    """

    def __init__(self, veld: str, reden: str) -> None:
        super().__init__(f"{veld}: {reden}")
        self.veld = veld
        self.reden = reden


@dataclass(frozen=True)
class Filters:
    """What to search for; every filter given must hold (AND).

    Text values are stripped; an empty text is no filter.
    """

    identificatie: str | None = None
    bsn: str | None = None
    kvk: str | None = None
    zaaktype: str | None = None
    # The omschrijving of the zaak's current status, case-insensitive.
    status: str | None = None
    # On startdatum, both inclusive.
    van: date | None = None
    tot: date | None = None
    # Free text over omschrijving and toelichting.
    tekst: str | None = None
    # Include confidential zaken (see the module's docstring).
    vertrouwelijk: bool = False


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

    ``totaal`` counts the matching zaken up to :data:`MAX_RESULTATEN`; when
    more match, it is that limit and ``totaal_exact`` is False (show "meer
    dan 5.000").
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
class ZaakDetail:
    """One zaak in full. Statussen oldest first (a timeline); documenten
    and betrokkenen in the order they were registered; berichten oldest
    first."""

    identificatie: str
    omschrijving: str | None
    zaaktype_code: str | None
    zaaktype_omschrijving: str | None
    status: str | None
    startdatum: date | None
    einddatum_gepland: date | None
    einddatum: date | None
    vertrouwelijkheid: str | None
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
        names = [f.name for f in fields(ZaakRegel)]
        return ZaakRegel(**{name: getattr(self, name) for name in names})


def is_vertrouwelijk(aanduiding: str | None) -> bool:
    """Whether a vertrouwelijkAanduiding keeps a zaak or document from
    those without the right to see confidential ones."""
    if aanduiding is None:
        return False
    return aanduiding.strip().upper() not in NIET_VERTROUWELIJK


def parse_filters(values: Mapping[str, str], *, vertrouwelijk: bool = False) -> Filters:
    """Filters from texts (a query string, a form): dates as yyyy-mm-dd.

    Unknown names are ignored; the values themselves are checked by
    :meth:`Zoeker.zoek`.
    """
    found: dict[str, Any] = {}
    for name in ("identificatie", "bsn", "kvk", "zaaktype", "status", "tekst"):
        text = values.get(name, "").strip()
        if text:
            found[name] = text
    for name in ("van", "tot"):
        text = values.get(name, "").strip()
        if text:
            try:
                found[name] = date.fromisoformat(text)
            except ValueError:
                raise Ongeldig(
                    name, "is geen datum; schrijf jjjj-mm-dd, bijvoorbeeld 2025-03-01"
                ) from None
    return Filters(**found, vertrouwelijk=vertrouwelijk)


def parse_positive(veld: str, text: str | None, default: int) -> int:
    """A page number or page size from a text; Ongeldig when not a number."""
    if text is None or not text.strip():
        return default
    if not _DIGITS.fullmatch(text.strip()):
        raise Ongeldig(veld, "moet een geheel getal van 1 of meer zijn")
    return int(text.strip())


class Zoeker:
    """Searches for zaken in the zaakregister's database."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name

    # Lists --------------------------------------------------------------

    def zoek(
        self,
        filters: Filters,
        *,
        sortering: str = "-startdatum",
        pagina: int = 1,
        per_pagina: int = 25,
    ) -> Pagina:
        """One page of the zaken that match every filter given.

        Raises :class:`Ongeldig` for a value that cannot be searched.
        """
        _check_paging(sortering, pagina, per_pagina)
        with self.engine.connect() as connection:
            if self._dialect == "postgresql":
                # Compiling a plan to machine code takes longer than these
                # queries run.
                connection.execute(sa.text("SET LOCAL jit = off"))
                # A parallel plan builds whole hash tables where a plain one
                # stops at the LIMIT; the counts and pages here are bounded.
                connection.execute(
                    sa.text("SET LOCAL max_parallel_workers_per_gather = 0")
                )
            conditions, walking = self._conditions(connection, filters)
            return self._page(
                connection, conditions, walking, sortering, pagina, per_pagina
            )

    def zaken_van(self, bsn: str, *, pagina: int = 1, per_pagina: int = 25) -> Pagina:
        """A citizen's zaken: those where ``bsn`` has any role (initiator or
        another betrokkene), newest first, confidential ones included (they
        are the citizen's own)."""
        return self.zoek(
            Filters(bsn=bsn, vertrouwelijk=True),
            sortering="-startdatum",
            pagina=pagina,
            per_pagina=per_pagina,
        )

    # One zaak -----------------------------------------------------------

    def zaak(self, identificatie: str) -> ZaakDetail | None:
        """The zaak with this identificatie in full, or None."""
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(_ZAKEN, _HUIDIG.c.omschrijving.label("huidige_status"))
                .select_from(
                    _ZAKEN.outerjoin(_HUIDIG, _HUIDIG.c.zaak_id == _ZAKEN.c.id)
                )
                .where(_ZAKEN.c.identificatie == identificatie)
            ).one_or_none()
            if row is None:
                return None
            zaak_id = row.id
            statussen = connection.execute(
                sa.select(_STATUSSEN)
                .where(_STATUSSEN.c.zaak_id == zaak_id)
                .order_by(
                    sa.func.coalesce(_STATUSSEN.c.datum_status_gezet, ""),
                    _STATUSSEN.c.id,
                )
            ).all()
            rollen = connection.execute(
                sa.select(_ROLLEN)
                .where(_ROLLEN.c.zaak_id == zaak_id)
                .order_by(_ROLLEN.c.id)
            ).all()
            documenten = connection.execute(
                _documents_query()
                .where(_ZAAKDOCUMENTEN.c.zaak_id == zaak_id)
                .order_by(_ZAAKDOCUMENTEN.c.id)
            ).all()
            berichten = self._berichten(connection, identificatie)
        return ZaakDetail(
            identificatie=row.identificatie,
            omschrijving=row.omschrijving,
            zaaktype_code=row.zaaktype_code,
            zaaktype_omschrijving=row.zaaktype_omschrijving,
            status=row.huidige_status,
            startdatum=datum(row.startdatum),
            einddatum_gepland=datum(row.einddatum_gepland),
            einddatum=datum(row.einddatum),
            vertrouwelijkheid=row.vertrouwelijkheid,
            toelichting=row.toelichting,
            bronorganisatie=row.bronorganisatie,
            registratiedatum=datum(row.registratiedatum),
            resultaat=row.resultaat_omschrijving,
            statussen=[_status(s) for s in statussen],
            documenten=[_document(d) for d in documenten],
            betrokkenen=[_betrokkene(r) for r in rollen],
            berichten=berichten,
        )

    def mag_zien(self, identificatie: str, bsn: str) -> bool:
        """Whether the citizen with ``bsn`` has a role in this zaak."""
        if not bsn:
            return False
        query = sa.select(sa.literal(1)).where(
            _ROLLEN.c.bsn == bsn,
            _ROLLEN.c.zaak_id
            == sa.select(_ZAKEN.c.id)
            .where(_ZAKEN.c.identificatie == identificatie)
            .scalar_subquery(),
        )
        with self.engine.connect() as connection:
            return connection.execute(query.limit(1)).first() is not None

    def document(
        self, zaak_identificatie: str, document_identificatie: str
    ) -> DocumentInfo | None:
        """The document, if it is one of this zaak's; else None."""
        query = (
            _documents_query()
            .join(_ZAKEN, _ZAKEN.c.id == _ZAAKDOCUMENTEN.c.zaak_id)
            .where(
                _ZAKEN.c.identificatie == zaak_identificatie,
                _DOCUMENTEN.c.identificatie == document_identificatie,
            )
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else _document(row)

    # The query ----------------------------------------------------------

    def _conditions(
        self, connection: sa.Connection, filters: Filters
    ) -> tuple[list[sa.ColumnElement[bool]], list[sa.ColumnElement[bool]]]:
        """The filters as SQL, twice: to find all matches (free text as a
        set of zaak ids from the index), and to walk zaken in sorted order
        (free text checked per zaak), see :meth:`_page`."""
        zaken = _ZAKEN.c
        conditions: list[sa.ColumnElement[bool]] = []
        per_zaak: dict[int, sa.ColumnElement[bool]] = {}

        identificatie = _text(filters.identificatie, "identificatie", 40)
        if identificatie:
            conditions.append(zaken.identificatie == identificatie)

        bsn = _text(filters.bsn, "bsn", 9)
        if bsn:
            if not (_DIGITS.fullmatch(bsn) and len(bsn) == 9):
                raise Ongeldig("bsn", "moet uit 9 cijfers bestaan")
            if not passes_elfproef(bsn):
                raise Ongeldig("bsn", "voldoet niet aan de elfproef")
            conditions.append(
                zaken.id.in_(sa.select(_ROLLEN.c.zaak_id).where(_ROLLEN.c.bsn == bsn))
            )

        kvk = _text(filters.kvk, "kvk", 8)
        if kvk:
            if not (_DIGITS.fullmatch(kvk) and len(kvk) == 8):
                raise Ongeldig("kvk", "een KvK-nummer bestaat uit 8 cijfers")
            conditions.append(
                zaken.id.in_(
                    sa.select(_ROLLEN.c.zaak_id).where(_ROLLEN.c.kvk_nummer == kvk)
                )
            )

        zaaktype = _text(filters.zaaktype, "zaaktype", 80)
        if zaaktype:
            conditions.append(zaken.zaaktype_code == zaaktype)

        status = _text(filters.status, "status", 200)
        if status:
            conditions.append(
                zaken.id.in_(
                    sa.select(_HUIDIG.c.zaak_id).where(
                        sa.func.lower(_HUIDIG.c.omschrijving)
                        == sa.func.lower(sa.literal(status, sa.String))
                    )
                )
            )

        if filters.van and filters.tot and filters.van > filters.tot:
            raise Ongeldig("tot", "ligt voor de datum 'van'")
        if filters.van:
            conditions.append(zaken.startdatum >= filters.van.strftime("%Y%m%d"))
        if filters.tot:
            conditions.append(zaken.startdatum <= filters.tot.strftime("%Y%m%d"))

        tekst = _text(filters.tekst, "tekst", MAX_TEKST)
        if tekst:
            found, checked = self._tekst(connection, tekst)
            conditions.append(found)
            per_zaak[id(found)] = checked

        if not filters.vertrouwelijk:
            conditions.append(
                sa.or_(
                    zaken.vertrouwelijkheid.is_(None),
                    sa.func.upper(sa.func.trim(zaken.vertrouwelijkheid)).in_(
                        sorted(NIET_VERTROUWELIJK)
                    ),
                )
            )
        # The other filters use ordinary indexes either way.
        walking = [per_zaak.get(id(c), c) for c in conditions]
        return conditions, walking

    def _tekst(
        self, connection: sa.Connection, tekst: str
    ) -> tuple[sa.ColumnElement[bool], sa.ColumnElement[bool]]:
        words = _WORD.findall(tekst)
        if not words:
            raise Ongeldig("tekst", "bevat geen woorden om op te zoeken")
        if self._dialect == "postgresql":
            nodes = connection.execute(
                sa.text("SELECT numnode(websearch_to_tsquery('dutch', :tekst))"),
                {"tekst": tekst},
            ).scalar_one()
            if not nodes:
                raise Ongeldig(
                    "tekst",
                    "bevat alleen woorden die te vaak voorkomen om op te zoeken",
                )
            query = "websearch_to_tsquery('dutch'::regconfig, :tekst)"
            found = _ZAKEN.c.id.in_(
                sa.select(sa.column("zaak_id"))
                .select_from(sa.table("zzk_zaak_tekst"))
                .where(sa.text(f"tekst @@ {query}").bindparams(tekst=tekst))
            )
            # One zaak at a time, while walking a sort index (migration
            # 0001 says why this is a function).
            checked = cast(
                sa.ColumnElement[bool],
                sa.text(f"zzk_tekst_past(zrg_zaken.id, {query})").bindparams(
                    tekst=tekst
                ),
            )
            return found, checked
        # FTS5: each word as a quoted prefix, all of them required.
        match = " ".join(f'"{word}"*' for word in words[:32])
        found = _ZAKEN.c.id.in_(
            sa.select(sa.column("rowid"))
            .select_from(sa.table("zzk_zaken_fts"))
            .where(sa.text("zzk_zaken_fts MATCH :fts").bindparams(fts=match))
        )
        return found, found

    def _page(
        self,
        connection: sa.Connection,
        conditions: Sequence[sa.ColumnElement[bool]],
        walking: Sequence[sa.ColumnElement[bool]],
        sortering: str,
        pagina: int,
        per_pagina: int,
    ) -> Pagina:
        """Count, then fetch one page in the way that suits the count.

        PostgreSQL's estimates for free text are poor (several words are
        assumed independent: "Gedempte Oude Gracht" is guessed at 40 zaken
        and matches 30,000), and a wrong guess costs seconds: fetching and
        sorting every match, or walking a sort index past a million zaken
        for a few. The count says which it is. Up to
        :data:`MAX_RESULTATEN`: take them all and sort them. More: walk the
        sort's index, checking each zaak, until the page is full; with more
        than that many matches in a million, that takes a few thousand steps.
        """
        # Counted up to the paging limit, as search engines do: counting all
        # 600,000 zaken that contain a common word reads every one of them,
        # for a number nobody pages through.
        limited = (
            sa.select(sa.literal(1))
            .select_from(_ZAKEN)
            .where(*conditions)
            .limit(MAX_RESULTATEN + 1)
            .subquery()
        )
        totaal = connection.execute(
            sa.select(sa.func.count()).select_from(limited)
        ).scalar_one()
        descending = sortering.startswith("-")
        columns = _SORT_COLUMNS[sortering.lstrip("-")]
        nullables = [column.nullable for column in columns]

        def ordered(cols: Sequence[sa.ColumnElement[Any]]) -> list[Any]:
            # NULLS FIRST/LAST only where a value can be missing: PostgreSQL
            # matches an ORDER BY to an index only with the same NULLS order,
            # and the indexes on id and identificatie have the default.
            order = []
            for column, nullable in zip(cols, nullables, strict=True):
                if descending:
                    order.append(
                        column.desc().nulls_last() if nullable else column.desc()
                    )
                else:
                    order.append(
                        column.asc().nulls_first() if nullable else column.asc()
                    )
            return order

        offset = (pagina - 1) * per_pagina
        if self._dialect == "postgresql" and totaal <= MAX_RESULTATEN:
            matches = (
                sa.select(_ZAKEN.c.id, *[c for c in columns if c is not _ZAKEN.c.id])
                .where(*conditions)
                .cte("treffers")
                .prefix_with("MATERIALIZED")
            )
            page = (
                sa.select(matches.c.id)
                .order_by(*ordered([matches.c[c.name] for c in columns]))
                .limit(per_pagina)
                .offset(offset)
            )
        else:
            page = (
                sa.select(_ZAKEN.c.id)
                .where(*walking)
                .order_by(*ordered(columns))
                .limit(per_pagina)
                .offset(offset)
            )
        # The page's zaken are chosen first; their statuses are read for
        # those alone.
        rows = connection.execute(
            sa.select(
                _ZAKEN.c.identificatie,
                _ZAKEN.c.omschrijving,
                _ZAKEN.c.zaaktype_code,
                _ZAKEN.c.zaaktype_omschrijving,
                _HUIDIG.c.omschrijving.label("huidige_status"),
                _ZAKEN.c.startdatum,
                _ZAKEN.c.einddatum_gepland,
                _ZAKEN.c.einddatum,
                _ZAKEN.c.vertrouwelijkheid,
            )
            .select_from(_ZAKEN.outerjoin(_HUIDIG, _HUIDIG.c.zaak_id == _ZAKEN.c.id))
            .where(_ZAKEN.c.id.in_(page))
            .order_by(*ordered(columns))
        ).all()
        regels = [
            ZaakRegel(
                identificatie=row.identificatie,
                omschrijving=row.omschrijving,
                zaaktype_code=row.zaaktype_code,
                zaaktype_omschrijving=row.zaaktype_omschrijving,
                status=row.huidige_status,
                startdatum=datum(row.startdatum),
                einddatum_gepland=datum(row.einddatum_gepland),
                einddatum=datum(row.einddatum),
                vertrouwelijkheid=row.vertrouwelijkheid,
            )
            for row in rows
        ]
        return Pagina(
            regels,
            pagina,
            per_pagina,
            min(totaal, MAX_RESULTATEN),
            totaal_exact=totaal <= MAX_RESULTATEN,
        )

    def _berichten(
        self, connection: sa.Connection, identificatie: str
    ) -> list[Bericht]:
        log = _GEBEURTENISSEN.c
        rows = connection.execute(
            sa.select(_GEBEURTENISSEN)
            .where(log.zaak_identificatie == identificatie)
            .order_by(log.tijdstip, log.id)
        ).all()
        return [
            Bericht(
                tijdstip=datetime.fromtimestamp(row.tijdstip, tz=NL),
                operation=row.operation,
                zender=row.zender,
                referentienummer=row.referentienummer,
                soort=row.soort,
            )
            for row in rows
        ]


def _check_paging(sortering: str, pagina: int, per_pagina: int) -> None:
    if sortering not in SORTS:
        raise Ongeldig("sortering", "kies uit " + ", ".join(SORTS))
    if pagina < 1:
        raise Ongeldig("pagina", "moet 1 of meer zijn")
    if not 1 <= per_pagina <= MAX_PER_PAGINA:
        raise Ongeldig("per_pagina", f"moet tussen 1 en {MAX_PER_PAGINA} liggen")
    if (pagina - 1) * per_pagina >= MAX_RESULTATEN:
        raise Ongeldig(
            "pagina",
            f"verder dan {MAX_RESULTATEN} resultaten bladeren kan niet; "
            "verfijn de zoekvraag",
        )


def _text(value: str | None, veld: str, limit: int) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if len(text) > limit:
        raise Ongeldig(veld, f"is langer dan {limit} tekens")
    return text or None


def _documents_query() -> sa.Select[Any]:
    return sa.select(
        _DOCUMENTEN.c.identificatie,
        sa.func.coalesce(_DOCUMENTEN.c.titel, _ZAAKDOCUMENTEN.c.titel).label("titel"),
        _DOCUMENTEN.c.formaat,
        _DOCUMENTEN.c.bestandsnaam,
        _DOCUMENTEN.c.content_type,
        _DOCUMENTEN.c.inhoud_grootte,
        _DOCUMENTEN.c.vertrouwelijk_aanduiding,
        _DOCUMENTEN.c.creatiedatum,
        _DOCUMENTEN.c.inhoud_sleutel,
    ).select_from(
        _ZAAKDOCUMENTEN.join(
            _DOCUMENTEN, _DOCUMENTEN.c.id == _ZAAKDOCUMENTEN.c.document_id
        )
    )


def _document(row: sa.Row[Any]) -> DocumentInfo:
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


def _status(row: sa.Row[Any]) -> StatusRegel:
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


def _betrokkene(row: sa.Row[Any]) -> Betrokkene:
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


def _naam(*parts: str | None) -> str | None:
    text = " ".join(part.strip() for part in parts if part and part.strip())
    return text or None


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
