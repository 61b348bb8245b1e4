"""The answers EMO itself gives: Bv03 confirmations and StUF foutberichten.

StUF 03.01 decides the shape:

- a kennisgeving (Lk01) or asynchronous vrij bericht (Di01) is confirmed with
  ``Bv03`` or refused with ``Fo03``, both carrying zender and ontvanger
  swapped and the request's referentienummer as crossRefnummer;
- a vraag (Lv01) or synchronous vrij bericht (Di02) is refused with ``Fo02``,
  whose stuurgegevens the schema restricts to the berichtcode alone
  (stuf0301.xsd, element Fo02Bericht), so nothing is echoed there;
- ``Fo01`` is the asynchronous functional fault, sent later as a message of
  its own (for example when a published message goes to the dead letters).

Every foutbericht goes out inside a SOAP 1.1 Fault whose faultcode follows the
plek: ``Client`` when the sender must change the message, ``Server`` when EMO or
a destination failed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from lxml import etree

from esb.envelope import soap_fault
from esb.errors import DETAILS_MAX, OMSCHRIJVING_MAX, StufFault
from esb.message import NS_STUF, Party, Stuurgegevens

NS_EMO_FOUT = "urn:emo:fout"
_S = f"{{{NS_STUF}}}"

# Refnummer and Tijdstip in stuf0301.xsd: at most 40 characters, 8-17 digits.
REFNUMMER_MAX = 40
# Longest path or rule text of one violation in detailsXML.
VIOLATION_MAX = 1000
# StUF:Systeem in stuf0301.xsd: (minLength, maxLength) of each part.
PARTY_LIMITS = {
    "organisatie": (0, 200),
    "applicatie": (3, 50),
    "administratie": (0, 50),
    "gebruiker": (0, 100),
}


def fits_systeem(party: Party) -> bool:
    """Whether ``party`` can be echoed in a StUF:Systeem that validates."""
    for field, (least, most) in PARTY_LIMITS.items():
        value = getattr(party, field)
        if value is not None and not least <= len(value) <= most:
            return False
    return party.applicatie is not None


@dataclass(frozen=True, slots=True)
class Answer:
    """What goes back to the sender over HTTP."""

    status: int
    body: bytes
    content_type: str = "text/xml; charset=utf-8"


def stuf_tijdstip(now: float | None = None) -> str:
    """A StUF Tijdstip (yyyymmddhhmmssfff) in local time, as StUF prescribes.

    Every answer carries one; the part up to the second is made once a second.
    """
    global _second_text
    moment = time.time() if now is None else now
    second = int(moment // 1)
    if _second_text[0] != second:
        _second_text = (
            second,
            time.strftime("%Y%m%d%H%M%S", time.localtime(second)),
        )
    millis = int((moment % 1) * 1000)
    return f"{_second_text[1]}{millis:03d}"


_second_text: tuple[int, str] = (-1, "")


def fault_berichtcode(request_berichtcode: str | None) -> str:
    """The foutbericht that answers a request with this berichtcode."""
    if request_berichtcode and request_berichtcode[:2] in ("Lk", "Di", "Sa", "Sh"):
        return "Fo03" if request_berichtcode != "Di02" else "Fo02"
    return "Fo02"


def _party(parent: etree._Element, tag: str, party: Party) -> None:
    element = etree.SubElement(parent, _S + tag)
    for field, (_least, most) in PARTY_LIMITS.items():
        value = getattr(party, field)
        if value:
            # A request accepted in report or off mode may carry parts longer
            # than StUF:Systeem allows; the echo is clipped to stay valid.
            etree.SubElement(element, _S + field).text = value[:most]


def _reply_stuurgegevens(
    parent: etree._Element,
    berichtcode: str,
    request: Stuurgegevens,
    *,
    system: Party,
    referentienummer: str,
    now: float | None,
) -> None:
    stuurgegevens = etree.SubElement(parent, _S + "stuurgegevens")
    etree.SubElement(stuurgegevens, _S + "berichtcode").text = berichtcode
    # StUF 03.01: the answer's zender is the request's ontvanger, and the other
    # way round. A request without an ontvanger was meant for whoever
    # answers, so EMO names itself.
    zender = request.ontvanger if request.ontvanger.applicatie else system
    _party(stuurgegevens, "zender", zender)
    _party(stuurgegevens, "ontvanger", request.zender)
    etree.SubElement(stuurgegevens, _S + "referentienummer").text = referentienummer[
        :REFNUMMER_MAX
    ]
    etree.SubElement(stuurgegevens, _S + "tijdstipBericht").text = stuf_tijdstip(now)
    cross = request.referentienummer or referentienummer
    etree.SubElement(stuurgegevens, _S + "crossRefnummer").text = cross[:REFNUMMER_MAX]


def bv03(
    request: Stuurgegevens,
    *,
    system: Party,
    referentienummer: str,
    now: float | None = None,
) -> etree._Element:
    """The Bv03Bericht confirming ``request``."""
    bericht = etree.Element(_S + "Bv03Bericht", nsmap={"StUF": NS_STUF})
    _reply_stuurgegevens(
        bericht,
        "Bv03",
        request,
        system=system,
        referentienummer=referentienummer,
        now=now,
    )
    return bericht


def foutbericht(
    fault: StufFault,
    request: Stuurgegevens | None,
    *,
    system: Party,
    referentienummer: str,
    berichtcode: str | None = None,
    now: float | None = None,
) -> etree._Element:
    """The Fo01/Fo02/Fo03 for ``fault`` in answer to ``request``.

    Without usable stuurgegevens (unparseable XML, no zender) only a Fo02 can
    be formed, since Fo01 and Fo03 require zender and ontvanger.
    """
    code = berichtcode or fault_berichtcode(request.berichtcode if request else None)
    if code in ("Fo01", "Fo03") and not _can_echo(request, system):
        code = "Fo02"
    bericht = etree.Element(_S + f"{code}Bericht", nsmap={"StUF": NS_STUF})
    if code == "Fo02":
        stuurgegevens = etree.SubElement(bericht, _S + "stuurgegevens")
        etree.SubElement(stuurgegevens, _S + "berichtcode").text = "Fo02"
    else:
        assert request is not None
        _reply_stuurgegevens(
            bericht,
            code,
            request,
            system=system,
            referentienummer=referentienummer,
            now=now,
        )

    body = etree.SubElement(bericht, _S + "body")
    etree.SubElement(body, _S + "code").text = fault.code
    etree.SubElement(body, _S + "plek").text = fault.plek
    etree.SubElement(body, _S + "omschrijving").text = _clip(
        fault.omschrijving, OMSCHRIJVING_MAX
    )
    details = fault.full_details
    if details:
        etree.SubElement(body, _S + "details").text = _clip(details, DETAILS_MAX)
    if fault.violations:
        # Foutdetails holds 1000 characters; detailsXML (any content) carries
        # every violation, however many there are.
        xml = etree.SubElement(body, _S + "detailsXML")
        for violation in fault.violations:
            item = etree.SubElement(
                xml, f"{{{NS_EMO_FOUT}}}schemafout", nsmap={"emo": NS_EMO_FOUT}
            )
            if violation.line is not None:
                item.set("regel", str(violation.line))
            # A rule may quote the offending name or value, which a hostile
            # sender can make megabytes long.
            item.set("pad", _clip(violation.path, VIOLATION_MAX))
            item.text = _clip(violation.rule, VIOLATION_MAX)
    return bericht


def _can_echo(request: Stuurgegevens | None, system: Party) -> bool:
    """Whether a Fo01/Fo03 can swap this request's parties and still validate."""
    if request is None or not fits_systeem(request.zender):
        return False
    ontvanger = request.ontvanger if request.ontvanger.applicatie else system
    return fits_systeem(ontvanger)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def confirmation_answer(
    request: Stuurgegevens,
    *,
    system: Party,
    referentienummer: str,
    now: float | None = None,
) -> Answer:
    """A Bv03 in a SOAP envelope, HTTP 200.

    Every accepted kennisgeving gets one, so it is written from a template
    rather than built as a tree: the bytes are the same as
    ``soap_envelope(bv03(...))`` (tests/esb/test_answers.py compares them).
    """
    zender = request.ontvanger if request.ontvanger.applicatie else system
    cross = request.referentienummer or referentienummer
    text = (
        _BV03_HEAD
        + _party_xml("zender", zender)
        + _party_xml("ontvanger", request.zender)
        + "<StUF:referentienummer>"
        + _escape(referentienummer[:REFNUMMER_MAX])
        + "</StUF:referentienummer><StUF:tijdstipBericht>"
        + stuf_tijdstip(now)
        + "</StUF:tijdstipBericht><StUF:crossRefnummer>"
        + _escape(cross[:REFNUMMER_MAX])
        + _BV03_TAIL
    )
    return Answer(200, text.encode("utf-8"))


