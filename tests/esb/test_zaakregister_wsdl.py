"""The WSDLs at ``GET /stuf/zds?wsdl``, and every ZDS operation called
through the client zeep generates from them.

One ``emo run`` with the default ``config/routes.yaml`` and both official
distributions. zeep reads ``/stuf/zds?wsdl`` and every WSDL and schema it
imports from the broker (nothing from disk), sends each operation to the
address the WSDL names, and parses the answers with the official schemas; the
tests check that the answers carry what was stored before.
"""

from __future__ import annotations

import itertools
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import zeep
import zeep.exceptions
from lxml import etree

import esb.adapters.soap  # noqa: F401  (zeep's patch for the GML list types)
from tests.conftest import ROOT, ZDS_12
from tests.esb.conftest import RunningBroker, start_broker

ROUTES = ROOT / "config" / "routes.yaml"
SERVICE = "EMO-zds0120"
NS_WSDL = "http://schemas.xmlsoap.org/wsdl/"
NS_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
XSD = "http://www.w3.org/2001/XMLSchema"
CONTENT = b"%PDF-1.4 brief aan de aanvrager\n" + bytes(range(256)) * 8
NEW_CONTENT = b"%PDF-1.4 brief, tweede versie\n" + bytes(range(255, -1, -1)) * 4


@pytest.fixture(scope="module")
def wsdl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    running = start_broker(tmp_path_factory.mktemp("wsdl-broker"), routes=str(ROUTES))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(wsdl_broker: RunningBroker) -> zeep.Client:
    return zeep.Client(f"{wsdl_broker.url}/stuf/zds?wsdl")


# Serving the WSDLs -------------------------------------------------------------


def test_wsdl_names_the_broker_as_the_request_reached_it(
    wsdl_broker: RunningBroker,
) -> None:
    """Every port of ``?wsdl`` has the broker's own address, taken from the
    Host header; the official WSDLs are imported from the broker."""
    response = wsdl_broker.request(
        "GET", "/stuf/zds?wsdl", headers={"Host": "emo.gemeente.example:8443"}
    )
    assert response.status == 200, response.body
    assert response.content_type.startswith("text/xml")
    root = response.xml()
    addresses = root.findall(f".//{{{NS_SOAP}}}address")
    assert len(addresses) == 3
    assert {a.get("location") for a in addresses} == {
        "http://emo.gemeente.example:8443/stuf/zds"
    }
    imports = [i.get("location") for i in root.iter(f"{{{NS_WSDL}}}import")]
    assert imports == [
        "http://emo.gemeente.example:8443/stuf/zds?wsdl=zds-1.2/zds0120/berichten/"
        f"zds0120_{part}_zs-dms.wsdl"
        for part in ("beantwoordVraag", "ontvangAsynchroon_mutatie", "vrijeBerichten")
    ]


def test_official_files_are_served_unmodified_but_for_their_imports(
    wsdl_broker: RunningBroker,
) -> None:
    """Every file reachable from ``?wsdl`` comes from the broker, and mapping
    its rewritten locations back gives the official file (canonical XML)."""
    base = f"{wsdl_broker.url}/stuf/zds"
    pending = [f"{base}?wsdl"]
    seen: set[str] = set()
    while pending:
        url = pending.pop()
        if url in seen:
            continue
        seen.add(url)
        response = wsdl_broker.get(url.removeprefix(wsdl_broker.url))
        assert response.status == 200, (url, response.body[:300])
        served = response.xml()
        references = list(_references(served))
        for _, location in references:
            if "://www.w3.org/" in location:
                continue
            assert location.startswith(base + "?"), (url, location)
            pending.append(location)
        if url.endswith("?wsdl"):
            continue

        # Put the original relative locations back and compare.
        relative = _asked(url)
        for element, location in references:
            if location.startswith(base):
                target = _asked(location)
                attribute = "location" if element.get("location") else "schemaLocation"
                element.set(attribute, _relative(relative, target))
        original = etree.parse(str(ZDS_12.parent / relative))
        assert etree.tostring(served, method="c14n") == etree.tostring(
            original.getroot(), method="c14n"
        ), relative
    assert len(seen) > 40, "the WSDLs with StUF, ZKN, BG, GML and xlink schemas"


