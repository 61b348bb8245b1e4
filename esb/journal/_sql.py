"""The statements on the message path, compiled once and run on the driver.

Every message costs the journal about ten statements. Executing a Core
statement through SQLAlchemy costs about 120 µs of Python on the machines EMO
is measured on (about 450 µs when the statement is built anew), against 3 µs
for the same SQL on the driver's cursor: the difference between a journal that
keeps up with the broker and one that holds the GIL most of the time.

So the statements of the message path are written as Core (one source for
table and column names, and SQL in each dialect's own form) and compiled once
per dialect into SQL text, which :class:`Prepared` runs on the DBAPI cursor of
the connection, inside the transaction SQLAlchemy began. The cold paths
(operators, queries, purge) use Core as usual.

The journal's column types need no bind or result processing on either
driver (strings, floats, integers and bytes go through as they are), which is
what makes this safe; a column type that needs processing must not be written
here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.interfaces import Dialect

from esb.journal.errors import JournalError
from esb.journal.schema import answers, attempts, deliveries, messages, payloads

_ONE: sa.ColumnClause[int] = sa.literal_column("1", sa.Integer())


@dataclass(frozen=True, slots=True)
class Prepared:
    """SQL text for one dialect and the order of its parameters."""

    sql: str
    # The parameter names in order for positional paramstyles (SQLite's
    # qmark), None for named ones (psycopg's pyformat).
    order: tuple[str, ...] | None

    @classmethod
    def compile(
        cls,
        statement: sa.ClauseElement,
        dialect: Dialect,
        column_keys: Sequence[str] | None = None,
    ) -> Prepared:
        compiled = statement.compile(dialect=dialect, column_keys=column_keys)
        # positiontup is set by SQLCompiler, which every DML/select compiles to.
        order = getattr(compiled, "positiontup", None)
        return cls(compiled.string, tuple(order) if order is not None else None)

    def bind(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        if self.order is None:
            return values
        return tuple(values[name] for name in self.order)


_MESSAGE_COLUMNS = [column.name for column in messages.c if column.name != "seq"]
_DELIVERY_COLUMNS = [column.name for column in deliveries.c if column.name != "id"]
_ATTEMPT_COLUMNS = [column.name for column in attempts.c if column.name != "id"]
# The column orders of the bulk statements' rows.
MESSAGE_COLUMNS = tuple(_MESSAGE_COLUMNS)
DELIVERY_COLUMNS = tuple(_DELIVERY_COLUMNS)
ATTEMPT_COLUMNS = tuple(_ATTEMPT_COLUMNS)


class HotStatements:
    """The message path's statements, compiled for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        # ON CONFLICT DO NOTHING with RETURNING: a row back means stored, no
        # row means the zender/referentienummer index (or the key) was hit.
        # No conflict target, so it covers the expression index too.
        if dialect.name == "postgresql":
            insert: sa.Insert = postgresql.insert(messages).on_conflict_do_nothing()
        elif dialect.name == "sqlite":
            insert = sqlite.insert(messages).on_conflict_do_nothing()
        else:
            raise JournalError(f"the journal does not support {dialect.name} databases")

        def prepare(
            statement: sa.ClauseElement, column_keys: Sequence[str] | None = None
        ) -> Prepared:
            return Prepared.compile(statement, dialect, column_keys)

        self.insert_message = prepare(
            insert.returning(messages.c.seq), _MESSAGE_COLUMNS
        )
        # On PostgreSQL the message and its bytes go in one statement (a
        # data-modifying WITH), saving a round trip per message; like
        # insert_message, it returns the seq, or no row for a duplicate.
        # SQLite has no DML in WITH, and takes large bytes through a blob.
        self.insert_message_and_payload: Prepared | None = None
        if dialect.name == "postgresql":
            stored = (
                insert.values({name: sa.bindparam(name) for name in _MESSAGE_COLUMNS})
                .returning(messages.c.seq)
                .cte("stored")
            )
            self.insert_message_and_payload = prepare(
                sa.insert(payloads)
                .from_select(
                    ["message_seq", "raw"],
                    sa.select(
                        stored.c.seq, sa.bindparam("b_raw", type_=sa.LargeBinary)
                    ),
                )
                .returning(payloads.c.message_seq)
            )
        self.route_message = prepare(
            sa.update(messages)
            .where(messages.c.id == sa.bindparam("b_id"))
            .values(
                state=sa.bindparam("b_state"),
                route=sa.bindparam("b_route"),
                updated_at=sa.bindparam("b_now"),
            )
            .returning(messages.c.seq)
        )
        self.insert_delivery = prepare(
            sa.insert(deliveries).returning(deliveries.c.id), _DELIVERY_COLUMNS
        )
        self.end_attempt = prepare(
            sa.update(deliveries)
            .where(deliveries.c.id == sa.bindparam("b_id"))
            .values(
                state=sa.bindparam("b_state"),
                attempts=deliveries.c.attempts + _ONE,
                next_attempt_at=sa.bindparam("b_next"),
                last_error=sa.bindparam("b_error"),
                updated_at=sa.bindparam("b_now"),
            )
            .returning(deliveries.c.message_seq)
        )
        self.insert_attempt = prepare(sa.insert(attempts), _ATTEMPT_COLUMNS)
        # Settling a message reads its state and its deliveries' states. On
        # PostgreSQL the message row is locked first, and the deliveries read
        # by a second statement that sees what was committed while waiting
        # for the lock (see Transaction.settle_message). SQLite has a single
        # writer: one joined read does.
        self.locks_rows = dialect.name == "postgresql"
        if self.locks_rows:
            reading = (
                sa.select(messages.c.state)
                .where(messages.c.seq == sa.bindparam("b_seq"))
                .with_for_update()
            )
        else:
            reading = (
                sa.select(messages.c.state, deliveries.c.state)
                .select_from(
                    messages.outerjoin(
                        deliveries, deliveries.c.message_seq == messages.c.seq
                    )
                )
                .where(messages.c.seq == sa.bindparam("b_seq"))
            )
        self.message_and_delivery_states = prepare(reading)
        self.delivery_states = prepare(
            sa.select(deliveries.c.state).where(
                deliveries.c.message_seq == sa.bindparam("b_seq")
            )
        )
        self.set_message_state = prepare(
            sa.update(messages)
            .where(messages.c.seq == sa.bindparam("b_seq"))
            .values(state=sa.bindparam("b_state"), updated_at=sa.bindparam("b_now"))
        )
        # Bytes and answers go to tables of their own, inserted once. A large
        # one on SQLite is inserted as zeroblob(n) and then written through a
        # blob handle (see _blobs); ``blobs`` says whether to, and the
        # zeroblob statements are used only then.
        self.blobs = dialect.name == "sqlite"
        zeroblob = sa.func.zeroblob(sa.bindparam("b_size"))
        self.insert_payload = prepare(
            sa.insert(payloads).values(
                message_seq=sa.bindparam("b_seq"), raw=sa.bindparam("b_raw")
            )
        )
        self.insert_payload_zeroblob = prepare(
            sa.insert(payloads).values(message_seq=sa.bindparam("b_seq"), raw=zeroblob)
        )
        # The answer of message ``b_seq``, replacing one stored before.
        self.put_answer = prepare(_upsert_answer(dialect, sa.bindparam("b_answer")))
        self.put_answer_zeroblob = prepare(_upsert_answer(dialect, zeroblob))
        # The same by the message's id, in one statement; returns the seq, no
        # row for an unknown id. Not for zeroblob(): SQLite builds a zeroblob
        # in memory when it comes from a SELECT (68 MiB for 34 MB), not when
        # it comes from VALUES.
        self.store_answer = prepare(
            _upsert_answer(dialect, sa.bindparam("b_answer"), by_id=True)
        )
        self.message_seq = prepare(
            sa.select(messages.c.seq).where(messages.c.id == sa.bindparam("b_id"))
        )
        self.bulk = BulkStatements(dialect)


