"""The order sweeper on SQLite and PostgreSQL: promises at risk alerted once and cleared when handed
over, slot reminders written once, both safe across restarts; the service sweeps on its own."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from gateway_helpers import UNREACHABLE_BROKER
from sqlalchemy import select

from smartstore.gateway.config import GatewaySettings
from smartstore.gateway.db import domain_events as order_events
from smartstore.gateway.db.lockers import PickupOrder
from smartstore.gateway.db.models import Alert
from smartstore.gateway.db.orders import DomainEvent
from smartstore.gateway.db.util import utc_now
from smartstore.gateway.inventory.allocation import Channel
from smartstore.gateway.inventory.store import apply_movement
from smartstore.gateway.lockers import lifecycle
from smartstore.gateway.lockers.lifecycle import Event
from smartstore.gateway.lockers.states import FulfilmentType, OrderState
from smartstore.gateway.orders import slots
from smartstore.gateway.orders.placement import OrderRequest, place_order
from smartstore.gateway.orders.sweeper import AT_RISK, OrderSweeper, sweep_orders
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.kernel.storeconfig import EXAMPLE_STORE

STORE = "store-berlin-01"
RICE = "09506000100098"
T0 = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Berlin
NEAR = (52.5300, 13.4100)  # 0.8 km from the store, inside its 4 km delivery area


def stock(runtime: GatewayRuntime, quantity: int = 20) -> None:
    with runtime.sessions() as session:
        apply_movement(
            session,
            runtime.stores[STORE],
            gtin=RICE,
            type="count",
            quantity=quantity,
            zone="aisle-1",
            source="manual",
            at=T0 - timedelta(hours=1),
        )
        session.commit()


def place(runtime: GatewayRuntime, request: OrderRequest, at: datetime = T0) -> str:
    with runtime.sessions() as session:
        placement = place_order(session, runtime.stores, request, by="test", at=at)
        session.commit()
        return placement.fulfilments[0].id


def delivery(runtime: GatewayRuntime, at: datetime = T0) -> str:
    request = OrderRequest(Channel.WEB, FulfilmentType.DELIVERY, [(RICE, 1)], destination=NEAR)
    return place(runtime, request, at)


def move(runtime: GatewayRuntime, order_id: str, *states: OrderState) -> None:
    with runtime.sessions() as session:
        order = lifecycle.get_order(session, STORE, order_id, lock=True)
        for state in states:
            lifecycle.transition(order, state, by="test", at=T0 + timedelta(minutes=30))
        session.commit()


def sweep(runtime: GatewayRuntime, minutes: float) -> list[Event]:
    return sweep_orders(runtime.sessions, runtime.stores, T0 + timedelta(minutes=minutes))


def alerts(runtime: GatewayRuntime, order_id: str) -> list[Alert]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Alert).where(Alert.cause == AT_RISK + order_id)))


def domain_events(runtime: GatewayRuntime, type_: str, order_id: str) -> list[DomainEvent]:
    with runtime.sessions() as session:
        query = select(DomainEvent).where(DomainEvent.type == type_, DomainEvent.subject == order_id)
        return list(session.scalars(query))


def test_a_promise_at_risk_is_alerted_once_and_cleared_when_a_courier_has_it(
    runtime: GatewayRuntime,
) -> None:
    stock(runtime)
    order = delivery(runtime)  # promised by T0 + 30 min; at risk 10 min before
    assert sweep(runtime, 19) == []
    assert alerts(runtime, order) == []
    published = sweep(runtime, 21)
    assert [(type_, store) for type_, store, _ in published] == [("alert", STORE), ("orders", STORE)]
    [alert] = alerts(runtime, order)
    assert (alert.state, alert.severity) == ("open", "warning")
    assert "9 min left" in alert.message
    assert order in alert.message
    [event] = domain_events(runtime, order_events.ORDER_AT_RISK, order)
    assert event.data["order"] == order
    assert event.data["minutes_left"] == 9.0
    assert event.data["promised_by"] == (T0 + timedelta(minutes=30)).isoformat()
    # Later sweeps, and a restarted gateway's, raise nothing new: the alert is not even touched.
    assert sweep(runtime, 25) == []
    restarted = OrderSweeper(runtime.stores, runtime.sessions, runtime.bus)
    assert restarted.sweep(T0 + timedelta(minutes=40)) == 0
    [alert] = alerts(runtime, order)
    assert len(alert.history) == 1
    assert len(domain_events(runtime, order_events.ORDER_AT_RISK, order)) == 1
    move(runtime, order, OrderState.PICKING, OrderState.STAGED)
    assert sweep(runtime, 41) == []  # staged is still waiting for a courier
    move(runtime, order, OrderState.HANDED_TO_COURIER)
    cleared = sweep(runtime, 42)
    assert [type_ for type_, _, _ in cleared] == ["alert"]
    [alert] = alerts(runtime, order)
    assert alert.state == "cleared"
    assert alert.live_cause is None
    assert alert.history[-1]["by"] == "gateway (handed_to_courier)"
    assert sweep(runtime, 43) == []  # raised once: never again, cleared once
    assert len(alerts(runtime, order)) == 1


def test_a_missed_promise_says_by_how_much_and_a_cancelled_order_clears_it(runtime: GatewayRuntime) -> None:
    stock(runtime)
    order = delivery(runtime)
    on_time = delivery(runtime, T0 + timedelta(minutes=30))  # promised by T0 + 60 min
    sweep(runtime, 45)
    [alert] = alerts(runtime, order)
    assert "late by 15 min" in alert.message
    assert alerts(runtime, on_time) == []
    with runtime.sessions() as session:
        lifecycle.cancel_order(
            session, runtime.stores[STORE], order, by="test", at=T0 + timedelta(minutes=46)
        )
        session.commit()
    sweep(runtime, 47)
    [alert] = alerts(runtime, order)
    assert alert.state == "cleared"
    assert alert.history[-1]["by"] == "gateway (cancelled)"


def test_a_slot_reminder_is_written_once_and_survives_a_restart(runtime: GatewayRuntime) -> None:
    stock(runtime)
    store = runtime.stores[STORE]
    offered = [start for start, _ in slots.bookable(store, T0)]
    slot = next(start for start in offered if start >= T0 + timedelta(hours=2))
    later = next(start for start in offered if start >= slot + timedelta(hours=3))
    counter = place(
        runtime, OrderRequest(Channel.APP, FulfilmentType.COUNTER_PICKUP, [(RICE, 1)], STORE, slot_start=slot)
    )
    locker = place(
        runtime, OrderRequest(Channel.WEB, FulfilmentType.LOCKER_PICKUP, [(RICE, 1)], STORE, slot_start=slot)
    )
    stopped = place(
        runtime, OrderRequest(Channel.WEB, FulfilmentType.COUNTER_PICKUP, [(RICE, 1)], STORE, slot_start=slot)
    )
    far = place(
        runtime,
        OrderRequest(Channel.WEB, FulfilmentType.COUNTER_PICKUP, [(RICE, 1)], STORE, slot_start=later),
    )
    with runtime.sessions() as session:
        lifecycle.cancel_order(session, store, stopped, by="test", at=T0)
        session.commit()
    remind_at = (slot - T0).total_seconds() / 60 - store.store.fulfilment.reminder_minutes
    assert sweep(runtime, remind_at - 1) == []
    published = sweep(runtime, remind_at + 1)
    assert sorted(data["id"] for _, _, data in published) == sorted([counter, locker])
    for order in (counter, locker):
        [event] = domain_events(runtime, order_events.ORDER_REMINDER, order)
        assert event.data == {
            "order": order,
            "customer_order": event.data["customer_order"],
            "store": STORE,
            "slot_start": slot.isoformat(),
            "fulfilment": "counter_pickup" if order == counter else "locker_pickup",
        }
        assert event.data["customer_order"].startswith("CO-")
    assert domain_events(runtime, order_events.ORDER_REMINDER, stopped) == []
    assert domain_events(runtime, order_events.ORDER_REMINDER, far) == []
    assert sweep(runtime, remind_at + 2) == []
    restarted = OrderSweeper(runtime.stores, runtime.sessions, runtime.bus)
    assert restarted.sweep(T0 + timedelta(minutes=remind_at + 3)) == 0
    with runtime.sessions() as session:
        reminded = session.get(PickupOrder, counter)
        assert reminded is not None
        assert reminded.reminded_at == T0 + timedelta(minutes=remind_at + 1)
        assert reminded.updated_at == T0  # a reminder is not a state change
    # A slot already over (the gateway was down through it) gets no reminder at all.
    over = (later - T0).total_seconds() / 60 + 61
    assert sweep(runtime, over) == []
    assert domain_events(runtime, order_events.ORDER_REMINDER, far) == []


def test_the_service_sweeps_by_itself_and_the_runtime_starts_it(runtime: GatewayRuntime, db_url: str) -> None:
    stock(runtime)
    order = delivery(runtime, utc_now() - timedelta(minutes=25))  # 5 min left
    sweeper = OrderSweeper(runtime.stores, runtime.sessions, runtime.bus, interval_s=0.05)
    sweeper.start()
    try:
        deadline = utc_now() + timedelta(seconds=10)
        while not alerts(runtime, order) and utc_now() < deadline:
            time.sleep(0.02)
    finally:
        sweeper.stop()
    [alert] = alerts(runtime, order)
    assert alert.state == "open"
    settings = GatewaySettings(
        db_url=db_url, stores=[EXAMPLE_STORE], mqtt=UNREACHABLE_BROKER, order_sweep_interval_s=5
    )
    built = GatewayRuntime.build(settings, services=True)
    try:
        [service] = [s for s in built.services if isinstance(s, OrderSweeper)]
        assert service._interval == 5
    finally:
        built.engine.dispose()
