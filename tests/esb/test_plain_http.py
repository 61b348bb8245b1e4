"""The plain HTTP source: a bare StUF message in, the bare answer out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from esb.message import NS_STUF, NS_ZDS
from tests.conftest import EXAMPLES, ZDS_12
from tests.esb.conftest import Response, RunningBroker, start_broker
from tests.esb.processes import wait_for

ROUTES = """\
version: 1
validation: {default: strict}
routes:
  - id: formulieren
    from: http:/stuf/formulier
    publish: [archief]
destinations:
  archief: {type: file, path: "%s", name: "{referentienummer}.xml"}
"""


@pytest.fixture(scope="module")
def plain(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningBroker, Path]]:
    base = tmp_path_factory.mktemp("plain")
    outbox = base / "archief"
    routes = base / "routes.yaml"
    routes.write_text(ROUTES % outbox)
    running = start_broker(base, schemas=(ZDS_12,), routes=str(routes))
    yield running, outbox
    running.stop()


def bare_creeer_zaak() -> bytes:
    envelope = etree.fromstring(
        (EXAMPLES / "haarlem" / "creeerzaakRequest.xml").read_bytes()
    )
    body = envelope.find(f".//{{{NS_ZDS}}}creeerZaak_ZakLk01")
    assert body is not None
    return etree.tostring(body)


def test_a_bare_kennisgeving_gets_a_bare_bv03_and_is_delivered(
    plain: tuple[RunningBroker, Path],
) -> None:
    broker, outbox = plain
    answer = broker.request(
        "POST", "/stuf/formulier", bare_creeer_zaak(), {"Content-Type": "text/xml"}
    )

    assert answer.status == 200, answer.body
    root = etree.fromstring(answer.body)
    assert root.tag == f"{{{NS_STUF}}}Bv03Bericht"
    wait_for(lambda: (outbox / "e443d87f-69ee-4fd4-b1d9-dd797ffff628.xml").exists(), 30)
    assert (outbox / "e443d87f-69ee-4fd4-b1d9-dd797ffff628.xml").exists()


def test_a_bare_message_breaking_the_schema_gets_a_bare_fo03_with_400(
    plain: tuple[RunningBroker, Path],
) -> None:
    broken = bare_creeer_zaak().replace(
        b"<zkn:omschrijving>Test 4", b"<zkn:bogus>Test 4", 1
    )
    broken = broken.replace(b"Test 4</zkn:omschrijving>", b"Test 4</zkn:bogus>", 1)
    answer = broker_post(plain[0], broken)

    assert answer.status == 400, answer.body
    root = etree.fromstring(answer.body)
    assert root.tag == f"{{{NS_STUF}}}Fo03Bericht"
    assert root.findtext(f"{{{NS_STUF}}}body/{{{NS_STUF}}}code") == "StUF055"


def broker_post(broker: RunningBroker, raw: bytes) -> Response:
    return broker.request("POST", "/stuf/formulier", raw, {"Content-Type": "text/xml"})