def _upsert_answer(
    dialect: Dialect, answer: sa.ColumnElement[Any], *, by_id: bool = False
) -> sa.ClauseElement:
    """INSERT a message's answer, or replace the one it has (ON CONFLICT DO
    UPDATE). The message is ``b_seq``, or with ``by_id`` the one whose id is
    ``b_id`` (its seq is returned)."""
    if dialect.name == "postgresql":
        insert: postgresql.Insert | sqlite.Insert = postgresql.insert(answers)
    else:
        insert = sqlite.insert(answers)
    if by_id:
        # SQLite parses an upsert after INSERT ... SELECT only when the
        # SELECT has a WHERE clause, which this one has.
        source = sa.select(
            messages.c.seq, sa.bindparam("b_now", type_=sa.Float), answer
        ).where(messages.c.id == sa.bindparam("b_id"))
        insert = insert.from_select(["message_seq", "answered_at", "answer"], source)
    else:
        insert = insert.values(
            message_seq=sa.bindparam("b_seq"),
            answered_at=sa.bindparam("b_now"),
            answer=answer,
        )
    upsert = insert.on_conflict_do_update(
        index_elements=[answers.c.message_seq],
        set_={
            "answered_at": insert.excluded.answered_at,
            "answer": insert.excluded.answer,
        },
    )
    return upsert.returning(answers.c.message_seq) if by_id else upsert


