"""The order clock: delivery promises at risk (alert and event) and pickup-slot reminders (event).

`sweep_orders` runs each part in its own short transaction: a lock-free look first (so an idle
sweep never takes SQLite's write lock), then the rows it found, locked and checked again. Every part
is idempotent across restarts and across gateways sweeping the same database: a promise at risk is
raised once (an alert of that cause, live or cleared, says it was), a reminder once (`reminded_at`).

No-shows are not handled here: they are expiries (`expires_at`), and every gateway with services
runs `lifecycle.expire_due` in its locker link's worker (`LockerLink.sweep`), which is built whatever
the store files hold and sweeps whether or not the broker is reachable. Calling it here too would
only double the work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from smartstore.gateway.db import domain_events as order_events
from smartstore.gateway.db.lockers import PickupOrder
from smartstore.gateway.db.models import Alert
from smartstore.gateway.db.util import as_utc, begin_write, iso, utc_now
from smartstore.gateway.events import EventBus
from smartstore.gateway.lockers.lifecycle import Event, fulfilment_of
from smartstore.gateway.lockers.states import FulfilmentType, OrderState
from smartstore.gateway.lockers.view_models import order_view
from smartstore.gateway.monitoring.alerts import alert_view, clear_alert, raise_alert
from smartstore.kernel.storeconfig import StoreConfig

logger = logging.getLogger(__name__)

AT_RISK = "order.promise_at_risk:"  # alert cause prefix; the order id follows
DEFAULT_INTERVAL_S = 15.0
LIMIT = 200  # orders per part and sweep; the rest wait for the next sweep
S = OrderState
# Not yet with a courier (delivery) or with the customer (pickup), and not stopped.
WAITING = frozenset({S.RESERVED, S.PICKING, S.STAGED, S.LOADED, S.READY})
_WAITING = sorted(state.value for state in WAITING)


def _minutes(delta: timedelta) -> int:
    return max(0, round(delta.total_seconds() / 60))


def _risk_message(order: PickupOrder, at: datetime) -> str:
    assert order.promised_by is not None
    promise = as_utc(order.promised_by)
    when = f"{_minutes(promise - at)} min left" if promise > at else f"late by {_minutes(at - promise)} min"
    return (
        f"delivery order {order.id} is still {order.state} and promised by {promise.isoformat()} "
        f"({when}); hand it to a courier now"
    )


def flag_promises_at_risk(
    session: Session, stores: Mapping[str, StoreConfig], at: datetime, limit: int = LIMIT
) -> list[Event]:
    """Delivery orders no courier has whose promise is within the store's `at_risk_minutes`: one
    warning alert (`order.promise_at_risk:{order}`) and one ORDER_AT_RISK event each, ever."""
    windows = {
        store_id: timedelta(minutes=store.store.fulfilment.delivery.at_risk_minutes)
        for store_id, store in stores.items()
        if store.store.fulfilment.delivery is not None
    }
    if not windows:
        return []
    conditions = (
        PickupOrder.fulfilment == FulfilmentType.DELIVERY.value,
        PickupOrder.state.in_(_WAITING),
        PickupOrder.promised_by.is_not(None),
        PickupOrder.promised_by <= at + max(windows.values()),
        PickupOrder.store_id.in_(sorted(windows)),
    )
    looked = session.execute(
        select(PickupOrder.id, PickupOrder.store_id, PickupOrder.promised_by)
        .where(*conditions)
        .order_by(PickupOrder.promised_by, PickupOrder.id)
    ).all()
    due = [oid for oid, store_id, promise in looked if promise and as_utc(promise) - windows[store_id] <= at]
    if not due:
        return []
    raised = _raised_causes(session, [AT_RISK + oid for oid in due])
    due = [oid for oid in due if AT_RISK + oid not in raised][:limit]
    if not due:
        return []
    rows = _lock_again(session, due, conditions)
    raised = _raised_causes(session, [AT_RISK + row.id for row in rows])
    events: list[Event] = []
    for order in rows:
        cause = AT_RISK + order.id
        if cause in raised or order.promised_by is None:
            continue  # another sweeper raised it meanwhile
        if as_utc(order.promised_by) - windows[order.store_id] > at:
            continue
        alert = raise_alert(
            session,
            store_id=order.store_id,
            cause=cause,
            severity="warning",
            message=_risk_message(order, at),
            device_id=None,
            at=at,
        )
        left = (as_utc(order.promised_by) - at).total_seconds() / 60
        order_events.record(
            session,
            order_events.ORDER_AT_RISK,
            store=order.store_id,
            subject=order.id,
            data={
                "order": order.id,
                "customer_order": order.customer_order_id,
                "store": order.store_id,
                "state": order.state,
                "promised_by": iso(order.promised_by),
                "minutes_left": round(left, 1),
            },
            at=at,
        )
        events.append(("alert", order.store_id, alert_view(alert)))
        events.append(("orders", order.store_id, order_view(order)))
        logger.warning("delivery order %s at risk: %.1f min to its promise", order.id, left)
    session.flush()
    return events


def _lock_again(session: Session, ids: list[str], conditions: tuple[Any, ...]) -> list[PickupOrder]:
    """End the lock-free look and lock the orders it found, if they still qualify (the write lock on
    SQLite, FOR UPDATE on PostgreSQL): a sweep that finds nothing never stalls the ingest."""
    session.rollback()
    begin_write(session)
    return list(
        session.scalars(
            select(PickupOrder)
            .where(PickupOrder.id.in_(ids), *conditions)
            .order_by(PickupOrder.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )


def _raised_causes(session: Session, causes: list[str]) -> set[str]:
    """Which of these causes have an alert, live or cleared: raised once means never again."""
    if not causes:
        return set()
    return set(session.scalars(select(Alert.cause).where(Alert.cause.in_(causes))))


def clear_moved_on(
    session: Session, stores: Mapping[str, StoreConfig], at: datetime, limit: int = LIMIT
) -> list[Event]:
    """Clear the at-risk alerts of orders a courier took, or that ended (or vanished)."""
    live = session.execute(
        select(Alert.store_id, Alert.live_cause)
        .where(Alert.live_cause.startswith(AT_RISK, autoescape=True), Alert.store_id.in_(list(stores)))
        .limit(limit * 5)
    ).all()
    if not live:
        return []
    ids = {str(cause).removeprefix(AT_RISK): store_id for store_id, cause in live}
    waiting = set(
        session.scalars(
            select(PickupOrder.id).where(PickupOrder.id.in_(list(ids)), PickupOrder.state.in_(_WAITING))
        )
    )
    gone = [(store_id, oid) for oid, store_id in sorted(ids.items()) if oid not in waiting][:limit]
    if not gone:
        return []
    session.rollback()
    begin_write(session)
    events: list[Event] = []
    for store_id, oid in gone:
        order = session.get(PickupOrder, oid, with_for_update=True, populate_existing=True)
        if order is not None and OrderState(order.state) in WAITING:
            continue  # cannot happen (no way back), but a live alert must never be cleared wrongly
        why = order.state if order is not None else "gone"
        alert = clear_alert(session, store_id=store_id, cause=AT_RISK + oid, at=at, by=f"gateway ({why})")
        if alert is not None:
            events.append(("alert", store_id, alert_view(alert)))
    return events


def send_reminders(
    session: Session, stores: Mapping[str, StoreConfig], at: datetime, limit: int = LIMIT
) -> list[Event]:
    """Orders with a slot starting within the store's `reminder_minutes`: set `reminded_at` and write an
    ORDER_REMINDER event once, for outbound delivery (SMS, push) to read. A slot already over gets none."""
    fulfilment = {store_id: store.store.fulfilment for store_id, store in stores.items()}
    if not fulfilment:
        return []
    ahead = max(timedelta(minutes=f.reminder_minutes) for f in fulfilment.values())
    behind = max(timedelta(minutes=f.slot_minutes) for f in fulfilment.values())
    conditions = (
        PickupOrder.slot_start.is_not(None),
        PickupOrder.reminded_at.is_(None),
        PickupOrder.state.in_(_WAITING),
        PickupOrder.slot_start <= at + ahead,
        PickupOrder.slot_start > at - behind,
        PickupOrder.store_id.in_(sorted(fulfilment)),
    )

    def due(store_id: str, start: datetime) -> bool:
        f = fulfilment[store_id]
        start = as_utc(start)
        over = start + timedelta(minutes=f.slot_minutes) <= at
        return start - timedelta(minutes=f.reminder_minutes) <= at and not over

    looked = session.execute(
        select(PickupOrder.id, PickupOrder.store_id, PickupOrder.slot_start)
        .where(*conditions)
        .order_by(PickupOrder.slot_start, PickupOrder.id)
    ).all()
    ids = [oid for oid, store_id, start in looked if start and due(store_id, start)][:limit]
    if not ids:
        return []
    rows = _lock_again(session, ids, conditions)
    events: list[Event] = []
    for order in rows:
        if order.slot_start is None or not due(order.store_id, order.slot_start):
            continue
        # Not `updated_at`: that marks state changes (the locker link compares it with the door's).
        order.reminded_at = at
        order_events.record(
            session,
            order_events.ORDER_REMINDER,
            store=order.store_id,
            subject=order.id,
            data={
                "order": order.id,
                "customer_order": order.customer_order_id,
                "store": order.store_id,
                "slot_start": iso(order.slot_start),
                "fulfilment": fulfilment_of(order).value,
            },
            at=at,
        )
        events.append(("orders", order.store_id, order_view(order)))
        logger.info("order %s: reminder for its slot at %s", order.id, iso(order.slot_start))
    session.flush()
    return events


Part = Callable[[Session, Mapping[str, StoreConfig], datetime], list[Event]]
PARTS: tuple[Part, ...] = (flag_promises_at_risk, clear_moved_on, send_reminders)


def sweep_orders(
    sessions: sessionmaker[Session], stores: Mapping[str, StoreConfig], at: datetime
) -> list[Event]:
    """Every part once, each committed on its own; the bus events to publish (already committed).

    A part that fails is logged and rolled back; the others still run."""
    events: list[Event] = []
    for part in PARTS:
        try:
            with sessions() as session:
                found = part(session, stores, at)
                session.commit()
        except Exception:
            logger.exception("order sweep: %s failed", part.__name__)
            continue
        events.extend(found)
    return events


class OrderSweeper:
    """Started and stopped with the gateway: sweeps every `interval_s` in its own thread."""

    def __init__(
        self,
        stores: Mapping[str, StoreConfig],
        sessions: sessionmaker[Session],
        bus: EventBus,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.stores = stores
        self.sessions = sessions
        self.bus = bus
        self._interval = interval_s
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="order-sweeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def sweep(self, at: datetime | None = None) -> int:
        """One sweep now (or as of `at`); publishes what changed; returns how many bus events."""
        events = sweep_orders(self.sessions, self.stores, at or utc_now())
        for type_, store, data in events:
            self.bus.publish(type_, store, data)
        return len(events)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.sweep()
            except Exception:
                # The database may be down for a while; the next tick tries again.
                logger.exception("order sweep failed")
            self._stopping.wait(self._interval)
