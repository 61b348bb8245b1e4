"""The errors the journal raises.

Each one is an :class:`~esb.errors.EmoError`; the broker turns a
:class:`JournalError` into a StUF046 fault ("Opslaan bericht niet mogelijk",
plek ``server``) because a message that could not be stored must not be
acknowledged::

    EmoError
    └── JournalError              the store failed (disk full, database gone)
        ├── DuplicateMessageError same zender and referentienummer again
        ├── UnknownMessageError   no message or delivery with that id
        └── WriterStoppedError    the group-commit writer takes no more writes

Errors of SQLAlchemy and the database drivers are translated into
:class:`JournalError` at the boundary (``raise ... from exc``), so callers never
import ``sqlalchemy.exc``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from esb.errors import EmoError

if TYPE_CHECKING:
    from esb.journal.records import JournalEntry


class JournalError(EmoError):
    """The journal could not store or read what was asked."""


class DuplicateMessageError(JournalError):
    """The zender sent this referentienummer before; nothing new was stored.

    StUF 03.01 makes the combination of zender and referentienummer unique
    (foutcode StUF016). EMO answers a repeat with the answer it gave the first
    time, so a sender that retries after a lost answer sees no second effect.
    ``original`` is the first message as journaled, with its stored ``answer``
    (``None`` while the first one has not been answered yet).
    """

    def __init__(self, original: JournalEntry) -> None:
        self.original = original
        super().__init__(
            f"message {original.id} from {original.zender.describe()} already "
            f"carries referentienummer {original.referentienummer!r}"
        )


class UnknownMessageError(JournalError):
    """No message (or delivery) with the given id is in the journal."""


class WriterStoppedError(JournalError):
    """The group-commit writer was stopped; the write was not stored."""