def _references(root: etree._Element) -> Iterator[tuple[etree._Element, str]]:
    for tag, attribute in (
        (f"{{{NS_WSDL}}}import", "location"),
        (f"{{{XSD}}}import", "schemaLocation"),
        (f"{{{XSD}}}include", "schemaLocation"),
    ):
        for element in root.iter(tag):
            location = element.get(attribute)
            if location:
                yield element, location


def _asked(url: str) -> str:
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    return next(iter(query.values()))[0]


def _relative(source: str, target: str) -> str:
    import posixpath

    return posixpath.relpath(target, posixpath.dirname(source))


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ("?xsd=zds-1.2/../../../etc/passwd", 404, "'../../../etc/passwd'"),
        ("?xsd=zds-1.2/0301/../0301/stuf0301.xsd", 404, "0301/../0301/stuf0301.xsd"),
        ("?xsd=%2Fetc%2Fpasswd", 404, "No schema distribution ''"),
        ("?xsd=zds-9/0301/stuf0301.xsd", 404, "configured: zds-1.2, zds-1.1.02"),
        ("?xsd=zds-1.2/0301/stuf0301_types.wsdl", 404, "not a .xsd file; ask ?wsdl="),
        ("?wsdl=zds-1.2/0301/stuf0301.xsd", 404, "not a .wsdl file; ask ?xsd="),
        ("?wsdl=bg0310", 404, "there are zds0120, zkn0310"),
        ("?xsd=", 404, "?xsd= names a file as <distribution>/<path>"),
    ],
)
def test_what_is_not_there_is_a_404_naming_it(
    wsdl_broker: RunningBroker, query: str, status: int, says: str
) -> None:
    response = wsdl_broker.get("/stuf/zds" + query)
    assert response.status == status, response.body
    assert response.content_type.startswith("text/plain")
    assert says in response.body.decode(), response.body


def test_a_host_header_that_is_no_host_is_refused(wsdl_broker: RunningBroker) -> None:
    response = wsdl_broker.request(
        "GET", "/stuf/zds?wsdl", headers={"Host": 'evil"><x'}
    )
    assert response.status == 400
    assert b"is not a host name" in response.body


def test_zds_11_and_bg_have_their_own(wsdl_broker: RunningBroker) -> None:
    """``?wsdl=zkn0310`` imports the ZDS 1.1 WSDLs of zds-1.1.02;
    ``/stuf/bg?wsdl`` the StUF-BG vraag and kennisgeving WSDLs."""
    zds11 = wsdl_broker.get("/stuf/zds?wsdl=zkn0310").xml()
    assert [i.get("location") for i in zds11.iter(f"{{{NS_WSDL}}}import")] == [
        f"{wsdl_broker.url}/stuf/zds?wsdl=zds-1.1.02/zkn0310/zs-dms/"
        f"zkn0310_{part}_zs-dms.wsdl"
        for part in ("beantwoordVraag", "ontvangAsynchroon_mutatie", "vrijeBerichten")
    ]
    bg = wsdl_broker.get("/stuf/bg?wsdl").xml()
    assert {a.get("location") for a in bg.iter(f"{{{NS_SOAP}}}address")} == {
        f"{wsdl_broker.url}/stuf/bg"
    }
    assert [p.get("binding") for p in bg.iter(f"{{{NS_WSDL}}}port")] == [
        "svc:SOAPBeantwoordVraag",
        "svc:SOAPOntvangAsynchroon",
    ]


# Every operation through zeep ------------------------------------------------

_references_counter = itertools.count(1)
_RUN = uuid.uuid4().hex[:12]


def stuurgegevens(
    berichtcode: str, *, entiteittype: str | None = None, functie: str | None = None
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "berichtcode": berichtcode,
        "zender": {"organisatie": "0392", "applicatie": "ZEEPAPP"},
        "ontvanger": {"organisatie": "0392", "applicatie": "ZSH"},
        # Unique per run: the broker answers a repeated referentienummer
        # with the answer it gave the first time.
        "referentienummer": f"zeep-{_RUN}-{next(_references_counter):06d}",
        "tijdstipBericht": "20250301120000",
    }
    if entiteittype:
        found["entiteittype"] = entiteittype
    if functie:
        found["functie"] = functie
    return found


