"""The locker kiosk page in real Chromium: key set-up, a wrong code, zh-CN, the right code opens the door."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from locker_stack import (
    LOCKER,
    RICE,
    STORE,
    locker_store_file,
    start_edge,
    start_gateway,
    start_simulator,
    wait_for,
)

from smartstore.kernel.storeconfig import load_store

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = Path("/usr/bin/chromium")
# Wrong, used and locked codes and refused keys are answered 401/403/409/423 on purpose; Chromium
# logs each such fetch as a console error, which is not a fault of the page.
EXPECTED_NETWORK_ERROR = re.compile(r"Failed to load resource: .* status of 4(01|03|09|23)")


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        browser.close()


def test_kiosk_opens_the_door_and_the_order_is_picked_up(
    browser: Any, mosquitto: Any, sqlite_url: str, tmp_path: Path
) -> None:
    store_file = locker_store_file(tmp_path)
    gateway = start_gateway(sqlite_url, store_file, mosquitto.settings, tmp_path)
    simulator = start_simulator(load_store(store_file), mosquitto.settings)
    edge = start_edge(store_file, tmp_path / "edge", mosquitto.settings)
    page = browser.new_page(viewport={"width": 800, "height": 1200}, locale="en-US")
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}")
            if message.type == "error" and not EXPECTED_NETWORK_ERROR.search(message.text)
            else None
        ),
    )
    expect = playwright_api.expect
    try:
        gateway.stock(RICE, "aisle-1", 5)
        order_id, code, door = gateway.ready_order(RICE, 1)
        door_number = int(door.lstrip("c"))

        page.goto(f"{gateway.url}/kiosk/{STORE}/{LOCKER}")
        # No key yet: the page refuses to work and asks staff for one; a manager key is not enough.
        expect(page.locator("#key-screen")).to_be_visible()
        expect(page.locator("#pickup-screen")).to_be_hidden()
        page.fill("#key-input", gateway.keys.manager)
        page.click("#key-save")
        expect(page.locator("#key-error")).to_have_text("This page needs a kiosk key for this store.")
        page.fill("#key-input", gateway.keys.kiosk)
        page.click("#key-save")
        expect(page.locator("#pickup-screen")).to_be_visible()
        expect(page.locator("h1:visible")).to_have_text("Enter your pickup code")

        # A wrong code, typed on the on-screen keypad.
        wrong = "000000" if code != "000000" else "111111"
        for digit in wrong:
            page.click(f"#pad button[data-digit='{digit}']")
        expect(page.locator("#code")).to_have_text(wrong)
        page.click("#open")
        expect(page.locator("#message-text")).to_have_text("Code not recognised — 4 tries left")

        # Chinese labels and the same message in Chinese; the choice survives a reload.
        page.click("#lang")
        expect(page.locator("h1:visible")).to_have_text("请输入取件码")
        expect(page.locator("#open")).to_have_text("开门")
        expect(page.locator("#message-text")).to_have_text("取件码无效 — 还可尝试 4 次")
        page.reload()
        expect(page.locator("#pickup-screen")).to_be_visible()  # the key is kept, no set-up again
        expect(page.locator("#open")).to_have_text("开门")
        page.click("#lang")
        expect(page.locator("#open")).to_have_text("Open")

        # The right code, typed on a keyboard (a QR scanner acts as one): the door opens.
        page.keyboard.type(code)
        page.keyboard.press("Enter")
        expect(page.locator("#message-text")).to_have_text(f"Door {door_number} is open")
        bank = simulator.lockers[LOCKER]
        wait_for(lambda: not bank.compartments[door].occupied, what="the customer to take the parcel")
        wait_for(lambda: gateway.order(order_id)["state"] == "picked_up", timeout=15, what="picked_up")
        assert gateway.inventory(RICE)["on_hand"] == 4
        # Used: typing it again opens nothing, after the pickup too, and costs no try.
        page.keyboard.type(code)
        page.keyboard.press("Enter")
        expect(page.locator("#message-text")).to_have_text("This code has already been used")
        # Wrong codes until this visit is locked: the page says for how long.
        message = page.locator("#message-text")
        for _ in range(5):
            page.keyboard.type(wrong)
            expect(page.locator("#code")).to_have_text(wrong)
            page.keyboard.press("Enter")
            expect(page.locator("#code")).to_have_text("")  # cleared once the answer is in
            expect(message).to_have_text(re.compile(r"^(Code not recognised|Locked for)"))
            if message.inner_text() == "Locked for 15 minutes":
                break
        expect(message).to_have_text("Locked for 15 minutes")
        assert problems == []
    finally:
        page.close()
        edge.stop()
        simulator.stop()
        gateway.stop()
