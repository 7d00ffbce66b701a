"""The dashboard's data routes: roles, tasks and their steps, KPIs, history, planogram, telemetry."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dashboard_helpers import CAMERA, MILK, OAT_DRINK, SLOT, SLOT_2, STORE, Keys
from fastapi.testclient import TestClient

from smartstore.gateway.api.app import create_app
from smartstore.gateway.config import GatewaySettings
from smartstore.gateway.db.lockers import CompartmentState, PickupOrder
from smartstore.gateway.db.models import SlotState
from smartstore.gateway.inventory.catalog import sync_stores
from smartstore.gateway.inventory.store import apply_movement
from smartstore.gateway.restock.domain import SlotChange
from smartstore.gateway.restock.services import RestockServices
from smartstore.gateway.restock.store import apply_slot_changes
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.gateway.security import Role, create_api_key
from smartstore.kernel.contract import payloads as p
from smartstore.kernel.mqtt import MqttSettings
from smartstore.kernel.storeconfig import EXAMPLE_STORE

ROUTES = [
    f"/api/v1/stores/{STORE}/tasks",
    f"/api/v1/stores/{STORE}/kpis",
    f"/api/v1/stores/{STORE}/history/osa",
    f"/api/v1/stores/{STORE}/history/oos",
    f"/api/v1/stores/{STORE}/planogram",
    f"/api/v1/stores/{STORE}/telemetry/rfid",
]


@dataclass
class Api:
    runtime: GatewayRuntime
    client: TestClient
    keys: Keys

    def get(self, path: str, key: str | None = None) -> dict[str, Any]:
        response = self.client.get(path, headers={"X-API-Key": key or self.keys.manager})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def post(self, path: str, key: str | None = None) -> tuple[int, dict[str, Any]]:
        response = self.client.post(path, headers={"X-API-Key": key or self.keys.manager})
        return response.status_code, response.json()


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    settings = GatewaySettings(
        db_url=db_url, stores=[EXAMPLE_STORE], mqtt=MqttSettings(url="mqtt://127.0.0.1:1")
    )
    runtime = GatewayRuntime.build(settings)
    sync_stores(runtime.sessions, runtime.stores)
    sessions = runtime.sessions
    keys = Keys(
        admin=create_api_key(sessions, Role.ADMIN, "ops"),
        manager=create_api_key(sessions, Role.MANAGER, "berlin manager", store_id=STORE),
        integrator=create_api_key(sessions, Role.INTEGRATOR, "erp"),
        kiosk=create_api_key(sessions, Role.KIOSK, "kiosk 1", store_id=STORE),
    )
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        yield Api(runtime, client, keys)
    runtime.engine.dispose()


def observe(runtime: GatewayRuntime, changes: list[tuple[str, str, str, datetime]]) -> list[dict[str, Any]]:
    """Apply slot observations the way the ingest does: slot rows and tasks in one transaction."""
    config = runtime.stores[STORE]
    with runtime.sessions() as session:
        backroom = {g: 0 for g in (MILK, OAT_DRINK)}
        slot_changes = []
        for slot, gtin, state, at in changes:
            row = session.get(SlotState, (STORE, slot))
            before = row.state if row else None
            if row is None:
                row = SlotState(store_id=STORE, slot_id=slot, gtin=gtin, camera_id=CAMERA, confidence=1.0)
                session.add(row)
            row.state, row.fill, row.stale, row.since, row.updated_at = state, 0.0, False, at, at
            slot_changes.append(SlotChange(STORE, slot, gtin, CAMERA, before, state, at))
        events = apply_slot_changes(
            session, {STORE: config}, slot_changes, lambda _s, g: backroom.get(g, 0), datetime.now(UTC)
        )
        session.commit()
    return [data for _type, _store, data in events]


@pytest.mark.parametrize("route", ROUTES)
def test_dashboard_routes_are_for_managers_and_admins_only(api: Api, route: str) -> None:
    api.get(route, api.keys.manager)
    api.get(route, api.keys.admin)
    for key in (api.keys.kiosk, api.keys.integrator):
        response = api.client.get(route, headers={"X-API-Key": key})
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "forbidden"
    assert api.client.get(route).status_code == 401


def test_tasks_rank_and_steps(api: Api) -> None:
    now = datetime.now(UTC)
    with api.runtime.sessions() as session:
        store = api.runtime.stores[STORE]
        apply_movement(
            session, store, gtin=OAT_DRINK, type="count", quantity=5, zone="backroom", source="manual", at=now
        )
        session.commit()
    observe(api.runtime, [(SLOT, MILK, "empty", now - timedelta(minutes=30))])
    observe(api.runtime, [(SLOT_2, OAT_DRINK, "empty", now - timedelta(minutes=5))])
    items = api.get(f"/api/v1/stores/{STORE}/tasks")["items"]
    # Stock in the backroom ranks the younger gap first: someone can fix it right now.
    assert [(t["slot"], t["kind"], t["rank"]) for t in items] == [
        (SLOT_2, "restock_from_backroom", 1),
        (SLOT, "reorder", 2),
    ]
    assert items[0]["name"] == "Nordvik Oat drink 1 l"
    assert items[0]["shelf"] == "shelf-1l"
    task_id = items[1]["id"]
    status, body = api.post(f"/api/v1/tasks/{task_id}/acknowledge")
    assert status == 200
    assert body["state"] == "acknowledged"
    assert body["acknowledged_by"] == "berlin manager"
    status, body = api.post(f"/api/v1/tasks/{task_id}/resolve", api.keys.admin)
    assert status == 200
    assert body["state"] == "resolved"
    assert body["resolved_by"] == "ops"
    status, body = api.post(f"/api/v1/tasks/{task_id}/acknowledge")
    assert status == 409
    assert body["error"]["code"] == "task_conflict"
    assert api.post("/api/v1/tasks/424242/acknowledge")[0] == 404
    assert api.post(f"/api/v1/tasks/{task_id}/resolve", api.keys.kiosk)[0] == 403
    # Resolved waits for the camera: ranked last among the live ones.
    assert [t["id"] for t in api.get(f"/api/v1/stores/{STORE}/tasks")["items"]][-1] == task_id

    observe(api.runtime, [(SLOT, MILK, "ok", now)])
    live = api.get(f"/api/v1/stores/{STORE}/tasks")["items"]
    assert [t["slot"] for t in live] == [SLOT_2]
    closed = api.get(f"/api/v1/stores/{STORE}/tasks?state=closed")["items"]
    assert [(t["id"], t["closed_by"], t["rank"]) for t in closed] == [(task_id, "camera", None)]
    assert [h["event"] for h in closed[0]["history"]] == ["opened", "acknowledged", "resolved", "closed"]


def test_kpis_and_history(api: Api) -> None:
    now = datetime.now(UTC)
    planned = len(api.runtime.stores[STORE].slots)
    kpis = api.get(f"/api/v1/stores/{STORE}/kpis")
    assert (kpis["slots_planned"], kpis["slots_unknown"], kpis["osa"]) == (planned, planned, None)
    assert kpis["devices_offline"] == kpis["devices"] > 0  # nothing reported yet
    assert kpis["mean_time_to_replenish_s"] is None

    observe(api.runtime, [(SLOT, MILK, "ok", now - timedelta(minutes=20)), (SLOT_2, OAT_DRINK, "low", now)])
    observe(api.runtime, [(SLOT, MILK, "empty", now - timedelta(minutes=10))])
    observe(api.runtime, [(SLOT, MILK, "ok", now - timedelta(minutes=4))])
    kpis = api.get(f"/api/v1/stores/{STORE}/kpis")
    assert (kpis["slots_ok"], kpis["slots_low"], kpis["slots_empty"]) == (1, 1, 0)
    assert kpis["osa"] == 1.0  # both slots seen have product; the rest are unknown, not empty
    assert kpis["open_tasks"] == 1  # the low slot
    assert kpis["replenished_today"] == 1
    assert kpis["mean_time_to_replenish_s"] == 360.0

    services = RestockServices(api.runtime.stores, api.runtime.sessions, api.runtime.bus)
    services.sample_once()
    points = api.get(f"/api/v1/stores/{STORE}/history/osa?hours=1")["points"]
    assert len(points) == 2  # the sample and now
    assert points[0]["osa"] == points[1]["osa"] == 1.0

    periods = api.get(f"/api/v1/stores/{STORE}/history/oos?hours=1")["periods"]
    assert [(x["slot"], x["live"]) for x in periods] == [(SLOT, False), (SLOT_2, True)]
    assert periods[0]["duration_s"] == 360.0


def test_planogram_has_slots_with_their_state(api: Api) -> None:
    now = datetime.now(UTC)
    observe(api.runtime, [(SLOT, MILK, "empty", now)])
    plan = api.get(f"/api/v1/stores/{STORE}/planogram")
    config = api.runtime.stores[STORE]
    assert [c["id"] for c in plan["cameras"]] == [c.id for c in config.devices.cameras]
    camera = next(c for c in plan["cameras"] if c["id"] == CAMERA)
    assert camera["shelves"] == ["shelf-1l"]
    assert camera["width"] == 1280
    slots = {s["id"]: s for shelf in plan["shelves"] for s in shelf["slots"]}
    assert len(slots) == len(config.slots)
    assert slots[SLOT]["state"] == "empty"
    assert slots[SLOT]["name"] == "Nordvik Whole milk 1 l"
    assert slots[SLOT_2]["state"] == "unknown"
    assert slots[SLOT_2]["since"] is None
    assert len(slots[SLOT]["polygon"]) == 4


def test_rfid_telemetry_route_shows_latest_and_series(api: Api) -> None:
    book = api.runtime.telemetry
    for i, rate in enumerate((100.0, 250.5)):
        telemetry = p.RfidTelemetry(
            **p.envelope(i + 1, datetime(2026, 3, 2, 9, 0, 10 * i, tzinfo=UTC)),
            interval_s=10.0,
            readers=[
                p.ReaderSummary(
                    reader="reader-aisle-1",
                    online=True,
                    reads_per_s=rate,
                    unique_tags=40,
                    tags_in_zones=42,
                    read_ages=p.ReadAges(under_5s=40, under_30s=2, under_5min=0, older=0),
                )
            ],
            rejected_reads={"below_min_rssi": 3 * (i + 1)},
        )
        book.record(STORE, "edge-1", telemetry, datetime.now(UTC))
    view = api.get(f"/api/v1/stores/{STORE}/telemetry/rfid")
    [reader] = view["readers"]
    assert (reader["reader"], reader["reads_per_s"], reader["agent"]) == ("reader-aisle-1", 250.5, "edge-1")
    assert [point[1] for point in reader["series"]] == [100.0, 250.5]
    assert view["rejected_reads"] == {"below_min_rssi": 6}


def test_pickup_kpis_read_the_lockers_tables(api: Api) -> None:
    now = datetime.now(UTC)
    orders = [  # (order, state, expires in, compartment)
        ("ORD-READY", "ready", timedelta(hours=5), "c01"),
        ("ORD-LATE", "ready", -timedelta(minutes=5), "c02"),
        ("ORD-EXPIRED", "expired", -timedelta(hours=1), "c03"),
        ("ORD-PICKING", "picking", timedelta(hours=5), None),
    ]
    with api.runtime.sessions() as session:
        for order_id, state, expires, compartment in orders:
            session.add(
                PickupOrder(
                    id=order_id,
                    store_id=STORE,
                    state=state,
                    size="S",
                    locker_id="locker-1" if compartment else None,
                    compartment_id=compartment,
                    expires_at=now + expires,
                    created_by="erp",
                    created_at=now,
                    updated_at=now,
                )
            )
            if compartment:
                session.add(
                    CompartmentState(
                        store_id=STORE,
                        locker_id="locker-1",
                        compartment_id=compartment,
                        size="S",
                        order_id=order_id,
                        updated_at=now,
                    )
                )
        session.commit()
    kpis = api.get(f"/api/v1/stores/{STORE}/kpis")
    assert (kpis["pickups_waiting"], kpis["pickups_overdue"]) == (2, 2)
