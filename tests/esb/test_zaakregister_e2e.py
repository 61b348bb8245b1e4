"""The zaakregister behind a real broker, end to end over HTTP.

One ``emo run`` process with the default ``config/routes.yaml`` (every ZDS
operation at /stuf/zds is answered by destination ``zaakregister`` of type
``zaakregister``) and both official schema distributions, in report mode.
The register's database is the documented default, ``./var/zaakregister.db``
in the broker's working directory. Real clients' requests go in as they were
sent; every answer is checked against the official schemas.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from esb.adapters.zaakregister import (
    DEFAULT_URL,
    ZaakregisterAdapter,
    database_url,
    documents_folder,
)
from esb.errors import ConfigError
from esb.schemaset import SchemaRegistry
from tests.conftest import ROOT, ZDS_12, ZDS_1102
from tests.esb.conftest import (
    NS_SOAP11,
    RunningBroker,
    start_broker,
)
from tests.esb.zaakregister_replay import (
    NS,
    answer_of,
    create_concurrently,
    post,
    post_message,
    replay_gisvg_flow,
    replay_register_fault,
    replay_regressions,
    replay_zaak_with_status_and_document,
)
from tests.registers.zaakregister import messages

ROUTES = ROOT / "config" / "routes.yaml"


@pytest.fixture(scope="module")
def zds_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    """A broker running the default routes, its register in ./var."""
    running = start_broker(tmp_path_factory.mktemp("zds-broker"), routes=str(ROUTES))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def both() -> SchemaRegistry:
    """Both distributions, to check answers in either ZDS version."""
    return SchemaRegistry.load([ZDS_12, ZDS_1102])


def test_gisvg_flow(zds_broker: RunningBroker, both: SchemaRegistry) -> None:
    replay_gisvg_flow(zds_broker, both)


def test_zaak_with_status_and_document(
    zds_broker: RunningBroker, both: SchemaRegistry
) -> None:
    replay_zaak_with_status_and_document(zds_broker, both)


def test_regression_flows(zds_broker: RunningBroker, both: SchemaRegistry) -> None:
    replay_regressions(zds_broker, both)


def test_register_fault_reaches_the_sender_as_is(
    zds_broker: RunningBroker, both: SchemaRegistry
) -> None:
    replay_register_fault(zds_broker, both)


def test_a_repeated_request_gets_the_same_fault_again(
    zds_broker: RunningBroker,
) -> None:
    """The same vraag twice (same zender and referentienummer) for a zaak
    that does not exist: the register's fault both times, as a SOAP Fault
    with HTTP 500, not "still being handled"."""
    raw = messages.geef_zaakdetails("0392-2025-9999991")
    first = post_message(zds_broker, raw)
    again = post_message(zds_broker, raw)
    assert first.status == again.status == 500
    assert b"StUF064" in first.body
    assert again.body == first.body


def test_a_repeated_creeerzaak_gets_the_first_answer_and_creates_once(
    zds_broker: RunningBroker,
) -> None:
    """A creeerZaak sent again with the same zender and referentienummer gets
    the register's first answer (kept with the delivery's attempt) and does
    not reach the register again: no "Zaak bestaat al" fault."""
    raw = messages.creeer_zaak("0392-2025-9999992")
    first = post_message(zds_broker, raw)
    again = post_message(zds_broker, raw)
    assert first.status == again.status == 200
    assert b"Bv03" in first.body
    assert again.body == first.body


def test_concurrent_creators_get_unique_identificaties(
    zds_broker: RunningBroker, both: SchemaRegistry
) -> None:
    create_concurrently(zds_broker, both)


def test_register_lives_in_var_of_the_working_directory(
    zds_broker: RunningBroker,
) -> None:
    """Without settings the database is ./var/zaakregister.db and documents go
    beside it (the broker runs in its base folder)."""
    base = zds_broker.config_dir.parent
    assert (base / "var" / "zaakregister.db").is_file()
    assert (base / "var" / "zaakregister-documenten").is_dir()


# The adapter's settings -------------------------------------------------------


def test_database_setting_wins_over_the_environment() -> None:
    environ = {"EMO_ZAAKREGISTER_URL": "postgresql+psycopg://env/emo"}
    assert database_url({"database": "sqlite:///x.db"}, environ) == "sqlite:///x.db"
    assert database_url({}, environ) == "postgresql+psycopg://env/emo"
    assert database_url({}, {}) == DEFAULT_URL


def test_documents_default_beside_a_sqlite_database() -> None:
    assert documents_folder({}, "sqlite:////srv/emo/zrg.db") == Path(
        "/srv/emo/zaakregister-documenten"
    )
    assert documents_folder({"documents": "/data/docs"}, DEFAULT_URL) == Path(
        "/data/docs"
    )


def test_a_wrong_identificatie_pattern_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="has no"):
        ZaakregisterAdapter.from_settings(
            "zaakregister",
            {
                "database": f"sqlite:///{tmp_path / 'z.db'}",
                "identificatie_pattern": "{organisatie}-{year}",
            },
            30.0,
        )


def _store_and_read_25_mb(
    broker: RunningBroker, schemas: SchemaRegistry, zaak: str, document: str
) -> tuple[bytes, bytes, float]:
    """Store a 25 MB document and read it back; the peak memory growth."""
    import os

    from tests.esb.conftest import RssSampler

    content = os.urandom(25 * 1024 * 1024)
    answer_of(post_message(broker, messages.creeer_zaak(zaak)), schemas)
    with RssSampler(broker.pid) as memory:
        stored = post(
            broker,
            messages.voeg_zaakdocument_toe(document, zaak, content),
            messages.ZDS12 + "voegZaakdocumentToe_EdcLk01",
        )
        assert stored.status == 200, stored.body[:2000]
        read = post_message(broker, messages.geef_zaakdocument_lezen(document))
    assert read.status == 200, read.body[:2000]
    huge = etree.XMLParser(huge_tree=True, resolve_entities=False, no_network=True)
    inhoud = etree.fromstring(read.body, huge).findtext(
        f"{{{NS_SOAP11}}}Body/*/ZKN:antwoord/ZKN:object/ZKN:inhoud", None, NS
    )
    assert inhoud is not None
    return content, base64.b64decode(inhoud), memory.growth_mib


@pytest.mark.slow
def test_a_25_mb_document_comes_back_byte_identical(
    zds_broker: RunningBroker, both: SchemaRegistry
) -> None:
    """voegZaakdocumentToe with 25 MB, then geefZaakdocumentLezen: the same bytes."""
    sent, received, _ = _store_and_read_25_mb(
        zds_broker, both, "0392-2025-0025025", "0392-D2025-0025025"
    )
    assert received == sent


@pytest.mark.slow
def test_a_25_mb_document_keeps_the_broker_under_150_mib_above_idle(
    zds_broker: RunningBroker, both: SchemaRegistry
) -> None:
    """The broker's peak memory stays under 150 MB above what it used before.

    The document is held once: streamed into and out of the blob store by
    the register, the parsed trees released once the payloads are made,
    wiretaps sharing the message, and the journal writing and reading large
    payloads in chunks (about 70 MiB peak on this machine)."""
    _, _, growth = _store_and_read_25_mb(
        zds_broker, both, "0392-2025-0025026", "0392-D2025-0025026"
    )
    assert growth < 150, f"peak grew {growth:.0f} MiB"
