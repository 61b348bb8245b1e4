"""Reading StUF request elements by local name, and writing answer elements.

What the klantregister and the zaakregister share; each keeps its own
namespaces and the helpers only it needs in its own ``stuf`` module.

Requests are read by local name: senders put elements in the wrong
namespace often enough (BG elements inside a ZKN message, a zds0120 prefix
on a ZKN element, stuurgegevens in the StUF namespace) that strict look-ups
would refuse messages the broker accepted in "report" validation mode.
Answers are written in the namespaces the schemas demand.

StUF 03.01 section 3.3: an element with ``xsi:nil="true"`` (and a
``StUF:noValue``) says the value is unknown or absent; an element that is
left out says nothing. :func:`read` and :func:`read_text` therefore tell
three cases apart: :data:`ABSENT`, ``None`` (present without a value) and
the text.

These helpers run a few hundred times per message: they let lxml's C code
do the matching (a ``"{*}name"`` tag filter is a local name in any
namespace, or none) rather than compare names in Python.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Final

from lxml import etree

from esb.message import NS_BG, NS_STUF, NS_XSI

BG = f"{{{NS_BG}}}"
STUF = f"{{{NS_STUF}}}"
XSI_NIL = f"{{{NS_XSI}}}nil"
ENTITEITTYPE = f"{STUF}entiteittype"
NO_VALUE = f"{STUF}noValue"
SCOPE = f"{STUF}scope"


class _Absent(enum.Enum):
    """The marker for an element the sender left out."""

    ABSENT = "absent"

    def __bool__(self) -> bool:
        return False


ABSENT: Final = _Absent.ABSENT
Read = str | None | _Absent


# Reading --------------------------------------------------------------------


def local(element: etree._Element) -> str:
    """The local name of an element; "" for comments and the like."""
    # The tag is "{namespace}name" or "name"; cutting the string is four
    # times as fast as etree.QName.
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def children(
    element: etree._Element | None, name: str | None = None
) -> Iterator[etree._Element]:
    """The child elements, optionally only those with local name ``name``;
    none of a missing element."""
    if element is None:
        return iter(())
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


def read(element: etree._Element | None) -> Read:
    """The value of ``element``: ABSENT when missing, None when nil or empty."""
    if element is None:
        return ABSENT
    if is_nil(element):
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
    """Whether an element holds any value at all (its text, or a descendant's
    that is not nil), as opposed to an empty placeholder."""
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
    """Append an element with ``text`` (none when None) and attributes."""
    element = etree.SubElement(parent, tag)
    if text is not None:
        element.text = text
    for name, attribute_value in attributes.items():
        element.set(name, attribute_value)
    return element


def nil(
    parent: etree._Element, tag: str, no_value: str = "geenWaarde"
) -> etree._Element:
    """Append an element without a value (StUF 03.01 section 3.3.4: xsi:nil
    with a noValue; ``geenWaarde``: the register knows there is none)."""
    element = etree.SubElement(parent, tag)
    element.set(XSI_NIL, "true")
    element.set(NO_VALUE, no_value)
    return element
