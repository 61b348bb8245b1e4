"""Zaken: creeerZaak, updateZaak, actualiseerZaakstatus and the vragen on them."""

from __future__ import annotations

from lxml import etree

from tests.registers.zaakregister import messages
from tests.registers.zaakregister.conftest import NS, ZKN_ACTION, Client, one, texts

ZAAK = "ZKN:antwoord/ZKN:object/"
ID = "0392-2025-0000001"


def test_creeer_zaak_is_confirmed_with_bv03_and_stored(client: Client) -> None:
    """creeerZaak (ZDS 1.2) is confirmed with a Bv03 and geefZaakdetails
    returns every part of it: zaaktype, initiator, status."""
    nieuw = messages.status("1", "Ontvangen", "20250301090000000")
    bv03 = client.send(messages.creeer_zaak(ID, statussen=nieuw))
    assert etree.QName(bv03).localname == "Bv03Bericht"

    details = client.send(messages.geef_zaakdetails(ID))
    assert etree.QName(details).localname == "geefZaakdetails_ZakLa01"
    assert one(details, ZAAK + "ZKN:identificatie") == ID
    assert one(details, ZAAK + "ZKN:startdatum") == "20250301"
    assert one(details, ZAAK + "ZKN:isVan/ZKN:gerelateerde/ZKN:code") == "B1210"
    persoon = ZAAK + "ZKN:heeftAlsInitiator/ZKN:gerelateerde/ZKN:natuurlijkPersoon/"
    assert one(details, persoon + "BG:inp.bsn") == "111111110"
    assert one(details, persoon + "BG:geslachtsnaam") == "Jansen"
    heeft = ZAAK + "ZKN:heeft/"
    assert one(details, heeft + "ZKN:gerelateerde/ZKN:omschrijving") == "Ontvangen"
    gezet_door = heeft + "ZKN:isGezetDoor/ZKN:gerelateerde/ZKN:medewerker/"
    assert one(details, gezet_door + "ZKN:identificatie") == "mdw01"


def test_creeer_zaak_twice_is_refused(client: Client) -> None:
    """A second creeerZaak with the same identificatie is refused (StUF058,
    plek client) and changes nothing."""
    client.send(messages.creeer_zaak(ID, omschrijving="Eerste"))
    fault = client.fault(messages.creeer_zaak(ID, omschrijving="Tweede"))
    assert (fault.code, fault.plek) == ("StUF058", "client")
    assert ID in (fault.details or "")
    details = client.send(messages.geef_zaakdetails(ID))
    assert one(details, ZAAK + "ZKN:omschrijving") == "Eerste"


def test_creeer_zaak_with_an_invalid_bsn_is_refused(client: Client) -> None:
    """A BSN failing the 11-test is refused, without the number in the fault."""
    fault = client.fault(
        messages.creeer_zaak(ID, initiator=messages.initiator_nps("123456789"))
    )
    assert (fault.code, fault.plek) == ("StUF058", "client")
    assert "elfproef" in fault.omschrijving
    assert "123456789" not in (fault.full_details or "") + fault.omschrijving


def test_niet_natuurlijk_persoon_as_initiator(client: Client) -> None:
    """A company as initiator comes back with its RSIN and statutaire naam."""
    client.send(
        messages.creeer_zaak(
            ID, initiator=messages.initiator_nnp("002564440", "Bakkerij BV")
        )
    )
    details = client.send(messages.geef_zaakdetails(ID))
    nnp = ZAAK + "ZKN:heeftAlsInitiator/ZKN:gerelateerde/ZKN:nietNatuurlijkPersoon/"
    assert one(details, nnp + "BG:inn.nnpId") == "002564440"
    assert one(details, nnp + "BG:statutaireNaam") == "Bakkerij BV"


def test_update_zaak_applies_what_changes(client: Client) -> None:
    """updateZaak (was/wordt) changes the elements that differ and nothing
    else."""
    client.send(messages.creeer_zaak(ID, omschrijving="Aanvraag"))
    client.send(
        messages.update_zaak(
            ID,
            was="<ZKN:omschrijving>Aanvraag</ZKN:omschrijving>",
            wordt="<ZKN:omschrijving>Aanvraag dakkapel</ZKN:omschrijving>"
            "<ZKN:einddatumGepland>20250601</ZKN:einddatumGepland>",
        )
    )
    details = client.send(messages.geef_zaakdetails(ID))
    assert one(details, ZAAK + "ZKN:omschrijving") == "Aanvraag dakkapel"
    assert one(details, ZAAK + "ZKN:einddatumGepland") == "20250601"
    assert one(details, ZAAK + "ZKN:startdatum") == "20250301"


