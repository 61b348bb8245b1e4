"""The zaakregister's tables, as SQLAlchemy 2 ORM classes.

What a zaak is in StUF-ZKN 03.10, reduced to what the ZDS operations read
and write::

    zaak  1 ── n  status        (heeft: the status history)
          1 ── n  rol           (heeftAlsInitiator, heeftAlsBelanghebbende, ...)
          1 ── n  kenmerk       (kenmerk: other systems' keys for the zaak)
          n ── n  document      (heeftRelevant / isRelevantVoor, via zaakdocument)
          1 ── n  zaakrelatie   (heeftAlsDeelzaak, heeftAlsHoofdzaak,
                                 heeftBetrekkingOpAndere: other zaken)
          1 ── n  besluit       (leidtTot: the besluiten the zaak led to)

    gebeurtenis                 (the outbox: one row per change, written in
                                 the transaction that made it)
    teller                      (counters behind genereer...Identificatie)

StUF dates (``Datum``, ``yyyymmdd``) and moments (``Tijdstip``, 8 to 17
digits) are kept as the digits the sender gave: StUF allows incomplete dates
(``indOnvolledigeDatum``, ``20200000``) that no SQL date type holds, and an
answer must give back what was stored. Digit strings still sort in time order.

The Alembic migrations in ``migrations/versions`` create the same tables and
must be kept equal to this metadata.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# A rowid alias on SQLite (fast inserts), a 64-bit identity on PostgreSQL.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# Lengths from zkn0310_simpleTypes.xsd and bg0310 (ZaakIdentificatie 40,
# Omschrijving 80, Toelichting 1000, DocumentTitel 200, ...), with room for
# the senders that exceed them in "report" validation mode.
ID = 40
SHORT = 80
NAME = 200
LONG = 1000
DATE = 8
MOMENT = 17


class Base(DeclarativeBase):
    """The declarative base: the register's metadata, with named constraints."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Zaak(Base):
    """A zaak (ZAK): a case the municipality handles."""

    __tablename__ = "zrg_zaken"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    identificatie: Mapped[str] = mapped_column(String(ID), unique=True)
    # The organisation that registered the zaak: the sender's organisatie
    # (a gemeentecode such as "0392"), as the ZDS identificatie starts with it.
    bronorganisatie: Mapped[str | None] = mapped_column(String(NAME))
    omschrijving: Mapped[str | None] = mapped_column(String(NAME))
    toelichting: Mapped[str | None] = mapped_column(Text)
    zaaktype_code: Mapped[str | None] = mapped_column(String(SHORT), index=True)
    zaaktype_omschrijving: Mapped[str | None] = mapped_column(String(NAME))
    startdatum: Mapped[str | None] = mapped_column(String(DATE))
    registratiedatum: Mapped[str | None] = mapped_column(String(DATE))
    publicatiedatum: Mapped[str | None] = mapped_column(String(DATE))
    einddatum_gepland: Mapped[str | None] = mapped_column(String(DATE))
    uiterlijke_einddatum: Mapped[str | None] = mapped_column(String(DATE))
    einddatum: Mapped[str | None] = mapped_column(String(DATE))
    resultaat_omschrijving: Mapped[str | None] = mapped_column(String(NAME))
    resultaat_toelichting: Mapped[str | None] = mapped_column(Text)
    opschorting_indicatie: Mapped[str | None] = mapped_column(String(1))
    opschorting_reden: Mapped[str | None] = mapped_column(String(NAME))
    verlenging_duur: Mapped[str | None] = mapped_column(String(10))
    verlenging_reden: Mapped[str | None] = mapped_column(String(NAME))
    betalingsindicatie: Mapped[str | None] = mapped_column(String(20))
    laatste_betaaldatum: Mapped[str | None] = mapped_column(String(MOMENT))
    archiefnominatie: Mapped[str | None] = mapped_column(String(1))
    datum_vernietiging_dossier: Mapped[str | None] = mapped_column(String(DATE))
    zaakniveau: Mapped[str | None] = mapped_column(String(2))
    deelzaken_indicatie: Mapped[str | None] = mapped_column(String(1))
    # anderZaakObject groups as sent: a JSON list of XML fragments (their
    # lokatie is GML, which EMO keeps without interpreting).
    andere_zaakobjecten: Mapped[str | None] = mapped_column(Text)
    # ZKT vertrouwelijkAanduiding, when the sender gave the zaaktype's.
    vertrouwelijkheid: Mapped[str | None] = mapped_column(String(30))
    aangemaakt_door: Mapped[str | None] = mapped_column(String(NAME))
    aangemaakt_op: Mapped[float] = mapped_column()
    gewijzigd_op: Mapped[float] = mapped_column()

    statussen: Mapped[list[Status]] = relationship(
        back_populates="zaak",
        cascade="all, delete-orphan",
        order_by="Status.id",
    )
    rollen: Mapped[list[Rol]] = relationship(
        back_populates="zaak", cascade="all, delete-orphan", order_by="Rol.id"
    )
    kenmerken: Mapped[list[Kenmerk]] = relationship(
        back_populates="zaak", cascade="all, delete-orphan", order_by="Kenmerk.id"
    )
    documenten: Mapped[list[ZaakDocument]] = relationship(
        back_populates="zaak",
        cascade="all, delete-orphan",
        order_by="ZaakDocument.id",
    )
    relaties: Mapped[list[ZaakRelatie]] = relationship(
        back_populates="zaak",
        cascade="all, delete-orphan",
        order_by="ZaakRelatie.id",
    )
    besluiten: Mapped[list[Besluit]] = relationship(
        back_populates="zaak", cascade="all, delete-orphan", order_by="Besluit.id"
    )


