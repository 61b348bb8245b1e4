"""The klantregister destination (esb/adapters/klantregister.py): settings,
and what the broker gets back for an answer and for a fault."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from esb.adapters.base import BUILTIN, DeliveryError, Outbound, builtin_factories
from esb.adapters.klantregister import KlantregisterAdapter
from esb.errors import ConfigError
from esb.schemaset import SchemaRegistry
from registers.klantregister.database import ENVIRONMENT_URL
from tests.conftest import EXAMPLES
from tests.registers.klantregister.berichten import (
    BSN_INVALID,
    BSN_JAN,
    envelope,
    identified,
    kennisgeving,
    reparsed,
    vraag,
)

SOAP = "{http://schemas.xmlsoap.org/soap/envelope/}"


def outbound(message: etree._Element, *, identify: bool = True) -> Outbound:
    body = reparsed(message)
    return Outbound(
        message_id="msg-1",
        payload=envelope(message),
        soap_action=None,
        identification=identified(body) if identify else None,
    )


@pytest.fixture
def adapter(sqlite_url: str) -> Iterator[KlantregisterAdapter]:
    built = KlantregisterAdapter.from_settings(
        "klantregister", {"database": sqlite_url}, 30.0
    )
    yield built
    built.close()


def test_the_broker_finds_the_adapter_by_its_type() -> None:
    """Destination type klantregister loads this adapter's factory."""
    assert BUILTIN["klantregister"].startswith("esb.adapters.klantregister:")
    factory = builtin_factories()["klantregister"]
    assert factory == KlantregisterAdapter.from_settings


def test_without_a_database_setting_the_environment_decides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EMO_KLANTREGISTER_URL is used when the routes file names none."""
    monkeypatch.setenv(ENVIRONMENT_URL, f"sqlite:///{tmp_path / 'env.db'}")
    built = KlantregisterAdapter.from_settings("klantregister", {}, 30.0)
    built.close()

    assert (tmp_path / "env.db").exists()


def test_the_default_database_is_in_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither setting nor environment: ./var/klantregister.db."""
    monkeypatch.delenv(ENVIRONMENT_URL, raising=False)
    monkeypatch.chdir(tmp_path)
    KlantregisterAdapter.from_settings("klantregister", {}, 30.0).close()

    assert (tmp_path / "var" / "klantregister.db").exists()


def test_an_unknown_setting_is_a_config_error() -> None:
    """A typo in the routes file is named at start-up."""
    with pytest.raises(ConfigError, match="databse"):
        KlantregisterAdapter.from_settings("klantregister", {"databse": "x"}, 30.0)


def test_an_unusable_database_is_a_config_error() -> None:
    """An unsupported URL fails at start-up, without quoting the URL."""
    with pytest.raises(ConfigError) as raised:
        KlantregisterAdapter.from_settings(
            "klantregister", {"database": "mysql://emo:secret@db/emo"}, 30.0
        )
    assert "secret" not in str(raised.value)


def test_an_answer_goes_back_in_a_soap_envelope(
    adapter: KlantregisterAdapter, schemas: SchemaRegistry
) -> None:
    """A kennisgeving: Delivered, status 200, a Bv03 in a SOAP Body."""
    delivered = adapter.deliver_now(
        outbound(kennisgeving("NPS", "T", {"bsn": BSN_JAN, "geslachtsnaam": "Jansen"}))
    )

    assert delivered.status == 200
    assert delivered.answer is not None
    body = etree.fromstring(delivered.answer).find(SOAP + "Body")
    assert body is not None
    [bericht] = list(body)
    assert etree.QName(bericht).localname == "Bv03Bericht"
    assert schemas.validate(bericht) == []


def test_a_message_without_identification_is_identified(
    adapter: KlantregisterAdapter,
) -> None:
    """A delivery resumed without identification still gets its answer."""
    adapter.deliver_now(outbound(kennisgeving("NPS", "T", {"bsn": BSN_JAN})))
    delivered = adapter.deliver_now(
        outbound(vraag("NPS", {"bsn": BSN_JAN}), identify=False)
    )

    assert delivered.answer is not None and b"npsLa01" in delivered.answer


def test_a_client_fault_is_a_final_soap_fault(adapter: KlantregisterAdapter) -> None:
    """StUF055 from the register: DeliveryError not worth a retry, carrying
    a status 500 SOAP Fault with a Fo03 (which the broker passes on)."""
    with pytest.raises(DeliveryError) as raised:
        adapter.deliver_now(outbound(kennisgeving("NPS", "T", {"bsn": BSN_INVALID})))

    error = raised.value
    assert not error.retryable
    assert error.status == 500 and error.answer is not None
    assert b"Fault" in error.answer and b"Fo03Bericht" in error.answer
    assert b"StUF055" in error.answer
    assert "StUF055" in error.reason


def test_a_zaak_vraag_is_delivered_without_answer(
    adapter: KlantregisterAdapter,
) -> None:
    """A wiretapped ZDS vraag is none of the register's business: Delivered
    with no answer, so the wiretap does not retry it."""
    payload = (
        EXAMPLES / "gisvg-flow" / "geefZaakdetails_Lv01.request.xml"
    ).read_bytes()
    delivered = adapter.deliver_now(
        Outbound(
            message_id="tap-1",
            payload=payload,
            soap_action="http://www.egem.nl/StUF/sector/zkn/0310/geefZaakdetails_Lv01",
            identification=None,
        )
    )

    assert delivered.answer is None
    assert "niet voor het klantregister" in delivered.note
