"""Brings a journal database to the schema this code expects.

:meth:`esb.journal.Journal.open` calls :func:`upgrade` every time, so a new
release migrates the journal when the broker starts. There is no ``alembic.ini``;
to write the next migration, build the configuration here::

        from esb.journal.migrate import alembic_config
    command.revision(alembic_config("sqlite:///var/journal.sqlite3"),
                     "what changes", autogenerate=True, rev_id="0002")
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from esb import alembic_env as migrations_env

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "journal_alembic_version"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration for the journal's migrations."""
    return migrations_env.alembic_config(MIGRATIONS, url)


def upgrade(connection: sa.Connection) -> None:
    """Run every migration not yet applied and commit."""
    migrations_env.upgrade(connection, MIGRATIONS)


def head_revision() -> str | None:
    """The newest revision among the journal's migrations."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database is at; None before the first migration."""
    return migrations_env.current_revision(connection, VERSION_TABLE)
