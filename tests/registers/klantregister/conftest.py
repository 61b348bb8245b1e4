"""Fixtures for the klantregister: a register on SQLite or PostgreSQL, the
official schemas to check every message and answer against, and a way to
send a message through the register the way the broker's adapter does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from esb.errors import StufFault
from esb.schemaset import SchemaRegistry
from registers.klantregister import Klantregister
from registers.klantregister.database import Database
from tests.conftest import ZDS_12, ZDS_1102
from tests.registers.klantregister.berichten import identified, reparsed


class Clock:
    """A clock the tests move by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def schemas() -> SchemaRegistry:
    """Both official distributions, as the broker loads them."""
    return SchemaRegistry.load([ZDS_12, ZDS_1102])


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _open(url: str, clock: Clock) -> Klantregister:
    return Klantregister(Database.open(url), clock=clock)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'klantregister.db'}"


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The register's database: a SQLite file, and a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'klantregister.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def register(database_url: str, clock: Clock) -> Iterator[Klantregister]:
    opened = _open(database_url, clock)
    yield opened
    opened.close()


class Sender:
    """Sends messages to a register and checks both ways against the schemas."""

    def __init__(self, register: Klantregister, schemas: SchemaRegistry) -> None:
        self.register = register
        self.schemas = schemas
        self.count = 0

    def __call__(self, message: etree._Element) -> etree._Element:
        """The answer to ``message``; raises the register's StufFault."""
        body = reparsed(message)
        assert self.schemas.validate(body) == [], "the test message must validate"
        self.count += 1
        answer = self.register.handle(
            body, identified(body), referentienummer=f"emo-{self.count}"
        )
        assert answer is not None
        violations = self.schemas.validate(answer)
        assert violations == [], f"answer breaks the schema: {violations}"
        return answer

    def fault(self, message: etree._Element) -> StufFault:
        """The fault the register raises for ``message``."""
        with pytest.raises(StufFault) as raised:
            self(message)
        return raised.value


@pytest.fixture
def send(register: Klantregister, schemas: SchemaRegistry) -> Sender:
    return Sender(register, schemas)
