"""Alerts over the API: list by state, acknowledge, clear; who may do it; devices list."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from api_helpers import BERLIN, HAMBURG, Keys, auth, open_alert
from fastapi.testclient import TestClient

from smartstore.gateway.db.models import Device
from smartstore.gateway.runtime import GatewayRuntime

ALERTS = f"/api/v1/stores/{BERLIN}/alerts"


@pytest.fixture
def alert_id(api_runtime: GatewayRuntime) -> int:
    open_alert(api_runtime, HAMBURG, "device-offline:reader-hh")
    return open_alert(api_runtime, BERLIN, "device-offline:reader-aisle-1")


def states(client: TestClient, key: str, *wanted: str) -> list[tuple[int, str]]:
    response = client.get(ALERTS, params={"state": list(wanted)}, headers=auth(key))
    assert response.status_code == 200, response.text
    return [(alert["id"], alert["state"]) for alert in response.json()["items"]]


def test_alert_lifecycle_through_the_api(client: TestClient, keys: Keys, alert_id: int) -> None:
    assert states(client, keys.manager, "open") == [(alert_id, "open")]
    stores = {s["id"]: s for s in client.get("/api/v1/stores", headers=auth(keys.admin)).json()}
    assert stores[BERLIN]["open_alerts"] == 1

    acknowledged = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=auth(keys.manager))
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json()["state"] == "acknowledged"
    assert acknowledged.json()["acknowledged_by"] == "berlin manager"
    again = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=auth(keys.admin))
    assert again.status_code == 200
    assert again.json()["acknowledged_by"] == "berlin manager"
    assert states(client, keys.manager, "open") == []
    assert states(client, keys.manager, "acknowledged") == [(alert_id, "acknowledged")]

    cleared = client.post(f"/api/v1/alerts/{alert_id}/clear", headers=auth(keys.manager))
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["state"] == "cleared"
    assert cleared.json()["cleared_at"]
    assert [entry["event"] for entry in cleared.json()["history"]] == ["raised", "acknowledged", "cleared"]
    assert (
        client.post(f"/api/v1/alerts/{alert_id}/clear", headers=auth(keys.manager)).json()["state"]
        == "cleared"
    )
    late = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=auth(keys.manager))
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "alert_cleared"
    assert states(client, keys.manager, "open", "acknowledged") == []
    assert states(client, keys.manager) == [(alert_id, "cleared")]


def test_a_cleared_cause_can_open_again(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime, alert_id: int
) -> None:
    client.post(f"/api/v1/alerts/{alert_id}/clear", headers=auth(keys.admin))
    second = open_alert(api_runtime, BERLIN, "device-offline:reader-aisle-1")
    assert second != alert_id
    assert states(client, keys.admin) == [(second, "open"), (alert_id, "cleared")]
    page = client.get(ALERTS, params={"limit": 1, "offset": 1}, headers=auth(keys.admin)).json()
    assert page["total"] == 2
    assert [a["id"] for a in page["items"]] == [alert_id]


def test_who_may_touch_alerts(client: TestClient, keys: Keys, alert_id: int) -> None:
    assert (
        client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=auth(keys.integrator)).status_code
        == 403
    )
    assert (
        client.post(f"/api/v1/alerts/{alert_id}/clear", headers=auth(keys.hamburg_manager)).status_code == 403
    )
    assert client.get(ALERTS, headers=auth(keys.hamburg_manager)).status_code == 403
    missing = client.post("/api/v1/alerts/999999/acknowledge", headers=auth(keys.admin))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "unknown_alert"
    assert client.post("/api/v1/alerts/abc/acknowledge", headers=auth(keys.admin)).status_code == 422
    assert states(client, keys.manager, "open") == [(alert_id, "open")]  # nothing changed


def test_devices_list_merges_configured_and_reporting_devices(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    seen = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    with api_runtime.sessions() as session:
        session.add(
            Device(
                store_id=BERLIN,
                kind="rfid",
                device_id="reader-aisle-1",
                state="online",
                last_seen=seen,
                firmware="7.1.0",
                info={"antennas": 2},
            )
        )
        session.commit()
    response = client.get(f"/api/v1/stores/{BERLIN}/devices", headers=auth(keys.manager))
    assert response.status_code == 200, response.text
    devices = {(d["kind"], d["id"]): d for d in response.json()}
    assert len(devices) == 16
    reader = devices[("rfid", "reader-aisle-1")]
    assert (reader["state"], reader["firmware"], reader["info"]) == ("online", "7.1.0", {"antennas": 2})
    assert datetime.fromisoformat(reader["last_seen"]) == seen
    assert devices[("camera", "cam-1l")]["state"] == "offline"
    assert devices[("camera", "cam-1l")]["last_seen"] is None
    assert devices[("locker", "locker-1")]["state"] == "offline"
