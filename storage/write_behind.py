"""A transaction's connection that holds the audit events and outbox rows a change adds and
writes them together, one executemany per table (one round trip on PostgreSQL: psycopg sends
the rows in a pipeline).

Opening a ticket adds two or three of each (the opening, the suggestion offered; the group's
card, the requester's confirmation), between other statements. Written one by one, each cost a
round trip, and in a surge on PostgreSQL every round trip waited 5–7 ms for the interpreter's
lock again (bench/slack_load, timed per statement). Held rows are written before:

- any statement not marked `blind` (one that may read or change those tables sees them written),
- a savepoint is taken (a rollback to it must not take rows added before it) or released (a row
  that fails, fails its own savepoint),
- the commit.

A savepoint rolled back drops the rows still held from inside it (`drop`).
"""
from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Connection, Executable

from storage.database import one_or_many

S = TypeVar("S", bound=Executable)

_BLIND: set[int] = set()  # id() of statements built once that neither read nor write the held tables


def blind(statement: S) -> S:
    """Mark a statement built once (a module constant) as one that neither reads nor writes audit
    events or outbox rows: held rows need not be written before it. Returns the statement."""
    _BLIND.add(id(statement))
    return statement


class WriteBehind:
    """The SQLAlchemy Connection of one transaction, with `add`, `flush` and `drop` for the held
    rows; `execute` writes them first unless the statement is `blind`. Every other attribute is
    the Connection's."""

    __slots__ = ("_conn", "_events", "_outbox", "_insert_event", "_insert_outbox")

    def __init__(self, conn: Connection, insert_event: Executable, insert_outbox: Executable) -> None:
        self._conn = conn
        self._insert_event, self._insert_outbox = insert_event, insert_outbox
        self._events: list[dict[str, Any]] = []
        self._outbox: list[dict[str, Any]] = []

    def add(self, event: dict[str, Any] | None = None, message: dict[str, Any] | None = None) -> None:
        """Hold an audit event's row (`event`) or an outbox message's (`message`), column → value."""
        if event is not None:
            self._events.append(event)
        if message is not None:
            self._outbox.append(message)

    def flush(self) -> None:
        """Write the rows held: events, then outbox messages, each table's in the order added."""
        if self._events:
            rows, self._events = self._events, []
            self._conn.execute(self._insert_event, one_or_many(rows))
        if self._outbox:
            rows, self._outbox = self._outbox, []
            self._conn.execute(self._insert_outbox, one_or_many(rows))

    def drop(self) -> None:
        """Forget the rows held (the savepoint they were added in was rolled back)."""
        self._events, self._outbox = [], []

    def execute(self, statement: Any, parameters: Any = None, **kwargs: Any) -> Any:
        """Connection.execute, after writing the rows held unless `statement` is `blind`."""
        if (self._events or self._outbox) and id(statement) not in _BLIND:
            self.flush()
        return self._conn.execute(statement, parameters, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)