_compiled: dict[str, HotStatements] = {}


def hot_statements(dialect: Dialect) -> HotStatements:
    """The statements for ``dialect``, compiled on first use."""
    key = f"{dialect.name}+{dialect.driver}"
    statements = _compiled.get(key)
    if statements is None:
        # Two threads may both compile; the results are equal.
        statements = _compiled[key] = HotStatements(dialect)
    return statements


def _per_size(
    make: Callable[[BulkStatements, int], str],
) -> Callable[[BulkStatements, int], str]:
    """A statement's text for ``n`` rows, made on first use and kept."""

    @functools.wraps(make)
    def made(self: BulkStatements, n: int) -> str:
        key = (make.__name__, n)
        text = self._made.get(key)
        if text is None:
            text = self._made[key] = make(self, n)
        return text

    return made


class BulkStatements:
    """The multi-row statements of :mod:`esb.journal.bulk`, for one dialect.

    Each method gives the SQL text for ``n`` rows, made once per size. The
    bulk writes send rows in chunks whose sizes are powers of two
    (:func:`chunks`), so a batch of any size uses a handful of statements
    and the driver's statement cache keeps them prepared.

    Placeholders are positional (``?`` for sqlite3, ``%s`` for psycopg), and
    the parameters go row after row, column after column: the order the
    column lists below give.
    """

    def __init__(self, dialect: Dialect) -> None:
        if dialect.name not in ("sqlite", "postgresql"):
            raise JournalError(f"the journal does not support {dialect.name} databases")
        self.locks_rows = dialect.name == "postgresql"
        self._mark = "%s" if dialect.name == "postgresql" else "?"
        self._made: dict[tuple[str, int], str] = {}

    def _rows(self, n: int, width: int) -> str:
        row = "(" + ", ".join([self._mark] * width) + ")"
        return ", ".join([row] * n)

    def _marks(self, n: int) -> str:
        return ", ".join([self._mark] * n)

    @_per_size
    def insert_messages(self, n: int) -> str:
        """Messages; returns ``seq, id`` of those stored (not of duplicates)."""
        return (
            f"INSERT INTO {messages.name} ({', '.join(MESSAGE_COLUMNS)}) "
            f"VALUES {self._rows(n, len(MESSAGE_COLUMNS))} "
            "ON CONFLICT DO NOTHING RETURNING seq, id"
        )

    @_per_size
    def insert_payloads(self, n: int) -> str:
        """Rows of ``message_seq, raw``."""
        return (
            f"INSERT INTO {payloads.name} (message_seq, raw) VALUES {self._rows(n, 2)}"
        )

    @_per_size
    def put_answers(self, n: int) -> str:
        """Rows of ``message_seq, answered_at, answer``, replacing any stored."""
        return (
            f"INSERT INTO {answers.name} (message_seq, answered_at, answer) "
            f"VALUES {self._rows(n, 3)} ON CONFLICT (message_seq) DO UPDATE SET "
            "answered_at = excluded.answered_at, answer = excluded.answer"
        )

    @_per_size
    def insert_deliveries(self, n: int) -> str:
        """Deliveries; returns ``id, message_seq, destination, mode``."""
        return (
            f"INSERT INTO {deliveries.name} ({', '.join(DELIVERY_COLUMNS)}) "
            f"VALUES {self._rows(n, len(DELIVERY_COLUMNS))} "
            "RETURNING id, message_seq, destination, mode"
        )

    @_per_size
    def deliver(self, n: int) -> str:
        """Rows of ``delivery id, now``: each delivery delivered, one attempt
        more; returns ``id, message_seq`` of those found."""
        # VALUES names its columns column1, column2, ... in SQLite and
        # PostgreSQL alike, and neither lets an UPDATE's RETURNING name the
        # FROM clause's columns, which it does not need to.
        table = deliveries.name
        return (
            f"UPDATE {table} SET state = 'delivered', attempts = attempts + 1, "
            "next_attempt_at = NULL, last_error = NULL, updated_at = v.column2 "
            f"FROM (VALUES {self._rows(n, 2)}) AS v WHERE {table}.id = v.column1 "
            "RETURNING id, message_seq"
        )

    @_per_size
    def insert_attempts(self, n: int) -> str:
        """Rows in the order of :data:`ATTEMPT_COLUMNS`."""
        return (
            f"INSERT INTO {attempts.name} ({', '.join(ATTEMPT_COLUMNS)}) "
            f"VALUES {self._rows(n, len(ATTEMPT_COLUMNS))}"
        )

    @_per_size
    def states(self, n: int) -> str:
        """For ``n`` message seqs: on SQLite ``seq, state, delivery state``
        (one row per delivery); on PostgreSQL ``seq, state``, the message
        rows locked in seq order, so two brokers settling the same messages
        wait for each other instead of deadlocking."""
        if self.locks_rows:
            return (
                f"SELECT seq, state FROM {messages.name} "
                f"WHERE seq IN ({self._marks(n)}) ORDER BY seq FOR UPDATE"
            )
        return (
            f"SELECT m.seq, m.state, d.state FROM {messages.name} AS m "
            f"LEFT OUTER JOIN {deliveries.name} AS d ON d.message_seq = m.seq "
            f"WHERE m.seq IN ({self._marks(n)})"
        )

    @_per_size
    def delivery_states(self, n: int) -> str:
        """``message_seq, state`` of the deliveries of ``n`` messages (read
        after :meth:`states` locked them, on PostgreSQL)."""
        return (
            f"SELECT message_seq, state FROM {deliveries.name} "
            f"WHERE message_seq IN ({self._marks(n)})"
        )

    @_per_size
    def set_states(self, n: int) -> str:
        """Rows of ``seq, state, now``."""
        table = messages.name
        return (
            f"UPDATE {table} SET state = v.column2, updated_at = v.column3 "
            f"FROM (VALUES {self._rows(n, 3)}) AS v WHERE {table}.seq = v.column1"
        )


CHUNK_SIZES = (256, 128, 64, 32, 16, 8, 4, 2, 1)


def chunks(count: int) -> list[tuple[int, int]]:
    """``(start, size)`` pieces of ``count`` rows, each size a power of two."""
    pieces = []
    start = 0
    for size in CHUNK_SIZES:
        while count - start >= size:
            pieces.append((start, size))
            start += size
    return pieces


def bulk_statements(dialect: Dialect) -> BulkStatements:
    """The multi-row statements for ``dialect``."""
    return hot_statements(dialect).bulk
