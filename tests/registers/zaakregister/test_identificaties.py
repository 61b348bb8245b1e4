"""Generated identificaties: patterns, series, and uniqueness under concurrency."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from lxml import etree

from esb.schemaset import SchemaRegistry
from registers.zaakregister import Config, Pattern, Zaakregister
from tests.registers.zaakregister import messages
from tests.registers.zaakregister.conftest import NOW, Client, one

CREATORS = 20


def test_pattern_fills_organisatie_year_and_number() -> None:
    pattern = Pattern.parse("{organisatie}-{year}-{seq:07d}")
    assert pattern.render("0392", 2025, 27) == "0392-2025-0000027"
    assert pattern.series("zaak", "0392", 2025) == "zaak:0392:2025"


def test_a_pattern_without_year_has_one_series_for_all_years() -> None:
    pattern = Pattern.parse("Z{seq}")
    assert pattern.series("zaak", "0392", 2025) == pattern.series("zaak", "1900", 2026)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("{organisatie}-{year}", "has no {seq}"),
        ("{gemeente}-{seq}", "unknown field(s) gemeente"),
        ("{seq:q}", "Unknown format code"),
        ("{seq", "{seq"),
    ],
)
def test_a_wrong_pattern_says_what_is_wrong(text: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=None) as raised:
        Pattern.parse(text)
    assert complaint in str(raised.value)


def test_numbers_follow_each_other_per_kind(client: Client) -> None:
    """Zaken and documents count separately, from 1."""
    zaken = [client.send(messages.genereer("zaak")) for _ in range(3)]
    document = client.send(messages.genereer("document"))
    assert [one(z, "ZDS:zaak/ZKN:identificatie") for z in zaken] == [
        "0392-2025-0000001",
        "0392-2025-0000002",
        "0392-2025-0000003",
    ]
    assert one(document, "ZDS:document/ZKN:identificatie") == "0392-D2025-0000001"


def test_a_number_a_sender_already_used_is_skipped(client: Client) -> None:
    """A zaak created with the next number in the series (a client numbering
    its own zaken the same way) makes the generator skip that number."""
    client.send(messages.creeer_zaak("0392-2025-0000001"))
    answer = client.send(messages.genereer("zaak"))
    assert one(answer, "ZDS:zaak/ZKN:identificatie") == "0392-2025-0000002"


def test_zds_11_answer_is_in_the_zkn_namespace(client: Client) -> None:
    answer = client.send(messages.genereer("zaak", zds12=False))
    assert etree.QName(answer).namespace == "http://www.egem.nl/StUF/sector/zkn/0310"
    assert one(answer, "ZKN:zaak/ZKN:identificatie") == "0392-2025-0000001"


def _create_concurrently(client: Client) -> list[str]:
    """CREATORS threads each ask an identificatie and create a zaak with it,
    all released at once."""
    start = threading.Barrier(CREATORS)

    def create(_: int) -> str:
        start.wait()
        answer = client.send(messages.genereer("zaak"))
        identificatie = one(answer, "ZDS:zaak/ZKN:identificatie")
        client.send(messages.creeer_zaak(identificatie))
        return identificatie

    with ThreadPoolExecutor(CREATORS) as pool:
        return list(pool.map(create, range(CREATORS)))


def _check_unique(client: Client, created: list[str]) -> None:
    assert len(set(created)) == CREATORS
    assert sorted(created) == [f"0392-2025-{n:07d}" for n in range(1, CREATORS + 1)]
    for identificatie in created:
        client.send(messages.geef_zaakdetails(identificatie))


def test_concurrent_creators_get_unique_identificaties_on_sqlite(
    client: Client,
) -> None:
    """20 concurrent genereerZaakIdentificatie + creeerZaak on SQLite: 20
    different identificaties, no gaps, 20 zaken."""
    _check_unique(client, _create_concurrently(client))


@pytest.mark.postgres
def test_concurrent_creators_get_unique_identificaties_on_postgresql(
    postgres_url: str, tmp_path: Path, schemas: SchemaRegistry
) -> None:
    """The same on PostgreSQL, where the counter row's lock serialises them."""
    register = Zaakregister.open(
        postgres_url,
        Config(documents=tmp_path / "documenten", organisatie="0392"),
        pool_size=CREATORS,
    )
    register.clock = _fixed(NOW)
    try:
        client = Client(register, schemas)
        _check_unique(client, _create_concurrently(client))
    finally:
        register.close()


def _fixed(moment: float) -> Callable[[], float]:
    return lambda: moment