def test_update_zaak_with_a_stale_was_is_refused(client: Client) -> None:
    """A was that does not match the register is refused, naming the element
    and both values; the zaak is left as it was."""
    client.send(messages.creeer_zaak(ID, omschrijving="Aanvraag"))
    fault = client.fault(
        messages.update_zaak(
            ID,
            was="<ZKN:omschrijving>Iets anders</ZKN:omschrijving>",
            wordt="<ZKN:omschrijving>Nieuw</ZKN:omschrijving>",
        )
    )
    assert (fault.code, fault.plek) == ("StUF058", "client")
    assert fault.details == (
        f"zaak '{ID}', omschrijving: het was-object zegt 'Iets anders', "
        "het zaakregister heeft 'Aanvraag'"
    )
    details = client.send(messages.geef_zaakdetails(ID))
    assert one(details, ZAAK + "ZKN:omschrijving") == "Aanvraag"


def test_update_zaak_clears_an_element_given_nil(client: Client) -> None:
    """An element nil in wordt (StUF noValue geenWaarde) empties it."""
    client.send(messages.creeer_zaak(ID))
    client.send(
        messages.update_zaak(
            ID,
            was="<ZKN:archiefnominatie>N</ZKN:archiefnominatie>",
            wordt='<ZKN:archiefnominatie xsi:nil="true" StUF:noValue="geenWaarde"/>',
        )
    )
    details = client.send(messages.geef_zaakdetails(ID))
    assert texts(details, ZAAK + "ZKN:archiefnominatie") == []


def test_update_zaak_replaces_the_initiator(client: Client) -> None:
    """A heeftAlsInitiator with verwerkingssoort W and another person
    replaces the initiator: a zaak has one."""
    client.send(messages.creeer_zaak(ID))
    wordt = messages.initiator_nps("900070511", "de Vries").replace(
        'StUF:verwerkingssoort="T"', 'StUF:verwerkingssoort="W"', 1
    )
    client.send(messages.update_zaak(ID, was="", wordt=wordt))
    details = client.send(messages.geef_zaakdetails(ID))
    persoon = ZAAK + "ZKN:heeftAlsInitiator/ZKN:gerelateerde/ZKN:natuurlijkPersoon/"
    assert texts(details, persoon + "BG:inp.bsn") == ["900070511"]


def test_update_of_an_unknown_zaak_is_object_niet_gevonden(client: Client) -> None:
    """StUF064 names the zaak that is not there."""
    fault = client.fault(messages.update_zaak("0392-2025-9999999", was="", wordt=""))
    assert (fault.code, fault.omschrijving) == ("StUF064", "Object niet gevonden")
    assert "0392-2025-9999999" in (fault.details or "")


def test_actualiseer_zaakstatus_sets_the_current_status(client: Client) -> None:
    """actualiseerZaakstatus (ZDS 1.2) adds a status; geefZaakstatus answers
    with it as the last status, geefZaakdetails with the whole history."""
    eerste = messages.status("1", "Ontvangen", "20250301090000000")
    client.send(messages.creeer_zaak(ID, statussen=eerste))
    tweede = messages.status("2", "In behandeling", "20250302090000000")
    bv03 = client.send(messages.actualiseer_zaakstatus(ID, tweede))
    assert etree.QName(bv03).localname == "Bv03Bericht"

    status = client.send(messages.geef_zaakstatus(ID, alleen_laatste=True))
    heeft = ZAAK + "ZKN:heeft/"
    assert texts(status, heeft + "ZKN:gerelateerde/ZKN:omschrijving") == [
        "In behandeling"
    ]
    assert texts(status, heeft + "ZKN:indicatieLaatsteStatus") == ["J"]

    details = client.send(messages.geef_zaakdetails(ID))
    assert texts(details, heeft + "ZKN:gerelateerde/ZKN:volgnummer") == ["2", "1"]


def test_actualiseer_zaakstatus_without_status_is_refused(client: Client) -> None:
    """An actualiseerZaakstatus whose wordt carries no status is refused."""
    client.send(messages.creeer_zaak(ID))
    raw = messages.actualiseer_zaakstatus(ID, "")
    fault = client.fault(raw)
    assert (fault.code, fault.plek) == ("StUF058", "client")


