"""Reading StUF-BG request elements, and writing answer elements.

Requests are read by local name: senders put elements in the wrong namespace
often enough (BG elements inside a ZKN message, stuurgegevens in the StUF
namespace) that strict look-ups would refuse messages the broker accepted in
``report`` validation mode. Answers are written in the namespaces the schemas
demand: the message's own elements in BG, StUF's (``stuurgegevens``'
children, ``extraElementen``) in StUF.

StUF 03.01 tells three things apart, and so does :func:`read`: an element
left out says nothing (:data:`ABSENT`), an element with ``xsi:nil="true"``
or no text says "no value" (``None``), anything else is a value.
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
EXACT = f"{STUF}exact"
IND_ONVOLLEDIGE_DATUM = f"{STUF}indOnvolledigeDatum"
NSMAP = {"BG": NS_BG, "StUF": NS_STUF, "xsi": NS_XSI}


class _Absent(enum.Enum):
    ABSENT = "absent"

    def __bool__(self) -> bool:
        return False


ABSENT: Final = _Absent.ABSENT
Read = str | None | _Absent


def local(element: etree._Element) -> str:
    """The local name of an element; "" for comments and the like."""
    # The tag is "{namespace}name" or "name"; cutting the string is four
    # times as fast as etree.QName, and every read of a message does this
    # for each element it passes.
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def children(
    element: etree._Element | None, name: str | None = None
) -> Iterator[etree._Element]:
    """The child elements, optionally only those named ``name``."""
    if element is None:
        return
    for child in element:
        tag = child.tag
        if isinstance(tag, str) and (name is None or tag.rpartition("}")[2] == name):
            yield child


def child(element: etree._Element | None, name: str) -> etree._Element | None:
    return next(children(element, name), None)


def first_children(element: etree._Element) -> dict[str, etree._Element]:
    """The first child element of each local name: one pass over the
    children for a reader that looks up many of them by name."""
    found: dict[str, etree._Element] = {}
    for item in element:
        tag = item.tag
        if isinstance(tag, str):
            found.setdefault(tag.rpartition("}")[2], item)
    return found


def path(element: etree._Element | None, steps: str) -> etree._Element | None:
    """Follow ``a/b/c`` by local names."""
    for step in steps.split("/"):
        element = child(element, step)
    return element


def is_nil(element: etree._Element) -> bool:
    return element.get(XSI_NIL) in ("true", "1")


def read(element: etree._Element | None) -> Read:
    """The value of ``element``: ABSENT when missing, None when nil or empty."""
    if element is None:
        return ABSENT
    if is_nil(element):
        return None
    text = (element.text or "").strip()
    return text or None


def text(element: etree._Element | None, steps: str) -> str | None:
    """The value at ``a/b/c``; None when it is missing, nil or empty."""
    value = read(path(element, steps))
    return value if isinstance(value, str) else None


def where(element: etree._Element) -> str:
    """The element's path from its message element, by local names, with an
    index where siblings share a name: what a fault shows the sender."""
    steps: list[str] = []
    node: etree._Element | None = element
    while node is not None:
        parent = node.getparent()
        name = local(node)
        if parent is not None:
            same = [c for c in children(parent, name)]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        steps.append(name)
        # Stop at the StUF message element (the child of the SOAP Body).
        if parent is None or local(parent) == "Body":
            break
        node = parent
    return "/" + "/".join(reversed(steps))


def line(element: etree._Element) -> int | None:
    number = element.sourceline
    return number if isinstance(number, int) else None


# Writing --------------------------------------------------------------------


def sub(parent: etree._Element, tag: str, value: str | None = None) -> etree._Element:
    """Append ``<tag>value</tag>``; no text when ``value`` is None."""
    element = etree.SubElement(parent, tag)
    if value is not None:
        element.text = value
    return element


def nil(parent: etree._Element, tag: str) -> etree._Element:
    """Append an element without value (StUF 03.01: xsi:nil with a noValue;
    ``geenWaarde``: the register knows there is none)."""
    element = etree.SubElement(parent, tag)
    element.set(XSI_NIL, "true")
    element.set(NO_VALUE, "geenWaarde")
    return element
