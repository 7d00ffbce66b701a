"""The kiosk page route and the key check the page starts with: kiosk keys of the store only."""

from __future__ import annotations

import re

from api_helpers import BERLIN, HAMBURG, Keys, auth
from fastapi.testclient import TestClient

HELLO = f"/api/v1/stores/{BERLIN}/lockers/locker-1/kiosk"


def test_the_page_and_its_assets_are_served_for_known_lockers_only(client: TestClient) -> None:
    page = client.get(f"/kiosk/{BERLIN}/locker-1")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'src="/kiosk/assets/kiosk.js"' in page.text
    assert not re.search(r'(src|href)="(https?:)?//', page.text)  # nothing from elsewhere
    script = client.get("/kiosk/assets/kiosk.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert "取件码" in script.text
    assert not re.search(r"https?://", script.text)
    assert client.get("/kiosk/assets/kiosk.css").status_code == 200
    assert client.get("/kiosk/assets/secrets.txt").status_code == 404
    assert client.get("/kiosk/assets/..%2Fapp.js").status_code == 404
    assert client.get(f"/kiosk/{BERLIN}/locker-9").json()["error"]["code"] == "unknown_locker"
    assert client.get(f"/kiosk/{HAMBURG}/locker-1").status_code == 404
    assert client.get("/kiosk/nowhere/locker-1").status_code == 404


def test_only_a_kiosk_key_of_the_store_opens_the_page(client: TestClient, keys: Keys) -> None:
    hello = client.get(HELLO, headers=auth(keys.kiosk))
    assert hello.status_code == 200
    body = hello.json()
    assert (body["store"], body["locker"], body["max_wrong_codes"], body["lockout_minutes"]) == (
        BERLIN,
        "locker-1",
        5,
        15,
    )
    assert client.get(HELLO).status_code == 401
    assert client.get(HELLO, headers=auth("ssk_nothing_" + "x" * 40)).status_code == 401
    # Admins may enter codes through the API, but not run the customer-facing page.
    for key in (keys.admin, keys.manager, keys.integrator):
        assert client.get(HELLO, headers=auth(key)).status_code == 403
    assert (
        client.get(f"/api/v1/stores/{BERLIN}/lockers/nope/kiosk", headers=auth(keys.kiosk)).status_code == 404
    )
    other = client.get(f"/api/v1/stores/{HAMBURG}/lockers/locker-1/kiosk", headers=auth(keys.kiosk))
    assert other.status_code == 403
