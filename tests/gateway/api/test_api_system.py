"""Dead letters, health, metrics, OpenAPI, docs and the dashboard's static files."""

from __future__ import annotations

import base64
import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from api_helpers import BERLIN, HAMBURG, Keys, auth
from fastapi.testclient import TestClient

from smartstore.gateway.db.engine import make_engine
from smartstore.gateway.db.models import DeadLetter
from smartstore.gateway.runtime import GatewayRuntime

BINARY = b"\xff\xd8\xff\xe0 not utf-8 \x00\x81"


@pytest.fixture
def dead_letters(api_runtime: GatewayRuntime) -> list[int]:
    """Three rejected messages, oldest first: Berlin schema error, Hamburg binary, a foreign topic."""
    at = datetime(2025, 2, 1, 12, 0, tzinfo=UTC)
    rows = [
        DeadLetter(
            received_at=at,
            topic=f"smartstore/v1/{BERLIN}/edge/agent-1/signal/stock",
            reason="schema",
            detail="zones.0.count: Input should be greater than or equal to 0",
            payload=b'{"v": 1, "zones": [{"count": -1}]}',
        ),
        DeadLetter(
            received_at=at + timedelta(seconds=1),
            topic=f"smartstore/v1/{HAMBURG}/edge/agent-1/signal/shelf",
            reason="decode",
            detail="not JSON",
            payload=BINARY,
        ),
        DeadLetter(
            received_at=at + timedelta(seconds=2),
            topic="junk/topic",
            reason="topic",
            detail="not a smartstore topic",
            payload=b"",
        ),
    ]
    with api_runtime.sessions() as session:
        session.add_all(rows)
        session.commit()
        return [row.id for row in rows]


def test_dead_letters_newest_first_with_text_or_base64_payloads(
    client: TestClient, keys: Keys, dead_letters: list[int]
) -> None:
    page = client.get("/api/v1/dead-letters", headers=auth(keys.admin)).json()
    assert page["total"] == 3
    assert [item["id"] for item in page["items"]] == dead_letters[::-1]
    schema, binary = page["items"][2], page["items"][1]
    assert schema["payload_encoding"] == "utf-8"
    assert schema["payload"] == '{"v": 1, "zones": [{"count": -1}]}'
    assert schema["reason"] == "schema"
    assert schema["detail"].startswith("zones.0.count")
    assert binary["payload_encoding"] == "base64"
    assert base64.b64decode(binary["payload"]) == BINARY
    assert binary["payload_size"] == len(BINARY)


def test_dead_letters_filter_page_and_access(client: TestClient, keys: Keys, dead_letters: list[int]) -> None:
    decode = client.get("/api/v1/dead-letters", params={"reason": "decode"}, headers=auth(keys.admin)).json()
    assert [item["id"] for item in decode["items"]] == [dead_letters[1]]
    second = client.get(
        "/api/v1/dead-letters", params={"limit": 1, "offset": 1}, headers=auth(keys.admin)
    ).json()
    assert (second["total"], [item["id"] for item in second["items"]]) == (3, [dead_letters[1]])
    # a store-bound manager sees only what arrived on its store's topics
    berlin = client.get("/api/v1/dead-letters", headers=auth(keys.manager)).json()
    assert (berlin["total"], [item["id"] for item in berlin["items"]]) == (1, [dead_letters[0]])
    assert client.get("/api/v1/dead-letters", headers=auth(keys.integrator)).status_code == 403


def test_healthz_reports_database_and_broker_link(client: TestClient, api_runtime: GatewayRuntime) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {
        "status": "ok",
        "database": True,
        "mqtt": None,  # no consumer attached to this runtime
        "stores": None,  # store ids only to a caller with a key
        "sse_clients": 0,
    }

    class Consumer:
        connected = threading.Event()

    api_runtime.consumer = Consumer()  # type: ignore[attr-defined]
    down = client.get("/healthz")
    assert (down.status_code, down.json()["status"], down.json()["mqtt"]) == (503, "degraded", False)
    Consumer.connected.set()
    assert client.get("/healthz").json()["mqtt"] is True


