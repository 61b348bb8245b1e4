"""Alembic's entry point for the klantregister's migrations.

:func:`registers.klantregister.database.upgrade` passes an open connection in
``config.attributes["connection"]``; the ``alembic`` command line, given
:func:`registers.klantregister.database.alembic_config`, passes a URL.

The version table is ``klantregister_alembic_version``: the register may
share a database with the broker's journal and the zaakregister, each with
migrations of its own.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from registers.klantregister.database import VERSION_TABLE
from registers.klantregister.model import metadata

# On PostgreSQL, broker processes starting together take this advisory lock,
# so that one of them migrates while the others wait. "KRG1" in ASCII.
_PG_MIGRATION_LOCK = 0x4B524731


def _include_object(
    obj: object, name: str | None, kind: str, reflected: bool, compare_to: object
) -> bool:
    # Other components' tables share the database; autogenerate must not
    # propose dropping them.
    if kind == "table" and reflected and compare_to is None:
        return bool(name and name.startswith("krg_"))
    return True


def _migrate(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        include_object=_include_object,
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
    raise RuntimeError("the klantregister's migrations run online only")
_run()
