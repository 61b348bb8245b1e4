"""Alembic's entry point for the zaakzoeker's migrations (see
esb.alembic_env).

The version table is ``zaakzoeker_alembic_version``: the zaakzoeker keeps
its tables (prefix ``zzk_``) in the zaakregister's database, beside the
register's own history.
"""

from __future__ import annotations

from esb.alembic_env import run_migrations
from zaakzoeker.database import VERSION_TABLE, metadata

run_migrations(
    metadata,
    version_table=VERSION_TABLE,
    lock_key=0x5A5A4B31,  # "ZZK1"
    owner="the zaakzoeker",
    table_prefix="zzk_",
)
