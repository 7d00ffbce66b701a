"""Engine and session factory for SQLite (WAL) or PostgreSQL, chosen by URL."""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import Engine, String, create_engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.schema import CreateColumn

from smartstore.gateway.db.models import Base


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        # WAL lets the API read while the ingest writer commits; NORMAL sync is durable in WAL mode
        # against process crashes, which is what "acknowledged is never lost" needs here.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def make_engine(url: str, *, create_schema: bool = True) -> Engine:
    """An engine for `url`; plain `postgresql://` URLs use the psycopg 3 driver."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    kwargs: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
    else:
        kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    if create_schema:
        Base.metadata.create_all(engine)
        add_missing_nullable_columns(engine)
        widen_text_columns(engine)
    return engine


def widen_text_columns(engine: Engine) -> list[str]:
    """Widen VARCHAR columns a newer release made longer (e.g. order states past 16 characters).

    PostgreSQL enforces a VARCHAR's length and SQLite does not, so only PostgreSQL is changed; widening
    never loses data. Returns "table.column" widened.
    """
    if engine.dialect.name != "postgresql":
        return []
    inspector = inspect(engine)
    present = set(inspector.get_table_names())
    widened: list[str] = []
    with engine.begin() as connection:
        for table in Base.metadata.sorted_tables:
            if table.name not in present:
                continue
            have = {column["name"]: column["type"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                wanted = getattr(column.type, "length", None)
                current = getattr(have.get(column.name), "length", None)
                if isinstance(column.type, String) and wanted and current and current < wanted:
                    connection.exec_driver_sql(
                        f'ALTER TABLE {table.name} ALTER COLUMN "{column.name}" TYPE VARCHAR({wanted})'
                    )
                    widened.append(f"{table.name}.{column.name}")
    return widened


def add_missing_nullable_columns(engine: Engine) -> list[str]:
    """Add the nullable columns a newer release gave existing tables (e.g. dead_letters.payload_sha256).

    create_all makes missing tables only; until schema migrations arrive this is the one kind of
    change releases make to existing tables, and the only one done here. Returns "table.column" added.
    """
    inspector = inspect(engine)
    present = set(inspector.get_table_names())
    added: list[str] = []
    with engine.begin() as connection:
        for table in Base.metadata.sorted_tables:
            if table.name not in present:
                continue
            have = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in have or not column.nullable:
                    continue
                ddl = CreateColumn(column).compile(dialect=engine.dialect)
                connection.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {ddl}")
                added.append(f"{table.name}.{column.name}")
    return added


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
