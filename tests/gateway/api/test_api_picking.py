"""Picking API on SQLite and PostgreSQL: pick lists by urgency and zone, the RFID pick check, short picks
that re-source a shipment or offer pickup alternatives, with reservations adding up."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from api_helpers import BERLIN, HAMBURG, MILK, OAT_DRINK, Keys, auth, stock
from fastapi.testclient import TestClient
from sqlalchemy import select

from smartstore.gateway.db.models import Inventory
from smartstore.gateway.db.orders import DomainEvent
from smartstore.gateway.lockers.lifecycle import start_picking
from smartstore.gateway.runtime import GatewayRuntime

RICE = "09506000100098"  # Berlin, untagged, shelf 1l-2-4 in aisle-1
CHICKPEAS = "09506000100487"  # Berlin, tagged, shelf 2l-1-1 in aisle-2, safety stock 1
BUTTER = "09506000100036"  # Berlin, tagged; nobody orders it here
NEAR = {"lat": 52.5300, "lon": 13.4100}  # 0.8 km from the Berlin store


def order(client: TestClient, keys: Keys, fulfilment: str, lines: dict[str, int], **extra: Any) -> str:
    body = {
        "channel": "web",
        "fulfilment": fulfilment,
        "lines": [{"gtin": g, "quantity": q} for g, q in lines.items()],
    } | extra
    headers = auth(keys.integrator) | {"Idempotency-Key": str(uuid.uuid4())}
    response = client.post("/api/v1/orders", json=body, headers=headers)
    assert response.status_code == 201, response.text
    [fulfilment_order] = response.json()["fulfilments"]
    return str(fulfilment_order["id"])


def reserved(runtime: GatewayRuntime, store: str, gtin: str) -> int:
    with runtime.sessions() as session:
        row = session.get(Inventory, (store, gtin))
        return row.reserved if row is not None else 0


def pick(runtime: GatewayRuntime, order_id: str) -> None:
    with runtime.sessions() as session:
        start_picking(session, runtime.stores[BERLIN], order_id, by="test", at=datetime.now(UTC))
        session.commit()


def short(client: TestClient, key: str, order_id: str, missing: dict[str, int]) -> Any:
    body = {"lines": [{"gtin": g, "missing": n} for g, n in missing.items()]}
    return client.post(f"/api/v1/stores/{BERLIN}/orders/{order_id}/short-pick", json=body, headers=auth(key))


def test_the_pick_list_puts_promises_first_and_walks_zone_by_zone(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    stock(api_runtime, BERLIN, MILK, zone="aisle-1", quantity=10)
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    stock(api_runtime, BERLIN, CHICKPEAS, zone="aisle-2", quantity=5)
    stock(api_runtime, BERLIN, OAT_DRINK, zone="backroom", quantity=6)  # none on its shelf
    shipped = order(client, keys, "ship", {MILK: 1}, store=BERLIN)
    slots = client.get(f"/api/v1/stores/{BERLIN}/pickup-slots", headers=auth(keys.integrator)).json()
    counter = order(
        client, keys, "counter_pickup", {RICE: 1, CHICKPEAS: 1}, store=BERLIN, slot=slots["items"][0]["start"]
    )
    delivered = order(client, keys, "delivery", {MILK: 2, OAT_DRINK: 1}, destination=NEAR)
    response = client.get(f"/api/v1/stores/{BERLIN}/pick-list", headers=auth(keys.manager))
    assert response.status_code == 200, response.text
    listing = response.json()
    assert [o["id"] for o in listing["orders"]] == [delivered, counter, shipped]
    milk = listing["orders"][0]["lines"][0]
    assert (milk["gtin"], milk["quantity"], milk["rfid_tagged"]) == (MILK, 2, True)
    assert milk["places"] == [
        {"shelf": "shelf-1l", "slot": "1l-1-1", "zone": "aisle-1", "zone_name": "Aisle 1"}
    ]
    assert milk["counts"] == {"salesfloor": 10, "backroom": 0, "locker": 0}
    assert milk["rfid"] == {"status": "pending", "counted": 0, "wanted": 2}
    rice = listing["orders"][1]["lines"][0]
    assert (rice["gtin"], rice["rfid"]["status"]) == (RICE, "not_tagged")
    walk = [
        (z["zone"], [(s["order"], s["gtin"], s["quantity"], s["shelf"]) for s in z["lines"]])
        for z in listing["by_zone"]
    ]
    assert walk == [
        ("backroom", [(delivered, OAT_DRINK, 1, None)]),
        (
            "aisle-1",
            [
                (delivered, MILK, 2, "shelf-1l"),
                (shipped, MILK, 1, "shelf-1l"),
                (counter, RICE, 1, "shelf-1l"),
            ],
        ),
        ("aisle-2", [(counter, CHICKPEAS, 1, "shelf-2l")]),
    ]
    assert listing["by_zone"][1]["name"] == "Aisle 1"
    assert listing["unexpected"] == []
    forbidden = client.get(f"/api/v1/stores/{BERLIN}/pick-list", headers=auth(keys.hamburg_manager))
    assert forbidden.status_code == 403
    not_a_picker = client.get(f"/api/v1/stores/{BERLIN}/pick-list", headers=auth(keys.integrator))
    assert not_a_picker.status_code == 403


def test_rfid_confirms_a_pick_in_the_locker_zone_and_flags_a_wrong_item(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    stock(api_runtime, BERLIN, MILK, zone="aisle-1", quantity=10)
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    stock(api_runtime, BERLIN, BUTTER, zone="aisle-1", quantity=5)
    picked = order(client, keys, "delivery", {MILK: 2, RICE: 1}, destination=NEAR)
    waiting = order(client, keys, "ship", {MILK: 1}, store=BERLIN)
    pick(api_runtime, picked)
    url = f"/api/v1/stores/{BERLIN}/orders/{picked}/pick-check"

    def check() -> dict[str, Any]:
        response = client.get(url, headers=auth(keys.manager))
        assert response.status_code == 200, response.text
        return dict(response.json())

    stock(api_runtime, BERLIN, MILK, zone="locker-bay", quantity=1)
    first = check()
    assert first["status"] == "pending"
    assert [(line["gtin"], line["rfid"]["status"]) for line in first["lines"]] == [
        (MILK, "pending"),
        (RICE, "not_tagged"),
    ]
    assert first["lines"][0]["rfid"] == {"status": "pending", "counted": 1, "wanted": 2}
    stock(api_runtime, BERLIN, MILK, zone="locker-bay", quantity=2)
    stock(api_runtime, BERLIN, BUTTER, zone="locker-bay", quantity=1)
    second = check()
    assert second["lines"][0]["rfid"]["status"] == "confirmed"
    assert (second["status"], second["associate_confirms"]) == ("not_tagged", [RICE])
    assert second["unexpected"] == [{"gtin": BUTTER, "name": "Nordvik Butter 250 g", "count": 1}]
    # The waiting order's units count too: 2 in the locker zone cover the picked order, not both.
    waiting_check = client.get(
        f"/api/v1/stores/{BERLIN}/orders/{waiting}/pick-check", headers=auth(keys.manager)
    )
    assert waiting_check.json()["lines"][0]["rfid"] == {"status": "pending", "counted": 2, "wanted": 3}
    listing = client.get(f"/api/v1/stores/{BERLIN}/pick-list", headers=auth(keys.manager)).json()
    assert listing["unexpected"] == second["unexpected"]
    assert [o["lines"][0]["rfid"]["status"] for o in listing["orders"]] == ["confirmed", "pending"]
    unknown = client.get(f"/api/v1/stores/{BERLIN}/orders/ORD-NOTHERE/pick-check", headers=auth(keys.manager))
    assert unknown.status_code == 404


def test_a_short_picked_shipment_is_resourced_to_another_store(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    stock(api_runtime, BERLIN, MILK, zone="aisle-1", quantity=10)  # 8 to promise
    stock(api_runtime, BERLIN, RICE, zone="aisle-1", quantity=5)
    stock(api_runtime, HAMBURG, MILK, zone="floor", quantity=4)  # 3 to promise
    shipped = order(client, keys, "ship", {MILK: 3, RICE: 1}, store=BERLIN, destination=NEAR)
    pick(api_runtime, shipped)
    assert short(client, keys.manager, shipped, {MILK: 4}).status_code == 422
    assert short(client, keys.manager, shipped, {OAT_DRINK: 1}).status_code == 422
    assert short(client, keys.hamburg_manager, shipped, {MILK: 1}).status_code == 403
    response = short(client, keys.manager, shipped, {MILK: 2})
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["outcome"], result["cancelled"]) == ("resourced", False)
    assert result["missing"] == [{"gtin": MILK, "quantity": 2}]
    assert result["order"]["lines"] == [{"gtin": MILK, "quantity": 1}, {"gtin": RICE, "quantity": 1}]
    [moved] = result["resourced"]
    assert (moved["store"], moved["fulfilment"], moved["state"]) == (HAMBURG, "ship", "reserved")
    assert moved["lines"] == [{"gtin": MILK, "quantity": 2}]
    assert (moved["customer_order"], moved["channel"]) == (result["order"]["customer_order"], "web")
    assert HAMBURG in result["message"]
    assert result["sourcing"]["allocations"][0]["store"] == HAMBURG
    assert (reserved(api_runtime, BERLIN, MILK), reserved(api_runtime, HAMBURG, MILK)) == (1, 2)
    customer = client.get(f"/api/v1/orders/{moved['customer_order']}", headers=auth(keys.integrator)).json()
    assert {f["store"] for f in customer["fulfilments"]} == {BERLIN, HAMBURG}
    # Nothing left: the order is cancelled; Hamburg has no rice, so it cannot be re-sourced.
    emptied = short(client, keys.manager, shipped, {MILK: 1, RICE: 1}).json()
    assert (emptied["outcome"], emptied["cancelled"], emptied["order"]["state"]) == (
        "unfilled",
        True,
        "cancelled",
    )
    assert emptied["resourced"] == []
    assert "no other location can fill them" in emptied["message"]
    assert (reserved(api_runtime, BERLIN, MILK), reserved(api_runtime, BERLIN, RICE)) == (0, 0)
    assert reserved(api_runtime, HAMBURG, MILK) == 2
    again = short(client, keys.manager, shipped, {MILK: 1})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "invalid_state")
    with api_runtime.sessions() as session:
        events = session.scalars(select(DomainEvent).where(DomainEvent.type == "order.short_picked")).all()
        assert [e.data["outcome"] for e in sorted(events, key=lambda e: e.seq)] == ["resourced", "unfilled"]
        assert events[0].data["resourced"] == [{"order": moved["id"], "store": HAMBURG}]


def test_a_short_picked_counter_pickup_offers_the_customer_alternatives(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    stock(api_runtime, BERLIN, MILK, zone="aisle-1", quantity=10)
    stock(api_runtime, HAMBURG, MILK, zone="floor", quantity=4)
    counter = order(client, keys, "counter_pickup", {MILK: 2}, store=BERLIN)
    response = short(client, keys.admin, counter, {MILK: 1})
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["outcome"], result["resourced"], result["cancelled"]) == ("alternatives", [], False)
    [alternative] = result["alternatives"]
    assert alternative["store"] == HAMBURG
    assert 250 < alternative["distance_km"] < 260
    assert result["order"]["lines"] == [{"gtin": MILK, "quantity": 1}]
    assert (reserved(api_runtime, BERLIN, MILK), reserved(api_runtime, HAMBURG, MILK)) == (1, 0)
    with api_runtime.sessions() as session:
        [event] = session.scalars(select(DomainEvent).where(DomainEvent.type == "order.short_picked")).all()
    assert event.data["alternatives"] == result["alternatives"]
    assert event.data["remaining"] == [{"gtin": MILK, "quantity": 1}]