class Kenmerk(Base):
    """A kenmerk of a zaak: its key in another system (kenmerk, bron)."""

    __tablename__ = "zrg_kenmerken"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    zaak_id: Mapped[int] = mapped_column(
        ForeignKey("zrg_zaken.id", ondelete="CASCADE"), index=True
    )
    kenmerk: Mapped[str | None] = mapped_column(String(NAME))
    bron: Mapped[str | None] = mapped_column(String(NAME))

    zaak: Mapped[Zaak] = relationship(back_populates="kenmerken")


class Status(Base):
    """One status a zaak was given (ZAKSTT with its STT): the history."""

    __tablename__ = "zrg_statussen"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    zaak_id: Mapped[int] = mapped_column(
        ForeignKey("zrg_zaken.id", ondelete="CASCADE"), index=True
    )
    # The statustype (STT): its zaaktype, volgnummer, code and omschrijving.
    zkt_code: Mapped[str | None] = mapped_column(String(SHORT))
    zkt_omschrijving: Mapped[str | None] = mapped_column(String(NAME))
    volgnummer: Mapped[str | None] = mapped_column(String(10))
    code: Mapped[str | None] = mapped_column(String(SHORT))
    omschrijving: Mapped[str | None] = mapped_column(String(NAME))
    ingangsdatum: Mapped[str | None] = mapped_column(String(DATE))
    toelichting: Mapped[str | None] = mapped_column(Text)
    datum_status_gezet: Mapped[str | None] = mapped_column(String(MOMENT))
    # isGezetDoor: a medewerker or organisatorische eenheid.
    gezet_door_soort: Mapped[str | None] = mapped_column(String(30))
    gezet_door_identificatie: Mapped[str | None] = mapped_column(String(NAME))
    gezet_door_naam: Mapped[str | None] = mapped_column(String(NAME))
    gezet_door_voorletters: Mapped[str | None] = mapped_column(String(30))
    gezet_door_voorvoegsel: Mapped[str | None] = mapped_column(String(30))
    rol_omschrijving: Mapped[str | None] = mapped_column(String(NAME))
    rolomschrijving_generiek: Mapped[str | None] = mapped_column(String(SHORT))
    geregistreerd_op: Mapped[float] = mapped_column()

    zaak: Mapped[Zaak] = relationship(back_populates="statussen")


class Rol(Base):
    """A betrokkene in a role on a zaak (ZAKBTRINI, ZAKBTRBLH, ...).

    ``rol`` is the relation's element name without ``heeftAls``
    (``Initiator``, ``Belanghebbende``, ``Gemachtigde``, ``Uitvoerende``,
    ``Verantwoordelijke``, ``OverigBetrokkene``); ``soort`` the betrokkene's
    element (``natuurlijkPersoon``, ``nietNatuurlijkPersoon``, ``vestiging``,
    ``medewerker``, ``organisatorischeEenheid``).
    """

    __tablename__ = "zrg_rollen"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    zaak_id: Mapped[int] = mapped_column(
        ForeignKey("zrg_zaken.id", ondelete="CASCADE"), index=True
    )
    rol: Mapped[str] = mapped_column(String(30))
    code: Mapped[str | None] = mapped_column(String(SHORT))
    omschrijving: Mapped[str | None] = mapped_column(String(NAME))
    toelichting: Mapped[str | None] = mapped_column(Text)
    soort: Mapped[str | None] = mapped_column(String(30))
    bsn: Mapped[str | None] = mapped_column(String(9))
    anp_identificatie: Mapped[str | None] = mapped_column(String(SHORT))
    rsin: Mapped[str | None] = mapped_column(String(9))
    ann_identificatie: Mapped[str | None] = mapped_column(String(SHORT))
    kvk_nummer: Mapped[str | None] = mapped_column(String(8))
    vestigingsnummer: Mapped[str | None] = mapped_column(String(12))
    identificatie: Mapped[str | None] = mapped_column(String(NAME))
    authentiek: Mapped[str | None] = mapped_column(String(1))
    # geslachtsnaam (persoon), achternaam (medewerker), statutaireNaam,
    # handelsnaam or naam (organisatorische eenheid).
    naam: Mapped[str | None] = mapped_column(String(NAME))
    voorvoegsel: Mapped[str | None] = mapped_column(String(30))
    voorletters: Mapped[str | None] = mapped_column(String(30))
    voornamen: Mapped[str | None] = mapped_column(String(NAME))
    geslachtsaanduiding: Mapped[str | None] = mapped_column(String(1))
    geboortedatum: Mapped[str | None] = mapped_column(String(DATE))
    rechtsvorm: Mapped[str | None] = mapped_column(String(SHORT))
    # The verblijfsadres or bezoekadres as sent: a JSON list of
    # [element, text] pairs in the sender's order, which is the schema's.
    adres: Mapped[str | None] = mapped_column(Text)

    zaak: Mapped[Zaak] = relationship(back_populates="rollen")

    __table_args__ = (Index("ix_zrg_rollen_rol_bsn", "rol", "bsn"),)


