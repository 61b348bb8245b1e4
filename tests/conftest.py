"""Fixtures shared by every test: where the shared test data is, and services.

Tests that need PostgreSQL or RabbitMQ use the real servers on 127.0.0.1.
Without them they skip, saying why, unless ``EMO_REQUIRE_SERVICES=1`` (set by
``.ci/run``), in which case a missing service is a failure.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
STUF = SHARED / "stuf"
EXAMPLES = STUF / "examples"
ZDS_12 = STUF / "zds-1.2"
ZDS_1102 = STUF / "zds-1.1.02"

POSTGRES_URL = os.environ.get(
    "EMO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
RABBITMQ_HOST = os.environ.get("EMO_TEST_RABBITMQ_HOST", "127.0.0.1")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def need_service(name: str, host: str, port: int) -> None:
    """Skip the calling test when a service is down, or fail under CI."""
    if _reachable(host, port):
        return
    reason = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("EMO_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}, and EMO_REQUIRE_SERVICES=1 demands it")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_stuf() -> Path:
    if not STUF.is_dir():
        pytest.fail(f"the shared StUF test data is missing: {STUF}")
    return STUF


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema for one test, dropped afterwards."""
    need_service("PostgreSQL", "127.0.0.1", 5432)
    import sqlalchemy as sa

    schema = f"emo_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def rabbitmq_host() -> str:
    need_service("RabbitMQ", RABBITMQ_HOST, 5672)
    return RABBITMQ_HOST
