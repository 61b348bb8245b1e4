"""The answers the zaakregister gives, built to validate against the schemas.

One answer per kind of request (StUF 03.01 chapter 4):

- a vraag (Lv01) gets a ``La01``: ``zakLa01``/``edcLa01`` in ZDS 1.1 and
  StUF-ZKN, ``geefZaakdetails_ZakLa01`` and its siblings in ZDS 1.2;
- a synchronous vrij bericht (Di02) a ``Du02`` (genereer...Identificatie,
  geefZaakdocumentBewerken) or, where ZDS defines none (updateZaakdocument,
  cancelCheckout), a ``Bv02``;
- a kennisgeving (Lk01) a ``Bv03`` (:func:`esb.answers.bv03`).

The zaak and document objects follow the element order of StUF-ZKN 03.10's
``ZAK-antwoord`` and ``EDC-antwoord`` (zkn0310_ent_vraagAntwoord.xsd). ZDS
1.2 restricts them per operation (``GeefZaakStatus-ZAK-antwoord`` keeps four
elements and demands ``heeft``); :func:`shape` cuts the full object down to
such a form.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Literal, NamedTuple

from lxml import etree

from esb.answers import REFNUMMER_MAX, fits_systeem, stuf_tijdstip
from esb.message import Party, Stuurgegevens
from registers.stuf import BG, ENTITEITTYPE, STUF, child, local, nil, sub
from registers.zaakregister.model import (
    Besluit,
    Document,
    Rol,
    Status,
    Zaak,
    ZaakDocument,
)
from registers.zaakregister.parse import (
    BESLUIT_ELEMENTS,
    DOCUMENT_ELEMENTS,
    STATUSTYPE_ELEMENTS,
    ZAAK_ELEMENTS,
    ZAAK_GROUPS,
    ZAAKDOCUMENT_ELEMENTS,
)
from registers.zaakregister.stuf import (
    FUNCTIE,
    NSMAP,
    NSMAP_ZDS,
    ZDS,
    ZKN,
    datum,
    entity,
    optional,
)

Flavour = Literal["zds-1.2", "zds-1.1"]
Form = Literal["details", "status", "documenten", "generiek"]

# A parser for XML the register stored itself (addresses, zaakobjecten).
_STORED = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)

# ZAK relation element per role, in ZAK-antwoord order.
ROL_ELEMENTEN: tuple[tuple[str, str, str], ...] = (
    ("Belanghebbende", "heeftAlsBelanghebbende", "ZAKBTRBLH"),
    ("Gemachtigde", "heeftAlsGemachtigde", "ZAKBTRGMC"),
    ("Initiator", "heeftAlsInitiator", "ZAKBTRINI"),
    ("Uitvoerende", "heeftAlsUitvoerende", "ZAKBTRUTV"),
    ("Verantwoordelijke", "heeftAlsVerantwoordelijke", "ZAKBTRVRA"),
    ("OverigBetrokkene", "heeftAlsOverigBetrokkene", "ZAKBTROVR"),
)


class Verwant(NamedTuple):
    """A relation to another zaak that is stored on the other zaak's side."""

    soort: str
    identificatie: str
    omschrijving: str | None


# What GeefZaakdocumentLezen-EDC-antwoord (ZDS 1.2) demands of a document
# besides its inhoud, whatever the scope: nil when unknown.
DOCUMENT_DEMANDED = frozenset(
    {"creatiedatum", "titel", "formaat", "taal", "vertrouwelijkAanduiding", "auteur"}
)

# Relations to other zaken, in ZAK-antwoord order, with their entiteittype.
ZAAKRELATIES: tuple[tuple[str, str], ...] = (
    ("heeftAlsDeelzaak", "ZAKZAKDEL"),
    ("heeftAlsHoofdzaak", "ZAKZAKHFD"),
    ("heeftBetrekkingOpAndere", "ZAKZAKBTR"),
)


def flavour_of(identification_flavour: str) -> Flavour:
    """ZDS 1.2 answers in the zds0120 namespace; everything else in ZKN."""
    return "zds-1.2" if identification_flavour == "zds-1.2" else "zds-1.1"


