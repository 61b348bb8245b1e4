"""Alembic's entry point for the journal's migrations (see esb.alembic_env).

The version table is ``journal_alembic_version``, not Alembic's default, so the
journal and the registers can keep their own migrations in one database. It is
created unqualified, in the first schema of the connection's ``search_path`` on
PostgreSQL, like the journal's tables.
"""

from __future__ import annotations

from esb.alembic_env import run_migrations
from esb.journal.migrate import VERSION_TABLE
from esb.journal.schema import metadata

run_migrations(
    metadata,
    version_table=VERSION_TABLE,
    lock_key=0x454D4F4A,  # "EMOJ": an arbitrary constant per owner
    owner="the journal",
    table_prefix="journal_",
)