_BV03_HEAD = (
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    f'<soap:Body><StUF:Bv03Bericht xmlns:StUF="{NS_STUF}"><StUF:stuurgegevens>'
    "<StUF:berichtcode>Bv03</StUF:berichtcode>"
)
_BV03_TAIL = (
    "</StUF:crossRefnummer></StUF:stuurgegevens></StUF:Bv03Bericht>"
    "</soap:Body></soap:Envelope>"
)


def _escape(text: str) -> str:
    """Text content escaped as libxml2 writes it."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return text


def _party_xml(tag: str, party: Party) -> str:
    """``_party`` as text: the parts present, clipped to their maximum.

    A broker hears from a few dozen applications, so the text of each party
    is made once and kept (up to a bound, in case zenders vary wildly).
    """
    key = (tag, party)
    text = _party_texts.get(key)
    if text is None:
        text = _write_party(tag, party)
        if len(_party_texts) < 10_000:
            _party_texts[key] = text
    return text


_party_texts: dict[tuple[str, Party], str] = {}


def _write_party(tag: str, party: Party) -> str:
    parts = [f"<StUF:{tag}>"]
    for field, (_least, most) in PARTY_LIMITS.items():
        value = getattr(party, field)
        if value:
            parts.append(f"<StUF:{field}>{_escape(value[:most])}</StUF:{field}>")
    if len(parts) == 1:
        return f"<StUF:{tag}/>"
    parts.append(f"</StUF:{tag}>")
    return "".join(parts)


def fault_answer(
    fault: StufFault,
    request: Stuurgegevens | None,
    *,
    system: Party,
    referentienummer: str,
    berichtcode: str | None = None,
    http_status: int | None = None,
    now: float | None = None,
) -> Answer:
    """A foutbericht in a SOAP Fault; HTTP 500 as SOAP 1.1 section 6.2 asks."""
    detail = foutbericht(
        fault,
        request,
        system=system,
        referentienummer=referentienummer,
        berichtcode=berichtcode,
        now=now,
    )
    faultstring = f"{fault.code}: {fault.omschrijving}"
    return Answer(
        http_status or 500, soap_fault(fault.soap_faultcode, faultstring, detail)
    )
