"""Brings a journal database to the schema this code expects.

:meth:`esb.journal.Journal.open` calls :func:`upgrade` every time, so a new
release migrates the journal when the broker starts. There is no ``alembic.ini``;
to write the next migration, build the configuration here::

    from alembic import command
    from esb.journal.migrate import alembic_config
    command.revision(alembic_config("sqlite:///var/journal.sqlite3"),
                     "what changes", autogenerate=True, rev_id="0002")
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "journal_alembic_version"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration for the journal's migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        # Config values go through configparser interpolation: escape "%".
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(connection: sa.Connection) -> None:
    """Run every migration not yet applied, in its own transaction, and commit."""
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    connection.commit()


def head_revision() -> str | None:
    """The newest revision among the journal's migrations."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database is at, ``None`` for an empty database."""
    context = MigrationContext.configure(
        connection, opts={"version_table": VERSION_TABLE}
    )
    return context.get_current_revision()
