"""The dashboard's pick list (拣货单) in Chromium: orders to pick by zone and shelf, the RFID check."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from dashboard_helpers import MILK, RICE, STORE, GatewayFactory, RunningGateway, place_order, stock
from test_dashboard_browser import ARTIFACTS, Console, open_dashboard

pytest.importorskip("playwright.sync_api")

ZONES = "#pick-list section.pick-zone"
CHICKPEAS = "09506000100487"  # Greenfield Chickpeas 400 g: RFID-tagged, on shelf-2l in aisle 2


def shelf_of(gateway: RunningGateway, gtin: str) -> tuple[str, str, str, str]:
    """(zone, zone name, shelf, slot) of the first planogram slot holding the GTIN."""
    store = gateway.runtime.stores[STORE]
    for shelf in store.planogram:
        for slot in shelf.slots:
            if slot.gtin == gtin:
                zone = store.zones_by_id[shelf.zone]
                return zone.id, zone.name or zone.id, shelf.id, slot.id
    raise AssertionError(f"{gtin} is on no shelf")


def pickup(gateway: RunningGateway, gtin: str, quantity: int) -> str:
    body = {
        "channel": "web",
        "fulfilment": "locker_pickup",
        "store": STORE,
        "lines": [{"gtin": gtin, "quantity": quantity}],
    }
    [fulfilment] = place_order(gateway, body)["fulfilments"]
    return str(fulfilment["id"])


def pick_list(gateway: RunningGateway) -> dict[str, Any]:
    response = httpx.get(
        f"{gateway.base_url}/api/v1/stores/{STORE}/pick-list",
        headers={"Authorization": f"Bearer {gateway.keys.manager}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def line(page: Any, order_id: str) -> Any:
    return page.locator(f"{ZONES} tbody tr[data-order='{order_id}']")


def test_pick_list_by_zone_with_rfid_checks_live_in_two_languages(
    sqlite_url: str, gateway_factory: GatewayFactory, browser: Any
) -> None:
    gateway = gateway_factory(sqlite_url)
    rice_zone, rice_zone_name, rice_shelf, rice_slot = shelf_of(gateway, RICE)
    chickpea_zone, chickpea_zone_name, chickpea_shelf, chickpea_slot = shelf_of(gateway, CHICKPEAS)
    stock(gateway.runtime, RICE, 10, zone=rice_zone)
    stock(gateway.runtime, CHICKPEAS, 10, zone=chickpea_zone)
    stock(gateway.runtime, MILK, 2, zone="locker-bay")  # staged, but no order wants it
    rice = pickup(gateway, RICE, 2)  # untagged: the associate confirms
    chickpea = pickup(gateway, CHICKPEAS, 1)  # tagged, nothing staged yet: waiting for RFID
    served = pick_list(gateway)
    assert rice_zone != chickpea_zone  # two zone headings to tell apart
    walks = {walk["zone"]: [stop["order"] for stop in walk["lines"]] for walk in served["by_zone"]}
    assert walks == {rice_zone: [rice], chickpea_zone: [chickpea]}

    page = open_dashboard(browser, gateway, gateway.keys.manager)
    console = Console(page)
    page.goto(f"{gateway.base_url}/dashboard/")
    page.wait_for_selector("#live[data-state='on']")
    page.click("nav.panel-nav a[href='#panel-orders']")
    toggle = page.locator("#orders .order-views button")
    toggle.first.wait_for()
    assert toggle.all_inner_texts() == ["Orders", "Pick list"]
    page.click("#orders .order-views button[data-view='pick']")
    line(page, chickpea).wait_for()
    line(page, rice).wait_for()
    assert (
        page.locator("#orders .order-views button[data-view='pick']").get_attribute("aria-pressed") == "true"
    )
    assert page.locator("#orders table.orders").count() == 0

    # Zone headings in the store file's order, as the API walks them; each line under its shelf's zone.
    sections = page.locator(ZONES)
    assert sections.evaluate_all("ss => ss.map(s => s.dataset.zone)") == [
        w["zone"] for w in served["by_zone"]
    ]
    headings = sections.locator("h3").all_inner_texts()
    assert [h.startswith(w["name"]) for h, w in zip(headings, served["by_zone"], strict=True)] == [True, True]
    rice_row = page.locator(f"{ZONES}[data-zone='{rice_zone}'] tbody tr[data-order='{rice}']")
    chickpea_row = page.locator(f"{ZONES}[data-zone='{chickpea_zone}'] tbody tr[data-order='{chickpea}']")
    assert page.locator(f"{ZONES}[data-zone='{rice_zone}'] h3").inner_text().startswith(rice_zone_name)
    assert (
        page.locator(f"{ZONES}[data-zone='{chickpea_zone}'] h3").inner_text().startswith(chickpea_zone_name)
    )
    assert rice_row.locator("th[scope='row']").inner_text() == "Nordvik Basmati rice 1 kg"
    assert rice_row.locator("td.gtin").inner_text() == RICE
    assert rice_row.locator("td.quantity").inner_text() == "2"
    assert rice_row.locator("td.order-id").inner_text() == rice
    assert rice_row.locator("td.place").inner_text() == f"{rice_shelf} / {rice_slot}"
    assert rice_row.locator("td.rfid .badge").inner_text() == "Associate confirms"
    assert chickpea_row.locator("td.rfid .badge").inner_text() == "Waiting for RFID"
    assert chickpea_row.locator("td.place").inner_text() == f"{chickpea_shelf} / {chickpea_slot}"
    headers = (
        page.locator(f"{ZONES} table.pick-lines").first.locator("thead th[scope='col']").all_inner_texts()
    )
    assert headers == ["Product", "GTIN", "Quantity", "Order", "Shelf / slot", "RFID check"]
    warning = page.locator("#pick-list .pick-unexpected[role='status']")
    assert warning.locator("h3").inner_text() == "Wrong item in the staging area"
    assert warning.locator(f"li[data-gtin='{MILK}']").inner_text().startswith("Nordvik Whole milk 1 l")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#panel-orders").screenshot(path=str(ARTIFACTS / "dashboard-pick-list.png"))

    # A new order reaches the open pick list on the "orders" event.
    third = pickup(gateway, RICE, 1)
    page.locator(f"{ZONES}[data-zone='{rice_zone}'] tbody tr[data-order='{third}']").wait_for(timeout=10000)

    page.click("#lang")  # Chinese
    page.wait_for_selector("#orders .order-views button[data-view='pick']:text('拣货单')")
    assert toggle.all_inner_texts() == ["订单", "拣货单"]
    assert rice_row.locator("td.rfid .badge").inner_text() == "店员确认"
    assert chickpea_row.locator("td.rfid .badge").inner_text() == "等待 RFID 确认"
    assert warning.locator("h3").inner_text() == "备货区有错误商品"
    headers = (
        page.locator(f"{ZONES} table.pick-lines").first.locator("thead th[scope='col']").all_inner_texts()
    )
    assert headers == ["商品", "GTIN", "数量", "订单", "货架 / 货位", "RFID 核对"]
    page.locator("#panel-orders").screenshot(path=str(ARTIFACTS / "dashboard-pick-list-zh.png"))

    page.click("#orders .order-views button[data-view='orders']")
    page.locator("#orders table.orders tbody tr[data-order]").nth(2).wait_for()
    assert page.locator("#pick-list").count() == 0
    assert console.errors == []
