"""ZDS requests the shared examples do not have, built the way clients send them.

The real requests in ``../shared/stuf/examples`` cover creeerZaak,
updateZaak, actualiseerZaakstatus (1.1), geefZaakdetails,
geefLijstZaakdocumenten, voegZaakdocumentToe and the genereer...Identificatie
messages. The rest of ZDS (geefZaakstatus, geefZaakdocumentLezen, the
checkout cycle, maakZaakdocument, 1.2 updates, generic vragen) is written
here; ``test_messages.py`` checks that every one of them validates against
the official schemas, so the register is tested with standard messages.
"""

from __future__ import annotations

import base64
import itertools

ZDS12 = "http://www.stufstandaarden.nl/koppelvlak/zds0120/"
ZKN11 = "http://www.egem.nl/StUF/sector/zkn/0310/"

_NAMESPACES = (
    'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:ZDS="http://www.stufstandaarden.nl/koppelvlak/zds0120" '
    'xmlns:ZKN="http://www.egem.nl/StUF/sector/zkn/0310" '
    'xmlns:StUF="http://www.egem.nl/StUF/StUF0301" '
    'xmlns:BG="http://www.egem.nl/StUF/sector/bg/0310" '
    'xmlns:xmime="http://www.w3.org/2005/05/xmlmime" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
)

_counter = itertools.count(1)


def envelope(body: str) -> bytes:
    return (
        f"<soap:Envelope {_NAMESPACES}><soap:Body>{body}</soap:Body></soap:Envelope>"
    ).encode()


def stuurgegevens(
    berichtcode: str,
    *,
    prefix: str = "ZKN",
    entiteittype: str | None = None,
    functie: str | None = None,
    zender: str = "TESTAPP",
    referentienummer: str | None = None,
) -> str:
    reference = referentienummer or f"ref-{next(_counter):06d}"
    extra = ""
    if entiteittype:
        extra += f"<StUF:entiteittype>{entiteittype}</StUF:entiteittype>"
    if functie:
        extra += f"<StUF:functie>{functie}</StUF:functie>"
    return (
        f"<{prefix}:stuurgegevens>"
        f"<StUF:berichtcode>{berichtcode}</StUF:berichtcode>"
        "<StUF:zender><StUF:organisatie>0392</StUF:organisatie>"
        f"<StUF:applicatie>{zender}</StUF:applicatie></StUF:zender>"
        "<StUF:ontvanger><StUF:organisatie>0392</StUF:organisatie>"
        "<StUF:applicatie>ZSH</StUF:applicatie></StUF:ontvanger>"
        f"<StUF:referentienummer>{reference}</StUF:referentienummer>"
        "<StUF:tijdstipBericht>20250301120000</StUF:tijdstipBericht>"
        f"{extra}</{prefix}:stuurgegevens>"
    )


def _vraag_parameters(
    maximum: int | None = None, aantal: bool = False, sortering: int = 0
) -> str:
    maximum_aantal = (
        f"<StUF:maximumAantal>{maximum}</StUF:maximumAantal>" if maximum else ""
    )
    indicator = "<StUF:indicatorAantal>true</StUF:indicatorAantal>" if aantal else ""
    return (
        f"<ZKN:parameters><StUF:sortering>{sortering}</StUF:sortering>"
        "<StUF:indicatorVervolgvraag>false</StUF:indicatorVervolgvraag>"
        f"{maximum_aantal}{indicator}</ZKN:parameters>"
    )


def _kennisgeving_parameters(mutatiesoort: str) -> str:
    return (
        f"<ZKN:parameters><StUF:mutatiesoort>{mutatiesoort}</StUF:mutatiesoort>"
        "<StUF:indicatorOvername>V</StUF:indicatorOvername></ZKN:parameters>"
    )


# Zaken ----------------------------------------------------------------------


