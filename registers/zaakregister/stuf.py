"""What only the zaakregister reads and writes of StUF-ZKN elements.

The helpers both registers use (reading by local name, ABSENT and nil,
writing answer elements) are in :mod:`registers.stuf`. Answers are written
in the namespaces the schemas demand: ZKN, or zds0120 for a ZDS 1.2 bericht.
"""

from __future__ import annotations

import copy as copy_module
import time

from lxml import etree

from esb.message import NS_BG, NS_STUF, NS_XSI, NS_ZDS, NS_ZKN
from registers.stuf import ENTITEITTYPE, STUF

NSMAP = {"ZKN": NS_ZKN, "StUF": NS_STUF, "BG": NS_BG, "xsi": NS_XSI}
NSMAP_ZDS = {"ZDS": NS_ZDS, **NSMAP}

ZKN = f"{{{NS_ZKN}}}"
ZDS = f"{{{NS_ZDS}}}"
VERWERKINGSSOORT = f"{STUF}verwerkingssoort"
FUNCTIE = f"{STUF}functie"


# Writing --------------------------------------------------------------------


def optional(parent: etree._Element, tag: str, text: str | None) -> None:
    """Append ``<tag>text</tag>`` only when there is a value."""
    if text:
        etree.SubElement(parent, tag).text = text


def entity(parent: etree._Element, tag: str, entiteittype: str) -> etree._Element:
    """Append an element carrying ``StUF:entiteittype``."""
    element = etree.SubElement(parent, tag)
    element.set(ENTITEITTYPE, entiteittype)
    return element


def fragment(element: etree._Element) -> str:
    """An element as XML to store: without the whitespace between elements
    and without the namespace declarations of the message around it."""
    copy = copy_module.deepcopy(element)
    copy.tail = None
    for descendant in copy.iter():
        if descendant is not copy and descendant.tail and not descendant.tail.strip():
            descendant.tail = None
        if len(descendant) and descendant.text and not descendant.text.strip():
            descendant.text = None
    etree.cleanup_namespaces(copy)
    return etree.tostring(copy, encoding="unicode")


# Dates ----------------------------------------------------------------------


def today(now: float | None = None) -> str:
    """A StUF Datum (yyyymmdd), local time."""
    return time.strftime("%Y%m%d", time.localtime(time.time() if now is None else now))


def datum(value: str | None) -> str | None:
    """A StUF Datum from a Datum or Tijdstip value (the first 8 digits)."""
    if not value:
        return None
    digits = value[:8]
    return digits if len(digits) == 8 and digits.isdigit() else None
