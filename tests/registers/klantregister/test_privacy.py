"""BSNs never leave the klantregister except in its answers: not in a log
event, not in a fault another application sees, not in the reason the
broker journals for a failed delivery."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher
from zope.interface import implementer

from esb.adapters.base import DeliveryError, Outbound
from esb.adapters.klantregister import KlantregisterAdapter
from esb.errors import StufFault
from tests.registers.klantregister.berichten import (
    BSN_INVALID,
    BSN_JAN,
    BSN_PIET,
    envelope,
    identified,
    kennisgeving,
    reparsed,
    vraag,
)

BSNS = (BSN_JAN, BSN_PIET, BSN_INVALID)


@pytest.fixture
def logged() -> Iterator[list[LogEvent]]:
    """Every Twisted log event emitted during the test."""
    events: list[LogEvent] = []

    @implementer(ILogObserver)
    def observe(event: LogEvent) -> None:
        events.append(event)

    globalLogPublisher.addObserver(observe)
    yield events
    globalLogPublisher.removeObserver(observe)


def _texts(fault: StufFault) -> str:
    return " ".join(
        [str(fault), fault.omschrijving, fault.full_details or ""]
        + [f"{v.path} {v.rule}" for v in fault.violations]
    )


def _messages() -> list[Any]:
    jan = {"bsn": BSN_JAN, "geslachtsnaam": "Jansen"}
    return [
        kennisgeving("NPS", "T", jan),  # added
        kennisgeving("NPS", "T", {**jan, "geslachtsnaam": "Anders"}),  # exists
        kennisgeving("NPS", "W", {**jan, "geslachtsnaam": "Oud"}, jan),  # stale was
        kennisgeving("NPS", "W", {"bsn": BSN_PIET}, {"bsn": BSN_PIET}),  # unknown
        kennisgeving("NPS", "T", {"bsn": BSN_INVALID}),  # 11-test
        kennisgeving("NPS", "W", {"bsn": BSN_JAN}, {"bsn": BSN_PIET}),  # key change
        vraag("NPS", {"bsn": BSN_INVALID}),  # 11-test in a vraag
        vraag("NPS", {"bsn": BSN_JAN}),  # found
        kennisgeving("NPS", "V", jan),  # deleted
    ]


def test_no_fault_text_holds_a_bsn(sqlite_url: str) -> None:
    """Every fault the register raises shows BSNs masked, if at all."""
    adapter = KlantregisterAdapter.from_settings("k", {"database": sqlite_url}, 30)
    faults = 0
    try:
        for message in _messages():
            body = reparsed(message)
            try:
                adapter.register.handle(body, identified(body), referentienummer="r")
            except StufFault as fault:
                faults += 1
                text = _texts(fault)
                assert not any(bsn in text for bsn in BSNS), text
    finally:
        adapter.close()
    assert faults == 6


def test_no_log_event_and_no_delivery_error_holds_a_bsn(
    sqlite_url: str, logged: list[LogEvent]
) -> None:
    """Through the adapter, as the broker calls it: the log events, the
    DeliveryError reasons (journaled by the broker) and the fault answers
    sent to the other application hold no BSN."""
    adapter = KlantregisterAdapter.from_settings("k", {"database": sqlite_url}, 30)
    seen: list[str] = []
    try:
        for number, message in enumerate(_messages()):
            body = reparsed(message)
            outbound = Outbound(
                message_id=f"m{number}",
                payload=envelope(message),
                soap_action=None,
                identification=identified(body),
            )
            try:
                adapter.deliver_now(outbound)
            except DeliveryError as error:
                seen.append(error.reason)
                assert error.answer is not None
                seen.append(error.answer.decode())
    finally:
        adapter.close()

    assert logged, "the register logs what it does"
    for event in logged:
        seen.append(formatEvent(event))
        seen.extend(repr(v) for k, v in event.items() if not k.startswith("log_"))
    leaks = [text for text in seen if any(bsn in text for bsn in BSNS)]
    assert leaks == []
