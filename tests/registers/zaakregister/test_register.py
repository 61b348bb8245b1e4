"""The register's front door: what it does with operations it does not know."""

from __future__ import annotations

from tests.registers.zaakregister import messages
from tests.registers.zaakregister.conftest import Client


def test_an_operation_the_register_does_not_do_is_refused(client: Client) -> None:
    """genereerBesluitIdentificatie (besluiten are not kept yet) gets StUF040
    naming the operation and what the register does support."""
    raw = messages.genereer("zaak").replace(b"Zaak", b"Besluit")
    fault = client.fault(raw)
    assert (fault.code, fault.plek) == ("StUF040", "client")
    assert "genereerBesluitIdentificatie" in fault.omschrijving
    assert "creeerZaak" in (fault.details or "")


def test_a_kennisgeving_without_object_is_a_schema_fault(client: Client) -> None:
    """A creeerZaak without its object is StUF055, naming the element."""
    raw = messages.creeer_zaak("0392-2025-0000001")
    start = raw.index(b"<ZKN:object")
    end = raw.index(b"</ZKN:object>") + len(b"</ZKN:object>")
    fault = client.fault(raw[:start] + raw[end:])
    assert (fault.code, fault.plek) == ("StUF055", "client")
    assert "object" in fault.omschrijving
