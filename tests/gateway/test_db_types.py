"""UtcDateTime on SQLite and PostgreSQL: datetimes are bound as UTC instants, in rows and in comparisons,
and read back aware in UTC; naive ones are refused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Interval, Table, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session, sessionmaker

from smartstore.gateway.db.bulk import read_rows, write_rows
from smartstore.gateway.db.engine import make_engine, make_sessionmaker
from smartstore.gateway.db.restock import OsaSample
from smartstore.gateway.db.util import is_sqlite

OSA: Table = OsaSample.__table__  # type: ignore[assignment]
BERLIN = ZoneInfo("Europe/Berlin")
STORE = "store-berlin-01"
# Berlin midnight of 2 March 2025 is 23:00 UTC on 1 March (CET, +01:00).
MIDNIGHT = datetime(2025, 3, 2, tzinfo=BERLIN)
BEFORE, AT, AFTER = (datetime(2025, 3, 1, 22, 30, tzinfo=UTC) + timedelta(minutes=m) for m in (0, 30, 60))


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def _sample(at: datetime) -> OsaSample:
    return OsaSample(store_id=STORE, at=at, planned=10, ok=9, low=1, empty=0, unknown=0, osa=1.0)


def _berlin_session(session: Session) -> None:
    # PostgreSQL then returns Berlin-aware values, which the type must turn back into UTC.
    if not is_sqlite(session):
        session.execute(text("SET TIME ZONE 'Europe/Berlin'"))


def test_comparisons_bind_a_berlin_bound_as_its_utc_instant(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.add_all([_sample(BEFORE), _sample(AT), _sample(AFTER)])
    with sessions() as session:
        _berlin_session(session)
        since = session.scalars(select(OsaSample.at).where(OsaSample.at >= MIDNIGHT).order_by(OsaSample.at))
        assert list(since) == [AT, AFTER]
        until = session.scalars(select(OsaSample.at).where(OsaSample.at < MIDNIGHT))
        assert list(until) == [BEFORE]
        assert session.scalars(select(OsaSample.at).where(OsaSample.at == MIDNIGHT)).all() == [AT]


def test_values_read_back_aware_in_utc(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.add(_sample(AT.astimezone(BERLIN)))
    with sessions() as session:
        _berlin_session(session)
        at = session.scalars(select(OsaSample.at)).one()
        assert at == AT
        assert at.tzinfo is UTC


def test_bulk_rows_follow_the_same_rules(sessions: sessionmaker[Session]) -> None:
    row = {"store_id": STORE, "planned": 10, "ok": 9, "low": 1, "empty": 0, "unknown": 0, "osa": 1.0}
    with sessions.begin() as session:
        write_rows(session, OSA, [{**row, "at": AT.astimezone(BERLIN)}])
    with sessions() as session:
        _berlin_session(session)
        [read] = read_rows(session, OSA, equals={"store_id": STORE})
        assert read["at"] == AT
        assert read["at"].tzinfo is UTC
        assert session.scalars(select(OsaSample.at).where(OsaSample.at >= MIDNIGHT)).all() == [AT]
    # SQLite's fast path raises the ValueError itself; SQLAlchemy wraps it on PostgreSQL.
    with pytest.raises((ValueError, StatementError), match="naive datetime"), sessions.begin() as session:
        write_rows(session, OSA, [{**row, "at": datetime(2025, 3, 2)}])


def test_naive_datetimes_are_refused(sessions: sessionmaker[Session]) -> None:
    naive = datetime(2025, 3, 2)
    with sessions() as session:
        session.add(_sample(naive))
        with pytest.raises(StatementError, match="naive datetime"):
            session.flush()
    with sessions() as session, pytest.raises(StatementError, match="naive datetime"):
        session.scalars(select(OsaSample).where(OsaSample.at >= naive)).all()


def test_timedelta_arithmetic_still_binds_an_interval() -> None:
    expression = OsaSample.at + timedelta(hours=1)
    assert isinstance(expression.right.type, Interval)