def kennisgeving(mutatiesoort: str) -> dict[str, Any]:
    return {"mutatiesoort": mutatiesoort, "indicatorOvername": "V"}


VRAAG = {"sortering": 0, "indicatorVervolgvraag": False}


def status(
    volgnummer: str, omschrijving: str, datum: str, soort: str
) -> dict[str, Any]:
    return {
        "entiteittype": "ZAKSTT",
        "verwerkingssoort": soort,
        "gerelateerde": {
            "entiteittype": "STT",
            "verwerkingssoort": "I",
            "zkt.code": "B1210",
            "volgnummer": volgnummer,
            "omschrijving": omschrijving,
        },
        "datumStatusGezet": datum,
    }


def document(identificatie: str, titel: str, zaak: str) -> dict[str, Any]:
    return {
        "entiteittype": "EDC",
        "verwerkingssoort": "T",
        "identificatie": identificatie,
        "dct.omschrijving": "Brief",
        "creatiedatum": "20250301",
        "titel": titel,
        "formaat": "application/pdf",
        "taal": "nld",
        "versie": "1",
        "status": "definitief",
        "vertrouwelijkAanduiding": "OPENBAAR",
        "auteur": "Behandelaar",
        "isRelevantVoor": [
            {
                "entiteittype": "EDCZAK",
                "verwerkingssoort": "T",
                "gerelateerde": {
                    "entiteittype": "ZAK",
                    "verwerkingssoort": "I",
                    "identificatie": zaak,
                },
            }
        ],
    }


def nieuwe_zaak(
    identificatie: str, omschrijving: str, bsn: str, zaaktype: str
) -> dict[str, Any]:
    """A creeerZaak object: zaaktype, initiator and a first status."""
    return {
        "entiteittype": "ZAK",
        "verwerkingssoort": "T",
        "identificatie": identificatie,
        "omschrijving": omschrijving,
        "startdatum": "20250301",
        "registratiedatum": "20250301",
        "archiefnominatie": "N",
        "zaakniveau": "1",
        "deelzakenIndicatie": "N",
        "isVan": [
            {
                "entiteittype": "ZAKZKT",
                "verwerkingssoort": "T",
                "gerelateerde": {
                    "entiteittype": "ZKT",
                    "verwerkingssoort": "I",
                    "omschrijving": "Kapvergunning",
                    "code": zaaktype,
                },
            }
        ],
        "heeftAlsInitiator": [
            {
                "entiteittype": "ZAKBTRINI",
                "verwerkingssoort": "T",
                "gerelateerde": {
                    "natuurlijkPersoon": {
                        "entiteittype": "NPS",
                        "verwerkingssoort": "I",
                        "inp.bsn": bsn,
                        "geslachtsnaam": "Bomenmans",
                        "voorletters": "B",
                    }
                },
            }
        ],
        "heeft": [status("1", "Ontvangen", "20250301090000000", "T")],
    }


def berichtcode(answer: Any) -> str:
    return str(_stuurgegevens_of(answer).berichtcode)


def _stuurgegevens_of(answer: Any) -> Any:
    # zeep hands back the only child of an answer that has one: a Bv03Bericht
    # and a Bv02Bericht come back as their stuurgegevens.
    try:
        return answer.stuurgegevens
    except AttributeError:
        return answer


