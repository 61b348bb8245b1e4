"""The klantregister: EMO's register of the municipality's clients.

Natural persons (by BSN), niet-natuurlijke personen (by RSIN or KvK number)
and their vestigingen (by vestigingsnummer), with their addresses and
contact details and the history of every change, spoken to in StUF-BG 03.10.

The broker reaches it through the ``klantregister`` destination type
(:mod:`esb.adapters.klantregister`); the default routes send everything
that arrives at ``/stuf/bg`` there. Module by module:

==================  ==========================================================
``register``        :class:`Klantregister`: a message in, an answer out
``kennisgeving``    npsLk01/nnpLk01/vesLk01: T, W (was/wordt), V, C
``vraag``           npsLv01/nnpLv01/vesLv01 -> npsLa01/...: selection, scope,
                    maximumAantal, vervolgvraag (start)
``historie``        Lv03/Lv05 (state at a peiltijdstip), Lv07/Lv09 (history
                    groups), from the history rows
``betrokkenen``     learning initiators from zaken (one view of a client)
``entiteiten``      which StUF-BG elements are kept, in which column
``objecten``        reading and writing StUF-BG objects by those layouts
``store``           finding and changing subjects, with history
``model``           the tables; ``migrations/`` creates them (Alembic)
``database``        the engine, migrations and transactions
``importer``        ``emo klanten import FILE.csv``: bulk import, resumable
``bulk``            the import's row checks and batch writes
``nummers``         the 11-test and the other number checks; masking
==================  ==========================================================

How zaken teach the register its clients (for the lead to choose): either a
route sends a copy of every zaak kennisgeving to the klantregister,

.. code-block:: yaml

    - id: zds
      from: soap:/stuf/zds
      steps: [{wiretap: klantregister}]
      reply: zaakregister

and the register learns each ``heeftAlsInitiator`` of ``creeerZaak``,
``updateZaak`` and ``zakLk01`` (ignoring every other ZDS message); or the
zaakregister publishes an ``npsLk01`` / ``nnpLk01`` T with
``indicatorOvername`` I per initiator; or, in one process, calls
:meth:`Klantregister.learn_from_betrokkene` with plain data.
"""

from __future__ import annotations

from registers.klantregister.kennisgeving import Uitkomst
from registers.klantregister.register import Klantregister

__all__ = ["Klantregister", "Uitkomst"]
