"""Restock tasks follow the camera over real MQTT: empty/low opens, ok closes, people move them along."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from dashboard_helpers import (
    MILK,
    OAT_DRINK,
    SLOT,
    SLOT_2,
    STORE,
    GatewayFactory,
    Publisher,
    Signals,
)
from polling import wait_until
from sqlalchemy import select

from smartstore.gateway.db.models import SlotState
from smartstore.gateway.db.restock import RestockTask
from smartstore.gateway.restock import domain as rules
from smartstore.gateway.restock.store import acknowledge_task, reconcile, resolve_task
from smartstore.gateway.runtime import GatewayRuntime


def tasks(runtime: GatewayRuntime) -> list[RestockTask]:
    with runtime.sessions() as session:
        return list(session.scalars(select(RestockTask).order_by(RestockTask.id)))


def test_empty_slot_opens_one_task_and_the_camera_closes_it(
    db_url: str, gateway_factory: GatewayFactory, publisher: Publisher
) -> None:
    gateway = gateway_factory(db_url)
    signals = Signals()
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    publisher.signal(signals.shelf([(SLOT, MILK, "ok", 0.9), (SLOT_2, OAT_DRINK, "ok", 0.8)], ts=t0))
    gateway.consumer.wait_idle()
    assert tasks(gateway.runtime) == []

    empty = signals.shelf([(SLOT, MILK, "empty", 0.0)], ts=t0 + timedelta(minutes=1))
    publisher.signal(empty)
    publisher.signal(empty)  # redelivered: the same event id is applied once
    wait_until(lambda: len(tasks(gateway.runtime)) == 1, what="a task")
    gateway.consumer.wait_idle()
    [task] = tasks(gateway.runtime)
    assert (task.slot_id, task.gtin, task.state, task.slot_state) == (SLOT, MILK, "open", "empty")
    assert task.kind == "reorder"  # nothing counted in the backroom
    assert task.live_slot == SLOT
    # Still empty in a later frame: no second task.
    publisher.signal(signals.shelf([(SLOT, MILK, "empty", 0.0)], ts=t0 + timedelta(minutes=2)))
    publisher.signal(signals.shelf([(SLOT, MILK, "low", 0.3)], ts=t0 + timedelta(minutes=3)))
    # The broker may not have delivered the last signal yet when the consumer's queue is idle: wait for it.
    wait_until(lambda: tasks(gateway.runtime)[0].slot_state == "low", what="the low slot state")
    gateway.consumer.wait_idle()
    [task] = tasks(gateway.runtime)
    assert task.slot_state == "low"
    assert [step["event"] for step in task.history] == ["opened", "slot_state"]

    publisher.signal(signals.shelf([(SLOT, MILK, "ok", 0.9)], ts=t0 + timedelta(minutes=7)))
    wait_until(lambda: tasks(gateway.runtime)[0].state == "closed", what="the camera to close the task")
    [task] = tasks(gateway.runtime)
    assert task.closed_by == "camera"
    assert task.live_slot is None
    assert task.closed_at is not None
    assert task.closed_at.replace(tzinfo=UTC) - task.opened_at.replace(tzinfo=UTC) == timedelta(minutes=6)

    # Empty again: a new task; the closed one stays as history.
    publisher.signal(signals.shelf([(SLOT, MILK, "empty", 0.0)], ts=t0 + timedelta(minutes=9)))
    wait_until(lambda: len(tasks(gateway.runtime)) == 2, what="a second task")
    assert [t.state for t in tasks(gateway.runtime)] == ["closed", "open"]


def test_backroom_stock_makes_it_a_restock_and_people_move_it_along(
    db_url: str, gateway_factory: GatewayFactory, publisher: Publisher
) -> None:
    gateway = gateway_factory(db_url)
    signals = Signals()
    publisher.signal(signals.stock([("backroom", MILK, 12)]))
    publisher.signal(signals.shelf([(SLOT, MILK, "empty", 0.0)]))
    wait_until(lambda: len(tasks(gateway.runtime)) == 1, what="a task")
    [task] = tasks(gateway.runtime)
    assert task.kind == "restock_from_backroom"

    at = datetime.now(UTC)
    with gateway.runtime.sessions() as session:
        assert acknowledge_task(session, task.id, by="manager", at=at).state == "acknowledged"
        assert acknowledge_task(session, task.id, by="manager", at=at).state == "acknowledged"  # again: no-op
        assert resolve_task(session, task.id, by="associate", at=at).state == "resolved"
        session.commit()
    [task] = tasks(gateway.runtime)
    assert (task.acknowledged_by, task.resolved_by, task.live_slot) == ("manager", "associate", SLOT)
    # Resolved is a claim; the camera's word closes it.
    publisher.signal(signals.shelf([(SLOT, MILK, "ok", 1.0)]))
    wait_until(lambda: tasks(gateway.runtime)[0].state == "closed", what="the camera to close the task")
    with gateway.runtime.sessions() as session, pytest.raises(rules.TaskConflictError):
        acknowledge_task(session, task.id, by="manager", at=at)
    with gateway.runtime.sessions() as session, pytest.raises(LookupError):
        resolve_task(session, 999_999, by="associate", at=at)
    events = [step["event"] for step in tasks(gateway.runtime)[0].history]
    assert events == ["opened", "acknowledged", "resolved", "closed"]


def test_reconcile_opens_and_closes_tasks_for_slots_changed_without_task_logic(
    db_url: str, gateway_factory: GatewayFactory
) -> None:
    gateway = gateway_factory(db_url)
    runtime = gateway.runtime
    now = datetime.now(UTC)
    with runtime.sessions() as session:
        for slot, gtin, state in ((SLOT, MILK, "empty"), (SLOT_2, OAT_DRINK, "ok")):
            session.add(
                SlotState(
                    store_id=STORE,
                    slot_id=slot,
                    gtin=gtin,
                    camera_id="cam-1l",
                    state=state,
                    fill=0.0,
                    confidence=1.0,
                    stale=False,
                    since=now,
                    updated_at=now,
                )
            )
        session.add(
            RestockTask(
                store_id=STORE,
                slot_id=SLOT_2,
                gtin=OAT_DRINK,
                camera_id="cam-1l",
                kind="reorder",
                slot_state="empty",
                state="acknowledged",
                opened_at=now - timedelta(hours=1),
                updated_at=now,
                live_slot=SLOT_2,
                history=[],
            )
        )
        session.commit()
    with runtime.sessions() as session:
        events = reconcile(session, runtime.stores[STORE], now)
        session.commit()
    assert sorted((e[2]["slot"], e[2]["state"]) for e in events) == [(SLOT, "open"), (SLOT_2, "closed")]
    with runtime.sessions() as session:
        assert reconcile(session, runtime.stores[STORE], now) == []  # nothing left to do
