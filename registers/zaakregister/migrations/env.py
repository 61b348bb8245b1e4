"""Alembic's entry point for the zaakregister's migrations (see
esb.alembic_env).

The version table is ``zaakregister_alembic_version``, so the register can
share one database with the broker's journal and the klantregister, each
with its own migrations.
"""

from __future__ import annotations

from esb.alembic_env import run_migrations
from registers.zaakregister.database import VERSION_TABLE
from registers.zaakregister.model import Base

run_migrations(
    Base.metadata,
    version_table=VERSION_TABLE,
    lock_key=0x5A524731,  # "ZRG1"
    owner="the zaakregister",
    table_prefix="zrg_",
)