def test_every_zds_operation_through_zeep(client: zeep.Client) -> None:
    """genereerZaakIdentificatie, creeerZaak, updateZaak,
    actualiseerZaakstatus, the four vragen, genereerDocumentIdentificatie,
    voegZaakdocumentToe, maakZaakdocument and the checkout cycle
    (geefZaakdocumentBewerken, updateZaakdocument, cancelCheckout), each
    through zeep's client; each vraag returns what the kennisgevingen stored."""
    vraag = client.bind(SERVICE, "BeantwoordVraag")
    mutatie = client.bind(SERVICE, "OntvangAsynchroon")
    vrij = client.bind(SERVICE, "VerwerkSynchroonVrijBericht")

    # genereerZaakIdentificatie, then creeerZaak with that identificatie.
    du02 = vrij.genereerZaakIdentificatie_Di02(
        stuurgegevens=stuurgegevens("Di02", functie="genereerZaakidentificatie")
    )
    zaak = du02.zaak.identificatie._value_1
    assert zaak.startswith("0392-")

    sent = stuurgegevens("Lk01", entiteittype="ZAK")
    bv03 = mutatie.creeerZaak_ZakLk01(
        stuurgegevens=sent,
        parameters=kennisgeving("T"),
        object=nieuwe_zaak(zaak, "Aanvraag kapvergunning", "111111110", "B1210"),
    )
    assert berichtcode(bv03) == "Bv03"
    assert _stuurgegevens_of(bv03).crossRefnummer == sent["referentienummer"]

    # updateZaak: was and wordt.
    def zaak_object(**fields: Any) -> dict[str, Any]:
        return {
            "entiteittype": "ZAK",
            "verwerkingssoort": "W",
            "identificatie": zaak,
            **fields,
        }

    bv03 = mutatie.updateZaak_ZakLk01(
        stuurgegevens=stuurgegevens("Lk01", entiteittype="ZAK"),
        parameters=kennisgeving("W"),
        object=[
            zaak_object(omschrijving="Aanvraag kapvergunning"),
            zaak_object(omschrijving="Kapvergunning, drie eiken", toelichting="Spoed"),
        ],
    )
    assert berichtcode(bv03) == "Bv03"

    # actualiseerZaakstatus: the new status in wordt.
    bv03 = mutatie.actualiseerZaakstatus_ZakLk01(
        stuurgegevens=stuurgegevens("Lk01", entiteittype="ZAK"),
        parameters=kennisgeving("W"),
        object=[
            zaak_object(heeft=[status("1", "Ontvangen", "20250301090000000", "I")]),
            zaak_object(
                heeft=[status("2", "In behandeling", "20250302100000000", "T")]
            ),
        ],
    )
    assert berichtcode(bv03) == "Bv03"

    # geefZaakdetails: what creeerZaak, updateZaak and actualiseerZaakstatus stored.
    details = vraag.geefZaakdetails_ZakLv01(
        stuurgegevens=stuurgegevens("Lv01", entiteittype="ZAK"),
        parameters=VRAAG,
        gelijk={"entiteittype": "ZAK", "identificatie": zaak},
        scope={"object": {"entiteittype": "ZAK", "scope": "alles"}},
    )
    assert berichtcode(details) == "La01"
    found = _one(details.antwoord.object)
    assert found.identificatie._value_1 == zaak
    assert found.omschrijving._value_1 == "Kapvergunning, drie eiken"
    assert found.toelichting._value_1 == "Spoed"
    assert _one(found.isVan).gerelateerde.code._value_1 == "B1210"
    initiator = _one(found.heeftAlsInitiator).gerelateerde.natuurlijkPersoon
    assert initiator["inp.bsn"]._value_1 == "111111110"
    assert initiator.geslachtsnaam._value_1 == "Bomenmans"
    assert [h.gerelateerde.omschrijving._value_1 for h in found.heeft] == [
        "In behandeling",
        "Ontvangen",
    ]

    # geefZaakstatus: the current status.
    zaakstatus = vraag.geefZaakstatus_ZakLv01(
        stuurgegevens=stuurgegevens("Lv01", entiteittype="ZAK"),
        parameters=VRAAG,
        gelijk={
            "entiteittype": "ZAK",
            "identificatie": zaak,
            "heeft": {"entiteittype": "ZAKSTT", "indicatieLaatsteStatus": "J"},
        },
        scope={"object": {"entiteittype": "ZAK", "scope": "alles"}},
    )
    current = _one(zaakstatus.antwoord.object).heeft
    assert [h.gerelateerde.omschrijving._value_1 for h in current] == ["In behandeling"]
    assert current[0].datumStatusGezet._value_1 == "20250302100000000"

    # genereerDocumentIdentificatie, voegZaakdocumentToe, maakZaakdocument.
    du02 = vrij.genereerDocumentIdentificatie_Di02(
        stuurgegevens=stuurgegevens("Di02", functie="genereerDocumentidentificatie")
    )
    brief = du02.document.identificatie._value_1
    concept = brief + "-C"
    with_content = document(brief, "Ontvangstbevestiging", zaak)
    with_content["inhoud"] = {
        "_value_1": CONTENT,
        "bestandsnaam": "brief.pdf",
        "contentType": "application/pdf",
    }
    bv03 = mutatie.voegZaakdocumentToe_EdcLk01(
        stuurgegevens=stuurgegevens("Lk01", entiteittype="EDC"),
        parameters=kennisgeving("T"),
        object=with_content,
    )
    assert berichtcode(bv03) == "Bv03"
    bv03 = mutatie.maakZaakdocument_EdcLk01(
        stuurgegevens=stuurgegevens("Lk01", entiteittype="EDC"),
        parameters=kennisgeving("T"),
        object=document(concept, "Concept besluit", zaak),
    )
    assert berichtcode(bv03) == "Bv03"

    # geefLijstZaakdocumenten: both documents.
    lijst = vraag.geefLijstZaakdocumenten_ZakLv01(
        stuurgegevens=stuurgegevens("Lv01", entiteittype="ZAK"),
        parameters=VRAAG,
        gelijk={"entiteittype": "ZAK", "identificatie": zaak},
        scope={"object": {"entiteittype": "ZAK", "scope": "alles"}},
    )
    relevant = _one(lijst.antwoord.object).heeftRelevant
    assert sorted(
        (r.gerelateerde.identificatie._value_1, r.gerelateerde.titel._value_1)
        for r in relevant
    ) == [(brief, "Ontvangstbevestiging"), (concept, "Concept besluit")]

    # geefZaakdocumentLezen: the content, byte for byte.
    assert _lezen(vraag, brief) == ("Ontvangstbevestiging", CONTENT)

    # geefZaakdocumentBewerken, updateZaakdocument: a new version.
    checked_out = _bewerken(vrij, brief)
    bv02 = vrij.updateZaakdocument_Di02(
        stuurgegevens=stuurgegevens("Di02", functie="updateZaakdocument"),
        parameters={"checkedOutId": checked_out},
        edcLk02={
            "entiteittype": "EDC",
            "functie": "update",
            "parameters": {"mutatiesoort": "W"},
            "object": [
                {
                    "entiteittype": "EDC",
                    "verwerkingssoort": "W",
                    "identificatie": brief,
                    "titel": "Ontvangstbevestiging",
                },
                {
                    "entiteittype": "EDC",
                    "verwerkingssoort": "W",
                    "identificatie": brief,
                    "titel": "Ontvangstbevestiging v2",
                    "inhoud": {
                        "_value_1": NEW_CONTENT,
                        "bestandsnaam": "brief-v2.pdf",
                        "contentType": "application/pdf",
                    },
                },
            ],
        },
    )
    assert berichtcode(bv02) == "Bv02"
    assert _lezen(vraag, brief) == ("Ontvangstbevestiging v2", NEW_CONTENT)

    # cancelCheckout gives the document free: it can be checked out again.
    checked_out = _bewerken(vrij, brief)
    bv02 = vrij.cancelCheckout_Di02(
        stuurgegevens=stuurgegevens("Di02", functie="cancelCheckout"),
        parameters={"checkedOutId": checked_out},
        document={
            "entiteittype": "EDC",
            "functie": "entiteit",
            "verwerkingssoort": "W",
            "identificatie": brief,
        },
    )
    assert berichtcode(bv02) == "Bv02"
    assert _bewerken(vrij, brief) != checked_out
    assert _lezen(vraag, brief) == ("Ontvangstbevestiging v2", NEW_CONTENT)


