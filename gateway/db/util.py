"""SQL helpers shared by the gateway's writers: write locks, UTC round-trips, dialect upserts."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

# Re-exported: the gateway's writers and routes take the kernel's clock here with their SQL helpers.
from smartstore.kernel.clock import utc_now as utc_now


def is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def begin_write(session: Session) -> None:
    """Take SQLite's write lock now, before the first read of a read-modify-write.

    pysqlite starts transactions lazily at the first write, so a read-then-write transaction could
    read a snapshot another writer has since replaced and fail with SQLITE_BUSY instead of waiting.
    BEGIN IMMEDIATE makes it wait (busy_timeout) for the lock instead. PostgreSQL callers lock rows
    with SELECT ... FOR UPDATE instead, so this is a no-op there.
    """
    if not is_sqlite(session):
        return
    connection = session.connection()
    raw = connection.connection.dbapi_connection
    if isinstance(raw, sqlite3.Connection) and not raw.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def as_utc(value: datetime) -> datetime:
    """The same instant, aware, in UTC. Mapped columns already read back so (`UtcDateTime`); raw SQL on
    SQLite hands back the stored UTC wall clock naive."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat()


def upsert(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET update-columns, as one executemany."""
    if not rows:
        return
    dialect = sqlite if is_sqlite(session) else postgresql
    statement = dialect.insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={column: statement.excluded[column] for column in update},
    )
    session.execute(statement, list(rows))