# Berichten ------------------------------------------------------------------


def _bericht(tag: str, flavour: Flavour) -> etree._Element:
    nsmap = NSMAP_ZDS if flavour == "zds-1.2" else NSMAP
    return etree.Element(tag, nsmap=nsmap)


def stuurgegevens(
    parent: etree._Element,
    tag: str,
    berichtcode: str,
    request: Stuurgegevens,
    system: Party,
    *,
    entiteittype: str | None = None,
    functie: str | None = None,
    now: float | None = None,
) -> etree._Element:
    """The answer's stuurgegevens: zender and ontvanger swapped, the
    request's referentienummer as crossRefnummer (StUF 03.01 section 4.2)."""
    element = sub(parent, tag)
    sub(element, STUF + "berichtcode", berichtcode)
    zender = request.ontvanger if fits_systeem(request.ontvanger) else system
    _party(element, "zender", zender)
    if fits_systeem(request.zender):
        _party(element, "ontvanger", request.zender)
    sub(element, STUF + "referentienummer", uuid.uuid4().hex)
    sub(element, STUF + "tijdstipBericht", stuf_tijdstip(now))
    if request.referentienummer:
        cross = request.referentienummer[:REFNUMMER_MAX]
        sub(element, STUF + "crossRefnummer", cross)
    if entiteittype:
        sub(element, STUF + "entiteittype", entiteittype)
    if functie:
        sub(element, STUF + "functie", functie)
    return element


def _party(parent: etree._Element, tag: str, party: Party) -> None:
    element = sub(parent, STUF + tag)
    for name in ("organisatie", "applicatie", "administratie", "gebruiker"):
        optional(element, STUF + name, getattr(party, name))


def la01(
    operation: str,
    entiteittype: Literal["ZAK", "EDC"],
    request: Stuurgegevens,
    system: Party,
    flavour: Flavour,
    objects: Sequence[etree._Element],
    *,
    aantal: int | None = None,
    now: float | None = None,
) -> etree._Element:
    """A La01 holding ``objects`` (each an ``object`` element already).

    Without objects the ``antwoord`` is left out, which is how StUF 03.01
    answers a vraag that found nothing.
    """
    if flavour == "zds-1.2":
        suffix = "ZakLa01" if entiteittype == "ZAK" else "EdcLa01"
        tag = f"{ZDS}{operation}_{suffix}"
    else:
        tag = ZKN + ("zakLa01" if entiteittype == "ZAK" else "edcLa01")
    bericht = _bericht(tag, flavour)
    stuurgegevens(
        bericht,
        ZKN + "stuurgegevens",
        "La01",
        request,
        system,
        entiteittype=entiteittype,
        now=now,
    )
    parameters = sub(bericht, ZKN + "parameters")
    sub(parameters, STUF + "indicatorVervolgvraag", "false")
    if aantal is not None:
        sub(parameters, STUF + "aantalVoorkomens", str(aantal))
    if objects:
        antwoord = sub(bericht, ZKN + "antwoord")
        for found in objects:
            antwoord.append(found)
    return bericht


def du02_identificatie(
    kind: Literal["zaak", "document"],
    identificatie: str,
    request: Stuurgegevens,
    system: Party,
    flavour: Flavour,
    *,
    now: float | None = None,
) -> etree._Element:
    """genereerZaakIdentificatie_Du02 or genereerDocumentIdentificatie_Du02."""
    name = "Zaak" if kind == "zaak" else "Document"
    namespace = ZDS if flavour == "zds-1.2" else ZKN
    bericht = _du02(
        namespace,
        f"genereer{name}Identificatie_Du02",
        f"genereer{name}identificatie",
        request,
        system,
        flavour,
        now,
    )
    element = entity(bericht, namespace + kind, "ZAK" if kind == "zaak" else "EDC")
    element.set(FUNCTIE, "entiteit")
    sub(element, ZKN + "identificatie", identificatie)
    return bericht


