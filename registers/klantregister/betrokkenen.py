"""One view of a client: learning persons and companies from zaken.

When a zaak arrives with an initiator, the klantregister learns of that
person or company: it is added when unknown, brought up to date when known,
and never duplicated (the BSN, RSIN, KvK number or vestigingsnummer decides
who it is). Learning only adds knowledge: a value the zaak leaves empty
never erases one the register has, but an address given with any value
replaces the old address whole.

Two ways in, both ending in :func:`learn`:

- :func:`read_betrokkene` takes plain data (``{"bsn": ..., "geslachtsnaam":
  ..., "verblijf_postcode": ...}`` or ``{"rsin"/"kvk_nummer": ...,
  "statutaire_naam": ...}``), for a zaakregister that calls
  ``Klantregister.learn_from_betrokkene`` itself;
- :func:`read_initiators` takes a ZDS or StUF-ZKN zaak kennisgeving
  (``creeerZaak``, ``updateZaak``, ``zakLk01``) as the broker delivers it,
  and reads ``heeftAlsInitiator/gerelateerde`` (``natuurlijkPersoon``,
  ``nietNatuurlijkPersoon``, ``vestiging``: the same BG elements as a
  StUF-BG object).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from lxml import etree

from esb.errors import StufFault, Violation
from registers.klantregister import kennisgeving, nummers, store
from registers.klantregister.database import Database
from registers.klantregister.entiteiten import (
    NNP,
    NPS,
    VES,
    Entiteit,
    Leaf,
)
from registers.klantregister.kennisgeving import Uitkomst
from registers.klantregister.objecten import Gegevens, read_object
from registers.klantregister.store import Bron
from registers.stuf import STUF, children, is_nil, local

# The gerelateerde of a ZKN betrokkene, and the entiteit it is.
_GERELATEERDEN: dict[str, Entiteit] = {
    "natuurlijkPersoon": NPS,
    "nietNatuurlijkPersoon": NNP,
    "vestiging": VES,
}


@dataclass(frozen=True)
class Betrokkene:
    """A person or company as a zaak names it, checked and normalised."""

    entiteit: Entiteit
    gegevens: Gegevens


def read_betrokkene(data: Mapping[str, str | None]) -> Betrokkene:
    """Plain data as a :class:`Betrokkene`; the keys are the columns of
    :mod:`registers.klantregister.model` (``bsn``, ``voornamen``,
    ``verblijf_postcode``, ..., or ``rsin``, ``kvk_nummer``,
    ``statutaire_naam``, ...; or ``vestigingsnummer``, ``handelsnaam``).

    Raises ValueError for a key the register does not know (a programming
    error) and StufFault StUF055 for a value it cannot accept.
    """
    if data.get("bsn"):
        entiteit = NPS
    elif data.get("vestigingsnummer"):
        entiteit = VES
    elif data.get("rsin") or data.get("kvk_nummer"):
        entiteit = NNP
    else:
        raise StufFault(
            "StUF055",
            "Betrokkene zonder BSN, RSIN, KvK-nummer of vestigingsnummer",
            details="het klantregister kan een betrokkene alleen aan een nummer "
            "herkennen",
        )
    allowed = set(entiteit.columns)
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(
            f"unknown {entiteit.code} fields: {', '.join(unknown)}; "
            f"known: {', '.join(entiteit.columns)}"
        )

    fields = entiteit.fields
    gegevens: Gegevens = {}
    violations: list[Violation] = []
    for column, raw in data.items():
        value = raw.strip() if isinstance(raw, str) else None
        if column.endswith("_indicator"):
            continue
        if not value:
            gegevens[column] = None
            continue
        node = fields.get(column)
        try:
            if isinstance(node, Leaf) and node.datum:
                indicator = data.get(f"{column}_indicator")
                value, found = nummers.datum(value, indicator or None)
                gegevens[f"{column}_indicator"] = found
            elif node is not None and node.check is not None:
                value = node.check(value)
            length = node.length if isinstance(node, Leaf) else None
            if length is not None and len(value) > length:
                raise nummers.InvalidValue(f"{column} is langer dan {length} tekens")
        except nummers.InvalidValue as exc:
            violations.append(Violation(None, f"/betrokkene/{column}", str(exc)))
            continue
        gegevens[column] = value
    if violations:
        raise kennisgeving.invalid(violations)
    return Betrokkene(entiteit, gegevens)


def read_initiators(body: etree._Element, mutatiesoort: str | None) -> list[Betrokkene]:
    """The initiators of a zaak kennisgeving, checked.

    Of a wijziging (two objects, was and wordt) only the wordt counts. An
    initiator without a number to know it by is passed over: the register
    cannot tell whether it knows that person.
    """
    objects = [o for o in children(body, "object") if not is_nil(o)]
    if not objects:
        return []
    zaak = objects[-1]
    found: list[Betrokkene] = []
    violations: list[Violation] = []
    for gerelateerde in _initiators(zaak):
        entiteit = _GERELATEERDEN[local(gerelateerde)]
        gelezen = read_object(gerelateerde, entiteit.kennisgeving)
        if gelezen.violations:
            violations.extend(gelezen.violations)
            continue
        if not any(gelezen.gegevens.get(key) for key in entiteit.keys):
            continue
        found.append(Betrokkene(entiteit, gelezen.gegevens))
    if violations:
        raise kennisgeving.invalid(violations)
    return found


def _initiators(zaak: etree._Element) -> Iterator[etree._Element]:
    for rol in children(zaak, "heeftAlsInitiator"):
        if is_nil(rol) or rol.get(f"{STUF}verwerkingssoort") == "V":
            continue
        for gerelateerde in children(rol, "gerelateerde"):
            for betrokkene in children(gerelateerde):
                if local(betrokkene) in _GERELATEERDEN and not is_nil(betrokkene):
                    yield betrokkene


def unchanged(database: Database, betrokkene: Betrokkene) -> Uitkomst | None:
    """``ongewijzigd`` when the register holds ``betrokkene`` as given, so
    that :func:`learn` would change nothing; None when it would add, revive
    or change a subject (or refuse contradicting numbers).

    Read outside any transaction: most zaken name a client the register
    knows just so, and a look-up costs a fraction of a write transaction
    (which on SQLite holds the database's one write lock). A writer that
    changes the subject right after the look-up changes nothing in the
    answer: that is the same as the zaak's learning coming first.
    """
    entiteit = betrokkene.entiteit
    known = kennisgeving.known_values(entiteit, betrokkene.gegevens)
    subject = store.look_up(database, entiteit, known)
    # Numbers that contradict the stored ones differ too: learn refuses them.
    if (
        subject is None
        or subject.verwijderd
        or store.differences(subject.gegevens, known)
    ):
        return None
    return Uitkomst(entiteit.code, subject.id, "ongewijzigd")


def learn(
    connection: sa.Connection, betrokkene: Betrokkene, bron: Bron, now: float
) -> Uitkomst:
    """Add ``betrokkene``, or bring what the register knows up to date."""
    entiteit = betrokkene.entiteit
    known = kennisgeving.known_values(entiteit, betrokkene.gegevens)
    subject = store.find(connection, entiteit, known, lock=True)
    if subject is None:
        subject_id = store.insert(connection, entiteit, known, bron, now)
        return Uitkomst(entiteit.code, subject_id, "aangemaakt")
    if subject.verwijderd:
        store.change(connection, entiteit, subject, known, "T", bron, now, replace=True)
        return Uitkomst(entiteit.code, subject.id, "aangemaakt")
    _check_other_keys(entiteit, subject, known)
    return kennisgeving.merge(connection, entiteit, subject, known, bron, now)


def _check_other_keys(
    entiteit: Entiteit, subject: store.Subject, known: Gegevens
) -> None:
    # A company known by its RSIN and named with another KvK number than the
    # one stored: one of the two numbers is wrong, and guessing which would
    # merge two companies.
    for key in entiteit.keys:
        stored, given = subject.gegevens.get(key), known.get(key)
        if stored and given and stored != given:
            raise StufFault(
                "StUF058",
                "Nummers van de betrokkene spreken elkaar tegen",
                details=f"de {entiteit.naam} in het klantregister heeft een ander "
                f"{key.replace('_', '-')} dan de betrokkene",
            )
