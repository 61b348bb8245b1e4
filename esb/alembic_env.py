"""The one Alembic environment that EMO's databases share.

The journal, the zaakregister and the klantregister each keep their own
migrations, version table and table prefix, so they can live in one database
or in three. Their ``env.py`` files call :func:`run_migrations` with those.
This module imports nothing of the broker: the registers use it too.

An open connection comes in through ``config.attributes["connection"]`` (how
EMO migrates at start-up); the ``alembic`` command line gives only a URL. On
PostgreSQL, processes starting together take an advisory lock per owner, so
one of them migrates while the others wait. Migrations run online only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

IncludeObject = Callable[[object, str | None, str, bool, object], bool]
"""Alembic's ``include_object`` hook: (object, name, kind, reflected,
compare_to) -> whether autogenerate looks at it."""


def run_migrations(
    metadata: sa.MetaData,
    *,
    version_table: str,
    lock_key: int,
    owner: str,
    table_prefix: str,
) -> None:
    """Run the migrations of ``owner`` (e.g. "the journal") in this env.py."""
    if context.is_offline_mode():
        raise RuntimeError(f"{owner}'s migrations run online only")

    include_object = owned_by(table_prefix)

    def migrate(connection: sa.Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table=version_table,
            include_object=include_object,
            compare_type=True,
            # SQLite cannot ALTER most of a table; batch mode copies it.
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key}
                )
            context.run_migrations()

    config = context.config
    connection = config.attributes.get("connection")
    if isinstance(connection, sa.Connection):
        migrate(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection and no sqlalchemy.url given to Alembic")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            migrate(connection)
            connection.commit()
    finally:
        engine.dispose()


def owned_by(table_prefix: str) -> IncludeObject:
    """Alembic's ``include_object`` for the owner whose tables start with
    ``table_prefix`` (e.g. "zrg_").

    Other components' tables may share the database, and so may their
    indexes on this owner's tables: the zaakzoeker indexes ``zrg_rollen``
    for its searches as ``zzk_ix_zrg_rollen_bsn``. Autogenerate must not
    propose dropping either, so a table or index found in the database and
    absent from the owner's metadata counts only when its name is the
    owner's: the table starts with the prefix, the index with it, or with
    ``ix_`` or ``uq_`` and the prefix.
    """
    own_index = (table_prefix, f"ix_{table_prefix}", f"uq_{table_prefix}")

    def include_object(
        obj: object, name: str | None, kind: str, reflected: bool, compare_to: object
    ) -> bool:
        if not reflected or compare_to is not None or not name:
            return True
        if kind == "table":
            return name.startswith(table_prefix)
        if kind == "index":
            return name.startswith(own_index)
        return True

    return include_object


# Outside a migration run: the helpers each owner's module wraps.


def alembic_config(migrations: Path, url: str | None = None) -> Config:
    """An Alembic configuration for the migrations in ``migrations``.

    There is no ``alembic.ini``; write a migration with
    ``command.revision(<owner>.alembic_config(url), "what", autogenerate=True)``.
    """
    config = Config()
    config.set_main_option("script_location", str(migrations))
    if url is not None:
        # Config values go through configparser interpolation: escape "%".
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(connection: sa.Connection, migrations: Path) -> None:
    """Run every migration not yet applied and commit."""
    config = alembic_config(migrations)
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    connection.commit()


def current_revision(connection: sa.Connection, version_table: str) -> str | None:
    """The revision the database is at; None before the first migration."""
    migration = MigrationContext.configure(
        connection, opts={"version_table": version_table}
    )
    return migration.get_current_revision()
