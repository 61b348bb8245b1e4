"""A zaakregister on a fresh SQLite file per test, and a client that talks to it
the way the broker's adapter does: parse the SOAP request, identify it with
the broker's own identification, hand the body to the register.

Every answer the client receives is validated against the official ZDS 1.2
and 1.1.02 schemas before the test sees it; a test cannot pass on an answer
a real client would refuse.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from esb.envelope import open_envelope, parse_xml
from esb.errors import StufFault
from esb.identify import identify
from esb.schemaset import SchemaRegistry
from registers.zaakregister import Config, Zaakregister
from tests.conftest import EXAMPLES, ZDS_12, ZDS_1102

NS = {
    "ZKN": "http://www.egem.nl/StUF/sector/zkn/0310",
    "StUF": "http://www.egem.nl/StUF/StUF0301",
    "BG": "http://www.egem.nl/StUF/sector/bg/0310",
    "ZDS": "http://www.stufstandaarden.nl/koppelvlak/zds0120",
}
ZKN_ACTION = "http://www.egem.nl/StUF/sector/zkn/0310/"
ZDS12_ACTION = "http://www.stufstandaarden.nl/koppelvlak/zds0120/"

# A fixed moment (2025-03-01 12:00 local time): answers' tijdstipBericht and
# the year in generated identificaties do not depend on when tests run.
NOW = time.mktime((2025, 3, 1, 12, 0, 0, 0, 0, -1))


@pytest.fixture(scope="session")
def schemas() -> SchemaRegistry:
    """Both official distributions, compiled once for the session."""
    return SchemaRegistry.load([ZDS_12, ZDS_1102])


def soap_action(raw: bytes) -> str:
    """The SOAPAction a client sends with a request built in messages.py:
    ZDS 1.2 names the body element, ZDS 1.1's vrije berichten too."""
    body = open_envelope(parse_xml(raw)).body
    qname = etree.QName(body)
    if qname.namespace == NS["ZDS"]:
        return ZDS12_ACTION + qname.localname
    return ZKN_ACTION + qname.localname


def example(name: str) -> tuple[bytes, str]:
    """A shared example request and the SOAPAction its client sent."""
    path = EXAMPLES / name
    raw = path.read_bytes()
    if path.parent.name == "haarlem":
        body = open_envelope(parse_xml(raw)).body
        return raw, ZDS12_ACTION + etree.QName(body).localname
    # Named after the ZDS 1.1 operation: creeerZaak_Lk01.request.xml,
    # Issue235-creeerZaak_Lk01..., geefZaakdetails_Lv01__2_....
    found = re.search(r"([a-z][A-Za-z]+_(?:Lk|Lv|Di)0\d)", path.name)
    assert found is not None, path
    return raw, ZKN_ACTION + found[1]


@dataclass
class Client:
    """Sends requests to the register and checks every answer."""

    register: Zaakregister
    schemas: SchemaRegistry

    def send(self, raw: bytes, action: str | None = None) -> etree._Element:
        """The answer to ``raw``; fails the test on a fault or an invalid answer."""
        try:
            answer = self._handle(raw, action)
        except StufFault as fault:
            pytest.fail(f"unexpected fault {fault.code}: {fault.full_details}")
        self.assert_valid(answer)
        return answer

    def fault(self, raw: bytes, action: str | None = None) -> StufFault:
        """The fault ``raw`` gets; fails the test when it is answered."""
        try:
            answer = self._handle(raw, action)
        except StufFault as fault:
            return fault
        pytest.fail(f"expected a fault, got {etree.tostring(answer)[:500]!r}")

    def example(self, name: str) -> etree._Element:
        return self.send(*example(name))

    def _handle(self, raw: bytes, action: str | None) -> etree._Element:
        body = open_envelope(parse_xml(raw)).body
        identification = identify(body, action or soap_action(raw))
        return self.register.handle(identification, body)

    def assert_valid(self, answer: etree._Element) -> None:
        violations = self.schemas.validate(answer)
        assert violations == [], (
            "answer breaks the official schema:\n"
            + "\n".join(map(str, violations))
            + "\n"
            + etree.tostring(answer, pretty_print=True).decode()[:4000]
        )


@pytest.fixture
def register(tmp_path: Path) -> Iterator[Zaakregister]:
    """A zaakregister on a fresh SQLite file, its clock fixed at :data:`NOW`."""
    opened = Zaakregister.open(
        f"sqlite:///{tmp_path / 'zaakregister.db'}",
        Config(documents=tmp_path / "documenten", organisatie="0392"),
    )
    opened.clock = lambda: NOW
    yield opened
    opened.close()


@pytest.fixture
def client(register: Zaakregister, schemas: SchemaRegistry) -> Client:
    return Client(register, schemas)


def texts(element: etree._Element, path: str) -> list[str]:
    """The texts at an XPath with the prefixes of :data:`NS`."""
    return [str(found.text or "") for found in element.iterfind(path, NS)]


def one(element: etree._Element, path: str) -> str:
    found = texts(element, path)
    assert len(found) == 1, (path, found, etree.tostring(element)[:2000])
    return found[0]
