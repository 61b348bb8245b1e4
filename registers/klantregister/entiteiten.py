"""What the klantregister keeps of each StUF-BG entiteit, and where in a message.

Three entiteittypen, each described once as an :class:`Entiteit`: its tables,
its key, and a *layout*: the elements of the StUF-BG object that the register
stores, in the order the schemas list them (bg0310_ent_basis.xsd,
bg0310_ent_mutatie.xsd, bg0310_ent_vraagAntwoord.xsd), each tied to a column
of :mod:`registers.klantregister.model`. Reading a kennisgeving, reading the
selection of a vraag and writing an answer all follow the layout, so an
element is added to the register in one place.

==== ========================= ================================================
NPS  natuurlijk persoon        key ``inp.bsn`` (BSN, 11-test)
NNP  niet-natuurlijk persoon   key ``inn.nnpId`` (RSIN, 11-test), else the KvK
                               number
VES  vestiging                 key ``vestigingsNummer`` (12 digits); belongs to
                               the maatschappelijke activiteit with a KvK number
==== ========================= ================================================

StUF-BG 03.10 gives a niet-natuurlijk persoon no KvK number of its own: the
number belongs to the maatschappelijke activiteit it owns. An answer says so
(``rps.isEigenaarVan/gerelateerde/kvkNummer``, as the schema has it), and a
vraag may select on it there. A kennisgeving (NNP-kennisgeving) has no place
for that relation, so the register takes the number from
``StUF:extraElementen/StUF:extraElement[@naam="kvkNummer"]``, StUF 03.01's
place for what a sector model lacks.

Where the schemas offer a choice, so does the layout (:class:`Choice`): a
person has a ``verblijfsadres`` or, living abroad, a ``sub.verblijfBuitenland``;
a ``sub.correspondentieAdres`` has a street address or a postbus or
antwoordnummer (``sub.postadresType`` P or A, ``sub.postadresNummer``).
Giving one option takes the others' values away.

Street names: StUF-BG has ``gor.openbareRuimteNaam`` (the BAG name, up to 80
characters) and ``gor.straatnaam`` (the NEN 5825 name, up to 24). The
register keeps one street name: it reads the first and falls back on the
second, and writes both (the second only when the name fits in 24).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa

from registers.klantregister import model, nummers

Check = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class Leaf:
    """An element with a value, stored in ``column``.

    ``check`` normalises a value or raises
    :class:`~registers.klantregister.nummers.InvalidValue`. A ``datum`` leaf
    keeps its indOnvolledigeDatum in ``<column>_indicator``. A ``fallback``
    leaf is read only when an earlier leaf left its column without a value,
    and written only when the value fits in ``write_limit`` characters.
    """

    element: str
    column: str
    length: int | None = None
    check: Check | None = None
    kern: bool = False
    datum: bool = False
    fallback: bool = False
    write_limit: int | None = None


@dataclass(frozen=True, slots=True)
class Group:
    """A group element (an address) or a relation (``entiteittype`` set)."""

    element: str
    nodes: tuple[Node, ...]
    entiteittype: str | None = None
    kern: bool = False

    def leaves(self) -> Iterator[Leaf]:
        yield from _leaves(self.nodes)


@dataclass(frozen=True, slots=True)
class Choice:
    """An XSD choice: one of ``options`` (each a sequence of nodes) at most.

    Read, the option given decides and the others have no value: a person
    who moves abroad has no verblijfsadres any more, a postbus has no
    street. Written, only the first option with a value appears (none when
    no option has one)."""

    options: tuple[tuple[Node, ...], ...]
    # The leaves of every option, gathered once: each object read asks.
    all_leaves: tuple[Leaf, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        gathered = tuple(leaf for option in self.options for leaf in _leaves(option))
        object.__setattr__(self, "all_leaves", gathered)

    def leaves(self) -> Iterator[Leaf]:
        return iter(self.all_leaves)


def _leaves(nodes: tuple[Node, ...]) -> Iterator[Leaf]:
    for node in nodes:
        if isinstance(node, Leaf):
            yield node
        elif isinstance(node, (Group, Choice)):
            yield from node.leaves()


@dataclass(frozen=True, slots=True)
class Extra:
    """A value in ``StUF:extraElementen`` under ``naam``."""

    naam: str
    column: str
    check: Check | None = None


Node = Leaf | Group | Choice | Extra
Layout = tuple[Node, ...]


@dataclass(frozen=True)
class Entiteit:
    """One entiteittype: its tables, key, layouts and sorteringen."""

    code: str
    naam: str
    table: sa.Table
    history: sa.Table
    # The columns that identify a subject, tried in this order.
    keys: tuple[str, ...]
    # The elements that name those keys in a fault or a log ("inp.bsn").
    key_elements: tuple[str, ...]
    kennisgeving: Layout
    antwoord: Layout
    # StUF sortering number (the *-sortering types in
    # bg0310_msg_stuf_vraagAntwoord.xsd) -> the columns it sorts on.
    sortering: dict[int, tuple[str, ...]]
    # Columns holding a BSN or RSIN: masked wherever they are shown.
    secret: frozenset[str] = frozenset()
    # The elements the schemas allow in the historieMaterieel and
    # historieFormeel groups of an answer (<code>-historieMaterieel, ...).
    historie_materieel: frozenset[str] = frozenset()
    historie_formeel: frozenset[str] = frozenset()
    columns: tuple[str, ...] = field(init=False)
    # The columns of each group (an address): a group is replaced whole.
    groups: tuple[tuple[str, ...], ...] = field(init=False)
    # Column -> the element that carries it in a kennisgeving (its check).
    fields: dict[str, Leaf | Extra] = field(init=False)

    def __post_init__(self) -> None:
        data = tuple(
            column.name
            for column in self.table.columns
            if column.name
            not in ("id", "versie", "verwijderd", "aangemaakt_op", "gewijzigd_op")
        )
        object.__setattr__(self, "columns", data)
        # A choice of groups (verblijfsadres or verblijfBuitenland) is one
        # group: giving either replaces both.
        groups = tuple(
            tuple(dict.fromkeys(leaf.column for leaf in node.leaves()))
            for node in self.kennisgeving
            if isinstance(node, Choice)
            or (isinstance(node, Group) and node.entiteittype is None)
        )
        object.__setattr__(self, "groups", groups)
        fields: dict[str, Leaf | Extra] = {}
        pending: list[Node] = list(self.kennisgeving)
        while pending:
            node = pending.pop(0)
            if isinstance(node, Group):
                pending[:0] = node.nodes
            elif isinstance(node, Choice):
                pending[:0] = [n for option in node.options for n in option]
            else:
                fields.setdefault(node.column, node)
        object.__setattr__(self, "fields", fields)


def _adres(element: str, prefix: str, *, postcode: str, kern: bool = False) -> Group:
    """An address group; ``postcode`` is its element's name (``aoa.postcode``
    in a verblijfsadres, ``postcode`` in a correspondentieadres)."""
    woonplaats = Leaf("wpl.woonplaatsNaam", f"{prefix}_woonplaats", 80)
    straat = (
        Leaf("gor.openbareRuimteNaam", f"{prefix}_straatnaam", 80),
        Leaf(
            "gor.straatnaam",
            f"{prefix}_straatnaam",
            80,
            fallback=True,
            write_limit=24,
        ),
    )
    postcode_leaf = Leaf(postcode, f"{prefix}_postcode", 6, nummers.postcode)
    nummer = (
        Leaf("aoa.huisnummer", f"{prefix}_huisnummer", None, nummers.huisnummer),
        Leaf("aoa.huisletter", f"{prefix}_huisletter", 1, nummers.huisletter),
        Leaf(
            "aoa.huisnummertoevoeging",
            f"{prefix}_huisnummertoevoeging",
            4,
            nummers.huisnummertoevoeging,
        ),
    )
    if postcode == "postcode":
        # CorrespondentieAdresGrp: woonplaats and postcode come first, then
        # a street address or a postbus/antwoordnummer.
        postadres = (
            Leaf(
                "sub.postadresType",
                f"{prefix}_postadres_type",
                1,
                nummers.postadres_type,
            ),
            Leaf(
                "sub.postadresNummer",
                f"{prefix}_postadres_nummer",
                None,
                nummers.postadres_nummer,
            ),
        )
        nodes: tuple[Node, ...] = (
            woonplaats,
            postcode_leaf,
            Choice(((*straat, *nummer), postadres)),
        )
    else:
        nodes = (woonplaats, *straat, postcode_leaf, *nummer)
    return Group(element, nodes, kern=kern)


def _correspondentieadres() -> Group:
    return _adres("sub.correspondentieAdres", "correspondentie", postcode="postcode")


def _buitenland() -> Group:
    """sub.verblijfBuitenland (VerblijfBuitenlandGrp): where a person lives
    abroad, in the place of a verblijfsadres."""
    return Group(
        "sub.verblijfBuitenland",
        (
            Leaf("lnd.landcode", "buitenland_landcode", 4, nummers.landcode),
            Leaf("lnd.landnaam", "buitenland_landnaam", 40),
            Leaf("sub.adresBuitenland1", "buitenland_adres1", 35),
            Leaf("sub.adresBuitenland2", "buitenland_adres2", 35),
            Leaf("sub.adresBuitenland3", "buitenland_adres3", 35),
        ),
        kern=True,
    )


def _contact() -> tuple[Node, ...]:
    return (
        Leaf("sub.telefoonnummer", "telefoonnummer", 20),
        Leaf("sub.emailadres", "emailadres", 254, nummers.emailadres),
    )


def _kvk_relatie(element: str, entiteittype: str) -> Group:
    """The relation to the maatschappelijke activiteit, holding its number."""
    gerelateerde = Group(
        "gerelateerde",
        (Leaf("kvkNummer", "kvk_nummer", 8, nummers.kvk_nummer),),
        entiteittype="MAC",
    )
    return Group(element, (gerelateerde,), entiteittype=entiteittype)


_NPS: Layout = (
    Leaf("inp.bsn", "bsn", 9, nummers.bsn, kern=True),
    Leaf("geslachtsnaam", "geslachtsnaam", 200, kern=True),
    Leaf("voorvoegselGeslachtsnaam", "voorvoegsel", 10, kern=True),
    Leaf("voorletters", "voorletters", 20, kern=True),
    Leaf("voornamen", "voornamen", 200, kern=True),
    Leaf(
        "geslachtsaanduiding",
        "geslachtsaanduiding",
        1,
        nummers.geslachtsaanduiding,
        kern=True,
    ),
    Leaf("geboortedatum", "geboortedatum", 8, kern=True, datum=True),
    Choice(
        (
            (_adres("verblijfsadres", "verblijf", postcode="aoa.postcode", kern=True),),
            (_buitenland(),),
        )
    ),
    _correspondentieadres(),
    *_contact(),
)

_NPS_HISTORIE = frozenset(
    {
        "inp.bsn",
        "geslachtsnaam",
        "voorvoegselGeslachtsnaam",
        "voornamen",
        "geslachtsaanduiding",
        "verblijfsadres",
        "sub.verblijfBuitenland",
        "sub.correspondentieAdres",
    }
)
_NNP_HISTORIE = frozenset(
    {"inn.nnpId", "statutaireNaam", "inn.rechtsvorm", "bezoekadres"}
)
_VES_HISTORIE = frozenset({"vestigingsNummer", "handelsnaam", "verblijfsadres"})

NPS = Entiteit(
    code="NPS",
    naam="natuurlijk persoon",
    table=model.natuurlijke_personen,
    history=model.natuurlijke_personen_historie,
    keys=("bsn",),
    key_elements=("inp.bsn",),
    kennisgeving=_NPS,
    antwoord=_NPS,
    sortering={
        1: ("geslachtsnaam", "voorletters", "voorvoegsel"),
        3: ("verblijf_postcode", "verblijf_huisnummer", "verblijf_huisletter"),
        4: ("verblijf_straatnaam", "verblijf_huisnummer", "verblijf_huisletter"),
        7: ("geboortedatum", "geslachtsnaam", "voorletters", "voorvoegsel"),
        8: ("bsn",),
        11: ("telefoonnummer",),
        12: ("emailadres",),
    },
    secret=frozenset({"bsn"}),
    historie_materieel=_NPS_HISTORIE,
    historie_formeel=_NPS_HISTORIE | {"geboortedatum"},
)


def _nnp(kvk: Node) -> Layout:
    # NNP-kennisgeving and NNP-antwoord: the correspondentieadres comes before
    # the bezoekadres; StUF:extraElementen after the contact details.
    return (
        Leaf("inn.nnpId", "rsin", 9, nummers.rsin, kern=True),
        Leaf("statutaireNaam", "statutaire_naam", 500, kern=True),
        Leaf("inn.rechtsvorm", "rechtsvorm", 100, kern=True),
        _correspondentieadres(),
        _adres("bezoekadres", "bezoek", postcode="aoa.postcode", kern=True),
        *_contact(),
        kvk,
    )


NNP = Entiteit(
    code="NNP",
    naam="niet-natuurlijk persoon",
    table=model.niet_natuurlijke_personen,
    history=model.niet_natuurlijke_personen_historie,
    keys=("rsin", "kvk_nummer"),
    key_elements=("inn.nnpId", "kvkNummer"),
    kennisgeving=_nnp(Extra("kvkNummer", "kvk_nummer", nummers.kvk_nummer)),
    antwoord=_nnp(_kvk_relatie("rps.isEigenaarVan", "NNPMAC")),
    sortering={
        1: ("rsin",),
        2: ("statutaire_naam",),
        4: ("bezoek_postcode", "bezoek_huisnummer", "bezoek_huisletter"),
        5: (
            "bezoek_woonplaats",
            "bezoek_straatnaam",
            "bezoek_huisnummer",
            "bezoek_huisletter",
        ),
        7: (
            "correspondentie_postcode",
            "correspondentie_huisnummer",
            "correspondentie_huisletter",
        ),
    },
    secret=frozenset({"rsin"}),
    historie_materieel=_NNP_HISTORIE,
    historie_formeel=_NNP_HISTORIE,
)

_VES: Layout = (
    Leaf(
        "vestigingsNummer", "vestigingsnummer", 12, nummers.vestigingsnummer, kern=True
    ),
    Leaf("handelsnaam", "handelsnaam", 200, kern=True),
    _adres("verblijfsadres", "verblijf", postcode="aoa.postcode", kern=True),
    _correspondentieadres(),
    *_contact(),
    _kvk_relatie("oefentActiviteitenUitVoor", "VESMAC"),
)

VES = Entiteit(
    code="VES",
    naam="vestiging",
    table=model.vestigingen,
    history=model.vestigingen_historie,
    keys=("vestigingsnummer",),
    key_elements=("vestigingsNummer",),
    kennisgeving=_VES,
    antwoord=_VES,
    sortering={
        1: ("vestigingsnummer",),
        2: ("handelsnaam",),
        3: ("telefoonnummer",),
        5: ("verblijf_postcode", "verblijf_huisnummer", "verblijf_huisletter"),
        6: (
            "verblijf_woonplaats",
            "verblijf_straatnaam",
            "verblijf_huisnummer",
            "verblijf_huisletter",
        ),
        9: ("kvk_nummer",),
    },
    historie_materieel=_VES_HISTORIE,
    historie_formeel=_VES_HISTORIE,
)

ENTITEITEN: dict[str, Entiteit] = {e.code: e for e in (NPS, NNP, VES)}
# The message names start with the entiteittype: npsLk01, nnpLv01, vesLa01.
BY_PREFIX: dict[str, Entiteit] = {e.code.lower(): e for e in (NPS, NNP, VES)}
