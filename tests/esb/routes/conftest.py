"""Helpers for the route tests: real example messages, identified by hand.

The broker's identifier is built elsewhere; these tests only need an
:class:`~esb.message.Identification` that says what the example is, so they
read the stuurgegevens straight from the XML and take the operation and
flavour from the test.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from esb.message import (
    NS_SOAP11,
    NS_STUF,
    Identification,
    Message,
    Party,
    Stuurgegevens,
)

MakeMessage = Callable[..., Message]


def _text(parent: etree._Element | None, name: str) -> str | None:
    if parent is None:
        return None
    found = parent.find(f"{{{NS_STUF}}}{name}")
    return None if found is None else found.text


def _party(stuurgegevens: etree._Element, name: str) -> Party:
    element = stuurgegevens.find(f"{{{NS_STUF}}}{name}")
    return Party(
        organisatie=_text(element, "organisatie"),
        applicatie=_text(element, "applicatie"),
        administratie=_text(element, "administratie"),
        gebruiker=_text(element, "gebruiker"),
    )


def read_example(
    examples: Path,
    relative: str,
    *,
    operation: str,
    flavour: str,
    soap_action: str | None = None,
    source: str = "soap:/stuf/zds",
) -> Message:
    """The example message at ``examples/relative``, identified as told."""
    raw = (examples / relative).read_bytes()
    envelope = etree.fromstring(raw, etree.XMLParser(resolve_entities=False))
    body = envelope.find(f"{{{NS_SOAP11}}}Body")
    assert body is not None
    element = next(child for child in body if isinstance(child.tag, str))
    sg = next(
        child
        for child in element
        if isinstance(child.tag, str)
        and etree.QName(child).localname == "stuurgegevens"
    )
    mutatiesoort = element.find(f".//{{{NS_STUF}}}mutatiesoort")
    stuurgegevens = Stuurgegevens(
        berichtcode=_text(sg, "berichtcode") or "",
        zender=_party(sg, "zender"),
        ontvanger=_party(sg, "ontvanger"),
        referentienummer=_text(sg, "referentienummer"),
        tijdstip_bericht=_text(sg, "tijdstipBericht"),
        entiteittype=_text(sg, "entiteittype"),
        functie=_text(sg, "functie"),
    )
    identification = Identification(
        operation=operation,
        element=element.tag,
        flavour=flavour,
        stuurgegevens=stuurgegevens,
        soap_action=soap_action,
        mutatiesoort=None if mutatiesoort is None else mutatiesoort.text,
    )
    return Message(
        raw=raw,
        source=source,
        soap_action=soap_action,
        envelope=envelope,
        body=element,
        identification=identification,
    )


@pytest.fixture
def example(shared_stuf: Path) -> MakeMessage:
    """Read a real example message by its path under ``examples/``."""

    def read(relative: str, **identification: str) -> Message:
        return read_example(shared_stuf / "examples", relative, **identification)

    return read


@pytest.fixture
def creeer_zaak(example: MakeMessage) -> Message:
    """GISVG's creeerZaak kennisgeving (zakLk01 under a creeerZaak SOAPAction)."""
    return example(
        "gisvg-flow/creeerZaak_Lk01.request.xml",
        operation="creeerZaak",
        flavour="zds-1.1",
        soap_action="http://www.egem.nl/StUF/sector/zkn/0310/creeerZaak_Lk01",
    )


@pytest.fixture
def genereer_zaakidentificatie(example: MakeMessage) -> Message:
    """GISVG's genereerZaakIdentificatie vrij bericht (Di02)."""
    return example(
        "gisvg-flow/genereerZaakIdentificatie_Di02.request.xml",
        operation="genereerZaakIdentificatie",
        flavour="zds-1.1",
        soap_action=(
            '"http://www.egem.nl/StUF/sector/zkn/0310/genereerZaakIdentificatie_Di02"'
        ),
    )


@pytest.fixture
def geef_zaakdetails(example: MakeMessage) -> Message:
    """Haarlem's ZDS 1.2 geefZaakdetails vraag (Lv01)."""
    return example(
        "haarlem/geefZaakDetailsRequest.xml",
        operation="geefZaakdetails",
        flavour="zds-1.2",
        soap_action="http://www.stufstandaarden.nl/koppelvlak/zds0120/geefZaakdetails_Lv01",
    )


@pytest.fixture
def write_routes(tmp_path: Path) -> Callable[..., Path]:
    """Write a routes file (dedented YAML text) and return its path."""

    def write(text: str, name: str = "routes.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write
