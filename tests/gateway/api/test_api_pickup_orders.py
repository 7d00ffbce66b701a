"""Pickup-order API: Idempotency-Key required and replayed, all-or-none 409, roles, no oversell under load."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx
from api_helpers import BERLIN, Keys, auth, stock
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from smartstore.gateway.db.lockers import PickupOrder
from smartstore.gateway.db.models import Inventory
from smartstore.gateway.runtime import GatewayRuntime

ORDERS = f"/api/v1/stores/{BERLIN}/pickup-orders"
RICE = "09506000100098"  # untagged, safety stock 0
MILK = "09506000100005"  # safety stock 2


def post(client: TestClient, key: str, body: dict[str, Any], idem: str | None = "k-1") -> httpx.Response:
    headers = auth(key) | ({"Idempotency-Key": idem} if idem else {})
    return client.post(ORDERS, json=body, headers=headers)


def reserved(runtime: GatewayRuntime, gtin: str) -> tuple[int, int]:
    with runtime.sessions() as session:
        row = session.get(Inventory, (BERLIN, gtin))
        assert row is not None
        return row.reserved, row.available_to_promise


def order_count(runtime: GatewayRuntime) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(PickupOrder)) or 0


def test_an_order_needs_an_idempotency_key(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    response = post(client, keys.integrator, {"lines": [{"gtin": RICE, "quantity": 1}]}, idem=None)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "idempotency_key_required"
    assert order_count(api_runtime) == 0


def test_same_key_replays_and_another_body_is_refused(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    body = {"lines": [{"gtin": RICE, "quantity": 2}], "external_ref": "web-1001"}
    first = post(client, keys.integrator, body)
    assert first.status_code == 201, first.text
    order = first.json()
    assert order["state"] == "reserved"
    assert order["external_ref"] == "web-1001"
    assert order["lines"] == [{"gtin": RICE, "quantity": 2}]
    assert [t["to"] for t in order["transitions"]] == ["created", "reserved"]
    assert order["id"].startswith("ORD-")
    again = post(client, keys.integrator, {**body, "lines": [{"gtin": RICE[1:], "quantity": 2}]})  # GTIN-13
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == order
    other = post(client, keys.integrator, {"lines": [{"gtin": RICE, "quantity": 3}]})
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert reserved(api_runtime, RICE) == (2, 3)
    assert order_count(api_runtime) == 1
    listed = client.get(ORDERS, params={"state": "reserved"}, headers=auth(keys.manager)).json()
    assert [item["id"] for item in listed["items"]] == [order["id"]]
    assert listed["total"] == 1
    assert client.get(ORDERS, params={"state": "ready"}, headers=auth(keys.manager)).json()["total"] == 0
    one = client.get(f"{ORDERS}/{order['id']}", headers=auth(keys.integrator)).json()
    assert one["compartment_state"] is None


def test_a_line_that_cannot_be_reserved_fails_the_order(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    stock(api_runtime, BERLIN, MILK, zone="aisle-1", quantity=3)  # ATP 1
    body = {"lines": [{"gtin": RICE, "quantity": 1}, {"gtin": MILK, "quantity": 2}]}
    response = post(client, keys.integrator, body)
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "insufficient_stock"
    assert error["details"] == [
        {"line": 2, "gtin": MILK, "requested": 2, "available_to_promise": 1, "reason": "insufficient_stock"}
    ]
    assert reserved(api_runtime, RICE) == (0, 5)
    # The failed attempt did not keep its key: the same key works once stock is there.
    stock(api_runtime, BERLIN, MILK, zone="aisle-1", quantity=10)
    assert post(client, keys.integrator, body).status_code == 201


def test_roles(client: TestClient, keys: Keys, api_runtime: GatewayRuntime) -> None:
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    body = {"lines": [{"gtin": RICE, "quantity": 1}]}
    assert post(client, keys.kiosk, body).status_code == 403
    assert post(client, keys.manager, body).status_code == 403  # orders come from the shop's integration
    assert post(client, keys.hamburg_integrator, body).json()["error"]["code"] == "store_forbidden"
    order = post(client, keys.admin, body).json()["id"]
    assert client.get(ORDERS, headers=auth(keys.kiosk)).status_code == 403
    load = client.post(f"{ORDERS}/{order}/load", headers=auth(keys.integrator))
    assert load.status_code == 403
    assert client.get(f"/api/v1/stores/{BERLIN}/lockers", headers=auth(keys.integrator)).status_code == 403
    assert client.get(f"{ORDERS}/ORD-NOPE0000", headers=auth(keys.manager)).status_code == 404
    cancelled = client.post(f"{ORDERS}/{order}/cancel", headers=auth(keys.manager))
    assert cancelled.json()["state"] == "cancelled"
    assert client.post(f"{ORDERS}/{order}/cancel", headers=auth(keys.integrator)).status_code == 409
    assert reserved(api_runtime, RICE) == (0, 5)


def test_no_oversell_under_concurrent_orders(
    live_server: str, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    """40 customers at once want 1 unit of a product with 5 available: exactly 5 get it."""
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(40)

    def order() -> None:
        with httpx.Client(base_url=live_server, timeout=60) as http:
            start.wait()
            response = http.post(
                ORDERS,
                json={"lines": [{"gtin": RICE, "quantity": 1}]},
                headers=auth(keys.integrator) | {"Idempotency-Key": uuid.uuid4().hex},
            )
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=order) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert sorted(statuses) == [201] * 5 + [409] * 35
    assert reserved(api_runtime, RICE) == (5, 0)
    assert order_count(api_runtime) == 5
