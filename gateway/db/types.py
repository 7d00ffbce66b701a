"""Column types of the gateway tables: `UtcDateTime`, the type of every mapped `datetime`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect
from sqlalchemy.sql.operators import OperatorType
from sqlalchemy.types import TypeDecorator, TypeEngine

from smartstore.gateway.db.util import as_utc


def to_utc(value: datetime) -> datetime:
    """The same instant in UTC; a naive datetime is refused, as its instant is unknown."""
    if value.tzinfo is None or value.utcoffset() is None:
        # Every datetime the gateway writes is aware (contract timestamps, datetime.now(UTC)); a
        # naive one is a bug at its source, and guessing its zone would store it an offset away.
        raise ValueError(f"naive datetime {value.isoformat()} given to a UTC column; attach a timezone")
    return value.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """`DateTime(timezone=True)` that binds every datetime as UTC and reads it back aware in UTC.

    SQLite stores a datetime as text without its offset and compares the text, so a Berlin midnight
    bound as-is would sort after the 23:xx UTC of the hour before it. Converting at bind time fixes
    that for inserts and for comparisons alike (a value compared with such a column takes its type).
    PostgreSQL converts by itself; the same rule there keeps both engines alike.
    """

    impl = DateTime
    cache_ok = True

    def __init__(self) -> None:
        # timezone=True keeps the DDL of the former plain DateTime(timezone=True): no migration.
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else to_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        # SQLite hands back the stored UTC wall clock, naive; PostgreSQL the session's time zone.
        return None if value is None else as_utc(value)

    def coerce_compared_value(self, op: OperatorType | None, value: Any) -> TypeEngine[Any]:
        # Only datetimes take this type; `at + timedelta(...)` must still bind an interval.
        if isinstance(value, datetime):
            return self
        return self.impl_instance.coerce_compared_value(op, value)
