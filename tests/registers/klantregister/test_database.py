"""The klantregister's database: migrations equal to the model, a version
table of its own, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from registers.klantregister.database import VERSION_TABLE, Database, current_revision
from registers.klantregister.model import metadata


def test_the_migrations_create_exactly_the_model(database_url: str) -> None:
    """Alembic finds no difference between the migrated database and the
    metadata in model.py (tables, columns, types, indexes)."""
    database = Database.open(database_url)
    try:
        with database.engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "include_object": lambda obj, name, kind, reflected, other: (
                        not (kind == "table" and name == VERSION_TABLE)
                    ),
                },
            )
            assert compare_metadata(context, metadata) == []
    finally:
        database.close()


def test_the_register_keeps_its_own_version_table(database_url: str) -> None:
    """klantregister_alembic_version, so it can share a database with the
    journal and the zaakregister; opening twice migrates once."""
    Database.open(database_url).close()
    database = Database.open(database_url)
    try:
        with database.engine.connect() as connection:
            assert current_revision(connection) == "krg_0002"
            tables = set(sa.inspect(connection).get_table_names())
        assert VERSION_TABLE in tables
        assert "alembic_version" not in tables
        assert {t for t in tables if t != VERSION_TABLE} <= {
            t for t in tables if t.startswith("krg_")
        }
    finally:
        database.close()
