"""Inventory reads: filters, sort and paging give the right rows; detail per zone and slot; availability."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from api_helpers import BERLIN, HAMBURG, HAMBURG_ONLY, MILK, OAT_DRINK, Keys, auth, stock
from fastapi.testclient import TestClient
from sqlalchemy import update

from smartstore.gateway.db.models import Inventory, SlotState
from smartstore.gateway.runtime import GatewayRuntime

BUTTER = "09506000100036"
INVENTORY = f"/api/v1/stores/{BERLIN}/inventory"


@pytest.fixture
def seeded(api_runtime: GatewayRuntime) -> GatewayRuntime:
    """Milk 10 on the floor + 5 in the backroom (ok), oat drink 1 (low), butter 0 (empty), rest unknown."""
    start = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
    stock(api_runtime, BERLIN, MILK, zone="aisle-1", quantity=10, at=start)
    stock(api_runtime, BERLIN, MILK, zone="backroom", quantity=5, at=start + timedelta(minutes=1))
    stock(api_runtime, BERLIN, OAT_DRINK, zone="aisle-2", quantity=1, at=start + timedelta(minutes=2))
    stock(api_runtime, BERLIN, BUTTER, zone="aisle-1", quantity=0, at=start + timedelta(minutes=3))
    stock(api_runtime, HAMBURG, MILK, zone="floor", quantity=4, at=start)
    with api_runtime.sessions() as session:
        for gtin, state, fill in ((MILK, "ok", 0.9), (OAT_DRINK, "low", 0.3), (BUTTER, "empty", 0.0)):
            session.execute(
                update(Inventory)
                .where(Inventory.store_id == BERLIN, Inventory.gtin == gtin)
                .values(shelf_state=state, shelf_fill=fill)
            )
        session.add(
            SlotState(
                store_id=BERLIN,
                slot_id="1l-1-1",
                gtin=MILK,
                camera_id="cam-1l",
                state="ok",
                fill=0.9,
                confidence=0.97,
                stale=False,
                since=start,
                updated_at=start + timedelta(minutes=5),
            )
        )
        session.commit()
    return api_runtime


def gtins(client: TestClient, key: str, **params: object) -> list[str]:
    response = client.get(INVENTORY, params=params, headers=auth(key))
    assert response.status_code == 200, response.text
    return [item["gtin"] for item in response.json()["items"]]


def test_inventory_rows_carry_the_unified_figures(
    client: TestClient, keys: Keys, seeded: GatewayRuntime
) -> None:
    page = client.get(INVENTORY, params={"q": "DAI-00001"}, headers=auth(keys.integrator)).json()
    assert page["total"] == 1
    milk = page["items"][0]
    assert milk["name"] == "Nordvik Whole milk 1 l"
    assert milk["sku"] == "DAI-00001"
    assert (milk["on_hand"], milk["salesfloor"], milk["backroom"]) == (15, 10, 5)
    assert milk["available_to_promise"] == 15 - 2  # safety stock 2 in the store file
    assert milk["shelf_state"] == "ok"
    assert milk["shelf_fill"] == pytest.approx(0.9)
    assert milk["sources"]["on_hand"]["source"] == "manual"
    assert datetime.fromisoformat(milk["updated_at"]) == datetime(2025, 1, 1, 8, 1, tzinfo=UTC)


def test_filter_by_state_search_area_and_atp(client: TestClient, keys: Keys, seeded: GatewayRuntime) -> None:
    assert gtins(client, keys.manager, state=["low", "empty"]) == [OAT_DRINK, BUTTER]
    assert gtins(client, keys.manager, state="ok") == [MILK]
    assert gtins(client, keys.manager, q="100012") == [OAT_DRINK]
    oat_names = {p.gtin for p in seeded.stores[BERLIN].catalog if "oat" in p.name.lower()}
    assert set(gtins(client, keys.manager, q="OAT", limit=500)) == oat_names
    assert gtins(client, keys.manager, q="100%") == []  # wildcards are searched literally
    assert gtins(client, keys.manager, zone_area="backroom") == [MILK]
    assert gtins(client, keys.manager, zone_area="salesfloor") == [MILK, OAT_DRINK]  # butter counted 0
    assert gtins(client, keys.manager, min_atp=1) == [MILK]
    assert gtins(client, keys.manager, state="low", q="oat", min_atp=0) == [OAT_DRINK]


def test_sort_orders_with_nulls_last(client: TestClient, keys: Keys, seeded: GatewayRuntime) -> None:
    assert gtins(client, keys.admin, sort="on_hand", order="desc", limit=2) == [MILK, OAT_DRINK]
    assert gtins(client, keys.admin, sort="shelf_fill", limit=4)[:3] == [BUTTER, OAT_DRINK, MILK]
    assert gtins(client, keys.admin, sort="shelf_fill", order="desc", limit=3) == [MILK, OAT_DRINK, BUTTER]
    assert gtins(client, keys.admin, sort="updated_at", order="desc", limit=1) != [MILK]
    page = client.get(
        INVENTORY, params={"sort": "name", "q": "nordvik", "limit": 50}, headers=auth(keys.admin)
    )
    names = [item["name"] for item in page.json()["items"]]
    assert len(names) == 35
    assert names == sorted(names, key=str.casefold)


def test_paging_covers_every_row_once(client: TestClient, keys: Keys, seeded: GatewayRuntime) -> None:
    catalog = sorted(p.gtin for p in seeded.stores[BERLIN].catalog)
    seen: list[str] = []
    for offset in range(0, len(catalog), 70):
        page = client.get(INVENTORY, params={"limit": 70, "offset": offset}, headers=auth(keys.admin)).json()
        assert (page["total"], page["limit"], page["offset"]) == (len(catalog), 70, offset)
        seen += [item["gtin"] for item in page["items"]]
    assert seen == catalog
    beyond = client.get(INVENTORY, params={"offset": 1000}, headers=auth(keys.admin)).json()
    assert beyond["items"] == []
    assert beyond["total"] == len(catalog)
    assert client.get(INVENTORY, params={"limit": 501}, headers=auth(keys.admin)).status_code == 422
    assert client.get(INVENTORY, params={"state": "purple"}, headers=auth(keys.admin)).status_code == 422


def test_detail_has_counts_per_zone_and_slots(client: TestClient, keys: Keys, seeded: GatewayRuntime) -> None:
    response = client.get(f"{INVENTORY}/{MILK.lstrip('0')}", headers=auth(keys.manager))  # GTIN-13 accepted
    assert response.status_code == 200, response.text
    detail = response.json()
    assert detail["gtin"] == MILK
    assert detail["on_hand"] == 15
    assert [(z["zone"], z["area"], z["count"]) for z in detail["zones"]] == [
        ("aisle-1", "salesfloor", 10),
        ("backroom", "backroom", 5),
    ]
    [slot] = detail["slots"]
    assert (slot["slot"], slot["shelf"], slot["camera"], slot["state"]) == (
        "1l-1-1",
        "shelf-1l",
        "cam-1l",
        "ok",
    )
    assert client.get(f"{INVENTORY}/{HAMBURG_ONLY}", headers=auth(keys.manager)).status_code == 404
    bad = client.get(f"{INVENTORY}/09506000100006", headers=auth(keys.manager))
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_gtin"


def test_availability_lists_every_store_that_carries_the_product(
    client: TestClient, keys: Keys, seeded: GatewayRuntime
) -> None:
    response = client.get(f"/api/v1/products/{MILK[1:]}/availability", headers=auth(keys.integrator))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["gtin"] == MILK
    assert body["name"] == "Nordvik Whole milk 1 l"
    by_store = {row["store"]: row for row in body["stores"]}
    assert set(by_store) == {BERLIN, HAMBURG}
    assert (by_store[BERLIN]["on_hand"], by_store[BERLIN]["available_to_promise"]) == (15, 13)
    assert (by_store[HAMBURG]["on_hand"], by_store[HAMBURG]["available_to_promise"]) == (4, 3)
    assert by_store[HAMBURG]["store_name"] == "Smartstore Hamburg Altona"
    # a store-bound key only sees its own store
    bound = client.get(f"/api/v1/products/{MILK}/availability", headers=auth(keys.hamburg_integrator)).json()
    assert [row["store"] for row in bound["stores"]] == [HAMBURG]
    only = client.get(f"/api/v1/products/{HAMBURG_ONLY}/availability", headers=auth(keys.integrator)).json()
    assert [row["store"] for row in only["stores"]] == [HAMBURG]
    assert (
        client.get("/api/v1/products/96385074/availability", headers=auth(keys.integrator)).status_code == 404
    )


def test_stores_list_counts(client: TestClient, keys: Keys, seeded: GatewayRuntime) -> None:
    stores = {s["id"]: s for s in client.get("/api/v1/stores", headers=auth(keys.integrator)).json()}
    assert set(stores) == {BERLIN, HAMBURG}
    assert stores[BERLIN]["products"] == len(seeded.stores[BERLIN].catalog)
    assert stores[HAMBURG]["products"] == 2
    assert stores[BERLIN]["timezone"] == "Europe/Berlin"
    assert stores[BERLIN]["name"] == "Smartstore Berlin Mitte"
    assert stores[BERLIN]["devices"] == 7 + 8 + 1
    assert stores[BERLIN]["devices_online"] == 0
    assert stores[BERLIN]["open_alerts"] == 0