def initiator_nps(bsn: str, geslachtsnaam: str = "Jansen") -> str:
    return (
        '<ZKN:heeftAlsInitiator StUF:entiteittype="ZAKBTRINI" '
        'StUF:verwerkingssoort="T"><ZKN:gerelateerde>'
        '<ZKN:natuurlijkPersoon StUF:entiteittype="NPS" StUF:verwerkingssoort="I">'
        f"<BG:inp.bsn>{bsn}</BG:inp.bsn>"
        f"<BG:geslachtsnaam>{geslachtsnaam}</BG:geslachtsnaam>"
        "<BG:voorletters>J</BG:voorletters>"
        "</ZKN:natuurlijkPersoon></ZKN:gerelateerde>"
        "<ZKN:omschrijving>Aanvrager</ZKN:omschrijving>"
        "</ZKN:heeftAlsInitiator>"
    )


def initiator_nnp(rsin: str, naam: str) -> str:
    return (
        '<ZKN:heeftAlsInitiator StUF:entiteittype="ZAKBTRINI" '
        'StUF:verwerkingssoort="T"><ZKN:gerelateerde>'
        '<ZKN:nietNatuurlijkPersoon StUF:entiteittype="NNP" '
        'StUF:verwerkingssoort="I">'
        f"<BG:inn.nnpId>{rsin}</BG:inn.nnpId>"
        '<BG:authentiek StUF:metagegeven="true">J</BG:authentiek>'
        f"<BG:statutaireNaam>{naam}</BG:statutaireNaam>"
        "</ZKN:nietNatuurlijkPersoon></ZKN:gerelateerde>"
        "</ZKN:heeftAlsInitiator>"
    )


def status(
    volgnummer: str,
    omschrijving: str,
    datum: str,
    *,
    zaaktype: str = "B1210",
    medewerker: str = "mdw01",
    verwerkingssoort: str = "T",
) -> str:
    return (
        f'<ZKN:heeft StUF:entiteittype="ZAKSTT" '
        f'StUF:verwerkingssoort="{verwerkingssoort}">'
        '<ZKN:gerelateerde StUF:entiteittype="STT" StUF:verwerkingssoort="I">'
        f"<ZKN:zkt.code>{zaaktype}</ZKN:zkt.code>"
        f"<ZKN:volgnummer>{volgnummer}</ZKN:volgnummer>"
        f"<ZKN:omschrijving>{omschrijving}</ZKN:omschrijving>"
        "</ZKN:gerelateerde>"
        f"<ZKN:datumStatusGezet>{datum}</ZKN:datumStatusGezet>"
        '<ZKN:isGezetDoor StUF:entiteittype="ZAKSTTBTR" StUF:verwerkingssoort="T">'
        "<ZKN:gerelateerde>"
        '<ZKN:medewerker StUF:entiteittype="MDW" StUF:verwerkingssoort="I">'
        f"<ZKN:identificatie>{medewerker}</ZKN:identificatie>"
        "<ZKN:achternaam>Behandelaar</ZKN:achternaam>"
        "</ZKN:medewerker></ZKN:gerelateerde>"
        "</ZKN:isGezetDoor></ZKN:heeft>"
    )


def deelzaak(identificatie: str, *, verwerkingssoort: str = "T") -> str:
    """heeftAlsDeelzaak (ZAKZAKDEL-kennisgeving): the other zaak by identificatie."""
    return _zaakrelatie(
        "heeftAlsDeelzaak", "ZAKZAKDEL", identificatie, verwerkingssoort
    )


def betrekking_op_andere(identificatie: str, *, verwerkingssoort: str = "T") -> str:
    """heeftBetrekkingOpAndere (ZAKZAKBTR-kennisgeving): a related zaak."""
    return _zaakrelatie(
        "heeftBetrekkingOpAndere", "ZAKZAKBTR", identificatie, verwerkingssoort
    )