def du02_bewerken(
    document: etree._Element,
    checkout_id: str,
    request: Stuurgegevens,
    system: Party,
    flavour: Flavour,
    *,
    now: float | None = None,
) -> etree._Element:
    """geefZaakdocumentBewerken_Du02: the document and its checkedOutId.

    ZDS 1.1 spells the operation ``geefZaakdocumentbewerken``.
    """
    if flavour == "zds-1.2":
        namespace, name = ZDS, "geefZaakdocumentBewerken_Du02"
    else:
        namespace, name = ZKN, "geefZaakdocumentbewerken_Du02"
    bericht = _du02(
        namespace, name, "geefZaakdocumentbewerken", request, system, flavour, now
    )
    parameters = sub(bericht, namespace + "parameters")
    # ZDS:Parameters-zs-dms declares its children in the zds0120 namespace
    # (1.2) or ZKN's (1.1), like the parameters element itself.
    sub(parameters, namespace + "checkedOutId", checkout_id)
    edc = entity(bericht, namespace + "edcLa01", "EDC")
    edc.set(FUNCTIE, "antwoord")
    # ParametersAntwoord-gzdb holds only an optional indicatorAfnemerIndicatie.
    sub(edc, ZKN + "parameters")
    sub(edc, ZKN + "antwoord").append(document)
    return bericht


def _du02(
    namespace: str,
    name: str,
    functie: str,
    request: Stuurgegevens,
    system: Party,
    flavour: Flavour,
    now: float | None,
) -> etree._Element:
    """A Du02 bericht with its stuurgegevens, both in ``namespace``."""
    bericht = _bericht(namespace + name, flavour)
    stuurgegevens(
        bericht,
        namespace + "stuurgegevens",
        "Du02",
        request,
        system,
        functie=functie,
        now=now,
    )
    return bericht


def bv02(request: Stuurgegevens, system: Party) -> etree._Element:
    """A Bv02Bericht: stuf0301.xsd allows only its berichtcode."""
    bericht = etree.Element(STUF + "Bv02Bericht", nsmap={"StUF": NSMAP["StUF"]})
    sub(sub(bericht, STUF + "stuurgegevens"), STUF + "berichtcode", "Bv02")
    return bericht


# Zaken ----------------------------------------------------------------------


def zaak_object(
    zaak: Zaak,
    *,
    form: Form,
    tag: str = ZKN + "object",
    verwanten: Sequence[Verwant] = (),
) -> etree._Element:
    """The zaak as a ZAK-antwoord ``object``, cut to ``form``.

    ``verwanten`` are the relations stored on other zaken that this zaak's
    answer shows too (its hoofdzaak, when the hoofdzaak named it as deelzaak).
    """
    element = etree.Element(tag)
    element.set(ENTITEITTYPE, "ZAK")
    sub(element, ZKN + "identificatie", zaak.identificatie)
    _fields(element, zaak, _zaak_elements("omschrijving", "toelichting"))
    for kenmerk in zaak.kenmerken:
        group = sub(element, ZKN + "kenmerk")
        _value_or_nil(group, ZKN + "kenmerk", kenmerk.kenmerk)
        _value_or_nil(group, ZKN + "bron", kenmerk.bron)
    for fragment in json.loads(zaak.andere_zaakobjecten or "[]"):
        element.append(_zaakobject(fragment, complete=form == "details"))
    _group(element, zaak, "resultaat", required=False)
    _fields(element, zaak, _zaak_elements("startdatum", "einddatum"))
    _group(element, zaak, "opschorting", required=True)
    _group(element, zaak, "verlenging", required=True)
    _fields(element, zaak, _zaak_elements("betalingsIndicatie", "deelzakenIndicatie"))

    if zaak.zaaktype_code or zaak.zaaktype_omschrijving:
        relation = entity(element, ZKN + "isVan", "ZAKZKT")
        zaaktype = entity(relation, ZKN + "gerelateerde", "ZKT")
        optional(zaaktype, ZKN + "omschrijving", zaak.zaaktype_omschrijving)
        optional(zaaktype, ZKN + "code", zaak.zaaktype_code)
        optional(zaaktype, ZKN + "vertrouwelijkAanduiding", zaak.vertrouwelijkheid)

    for rol_name, tag_name, entiteittype in ROL_ELEMENTEN:
        rollen = [r for r in zaak.rollen if r.rol == rol_name]
        # ZKN's answers sort roles by omschrijving.
        for rol in sorted(rollen, key=lambda r: (r.omschrijving or "", r.id)):
            element.append(rol_element(rol, ZKN + tag_name, entiteittype))

    relaties = [
        Verwant(r.soort, r.andere_identificatie, r.andere_omschrijving)
        for r in zaak.relaties
    ]
    relaties += [v for v in verwanten if v not in relaties]
    for soort, entiteittype in ZAAKRELATIES:
        for relatie in sorted(r for r in relaties if r.soort == soort):
            element.append(zaakrelatie_element(relatie, entiteittype))

    for status in statussen_nieuwste_eerst(zaak.statussen):
        element.append(status_element(status, laatste=status is _laatste(zaak)))

    koppelingen = sorted(zaak.documenten, key=lambda z: z.document.identificatie)
    for koppeling in koppelingen:
        element.append(zaakdocument_element(koppeling, form=form))

    for besluit in zaak.besluiten:
        element.append(besluit_element(besluit))
    return shape(element, form)