class Document(Base):
    """An enkelvoudig document (EDC); its content lives in the blob store."""

    __tablename__ = "zrg_documenten"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    identificatie: Mapped[str] = mapped_column(String(ID), unique=True)
    dct_omschrijving: Mapped[str | None] = mapped_column(String(NAME))
    creatiedatum: Mapped[str | None] = mapped_column(String(DATE))
    ontvangstdatum: Mapped[str | None] = mapped_column(String(DATE))
    titel: Mapped[str | None] = mapped_column(String(NAME))
    beschrijving: Mapped[str | None] = mapped_column(Text)
    formaat: Mapped[str | None] = mapped_column(String(NAME))
    taal: Mapped[str | None] = mapped_column(String(20))
    versie: Mapped[str | None] = mapped_column(String(10))
    status: Mapped[str | None] = mapped_column(String(30))
    verzenddatum: Mapped[str | None] = mapped_column(String(DATE))
    vertrouwelijk_aanduiding: Mapped[str | None] = mapped_column(String(30))
    auteur: Mapped[str | None] = mapped_column(String(NAME))
    link: Mapped[str | None] = mapped_column(String(LONG))
    bestandsnaam: Mapped[str | None] = mapped_column(String(NAME))
    content_type: Mapped[str | None] = mapped_column(String(NAME))
    # The blob store's key for the current content; None for a document
    # made without content (maakZaakdocument).
    inhoud_sleutel: Mapped[str | None] = mapped_column(String(NAME))
    inhoud_grootte: Mapped[int | None] = mapped_column(BigInteger)
    # geefZaakdocumentBewerken checks a document out: the id the editor must
    # give back with updateZaakdocument or cancelCheckout, and who holds it.
    checkout_id: Mapped[str | None] = mapped_column(String(64))
    checkout_door: Mapped[str | None] = mapped_column(String(NAME))
    aangemaakt_op: Mapped[float] = mapped_column()
    gewijzigd_op: Mapped[float] = mapped_column()

    zaken: Mapped[list[ZaakDocument]] = relationship(
        back_populates="document", cascade="all, delete-orphan"
    )


class ZaakDocument(Base):
    """The relation between a zaak and a document (ZAKEDC / EDCZAK)."""

    __tablename__ = "zrg_zaakdocumenten"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    zaak_id: Mapped[int] = mapped_column(
        ForeignKey("zrg_zaken.id", ondelete="CASCADE"), index=True
    )
    document_id: Mapped[int] = mapped_column(
        ForeignKey("zrg_documenten.id", ondelete="CASCADE"), index=True
    )
    titel: Mapped[str | None] = mapped_column(String(NAME))
    beschrijving: Mapped[str | None] = mapped_column(Text)
    registratiedatum: Mapped[str | None] = mapped_column(String(DATE))
    stt_volgnummer: Mapped[str | None] = mapped_column(String(10))
    stt_omschrijving: Mapped[str | None] = mapped_column(String(NAME))
    sta_datum_status_gezet: Mapped[str | None] = mapped_column(String(MOMENT))

    zaak: Mapped[Zaak] = relationship(back_populates="documenten")
    document: Mapped[Document] = relationship(back_populates="zaken")

    __table_args__ = (UniqueConstraint("zaak_id", "document_id"),)


