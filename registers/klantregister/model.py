"""The klantregister's tables (SQLAlchemy Core), for SQLite and PostgreSQL.

Three kinds of subject, each with a table of its current state and a history
table::

    krg_natuurlijke_personen        1 ── n  krg_natuurlijke_personen_historie
    krg_niet_natuurlijke_personen   1 ── n  krg_niet_natuurlijke_personen_historie
    krg_vestigingen                 1 ── n  krg_vestigingen_historie

    krg_imports                     1 ── n  krg_import_afwijzingen

History: every change (a kennisgeving, a client learnt from a zaak, an import
row) writes one history row holding the subject's whole state *after* the
change, its ``versie``, the mutatiesoort (T, W, V or C), where it came from
(``bron``: the sending application, the import file, the zaak) and when it
was registered. A state holds from its row's ``geregistreerd_op`` until the
next row's, so the rows are the formal history of the subject without a
valid-until column that every change would have to update. A deletion (V)
keeps the subject's row, marked ``verwijderd``: the history stays attached to
it, and a later toevoeging of the same number revives it.

Dates are the digits StUF sends (``yyyymmdd``), with their
``indOnvolledigeDatum`` beside them: StUF allows incomplete dates
(``19800000``, only the year known) that no SQL date type holds. Addresses
are columns with a prefix per address (``verblijf_``, ``correspondentie_``,
``bezoek_``); a subject has at most one of each. A correspondentieadres may be
a postbus or antwoordnummer (``correspondentie_postadres_type`` and
``_nummer``) instead of a street; a person living abroad has ``buitenland_``
columns (country and three lines) instead of a verblijfsadres.

Each history row also has ``begin_geldigheid``: from when its state holds in
reality (materiële historie), when the sender said so.

The Alembic migrations in ``migrations/versions`` create the same tables and
must be kept equal to this metadata (a test compares them).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

# A rowid alias on SQLite (fast inserts), a 64-bit identity on PostgreSQL.
BigId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# The parts of an address and their lengths (bg0310_simpleTypes.xsd:
# WoonplaatsNaam 80, NaamgevingObject 80, Postcode 6, Huisletter 1,
# Huisnummertoevoeging 4). ``huisnummer`` is an integer so that it sorts.
ADRES: tuple[tuple[str, int | None], ...] = (
    ("woonplaats", 80),
    ("straatnaam", 80),
    ("postcode", 6),
    ("huisnummer", None),
    ("huisletter", 1),
    ("huisnummertoevoeging", 4),
)

# A correspondentieadres may instead be a postbus (P) or an antwoordnummer
# (A) with its number: CorrespondentieAdresGrp's second choice
# (PostadresType, PostadresNummer 1..99999).
POSTADRES: tuple[tuple[str, int | None], ...] = (
    ("correspondentie_postadres_type", 1),
    ("correspondentie_postadres_nummer", None),
)

# A person living abroad has sub.verblijfBuitenland instead of a
# verblijfsadres (VerblijfBuitenlandGrp: Landcode up to 4 digits, Landnaam
# 40, AdresBuitenland 35).
BUITENLAND: tuple[tuple[str, int | None], ...] = (
    ("buitenland_landcode", 4),
    ("buitenland_landnaam", 40),
    ("buitenland_adres1", 35),
    ("buitenland_adres2", 35),
    ("buitenland_adres3", 35),
)

# Columns holding integers; every other data column holds text.
INTEGER_COLUMNS = frozenset(
    {
        *(
            f"{prefix}_huisnummer"
            for prefix in ("verblijf", "correspondentie", "bezoek")
        ),
        "correspondentie_postadres_nummer",
    }
)


def _adres(prefix: str) -> list[tuple[str, int | None]]:
    return [(f"{prefix}_{name}", length) for name, length in ADRES]


# The data columns of each subject, in the order the answers list them.
# Lengths from bg0310_simpleTypes.xsd.
PERSOON: tuple[tuple[str, int | None], ...] = (
    ("bsn", 9),
    ("geslachtsnaam", 200),
    ("voorvoegsel", 10),
    ("voorletters", 20),
    ("voornamen", 200),
    ("geslachtsaanduiding", 1),
    ("geboortedatum", 8),
    ("geboortedatum_indicator", 1),
    *_adres("verblijf"),
    *_adres("correspondentie"),
    ("telefoonnummer", 20),
    ("emailadres", 254),
    *POSTADRES,
    *BUITENLAND,
)

ORGANISATIE: tuple[tuple[str, int | None], ...] = (
    ("rsin", 9),
    ("kvk_nummer", 8),
    ("statutaire_naam", 500),
    ("rechtsvorm", 100),
    *_adres("bezoek"),
    *_adres("correspondentie"),
    ("telefoonnummer", 20),
    ("emailadres", 254),
    *POSTADRES,
)

VESTIGING: tuple[tuple[str, int | None], ...] = (
    ("vestigingsnummer", 12),
    ("handelsnaam", 200),
    ("kvk_nummer", 8),
    *_adres("verblijf"),
    *_adres("correspondentie"),
    ("telefoonnummer", 20),
    ("emailadres", 254),
    *POSTADRES,
)


def _data_columns(spec: tuple[tuple[str, int | None], ...]) -> list[Column[Any]]:
    columns: list[Column[Any]] = []
    for name, length in spec:
        kind: Any = Integer() if length is None else String(length)
        columns.append(Column(name, kind, nullable=True))
    return columns


def _subject(
    name: str, spec: tuple[tuple[str, int | None], ...], *indexes: Index
) -> Table:
    return Table(
        name,
        metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        *_data_columns(spec),
        # Raised by one for every change; the history row of a change has it.
        Column("versie", Integer, nullable=False),
        Column("verwijderd", Boolean, nullable=False, default=False),
        Column("aangemaakt_op", Float, nullable=False),
        Column("gewijzigd_op", Float, nullable=False),
        *indexes,
    )


def _history(
    name: str, subject: Table, spec: tuple[tuple[str, int | None], ...]
) -> Table:
    return Table(
        name,
        metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column(
            "subject_id",
            BigId,
            ForeignKey(subject.c.id, ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        Column("versie", Integer, nullable=False),
        # T, W, V or C: what the change was, in StUF's words.
        Column("mutatiesoort", String(1), nullable=False),
        # "stuf:<zender applicatie>", "import:<file name>", "zaak:<zender>".
        Column("bron", String(200), nullable=False),
        Column("referentienummer", String(40)),
        Column("geregistreerd_op", Float, nullable=False),
        Column("verwijderd", Boolean, nullable=False),
        *_data_columns(spec),
        # Materiële historie: from when the state holds in reality, a StUF
        # Tijdstip (8 to 17 digits): the kennisgeving's
        # tijdvakGeldigheid/beginGeldigheid. None: from geregistreerd_op
        # (the register knows no better; also every row before krg_0002).
        Column("begin_geldigheid", String(17)),
    )


# Unique numbers; the searches the vragen make (name and birth date, postcode
# and house number, statutaire naam, handelsnaam, KvK number).
natuurlijke_personen = _subject(
    "krg_natuurlijke_personen",
    PERSOON,
    Index("uq_krg_natuurlijke_personen_bsn", "bsn", unique=True),
    Index("ix_krg_natuurlijke_personen_naam", "geslachtsnaam", "geboortedatum"),
    Index(
        "ix_krg_natuurlijke_personen_adres", "verblijf_postcode", "verblijf_huisnummer"
    ),
)
natuurlijke_personen_historie = _history(
    "krg_natuurlijke_personen_historie", natuurlijke_personen, PERSOON
)

niet_natuurlijke_personen = _subject(
    "krg_niet_natuurlijke_personen",
    ORGANISATIE,
    Index("uq_krg_niet_natuurlijke_personen_rsin", "rsin", unique=True),
    Index("uq_krg_niet_natuurlijke_personen_kvk", "kvk_nummer", unique=True),
    Index("ix_krg_niet_natuurlijke_personen_naam", "statutaire_naam"),
    Index(
        "ix_krg_niet_natuurlijke_personen_adres", "bezoek_postcode", "bezoek_huisnummer"
    ),
)
niet_natuurlijke_personen_historie = _history(
    "krg_niet_natuurlijke_personen_historie", niet_natuurlijke_personen, ORGANISATIE
)

vestigingen = _subject(
    "krg_vestigingen",
    VESTIGING,
    Index("uq_krg_vestigingen_nummer", "vestigingsnummer", unique=True),
    Index("ix_krg_vestigingen_kvk", "kvk_nummer"),
    Index("ix_krg_vestigingen_naam", "handelsnaam"),
    Index("ix_krg_vestigingen_adres", "verblijf_postcode", "verblijf_huisnummer"),
)
vestigingen_historie = _history("krg_vestigingen_historie", vestigingen, VESTIGING)


imports = Table(
    "krg_imports",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    # The SHA-256 of the file and its kind: the same file imported again
    # resumes (or reports that it is done) instead of starting over.
    Column("sleutel", String(80), nullable=False, unique=True),
    Column("bestand", String(500), nullable=False),
    Column("soort", String(20), nullable=False),
    # The checkpoint: data rows handled (taken, or rejected) and committed.
    Column("rijen_verwerkt", Integer, nullable=False, default=0),
    Column("aangemaakt", Integer, nullable=False, default=0),
    Column("gewijzigd", Integer, nullable=False, default=0),
    Column("ongewijzigd", Integer, nullable=False, default=0),
    Column("afgewezen", Integer, nullable=False, default=0),
    Column("begonnen_op", Float, nullable=False),
    Column("bijgewerkt_op", Float, nullable=False),
    Column("klaar_op", Float),
)

import_afwijzingen = Table(
    "krg_import_afwijzingen",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "import_id",
        BigId,
        ForeignKey(imports.c.id, ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    # The data row: 1 is the first row below the header.
    Column("rij", Integer, nullable=False),
    # Never the rejected values themselves: the reason names the column.
    Column("reden", String(500), nullable=False),
)
