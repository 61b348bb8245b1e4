"""Relations between zaken (deelzaken, heeftBetrekkingOpAndere), besluiten
(leidtTot), and the sortering of lists of zaken."""

from __future__ import annotations

from lxml import etree

from tests.registers.zaakregister import messages
from tests.registers.zaakregister.conftest import NS, Client, one, texts

HOOFD = "0392-2025-0000001"
DEEL = "0392-2025-0000002"
ANDER = "0392-2025-0000003"
OBJECT = "ZKN:antwoord/ZKN:object/"


def create_family(client: Client) -> None:
    client.send(
        messages.creeer_zaak(
            HOOFD,
            statussen=messages.deelzaak(DEEL)
            + messages.betrekking_op_andere(ANDER)
            + messages.status("1", "Ontvangen", "20250301090000000")
            + messages.besluit("0392-B-0000001", "Vergunning verleend", "20250310"),
        )
    )
    client.send(messages.creeer_zaak(DEEL, omschrijving="Advies welstand"))


def test_relations_and_besluiten_come_back_in_geef_zaakdetails(
    client: Client,
) -> None:
    """What creeerZaak said about other zaken and besluiten is answered, in
    ZAK-antwoord order, valid against the ZDS 1.2 schema."""
    create_family(client)
    details = client.send(messages.geef_zaakdetails(HOOFD))
    relatie = "/ZKN:gerelateerde/ZKN:identificatie"
    assert one(details, OBJECT + "ZKN:heeftAlsDeelzaak" + relatie) == DEEL
    assert one(details, OBJECT + "ZKN:heeftBetrekkingOpAndere" + relatie) == ANDER
    besluit = OBJECT + "ZKN:leidtTot/ZKN:gerelateerde/"
    assert one(details, besluit + "ZKN:identificatie") == "0392-B-0000001"
    assert one(details, besluit + "ZKN:bst.omschrijving") == "Vergunning verleend"
    assert one(details, besluit + "ZKN:datumBeslissing") == "20250310"
    names = [etree.QName(e).localname for e in details.find(OBJECT[:-1], NS)]
    assert names.index("heeftAlsDeelzaak") < names.index("heeft")
    assert names.index("heeft") < names.index("leidtTot")


def test_a_deelzaak_names_its_hoofdzaak(client: Client) -> None:
    """The hoofdzaak named the deelzaak; the deelzaak's answer has the other
    side, heeftAlsHoofdzaak, with the hoofdzaak's omschrijving."""
    create_family(client)
    details = client.send(messages.geef_zaakdetails(DEEL))
    hoofd = OBJECT + "ZKN:heeftAlsHoofdzaak/ZKN:gerelateerde/"
    assert one(details, hoofd + "ZKN:identificatie") == HOOFD
    assert one(details, hoofd + "ZKN:omschrijving") == "Aanvraag omgevingsvergunning"
    assert texts(details, OBJECT + "ZKN:heeftAlsDeelzaak") == []


def test_the_zds_11_vraag_answers_relations_too(client: Client) -> None:
    """The generic zakLv01 (ZDS 1.1, StUF-ZKN) answers them in its own schema."""
    create_family(client)
    answer = client.send(messages.zoek_zaken(messages.by_zaaktype("B1210")))
    assert etree.QName(answer).localname == "zakLa01"
    scope = '<ZKN:object StUF:entiteittype="ZAK" StUF:scope="alles"/>'
    answer = client.send(
        messages.as_zds11(messages.geef_zaakdetails(HOOFD, scope=scope))
    )
    relatie = "ZKN:heeftAlsDeelzaak/ZKN:gerelateerde/ZKN:identificatie"
    assert one(answer, OBJECT + relatie) == DEEL


def test_update_removes_and_adds_relations(client: Client) -> None:
    """updateZaak: a relation in the wordt with verwerkingssoort V goes, a
    new besluit with T comes; the rest stays."""
    create_family(client)
    client.send(
        messages.update_zaak(
            HOOFD,
            messages.betrekking_op_andere(ANDER, verwerkingssoort="I"),
            messages.betrekking_op_andere(ANDER, verwerkingssoort="V")
            + messages.besluit("0392-B-0000002", "Bezwaar ongegrond", "20250401"),
        )
    )
    details = client.send(messages.geef_zaakdetails(HOOFD))
    assert texts(details, OBJECT + "ZKN:heeftBetrekkingOpAndere") == []
    besluiten = OBJECT + "ZKN:leidtTot/ZKN:gerelateerde/ZKN:identificatie"
    assert texts(details, besluiten) == ["0392-B-0000001", "0392-B-0000002"]
    relatie = "ZKN:heeftAlsDeelzaak/ZKN:gerelateerde/ZKN:identificatie"
    assert one(details, OBJECT + relatie) == DEEL