def zaakrelatie_element(relatie: Verwant, entiteittype: str) -> etree._Element:
    """heeftAlsDeelzaak, heeftAlsHoofdzaak or heeftBetrekkingOpAndere, with
    the other zaak's identificatie and omschrijving (ZAK-gerelateerdeAntwoord)."""
    element = etree.Element(ZKN + relatie.soort)
    element.set(ENTITEITTYPE, entiteittype)
    zaak = entity(element, ZKN + "gerelateerde", "ZAK")
    sub(zaak, ZKN + "identificatie", relatie.identificatie)
    optional(zaak, ZKN + "omschrijving", relatie.omschrijving)
    return element


def besluit_element(besluit: Besluit) -> etree._Element:
    """A leidtTot (ZAKBSL-antwoord) with the besluit (BSL-gerelateerdeAntwoord)."""
    element = etree.Element(ZKN + "leidtTot")
    element.set(ENTITEITTYPE, "ZAKBSL")
    gerelateerde = entity(element, ZKN + "gerelateerde", "BSL")
    _fields(gerelateerde, besluit, BESLUIT_ELEMENTS)
    return element


def _value_or_nil(parent: etree._Element, tag: str, text: str | None) -> None:
    if text:
        sub(parent, tag, text)
    else:
        nil(parent, tag)


def _fields(
    parent: etree._Element,
    source: object,
    elements: Iterable[tuple[str, str]],
    demanded: Collection[str] = (),
) -> None:
    """The columns of ``source`` as ZKN elements, by ``elements`` (element,
    column; parse's tables, in schema order): those ``demanded`` go out nil
    when unknown, the others only with a value."""
    for name, column in elements:
        write = _value_or_nil if name in demanded else optional
        write(parent, ZKN + name, getattr(source, column))


@functools.cache
def _zaak_elements(first: str, last: str) -> tuple[tuple[str, str], ...]:
    """ZAK's own elements from ``first`` to ``last`` (parse's table, in
    schema order): ZAK-antwoord puts kenmerk, anderZaakObject and the groups
    between them."""
    names = [name for name, _ in ZAAK_ELEMENTS]
    return ZAAK_ELEMENTS[names.index(first) : names.index(last) + 1]


def _group(parent: etree._Element, zaak: Zaak, tag: str, *, required: bool) -> None:
    """A ZAK group (resultaat, opschorting, verlenging) when any of its
    parts has a value; ``required`` parts go out nil when unknown."""
    parts = ZAAK_GROUPS[tag]
    if not any(getattr(zaak, column) for _, column in parts):
        return
    demanded = [name for name, _ in parts] if required else ()
    _fields(sub(parent, ZKN + tag), zaak, parts, demanded)


