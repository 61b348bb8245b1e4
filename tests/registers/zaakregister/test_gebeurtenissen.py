"""Every change is an event: the outbox rows and the kennisgevingen made of them."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from lxml import etree

from esb.message import Party
from esb.schemaset import SchemaRegistry
from registers.zaakregister import Config, Zaakregister
from registers.zaakregister.gebeurtenissen import Outbox
from registers.zaakregister.model import Gebeurtenis
from tests.registers.zaakregister import messages
from tests.registers.zaakregister.conftest import NOW, NS, Client, one, texts

ZAAK = "0392-2025-0000001"
DOC = "0392-D2025-0000001"
SOORT = "ZKN:object/StUF:extraElementen/StUF:extraElement[@naam='emo.gebeurtenis']"


def events(register: Zaakregister) -> list[Gebeurtenis]:
    def query(session: sa.orm.Session) -> list[Gebeurtenis]:
        rows = session.execute(sa.select(Gebeurtenis).order_by(Gebeurtenis.id))
        return list(rows.scalars())

    return register.database.read(query)


def outbox(register: Zaakregister) -> Outbox:
    return Outbox(
        register.database,
        zender=Party(organisatie="0392", applicatie="EMO"),
        ontvanger=Party(applicatie="ABONNEES"),
    )


def referentienummer(raw: bytes) -> str:
    found = etree.fromstring(raw).findtext(".//StUF:referentienummer", None, NS)
    assert found
    return found


def test_creeer_zaak_writes_zaak_aangemaakt(
    client: Client, register: Zaakregister
) -> None:
    """The event names the zaak, the moment, and the message that made it:
    its referentienummer, zender (organisatie/applicatie) and operation."""
    request = messages.creeer_zaak(ZAAK)
    client.send(request)
    [event] = events(register)
    assert event.soort == "zaak-aangemaakt"
    assert event.zaak_identificatie == ZAAK
    assert event.document_identificatie is None
    assert event.tijdstip == NOW
    assert event.referentienummer == referentienummer(request)
    assert event.zender == "0392/TESTAPP"
    assert event.operation == "creeerZaak"
    assert event.gepubliceerd is None


def test_a_refused_change_writes_no_event(
    client: Client, register: Zaakregister
) -> None:
    """The event is part of the change's transaction: a creeerZaak refused
    (the zaak exists) leaves no event behind."""
    client.send(messages.creeer_zaak(ZAAK))
    client.fault(messages.creeer_zaak(ZAAK))
    assert [e.soort for e in events(register)] == ["zaak-aangemaakt"]


def test_updates_write_status_and_zaak_events(
    client: Client, register: Zaakregister
) -> None:
    """A new status is status-gewijzigd, a changed omschrijving zaak-gewijzigd,
    an update that changes nothing no event; vragen write nothing."""
    client.send(messages.creeer_zaak(ZAAK))
    client.send(
        messages.actualiseer_zaakstatus(
            ZAAK, messages.status("2", "In behandeling", "20250302090000000")
        )
    )
    omschrijving = "<ZKN:omschrijving>{}</ZKN:omschrijving>"
    client.send(
        messages.update_zaak(
            ZAAK,
            omschrijving.format("Aanvraag omgevingsvergunning"),
            omschrijving.format("Aanvraag kapvergunning"),
        )
    )
    client.send(
        messages.update_zaak(
            ZAAK,
            omschrijving.format("Aanvraag kapvergunning"),
            omschrijving.format("Aanvraag kapvergunning"),
        )
    )
    client.send(messages.geef_zaakdetails(ZAAK))
    found = [(e.soort, e.operation) for e in events(register)]
    assert found == [
        ("zaak-aangemaakt", "creeerZaak"),
        ("status-gewijzigd", "actualiseerZaakstatus"),
        ("zaak-gewijzigd", "updateZaak"),
    ]


def test_documents_write_document_events(
    client: Client, register: Zaakregister
) -> None:
    """voegZaakdocumentToe is document-toegevoegd, updateZaakdocument
    document-gewijzigd, both naming zaak and document; the checkout itself
    is no change."""
    client.send(messages.creeer_zaak(ZAAK))
    client.send(messages.voeg_zaakdocument_toe(DOC, ZAAK, b"versie 1"))
    du02 = client.send(messages.geef_zaakdocument_bewerken(DOC))
    checked_out = one(du02, "ZDS:parameters/ZDS:checkedOutId")
    client.send(
        messages.update_zaakdocument(
            DOC,
            checked_out,
            oude_titel="Ontvangstbevestiging",
            nieuwe_titel="Ontvangstbevestiging v2",
            content=b"versie 2",
        )
    )
    found = [
        (e.soort, e.zaak_identificatie, e.document_identificatie)
        for e in events(register)
    ]
    assert found == [
        ("zaak-aangemaakt", ZAAK, None),
        ("document-toegevoegd", ZAAK, DOC),
        ("document-gewijzigd", ZAAK, DOC),
    ]


def test_outbox_gives_kennisgevingen_that_validate(
    client: Client, register: Zaakregister, schemas: SchemaRegistry
) -> None:
    """Each event is a zakLk01 or edcLk01 of StUF-ZKN 03.10 that the official
    schemas accept: T for what is new, W for a change, the kind in an
    extraElement, the zaak as it is now."""
    client.send(
        messages.creeer_zaak(
            ZAAK,
            statussen=messages.status("1", "Ontvangen", "20250301090000000"),
        )
    )
    client.send(
        messages.actualiseer_zaakstatus(
            ZAAK, messages.status("2", "In behandeling", "20250302090000000")
        )
    )
    client.send(messages.voeg_zaakdocument_toe(DOC, ZAAK, b"inhoud"))

    pending = outbox(register).pending()
    assert [e.soort for e in pending] == [
        "zaak-aangemaakt",
        "status-gewijzigd",
        "document-toegevoegd",
    ]
    berichten = [etree.fromstring(e.message) for e in pending]
    for bericht in berichten:
        assert schemas.validate(bericht) == [], etree.tostring(bericht)
    aangemaakt, status, document = berichten

    assert etree.QName(aangemaakt).localname == "zakLk01"
    assert one(aangemaakt, "ZKN:parameters/StUF:mutatiesoort") == "T"
    assert one(aangemaakt, SOORT) == "zaak-aangemaakt"
    assert one(aangemaakt, "ZKN:stuurgegevens/StUF:zender/StUF:applicatie") == "EMO"
    # The zaak as the register holds it now: both statuses, also in the
    # event of the creation.
    omschrijvingen = "ZKN:object/ZKN:heeft/ZKN:gerelateerde/ZKN:omschrijving"
    assert texts(aangemaakt, omschrijvingen) == ["In behandeling", "Ontvangen"]

    assert one(status, "ZKN:parameters/StUF:mutatiesoort") == "W"
    assert one(status, SOORT) == "status-gewijzigd"

    assert etree.QName(document).localname == "edcLk01"
    assert one(document, "ZKN:object/ZKN:identificatie") == DOC
    relevant = "ZKN:object/ZKN:isRelevantVoor/ZKN:gerelateerde/ZKN:identificatie"
    assert one(document, relevant) == ZAAK
    assert texts(document, "ZKN:object/ZKN:inhoud") == []


def test_an_event_is_offered_until_it_is_published(
    client: Client, register: Zaakregister
) -> None:
    """Offered again with the same referentienummer (the journal answers the
    repeat as before) until marked published; then never again."""
    client.send(messages.creeer_zaak(ZAAK))
    client.send(messages.creeer_zaak("0392-2025-0000002"))
    box = outbox(register)
    first = box.pending()
    again = box.pending()
    assert [e.referentienummer for e in first] == [e.referentienummer for e in again]
    assert len({e.referentienummer for e in first}) == 2

    box.published([first[0].id], NOW + 1)
    assert [e.id for e in box.pending()] == [first[1].id]
    assert [e.gepubliceerd for e in events(register)] == [NOW + 1, None]
    box.published([first[1].id], NOW + 2)
    assert box.pending() == []


def test_pending_reads_a_batch_oldest_first(
    client: Client, register: Zaakregister
) -> None:
    for number in range(1, 6):
        client.send(messages.creeer_zaak(f"0392-2025-000000{number}"))
    batch = outbox(register).pending(limit=3)
    assert [e.zaak_identificatie for e in batch] == [
        "0392-2025-0000001",
        "0392-2025-0000002",
        "0392-2025-0000003",
    ]


@pytest.mark.postgres
def test_events_and_sortering_on_postgresql(
    postgres_url: str, tmp_path: Path, schemas: SchemaRegistry
) -> None:
    """The same outbox, relations and sortering on PostgreSQL: events in
    order, valid kennisgevingen, published once; zaken without a hoofdzaak
    after the one with (NULLS LAST, as on SQLite)."""
    register = Zaakregister.open(
        postgres_url, Config(documents=tmp_path / "documenten", organisatie="0392")
    )
    register.clock = lambda: NOW
    try:
        client = Client(register, schemas)
        client.send(
            messages.creeer_zaak(ZAAK, statussen=messages.deelzaak("0392-2025-0000002"))
        )
        client.send(messages.creeer_zaak("0392-2025-0000002"))
        answer = client.send(
            messages.zoek_zaken(messages.by_zaaktype("B1210"), sortering=12)
        )
        assert texts(answer, "ZKN:antwoord/ZKN:object/ZKN:identificatie") == [
            "0392-2025-0000002",
            ZAAK,
        ]
        box = outbox(register)
        pending = box.pending()
        assert [e.zaak_identificatie for e in pending] == [ZAAK, "0392-2025-0000002"]
        for event in pending:
            assert schemas.validate(etree.fromstring(event.message)) == []
        box.published([e.id for e in pending], NOW + 1)
        assert box.pending() == []
    finally:
        register.close()
