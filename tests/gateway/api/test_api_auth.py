"""Keys and roles at the HTTP edge, and JSON errors on every failure path (401, 403, 404, 405, 422, 500)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from api_helpers import BERLIN, HAMBURG, Keys, auth
from fastapi.testclient import TestClient
from httpx import Response

from smartstore.gateway.db.models import Base, Inventory
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.gateway.security import generate_key, revoke_api_key

INVENTORY = f"/api/v1/stores/{BERLIN}/inventory"


def assert_json_error(response: Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text
    assert "<html" not in response.text.lower()
    error: dict[str, Any] = response.json()["error"]
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return error


def test_missing_key_is_401_json_with_a_bearer_challenge(client: TestClient) -> None:
    response = client.get(INVENTORY)
    assert_json_error(response, 401, "missing_api_key")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "presented",
    [
        "nonsense",
        "ssk_short_secret",
        generate_key(),  # well-formed but never stored
        "Basic dXNlcjpwYXNz",
    ],
)
def test_wrong_key_is_401(client: TestClient, keys: Keys, presented: str) -> None:
    assert_json_error(client.get(INVENTORY, headers={"Authorization": f"Bearer {presented}"}), 401)


def test_right_prefix_wrong_secret_is_401(client: TestClient, keys: Keys) -> None:
    prefix_part = keys.admin.rsplit("_", 1)[0]
    forged = f"{prefix_part}_{'A' * 40}"
    assert_json_error(client.get(INVENTORY, headers=auth(forged)), 401, "invalid_api_key")


def test_key_accepted_as_bearer_or_x_api_key_but_query_only_for_streams(
    client: TestClient, keys: Keys
) -> None:
    assert client.get(INVENTORY, headers=auth(keys.admin)).status_code == 200
    assert client.get(INVENTORY, headers={"X-API-Key": keys.admin}).status_code == 200
    assert_json_error(client.get(INVENTORY, params={"key": keys.admin}), 401, "missing_api_key")


def test_revoked_key_is_401(client: TestClient, keys: Keys, api_runtime: GatewayRuntime) -> None:
    assert client.get(INVENTORY, headers=auth(keys.integrator)).status_code == 200
    assert revoke_api_key(api_runtime.sessions, keys.integrator.split("_")[1])
    assert_json_error(client.get(INVENTORY, headers=auth(keys.integrator)), 401, "invalid_api_key")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/stores",
        INVENTORY,
        f"/api/v1/stores/{BERLIN}/inventory/09506000100005",
        "/api/v1/products/09506000100005/availability",
        f"/api/v1/stores/{BERLIN}/devices",
        f"/api/v1/stores/{BERLIN}/alerts",
        "/api/v1/dead-letters",
        "/api/v1/events",
    ],
)
def test_kiosk_key_is_forbidden_everywhere_here(client: TestClient, keys: Keys, path: str) -> None:
    assert_json_error(client.get(path, headers=auth(keys.kiosk)), 403, "forbidden")


def test_kiosk_cannot_post_movements_or_manage_alerts(client: TestClient, keys: Keys) -> None:
    body = {"type": "sale", "gtin": "09506000100005", "quantity": 1}
    movement = client.post(f"/api/v1/stores/{BERLIN}/movements", json=body, headers=auth(keys.kiosk))
    assert_json_error(movement, 403)
    assert_json_error(client.post("/api/v1/alerts/1/acknowledge", headers=auth(keys.kiosk)), 403)


@pytest.mark.parametrize(
    "path", [f"/api/v1/stores/{BERLIN}/alerts", f"/api/v1/stores/{BERLIN}/devices", "/api/v1/dead-letters"]
)
def test_integrator_reads_inventory_but_not_operations(client: TestClient, keys: Keys, path: str) -> None:
    assert client.get(INVENTORY, headers=auth(keys.integrator)).status_code == 200
    assert_json_error(client.get(path, headers=auth(keys.integrator)), 403, "forbidden")


def test_store_bound_key_is_403_on_another_store(client: TestClient, keys: Keys) -> None:
    assert (
        client.get(f"/api/v1/stores/{HAMBURG}/inventory", headers=auth(keys.hamburg_manager)).status_code
        == 200
    )
    assert_json_error(client.get(INVENTORY, headers=auth(keys.hamburg_manager)), 403, "store_forbidden")
    # ...and learns nothing about which other store ids exist
    unknown = client.get("/api/v1/stores/no-such-store/inventory", headers=auth(keys.hamburg_manager))
    assert_json_error(unknown, 403, "store_forbidden")
    stores = client.get("/api/v1/stores", headers=auth(keys.hamburg_manager)).json()
    assert [store["id"] for store in stores] == [HAMBURG]


def test_unknown_store_is_404_for_an_unbound_key(client: TestClient, keys: Keys) -> None:
    assert_json_error(
        client.get("/api/v1/stores/nowhere/inventory", headers=auth(keys.admin)), 404, "unknown_store"
    )


def test_unknown_route_and_wrong_method_are_json(client: TestClient, keys: Keys) -> None:
    # The key is checked before routing, so without one the API does not say which paths exist.
    assert_json_error(client.get("/api/v1/nothing-here"), 401, "missing_api_key")
    assert_json_error(client.get("/api/v1/nothing-here", headers=auth(keys.admin)), 404, "not_found")
    assert_json_error(client.get("/dashboard/missing.js"), 404, "not_found")
    assert_json_error(client.delete(INVENTORY, headers=auth(keys.admin)), 405, "method_not_allowed")


def test_validation_errors_are_json_with_locations(client: TestClient, keys: Keys) -> None:
    error = assert_json_error(
        client.get(INVENTORY, params={"limit": 100000, "sort": "price"}, headers=auth(keys.admin)),
        422,
        "validation_error",
    )
    locations = {tuple(item["loc"]) for item in error["details"]}
    assert ("query", "limit") in locations
    assert ("query", "sort") in locations
    malformed = client.post(
        f"/api/v1/stores/{BERLIN}/movements",
        content=b"{not json",
        headers={**auth(keys.admin), "Content-Type": "application/json"},
    )
    assert_json_error(malformed, 422, "validation_error")


def test_a_crash_is_a_json_500_with_a_request_id_logged_server_side(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    # A real failure: the inventory table vanishes under the running API.
    Base.metadata.tables[Inventory.__tablename__].drop(api_runtime.engine)
    with caplog.at_level(logging.ERROR, logger="smartstore.gateway.api"):
        response = client.get(INVENTORY, headers=auth(keys.admin))
    error = assert_json_error(response, 500, "internal_error")
    assert error["message"] == "internal server error"
    assert error["request_id"] == response.headers["x-request-id"]
    assert "inventory" not in response.text.lower()  # no SQL or table names leak out
    assert any(error["request_id"] in record.getMessage() for record in caplog.records)
    assert any(record.exc_info for record in caplog.records)