def test_geef_zaakstatus_of_a_zaak_without_status(client: Client) -> None:
    """A zaak without status gets an empty heeft (ZDS 1.2 demands one)."""
    client.send(messages.creeer_zaak(ID))
    status = client.send(messages.geef_zaakstatus(ID, alleen_laatste=True))
    heeft = status.find(ZAAK + "ZKN:heeft", NS)
    assert heeft is not None
    assert heeft.get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"


def test_geef_zaakdetails_of_an_unknown_zaak_is_object_niet_gevonden(
    client: Client,
) -> None:
    """StUF064 for a vraag naming a zaak that is not there."""
    fault = client.fault(messages.geef_zaakdetails("0392-2025-0000404"))
    assert fault.code == "StUF064"


def test_scope_limits_the_answer(client: Client) -> None:
    """Only what the scope names comes back (plus the identificatie)."""
    client.send(messages.creeer_zaak(ID))
    scope = (
        '<ZKN:object StUF:entiteittype="ZAK"><ZKN:identificatie xsi:nil="true"/>'
        '<ZKN:startdatum xsi:nil="true"/></ZKN:object>'
    )
    details = client.send(messages.geef_zaakdetails(ID, scope=scope))
    found = details.find("ZKN:antwoord/ZKN:object", NS)
    assert found is not None
    assert [etree.QName(c).localname for c in found] == ["identificatie", "startdatum"]


def test_zaken_of_an_initiator(client: Client) -> None:
    """The generic zakLv01 finds every zaak of one initiator by BSN, and
    indicatorAantal adds how many."""
    for number, bsn in ((1, "111111110"), (2, "900070511"), (3, "111111110")):
        identificatie = f"0392-2025-000000{number}"
        client.send(
            messages.creeer_zaak(identificatie, initiator=messages.initiator_nps(bsn))
        )
    answer = client.send(messages.zoek_zaken(messages.by_initiator("111111110")))
    assert etree.QName(answer).localname == "zakLa01"
    assert texts(answer, ZAAK + "ZKN:identificatie") == [
        "0392-2025-0000001",
        "0392-2025-0000003",
    ]
    assert one(answer, "ZKN:parameters/StUF:aantalVoorkomens") == "2"


def test_zaken_of_a_zaaktype_up_to_maximum_aantal(client: Client) -> None:
    """Selection by zaaktype, cut off at maximumAantal, in identificatie order."""
    for number in range(1, 5):
        zaaktype = "B1210" if number != 2 else "B9999"
        client.send(
            messages.creeer_zaak(f"0392-2025-000000{number}", zaaktype=zaaktype)
        )
    answer = client.send(messages.zoek_zaken(messages.by_zaaktype("B1210"), maximum=2))
    assert texts(answer, ZAAK + "ZKN:identificatie") == [
        "0392-2025-0000001",
        "0392-2025-0000003",
    ]


def test_a_search_that_finds_nothing_is_an_empty_answer(client: Client) -> None:
    """A vraag by initiator with no zaken gets a La01 without antwoord."""
    answer = client.send(messages.zoek_zaken(messages.by_initiator("111111110")))
    assert texts(answer, "ZKN:antwoord") == []


def test_generic_zaklk01_without_zds_soapaction_is_creeer_zaak(client: Client) -> None:
    """A plain StUF-ZKN zakLk01 (mutatiesoort T, generic SOAPAction) creates
    the zaak, as creeerZaak would."""
    raw = messages.creeer_zaak(ID).replace(b"ZDS:creeerZaak_ZakLk01", b"ZKN:zakLk01")
    client.send(raw, ZKN_ACTION + "zakLk01")
    client.send(messages.geef_zaakdetails(ID))


def test_a_value_longer_than_the_register_keeps_is_refused(client: Client) -> None:
    """An omschrijving longer than the register stores (a request let through
    in "report" mode) is refused naming it, on SQLite as on PostgreSQL."""
    fault = client.fault(messages.creeer_zaak(ID, omschrijving="x" * 250))
    assert (fault.code, fault.plek) == ("StUF055", "client")
    assert fault.details == (
        "zrg_zaken.omschrijving: 250 tekens; het zaakregister bewaart er ten "
        "hoogste 200"
    )
    assert client.fault(messages.geef_zaakdetails(ID)).code == "StUF064"
