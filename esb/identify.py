"""Identification: what a message is, decided before anything else happens.

The operation comes from the body element and the SOAPAction together:

- ZDS 1.2 names its messages after the operation in the zds0120 namespace
  (``creeerZaak_ZakLk01``, ``genereerZaakIdentificatie_Di02``);
- ZDS 1.1 uses the ZKN namespace: the vrije berichten carry the operation in
  their name (``genereerZaakIdentificatie_Di02``), the kennisgevingen and
  vragen are the generic StUF-ZKN messages (``zakLk01``, ``zakLv01``,
  ``edcLk01``, ``edcLv01``) and only the SOAPAction
  (``.../zkn/0310/creeerZaak_Lk01``) says which operation is meant;
- StUF-BG messages are generic (``npsLv01``); their name is the operation.

Real clients mix these up. A 1.2 operation name in the 1.1 namespace is still
identified (validation then says what is wrong); a SOAPAction that names
another operation than the body is refused, because routing on either would
be a guess.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection
from dataclasses import dataclass, replace

from lxml import etree

from esb.errors import IdentificationError
from esb.message import (
    NS_BG,
    NS_STUF,
    NS_ZDS,
    NS_ZKN,
    Identification,
    Party,
    Stuurgegevens,
)

# StUF 03.01 berichtcodes (the Berichtcode enumeration in stuf0301.xsd).
BERICHTCODES = frozenset(
    [f"Bv0{n}" for n in range(1, 5)]
    + ["Di01", "Di02", "Du01", "Du02", "Fo01", "Fo02", "Fo03", "Tr01"]
    + [f"La{n:02d}" for n in range(1, 15)]
    + [f"Lv{n:02d}" for n in range(1, 15)]
    + [f"Lk0{n}" for n in range(1, 7)]
    + [f"Sa0{n}" for n in range(1, 5)]
    + [f"Sh0{n}" for n in range(1, 5)]
)

# Requests a sender may send; answers and confirmations are EMO's to make.
REQUEST_CODES = frozenset(
    code
    for code in BERICHTCODES
    if code[:2] in ("Lk", "Lv", "Di", "Sa", "Sh") or code == "Du01"
)


@dataclass(frozen=True, slots=True)
class ZdsOperation:
    """A ZDS operation: its berichtcode and the StUF-ZKN message it uses."""

    name: str
    berichtcode: str
    generic: str | None  # the ZDS 1.1 element, e.g. "zakLk01"; None for Di/Du


def _op(name: str, code: str, generic: str | None = None) -> ZdsOperation:
    return ZdsOperation(name, code, generic)


# ZDS 1.1 section 4 and ZDS 1.2 section 4 (the WSDLs list the same set).
ZDS_OPERATIONS: dict[str, ZdsOperation] = {
    op.name.lower(): op
    for op in (
        _op("genereerZaakIdentificatie", "Di02"),
        _op("genereerDocumentIdentificatie", "Di02"),
        _op("genereerBesluitIdentificatie", "Di02"),
        _op("geefZaakdocumentBewerken", "Di02"),
        _op("updateZaakdocument", "Di02"),
        _op("cancelCheckout", "Di02"),
        _op("ontkoppelZaakdocument", "Di02"),
        _op("voegBesluitToe", "Di01"),
        _op("overdragenZaak", "Di01"),
        _op("creeerZaak", "Lk01", "zakLk01"),
        _op("updateZaak", "Lk01", "zakLk01"),
        _op("actualiseerZaakstatus", "Lk01", "zakLk01"),
        _op("voegZaakdocumentToe", "Lk01", "edcLk01"),
        _op("maakZaakdocument", "Lk01", "edcLk01"),
        _op("updateBesluit", "Lk01", "bslLk01"),
        _op("geefZaakdetails", "Lv01", "zakLv01"),
        _op("geefZaakstatus", "Lv01", "zakLv01"),
        _op("geefLijstZaakdocumenten", "Lv01", "zakLv01"),
        _op("geefLijstBesluiten", "Lv01", "zakLv01"),
        _op("geefZaakdocumentLezen", "Lv01", "edcLv01"),
        _op("geefBesluitdetails", "Lv01", "bslLv01"),
    )
}

# "creeerZaak_ZakLk01", "creeerZaak_Lk01", "genereerZaakIdentificatie_Di02"
_NAMED = re.compile(
    r"^(?P<op>[a-z][A-Za-z]+)_(?P<entity>[A-Z][a-z]{2})?(?P<code>[A-Z][a-z]\d\d)$"
)
# "zakLk01", "npsLv01", "edcLk02"
_GENERIC = re.compile(r"^(?P<entity>[a-z]{3})(?P<code>[A-Z][a-z]\d\d)$")


@dataclass(frozen=True, slots=True)
class _Name:
    """A message or SOAPAction name taken apart."""

    operation: str
    code: str
    generic: bool


# Senders use a few dozen message names and SOAPActions: each is taken apart
# once (bounded, against a sender that makes up new ones).
@functools.lru_cache(maxsize=4096)
def _split(name: str) -> _Name | None:
    named = _NAMED.match(name)
    if named:
        known = ZDS_OPERATIONS.get(named["op"].lower())
        operation = known.name if known else named["op"]
        return _Name(operation, named["code"], generic=False)
    generic = _GENERIC.match(name)
    if generic:
        return _Name(name, generic["code"], generic=True)
    return None


@functools.lru_cache(maxsize=4096)
def _action_name(soap_action: str) -> str:
    """The last segment of a SOAPAction URI: what names the operation."""
    return re.split(r"[/#:]", soap_action.rstrip("/"))[-1]


def identify(
    body: etree._Element,
    soap_action: str | None,
    accepted_namespaces: Collection[str] = (NS_ZDS, NS_ZKN, NS_BG),
) -> Identification:
    """Identify the StUF message ``body`` that arrived with ``soap_action``.

    Raises :class:`IdentificationError` with the StUF foutcode that fits:
    StUF004 for a namespace this source does not take, StUF040 for an unknown
    operation or a SOAPAction that contradicts the body, StUF022 for a missing
    or unknown berichtcode, StUF013 for a missing zender.
    """
    qname = etree.QName(body)
    namespace, local = qname.namespace or "", qname.localname
    if namespace not in accepted_namespaces:
        expected = ", ".join(sorted(accepted_namespaces))
        raise IdentificationError(
            "StUF004",
            f"Namespace van {local} wordt hier niet ondersteund",
            details=f"namespace '{namespace or '(geen)'}'; verwacht een van: "
            f"{expected}",
        )

    name = _split(local)
    if name is None:
        raise IdentificationError(
            "StUF040",
            f"Onbekend bericht {local}",
            details=f"element {{{namespace}}}{local} is geen StUF- of ZDS-bericht",
        )
    operation, flavour = _operation(name, namespace, local, soap_action)

    stuurgegevens = read_stuurgegevens(body)
    if not stuurgegevens.berichtcode:
        # Real clients leave the berichtcode out (see the Issue329 edcLk01
        # example); the message name fixes it, and schema validation still
        # reports the omission in the route's mode.
        stuurgegevens = replace(stuurgegevens, berichtcode=name.code)
    _check_berichtcode(stuurgegevens.berichtcode, name, local)
    if not stuurgegevens.zender.applicatie:
        raise IdentificationError(
            "StUF013",
            "Zender ontbreekt in de stuurgegevens",
            details="stuurgegevens/zender/applicatie is verplicht: EMO routeert "
            "en beveiligt op de zendende applicatie",
        )

    parameters = _parameters(body)
    entiteittype = stuurgegevens.entiteittype or _object_entiteittype(body)
    if entiteittype != stuurgegevens.entiteittype:
        stuurgegevens = replace(stuurgegevens, entiteittype=entiteittype)
    return Identification(
        operation=operation,
        element=body.tag if isinstance(body.tag, str) else local,
        flavour=flavour,
        stuurgegevens=stuurgegevens,
        soap_action=soap_action,
        mutatiesoort=parameters.get("mutatiesoort"),
        parameters=parameters,
    )


def _operation(
    name: _Name, namespace: str, local: str, soap_action: str | None
) -> tuple[str, str]:
    """The operation and flavour, checked against the SOAPAction."""
    action = _split(_action_name(soap_action)) if soap_action else None
    if soap_action and action is None:
        raise IdentificationError(
            "StUF040",
            "SOAPAction noemt geen bekende operatie",
            details=f"SOAPAction '{soap_action}' voor bericht {local}",
        )

    if namespace == NS_BG:
        if action and (action.operation, action.code) != (name.operation, name.code):
            _contradiction(soap_action, local)
        return name.operation, "stuf-bg"

    if not name.generic:
        is_12 = namespace == NS_ZDS or _is_zds12_name(local)
        flavour = "zds-1.2" if is_12 else "zds-1.1"
        if action and (
            action.operation.lower() != name.operation.lower()
            or action.code != name.code
        ):
            _contradiction(soap_action, local)
        return name.operation, flavour

    # A generic StUF-ZKN message: the SOAPAction may name the ZDS operation.
    if action is None or action.generic:
        if action and action.operation != name.operation:
            _contradiction(soap_action, local)
        return name.operation, "stuf-zkn"
    known = ZDS_OPERATIONS.get(action.operation.lower())
    if known is None or known.generic != local or known.berichtcode != action.code:
        _contradiction(soap_action, local)
    assert known is not None
    return known.name, "zds-1.1"


def _is_zds12_name(local: str) -> bool:
    # ZDS 1.2 names kennisgevingen and vragen with the entity in them
    # (creeerZaak_ZakLk01); a client using them in the ZKN namespace is
    # speaking 1.2 with the wrong namespace.
    named = _NAMED.match(local)
    return bool(named and named["entity"])


def _contradiction(soap_action: str | None, local: str) -> None:
    raise IdentificationError(
        "StUF040",
        "SOAPAction past niet bij het bericht in de Body",
        details=f"SOAPAction '{soap_action}' hoort niet bij bericht {local}",
    )


def _check_berichtcode(berichtcode: str, name: _Name, local: str) -> None:
    if berichtcode not in BERICHTCODES:
        raise IdentificationError(
            "StUF022", f"Berichtcode '{berichtcode[:10]}' is onbekend"
        )
    if berichtcode not in REQUEST_CODES:
        raise IdentificationError(
            "StUF025",
            f"Berichtcode {berichtcode} is een antwoord, geen verzoek",
            details="EMO neemt kennisgevingen, vragen en vrije berichten aan",
        )
    if berichtcode != name.code:
        raise IdentificationError(
            "StUF040",
            f"Berichtcode {berichtcode} past niet bij bericht {local}",
            details=f"{local} vraagt berichtcode {name.code}",
        )


def _child(element: etree._Element, local: str) -> etree._Element | None:
    # Stuurgegevens are read by local name: clients get the namespace of the
    # stuurgegevens element itself wrong often enough (it belongs to the sector
    # namespace, its children to StUF) that a strict lookup would refuse
    # messages that schema validation in "report" mode is meant to let through.
    # A loop over the children, not find("{*}..."): lxml runs a wildcard
    # find through its Python ElementPath, ten times slower, and the element
    # sought is nearly always among the first.
    suffix = "}" + local
    for child in element:
        tag = child.tag
        if isinstance(tag, str) and (tag == local or tag.endswith(suffix)):
            return child
    return None


def _children(element: etree._Element | None) -> dict[str, etree._Element]:
    """The element children of ``element`` by local name, the first of each."""
    found: dict[str, etree._Element] = {}
    if element is None:
        return found
    for child in element:
        tag = child.tag
        if isinstance(tag, str):
            found.setdefault(tag.rpartition("}")[2], child)
    return found


def _text(children: dict[str, etree._Element], local: str) -> str | None:
    child = children.get(local)
    if child is None or child.text is None:
        return None
    return child.text.strip() or None


def _party(element: etree._Element | None) -> Party:
    if element is None:
        return Party()
    children = _children(element)
    return Party(
        organisatie=_text(children, "organisatie"),
        applicatie=_text(children, "applicatie"),
        administratie=_text(children, "administratie"),
        gebruiker=_text(children, "gebruiker"),
    )


def read_stuurgegevens(body: etree._Element) -> Stuurgegevens:
    """The stuurgegevens of a StUF message (raises when they are missing)."""
    element = _child(body, "stuurgegevens")
    if element is None:
        raise IdentificationError(
            "StUF055",
            "Stuurgegevens ontbreken",
            details=f"{etree.QName(body).localname} heeft geen stuurgegevens",
        )
    # One pass over the stuurgegevens' children, not one search per field.
    children = _children(element)
    return Stuurgegevens(
        berichtcode=_text(children, "berichtcode") or "",
        zender=_party(children.get("zender")),
        ontvanger=_party(children.get("ontvanger")),
        referentienummer=_text(children, "referentienummer"),
        tijdstip_bericht=_text(children, "tijdstipBericht"),
        cross_refnummer=_text(children, "crossRefnummer"),
        entiteittype=_text(children, "entiteittype"),
        functie=_text(children, "functie"),
    )


def _parameters(body: etree._Element) -> dict[str, str]:
    element = _child(body, "parameters")
    if element is None:
        return {}
    found: dict[str, str] = {}
    for child in element:
        if isinstance(child.tag, str) and child.text and child.text.strip():
            found[child.tag.rpartition("}")[2]] = child.text.strip()
    return found


def _object_entiteittype(body: etree._Element) -> str | None:
    for local in ("object", "gelijk", "zaak", "document"):
        element = _child(body, local)
        if element is not None:
            value = element.get(f"{{{NS_STUF}}}entiteittype")
            if value:
                return value
    return None