def _zaakrelatie(
    element: str, entiteittype: str, identificatie: str, verwerkingssoort: str
) -> str:
    return (
        f'<ZKN:{element} StUF:entiteittype="{entiteittype}" '
        f'StUF:verwerkingssoort="{verwerkingssoort}">'
        '<ZKN:gerelateerde StUF:entiteittype="ZAK" StUF:verwerkingssoort="I">'
        f"<ZKN:identificatie>{identificatie}</ZKN:identificatie>"
        f"</ZKN:gerelateerde></ZKN:{element}>"
    )


def besluit(
    identificatie: str,
    omschrijving: str,
    datum: str,
    *,
    verwerkingssoort: str = "T",
) -> str:
    """leidtTot (ZAKBSL-kennisgeving) with its BSL-kerngegevensKennisgeving."""
    return (
        f'<ZKN:leidtTot StUF:entiteittype="ZAKBSL" '
        f'StUF:verwerkingssoort="{verwerkingssoort}">'
        '<ZKN:gerelateerde StUF:entiteittype="BSL" StUF:verwerkingssoort="I">'
        f"<ZKN:identificatie>{identificatie}</ZKN:identificatie>"
        f"<ZKN:bst.omschrijving>{omschrijving}</ZKN:bst.omschrijving>"
        f"<ZKN:datumBeslissing>{datum}</ZKN:datumBeslissing>"
        "</ZKN:gerelateerde></ZKN:leidtTot>"
    )


def creeer_zaak(
    identificatie: str,
    *,
    initiator: str | None = None,
    zaaktype: str = "B1210",
    omschrijving: str = "Aanvraag omgevingsvergunning",
    statussen: str = "",
    extra: str = "",
    zender: str = "TESTAPP",
    startdatum: str = "20250301",
) -> bytes:
    """creeerZaak_ZakLk01 (ZDS 1.2). ``statussen`` holds the relations after
    the initiator, in schema order: heeftAlsDeelzaak, heeftBetrekkingOpAndere,
    heeft, leidtTot."""
    betrokkene = initiator if initiator is not None else initiator_nps("111111110")
    return envelope(
        "<ZDS:creeerZaak_ZakLk01>"
        + stuurgegevens("Lk01", entiteittype="ZAK", zender=zender)
        + _kennisgeving_parameters("T")
        + '<ZKN:object StUF:entiteittype="ZAK" StUF:verwerkingssoort="T">'
        f"<ZKN:identificatie>{identificatie}</ZKN:identificatie>"
        f"<ZKN:omschrijving>{omschrijving}</ZKN:omschrijving>"
        f"{extra}"
        f"<ZKN:startdatum>{startdatum}</ZKN:startdatum>"
        "<ZKN:registratiedatum>20250301</ZKN:registratiedatum>"
        "<ZKN:archiefnominatie>N</ZKN:archiefnominatie>"
        "<ZKN:zaakniveau>1</ZKN:zaakniveau>"
        "<ZKN:deelzakenIndicatie>N</ZKN:deelzakenIndicatie>"
        '<ZKN:isVan StUF:entiteittype="ZAKZKT" StUF:verwerkingssoort="T">'
        '<ZKN:gerelateerde StUF:entiteittype="ZKT" StUF:verwerkingssoort="I">'
        "<ZKN:omschrijving>Omgevingsvergunning</ZKN:omschrijving>"
        f"<ZKN:code>{zaaktype}</ZKN:code>"
        "</ZKN:gerelateerde></ZKN:isVan>"
        f"{betrokkene}{statussen}"
        "</ZKN:object></ZDS:creeerZaak_ZakLk01>"
    )


