"""Reading StUF request elements and writing answer elements.

Requests are read by local name: clients put elements in the wrong
namespace often enough (a zds0120 prefix on a ZKN element, stuurgegevens
in the StUF namespace) that strict lookups would refuse messages the
broker accepted in "report" validation mode. Answers are written in the
namespaces the schemas demand.

StUF 03.01 section 3.3: an element with ``xsi:nil="true"`` (and a
``StUF:noValue``) says the value is unknown or absent; an element that is
left out says nothing. :func:`read_text` therefore tells three cases apart:
:data:`ABSENT`, ``None`` (present without a value) and the text.
"""

from __future__ import annotations

import copy as copy_module
import enum
import time
from collections.abc import Iterator
from typing import Final

from lxml import etree

from esb.message import NS_BG, NS_STUF, NS_XSI, NS_ZDS, NS_ZKN

NSMAP = {"ZKN": NS_ZKN, "StUF": NS_STUF, "BG": NS_BG, "xsi": NS_XSI}
NSMAP_ZDS = {"ZDS": NS_ZDS, **NSMAP}

ZKN = f"{{{NS_ZKN}}}"
STUF = f"{{{NS_STUF}}}"
BG = f"{{{NS_BG}}}"
ZDS = f"{{{NS_ZDS}}}"
XSI_NIL = f"{{{NS_XSI}}}nil"
ENTITEITTYPE = f"{STUF}entiteittype"
VERWERKINGSSOORT = f"{STUF}verwerkingssoort"
NO_VALUE = f"{STUF}noValue"
FUNCTIE = f"{STUF}functie"
SCOPE = f"{STUF}scope"


class _Absent(enum.Enum):
    """The marker for an element the sender left out."""

    ABSENT = "absent"

    def __bool__(self) -> bool:
        return False


ABSENT: Final = _Absent.ABSENT
Read = str | None | _Absent


# These helpers run a few hundred times per message: they let lxml's C code
# do the matching (a "{*}name" tag filter is a local name in any namespace,
# or none) rather than build a QName per child in Python.


def local(element: etree._Element) -> str:
    """The local name of an element ("" for comments and the like)."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag[tag.find("}") + 1 :]


def children(
    element: etree._Element, name: str | None = None
) -> Iterator[etree._Element]:
    """The child elements, optionally only those with local name ``name``."""
    if name is None:
        return element.iterchildren(etree.Element)
    return element.iterchildren("{*}" + name)


def child(element: etree._Element | None, name: str) -> etree._Element | None:
    """The first child element with local name ``name``, if any."""
    if element is None:
        return None
    return next(element.iterchildren("{*}" + name), None)


def path(element: etree._Element | None, steps: str) -> etree._Element | None:
    """Follow ``a/b/c`` by local names."""
    for step in steps.split("/"):
        element = child(element, step)
    return element


def is_nil(element: etree._Element) -> bool:
    return element.get(XSI_NIL) in ("true", "1")


def value(element: etree._Element | None) -> str | None:
    """The trimmed text of an element; None when nil, empty or missing."""
    if element is None or is_nil(element):
        return None
    text = (element.text or "").strip()
    return text or None


def read_text(element: etree._Element | None, name: str) -> Read:
    """A child's value: ABSENT when left out, None when nil or empty."""
    found = child(element, name)
    if found is None:
        return ABSENT
    return value(found)


def text(element: etree._Element | None, steps: str) -> str | None:
    """The value at ``a/b/c``; None when absent, nil or empty."""
    return value(path(element, steps))


def has_content(element: etree._Element | None) -> bool:
    """Whether an element holds any value at all (text or attribute-free
    children with text), as opposed to an empty placeholder."""
    if element is None or is_nil(element):
        return False
    if (element.text or "").strip():
        return True
    return any(has_content(c) for c in children(element))


# Writing --------------------------------------------------------------------


def sub(
    parent: etree._Element,
    tag: str,
    text: str | None = None,
    **attributes: str,
) -> etree._Element:
    """Append an element with ``text`` (skipped when None) and attributes."""
    element = etree.SubElement(parent, tag)
    if text is not None:
        element.text = text
    for name, attribute_value in attributes.items():
        element.set(name, attribute_value)
    return element


def optional(parent: etree._Element, tag: str, text: str | None) -> None:
    """Append ``<tag>text</tag>`` only when there is a value."""
    if text:
        etree.SubElement(parent, tag).text = text


def entity(parent: etree._Element, tag: str, entiteittype: str) -> etree._Element:
    """Append an element carrying ``StUF:entiteittype``."""
    element = etree.SubElement(parent, tag)
    element.set(ENTITEITTYPE, entiteittype)
    return element


def nil(parent: etree._Element, tag: str, no_value: str = "geenWaarde") -> None:
    """Append an explicitly empty element (StUF 03.01 section 3.3.4)."""
    element = etree.SubElement(parent, tag)
    element.set(XSI_NIL, "true")
    element.set(NO_VALUE, no_value)


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
