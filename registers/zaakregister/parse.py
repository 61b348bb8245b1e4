"""What a kennisgeving says about a zaak or document, as plain records.

Each record keeps only what the sender put in the message: ``fields`` maps a
column of :mod:`registers.zaakregister.model` to a value (``None`` for an
element present without a value) and leaves out what was absent, so an
update (StUF mutatiesoort W) can tell "make this empty" from "leave this
alone". Relations (roles, statuses, documents' zaken) become lists of
records with the ``StUF:verwerkingssoort`` the sender gave them.

The element names are StUF-ZKN 03.10's (zkn0310_ent_basis.xsd); the same
names serve ZDS 1.1 and 1.2, whose messages are restrictions of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from esb.errors import StufFault
from registers.stuf import (
    ABSENT,
    child,
    children,
    has_content,
    is_nil,
    local,
    path,
    read_text,
    text,
)
from registers.zaakregister.stuf import VERWERKINGSSOORT, fragment

# ZAK elements with a value of their own, in schema order: element -> column.
ZAAK_ELEMENTS: tuple[tuple[str, str], ...] = (
    ("omschrijving", "omschrijving"),
    ("toelichting", "toelichting"),
    ("startdatum", "startdatum"),
    ("registratiedatum", "registratiedatum"),
    ("publicatiedatum", "publicatiedatum"),
    ("einddatumGepland", "einddatum_gepland"),
    ("uiterlijkeEinddatum", "uiterlijke_einddatum"),
    ("einddatum", "einddatum"),
    ("betalingsIndicatie", "betalingsindicatie"),
    ("laatsteBetaaldatum", "laatste_betaaldatum"),
    ("archiefnominatie", "archiefnominatie"),
    ("datumVernietigingDossier", "datum_vernietiging_dossier"),
    ("zaakniveau", "zaakniveau"),
    ("deelzakenIndicatie", "deelzaken_indicatie"),
)

# ZAK groups: a group is replaced as a whole (StUF 03.01 section 3.2.4).
ZAAK_GROUPS: dict[str, tuple[tuple[str, str], ...]] = {
    "resultaat": (
        ("omschrijving", "resultaat_omschrijving"),
        ("toelichting", "resultaat_toelichting"),
    ),
    "opschorting": (
        ("indicatie", "opschorting_indicatie"),
        ("reden", "opschorting_reden"),
    ),
    "verlenging": (("duur", "verlenging_duur"), ("reden", "verlenging_reden")),
}

# heeftAls... relations: element -> (rol, entiteittype of the relation).
ROLLEN: dict[str, tuple[str, str]] = {
    "heeftAlsBelanghebbende": ("Belanghebbende", "ZAKBTRBLH"),
    "heeftAlsGemachtigde": ("Gemachtigde", "ZAKBTRGMC"),
    "heeftAlsInitiator": ("Initiator", "ZAKBTRINI"),
    "heeftAlsUitvoerende": ("Uitvoerende", "ZAKBTRUTV"),
    "heeftAlsVerantwoordelijke": ("Verantwoordelijke", "ZAKBTRVRA"),
    "heeftAlsOverigBetrokkene": ("OverigBetrokkene", "ZAKBTROVR"),
}

# Betrokkenen: element -> (entiteittype, child element -> column).
BETROKKENEN: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "natuurlijkPersoon": (
        "NPS",
        (
            ("inp.bsn", "bsn"),
            ("anp.identificatie", "anp_identificatie"),
            ("authentiek", "authentiek"),
            ("geslachtsnaam", "naam"),
            ("voorvoegselGeslachtsnaam", "voorvoegsel"),
            ("voorletters", "voorletters"),
            ("voornamen", "voornamen"),
            ("geslachtsaanduiding", "geslachtsaanduiding"),
            ("geboortedatum", "geboortedatum"),
        ),
    ),
    "nietNatuurlijkPersoon": (
        "NNP",
        (
            ("inn.nnpId", "rsin"),
            ("ann.identificatie", "ann_identificatie"),
            ("authentiek", "authentiek"),
            ("statutaireNaam", "naam"),
            ("inn.rechtsvorm", "rechtsvorm"),
            ("kvkNummer", "kvk_nummer"),
        ),
    ),
    "vestiging": (
        "VES",
        (
            ("vestigingsNummer", "vestigingsnummer"),
            ("authentiek", "authentiek"),
            ("handelsnaam", "naam"),
            ("kvkNummer", "kvk_nummer"),
        ),
    ),
    "medewerker": (
        "MDW",
        (
            ("identificatie", "identificatie"),
            ("achternaam", "naam"),
            ("voorletters", "voorletters"),
            ("voorvoegselAchternaam", "voorvoegsel"),
        ),
    ),
    "organisatorischeEenheid": (
        "OEH",
        (("identificatie", "identificatie"), ("naam", "naam")),
    ),
}
ADRESSEN = ("verblijfsadres", "bezoekadres")

STATUSTYPE_ELEMENTS: tuple[tuple[str, str], ...] = (
    ("zkt.code", "zkt_code"),
    ("zkt.omschrijving", "zkt_omschrijving"),
    ("volgnummer", "volgnummer"),
    ("code", "code"),
    ("omschrijving", "omschrijving"),
    ("ingangsdatumObject", "ingangsdatum"),
)

DOCUMENT_ELEMENTS: tuple[tuple[str, str], ...] = (
    ("dct.omschrijving", "dct_omschrijving"),
    ("creatiedatum", "creatiedatum"),
    ("ontvangstdatum", "ontvangstdatum"),
    ("titel", "titel"),
    ("beschrijving", "beschrijving"),
    ("formaat", "formaat"),
    ("taal", "taal"),
    ("versie", "versie"),
    ("status", "status"),
    ("verzenddatum", "verzenddatum"),
    ("vertrouwelijkAanduiding", "vertrouwelijk_aanduiding"),
    ("auteur", "auteur"),
    ("link", "link"),
)

ZAAKDOCUMENT_ELEMENTS: tuple[tuple[str, str], ...] = (
    ("titel", "titel"),
    ("beschrijving", "beschrijving"),
    ("registratiedatum", "registratiedatum"),
    ("stt.volgnummer", "stt_volgnummer"),
    ("stt.omschrijving", "stt_omschrijving"),
    ("sta.datumStatusGezet", "sta_datum_status_gezet"),
)

# Relations to other zaken a kennisgeving may carry (zkn0310 ZAK-kennisgeving;
# heeftAlsHoofdzaak exists only in answers: it is the other side of a
# hoofdzaak's heeftAlsDeelzaak).
ZAAKRELATIES = ("heeftAlsDeelzaak", "heeftBetrekkingOpAndere")

# BSL (BSL-gerelateerdeAntwoord) elements, in schema order: element -> column.
BESLUIT_ELEMENTS: tuple[tuple[str, str], ...] = (
    ("identificatie", "identificatie"),
    ("bst.omschrijving", "bst_omschrijving"),
    ("datumBeslissing", "datum_beslissing"),
    ("toelichting", "toelichting"),
    ("ingangsdatumWerking", "ingangsdatum_werking"),
    ("einddatumWerking", "einddatum_werking"),
    ("vervalreden", "vervalreden"),
    ("datumPublicatie", "datum_publicatie"),
    ("datumVerzending", "datum_verzending"),
    ("datumUiterlijkeReactie", "datum_uiterlijke_reactie"),
)

XMIME_CONTENT_TYPE = "{http://www.w3.org/2005/05/xmlmime}contentType"
BESTANDSNAAM = "{http://www.egem.nl/StUF/StUF0301}bestandsnaam"


def _fields(
    element: etree._Element | None, elements: tuple[tuple[str, str], ...]
) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name, column in elements:
        read = read_text(element, name)
        if read is not ABSENT:
            found[column] = read
    return found


# The columns that identify a betrokkene, the first one filled in counting.
NUMMERS = (
    "bsn",
    "anp_identificatie",
    "rsin",
    "ann_identificatie",
    "vestigingsnummer",
    "identificatie",
)


@dataclass
class BetrokkeneGegevens:
    soort: str
    fields: dict[str, str | None]
    adres: str | None = None  # the verblijfs- or bezoekadres element as XML

    def key(self) -> tuple[str, str | None]:
        """What identifies the betrokkene: its kind and its number."""
        for column in NUMMERS:
            if self.fields.get(column):
                return self.soort, self.fields[column]
        return self.soort, self.fields.get("naam")


@dataclass
class RolGegevens:
    rol: str
    verwerkingssoort: str | None
    fields: dict[str, str | None]
    betrokkene: BetrokkeneGegevens | None


@dataclass
class StatusGegevens:
    verwerkingssoort: str | None
    fields: dict[str, str | None]

    def key(self) -> tuple[str | None, ...]:
        """Statustype and moment: the same status given twice is one."""
        f = self.fields
        return (
            f.get("zkt_code"),
            f.get("volgnummer"),
            f.get("code"),
            f.get("omschrijving"),
            f.get("datum_status_gezet"),
        )


@dataclass
class RelatieGegevens:
    """A heeftAlsDeelzaak or heeftBetrekkingOpAndere: the other zaak."""

    soort: str
    verwerkingssoort: str | None
    identificatie: str
    omschrijving: str | None

    def key(self) -> tuple[str, str]:
        return self.soort, self.identificatie


@dataclass
class BesluitGegevens:
    """A leidtTot relation: the besluit (BSL) as the sender gave it."""

    verwerkingssoort: str | None
    fields: dict[str, str | None]

    def key(self) -> tuple[str | None, ...]:
        """A besluit is known by its identificatie; one without, by all it says."""
        identificatie = self.fields.get("identificatie")
        if identificatie:
            return (identificatie,)
        return tuple(self.fields.get(column) for _, column in BESLUIT_ELEMENTS)


@dataclass
class ZaakGegevens:
    """What one ``object`` of a zaak kennisgeving says."""

    element: etree._Element
    identificatie: str | None
    fields: dict[str, str | None] = field(default_factory=dict)
    zaaktype: dict[str, str | None] | None = None
    kenmerken: list[tuple[str | None, str | None]] | None = None
    andere_zaakobjecten: list[etree._Element] | None = None
    rollen: list[RolGegevens] = field(default_factory=list)
    statussen: list[StatusGegevens] = field(default_factory=list)
    relaties: list[RelatieGegevens] = field(default_factory=list)
    besluiten: list[BesluitGegevens] = field(default_factory=list)


@dataclass
class ZaakLink:
    """A document's isRelevantVoor: the zaak and the relation's own data."""

    identificatie: str
    verwerkingssoort: str | None
    fields: dict[str, str | None]


@dataclass
class DocumentGegevens:
    """What one ``object`` of a document kennisgeving says."""

    element: etree._Element
    identificatie: str | None
    fields: dict[str, str | None] = field(default_factory=dict)
    inhoud: etree._Element | None = None
    zaken: list[ZaakLink] = field(default_factory=list)

    @property
    def bestandsnaam(self) -> str | None:
        return self.inhoud.get(BESTANDSNAAM) if self.inhoud is not None else None

    @property
    def content_type(self) -> str | None:
        if self.inhoud is None:
            return None
        return self.inhoud.get(XMIME_CONTENT_TYPE)


# Zaken ----------------------------------------------------------------------


def zaak(element: etree._Element) -> ZaakGegevens:
    """Read one ZAK ``object`` (or ``gelijk``) element."""
    gegevens = ZaakGegevens(element, text(element, "identificatie"))
    gegevens.fields = _fields(element, ZAAK_ELEMENTS)
    for group, members in ZAAK_GROUPS.items():
        found = child(element, group)
        if found is None:
            continue
        for name, column in members:
            gegevens.fields[column] = None if is_nil(found) else text(found, name)

    kenmerken = list(children(element, "kenmerk"))
    if kenmerken:
        gegevens.kenmerken = [
            (text(k, "kenmerk"), text(k, "bron")) for k in kenmerken if has_content(k)
        ]
    objecten = list(children(element, "anderZaakObject"))
    if objecten:
        gegevens.andere_zaakobjecten = [o for o in objecten if has_content(o)]

    is_van = path(element, "isVan/gerelateerde")
    if is_van is not None:
        gegevens.zaaktype = _fields(
            is_van,
            (
                ("code", "zaaktype_code"),
                ("omschrijving", "zaaktype_omschrijving"),
                ("vertrouwelijkAanduiding", "vertrouwelijkheid"),
            ),
        )

    for relation in children(element):
        name = local(relation)
        if name in ROLLEN:
            gegevens.rollen.append(rol(relation))
        elif name == "heeft":
            gegevens.statussen.append(status(relation))
        elif name in ZAAKRELATIES:
            identificatie = text(relation, "gerelateerde/identificatie")
            if identificatie:
                gegevens.relaties.append(
                    RelatieGegevens(
                        name,
                        relation.get(VERWERKINGSSOORT),
                        identificatie,
                        text(relation, "gerelateerde/omschrijving"),
                    )
                )
        elif name == "leidtTot":
            besluit = child(relation, "gerelateerde")
            if besluit is not None and has_content(besluit):
                gegevens.besluiten.append(
                    BesluitGegevens(
                        relation.get(VERWERKINGSSOORT),
                        _fields(besluit, BESLUIT_ELEMENTS),
                    )
                )
    return gegevens


def rol(relation: etree._Element) -> RolGegevens:
    """Read a heeftAls... relation: the role and its betrokkene."""
    name = local(relation)
    fields = _fields(
        relation,
        (
            ("code", "code"),
            ("omschrijving", "omschrijving"),
            ("toelichting", "toelichting"),
        ),
    )
    gerelateerde = child(relation, "gerelateerde")
    betrokkene = None
    if gerelateerde is not None:
        for element in children(gerelateerde):
            if local(element) in BETROKKENEN and has_content(element):
                betrokkene = _betrokkene(element)
                break
    return RolGegevens(
        rol=ROLLEN[name][0],
        verwerkingssoort=relation.get(VERWERKINGSSOORT),
        fields=fields,
        betrokkene=betrokkene,
    )


def _betrokkene(element: etree._Element) -> BetrokkeneGegevens:
    soort = local(element)
    _, elements = BETROKKENEN[soort]
    fields = _fields(element, elements)
    for column in ("bsn", "rsin"):
        number = fields.get(column)
        if number and not elfproef(number):
            name = "inp.bsn" if column == "bsn" else "inn.nnpId"
            # The number itself stays out of the fault: answers are journaled
            # and BSNs never go into logs.
            raise StufFault(
                "StUF058",
                f"{name} van de betrokkene voldoet niet aan de elfproef",
                plek="client",
                details=f"{soort}/{name} moet 9 cijfers hebben die de elfproef "
                "doorstaan",
            )
    adres = None
    for name in ADRESSEN:
        found = child(element, name)
        if found is not None and has_content(found):
            adres = fragment(found)
            break
    return BetrokkeneGegevens(soort, fields, adres)


def status(relation: etree._Element) -> StatusGegevens:
    """Read a heeft (ZAKSTT) relation: the statustype and who set it."""
    gerelateerde = child(relation, "gerelateerde")
    fields = _fields(gerelateerde, STATUSTYPE_ELEMENTS)
    fields.update(
        _fields(
            relation,
            (
                ("toelichting", "toelichting"),
                ("datumStatusGezet", "datum_status_gezet"),
            ),
        )
    )
    gezet_door = child(relation, "isGezetDoor")
    if gezet_door is not None:
        fields.update(
            _fields(
                gezet_door,
                (
                    ("rolOmschrijving", "rol_omschrijving"),
                    ("rolomschrijvingGeneriek", "rolomschrijving_generiek"),
                ),
            )
        )
        gerelateerde = child(gezet_door, "gerelateerde")
        for element in children(gezet_door if gerelateerde is None else gerelateerde):
            soort = local(element)
            if soort in ("medewerker", "organisatorischeEenheid"):
                fields["gezet_door_soort"] = soort
                betrokkene = _fields(element, BETROKKENEN[soort][1])
                fields["gezet_door_identificatie"] = betrokkene.get("identificatie")
                fields["gezet_door_naam"] = betrokkene.get("naam")
                fields["gezet_door_voorletters"] = betrokkene.get("voorletters")
                fields["gezet_door_voorvoegsel"] = betrokkene.get("voorvoegsel")
                break
    return StatusGegevens(relation.get(VERWERKINGSSOORT), fields)


# Documenten -----------------------------------------------------------------


def document(element: etree._Element) -> DocumentGegevens:
    """Read one EDC ``object`` element."""
    gegevens = DocumentGegevens(element, text(element, "identificatie"))
    gegevens.fields = _fields(element, DOCUMENT_ELEMENTS)
    inhoud = child(element, "inhoud")
    if inhoud is not None and not is_nil(inhoud):
        gegevens.inhoud = inhoud
    for relation in children(element, "isRelevantVoor"):
        identificatie = text(relation, "gerelateerde/identificatie")
        if identificatie:
            gegevens.zaken.append(
                ZaakLink(
                    identificatie,
                    relation.get(VERWERKINGSSOORT),
                    _fields(relation, ZAAKDOCUMENT_ELEMENTS),
                )
            )
    return gegevens


# Checks ---------------------------------------------------------------------


def elfproef(number: str) -> bool:
    """Whether a BSN or RSIN passes the 11-test (weights 9..2 and -1)."""
    if len(number) != 9 or not number.isdigit():
        return False
    digits = [int(c) for c in number]
    total = sum(d * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True))
    return (total - digits[8]) % 11 == 0
