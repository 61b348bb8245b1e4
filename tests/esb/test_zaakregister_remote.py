"""The zaakregister as a separate EMO process, reached over SOAP through a route.

Two ``emo run`` processes: the register runs the default
``config/routes.yaml`` (its zaakregister inside it); the front broker runs
``config/examples/remote-zaakregister.yaml``, whose ``zds`` route passes
every ZDS message to the register's ``/stuf/zds`` with the ``stuf`` adapter.
Clients talk to the front only. The same replay as
``test_zaakregister_e2e.py`` passes, and the register's faults reach the
sender unchanged: this is how a municipality swaps in another vendor's
zaakregister without touching the applications.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from esb.schemaset import SchemaRegistry
from tests.conftest import ROOT, ZDS_12, ZDS_1102
from tests.esb.conftest import (
    RunningBroker,
    assert_fault,
    request_stuurgegevens,
    start_broker,
)
from tests.esb.zaakregister_replay import (
    answer_of,
    create_concurrently,
    post_message,
    replay_gisvg_flow,
    replay_register_fault,
    replay_regressions,
    replay_zaak_with_status_and_document,
)
from tests.registers.zaakregister import messages

ROUTES = ROOT / "config" / "routes.yaml"
REMOTE = ROOT / "config" / "examples" / "remote-zaakregister.yaml"


@pytest.fixture(scope="module")
def register(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    """The zaakregister's own EMO: the default routes."""
    running = start_broker(tmp_path_factory.mktemp("register"), routes=str(ROUTES))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def front(
    tmp_path_factory: pytest.TempPathFactory, register: RunningBroker
) -> Iterator[RunningBroker]:
    """The broker the applications talk to, its zaakregister the other process."""
    with pytest.MonkeyPatch.context() as patch:
        # start_broker hands the child this process's environment.
        patch.setenv("ZAAKREGISTER_URL", f"{register.url}/stuf/zds")
        running = start_broker(tmp_path_factory.mktemp("front"), routes=str(REMOTE))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def both() -> SchemaRegistry:
    return SchemaRegistry.load([ZDS_12, ZDS_1102])


def test_gisvg_flow(front: RunningBroker, both: SchemaRegistry) -> None:
    replay_gisvg_flow(front, both)


def test_zaak_with_status_and_document(
    front: RunningBroker, both: SchemaRegistry
) -> None:
    replay_zaak_with_status_and_document(front, both)


def test_regression_flows(front: RunningBroker, both: SchemaRegistry) -> None:
    replay_regressions(front, both)


def test_register_fault_reaches_the_sender_as_is(
    front: RunningBroker, both: SchemaRegistry
) -> None:
    replay_register_fault(front, both)


def test_concurrent_creators_get_unique_identificaties(
    front: RunningBroker, both: SchemaRegistry
) -> None:
    create_concurrently(front, both)


def test_the_zaken_live_in_the_register(
    front: RunningBroker, register: RunningBroker, both: SchemaRegistry
) -> None:
    """What the front took is stored by the other process: the register
    answers a vraag about it directly; the front keeps no zaakregister."""
    answer_of(post_message(front, messages.creeer_zaak("0392-2025-7100001")), both)
    details = answer_of(
        post_message(register, messages.geef_zaakdetails("0392-2025-7100001")), both
    )
    assert details.findtext("{*}antwoord/{*}object/{*}identificatie") == (
        "0392-2025-7100001"
    )
    front_base = front.config_dir.parent
    assert not (front_base / "var" / "zaakregister.db").exists()


def test_a_fault_is_the_registers_own(
    front: RunningBroker, register: RunningBroker, both: SchemaRegistry
) -> None:
    """The same refused vraag sent to the register and through the front
    gets the same foutbericht: the front passes the register's Fo02 on
    as it is, not one of its own."""
    # Two messages (each its own referentienummer): a broker takes a
    # referentienummer once per zender.
    vraag, same = (messages.geef_zaakdetails("0392-1999-0000404") for _ in "12")
    through_front = assert_fault(
        post_message(front, vraag),
        "StUF064",
        official=both,
        request=request_stuurgegevens(vraag),
        plek="client",
    )
    direct = assert_fault(
        post_message(register, same),
        "StUF064",
        official=both,
        request=request_stuurgegevens(same),
        plek="client",
    )
    assert (through_front.omschrijving, through_front.details) == (
        direct.omschrijving,
        direct.details,
    )
    assert through_front.faultstring == direct.faultstring
