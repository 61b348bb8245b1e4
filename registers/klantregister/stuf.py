"""What only the klantregister reads and writes of StUF-BG elements.

The helpers both registers use (reading by local name, ABSENT and nil,
writing answer elements) are in :mod:`registers.stuf`. Answers are written
in the namespaces the schemas demand: the message's own elements in BG,
StUF's (``stuurgegevens``' children, ``extraElementen``) in StUF.
"""

from __future__ import annotations

from lxml import etree

from esb.message import NS_BG, NS_STUF, NS_XSI
from registers.stuf import STUF, children, local

EXACT = f"{STUF}exact"
IND_ONVOLLEDIGE_DATUM = f"{STUF}indOnvolledigeDatum"
NSMAP = {"BG": NS_BG, "StUF": NS_STUF, "xsi": NS_XSI}


def first_children(element: etree._Element) -> dict[str, etree._Element]:
    """The first child element of each local name: one pass over the
    children for a reader that looks up many of them by name."""
    found: dict[str, etree._Element] = {}
    for item in element:
        tag = item.tag
        if isinstance(tag, str):
            found.setdefault(tag.rpartition("}")[2], item)
    return found


def where(element: etree._Element) -> str:
    """The element's path from its message element, by local names, with an
    index where siblings share a name: what a fault shows the sender."""
    steps: list[str] = []
    node: etree._Element | None = element
    while node is not None:
        parent = node.getparent()
        name = local(node)
        if parent is not None:
            same = list(children(parent, name))
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