def _zaakobject(fragment: str, *, complete: bool) -> etree._Element:
    """A stored anderZaakObject; ZDS 1.2's details demand all four parts."""
    element = etree.fromstring(fragment, _STORED)
    element.tag = ZKN + "anderZaakObject"
    if complete:
        present = {local(c) for c in element if isinstance(c.tag, str)}
        ordered = ("omschrijving", "aanduiding", "lokatie", "registratie")
        for position, name in enumerate(ordered):
            if name not in present:
                placeholder = etree.Element(ZKN + name)
                placeholder.set(f"{{{NSMAP['xsi']}}}nil", "true")
                placeholder.set(STUF + "noValue", "geenWaarde")
                element.insert(position, placeholder)
    return element


def statussen_nieuwste_eerst(statussen: Sequence[Status]) -> list[Status]:
    """ZAKSTT-antwoord's order: datumStatusGezet descending (zkn0310)."""
    return sorted(
        statussen, key=lambda s: (s.datum_status_gezet or "", s.id), reverse=True
    )


def _laatste(zaak: Zaak) -> Status | None:
    ordered = statussen_nieuwste_eerst(zaak.statussen)
    return ordered[0] if ordered else None


# What STT-ZAKSTT-antwoord demands of the statustype: nil when unknown.
_STATUSTYPE_DEMANDED = frozenset({"zkt.omschrijving", "volgnummer"})


def status_element(status: Status, *, laatste: bool) -> etree._Element:
    """A heeft (ZAKSTT-antwoord) with its statustype and who set it.

    toelichting and datumStatusGezet are always given (nil when unknown):
    GeefZaakStatus-ZAKSTT-antwoord (ZDS 1.2) requires them.
    """
    relation = etree.Element(ZKN + "heeft")
    relation.set(ENTITEITTYPE, "ZAKSTT")
    statustype = entity(relation, ZKN + "gerelateerde", "STT")
    _fields(statustype, status, STATUSTYPE_ELEMENTS, _STATUSTYPE_DEMANDED)
    _value_or_nil(relation, ZKN + "toelichting", status.toelichting)
    _value_or_nil(relation, ZKN + "datumStatusGezet", status.datum_status_gezet)
    sub(relation, ZKN + "indicatieLaatsteStatus", "J" if laatste else "N")
    if status.gezet_door_soort:
        gezet_door = entity(relation, ZKN + "isGezetDoor", "ZAKSTTBTR")
        gerelateerde = sub(gezet_door, ZKN + "gerelateerde")
        if status.gezet_door_soort == "medewerker":
            gezet = _medewerker(
                status.gezet_door_identificatie,
                status.gezet_door_naam,
                status.gezet_door_voorletters,
                status.gezet_door_voorvoegsel,
            )
        else:
            gezet = _eenheid(status.gezet_door_identificatie, status.gezet_door_naam)
        gerelateerde.append(gezet)
        optional(gezet_door, ZKN + "rolOmschrijving", status.rol_omschrijving)
        optional(
            gezet_door,
            ZKN + "rolomschrijvingGeneriek",
            status.rolomschrijving_generiek,
        )
    return relation


def rol_element(rol: Rol, tag: str, entiteittype: str) -> etree._Element:
    """A heeftAls... relation with its betrokkene (ZAKBTR...-antwoord)."""
    relation = etree.Element(tag)
    relation.set(ENTITEITTYPE, entiteittype)
    gerelateerde = sub(relation, ZKN + "gerelateerde")
    if rol.soort:
        gerelateerde.append(betrokkene_element(rol))
    optional(relation, ZKN + "code", rol.code)
    optional(relation, ZKN + "omschrijving", rol.omschrijving)
    optional(relation, ZKN + "toelichting", rol.toelichting)
    return relation