def update_zaak(identificatie: str, was: str, wordt: str) -> bytes:
    """updateZaak_ZakLk01 (ZDS 1.2): was and wordt hold the changed elements."""

    def zaak_object(content: str) -> str:
        return (
            '<ZKN:object StUF:entiteittype="ZAK" StUF:verwerkingssoort="W">'
            f"<ZKN:identificatie>{identificatie}</ZKN:identificatie>"
            f"{content}</ZKN:object>"
        )

    return envelope(
        "<ZDS:updateZaak_ZakLk01>"
        + stuurgegevens("Lk01", entiteittype="ZAK")
        + _kennisgeving_parameters("W")
        + zaak_object(was)
        + zaak_object(wordt)
        + "</ZDS:updateZaak_ZakLk01>"
    )


def actualiseer_zaakstatus(identificatie: str, nieuwe_status: str) -> bytes:
    """actualiseerZaakstatus_ZakLk01 (ZDS 1.2): the new status in wordt."""
    return envelope(
        "<ZDS:actualiseerZaakstatus_ZakLk01>"
        + stuurgegevens("Lk01", entiteittype="ZAK")
        + _kennisgeving_parameters("W")
        + '<ZKN:object StUF:entiteittype="ZAK" StUF:verwerkingssoort="W">'
        f"<ZKN:identificatie>{identificatie}</ZKN:identificatie>"
        + status("1", "Ontvangen", "20250301090000000", verwerkingssoort="I")
        + "</ZKN:object>"
        '<ZKN:object StUF:entiteittype="ZAK" StUF:verwerkingssoort="W">'
        f"<ZKN:identificatie>{identificatie}</ZKN:identificatie>"
        + nieuwe_status
        + "</ZKN:object></ZDS:actualiseerZaakstatus_ZakLk01>"
    )


def geef_zaakdetails(identificatie: str, scope: str | None = None) -> bytes:
    """geefZaakdetails_ZakLv01 (ZDS 1.2), by default with scope alles."""
    scope = scope or '<ZKN:object StUF:entiteittype="ZAK" StUF:scope="alles"/>'
    return envelope(
        "<ZDS:geefZaakdetails_ZakLv01>"
        + stuurgegevens("Lv01", entiteittype="ZAK")
        + _vraag_parameters()
        + '<ZKN:gelijk StUF:entiteittype="ZAK">'
        f"<ZKN:identificatie>{identificatie}</ZKN:identificatie></ZKN:gelijk>"
        f"<ZKN:scope>{scope}</ZKN:scope>"
        "</ZDS:geefZaakdetails_ZakLv01>"
    )


def geef_zaakstatus(identificatie: str, *, alleen_laatste: bool) -> bytes:
    """geefZaakstatus_ZakLv01 (ZDS 1.2)."""
    return envelope(
        "<ZDS:geefZaakstatus_ZakLv01>"
        + stuurgegevens("Lv01", entiteittype="ZAK")
        + _vraag_parameters()
        + '<ZKN:gelijk StUF:entiteittype="ZAK">'
        f"<ZKN:identificatie>{identificatie}</ZKN:identificatie>"
        '<ZKN:heeft StUF:entiteittype="ZAKSTT">'
        "<ZKN:indicatieLaatsteStatus>"
        f"{'J' if alleen_laatste else 'N'}</ZKN:indicatieLaatsteStatus>"
        "</ZKN:heeft></ZKN:gelijk>"
        '<ZKN:scope><ZKN:object StUF:entiteittype="ZAK">'
        '<ZKN:identificatie xsi:nil="true"/>'
        '<ZKN:heeft StUF:entiteittype="ZAKSTT">'
        '<ZKN:gerelateerde StUF:entiteittype="STT">'
        '<ZKN:volgnummer xsi:nil="true"/><ZKN:omschrijving xsi:nil="true"/>'
        "</ZKN:gerelateerde>"
        '<ZKN:datumStatusGezet xsi:nil="true"/>'
        '<ZKN:indicatieLaatsteStatus xsi:nil="true"/>'
        "</ZKN:heeft></ZKN:object></ZKN:scope>"
        "</ZDS:geefZaakstatus_ZakLv01>"
    )


