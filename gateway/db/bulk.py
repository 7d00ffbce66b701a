"""Many-row reads and writes in one statement each, for the ingest writer's hot path.

On SQLite the rows travel as one JSON parameter expanded by `json_each`, so the engine does the whole
statement in one `sqlite3_step`. `executemany` (or iterating a result) steps once per row, and the
sqlite3 module releases the GIL at every step; with the MQTT network thread busy, taking the GIL back
can wait for a thread switch each time, which made row-at-a-time writes ten times slower under load.
PostgreSQL (psycopg 3) already batches and converts rows without that cost, so it gets plain
SQLAlchemy statements. Values go through each column type's own bind and result processors, so the
rows read back exactly as if the ORM had written them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Table, TextClause, select, text
from sqlalchemy.orm import Session

from smartstore.gateway.db.types import UtcDateTime, to_utc
from smartstore.gateway.db.util import is_sqlite, upsert

# Statements below are assembled from table metadata (quoted identifiers) only; every value is a
# bound parameter, which is what the S608 exemptions rely on.

_CHUNK = 500  # values per IN list on engines without json_each


@functools.lru_cache(maxsize=128)
def _text(sql: str) -> TextClause:
    # Parsing a statement's bind parameters every batch showed up in profiles; the SQL repeats.
    return text(sql)


def _quote(session: Session, name: str) -> str:
    return session.get_bind().dialect.identifier_preparer.quote(name)


def _bind_processors(session: Session, table: Table, columns: Sequence[str]) -> list[Any]:
    dialect = session.get_bind().dialect
    return [
        _sqlite_datetime
        if isinstance(table.c[name].type, UtcDateTime)
        else table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        for name in columns
    ]


def _sqlite_datetime(value: datetime) -> str:
    """SQLAlchemy's SQLite storage format ("YYYY-MM-DD HH:MM:SS.ffffff", UTC), via the C formatter."""
    return to_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_utc_datetime(value: str) -> datetime:
    """What UtcDateTime reads back: the stored UTC wall clock, made aware."""
    # Parsing the offset costs nothing; datetime.replace(tzinfo=...) would take eight times the parse.
    return datetime.fromisoformat(value + "+00:00")


def _result_processors(session: Session, columns: Sequence[Column[Any]]) -> list[Any]:
    dialect = session.get_bind().dialect
    processors: list[Any] = []
    for column in columns:
        if isinstance(column.type, UtcDateTime):
            # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff"; the C parser reads it ten times faster.
            processors.append(_sqlite_utc_datetime)
        else:
            processors.append(column.type.dialect_impl(dialect).result_processor(dialect, None))
    return processors


def _json_rows(
    session: Session, table: Table, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]
) -> str:
    processors = _bind_processors(session, table, columns)
    encoded = []
    # Batches repeat values (one applied_at, a few stores): convert each distinct one once.
    last: list[tuple[Any, Any]] = [(object(), None)] * len(columns)
    for row in rows:
        values = []
        for index, name in enumerate(columns):
            value = row[name]
            process = processors[index]
            if process is not None and value is not None:
                seen, converted = last[index]
                if value is not seen:
                    converted = process(value)
                    last[index] = (value, converted)
                value = converted
            values.append(value)
        encoded.append(values)
    return json.dumps(encoded, separators=(",", ":"))


