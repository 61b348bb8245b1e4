"""Free text over each zaak's omschrijving and toelichting, per database.

- PostgreSQL: ``websearch_to_tsquery('dutch', tekst)`` against each
  zaak's stored tsvector of omschrijving and toelichting (GIN-indexed,
  zzk_zaak_tekst), with Dutch stemming ("aanvragen" finds "aanvraag"),
  phrases in quotes, ``or`` and ``-woord``.
- SQLite: FTS5 without stemming; every word of the text must occur, as a
  word or as the start of one ("vergun" finds "vergunning", but
  "aanvragen" does not find "aanvraag").

Migration 0001 builds both indexes and the triggers that keep them. A match
is two conditions on zrg_zaken (see :meth:`zaakzoeker.search.Zoeker._page`
for when each is used): ``found`` takes every matching zaak from the index
at once, ``checked`` tests one zaak at a time while a sort index is walked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast

import sqlalchemy as sa

from registers.zaakregister import model

_ZAKEN = cast(sa.Table, model.Zaak.__table__)

_WORD = re.compile(r"\w+")
# FTS5 is given at most this many words of a text.
_FTS_WORDS = 32


@dataclass(frozen=True)
class TekstMatch:
    """The zaken whose texts match, as two equivalent conditions."""

    found: sa.ColumnElement[bool]
    checked: sa.ColumnElement[bool]


def words(tekst: str) -> list[str]:
    """The words of a text (runs of letters and digits); a text without
    any cannot be searched."""
    return _WORD.findall(tekst)


def match(connection: sa.Connection, tekst: str) -> TekstMatch | None:
    """The conditions for the zaken that match ``tekst``, which has
    :func:`words`; None when every word is one PostgreSQL's Dutch
    dictionary leaves out as too common ("de", "het", "en")."""
    if connection.dialect.name == "postgresql":
        return _postgresql(connection, tekst)
    return _sqlite(tekst)


def _postgresql(connection: sa.Connection, tekst: str) -> TekstMatch | None:
    nodes = connection.execute(
        sa.text("SELECT numnode(websearch_to_tsquery('dutch', :tekst))"),
        {"tekst": tekst},
    ).scalar_one()
    if not nodes:
        return None
    query = "websearch_to_tsquery('dutch'::regconfig, :tekst)"
    found = _ZAKEN.c.id.in_(
        sa.select(sa.column("zaak_id"))
        .select_from(sa.table("zzk_zaak_tekst"))
        .where(sa.text(f"tekst @@ {query}").bindparams(tekst=tekst))
    )
    # One zaak at a time, while walking a sort index (migration 0001 says
    # why this is a function).
    checked = cast(
        sa.ColumnElement[bool],
        sa.text(f"zzk_tekst_past(zrg_zaken.id, {query})").bindparams(tekst=tekst),
    )
    return TekstMatch(found, checked)


def _sqlite(tekst: str) -> TekstMatch:
    # Each word as a quoted prefix, all of them required.
    fts = " ".join(f'"{word}"*' for word in words(tekst)[:_FTS_WORDS])
    found = _ZAKEN.c.id.in_(
        sa.select(sa.column("rowid"))
        .select_from(sa.table("zzk_zaken_fts"))
        .where(sa.text("zzk_zaken_fts MATCH :fts").bindparams(fts=fts))
    )
    return TekstMatch(found, found)
