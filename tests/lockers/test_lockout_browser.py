"""Staff lift a kiosk lockout from the dashboard's lockers view, in real Chromium, on a running gateway."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from locker_stack import LOCKER, locker_store_file, start_gateway
from sqlalchemy import select

from smartstore.gateway.db.lockers import CodeAttempt

playwright_api = pytest.importorskip("playwright.sync_api")
VISIT = {"session": "visit-browser-test"}


def test_a_manager_lifts_a_kiosk_lockout_from_the_lockers_view(
    browser: Any, mosquitto: Any, sqlite_url: str, tmp_path: Path
) -> None:
    gateway = start_gateway(sqlite_url, locker_store_file(tmp_path), mosquitto.settings, tmp_path)
    context = browser.new_context(viewport={"width": 1366, "height": 1024}, locale="en-US")
    context.add_init_script(f"sessionStorage.setItem('smartstore.key', {gateway.keys.manager!r})")
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    expect = playwright_api.expect
    pickup = f"/lockers/{LOCKER}/pickup"
    try:
        for _ in range(5):
            wrong = gateway.api("POST", pickup, gateway.keys.kiosk, json={"code": "000000", **VISIT})
        assert (wrong.status_code, wrong.json()["tries_left"]) == (401, 0)
        page.goto(f"{gateway.url}/dashboard/")
        lockouts = page.locator(f"#lockers [data-lockouts='{LOCKER}']")
        expect(lockouts).to_contain_text("pickup codes locked")
        expect(lockouts).to_contain_text("1 kiosk session(s)")
        lift = lockouts.locator("[data-action='lift-lockout']")
        expect(lift).to_have_text("Lift lockout")
        lift.click()
        expect(lockouts).to_have_count(0)
        again = gateway.api("POST", pickup, gateway.keys.kiosk, json={"code": "000000", **VISIT})
        assert (again.status_code, again.json()["tries_left"]) == (401, 4)
        with gateway.runtime.sessions() as session:
            audited = session.scalars(select(CodeAttempt).order_by(CodeAttempt.id)).all()
        assert [(row.result, row.by.split(" (")[0]) for row in audited] == [
            ("lockout", "kiosk"),
            ("lockout_lifted", "associate"),
        ]
        assert problems == []
    finally:
        context.close()
        gateway.stop()
