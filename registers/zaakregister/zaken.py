"""The zaak operations: genereerZaakIdentificatie, creeerZaak, updateZaak,
actualiseerZaakstatus, and the vragen geefZaakdetails, geefZaakstatus and
geefLijstZaakdocumenten.

Each function takes the open session and the request and returns the
answer's bericht element; it raises a StufFault when the request cannot be
carried out. The session's transaction commits when the function returns.

An update is a kennisgeving with mutatiesoort W and two objects, the old
state (*was*) and the new one (*wordt*) (StUF 03.01 section 5.2). What
differs between them is what the sender changes; an element in both with
the same value changes nothing, even where the register holds another
value (GISVG repeats elements it does not know, such as an empty
toelichting). For each change the *was* must match what the register holds:
otherwise the sender worked from a stale state and the update is refused
naming the element (StUF058). Relations follow their
``StUF:verwerkingssoort``: T adds, W replaces, V and E remove, I leaves alone.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from lxml import etree
from sqlalchemy.orm import Session, aliased, selectinload

from esb.engines import run, run_many
from esb.errors import StufFault
from registers.stuf import child, is_nil, path, text
from registers.zaakregister import answers, gebeurtenissen, identificaties, parse
from registers.zaakregister.answers import Form, Verwant
from registers.zaakregister.context import (
    Config,
    Request,
    bevestiging,
    not_found,
    refused,
)
from registers.zaakregister.database import check_lengths
from registers.zaakregister.model import (
    Base,
    Besluit,
    Document,
    Gebeurtenis,
    Kenmerk,
    Rol,
    Status,
    Zaak,
    ZaakDocument,
    ZaakRelatie,
)
from registers.zaakregister.parse import (
    BesluitGegevens,
    RelatieGegevens,
    RolGegevens,
    StatusGegevens,
    ZaakGegevens,
)
from registers.zaakregister.scope import prune
from registers.zaakregister.stuf import ZKN, fragment

LOAD = (
    selectinload(Zaak.statussen),
    selectinload(Zaak.rollen),
    selectinload(Zaak.kenmerken),
    selectinload(Zaak.documenten).selectinload(ZaakDocument.document),
    selectinload(Zaak.relaties),
    selectinload(Zaak.besluiten),
)


def find(session: Session, identificatie: str | None) -> Zaak:
    """The zaak with this identificatie, with its relations; StUF064 if none."""
    if identificatie:
        query = sa.select(Zaak).where(Zaak.identificatie == identificatie)
        zaak = session.execute(query.options(*LOAD)).scalar_one_or_none()
        if zaak is not None:
            return zaak
    raise not_found("zaak", identificatie)


def verwanten(session: Session, zaken: Sequence[Zaak]) -> dict[int, list[Verwant]]:
    """The other side of the deelzaak relations, per zaak id.

    A relation is stored on the zaak whose message named it, and a
    kennisgeving can name deelzaken only (ZAK-kennisgeving has no
    heeftAlsHoofdzaak); a hoofdzaak's heeftAlsDeelzaak is its deelzaak's
    heeftAlsHoofdzaak, so the deelzaak's answer shows it too.
    """
    by_identificatie = {zaak.identificatie: zaak.id for zaak in zaken}
    found: dict[int, list[Verwant]] = {zaak.id: [] for zaak in zaken}
    if not zaken:
        return found
    query = (
        sa.select(
            ZaakRelatie.andere_identificatie, Zaak.identificatie, Zaak.omschrijving
        )
        .join(Zaak, ZaakRelatie.zaak_id == Zaak.id)
        .where(
            ZaakRelatie.soort == "heeftAlsDeelzaak",
            ZaakRelatie.andere_identificatie.in_(list(by_identificatie)),
        )
        .order_by(Zaak.identificatie)
    )
    for deelzaak, hoofdzaak, omschrijving in session.execute(query):
        found[by_identificatie[deelzaak]].append(
            Verwant("heeftAlsHoofdzaak", hoofdzaak, omschrijving)
        )
    return found


def organisatie(config: Config, request: Request) -> str:
    """The municipality an identificatie is made for."""
    stuurgegevens = request.stuurgegevens
    return (
        config.organisatie
        or stuurgegevens.ontvanger.organisatie
        or stuurgegevens.zender.organisatie
        or "0000"
    )


# genereerZaakIdentificatie --------------------------------------------------


def genereer_identificatie(
    session: Session, request: Request, config: Config
) -> etree._Element:
    return genereer(session, request, config, "zaak")


def genereer(
    session: Session,
    request: Request,
    config: Config,
    kind: Literal["zaak", "document"],
) -> etree._Element:
    """genereerZaakIdentificatie or genereerDocumentIdentificatie: a Du02
    with the next identificatie of ``kind`` that no zaak or document has."""
    if kind == "zaak":
        pattern, column = config.zaak_pattern, Zaak.identificatie
    else:
        pattern, column = config.document_pattern, Document.identificatie
    identificatie = identificaties.generate(
        session,
        pattern,
        kind,
        organisatie(config, request),
        identificaties.exists(session, column),
        now=request.now,
    )
    return answers.du02_identificatie(
        kind,
        identificatie,
        request.stuurgegevens,
        config.system,
        request.flavour,
        now=request.now,
    )


# creeerZaak -----------------------------------------------------------------
#
# creeerZaak writes its rows with SQLAlchemy Core, one INSERT per table: the
# ORM's unit of work cost more than the statements themselves, on the
# broker's busiest write (issue 5: with the ORM a creeerZaak took 1.4 ms of
# CPU on SQLite, now 0.45). A new zaak is built as plain rows, by the same
# _add_... functions that add relations to a stored zaak; what is stored is
# what the ORM stored for the same Zaak (tests/.../test_creeer.py compares).

Row = dict[str, Any]


@dataclass(frozen=True)
class Aanmaak:
    """A creeerZaak made ready without the database: its rows, checked."""

    identificatie: str
    nieuw: _NieuweZaak
    gebeurtenis: Row


def voorbereid(request: Request) -> Aanmaak:
    """Read the zaak a creeerZaak describes and build its rows.

    The register runs this before it takes its turn to write (on SQLite one
    writer at a time), so that the turn holds only the statements.
    """
    gegevens = parse.zaak(request.objects()[-1])
    if not gegevens.identificatie:
        raise refused(
            "Zaak zonder identificatie",
            "creeerZaak vraagt een identificatie; vraag er een aan met "
            "genereerZaakIdentificatie",
        )
    nieuw = _nieuwe_zaak(gegevens, request)
    gebeurtenis = gebeurtenissen.values(
        request, "zaak-aangemaakt", gegevens.identificatie
    )
    # The check an ORM flush makes, in its order: the zaak, its relations
    # in the order Zaak declares them, then the event.
    for table, rows in (*nieuw.tables(), (_GEBEURTENISSEN, [gebeurtenis])):
        for row in rows:
            check_lengths(table, row)
    return Aanmaak(gegevens.identificatie, nieuw, gebeurtenis)


def creeer(
    session: Session,
    request: Request,
    config: Config,
    aanmaak: Aanmaak | None = None,
) -> etree._Element:
    """Store the zaak of a creeerZaak (made ready by :func:`voorbereid`)."""
    if aanmaak is None:
        aanmaak = voorbereid(request)
    connection = session.connection()
    if run(connection, _EXISTS, {"identificatie": aanmaak.identificatie}):
        raise refused(
            "Zaak bestaat al",
            f"zaak '{aanmaak.identificatie}' staat al in het zaakregister; "
            "wijzig haar met updateZaak",
        )
    aanmaak.nieuw.insert(connection)
    run(connection, _INSERT[_GEBEURTENISSEN], aanmaak.gebeurtenis)
    return bevestiging(request, config)


def _table(model: type[Base]) -> sa.Table:
    table = model.__table__
    assert isinstance(table, sa.Table)
    return table


_ZAKEN = _table(Zaak)
_STATUSSEN = _table(Status)
_ROLLEN = _table(Rol)
_KENMERKEN = _table(Kenmerk)
_RELATIES = _table(ZaakRelatie)
_BESLUITEN = _table(Besluit)
_GEBEURTENISSEN = _table(Gebeurtenis)


@functools.cache
def _columns(table: sa.Table) -> tuple[str, ...]:
    return tuple(column.key for column in table.columns if not column.primary_key)


def _insert(table: sa.Table) -> sa.Insert:
    """An INSERT with a bind parameter for every column but the id (the
    statements run on the driver: :func:`esb.engines.run`)."""
    return sa.insert(table).values({key: sa.bindparam(key) for key in _columns(table)})


_INSERT = {
    table: _insert(table)
    for table in (
        _STATUSSEN,
        _ROLLEN,
        _KENMERKEN,
        _RELATIES,
        _BESLUITEN,
        _GEBEURTENISSEN,
    )
}
# The zaak's id comes back for its relations' rows.
_INSERT_ZAAK = _insert(_ZAKEN).returning(_ZAKEN.c.id)
_EXISTS = sa.select(_ZAKEN.c.id).where(
    _ZAKEN.c.identificatie == sa.bindparam("identificatie")
)


def _row(table: sa.Table, **values: Any) -> Row:
    """A new row of ``table``: every column but the id, NULL unless given
    (the register's tables have no defaults), so that the rows of one
    executemany bind the same parameters."""
    row: Row = dict.fromkeys(_columns(table))
    row.update(values)
    return row


@dataclass
class _NieuweZaak:
    """A new zaak as the rows to insert."""

    zaak: Row
    statussen: list[Row] = field(default_factory=list)
    rollen: list[Row] = field(default_factory=list)
    kenmerken: list[Row] = field(default_factory=list)
    relaties: list[Row] = field(default_factory=list)
    besluiten: list[Row] = field(default_factory=list)

    def tables(self) -> list[tuple[sa.Table, list[Row]]]:
        """The rows per table, the zaak first."""
        return [
            (_ZAKEN, [self.zaak]),
            (_STATUSSEN, self.statussen),
            (_ROLLEN, self.rollen),
            (_KENMERKEN, self.kenmerken),
            (_RELATIES, self.relaties),
            (_BESLUITEN, self.besluiten),
        ]

    def insert(self, connection: sa.Connection) -> None:
        """One INSERT for the zaak (its id by RETURNING), one executemany
        per table of relations; on the driver, not through SQLAlchemy's
        execute, which cost more than the statements themselves."""
        inserted = run(connection, _INSERT_ZAAK, self.zaak)
        assert inserted is not None
        zaak_id = inserted[0]
        for table, rows in self.tables()[1:]:
            if rows:
                for row in rows:
                    row["zaak_id"] = zaak_id
                run_many(connection, _INSERT[table], rows)


def _nieuwe_zaak(gegevens: ZaakGegevens, request: Request) -> _NieuweZaak:
    """The rows of the zaak a creeerZaak kennisgeving describes."""
    zaak = _row(
        _ZAKEN,
        identificatie=gegevens.identificatie,
        bronorganisatie=request.stuurgegevens.zender.organisatie,
        aangemaakt_door=request.zender,
        aangemaakt_op=request.now,
        gewijzigd_op=request.now,
    )
    zaak.update(gegevens.fields)
    if gegevens.zaaktype is not None:
        zaak.update(gegevens.zaaktype)
    nieuw = _NieuweZaak(zaak)
    if gegevens.kenmerken is not None:
        nieuw.kenmerken = [
            _row(_KENMERKEN, kenmerk=k, bron=b) for k, b in gegevens.kenmerken
        ]
    if gegevens.andere_zaakobjecten is not None:
        fragments = [fragment(element) for element in gegevens.andere_zaakobjecten]
        zaak["andere_zaakobjecten"] = json.dumps(fragments) if fragments else None

    for rol in gegevens.rollen:
        if rol.verwerkingssoort not in ("V", "E"):
            _add_rol(nieuw.rollen, rol, functools.partial(_row, _ROLLEN))
    for status in gegevens.statussen:
        if status.verwerkingssoort not in ("V", "E"):
            _add_status(
                nieuw.statussen,
                status,
                functools.partial(_row, _STATUSSEN, geregistreerd_op=request.now),
            )
    for relatie in gegevens.relaties:
        if relatie.verwerkingssoort not in ("V", "E"):
            _add_relatie(nieuw.relaties, relatie, functools.partial(_row, _RELATIES))
    for besluit in gegevens.besluiten:
        if besluit.verwerkingssoort not in ("V", "E"):
            _add_besluit(nieuw.besluiten, besluit, functools.partial(_row, _BESLUITEN))
    return nieuw


# The relations of a zaak, stored (ORM objects, for an update) or new (rows,
# for creeerZaak): the rules for a relation named again are the same.
_R = TypeVar("_R", Rol, Row)
_S = TypeVar("_S", Status, Row)
_ZR = TypeVar("_ZR", ZaakRelatie, Row)
_B = TypeVar("_B", Besluit, Row)


def _get(row: Base | Row, column: str) -> Any:
    return row[column] if isinstance(row, dict) else getattr(row, column)


def _set(row: Base | Row, values: Mapping[str, Any]) -> None:
    if isinstance(row, dict):
        row.update(values)
    else:
        for column, new in values.items():
            setattr(row, column, new)


def _add_rol(rollen: list[_R], gegevens: RolGegevens, new: Callable[..., _R]) -> None:
    betrokkene = gegevens.betrokkene
    if betrokkene is None:
        # An empty gerelateerde names nobody: GISVG sends one with every
        # update; there is no role to record.
        return
    for existing in rollen:
        if (
            _get(existing, "rol") == gegevens.rol
            and _rol_key(existing) == betrokkene.key()
        ):
            _fill_rol(existing, gegevens)
            return
    rol = new(rol=gegevens.rol)
    _fill_rol(rol, gegevens)
    rollen.append(rol)


def _fill_rol(rol: Rol | Row, gegevens: RolGegevens) -> None:
    _set(rol, gegevens.fields)
    betrokkene = gegevens.betrokkene
    if betrokkene is not None:
        _set(rol, {"soort": betrokkene.soort})
        _set(rol, betrokkene.fields)
        if betrokkene.adres is not None:
            _set(rol, {"adres": betrokkene.adres})


def _rol_key(rol: Rol | Row) -> tuple[str, str | None]:
    for column in parse.NUMMERS:
        number = _get(rol, column)
        if number:
            return _get(rol, "soort") or "", number
    return _get(rol, "soort") or "", _get(rol, "naam")


def _add_status(
    statussen: list[_S], gegevens: StatusGegevens, new: Callable[..., _S]
) -> None:
    """Record a status, once: the same status at the same moment is one.
    ``new`` makes a status given the moment it is registered."""
    for existing in statussen:
        if _status_key(existing) == gegevens.key():
            return
    status = new(**gegevens.fields)
    statussen.append(status)


def _add_relatie(
    relaties: list[_ZR], gegevens: RelatieGegevens, new: Callable[..., _ZR]
) -> None:
    for existing in relaties:
        if (
            _get(existing, "soort"),
            _get(existing, "andere_identificatie"),
        ) == gegevens.key():
            _set(existing, {"andere_omschrijving": gegevens.omschrijving})
            return
    relaties.append(
        new(
            soort=gegevens.soort,
            andere_identificatie=gegevens.identificatie,
            andere_omschrijving=gegevens.omschrijving,
        )
    )


def _add_besluit(
    besluiten: list[_B], gegevens: BesluitGegevens, new: Callable[..., _B]
) -> None:
    """Record a besluit; one with the same identificatie is replaced."""
    for existing in besluiten:
        if _besluit_key(existing) == gegevens.key():
            _set(existing, gegevens.fields)
            return
    besluiten.append(new(**gegevens.fields))


def _besluit_key(besluit: Besluit | Row) -> tuple[str | None, ...]:
    identificatie = _get(besluit, "identificatie")
    if identificatie:
        return (identificatie,)
    return tuple(_get(besluit, column) for _, column in parse.BESLUIT_ELEMENTS)


def _status_key(status: Status | Row) -> tuple[str | None, ...]:
    return tuple(
        _get(status, column)
        for column in (
            "zkt_code",
            "volgnummer",
            "code",
            "omschrijving",
            "datum_status_gezet",
        )
    )


# updateZaak, actualiseerZaakstatus -------------------------------------------


def update(session: Session, request: Request, config: Config) -> etree._Element:
    was, wordt = _was_wordt(request)
    zaak = find(session, wordt.identificatie or (was.identificatie if was else None))
    _record(session, request, zaak, _apply(zaak, was, wordt, request))
    return bevestiging(request, config)


def actualiseer_status(
    session: Session, request: Request, config: Config
) -> etree._Element:
    """actualiseerZaakstatus: an update that must carry a new status.

    ZDS 1.2 sends was and wordt; ZDS 1.1 clients send one object with
    mutatiesoort T (the GISVG example), which is the wordt without a was.
    """
    was, wordt = _was_wordt(request)
    if not wordt.statussen:
        raise refused(
            "Geen status in actualiseerZaakstatus",
            "het (wordt-)object heeft geen heeft-relatie met de nieuwe status",
        )
    zaak = find(session, wordt.identificatie or (was.identificatie if was else None))
    _record(session, request, zaak, _apply(zaak, was, wordt, request))
    return bevestiging(request, config)


def _record(session: Session, request: Request, zaak: Zaak, changed: Changed) -> None:
    """The events of an update: a new or removed status is a status-gewijzigd,
    any other change a zaak-gewijzigd; an update that changed nothing is
    no event."""
    if changed.status:
        gebeurtenissen.record(session, request, "status-gewijzigd", zaak.identificatie)
    if changed.zaak:
        gebeurtenissen.record(session, request, "zaak-gewijzigd", zaak.identificatie)


@dataclass
class Changed:
    """What an update changed: the zaak's own data or relations, its statuses."""

    zaak: bool = False
    status: bool = False


def _was_wordt(request: Request) -> tuple[ZaakGegevens | None, ZaakGegevens]:
    objects = request.objects()
    if len(objects) == 1:
        return None, parse.zaak(objects[0])
    return parse.zaak(objects[0]), parse.zaak(objects[1])


def _apply(
    zaak: Zaak, was: ZaakGegevens | None, wordt: ZaakGegevens, request: Request
) -> Changed:
    changed = Changed()
    # The fields: only what differs between was and wordt changes.
    changes: dict[str, str | None] = {}
    previous = was.fields if was else {}
    for column, new in wordt.fields.items():
        if column in previous and previous[column] == new:
            continue
        if column in previous and previous[column] != getattr(zaak, column):
            raise _stale(zaak, column, previous[column], getattr(zaak, column))
        changes[column] = new
    for column, new in changes.items():
        changed.zaak = changed.zaak or getattr(zaak, column) != new
        setattr(zaak, column, new)

    if wordt.zaaktype is not None and (was is None or was.zaaktype != wordt.zaaktype):
        for column, new in wordt.zaaktype.items():
            changed.zaak = changed.zaak or getattr(zaak, column) != new
            setattr(zaak, column, new)
    if wordt.kenmerken is not None and (
        was is None or was.kenmerken != wordt.kenmerken
    ):
        zaak.kenmerken = [Kenmerk(kenmerk=k, bron=b) for k, b in wordt.kenmerken]
        changed.zaak = True
    if wordt.andere_zaakobjecten is not None and (
        was is None or _xml(was.andere_zaakobjecten) != _xml(wordt.andere_zaakobjecten)
    ):
        fragments = [fragment(e) for e in wordt.andere_zaakobjecten]
        zaak.andere_zaakobjecten = json.dumps(fragments) if fragments else None
        changed.zaak = True

    # The relations, by verwerkingssoort.
    unchanged_rollen = was.rollen if was else []
    for rol in wordt.rollen:
        if any(_same_rol(rol, old) for old in unchanged_rollen):
            continue
        if rol.verwerkingssoort != "I" and rol.betrokkene is not None:
            changed.zaak = True
        _apply_rol(zaak, rol)
    unchanged_statussen = [s.key() for s in was.statussen] if was else []
    for status in wordt.statussen:
        if status.key() in unchanged_statussen:
            continue
        held = len(zaak.statussen)
        if status.verwerkingssoort in ("V", "E"):
            zaak.statussen[:] = [
                s for s in zaak.statussen if _status_key(s) != status.key()
            ]
        elif status.verwerkingssoort != "I":
            _add_status(
                zaak.statussen,
                status,
                functools.partial(Status, geregistreerd_op=request.now),
            )
        changed.status = changed.status or len(zaak.statussen) != held
    changed.zaak = _apply_relaties(zaak, was, wordt) or changed.zaak
    zaak.gewijzigd_op = request.now
    return changed


def _apply_relaties(zaak: Zaak, was: ZaakGegevens | None, wordt: ZaakGegevens) -> bool:
    """Relations to other zaken and besluiten, by verwerkingssoort; whether
    anything changed."""
    changed = False
    unchanged = list(was.relaties) if was else []
    for relatie in wordt.relaties:
        if relatie in unchanged or relatie.verwerkingssoort == "I":
            continue
        if relatie.verwerkingssoort in ("V", "E"):
            zaak.relaties[:] = [
                r
                for r in zaak.relaties
                if (r.soort, r.andere_identificatie) != relatie.key()
            ]
        else:
            _add_relatie(zaak.relaties, relatie, ZaakRelatie)
        changed = True
    unchanged_besluiten = list(was.besluiten) if was else []
    for besluit in wordt.besluiten:
        if besluit in unchanged_besluiten or besluit.verwerkingssoort == "I":
            continue
        if besluit.verwerkingssoort in ("V", "E"):
            zaak.besluiten[:] = [
                b for b in zaak.besluiten if _besluit_key(b) != besluit.key()
            ]
        else:
            _add_besluit(zaak.besluiten, besluit, Besluit)
        changed = True
    return changed


def _stale(zaak: Zaak, column: str, was: str | None, held: str | None) -> StufFault:
    element = _element_name(column)
    return refused(
        "Was-deel komt niet overeen met het zaakregister",
        f"zaak '{zaak.identificatie}', {element}: het was-object zegt "
        f"{_shown(was)}, het zaakregister heeft {_shown(held)}",
    )


def _shown(value: str | None) -> str:
    return f"'{value}'" if value else "geen waarde"


def _element_name(column: str) -> str:
    for name, known in parse.ZAAK_ELEMENTS:
        if known == column:
            return name
    for group, members in parse.ZAAK_GROUPS.items():
        for name, known in members:
            if known == column:
                return f"{group}/{name}"
    return column


def _xml(elements: Sequence[etree._Element] | None) -> list[str] | None:
    return None if elements is None else [_xml_one(e) for e in elements]


def _xml_one(element: etree._Element) -> str:
    return etree.tostring(element, method="c14n").decode()


def _same_rol(new: RolGegevens, old: RolGegevens) -> bool:
    if new.rol != old.rol or new.fields != old.fields:
        return False
    if new.betrokkene is None or old.betrokkene is None:
        return new.betrokkene is old.betrokkene
    return (
        new.betrokkene.soort == old.betrokkene.soort
        and new.betrokkene.fields == old.betrokkene.fields
    )


def _apply_rol(zaak: Zaak, gegevens: RolGegevens) -> None:
    soort = gegevens.verwerkingssoort
    betrokkene = gegevens.betrokkene
    if soort == "I" or betrokkene is None:
        return
    same = [
        r
        for r in zaak.rollen
        if r.rol == gegevens.rol and _rol_key(r) == betrokkene.key()
    ]
    if soort in ("V", "E"):
        for rol in same:
            zaak.rollen.remove(rol)
        return
    if soort == "W" and not same and gegevens.rol == "Initiator":
        # A zaak has one initiator (ZDS 1.2 CreeerZaak-ZAKBTRINI): W with
        # another betrokkene replaces it.
        zaak.rollen[:] = [r for r in zaak.rollen if r.rol != "Initiator"]
    _add_rol(zaak.rollen, gegevens, Rol)


# Vragen ---------------------------------------------------------------------


def geef_details(session: Session, request: Request, config: Config) -> etree._Element:
    """geefZaakdetails, and the generic zakLv01 of StUF-ZKN.

    ZDS 1.2 selects one zaak by identificatie; the generic vraag may also
    select by the initiator's BSN (or RSIN, vestigingsnummer) and by zaaktype
    code, and answers with every zaak that matches, up to maximumAantal.
    """
    gelijk = request.element("gelijk")
    scope = path(request.body, "scope/object")
    identificatie = text(gelijk, "identificatie")
    if identificatie:
        zaken = [find(session, identificatie)]
    else:
        zaken = _search(session, gelijk, request)
    form: Form = "details" if request.flavour == "zds-1.2" else "generiek"
    andere = verwanten(session, zaken)
    objects = [
        prune(answers.zaak_object(z, form=form, verwanten=andere[z.id]), scope)
        for z in zaken
    ]
    return _la01(request, config, objects)


def geef_status(session: Session, request: Request, config: Config) -> etree._Element:
    """geefZaakstatus: the zaak's current status.

    ZDS 1.2 allows only the last status in the answer (GeefZaakStatus-
    ZAKSTT-antwoord fixes indicatieLaatsteStatus to J); the generic zakLv01
    of ZDS 1.1 gives the whole history unless the selection asks for
    ``heeft/indicatieLaatsteStatus`` J.
    """
    gelijk = request.element("gelijk")
    zaak = find(session, text(gelijk, "identificatie"))
    form: Form = "status" if request.flavour == "zds-1.2" else "generiek"
    element = answers.zaak_object(zaak, form=form)
    laatste = text(gelijk, "heeft/indicatieLaatsteStatus") == "J"
    if form == "status" or laatste:
        for heeft in element.findall(ZKN + "heeft"):
            if is_nil(heeft):
                continue  # no status at all: the empty relation stays
            if heeft.findtext(ZKN + "indicatieLaatsteStatus") != "J":
                element.remove(heeft)
    keep = {
        "heeft",
        "toelichting",
        "datumStatusGezet",
        "zkt.omschrijving",
        "volgnummer",
    }
    prune(element, path(request.body, "scope/object"), keep=keep)
    return _la01(request, config, [element])


def geef_documenten(
    session: Session, request: Request, config: Config
) -> etree._Element:
    """geefLijstZaakdocumenten: the zaak's documents, without their content."""
    gelijk = request.element("gelijk")
    zaak = find(session, text(gelijk, "identificatie"))
    form: Form = "documenten" if request.flavour == "zds-1.2" else "generiek"
    element = answers.zaak_object(zaak, form=form)
    keep = {"heeftRelevant", "registratiedatum"} if form == "documenten" else ()
    prune(element, path(request.body, "scope/object"), keep=keep)
    return _la01(request, config, [element])


def _la01(
    request: Request, config: Config, objects: list[etree._Element]
) -> etree._Element:
    aantal = len(objects) if request.parameter("indicatorAantal") == "true" else None
    return answers.la01(
        request.operation,
        "ZAK",
        request.stuurgegevens,
        config.system,
        request.flavour,
        objects,
        aantal=aantal,
        now=request.now,
    )


# Where a betrokkene's number may be: BSN, RSIN, vestigingsnummer, the
# identificatie of a medewerker or organisatorische eenheid, or a number
# from another register (anp/ann.identificatie).
_NUMBERS = (
    Rol.bsn,
    Rol.rsin,
    Rol.vestigingsnummer,
    Rol.identificatie,
    Rol.anp_identificatie,
    Rol.ann_identificatie,
)


def _betrokkene_numbers(gerelateerde: etree._Element | None) -> list[str]:
    """The numbers a selection gives for a betrokkene.

    StUF-ZKN selects by the betrokkene's ``identificatie`` (zkn0310
    BTR-gerelateerdeVraagSelectie: the BSN of a natuurlijk persoon, the RSIN
    of a niet-natuurlijk persoon). Clients also send the subtype with its
    own number (``natuurlijkPersoon/inp.bsn``), which the schema refuses but
    "report" mode lets through; both are understood.
    """
    numbers = [text(gerelateerde, "identificatie")]
    for soort, element in (
        ("natuurlijkPersoon", "inp.bsn"),
        ("nietNatuurlijkPersoon", "inn.nnpId"),
        ("vestiging", "vestigingsNummer"),
        ("medewerker", "identificatie"),
        ("organisatorischeEenheid", "identificatie"),
    ):
        numbers.append(text(child(gerelateerde, soort), element))
    return [number for number in numbers if number]


def _search(session: Session, gelijk: etree._Element, request: Request) -> list[Zaak]:
    query = sa.select(Zaak)
    criteria = 0
    zaaktype = text(gelijk, "isVan/gerelateerde/code")
    if zaaktype:
        query = query.where(Zaak.zaaktype_code == zaaktype)
        criteria += 1
    for relation, (rol, _) in parse.ROLLEN.items():
        betrokkene = path(gelijk, f"{relation}/gerelateerde")
        for number in _betrokkene_numbers(betrokkene):
            matching = sa.select(Rol.zaak_id).where(
                Rol.rol == rol,
                sa.or_(*(column == number for column in _NUMBERS)),
            )
            query = query.where(Zaak.id.in_(matching))
            criteria += 1
    if not criteria:
        raise refused(
            "Vraag zonder selectie",
            "gelijk moet een identificatie, een zaaktype (isVan/gerelateerde/code) "
            "of een betrokkene (heeftAls.../gerelateerde) noemen",
        )
    query = query.order_by(*_sortering(request)).limit(request.maximum_aantal())
    return list(session.execute(query.options(*LOAD)).scalars())


def _eerste_betrokkene(rol: str) -> sa.ScalarSelect[str | None]:
    """The lowest number of a betrokkene in role ``rol``, per zaak."""
    nummer = sa.func.coalesce(*_NUMBERS)
    return (
        sa.select(sa.func.min(nummer))
        .where(Rol.zaak_id == Zaak.id, Rol.rol == rol)
        .scalar_subquery()
    )


def _hoofdzaak() -> sa.ScalarSelect[str | None]:
    """The identificatie of the hoofdzaak, per zaak (isDeelzaakVan)."""
    hoofd = aliased(Zaak)
    return (
        sa.select(sa.func.min(hoofd.identificatie))
        .join(ZaakRelatie, ZaakRelatie.zaak_id == hoofd.id)
        .where(
            ZaakRelatie.soort == "heeftAlsDeelzaak",
            ZaakRelatie.andere_identificatie == Zaak.identificatie,
        )
        .scalar_subquery()
    )


def _sortering(request: Request) -> list[sa.ColumnElement[Any]]:
    """The order of a list of zaken: StUF sortering, by the numbers of
    ZAK-sortering (zkn0310_msg_stuf_vraagAntwoord.xsd).

    Every order ends on the identificatie, so equal keys come in a fixed
    order and maximumAantal cuts the list at the same place every time.
    Where the register keeps no such data (zaakCategorie and
    omschrijvingGeneriek of the zaaktype, 2; zaakobjecten, 6 and 13), the
    nearest it has serves: the zaaktype's omschrijving, the identificatie.
    0, or no sortering, is the register's own order: the identificatie.
    """
    given = request.parameter("sortering")
    number = int(given) if given and given.strip().isdigit() else 0
    if number > 13:
        raise refused(
            "Sortering bestaat niet",
            f"sortering {number}: ZAK-sortering kent de nummers 0 tot en met 13",
        )
    order: list[Any]
    if number in (2, 3):
        order = [Zaak.zaaktype_omschrijving]
    elif number == 4:
        order = [Zaak.omschrijving]
    elif number == 5:
        order = [Zaak.startdatum.desc(), Zaak.omschrijving]
    elif 7 <= number <= 11:
        rol = ("Belanghebbende", "Gemachtigde", "Initiator", "Uitvoerende")
        rollen = (*rol, "Verantwoordelijke")
        order = [_eerste_betrokkene(rollen[number - 7])]
    elif number == 12:
        order = [_hoofdzaak()]
    else:
        order = []
    # Zaken without the key last, on SQLite as on PostgreSQL.
    return [*(sa.nulls_last(key) for key in order), Zaak.identificatie]