class ZaakRelatie(Base):
    """A relation from a zaak to another zaak, by the other's identificatie.

    ``soort`` is the relation's element: ``heeftAlsDeelzaak`` (ZAKZAKDEL)
    or ``heeftBetrekkingOpAndere`` (ZAKZAKBTR), the two a ZAK-kennisgeving
    carries. The other zaak need not be in this register (StUF relations may
    point at another system's zaak), so it is kept by identificatie, with
    the omschrijving the sender gave. A relation is stored once, on the zaak
    whose message named it; a deelzaak's answer shows its hoofdzaak as
    heeftAlsHoofdzaak (ZAKZAKHFD) all the same, see
    :func:`registers.zaakregister.zaken.verwanten`.
    """

    __tablename__ = "zrg_zaakrelaties"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    zaak_id: Mapped[int] = mapped_column(
        ForeignKey("zrg_zaken.id", ondelete="CASCADE"), index=True
    )
    soort: Mapped[str] = mapped_column(String(30))
    andere_identificatie: Mapped[str] = mapped_column(String(ID), index=True)
    andere_omschrijving: Mapped[str | None] = mapped_column(String(NAME))

    zaak: Mapped[Zaak] = relationship(back_populates="relaties")

    __table_args__ = (UniqueConstraint("zaak_id", "soort", "andere_identificatie"),)


class Besluit(Base):
    """A besluit a zaak led to (ZAKBSL with its BSL), as the sender gave it."""

    __tablename__ = "zrg_besluiten"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    zaak_id: Mapped[int] = mapped_column(
        ForeignKey("zrg_zaken.id", ondelete="CASCADE"), index=True
    )
    identificatie: Mapped[str | None] = mapped_column(String(ID))
    bst_omschrijving: Mapped[str | None] = mapped_column(String(NAME))
    datum_beslissing: Mapped[str | None] = mapped_column(String(DATE))
    toelichting: Mapped[str | None] = mapped_column(Text)
    ingangsdatum_werking: Mapped[str | None] = mapped_column(String(DATE))
    einddatum_werking: Mapped[str | None] = mapped_column(String(DATE))
    vervalreden: Mapped[str | None] = mapped_column(String(SHORT))
    datum_publicatie: Mapped[str | None] = mapped_column(String(DATE))
    datum_verzending: Mapped[str | None] = mapped_column(String(DATE))
    datum_uiterlijke_reactie: Mapped[str | None] = mapped_column(String(DATE))

    zaak: Mapped[Zaak] = relationship(back_populates="besluiten")


class Gebeurtenis(Base):
    """One change to the register: the transactional outbox.

    Written in the same transaction as the change it records, so a change
    without its event (or an event without its change) cannot be committed.
    ``soort`` is one of :data:`SOORTEN`; ``referentienummer``, ``zender``
    (``organisatie/applicatie``) and ``operation`` name the message that made
    the change. ``gepubliceerd`` is set once the event source has handed the
    event to the broker and the broker has journaled it; until then the event
    is offered again (at least once, never lost).

    The zaakzoeker reads this table to show the messages that changed a zaak:
    its column names are an interface.
    """

    __tablename__ = "zrg_gebeurtenissen"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    soort: Mapped[str] = mapped_column(String(30))
    zaak_identificatie: Mapped[str] = mapped_column(String(ID), index=True)
    document_identificatie: Mapped[str | None] = mapped_column(String(ID))
    tijdstip: Mapped[float] = mapped_column()
    referentienummer: Mapped[str | None] = mapped_column(String(SHORT))
    zender: Mapped[str | None] = mapped_column(String(NAME))
    operation: Mapped[str] = mapped_column(String(SHORT))
    gepubliceerd: Mapped[float | None] = mapped_column(index=True)


SOORTEN = (
    "zaak-aangemaakt",
    "zaak-gewijzigd",
    "status-gewijzigd",
    "document-toegevoegd",
    "document-gewijzigd",
)


class Teller(Base):
    """A counter behind generated identificaties, one row per series.

    A series is named after what it counts and the parts of the pattern that
    are not the number (``zaak:0392:2025``); incrementing the row inside the
    transaction that reads it makes concurrent generators wait for each
    other, so no two get the same number.
    """

    __tablename__ = "zrg_tellers"

    reeks: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    waarde: Mapped[int] = mapped_column(BigInteger)


def overlong(row: Base) -> tuple[str, int, int] | None:
    """The first text of ``row`` longer than its column allows, if any:
    (column, length, maximum).

    SQLite stores any length, PostgreSQL refuses the transaction; checking
    before the flush makes both answer the same, and the answer can name
    what was too long.
    """
    for column in row.__table__.columns:
        limit = getattr(column.type, "length", None)
        value = getattr(row, column.key, None)
        if limit and isinstance(value, str) and len(value) > limit:
            return column.key, len(value), limit
    return None
