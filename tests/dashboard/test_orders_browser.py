"""The dashboard's Orders view (统一订单管理) in Chromium: all channels and fulfilment types, SLA clock."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from dashboard_helpers import (
    NEAR_STORE,
    RICE,
    STORE,
    GatewayFactory,
    RunningGateway,
    place_order,
    stock,
)
from test_dashboard_browser import ARTIFACTS, Console, open_dashboard

from smartstore.gateway.db.lockers import PickupOrder
from smartstore.gateway.db.util import begin_write
from smartstore.gateway.lockers.view_models import order_view

pytest.importorskip("playwright.sync_api")

ROWS = "#orders tbody tr[data-order]"
LINES = [{"gtin": RICE, "quantity": 1}]


def fulfilment_of(customer_order: dict[str, Any]) -> str:
    [fulfilment] = customer_order["fulfilments"]
    assert fulfilment["store"] == STORE
    return str(fulfilment["id"])


def delivery(gateway: RunningGateway, channel: str = "web") -> str:
    body = {"channel": channel, "fulfilment": "delivery", "destination": NEAR_STORE, "lines": LINES}
    return fulfilment_of(place_order(gateway, body))


def pickup(gateway: RunningGateway, kind: str, channel: str, slot: str | None = None) -> str:
    body = {"channel": channel, "fulfilment": kind, "store": STORE, "lines": LINES}
    if slot is not None:
        body["slot"] = slot
    return fulfilment_of(place_order(gateway, body))


def first_counter_slot(gateway: RunningGateway) -> datetime:
    response = httpx.get(
        f"{gateway.base_url}/api/v1/stores/{STORE}/pickup-slots",
        headers={"Authorization": f"Bearer {gateway.keys.integrator}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return datetime.fromisoformat(response.json()["items"][0]["start"])


def promise_in(gateway: RunningGateway, order_id: str, delta: timedelta) -> None:
    """Move a delivery's promise to now + delta, then tell the dashboard as an order change would."""
    runtime = gateway.runtime
    with runtime.sessions.begin() as session:
        begin_write(session)
        order = session.get(PickupOrder, order_id)
        assert order is not None
        order.promised_by = datetime.now(UTC) + delta
        session.flush()
        view = order_view(order)
    runtime.bus.publish("orders", STORE, view)


def row(page: Any, order_id: str) -> Any:
    return page.locator(f"{ROWS}[data-order='{order_id}']")


def shown(page: Any) -> list[list[str]]:
    rows = page.locator(ROWS)
    found: list[list[str]] = rows.evaluate_all("rs => rs.map(r => [r.dataset.order, r.dataset.fulfilment])")
    return found