def test_scope_leaves_out_relations_not_asked_for(client: Client) -> None:
    create_family(client)
    scope = (
        '<ZKN:object StUF:entiteittype="ZAK"><ZKN:identificatie xsi:nil="true"/>'
        '<ZKN:leidtTot StUF:entiteittype="ZAKBSL"><ZKN:gerelateerde '
        'StUF:entiteittype="BSL"><ZKN:identificatie xsi:nil="true"/>'
        "</ZKN:gerelateerde></ZKN:leidtTot></ZKN:object>"
    )
    details = client.send(messages.geef_zaakdetails(HOOFD, scope=scope))
    assert texts(details, OBJECT + "ZKN:heeftAlsDeelzaak") == []
    assert texts(details, OBJECT + "ZKN:leidtTot/ZKN:gerelateerde/ZKN:identificatie")


# Sortering ------------------------------------------------------------------


def sorted_by(client: Client, sortering: int) -> list[str]:
    answer = client.send(
        messages.zoek_zaken(messages.by_zaaktype("B1210"), sortering=sortering)
    )
    return texts(answer, OBJECT + "ZKN:identificatie")


def test_sortering_orders_lists_by_the_zkn_numbers(client: Client) -> None:
    """ZAK-sortering (zkn0310): 1 identificatie, 4 omschrijving, 5 startdatum
    descending, 9 the initiator's identificatie, 12 the hoofdzaak; 0 the
    register's own order (identificatie)."""
    client.send(
        messages.creeer_zaak(
            "0392-2025-0000001",
            omschrijving="Bouw",
            startdatum="20250102",
            initiator=messages.initiator_nps("999993653"),
            statussen=messages.deelzaak("0392-2025-0000003"),
        )
    )
    client.send(
        messages.creeer_zaak(
            "0392-2025-0000002",
            omschrijving="Aanleg",
            startdatum="20250301",
            initiator=messages.initiator_nps("111111110"),
        )
    )
    client.send(
        messages.creeer_zaak(
            "0392-2025-0000003",
            omschrijving="Cultuur",
            startdatum="20250201",
            initiator=messages.initiator_nps("123456782"),
        )
    )
    all_three = ["0392-2025-0000001", "0392-2025-0000002", "0392-2025-0000003"]
    assert sorted_by(client, 0) == all_three
    assert sorted_by(client, 1) == all_three
    assert sorted_by(client, 4) == [all_three[i] for i in (1, 0, 2)]
    assert sorted_by(client, 5) == [all_three[i] for i in (1, 2, 0)]
    assert sorted_by(client, 9) == [all_three[i] for i in (1, 2, 0)]
    # Only the deelzaak has a hoofdzaak; the others follow by identificatie.
    assert sorted_by(client, 12) == [all_three[i] for i in (2, 0, 1)]


def test_sortering_and_maximum_aantal_cut_the_same_list(client: Client) -> None:
    for number, omschrijving in ((1, "C"), (2, "A"), (3, "B")):
        client.send(
            messages.creeer_zaak(f"0392-2025-000000{number}", omschrijving=omschrijving)
        )
    answer = client.send(
        messages.zoek_zaken(messages.by_zaaktype("B1210"), maximum=2, sortering=4)
    )
    assert texts(answer, OBJECT + "ZKN:identificatie") == [
        "0392-2025-0000002",
        "0392-2025-0000003",
    ]


def test_an_unknown_sortering_is_a_precise_fault(client: Client) -> None:
    client.send(messages.creeer_zaak(HOOFD))
    fault = client.fault(
        messages.zoek_zaken(messages.by_zaaktype("B1210"), sortering=14)
    )
    assert fault.code == "StUF058"
    assert fault.plek == "client"
    assert "0 tot en met 13" in (fault.details or "")
