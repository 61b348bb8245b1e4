"""What the registers' databases share: the faults their errors become.

The engine and its transactions are set up in :mod:`esb.engines`, alike for
the journal and both registers. A register's database error reaches the
sender as StUF058 with plek ``server``, which the broker may retry, and
never with the SQL text or its parameters: they may quote a BSN.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError
from twisted.logger import Logger

from esb.engines import Translation
from esb.errors import StufFault


def faults(
    register: str,
    *,
    details: Callable[[SQLAlchemyError], str],
    log: Logger | None = None,
) -> Translation:
    """The translation of ``register``'s database errors into StUF058.

    ``details`` says what failed when the database did answer; ``log``, when
    given, records each error with its text, so the register's engine must
    hide its parameters.
    """
    name = register.capitalize()

    def fault(
        exc: SQLAlchemyError, event: str, omschrijving: str, text: str
    ) -> StufFault:
        if log is not None:
            log.error(f"{name} {event}: {{error}}", error=str(exc))
        return StufFault(
            "StUF058", f"{name} {omschrijving}", plek="server", details=text
        )

    return Translation(
        # Locked, full or unreachable: trying again later can help.
        unavailable=lambda exc: fault(
            exc,
            event="database unavailable",
            omschrijving="tijdelijk niet beschikbaar",
            text=f"de database van het {register} antwoordt niet; probeer het "
            "later opnieuw",
        ),
        failed=lambda exc: fault(
            exc,
            event="database error",
            omschrijving="kon het bericht niet verwerken",
            text=details(exc),
        ),
    )
