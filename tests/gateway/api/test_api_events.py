"""The SSE stream on a real server: retry hint, heartbeat, store filter, movement and alert events."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from api_helpers import BERLIN, HAMBURG, MILK, Keys, auth, open_alert, stock, wait_until

from smartstore.gateway.runtime import GatewayRuntime


@contextmanager
def event_stream(base_url: str, runtime: GatewayRuntime, **params: str) -> Iterator[Iterator[str]]:
    """Open /api/v1/events, check the preamble, wait until subscribed; yields the remaining lines."""
    before = runtime.bus.subscriber_count
    with (
        httpx.Client(base_url=base_url, timeout=httpx.Timeout(5.0)) as http,
        http.stream("GET", "/api/v1/events", params=params) as response,
    ):
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        lines = response.iter_lines()
        assert next(lines) == "retry: 3000"
        assert next(lines) == ": connected"
        assert next(lines) == ""
        wait_until(lambda: runtime.bus.subscriber_count > before, what="the stream to subscribe")
        yield lines


def next_event(lines: Iterator[str], timeout: float = 5.0) -> tuple[str, dict[str, object]]:
    """The next event's type and data, skipping comments (heartbeats) and blank lines."""
    deadline = time.monotonic() + timeout
    event_type = ""
    for line in lines:
        if time.monotonic() > deadline:
            break
        if line.startswith("event: "):
            event_type = line.removeprefix("event: ")
        elif line.startswith("data: "):
            return event_type, json.loads(line.removeprefix("data: "))
    raise AssertionError("no event in time")


def test_stream_delivers_bus_events_of_its_store_only(
    live_server: str, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    with event_stream(live_server, api_runtime, key=keys.manager, store=BERLIN) as lines:
        api_runtime.bus.publish("slot", HAMBURG, {"slot": "elsewhere"})
        api_runtime.bus.publish("slot", BERLIN, {"slot": "1l-1-1", "state": "low"})
        assert next_event(lines) == ("slot", {"slot": "1l-1-1", "state": "low"})
    wait_until(lambda: api_runtime.bus.subscriber_count == 0, what="the closed stream to unsubscribe")


def test_idle_stream_sends_heartbeat_comments(
    live_server: str, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    with event_stream(live_server, api_runtime, key=keys.admin) as lines:
        assert next(lines) == ": heartbeat"  # the test app beats every 0.3 s


def test_movement_and_alert_changes_are_streamed(
    live_server: str, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    stock(api_runtime, BERLIN, MILK, zone="aisle-1", quantity=10)
    alert_id = open_alert(api_runtime, BERLIN, "shelf-empty:1l-1-1")
    with (
        event_stream(live_server, api_runtime, key=keys.manager) as lines,
        httpx.Client(base_url=live_server) as http,
    ):
        sale = {"type": "sale", "gtin": MILK, "quantity": 2}
        assert (
            http.post(f"/api/v1/stores/{BERLIN}/movements", json=sale, headers=auth(keys.manager)).status_code
            == 201
        )
        event_type, data = next_event(lines)
        assert event_type == "inventory"
        assert (data["store"], data["gtin"], data["on_hand"]) == (BERLIN, MILK, 8)
        assert (
            http.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=auth(keys.manager)).status_code == 200
        )
        event_type, data = next_event(lines)
        assert event_type == "alert"
        assert (data["id"], data["state"]) == (alert_id, "acknowledged")


def test_stream_access_is_checked(live_server: str, keys: Keys, api_runtime: GatewayRuntime) -> None:
    with httpx.Client(base_url=live_server, timeout=5) as http:
        missing = http.get("/api/v1/events")
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "missing_api_key"
        assert http.get("/api/v1/events", params={"key": "ssk_nope"}).status_code == 401
        assert http.get("/api/v1/events", params={"key": keys.integrator}).status_code == 403
        other = http.get("/api/v1/events", params={"key": keys.hamburg_manager, "store": BERLIN})
        assert other.status_code == 403
    # a store-bound key without ?store= streams its own store only
    with event_stream(live_server, api_runtime, key=keys.hamburg_manager) as lines:
        api_runtime.bus.publish("inventory", BERLIN, {"gtin": "berlin"})
        api_runtime.bus.publish("inventory", HAMBURG, {"gtin": "hamburg"})
        assert next_event(lines) == ("inventory", {"gtin": "hamburg"})