def geef_lijst_zaakdocumenten(identificatie: str) -> bytes:
    """geefLijstZaakdocumenten_ZakLv01 (ZDS 1.2)."""
    return envelope(
        "<ZDS:geefLijstZaakdocumenten_ZakLv01>"
        + stuurgegevens("Lv01", entiteittype="ZAK")
        + _vraag_parameters()
        + '<ZKN:gelijk StUF:entiteittype="ZAK">'
        f"<ZKN:identificatie>{identificatie}</ZKN:identificatie></ZKN:gelijk>"
        '<ZKN:scope><ZKN:object StUF:entiteittype="ZAK">'
        '<ZKN:heeftRelevant StUF:entiteittype="ZAKEDC">'
        '<ZKN:gerelateerde StUF:entiteittype="EDC">'
        '<ZKN:identificatie xsi:nil="true"/><ZKN:titel xsi:nil="true"/>'
        "</ZKN:gerelateerde></ZKN:heeftRelevant>"
        "</ZKN:object></ZKN:scope>"
        "</ZDS:geefLijstZaakdocumenten_ZakLv01>"
    )


def zoek_zaken(
    gelijk: str, *, maximum: int | None = None, scope: str = "", sortering: int = 0
) -> bytes:
    """A generic zakLv01 (StUF-ZKN, the form ZDS 1.1 uses) selecting ``gelijk``."""
    scope = scope or (
        '<ZKN:object StUF:entiteittype="ZAK"><ZKN:identificatie xsi:nil="true"/>'
        '<ZKN:omschrijving xsi:nil="true"/></ZKN:object>'
    )
    return envelope(
        "<ZKN:zakLv01>"
        + stuurgegevens("Lv01", entiteittype="ZAK")
        + _vraag_parameters(maximum, aantal=True, sortering=sortering)
        + f'<ZKN:gelijk StUF:entiteittype="ZAK">{gelijk}</ZKN:gelijk>'
        f"<ZKN:scope>{scope}</ZKN:scope>"
        "</ZKN:zakLv01>"
    )


def by_initiator(nummer: str) -> str:
    """StUF-ZKN selects a betrokkene by its identificatie (BTR): for a
    natuurlijk persoon that is the BSN, for a niet-natuurlijk persoon the
    RSIN (zkn0310 BTR-gerelateerdeVraagSelectie)."""
    return (
        '<ZKN:heeftAlsInitiator StUF:entiteittype="ZAKBTRINI">'
        '<ZKN:gerelateerde StUF:entiteittype="BTR">'
        f"<ZKN:identificatie>{nummer}</ZKN:identificatie>"
        "</ZKN:gerelateerde></ZKN:heeftAlsInitiator>"
    )


def by_zaaktype(code: str) -> str:
    return (
        '<ZKN:isVan StUF:entiteittype="ZAKZKT">'
        '<ZKN:gerelateerde StUF:entiteittype="ZKT">'
        f"<ZKN:code>{code}</ZKN:code></ZKN:gerelateerde></ZKN:isVan>"
    )


def genereer(kind: str, *, zds12: bool = True) -> bytes:
    """genereerZaakIdentificatie_Di02 / genereerDocumentIdentificatie_Di02."""
    name = "Zaak" if kind == "zaak" else "Document"
    prefix = "ZDS" if zds12 else "ZKN"
    element = f"{prefix}:genereer{name}Identificatie_Di02"
    return envelope(
        f"<{element}>"
        + stuurgegevens("Di02", prefix=prefix, functie=f"genereer{name}identificatie")
        + f"</{element}>"
    )


# Documenten -----------------------------------------------------------------


