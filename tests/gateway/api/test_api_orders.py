"""Omnichannel orders API: sourcing with reasons, slots with capacity, delivery promise, split, cancel."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from api_helpers import BERLIN, HAMBURG, Keys, auth, stock
from fastapi.testclient import TestClient
from sqlalchemy import select

from smartstore.gateway.db.models import Inventory
from smartstore.gateway.db.orders import DomainEvent
from smartstore.gateway.runtime import GatewayRuntime

ORDERS = "/api/v1/orders"
RICE = "09506000100098"  # Berlin, untagged, safety stock 0
MILK = "09506000100005"  # both stores; safety stock 2 in Berlin, 1 in Hamburg
NEAR_BERLIN_STORE = {"lat": 52.5300, "lon": 13.4100}  # about 0.8 km away
POTSDAM = {"lat": 52.3906, "lon": 13.0645}  # about 27 km away: outside the 4 km area


def place(client: TestClient, key: str, body: dict[str, Any], idem: str | None = None) -> httpx.Response:
    headers = auth(key) | {"Idempotency-Key": idem or str(uuid.uuid4())}
    return client.post(ORDERS, json=body, headers=headers)


def reserved(runtime: GatewayRuntime, store: str, gtin: str) -> int:
    with runtime.sessions() as session:
        row = session.get(Inventory, (store, gtin))
        return row.reserved if row is not None else 0


def first_counter_slot(client: TestClient, key: str) -> dict[str, Any]:
    slots = client.get(f"/api/v1/stores/{BERLIN}/pickup-slots", headers=auth(key)).json()
    assert slots["point"] == "counter"
    assert slots["items"], slots
    return slots["items"][0]


def test_counter_pickup_in_a_slot_reserves_and_takes_a_place(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    slot = first_counter_slot(client, keys.integrator)
    assert slot["capacity"] == 12
    assert slot["taken"] == 0
    body = {
        "channel": "app",
        "fulfilment": "counter_pickup",
        "store": BERLIN,
        "slot": slot["start"],
        "customer_ref": "cust-42",
        "lines": [{"gtin": RICE, "quantity": 2}],
    }
    response = place(client, keys.integrator, body)
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["id"].startswith("CO-")
    assert order["status"] == "open"
    assert order["sourcing"]["strategy"] == "requested_store"
    assert "chosen by the customer" in order["sourcing"]["allocations"][0]["reasons"]
    [fulfilment] = order["fulfilments"]
    assert fulfilment["fulfilment"] == "counter_pickup"
    assert fulfilment["state"] == "reserved"
    assert fulfilment["channel"] == "app"
    assert fulfilment["customer_order"] == order["id"]
    assert datetime.fromisoformat(fulfilment["slot_start"]) == datetime.fromisoformat(slot["start"])
    assert reserved(api_runtime, BERLIN, RICE) == 2
    assert first_counter_slot(client, keys.integrator)["taken"] == 1
    again = client.get(f"{ORDERS}/{order['id']}", headers=auth(keys.integrator)).json()
    assert again["fulfilments"][0]["id"] == fulfilment["id"]


def test_a_slot_the_store_does_not_offer_is_refused(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    slot = datetime.fromisoformat(first_counter_slot(client, keys.integrator)["start"]) + timedelta(minutes=7)
    body = {
        "channel": "web",
        "fulfilment": "counter_pickup",
        "store": BERLIN,
        "slot": slot.isoformat(),
        "lines": [{"gtin": RICE, "quantity": 1}],
    }
    response = place(client, keys.integrator, body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_slot"
    assert reserved(api_runtime, BERLIN, RICE) == 0


def test_delivery_is_sourced_by_distance_with_a_promise_time(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    body = {
        "channel": "web",
        "fulfilment": "delivery",
        "destination": NEAR_BERLIN_STORE,
        "lines": [{"gtin": RICE, "quantity": 1}],
    }
    response = place(client, keys.integrator, body)
    assert response.status_code == 201, response.text
    order = response.json()
    allocation = order["sourcing"]["allocations"][0]
    assert order["sourcing"]["strategy"] == "best_store"
    assert allocation["store"] == BERLIN
    assert 0.5 < allocation["distance_km"] < 1.2
    [fulfilment] = order["fulfilments"]
    promise = datetime.fromisoformat(fulfilment["promised_by"]) - datetime.fromisoformat(
        fulfilment["created_at"]
    )
    assert promise == timedelta(minutes=30)
    assert fulfilment["expires_at"] is None
    far = place(client, keys.integrator, body | {"destination": POTSDAM})
    assert far.status_code == 409, far.text
    error = far.json()["error"]
    assert error["code"] == "no_source"
    reasons = {r["store"]: r["reason"] for r in error["details"][0]["rejected"]}
    assert "outside its 4 km delivery area" in reasons[BERLIN]
    assert reasons[HAMBURG] == "does not deliver"
    assert reserved(api_runtime, BERLIN, RICE) == 1


def test_split_only_when_allowed_and_cancel_releases_every_store(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    stock(api_runtime, BERLIN, MILK, zone="aisle-1", quantity=5)  # 3 to promise (safety stock 2)
    stock(api_runtime, HAMBURG, MILK, zone="floor", quantity=4)  # 3 to promise (safety stock 1)
    body = {
        "channel": "marketplace",
        "fulfilment": "ship",
        "destination": NEAR_BERLIN_STORE,
        "lines": [{"gtin": MILK, "quantity": 5}],
    }
    whole = place(client, keys.integrator, body)
    assert whole.status_code == 409, whole.text
    assert whole.json()["error"]["details"][0]["shortfall"] == [{"gtin": MILK, "quantity": 2}]
    response = place(client, keys.integrator, body | {"allow_split": True})
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["sourcing"]["strategy"] == "split"
    taken = {a["store"]: a["lines"][0]["quantity"] for a in order["sourcing"]["allocations"]}
    assert taken == {BERLIN: 3, HAMBURG: 2}
    assert {f["store"] for f in order["fulfilments"]} == {BERLIN, HAMBURG}
    assert (reserved(api_runtime, BERLIN, MILK), reserved(api_runtime, HAMBURG, MILK)) == (3, 2)
    cancelled = client.post(f"{ORDERS}/{order['id']}/cancel", headers=auth(keys.integrator))
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert (reserved(api_runtime, BERLIN, MILK), reserved(api_runtime, HAMBURG, MILK)) == (0, 0)
    with api_runtime.sessions() as session:
        types = [
            e.type
            for e in session.scalars(
                select(DomainEvent).where(
                    DomainEvent.subject.in_([order["id"], *[f["id"] for f in order["fulfilments"]]])
                )
            )
        ]
    assert types.count("order.created") == 1
    assert types.count("order.state_changed") == 2 * 3  # created, reserved, cancelled per fulfilment


def test_replay_and_store_bound_keys(client: TestClient, keys: Keys, api_runtime: GatewayRuntime) -> None:
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    body = {
        "channel": "web",
        "fulfilment": "locker_pickup",
        "store": BERLIN,
        "lines": [{"gtin": RICE, "quantity": 1}],
    }
    first = place(client, keys.integrator, body, idem="same")
    second = place(client, keys.integrator, body, idem="same")
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert reserved(api_runtime, BERLIN, RICE) == 1
    hidden = client.get(f"{ORDERS}/{first.json()['id']}", headers=auth(keys.hamburg_integrator))
    assert hidden.status_code == 404
    elsewhere = place(client, keys.hamburg_integrator, body)
    assert elsewhere.status_code == 404
    assert elsewhere.json()["error"]["code"] == "unknown_store"