def test_one_order_list_across_fulfilment_types_live_in_two_languages_with_an_sla_clock(
    sqlite_url: str, gateway_factory: GatewayFactory, browser: Any
) -> None:
    gateway = gateway_factory(sqlite_url)
    stock(gateway.runtime, RICE, 20)
    delivered = delivery(gateway)
    slot = first_counter_slot(gateway)
    counter = pickup(gateway, "counter_pickup", "app", slot=slot.isoformat())
    locker = pickup(gateway, "locker_pickup", "marketplace")

    page = open_dashboard(browser, gateway, gateway.keys.manager)
    console = Console(page)
    page.goto(f"{gateway.base_url}/dashboard/")
    page.wait_for_selector("#live[data-state='on']")
    page.click("nav.panel-nav a[href='#panel-orders']")
    page.locator(ROWS).nth(2).wait_for()
    assert sorted(shown(page)) == sorted(
        [[delivered, "delivery"], [counter, "counter_pickup"], [locker, "locker_pickup"]]
    )
    labels = {"delivery": "Delivery", "counter_pickup": "Counter", "locker_pickup": "Locker"}
    for order_id, kind in shown(page):
        assert row(page, order_id).locator("td.fulfilment").inner_text().strip() == labels[kind]
    assert row(page, counter).locator("td.channel").inner_text() == "App"
    assert row(page, locker).locator("td.channel").inner_text() == "Marketplace"
    clock = row(page, delivered).locator(".sla")
    assert re.fullmatch(r"(29|30) min left", clock.inner_text()), clock.inner_text()
    assert clock.get_attribute("data-sla") == "on-time"
    assert row(page, counter).locator(".sla").count() == 0
    # The slot in the store's own time (Europe/Berlin), whatever the browser's time zone is.
    in_store = slot.astimezone(ZoneInfo("Europe/Berlin"))
    assert row(page, counter).locator("td.due").inner_text() == f"Slot {in_store:%a %H:%M}"
    assert row(page, locker).locator("td.due").inner_text() == "\u2013"  # en dash: no slot
    counts = page.locator("#orders .order-counts")
    assert counts.locator("[data-fulfilment='all'] .count").inner_text() == "3"
    assert counts.locator("[data-fulfilment='delivery'] .count").inner_text() == "1"
    assert counts.locator("[data-fulfilment='ship'] .count").inner_text() == "0"
    headers = page.locator("#orders table.orders thead th[scope='col']").all_inner_texts()
    assert headers[:3] == ["Order", "Channel", "Fulfilment"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#panel-orders").screenshot(path=str(ARTIFACTS / "dashboard-orders.png"))

    page.click("#lang")  # Chinese
    page.wait_for_selector("#orders-title:text('订单')")
    assert page.locator("nav.panel-nav a[href='#panel-orders']").inner_text() == "订单"
    headers = page.locator("#orders table.orders thead th[scope='col']").all_inner_texts()
    assert headers == [
        *("订单", "渠道", "履约方式", "状态"),
        *("行数 / 件数", "时段或承诺时间", "下单时长", "操作"),
    ]
    assert row(page, delivered).locator("td.fulfilment").inner_text().strip() == "即时配送"
    assert row(page, counter).locator("td.fulfilment").inner_text().strip() == "柜台自提"
    assert row(page, locker).locator("td.fulfilment").inner_text().strip() == "自提柜"
    assert row(page, delivered).locator("td.channel").inner_text() == "网店"
    assert re.fullmatch(r"剩余 (29|30) 分钟", row(page, delivered).locator(".sla").inner_text())
    assert page.locator("#orders [data-status='open']").inner_text() == "未完成"
    page.locator("#panel-orders").screenshot(path=str(ARTIFACTS / "dashboard-orders-zh.png"))
    page.click("#lang")  # back to English
    page.wait_for_selector("#orders-title:text('Orders')")

    page.evaluate("() => { window.notReloaded = true; }")
    fourth = delivery(gateway, channel="store_associate")
    row(page, fourth).wait_for(timeout=5000)  # from the "orders" event, not a reload
    assert page.evaluate("() => window.notReloaded") is True
    assert row(page, fourth).locator("td.channel").inner_text() == "Store associate"
    assert counts.locator("[data-fulfilment='all'] .count").inner_text() == "4"

    page.click("#orders .order-counts button[data-fulfilment='delivery']")
    page.wait_for_function(f"() => document.querySelectorAll({ROWS!r}).length === 2")
    assert sorted(shown(page)) == sorted([[delivered, "delivery"], [fourth, "delivery"]])

    promise_in(gateway, delivered, -timedelta(minutes=3))
    late = row(page, delivered)
    page.wait_for_selector(f"{ROWS}[data-order='{delivered}'][data-sla='late']", timeout=5000)
    clock = late.locator(".sla")
    assert "sla-late" in (clock.get_attribute("class") or "")
    assert clock.get_attribute("aria-label").startswith("Late:")
    assert clock.inner_text() == "late by 3 min"
    assert row(page, fourth).get_attribute("data-sla") == "on-time"
    assert page.locator("#orders .sla-summary").inner_text() == "1 late"
    # Just over 10 minutes left: on time now, at risk a few seconds later by the page's own clock.
    promise_in(gateway, fourth, timedelta(minutes=10, seconds=6))
    page.wait_for_selector(f"{ROWS}[data-order='{fourth}'] .sla:text('11 min left')", timeout=5000)
    page.wait_for_selector(f"{ROWS}[data-order='{fourth}'][data-sla='at-risk']", timeout=15000)
    assert "sla-at-risk" in (row(page, fourth).locator(".sla").get_attribute("class") or "")
    assert row(page, fourth).locator(".sla").inner_text() == "10 min left"
    summary = page.locator("#orders .sla-summary .badge").all_inner_texts()
    assert summary == ["1 late", "1 at risk"]
    page.locator("#panel-orders").screenshot(path=str(ARTIFACTS / "dashboard-orders-late.png"))

    page.click("#orders button[data-status='done']")
    page.locator("#orders .empty-note").wait_for()
    assert page.locator(ROWS).count() == 0
    assert console.errors == []
