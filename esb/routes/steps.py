"""What a route does to a message between choosing it and delivering it.

A route's ``steps`` run in the order written, after the message is journaled
and the route chosen, on the broker's own copy of the message::

    validate    the validation mode for this route (strict | report | off)
    transform   replace the body by the result of an XSLT 1.0 stylesheet
    set         set or rewrite zender / ontvanger fields in the stuurgegevens
    wiretap     send a copy of the message, as it is at this point, elsewhere

Every step is compiled when the routes file is loaded (stylesheets included),
so running one costs no parsing. A step that cannot do its work raises a
:class:`~esb.errors.StufFault` with StUF058 (plek ``server``: the sender did
nothing wrong, the route did).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lxml import etree

from esb.errors import StufFault
from esb.message import NS_STUF, NS_XSI, Message, ValidationMode

# StUF 03.01 (stuf0301.xsd, complexType Systeem): the children of zender and
# ontvanger, in schema order. Only applicatie is required.
PARTY_FIELDS: tuple[str, ...] = (
    "organisatie",
    "applicatie",
    "administratie",
    "gebruiker",
)
# StUF 03.01, every Stuurgegevens restriction starts with these three.
_STUURGEGEVENS_HEAD: tuple[str, ...] = ("berichtcode", "zender", "ontvanger")


@dataclass(frozen=True, slots=True)
class Tap:
    """A copy of a message for a wiretap destination, taken at its step."""

    destination: str
    message: Message


class Step(Protocol):
    """One step of a route. ``apply`` changes the message in place.

    It returns a :class:`Tap` when the step wants a copy delivered elsewhere
    (only ``wiretap`` does), and None otherwise.
    """

    @property
    def line(self) -> int: ...

    def apply(self, message: Message) -> Tap | None: ...


@dataclass(frozen=True, slots=True)
class Validate:
    """The validation mode this route asks for.

    Validation itself happens before the message is journaled, not here: the
    broker asks :meth:`RouteTable.validation_mode`, which weighs this step
    against the sender's override and the default. So ``apply`` does nothing.
    """

    mode: ValidationMode
    line: int = 0

    def apply(self, message: Message) -> Tap | None:
        return None


@dataclass(frozen=True, slots=True)
class Transform:
    """Replace the message body by what an XSLT 1.0 stylesheet makes of it.

    The stylesheet sees the StUF message element (the SOAP body's child) as
    its document root. ``message.identification`` keeps describing the
    message as received: routing has already used it, and a stylesheet may
    turn the body into something that is not StUF at all.
    """

    stylesheet: str
    xslt: etree.XSLT = field(compare=False, repr=False)
    parameters: Mapping[str, str] = field(default_factory=dict)
    line: int = 0
    _quoted: dict[str, Any] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # XSLT parameters are XPath expressions; strparam passes plain text.
        quoted = {
            name: etree.XSLT.strparam(value) for name, value in self.parameters.items()
        }
        object.__setattr__(self, "_quoted", quoted)

    def apply(self, message: Message) -> Tap | None:
        body = _body(message, "transform")
        try:
            result = self.xslt(body, **self._quoted)
        except etree.XSLTApplyError as exc:
            raise StufFault(
                "StUF058",
                plek="server",
                details=f"transform {self.stylesheet} failed: {exc}",
            ) from exc
        root = result.getroot()
        if root is None:
            raise StufFault(
                "StUF058",
                plek="server",
                details=f"transform {self.stylesheet} produced no XML element",
            )
        _replace_body(message, body, root)
        return None


@dataclass(frozen=True, slots=True)
class SetStuurgegevens:
    """Set or rewrite fields of zender and ontvanger in the stuurgegevens.

    ``fields`` holds (party, field, value) triples such as ``("ontvanger",
    "applicatie", "ZSH")``; a value of None removes the element. Missing
    elements are created in schema order. ``message.identification`` is
    updated to match, so what later steps and the journal see agrees with
    the body.
    """

    fields: tuple[tuple[str, str, str | None], ...]
    line: int = 0

    def apply(self, message: Message) -> Tap | None:
        body = _body(message, "set")
        stuurgegevens = next(
            (
                child
                for child in body
                if isinstance(child.tag, str)
                and etree.QName(child).localname == "stuurgegevens"
            ),
            None,
        )
        if stuurgegevens is None:
            raise StufFault(
                "StUF058",
                plek="server",
                details="set: the message has no stuurgegevens to change",
            )
        for party, name, value in self.fields:
            element = _child(stuurgegevens, party, _STUURGEGEVENS_HEAD)
            _set_text(element, name, value)

        ident = message.identification
        if ident is not None:
            sg = ident.stuurgegevens
            zender, ontvanger = sg.zender, sg.ontvanger
            for party, name, value in self.fields:
                if party == "zender":
                    zender = dataclasses.replace(zender, **{name: value})
                else:
                    ontvanger = dataclasses.replace(ontvanger, **{name: value})
            message.identification = dataclasses.replace(
                ident,
                stuurgegevens=dataclasses.replace(
                    sg, zender=zender, ontvanger=ontvanger
                ),
            )
        return None


@dataclass(frozen=True, slots=True)
class Wiretap:
    """Deliver a copy of the message, as it is at this step, to a destination.

    The copy travels on its own: its delivery neither delays nor changes the
    answer to the sender.
    """

    destination: str
    line: int = 0

    def apply(self, message: Message) -> Tap | None:
        return Tap(self.destination, copy_message(message))


def copy_message(message: Message) -> Message:
    """A copy whose body (and envelope) can change without touching the original."""
    body = message.body
    if body is None:
        return dataclasses.replace(message)
    envelope = message.envelope
    if envelope is None or body.getroottree().getroot() is not envelope:
        return dataclasses.replace(message, body=copy.deepcopy(body))
    # Find the body in the copied envelope by its position, child by child.
    positions = []
    element = body
    while (parent := element.getparent()) is not None:
        positions.append(parent.index(element))
        element = parent
    envelope = copy.deepcopy(envelope)
    body = envelope
    for position in reversed(positions):
        body = body[position]
    return dataclasses.replace(message, envelope=envelope, body=body)


def stylesheet_access() -> etree.XSLTAccessControl:
    """What a route's stylesheet may do: read files, nothing else.

    Reading lets a stylesheet use xsl:include and document() for lookup
    tables beside it; writing files (exsl:document) and any network access
    are refused, so a stylesheet cannot leak a message or fetch one.
    """
    # lxml-stubs 0.5 does not know XSLTAccessControl's keyword arguments.
    return etree.XSLTAccessControl(  # type: ignore[call-arg]
        read_file=True,
        write_file=False,
        create_dir=False,
        read_network=False,
        write_network=False,
    )


def compile_stylesheet(path: Path) -> etree.XSLT:
    """Parse and compile one stylesheet; lxml's errors pass through.

    The parser resolves no entities and fetches nothing from the network,
    the same care the broker takes with messages.
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    document = etree.parse(str(path), parser)
    return etree.XSLT(document, access_control=stylesheet_access())


def _body(message: Message, step: str) -> etree._Element:
    if message.body is None:
        raise StufFault(
            "StUF058", plek="server", details=f"{step}: the message has no body"
        )
    return message.body


def _replace_body(message: Message, old: etree._Element, new: etree._Element) -> None:
    parent = old.getparent()
    if parent is not None:
        parent.replace(old, new)
    message.body = new


def _child(parent: etree._Element, name: str, order: tuple[str, ...]) -> etree._Element:
    """The StUF child ``name`` of ``parent``, created in schema order if absent."""
    tag = f"{{{NS_STUF}}}{name}"
    found = parent.find(tag)
    if found is not None:
        return found
    earlier = {f"{{{NS_STUF}}}{other}" for other in order[: order.index(name)]}
    index = 0
    for position, child in enumerate(parent):
        if child.tag in earlier:
            index = position + 1
    # SubElement reuses the StUF prefix in scope; then move it into place.
    element = etree.SubElement(parent, tag)
    parent.insert(index, element)
    return element


def _set_text(party: etree._Element, name: str, value: str | None) -> None:
    if value is None:
        found = party.find(f"{{{NS_STUF}}}{name}")
        if found is not None:
            party.remove(found)
        return
    element = _child(party, name, PARTY_FIELDS)
    element.text = value
    # A value replaces a StUF "no value" (xsi:nil with StUF:noValue).
    for attribute in (f"{{{NS_XSI}}}nil", f"{{{NS_STUF}}}noValue"):
        if attribute in element.attrib:
            del element.attrib[attribute]