def _document_fields(identificatie: str, titel: str, content: bytes | None) -> str:
    inhoud = ""
    if content is not None:
        encoded = base64.encodebytes(content).decode()
        inhoud = (
            '<ZKN:inhoud StUF:bestandsnaam="brief.pdf" '
            f'xmime:contentType="application/pdf">{encoded}</ZKN:inhoud>'
        )
    return (
        f"<ZKN:identificatie>{identificatie}</ZKN:identificatie>"
        "<ZKN:dct.omschrijving>Brief</ZKN:dct.omschrijving>"
        "<ZKN:creatiedatum>20250301</ZKN:creatiedatum>"
        f"<ZKN:titel>{titel}</ZKN:titel>"
        "<ZKN:formaat>application/pdf</ZKN:formaat>"
        "<ZKN:taal>nld</ZKN:taal>"
        "<ZKN:versie>1</ZKN:versie>"
        "<ZKN:status>definitief</ZKN:status>"
        "<ZKN:vertrouwelijkAanduiding>OPENBAAR</ZKN:vertrouwelijkAanduiding>"
        "<ZKN:auteur>Behandelaar</ZKN:auteur>"
        f"{inhoud}"
    )


def _is_relevant_voor(zaak: str) -> str:
    return (
        '<ZKN:isRelevantVoor StUF:entiteittype="EDCZAK" StUF:verwerkingssoort="T">'
        '<ZKN:gerelateerde StUF:entiteittype="ZAK" StUF:verwerkingssoort="I">'
        f"<ZKN:identificatie>{zaak}</ZKN:identificatie>"
        "</ZKN:gerelateerde></ZKN:isRelevantVoor>"
    )


def voeg_zaakdocument_toe(
    identificatie: str, zaak: str, content: bytes, titel: str = "Ontvangstbevestiging"
) -> bytes:
    """voegZaakdocumentToe_EdcLk01 (ZDS 1.2) with base64 content."""
    return envelope(
        "<ZDS:voegZaakdocumentToe_EdcLk01>"
        + stuurgegevens("Lk01", entiteittype="EDC")
        + _kennisgeving_parameters("T")
        + '<ZKN:object StUF:entiteittype="EDC" StUF:verwerkingssoort="T">'
        + _document_fields(identificatie, titel, content)
        + _is_relevant_voor(zaak)
        + "</ZKN:object></ZDS:voegZaakdocumentToe_EdcLk01>"
    )


def maak_zaakdocument(identificatie: str, zaak: str) -> bytes:
    """maakZaakdocument_EdcLk01 (ZDS 1.2): a document without content yet."""
    return envelope(
        "<ZDS:maakZaakdocument_EdcLk01>"
        + stuurgegevens("Lk01", entiteittype="EDC")
        + _kennisgeving_parameters("T")
        + '<ZKN:object StUF:entiteittype="EDC" StUF:verwerkingssoort="T">'
        + _document_fields(identificatie, "Concept besluit", None)
        + _is_relevant_voor(zaak)
        + "</ZKN:object></ZDS:maakZaakdocument_EdcLk01>"
    )


def geef_zaakdocument_lezen(identificatie: str, *, zds12: bool = True) -> bytes:
    """geefZaakdocumentLezen_EdcLv01 (1.2) or the generic edcLv01 (1.1)."""
    element = "ZDS:geefZaakdocumentLezen_EdcLv01" if zds12 else "ZKN:edcLv01"
    return envelope(
        f"<{element}>"
        + stuurgegevens("Lv01", entiteittype="EDC")
        + "<ZKN:parameters><StUF:sortering>0</StUF:sortering>"
        "<StUF:indicatorVervolgvraag>false</StUF:indicatorVervolgvraag>"
        "</ZKN:parameters>"
        '<ZKN:gelijk StUF:entiteittype="EDC">'
        f"<ZKN:identificatie>{identificatie}</ZKN:identificatie></ZKN:gelijk>"
        '<ZKN:scope><ZKN:object StUF:entiteittype="EDC" StUF:scope="alles"/>'
        f"</ZKN:scope></{element}>"
    )


