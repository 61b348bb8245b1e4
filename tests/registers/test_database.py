"""The faults a register's database errors become (registers.database)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from twisted.logger import Logger, formatEvent

from esb.errors import StufFault
from registers.database import faults


def _error(kind: type[Any], text: str) -> Any:
    return kind("INSERT INTO zrg_zaken ...", {"bsn": "111222333"}, Exception(text))


def test_an_unreachable_database_is_a_server_fault_worth_a_retry() -> None:
    """An OperationalError (locked, full, unreachable) becomes StUF058 with
    plek server, naming the register; the error is its cause."""
    error = _error(OperationalError, "database is locked")
    with pytest.raises(StufFault) as raised:
        with faults("klantregister", details=lambda exc: "niet gebruikt"):
            raise error

    fault = raised.value
    assert (fault.code, fault.plek) == ("StUF058", "server")
    assert fault.omschrijving == "Klantregister tijdelijk niet beschikbaar"
    assert fault.details == (
        "de database van het klantregister antwoordt niet; probeer het later opnieuw"
    )
    assert fault.__cause__ is error


def test_another_database_error_says_what_the_register_says() -> None:
    """Any other SQLAlchemy error becomes StUF058 with the register's own
    details, never the statement or its parameters."""
    with pytest.raises(StufFault) as raised:
        with faults(
            "zaakregister",
            details=lambda exc: f"fout in de database ({type(exc).__name__})",
        ):
            raise _error(ProgrammingError, "no such table")

    fault = raised.value
    assert fault.omschrijving == "Zaakregister kon het bericht niet verwerken"
    assert fault.details == "fout in de database (ProgrammingError)"
    assert "111222333" not in str(fault.details)


def test_an_integrity_error_and_other_errors_pass_unchanged() -> None:
    """A broken unique constraint stays an IntegrityError, for the
    register's conflict handling; what is no database error passes too."""
    translation = faults("zaakregister", details=lambda exc: "")
    with pytest.raises(IntegrityError):
        with translation:
            raise _error(IntegrityError, "UNIQUE constraint failed")
    with pytest.raises(KeyError):
        with translation:
            raise KeyError("zaak")
    with translation:
        pass


def test_with_a_logger_each_error_is_logged_with_its_text() -> None:
    """The zaakregister logs its database errors, text and all: its engine
    hides the parameters (the klantregister's does not, and logs none)."""
    events: list[dict[str, Any]] = []
    log = Logger(observer=events.append)
    for kind in (OperationalError, ProgrammingError):
        with pytest.raises(StufFault):
            with faults("zaakregister", details=lambda exc: "", log=log):
                raise _error(kind, "kapot")

    assert [formatEvent(event).split(":")[0] for event in events] == [
        "Zaakregister database unavailable",
        "Zaakregister database error",
    ]
    assert all("kapot" in formatEvent(event) for event in events)
