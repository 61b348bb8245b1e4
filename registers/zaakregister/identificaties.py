"""Generated identificaties: genereerZaakIdentificatie, genereerDocumentIdentificatie.

An identificatie is made from a pattern (the destination setting
``identificatie_pattern`` for zaken, ``document_identificatie_pattern`` for
documents) with these fields::

    {organisatie}   the municipality (setting ``organisatie``, else the
                    request's ontvanger or zender organisatie)
    {year}          the current year
    {seq}           the next number of the series, e.g. {seq:07d}

StUF-ZKN 03.10 (ZaakIdentificatie, DocumentIdentificatie) allows 40
characters and says an identificatie starts with the gemeentecode; the
default patterns do that.

The number comes from a row in ``zrg_tellers`` per series, incremented with
an upsert that returns the new value inside the caller's transaction: on
PostgreSQL the row lock makes concurrent transactions wait for each other, on
SQLite the write transaction (BEGIN IMMEDIATE) does. A number a sender
already used for a zaak of its own (creeerZaak with its own identificatie)
is skipped.
"""

from __future__ import annotations

import string
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session

from esb.errors import StufFault
from registers.zaakregister.model import Teller

ZAAK_PATTERN = "{organisatie}-{year}-{seq:07d}"
DOCUMENT_PATTERN = "{organisatie}-D{year}-{seq:07d}"
IDENTIFICATIE_MAX = 40
FIELDS = frozenset({"organisatie", "year", "seq"})


@dataclass(frozen=True, slots=True)
class Pattern:
    """A checked identificatie pattern."""

    text: str

    @classmethod
    def parse(cls, text: str) -> Pattern:
        """Check that ``text`` names only known fields and has a {seq}.

        Raises ValueError saying what is wrong.
        """
        try:
            names = {
                field for _, field, _, _ in string.Formatter().parse(text) if field
            }
        except ValueError as exc:
            raise ValueError(f"identificatie pattern {text!r}: {exc}") from exc
        unknown = names - FIELDS
        if unknown:
            raise ValueError(
                f"identificatie pattern {text!r} names unknown field(s) "
                f"{', '.join(sorted(unknown))}; known: {', '.join(sorted(FIELDS))}"
            )
        if "seq" not in names:
            raise ValueError(f"identificatie pattern {text!r} has no {{seq}}")
        pattern = cls(text)
        pattern.render("0000", 2000, 1)  # a format spec that does not fit fails here
        return pattern

    def render(self, organisatie: str, year: int, seq: int) -> str:
        return self.text.format(organisatie=organisatie, year=year, seq=seq)

    def series(self, kind: str, organisatie: str, year: int) -> str:
        """The counter's name: what it counts and the fixed parts."""
        parts = [kind, organisatie if "{organisatie" in self.text else ""]
        parts.append(str(year) if "{year" in self.text else "")
        return ":".join(parts)


def next_value(session: Session, series: str) -> int:
    """Increment the counter ``series`` (creating it at 1) and return it."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(Teller)
        .values(reeks=series, waarde=1)
        .on_conflict_do_update(
            index_elements=[Teller.reeks],
            set_={"waarde": Teller.waarde + 1},
        )
        .returning(Teller.waarde)
    )
    return int(session.execute(statement).scalar_one())


def generate(
    session: Session,
    pattern: Pattern,
    kind: str,
    organisatie: str,
    taken: Callable[[str], bool],
    *,
    now: float | None = None,
) -> str:
    """The next identificatie of ``kind`` that ``taken`` says is free."""
    year = time.localtime(time.time() if now is None else now).tm_year
    series = pattern.series(kind, organisatie, year)
    # A series that runs into numbers senders chose themselves skips them;
    # the bound only stops a pattern that can never yield a free one.
    for _ in range(1000):
        identificatie = pattern.render(organisatie, year, next_value(session, series))
        if len(identificatie) > IDENTIFICATIE_MAX:
            raise StufFault(
                "StUF058",
                "Identificatie te lang",
                plek="server",
                details=f"het patroon maakt '{identificatie}', langer dan "
                f"{IDENTIFICATIE_MAX} tekens",
            )
        if not taken(identificatie):
            return identificatie
    raise StufFault(
        "StUF058",
        "Geen vrije identificatie gevonden",
        plek="server",
        details=f"reeks {series}: 1000 opeenvolgende nummers zijn al in gebruik",
    )


def exists(
    session: Session, column: InstrumentedAttribute[str]
) -> Callable[[str], bool]:
    """A ``taken`` test: whether a row with this identificatie exists."""

    def taken(identificatie: str) -> bool:
        query = sa.select(sa.literal(1)).where(column == identificatie).limit(1)
        return session.execute(query).first() is not None

    return taken
