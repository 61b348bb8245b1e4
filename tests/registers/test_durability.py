"""Both registers commit to disk before they answer: the broker records a
delivery as done once a register's commit returned and never delivers it
again, so a commit that a power cut could still take back would be a change
lost for good."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from registers.klantregister.database import Database as Klantregister
from registers.zaakregister.database import Database as Zaakregister


@pytest.mark.parametrize("register", [Zaakregister, Klantregister])
def test_sqlite_registers_commit_with_synchronous_full(
    register: Any, tmp_path: Path
) -> None:
    database = register.open(f"sqlite:///{tmp_path / 'register.db'}")
    try:
        with database.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    finally:
        database.close()