def test_healthz_lists_store_ids_only_to_a_caller_with_a_key(client: TestClient, keys: Keys) -> None:
    assert client.get("/healthz").json()["stores"] is None
    assert client.get("/healthz", headers=auth("ssk_aaaaaaaa_" + "A" * 40)).json()["stores"] is None
    assert client.get("/healthz", headers=auth(keys.admin)).json()["stores"] == [BERLIN, HAMBURG]
    assert client.get("/healthz", headers={"X-API-Key": keys.hamburg_manager}).json()["stores"] == [HAMBURG]


def test_healthz_is_503_when_the_database_is_unreachable(
    client: TestClient, api_runtime: GatewayRuntime
) -> None:
    reachable = api_runtime.engine
    api_runtime.engine = make_engine("postgresql://postgres@127.0.0.1:9/nowhere", create_schema=False)
    try:
        response = client.get("/healthz")
    finally:
        api_runtime.engine.dispose()
        api_runtime.engine = reachable
    assert response.status_code == 503
    assert response.json()["database"] is False


def test_metrics_count_requests_per_route_template_and_status(client: TestClient, keys: Keys) -> None:
    for store in (BERLIN, HAMBURG):
        client.get(f"/api/v1/stores/{store}/inventory", headers=auth(keys.admin))
    client.get(f"/api/v1/stores/{BERLIN}/inventory")
    client.get("/no/such/page")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    route = '"/api/v1/stores/{store}/inventory"'
    assert f'smartstore_http_requests_total{{route={route},status="200"}} 2.0' in text
    assert f'smartstore_http_requests_total{{route={route},status="401"}} 1.0' in text
    assert 'smartstore_http_requests_total{route="<unmatched>",status="404"} 1.0' in text
    assert "smartstore_messages_received" in text


def test_openapi_docs_and_dashboard_are_served(client: TestClient) -> None:
    schema = client.get("/api/v1/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/api/v1/stores",
        "/api/v1/stores/{store}/inventory",
        "/api/v1/stores/{store}/inventory/{gtin}",
        "/api/v1/products/{gtin}/availability",
        "/api/v1/stores/{store}/movements",
        "/api/v1/stores/{store}/devices",
        "/api/v1/stores/{store}/alerts",
        "/api/v1/alerts/{alert_id}/acknowledge",
        "/api/v1/alerts/{alert_id}/clear",
        "/api/v1/dead-letters",
        "/api/v1/events",
        "/healthz",
        "/metrics",
    ):
        assert path in paths, path
    movement = paths["/api/v1/stores/{store}/movements"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in movement["parameters"])
    assert "ErrorResponse" in schema.json()["components"]["schemas"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    # Offline: every asset the page loads comes from this server, none from a CDN.
    assets = re.findall(r'(?:href|src)="([^"]+)"', docs.text)
    assert assets
    assert all(url.startswith("/") for url in assets), assets
    for url in assets:
        assert client.get(url).status_code == 200, url
    assert "SwaggerUIBundle" in client.get("/dashboard/vendor/swagger-ui-bundle.js").text
    assert client.get("/dashboard/vendor/swagger-ui.LICENSE").status_code == 200
    # "Authorize" offers the two ways the API reads a key, and every API operation asks for one.
    assert set(schema.json()["components"]["securitySchemes"]) == {"bearer", "apiKeyHeader"}
    assert movement["security"] == [{"bearer": []}, {"apiKeyHeader": []}]
    assert "security" not in paths["/healthz"]["get"]
    page = client.get("/dashboard/")
    assert page.status_code == 200
    assert "Manager API key" in page.text
    script = client.get("/dashboard/app.js")
    assert script.status_code == 200
    assert "EventSource" in script.text
