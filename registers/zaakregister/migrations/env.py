"""Alembic's entry point for the zaakregister's migrations.

:func:`registers.zaakregister.database.upgrade` hands in an open connection
through ``config.attributes["connection"]``; the ``alembic`` command line
(with :func:`registers.zaakregister.database.alembic_config`) gives a URL.

The version table is ``zaakregister_alembic_version``, so the register can
share one database with the broker's journal and the klantregister, each
with its own migrations.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from registers.zaakregister.database import VERSION_TABLE
from registers.zaakregister.model import Base

# On PostgreSQL, processes starting together take this advisory lock so that
# one of them runs the migrations. An arbitrary constant: "ZRG1".
_PG_MIGRATION_LOCK = 0x5A524731


def _migrate(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
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
    raise RuntimeError("the zaakregister's migrations run online only")
_run()
