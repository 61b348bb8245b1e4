"""Searching the zaakregister: filters, sortings, pages, one zaak in full.

:class:`Zoeker` reads the zaakregister's tables with SQLAlchemy Core, on
SQLite and PostgreSQL alike; the two differ only in free text
(:mod:`zaakzoeker.fulltext`). What it answers, and which zaken count as
confidential, is in :mod:`zaakzoeker.results`.

The exception::

    ValueError
     └── Ongeldig(veld, reden)   a filter, sorting or page the caller gave
                                 cannot be used; reden is fit to show
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

import sqlalchemy as sa

from registers.klantregister.nummers import passes_elfproef
from registers.zaakregister import model
from zaakzoeker import fulltext
from zaakzoeker.database import huidige_status_table
from zaakzoeker.results import (
    NIET_VERTROUWELIJK,
    DocumentInfo,
    Pagina,
    ZaakDetail,
    bericht,
    betrokkene,
    document_info,
    status_regel,
    zaak_detail,
    zaak_regel,
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

# Each zaak with the omschrijving of its current status, as results.py reads
# them (a zaak without statussen has none).
_MET_STATUS = _ZAKEN.outerjoin(_HUIDIG, _HUIDIG.c.zaak_id == _ZAKEN.c.id)
_HUIDIGE_STATUS = _HUIDIG.c.omschrijving.label("huidige_status")

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
    # Include confidential zaken (zaakzoeker.results says which those are).
    vertrouwelijk: bool = False


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
                sa.select(_ZAKEN, _HUIDIGE_STATUS)
                .select_from(_MET_STATUS)
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
            log = _GEBEURTENISSEN.c
            berichten = connection.execute(
                sa.select(_GEBEURTENISSEN)
                .where(log.zaak_identificatie == identificatie)
                .order_by(log.tijdstip, log.id)
            ).all()
        return zaak_detail(
            row,
            statussen=[status_regel(s) for s in statussen],
            documenten=[document_info(d) for d in documenten],
            betrokkenen=[betrokkene(r) for r in rollen],
            berichten=[bericht(b) for b in berichten],
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
        return None if row is None else document_info(row)

    # The query ----------------------------------------------------------

    def _conditions(
        self, connection: sa.Connection, filters: Filters
    ) -> tuple[list[sa.ColumnElement[bool]], list[sa.ColumnElement[bool]]]:
        """The filters as SQL, twice: to find all matches (free text as a
        set of zaak ids from the index; zaaktype and status together from
        one index), and to walk zaken in sorted order (each checked per
        zaak), see :meth:`_page`."""
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
        status = _text(filters.status, "status", 200)
        if zaaktype and status:
            # Both are one range of one index: zzk_huidige_status keeps a
            # copy of each zaak's zaaktype (migration 0002). Otherwise all
            # zaken of the zaaktype, or all with the status, are read and
            # each checked against the other: half a second in a million.
            # zrg_zaken.zaaktype_code is left out on purpose: PostgreSQL
            # would apply the zaaktype's selectivity twice, expect a
            # hundredth of the matches, and hash-join all of them where the
            # count needs only the first 5,001.
            both = _status_is(status).where(_HUIDIG.c.zaaktype_code == zaaktype)
            combined = zaken.id.in_(both)
            conditions.append(combined)
            # Walking a sort's index past the counting limit, the status of
            # each zaak is one lookup (newest first walks the zaaktype's own
            # index), and a page takes a few hundred of them.
            per_zaak[id(combined)] = sa.and_(
                zaken.zaaktype_code == zaaktype, zaken.id.in_(_status_is(status))
            )
        elif zaaktype:
            conditions.append(zaken.zaaktype_code == zaaktype)
        elif status:
            conditions.append(zaken.id.in_(_status_is(status)))

        if filters.van and filters.tot and filters.van > filters.tot:
            raise Ongeldig("tot", "ligt voor de datum 'van'")
        if filters.van:
            conditions.append(zaken.startdatum >= filters.van.strftime("%Y%m%d"))
        if filters.tot:
            conditions.append(zaken.startdatum <= filters.tot.strftime("%Y%m%d"))

        tekst = _text(filters.tekst, "tekst", MAX_TEKST)
        if tekst:
            match = self._tekst(connection, tekst)
            conditions.append(match.found)
            per_zaak[id(match.found)] = match.checked

        if not filters.vertrouwelijk:
            conditions.append(
                sa.or_(
                    zaken.vertrouwelijkheid.is_(None),
                    sa.func.upper(sa.func.trim(zaken.vertrouwelijkheid)).in_(
                        sorted(NIET_VERTROUWELIJK)
                    ),
                )
            )
        # The other filters are the same either way.
        walking = [per_zaak.get(id(c), c) for c in conditions]
        return conditions, walking

    def _tekst(self, connection: sa.Connection, tekst: str) -> fulltext.TekstMatch:
        if not fulltext.words(tekst):
            raise Ongeldig("tekst", "bevat geen woorden om op te zoeken")
        match = fulltext.match(connection, tekst)
        if match is None:
            raise Ongeldig(
                "tekst", "bevat alleen woorden die te vaak voorkomen om op te zoeken"
            )
        return match

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
                _HUIDIGE_STATUS,
                _ZAKEN.c.startdatum,
                _ZAKEN.c.einddatum_gepland,
                _ZAKEN.c.einddatum,
                _ZAKEN.c.vertrouwelijkheid,
            )
            .select_from(_MET_STATUS)
            .where(_ZAKEN.c.id.in_(page))
            .order_by(*ordered(columns))
        ).all()
        return Pagina(
            [zaak_regel(row) for row in rows],
            pagina,
            per_pagina,
            min(totaal, MAX_RESULTATEN),
            totaal_exact=totaal <= MAX_RESULTATEN,
        )


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


def _status_is(status: str) -> sa.Select[tuple[int]]:
    """The zaken whose current status is ``status``, in any case."""
    return sa.select(_HUIDIG.c.zaak_id).where(
        sa.func.lower(_HUIDIG.c.omschrijving)
        == sa.func.lower(sa.literal(status, sa.String))
    )


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
