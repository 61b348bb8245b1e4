"""Fixtures for the journal's tests: a journal on SQLite and on PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from esb.journal import Journal, ReceivedMessage
from esb.message import Party

ZENDER = Party(organisatie="0392", applicatie="ZSH")
ONTVANGER = Party(organisatie="0392", applicatie="EMO")

_ids = itertools.count(1)


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'journal.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def journal(database_url: str) -> Iterator[Journal]:
    journal = Journal.open(database_url)
    try:
        yield journal
    finally:
        journal.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'journal.sqlite3'}"


@pytest.fixture
def creeer_zaak(shared_stuf: Path) -> bytes:
    """A real creeerZaak_Lk01 as a case system sent it."""
    return (shared_stuf / "examples" / "haarlem" / "creeerzaakRequest.xml").read_bytes()


def _received(
    referentienummer: str | None = None,
    *,
    received_at: float = 1000.0,
    zender: Party = ZENDER,
    raw: bytes = b"<creeerZaak_Lk01/>",
    operation: str = "creeerZaak",
    answer: bytes | None = None,
) -> ReceivedMessage:
    """A message as the broker would journal it, with a fresh id."""
    number = next(_ids)
    return ReceivedMessage(
        id=f"msg-{number:06d}",
        received_at=received_at,
        source="soap",
        raw=raw,
        operation=operation,
        berichtcode="Lk01",
        zender=zender,
        ontvanger=ONTVANGER,
        referentienummer=referentienummer,
        soap_action="http://www.egem.nl/StUF/sector/zkn/0310/creeerZaak_Lk01",
        entiteittype="ZAK",
        validation_mode="strict",
        answer=answer,
    )


@pytest.fixture
def make_received() -> Callable[..., ReceivedMessage]:
    """Builds messages as the broker would journal them, each with a new id."""
    return _received
