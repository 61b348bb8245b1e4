"""EMO's zaakregister: zaken, their statuses, roles and documents.

The register answers every ZDS 1.1 and 1.2 operation (and the plain
StUF-ZKN 03.10 messages they are made of). The broker reaches it through
the ``zaakregister`` adapter (:mod:`esb.adapters.zaakregister`); the register
itself knows nothing of the broker: it takes an identified message and
returns an answer, speaking only the shared vocabulary of
:mod:`esb.message`, :mod:`esb.errors` and :mod:`esb.answers`.

The parts::

    register      Zaakregister.handle: dispatch to the operation, one
                  transaction per request
    zaken         the zaak operations and vragen
    documenten    the document operations and the checkout cycle
    gebeurtenissen  every change an event: the outbox, and the StUF
                  kennisgevingen the event source publishes
    inhoud        large document content streamed to and from the blobs
    parse         kennisgevingen read into plain records
    answers       La01, Du02, Bv02 built to the schemas' element order
    scope         what a vraag's scope keeps of an answer
    identificaties  generated identificaties from counters
    blobs         document content on disk
    model         the tables (SQLAlchemy ORM); migrations/ creates them
    database      the engine, migrations and transactions
"""

from __future__ import annotations

from registers.zaakregister.context import Config
from registers.zaakregister.identificaties import Pattern
from registers.zaakregister.register import Zaakregister

__all__ = ["Config", "Pattern", "Zaakregister"]