def betrokkene_element(rol: Rol) -> etree._Element:
    """The betrokkene as NPS/NNP/VES-zkn-antwoord or MDW/OEH-antwoord."""
    soort = rol.soort or ""
    if soort == "natuurlijkPersoon":
        element = _entity_element(ZKN + soort, "NPS")
        _nummer(element, rol)
        optional(element, BG + "geslachtsnaam", rol.naam)
        optional(element, BG + "voorvoegselGeslachtsnaam", rol.voorvoegsel)
        optional(element, BG + "voorletters", rol.voorletters)
        optional(element, BG + "voornamen", rol.voornamen)
        optional(element, BG + "geslachtsaanduiding", rol.geslachtsaanduiding)
        optional(element, BG + "geboortedatum", rol.geboortedatum)
        _adres(element, rol.adres, "verblijfsadres")
    elif soort == "nietNatuurlijkPersoon":
        element = _entity_element(ZKN + soort, "NNP")
        _nummer(element, rol)
        optional(element, BG + "statutaireNaam", rol.naam)
        optional(element, BG + "inn.rechtsvorm", rol.rechtsvorm)
        _adres(element, rol.adres, "bezoekadres")
    elif soort == "vestiging":
        element = _entity_element(ZKN + soort, "VES")
        optional(element, BG + "vestigingsNummer", rol.vestigingsnummer)
        if rol.authentiek:
            _authentiek(element, rol.authentiek)
        optional(element, BG + "handelsnaam", rol.naam)
        _adres(element, rol.adres, "verblijfsadres")
    elif soort == "medewerker":
        element = _medewerker(
            rol.identificatie, rol.naam, rol.voorletters, rol.voorvoegsel
        )
    else:
        element = _eenheid(rol.identificatie, rol.naam)
    return element


def _entity_element(tag: str, entiteittype: str) -> etree._Element:
    element = etree.Element(tag)
    element.set(ENTITEITTYPE, entiteittype)
    return element


# A person's number in a basisregistratie (BSN, RSIN) and, for one without,
# the number it has outside them: (element, column) of each, per soort.
_NUMMERS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "natuurlijkPersoon": (
        ("inp.bsn", "bsn"),
        ("anp.identificatie", "anp_identificatie"),
    ),
    "nietNatuurlijkPersoon": (
        ("inn.nnpId", "rsin"),
        ("ann.identificatie", "ann_identificatie"),
    ),
}


def _nummer(element: etree._Element, rol: Rol) -> None:
    """The person's number and whether it is authentic; else its other one."""
    (tag, column), (other_tag, other_column) = _NUMMERS[rol.soort or ""]
    if nummer := getattr(rol, column):
        sub(element, BG + tag, nummer)
        _authentiek(element, rol.authentiek)
    elif other := getattr(rol, other_column):
        sub(element, BG + other_tag, other)


def _medewerker(
    identificatie: str | None,
    achternaam: str | None,
    voorletters: str | None,
    voorvoegsel: str | None,
) -> etree._Element:
    """A medewerker (MDW-antwoord): a betrokkene, or who set a status."""
    element = _entity_element(ZKN + "medewerker", "MDW")
    optional(element, ZKN + "identificatie", identificatie)
    optional(element, ZKN + "achternaam", achternaam)
    optional(element, ZKN + "voorletters", voorletters)
    optional(element, ZKN + "voorvoegselAchternaam", voorvoegsel)
    return element


def _eenheid(identificatie: str | None, naam: str | None) -> etree._Element:
    """An organisatorische eenheid (OEH-antwoord): a betrokkene, or who set
    a status."""
    element = _entity_element(ZKN + "organisatorischeEenheid", "OEH")
    optional(element, ZKN + "identificatie", identificatie)
    optional(element, ZKN + "naam", naam)
    return element


def _authentiek(parent: etree._Element, value: str | None) -> None:
    # BG:Authentiek is a metagegeven (bg0310_simpleTypes.xsd); a BSN the
    # register only stored is not vouched for by the BRP unless the sender
    # said so.
    sub(parent, BG + "authentiek", value or "N", **{STUF + "metagegeven": "true"})


def _adres(parent: etree._Element, stored: str | None, tag: str) -> None:
    if not stored:
        return
    element = etree.fromstring(stored, _STORED)
    element.tag = BG + tag
    parent.append(element)


def zaakdocument_element(koppeling: ZaakDocument, *, form: Form) -> etree._Element:
    """A heeftRelevant (ZAKEDC-antwoord): the document's metadata, no content."""
    relation = etree.Element(ZKN + "heeftRelevant")
    relation.set(ENTITEITTYPE, "ZAKEDC")
    gerelateerde = entity(relation, ZKN + "gerelateerde", "EDC")
    _document_fields(gerelateerde, koppeling.document, ())
    optional(gerelateerde, ZKN + "link", koppeling.document.link)
    # GeefLijstZaakDocumenten-ZAKEDC-antwoord requires registratiedatum.
    demanded = ("registratiedatum",) if form == "documenten" else ()
    _fields(relation, koppeling, _KOPPELING_ELEMENTS, demanded)
    return relation