def _one(value: Any) -> Any:
    """A value zeep gives as a list where the schema allows several."""
    if isinstance(value, list):
        assert len(value) == 1, value
        return value[0]
    return value


def _lezen(vraag: Any, identificatie: str) -> tuple[str, bytes]:
    answer = vraag.geefZaakdocumentLezen_EdcLv01(
        stuurgegevens=stuurgegevens("Lv01", entiteittype="EDC"),
        parameters=VRAAG,
        gelijk={"entiteittype": "EDC", "identificatie": identificatie},
        scope={"object": {"entiteittype": "EDC", "scope": "alles"}},
    )
    found = _one(answer.antwoord.object)
    return found.titel._value_1, found.inhoud._value_1


def _bewerken(vrij: Any, identificatie: str) -> str:
    du02 = vrij.geefZaakdocumentbewerken_Di02(
        stuurgegevens=stuurgegevens("Di02", functie="geefZaakdocumentbewerken"),
        edcLv01={
            "entiteittype": "EDC",
            "functie": "selectie",
            "parameters": {},
            "gelijk": {"entiteittype": "EDC", "identificatie": identificatie},
        },
    )
    return str(du02.parameters.checkedOutId)


def test_a_fault_reaches_zeep_as_a_stuf_foutbericht(client: zeep.Client) -> None:
    """A vraag about a zaak that does not exist: zeep raises the SOAP Fault,
    whose detail is the register's Fo02 with StUF064."""
    vraag = client.bind(SERVICE, "BeantwoordVraag")
    with pytest.raises(zeep.exceptions.Fault) as raised:
        vraag.geefZaakdetails_ZakLv01(
            stuurgegevens=stuurgegevens("Lv01", entiteittype="ZAK"),
            parameters=VRAAG,
            gelijk={"entiteittype": "ZAK", "identificatie": "0392-1999-9999999"},
            scope={"object": {"entiteittype": "ZAK", "scope": "alles"}},
        )
    detail = raised.value.detail
    assert detail is not None
    stuf = {"StUF": "http://www.egem.nl/StUF/StUF0301"}
    assert detail.findtext("StUF:Fo02Bericht/StUF:body/StUF:code", None, stuf) == (
        "StUF064"
    )


