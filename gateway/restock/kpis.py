"""A store's dashboard figures from the database: availability, replenish times, OSA samples, pickups."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from smartstore.gateway.db.models import Base, SlotState
from smartstore.gateway.db.restock import OsaSample, RestockTask
from smartstore.gateway.db.util import as_utc, begin_write
from smartstore.gateway.restock import domain as rules
from smartstore.kernel.storeconfig import StoreConfig

logger = logging.getLogger(__name__)

OSA_RETENTION = timedelta(days=8)
# Pickup orders belong to the lockers part of the gateway (gateway/lockers/domain.py, locker_store.py); they
# are read through their tables only, and defensively: a build without them shows "unknown", never an
# error. Same meaning as the lockers overview: waiting = ready in a compartment; overdue = still in a
# compartment but expired or cancelled, or ready past its pickup time.
PICKUP_TABLE = "pickup_orders"
COMPARTMENT_TABLE = "locker_compartments"
_READY = "ready"
_ENDED_IN_LOCKER = ("expired", "cancelled")


def slot_states(session: Session, store_id: str) -> dict[str, str]:
    query = select(SlotState.slot_id, SlotState.state).where(SlotState.store_id == store_id)
    return {slot: state for slot, state in session.execute(query)}


def store_availability(session: Session, config: StoreConfig) -> rules.Availability:
    return rules.availability(config.slots, slot_states(session, config.store.id))


def record_osa_sample(session: Session, config: StoreConfig, now: datetime) -> OsaSample:
    """Write one availability sample and drop samples past retention; the caller commits."""
    begin_write(session)
    figures = store_availability(session, config)
    sample = OsaSample(
        store_id=config.store.id,
        at=now,
        planned=figures.planned,
        ok=figures.ok,
        low=figures.low,
        empty=figures.empty,
        unknown=figures.unknown,
        osa=figures.osa,
    )
    session.merge(sample)
    session.execute(
        delete(OsaSample).where(OsaSample.store_id == config.store.id, OsaSample.at < now - OSA_RETENTION)
    )
    return sample


def osa_history(
    session: Session, config: StoreConfig, since: datetime, now: datetime
) -> list[dict[str, Any]]:
    """Samples since `since`, oldest first, and the availability now as the last point."""
    query = (
        select(OsaSample)
        .where(OsaSample.store_id == config.store.id, OsaSample.at >= since)
        .order_by(OsaSample.at)
    )
    points = [
        _osa_point(as_utc(s.at), s.osa, s.ok, s.low, s.empty, s.unknown) for s in session.scalars(query)
    ]
    current = store_availability(session, config)
    points.append(_osa_point(now, current.osa, current.ok, current.low, current.empty, current.unknown))
    return points


def _osa_point(
    at: datetime, osa: float | None, ok: int, low: int, empty: int, unknown: int
) -> dict[str, Any]:
    return {"at": at.isoformat(), "osa": osa, "ok": ok, "low": low, "empty": empty, "unknown": unknown}


def replenish_durations(session: Session, store_id: str, since: datetime) -> list[timedelta]:
    """Empty/low -> ok durations of the tasks the camera closed since `since`."""
    query = select(RestockTask.opened_at, RestockTask.closed_at).where(
        RestockTask.store_id == store_id,
        RestockTask.state == rules.TaskState.CLOSED.value,
        RestockTask.closed_at >= since,
    )
    return [
        as_utc(closed) - as_utc(opened) for opened, closed in session.execute(query) if closed is not None
    ]


def oos_durations(
    session: Session, config: StoreConfig, since: datetime, now: datetime, limit: int = 100
) -> list[dict[str, Any]]:
    """Out-of-stock (empty or low) periods overlapping [since, now], longest first; live ones run to now."""
    query = select(RestockTask).where(
        RestockTask.store_id == config.store.id,
        or_(RestockTask.closed_at.is_(None), RestockTask.closed_at >= since),
    )
    periods: list[dict[str, Any]] = []
    for task in session.scalars(query):
        opened = as_utc(task.opened_at)
        closed = as_utc(task.closed_at) if task.closed_at is not None else None
        product = config.products.get(task.gtin)
        periods.append(
            {
                "task": task.id,
                "slot": task.slot_id,
                "gtin": task.gtin,
                "name": product.name if product else None,
                "slot_state": task.slot_state,
                "opened_at": opened.isoformat(),
                "closed_at": closed.isoformat() if closed else None,
                "duration_s": round(((closed or now) - opened).total_seconds(), 1),
                "live": closed is None,
            }
        )
    periods.sort(key=lambda period: -period["duration_s"])
    return periods[:limit]


def open_oos_slots(session: Session, store_id: str) -> int:
    query = select(func.count()).where(SlotState.store_id == store_id, SlotState.state == "empty")
    return int(session.scalar(query) or 0)


def pickup_counts(session: Session, store_id: str, now: datetime) -> dict[str, int] | None:
    """Pickup orders waiting in the store's lockers and how many of them are overdue; None while the
    gateway has no pickup orders."""
    orders = Base.metadata.tables.get(PICKUP_TABLE)
    compartments = Base.metadata.tables.get(COMPARTMENT_TABLE)
    if orders is None or compartments is None:
        return None
    try:
        o, c = orders.c, compartments.c
        in_locker = (
            select(func.count())
            .select_from(orders.join(compartments, c.order_id == o.id))
            .where(o.store_id == store_id, c.store_id == store_id)
        )
        waiting = in_locker.where(o.state == _READY)
        overdue = in_locker.where(
            or_(o.state.in_(_ENDED_IN_LOCKER), (o.state == _READY) & (o.expires_at <= now))
        )
        with session.begin_nested():
            return {
                "waiting": int(session.scalar(waiting) or 0),
                "overdue": int(session.scalar(overdue) or 0),
            }
    except (SQLAlchemyError, AttributeError):
        # AttributeError: the tables changed shape; the KPI is not worth a failed dashboard.
        logger.warning("pickup orders could not be counted", exc_info=True)
        return None
