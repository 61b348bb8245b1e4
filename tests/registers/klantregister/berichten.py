"""StUF-BG 03.10 test messages, built from the schemas' element names.

There are no StUF-BG example messages in ``../shared/stuf/examples``; these
builders make kennisgevingen and vragen that validate against the official
schemas (the tests check that they do). Objects are given as columns of the
klantregister's model (``{"bsn": ..., "verblijf_postcode": ...}``) and
written in schema order; a column given None is written nil.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from lxml import etree

from esb.identify import identify
from esb.message import NS_BG, NS_SOAP11, NS_STUF, NS_XSI, Identification
from registers.klantregister.entiteiten import ENTITEITEN
from registers.klantregister.objecten import write_object

BG = f"{{{NS_BG}}}"
STUF = f"{{{NS_STUF}}}"
NSMAP = {"BG": NS_BG, "StUF": NS_STUF, "xsi": NS_XSI}

Object = Mapping[str, str | None]

# Valid BSNs (they pass the 11-test); INVALID fails it.
BSN_JAN = "111222333"
BSN_PIET = "123456782"
BSN_KLAAS = "999999990"
BSN_INVALID = "123456789"
RSIN_ACME = "001234560"
KVK_ACME = "12345678"


def _stuurgegevens(
    parent: etree._Element,
    berichtcode: str,
    entiteittype: str,
    referentienummer: str,
    zender: str,
) -> None:
    stuurgegevens = etree.SubElement(parent, BG + "stuurgegevens")
    etree.SubElement(stuurgegevens, STUF + "berichtcode").text = berichtcode
    party = etree.SubElement(stuurgegevens, STUF + "zender")
    etree.SubElement(party, STUF + "organisatie").text = "0392"
    etree.SubElement(party, STUF + "applicatie").text = zender
    party = etree.SubElement(stuurgegevens, STUF + "ontvanger")
    etree.SubElement(party, STUF + "applicatie").text = "EMO"
    etree.SubElement(stuurgegevens, STUF + "referentienummer").text = referentienummer
    etree.SubElement(stuurgegevens, STUF + "tijdstipBericht").text = "20261204120000000"
    etree.SubElement(stuurgegevens, STUF + "entiteittype").text = entiteittype


def kennisgeving(
    code: str,
    mutatiesoort: str,
    *objects: Object | None,
    overname: str = "V",
    referentienummer: str | None = None,
    zender: str = "TESTAPP",
    begin_geldigheid: str | None = None,
) -> etree._Element:
    """An npsLk01/nnpLk01/vesLk01 with ``objects`` (None: a nil object).

    The first object of a W or C is the was-object: only the columns given
    are written in it, as a careful sender would. ``begin_geldigheid`` goes
    in the last object's StUF:tijdvakGeldigheid (materiële historie).
    """
    entiteit = ENTITEITEN[code]
    bericht = etree.Element(BG + f"{code.lower()}Lk01", nsmap=NSMAP)
    _stuurgegevens(bericht, "Lk01", code, referentienummer or uuid.uuid4().hex, zender)
    parameters = etree.SubElement(bericht, BG + "parameters")
    etree.SubElement(parameters, STUF + "mutatiesoort").text = mutatiesoort
    etree.SubElement(parameters, STUF + "indicatorOvername").text = overname
    soort = "W" if mutatiesoort in ("C", "F") else mutatiesoort
    for gegevens in objects:
        if gegevens is None:
            element = etree.SubElement(bericht, BG + "object")
            element.set(f"{{{NS_XSI}}}nil", "true")
            continue
        element = write_object(
            bericht,
            BG + "object",
            code,
            entiteit.kennisgeving,
            dict(gegevens),
            verwerkingssoort=soort,
            given_only=True,
        )
    if begin_geldigheid is not None:
        _tijdvak(element, begin_geldigheid)
    return bericht


def _tijdvak(element: etree._Element, begin: str) -> None:
    # StUF:tijdvakGeldigheid comes before extraElementen and the relations.
    tijdvak = etree.Element(STUF + "tijdvakGeldigheid")
    etree.SubElement(tijdvak, STUF + "beginGeldigheid").text = begin
    eind = etree.SubElement(tijdvak, STUF + "eindGeldigheid")
    eind.set(f"{{{NS_XSI}}}nil", "true")
    eind.set(STUF + "noValue", "geenWaarde")
    position = len(element)
    for index, child in enumerate(element):
        if child.tag == STUF + "extraElementen" or child.get(STUF + "entiteittype"):
            position = index
            break
    element.insert(position, tijdvak)


def vraag(
    code: str,
    gelijk: Object | None = None,
    *,
    vanaf: Object | None = None,
    tot_en_met: Object | None = None,
    scope: Object | str | None = None,
    maximum: int | None = None,
    sortering: int = 0,
    aantal: bool = False,
    referentienummer: str | None = None,
    berichtcode: str = "Lv01",
    start: Object | None = None,
    peiltijdstip_materieel: str | None = None,
    peiltijdstip_formeel: str | None = None,
) -> etree._Element:
    """An npsLv01/nnpLv01/vesLv01 (or Lv03, Lv05, ...) selecting on columns.

    ``scope`` is a mapping of the columns wanted (values ignored), or a
    StUF:scope value such as ``"alles"`` or ``"kerngegevens"``. ``start``
    makes it a vervolgvraag continuing after that object.
    """
    entiteit = ENTITEITEN[code]
    bericht = etree.Element(BG + f"{code.lower()}{berichtcode}", nsmap=NSMAP)
    _stuurgegevens(
        bericht, berichtcode, code, referentienummer or uuid.uuid4().hex, "TESTAPP"
    )
    parameters = etree.SubElement(bericht, BG + "parameters")
    etree.SubElement(parameters, STUF + "sortering").text = str(sortering)
    etree.SubElement(parameters, STUF + "indicatorVervolgvraag").text = (
        "true" if start is not None else "false"
    )
    if maximum is not None:
        etree.SubElement(parameters, STUF + "maximumAantal").text = str(maximum)
    for name, moment in (
        ("peiltijdstipMaterieel", peiltijdstip_materieel),
        ("peiltijdstipFormeel", peiltijdstip_formeel),
    ):
        if moment is not None:
            etree.SubElement(parameters, STUF + name).text = moment
    if aantal:
        etree.SubElement(parameters, STUF + "indicatorAantal").text = "true"
    for tag, selection in (
        ("gelijk", gelijk),
        ("vanaf", vanaf),
        ("totEnMet", tot_en_met),
    ):
        if selection is not None:
            write_object(
                bericht,
                BG + tag,
                code,
                entiteit.antwoord,
                dict(selection),
                given_only=True,
            )
    if scope is not None:
        container = etree.SubElement(bericht, BG + "scope")
        if isinstance(scope, str):
            element = etree.SubElement(container, BG + "object")
            element.set(STUF + "entiteittype", code)
            element.set(STUF + "scope", scope)
        else:
            write_object(
                container,
                BG + "object",
                code,
                entiteit.antwoord,
                {column: None for column in scope},
                given_only=True,
            )
    if start is not None:
        container = etree.SubElement(bericht, BG + "start")
        write_object(
            container,
            BG + "object",
            code,
            entiteit.antwoord,
            dict(start),
            given_only=True,
        )
    return bericht


def envelope(body: etree._Element) -> bytes:
    """``body`` in a SOAP 1.1 envelope, as a client sends it."""
    root = etree.Element(f"{{{NS_SOAP11}}}Envelope", nsmap={"soap": NS_SOAP11})
    etree.SubElement(root, f"{{{NS_SOAP11}}}Body").append(body)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def reparsed(body: etree._Element) -> etree._Element:
    """``body`` as a receiver sees it: parsed from bytes, with line numbers."""
    root = etree.fromstring(envelope(body))
    found = root.find(f"{{{NS_SOAP11}}}Body")
    assert found is not None
    return found[0]


def identified(body: etree._Element) -> Identification:
    return identify(body, None)


# Reading answers ------------------------------------------------------------


def answered(answer: etree._Element) -> list[etree._Element]:
    """The objects in an La01's antwoord (none when it has no antwoord)."""
    return answer.findall(f"{BG}antwoord/{BG}object")


def value(element: etree._Element, steps: str) -> str | None:
    """The text at ``a/b/c`` (BG elements); None when absent or nil."""
    found = element.find("/".join(BG + step for step in steps.split("/")))
    if found is None or found.get(f"{{{NS_XSI}}}nil") == "true":
        return None
    return found.text


def parameter(answer: etree._Element, name: str) -> str | None:
    found = answer.find(f"{BG}parameters/{STUF}{name}")
    return None if found is None else found.text
