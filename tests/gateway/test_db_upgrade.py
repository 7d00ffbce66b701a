"""A database made by an older release gets the nullable columns added since, and keeps its rows."""

from __future__ import annotations

import sqlalchemy as sa

from smartstore.gateway.db.engine import (
    add_missing_nullable_columns,
    make_engine,
    make_sessionmaker,
    widen_text_columns,
)
from smartstore.gateway.db.models import DeadLetter
from smartstore.kernel.clock import utc_now


def test_dead_letters_of_an_older_release_gain_size_and_hash(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.begin() as connection:  # as the release before the excerpt-and-hash bound made it
        connection.exec_driver_sql("ALTER TABLE dead_letters DROP COLUMN payload_sha256")
        connection.exec_driver_sql("ALTER TABLE dead_letters DROP COLUMN payload_size")
        connection.execute(
            sa.text(
                "INSERT INTO dead_letters (received_at, topic, reason, detail, payload) "
                "VALUES (:at, 't', 'invalid_json', 'old row', :payload)"
            ),
            {"at": utc_now(), "payload": b"x" * 5000},
        )
    engine.dispose()

    engine = make_engine(db_url)  # the new release starting on it
    try:
        assert add_missing_nullable_columns(engine) == []  # done once, by make_engine
        sessions = make_sessionmaker(engine)
        with sessions.begin() as session:
            session.add(
                DeadLetter(
                    received_at=utc_now(),
                    topic="t",
                    reason="too_large",
                    detail="new row",
                    payload=b"y" * 10,
                    payload_size=10_000_000,
                    payload_sha256="0" * 64,
                )
            )
        with sessions() as session:
            rows = session.scalars(sa.select(DeadLetter).order_by(DeadLetter.id)).all()
            assert [(r.detail, len(r.payload), r.payload_size) for r in rows] == [
                ("old row", 5000, None),
                ("new row", 10, 10_000_000),
            ]
    finally:
        engine.dispose()


def test_order_states_longer_than_an_older_release_allowed_fit_after_the_upgrade(db_url: str) -> None:
    engine = make_engine(db_url)
    if engine.dialect.name == "postgresql":  # SQLite does not enforce VARCHAR lengths
        with engine.begin() as connection:  # as the release before omnichannel orders made it
            connection.exec_driver_sql("ALTER TABLE pickup_orders ALTER COLUMN state TYPE VARCHAR(16)")
    engine.dispose()

    engine = make_engine(db_url)
    try:
        assert widen_text_columns(engine) == []  # done once, by make_engine
        lengths = {
            c["name"]: getattr(c["type"], "length", None)
            for c in sa.inspect(engine).get_columns("pickup_orders")
        }
        assert lengths["state"] == 32
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO pickup_orders (id, store_id, state, size, load_requests, pickup_requests, "
                    "created_by, created_at, updated_at) "
                    "VALUES ('ORD-TEST0001', 's', 'handed_to_courier', 'S', 0, 0, 't', :at, :at)"
                ),
                {"at": utc_now()},
            )
    finally:
        engine.dispose()