# EDC-antwoord's elements from dct.omschrijving to auteur; the link follows.
_DOCUMENT_ELEMENTS = tuple(e for e in DOCUMENT_ELEMENTS if e[0] != "link")
# What a relation between a zaak and a document says of itself (ZAKEDC,
# EDCZAK), titel to stt.omschrijving; EDCZAK adds sta.datumStatusGezet.
_KOPPELING_ELEMENTS = tuple(
    e for e in ZAAKDOCUMENT_ELEMENTS if e[0] != "sta.datumStatusGezet"
)


def _document_fields(
    parent: etree._Element, document: Document, demanded: Collection[str]
) -> None:
    """A document's identificatie to auteur; those ``demanded`` go out nil
    when unknown."""
    sub(parent, ZKN + "identificatie", document.identificatie)
    _fields(parent, document, _DOCUMENT_ELEMENTS, demanded)


# The elements each ZDS 1.2 form keeps, and the ones it demands.
_FORMS: dict[Form, tuple[frozenset[str], tuple[tuple[str, str], ...]]] = {
    "status": (
        frozenset({"identificatie", "omschrijving", "isVan", "heeft"}),
        (("heeft", "ZAKSTT"),),
    ),
    "documenten": (
        frozenset({"identificatie", "omschrijving", "isVan", "heeftRelevant"}),
        (("heeftRelevant", "ZAKEDC"),),
    ),
}


def shape(element: etree._Element, form: Form) -> etree._Element:
    """Cut a full ZAK-antwoord object to the ZDS 1.2 form of an operation."""
    if form not in _FORMS:
        return element
    keep, demanded = _FORMS[form]
    for found in list(element):
        if local(found) not in keep:
            element.remove(found)
    for name, entiteittype in demanded:
        if child(element, name) is None:
            # Nothing to give: StUF 03.01 section 3.3.4, an empty relation.
            nil(element, ZKN + name).set(ENTITEITTYPE, entiteittype)
    return element


# Documenten -----------------------------------------------------------------


def document_object(
    document: Document,
    inhoud: Callable[[], str] | None,
    *,
    link: str,
    tag: str = ZKN + "object",
) -> etree._Element:
    """The document as EDC-antwoord, with its content when ``inhoud`` given.

    ZDS 1.2 demands creatiedatum, titel, formaat, taal, vertrouwelijkAanduiding
    and auteur (GeefZaakdocumentLezen-EDC-antwoord), and geefZaakdocument-
    Bewerken also a link (EDC-antwoord-gzdb): unknown ones go out nil, the
    link as the register's own.
    """
    element = etree.Element(tag)
    element.set(ENTITEITTYPE, "EDC")
    _document_fields(element, document, DOCUMENT_DEMANDED)
    sub(element, ZKN + "link", document.link or link)
    if inhoud is not None:
        content = sub(element, ZKN + "inhoud", inhoud())
        content.set(
            STUF + "bestandsnaam", document.bestandsnaam or document.identificatie
        )
        if document.content_type:
            content.set(
                "{http://www.w3.org/2005/05/xmlmime}contentType", document.content_type
            )
    for koppeling in sorted(document.zaken, key=lambda z: z.zaak.identificatie):
        relation = entity(element, ZKN + "isRelevantVoor", "EDCZAK")
        zaak = entity(relation, ZKN + "gerelateerde", "ZAK")
        sub(zaak, ZKN + "identificatie", koppeling.zaak.identificatie)
        optional(zaak, ZKN + "omschrijving", koppeling.zaak.omschrijving)
        _fields(relation, koppeling, _KOPPELING_ELEMENTS)
        optional(
            relation,
            ZKN + "sta.datumStatusGezet",
            datum(koppeling.sta_datum_status_gezet),
        )
    return element
