"""Alembic's entry point for the klantregister's migrations (see
esb.alembic_env).

The version table is ``klantregister_alembic_version``: the register may
share a database with the broker's journal and the zaakregister, each with
migrations of its own.
"""

from __future__ import annotations

from esb.alembic_env import run_migrations
from registers.klantregister.database import VERSION_TABLE
from registers.klantregister.model import metadata

run_migrations(
    metadata,
    version_table=VERSION_TABLE,
    lock_key=0x4B524731,  # "KRG1"
    owner="the klantregister",
    table_prefix="krg_",
)