def test_zds_11_vragen_by_initiator_and_zaaktype_through_zeep(
    client: zeep.Client, wsdl_broker: RunningBroker
) -> None:
    """Zaken created through the ZDS 1.2 client are found through the ZDS 1.1
    client (``?wsdl=zkn0310``) by their initiator's BSN and by zaaktype,
    honouring maximumAantal."""
    mutatie = client.bind(SERVICE, "OntvangAsynchroon")
    created = [f"0392-2025-88{_RUN[:3]}{n:02d}" for n in (1, 2, 3)]
    for n, zaak in enumerate(created):
        mutatie.creeerZaak_ZakLk01(
            stuurgegevens=stuurgegevens("Lk01", entiteittype="ZAK"),
            parameters=kennisgeving("T"),
            object=nieuwe_zaak(
                zaak,
                f"Zaak {n}",
                "123456782" if n < 2 else "111111110",
                "ZEEP1" if n else "ZEEP2",
            ),
        )

    zds11 = zeep.Client(f"{wsdl_broker.url}/stuf/zds?wsdl=zkn0310")
    vraag = zds11.bind("EMO-zkn0310", "BeantwoordVraag")

    def found(gelijk: dict[str, Any], maximum: int | None = None) -> list[str]:
        parameters: dict[str, Any] = {**VRAAG, "indicatorAantal": True}
        if maximum:
            parameters["maximumAantal"] = maximum
        answer = vraag.geefZaakdetails_Lv01(
            stuurgegevens=stuurgegevens("Lv01", entiteittype="ZAK"),
            parameters=parameters,
            gelijk={"entiteittype": "ZAK", **gelijk},
            scope={"object": {"entiteittype": "ZAK", "scope": "alles"}},
        )
        assert berichtcode(answer) == "La01"
        objects = answer.antwoord.object if answer.antwoord else []
        return sorted(o.identificatie._value_1 for o in objects)

    by_bsn = {
        "heeftAlsInitiator": {
            "entiteittype": "ZAKBTRINI",
            "gerelateerde": {"entiteittype": "BTR", "identificatie": "123456782"},
        }
    }
    assert found(by_bsn) == created[:2]
    by_zaaktype = {
        "isVan": {
            "entiteittype": "ZAKZKT",
            "gerelateerde": {"entiteittype": "ZKT", "code": "ZEEP1"},
        }
    }
    assert found(by_zaaktype) == created[1:]
    assert len(found(by_zaaktype, maximum=1)) == 1