def write_rows(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str] = (),
    update: Sequence[str] = (),
) -> None:
    """INSERT the rows; with `keys`, ON CONFLICT (keys) DO UPDATE the `update` columns."""
    if not rows:
        return
    if not is_sqlite(session):
        if keys:
            upsert(session, table, [dict(row) for row in rows], keys=keys, update=update)
        else:
            session.connection().execute(table.insert(), list(rows))
        return
    columns = list(rows[0])
    names = ", ".join(_quote(session, name) for name in columns)
    values = ", ".join(f"json_extract(value, '$[{index}]')" for index in range(len(columns)))
    # "WHERE true" lets SQLite parse the upsert clause after a SELECT.
    table_name = _quote(session, table.name)
    sql = f"INSERT INTO {table_name} ({names}) SELECT {values} FROM json_each(:rows) WHERE true"  # noqa: S608
    if keys:
        assignments = ", ".join(f"{_quote(session, c)} = excluded.{_quote(session, c)}" for c in update)
        sql += f" ON CONFLICT ({', '.join(_quote(session, k) for k in keys)}) DO UPDATE SET {assignments}"
    session.connection().execute(_text(sql), {"rows": _json_rows(session, table, columns, rows)})


def read_rows(
    session: Session,
    table: Table,
    *,
    equals: Mapping[str, Any],
    within: tuple[str, Sequence[Any]] | None = None,
    for_update: bool = False,
) -> list[dict[str, Any]]:
    """Rows where every `equals` column matches and, if given, `within[0]` is one of `within[1]`.

    `for_update` locks the rows on engines with row locks; SQLite writers hold the database lock
    from BEGIN IMMEDIATE on (dbutil.begin_write).
    """
    if within is not None and not within[1]:
        return []
    if not is_sqlite(session):
        return _read_rows_chunked(session, table, equals, within, for_update)
    columns = list(table.c)
    packed = ", ".join(_quote(session, column.name) for column in columns)
    conditions = [f"{_quote(session, name)} = :eq_{index}" for index, name in enumerate(equals)]
    params: dict[str, Any] = {f"eq_{index}": value for index, value in enumerate(equals.values())}
    if within is not None:
        conditions.append(f"{_quote(session, within[0])} IN (SELECT value FROM json_each(:within))")  # noqa: S608
        params["within"] = json.dumps(list(within[1]))
    where = " AND ".join(conditions) or "1"
    table_name = _quote(session, table.name)
    sql = f"SELECT json_group_array(json_array({packed})) FROM {table_name} WHERE {where}"  # noqa: S608
    packed_rows = session.connection().execute(_text(sql), params).scalar_one()
    processors = _result_processors(session, columns)
    names = [column.name for column in columns]
    return [
        {
            name: process(value) if process and value is not None else value
            for name, process, value in zip(names, processors, row, strict=True)
        }
        for row in json.loads(packed_rows)
    ]


def _read_rows_chunked(
    session: Session,
    table: Table,
    equals: Mapping[str, Any],
    within: tuple[str, Sequence[Any]] | None,
    for_update: bool,
) -> list[dict[str, Any]]:
    base = select(table).where(*(table.c[name] == value for name, value in equals.items()))
    if for_update:
        # A stable order, so two writers locking overlapping rows cannot deadlock.
        base = base.order_by(*table.primary_key.columns).with_for_update()
    if within is None:
        return [dict(row) for row in session.connection().execute(base).mappings()]
    column, values = table.c[within[0]], list(within[1])
    rows: list[dict[str, Any]] = []
    for start in range(0, len(values), _CHUNK):
        query = base.where(column.in_(values[start : start + _CHUNK]))
        rows.extend(dict(row) for row in session.connection().execute(query).mappings())
    return rows


def existing(session: Session, column: Column[Any], values: Sequence[Any]) -> set[Any]:
    """Which of `values` are already in `column` (one statement on SQLite)."""
    if not values:
        return set()
    table = column.table
    if is_sqlite(session):
        name, table_name = _quote(session, column.name), _quote(session, table.name)
        sql = f"SELECT {name} FROM {table_name} WHERE {name} IN (SELECT value FROM json_each(:values))"  # noqa: S608
        return set(session.connection().execute(_text(sql), {"values": json.dumps(list(values))}).scalars())
    found: set[Any] = set()
    for start in range(0, len(values), _CHUNK):
        query = select(column).where(column.in_(values[start : start + _CHUNK]))
        found.update(session.connection().execute(query).scalars())
    return found