def geef_zaakdocument_bewerken(identificatie: str, *, zender: str = "TESTAPP") -> bytes:
    """geefZaakdocumentBewerken_Di02 (ZDS 1.2): check the document out."""
    return envelope(
        "<ZDS:geefZaakdocumentBewerken_Di02>"
        + stuurgegevens(
            "Di02", prefix="ZDS", functie="geefZaakdocumentbewerken", zender=zender
        )
        + '<ZDS:edcLv01 StUF:entiteittype="EDC" StUF:functie="selectie">'
        "<ZKN:parameters/>"
        '<ZKN:gelijk StUF:entiteittype="EDC">'
        f"<ZKN:identificatie>{identificatie}</ZKN:identificatie></ZKN:gelijk>"
        # No scope: the answer (EDC-antwoord-gzdb) is the whole document
        # anyway, and ZDS 1.1's scope type demands values, not placeholders.
        "</ZDS:edcLv01>"
        "</ZDS:geefZaakdocumentBewerken_Di02>"
    )


def update_zaakdocument(
    identificatie: str,
    checked_out_id: str | None,
    *,
    oude_titel: str,
    nieuwe_titel: str,
    content: bytes,
) -> bytes:
    """updateZaakdocument_Di02 (ZDS 1.2): a new version, checked in."""
    parameter = (
        f"<ZDS:checkedOutId>{checked_out_id}</ZDS:checkedOutId>"
        if checked_out_id
        else ""
    )
    return envelope(
        "<ZDS:updateZaakdocument_Di02>"
        + stuurgegevens("Di02", prefix="ZDS", functie="updateZaakdocument")
        + f"<ZDS:parameters>{parameter}</ZDS:parameters>"
        '<ZDS:edcLk02 StUF:entiteittype="EDC" StUF:functie="update">'
        "<ZKN:parameters><StUF:mutatiesoort>W</StUF:mutatiesoort></ZKN:parameters>"
        '<ZKN:object StUF:entiteittype="EDC" StUF:verwerkingssoort="W">'
        f"<ZKN:identificatie>{identificatie}</ZKN:identificatie>"
        f"<ZKN:titel>{oude_titel}</ZKN:titel>"
        "</ZKN:object>"
        '<ZKN:object StUF:entiteittype="EDC" StUF:verwerkingssoort="W">'
        f"<ZKN:identificatie>{identificatie}</ZKN:identificatie>"
        f"<ZKN:titel>{nieuwe_titel}</ZKN:titel>"
        '<ZKN:inhoud StUF:bestandsnaam="brief-v2.pdf" '
        'xmime:contentType="application/pdf">'
        f"{base64.b64encode(content).decode()}</ZKN:inhoud>"
        "</ZKN:object></ZDS:edcLk02>"
        "</ZDS:updateZaakdocument_Di02>"
    )


def cancel_checkout(identificatie: str, checked_out_id: str) -> bytes:
    """cancelCheckout_Di02 (ZDS 1.2)."""
    return envelope(
        "<ZDS:cancelCheckout_Di02>"
        + stuurgegevens("Di02", prefix="ZDS", functie="cancelCheckout")
        + "<ZDS:parameters>"
        f"<ZDS:checkedOutId>{checked_out_id}</ZDS:checkedOutId></ZDS:parameters>"
        '<ZDS:document StUF:entiteittype="EDC" StUF:functie="entiteit" '
        'StUF:verwerkingssoort="W">'
        f"<ZKN:identificatie>{identificatie}</ZKN:identificatie>"
        "</ZDS:document></ZDS:cancelCheckout_Di02>"
    )


def as_zds11(raw: bytes) -> bytes:
    """A ZDS 1.2 vrij bericht in its ZDS 1.1 form: the ZKN namespace for the
    message and its parts, and 1.1's spelling ``geefZaakdocumentbewerken``."""
    return raw.replace(b"ZDS:", b"ZKN:").replace(
        b"geefZaakdocumentBewerken_Di02", b"geefZaakdocumentbewerken_Di02"
    )
