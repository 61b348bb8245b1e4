"""Alembic's entry point for the journal's migrations.

:func:`esb.journal.migrate.upgrade` hands in an open connection through
``config.attributes["connection"]``; the ``alembic`` command line (with the
config from :func:`esb.journal.migrate.alembic_config`) gives only a URL.

The version table is ``journal_alembic_version``, not Alembic's default, so the
journal and the registers can keep their own migrations in one database. It is
created unqualified, in the first schema of the connection's ``search_path`` on
PostgreSQL, like the journal's tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from esb.journal.migrate import VERSION_TABLE
from esb.journal.schema import metadata

# An arbitrary constant key: on PostgreSQL, broker processes starting together
# take this advisory lock so that only one of them runs the migrations.
_PG_MIGRATION_LOCK = 0x454D4F4A  # "EMOJ"


def _migrate(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        compare_type=True,
        # SQLite cannot ALTER most of a table; batch mode copies it instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"),
                {"key": _PG_MIGRATION_LOCK},
            )
        context.run_migrations()


def _run() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if isinstance(connection, sa.Connection):
        _migrate(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection and no sqlalchemy.url given to Alembic")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            _migrate(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("the journal's migrations run online only")
_run()
