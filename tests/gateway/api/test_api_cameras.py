"""The camera snapshot route, and the snapshot feed from a real broker into it."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import paho.mqtt.client as paho
from api_helpers import BERLIN, Keys, auth, wait_until
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from smartstore.gateway.api.app import create_app
from smartstore.gateway.config import GatewaySettings
from smartstore.gateway.inventory.catalog import sync_stores
from smartstore.gateway.monitoring.snapshots import SnapshotFeed, SnapshotStore
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.gateway.security import Role, create_api_key
from smartstore.kernel.contract import topics
from smartstore.kernel.mqtt import MqttLink, MqttSettings
from smartstore.kernel.storeconfig import EXAMPLE_STORE

SNAPSHOT = f"/api/v1/stores/{BERLIN}/cameras/cam-1l/snapshot.jpg"


def picture(value: int = 90) -> bytes:
    ok, encoded = cv2.imencode(".jpg", np.full((36, 64, 3), value, dtype=np.uint8))
    assert ok
    return bytes(encoded.tobytes())


def test_latest_snapshot_is_served_as_jpeg_uncached_with_its_age(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    missing = client.get(SNAPSHOT, headers=auth(keys.manager))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "no_snapshot"

    api_runtime.snapshots.put(BERLIN, "cam-1l", picture(), "edge-1")
    response = client.get(SNAPSHOT, headers=auth(keys.manager))

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "no-store"
    assert 0 <= float(response.headers["x-snapshot-age-s"]) < 5
    assert response.content == picture()


def test_snapshot_route_checks_role_store_and_camera(
    client: TestClient, keys: Keys, api_runtime: GatewayRuntime
) -> None:
    api_runtime.snapshots.put(BERLIN, "cam-1l", picture(), "edge-1")

    assert client.get(SNAPSHOT).status_code == 401
    assert client.get(SNAPSHOT, headers=auth(keys.admin)).status_code == 200
    for key in (keys.integrator, keys.kiosk, keys.hamburg_manager):
        forbidden = client.get(SNAPSHOT, headers=auth(key))
        assert forbidden.status_code == 403
        assert forbidden.headers["content-type"].startswith("application/json")
    unknown = client.get(SNAPSHOT.replace("cam-1l", "cam-9z"), headers=auth(keys.admin))
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_camera"


def test_the_store_keeps_only_the_newest_cameras() -> None:
    now = [100.0]
    store = SnapshotStore(max_cameras=2, clock=lambda: now[0])
    store.put("s", "a", b"1", "e")
    store.put("s", "b", b"2", "e")
    store.put("s", "a", b"3", "e")  # refreshed: now the newest
    now[0] = 103.5
    store.put("s", "c", b"4", "e")

    assert store.get("s", "b") is None
    a = store.get("s", "a")
    assert a is not None
    assert a.jpeg == b"3"
    assert store.age_s(a) == 3.5
    assert len(store) == 2


def _publisher(url: str) -> paho.Client:
    settings = MqttSettings(url=url)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="snapshot-test-pub", protocol=paho.MQTTv311)
    client.connect(settings.host, settings.port)
    client.loop_start()
    return client


def test_retained_snapshots_flow_from_the_broker_into_the_route(db_url: str, mosquitto: Any) -> None:
    runtime = GatewayRuntime.build(
        GatewaySettings(db_url=db_url, stores=[EXAMPLE_STORE], mqtt=MqttSettings(url=mosquitto.url))
    )
    sync_stores(runtime.sessions, runtime.stores)
    key = create_api_key(runtime.sessions, Role.MANAGER, "berlin manager", store_id=BERLIN)
    publisher = _publisher(mosquitto.url)
    snapshot_topic = topics.edge_snapshot(BERLIN, "edge-1", "cam-1l")
    # Published before the gateway starts: retained, so it arrives as soon as the feed subscribes.
    publisher.publish(snapshot_topic, picture(60), qos=1, retain=True).wait_for_publish(5)
    publisher.publish(
        topics.edge_snapshot("store-elsewhere", "edge-1", "cam-1l"), picture(), qos=1, retain=True
    )
    link = MqttLink(runtime.settings.mqtt, "gw-snapshots-test")
    feed = SnapshotFeed(link, runtime.snapshots, runtime.stores.keys())
    link.start()
    try:
        with TestClient(create_app(runtime)) as client:
            wait_until(lambda: client.get(SNAPSHOT, headers=auth(key)).status_code == 200, what="snapshot")
            assert client.get(SNAPSHOT, headers=auth(key)).content == picture(60)

            publisher.publish(snapshot_topic, b"GIF89a not a jpeg", qos=1).wait_for_publish(5)
            publisher.publish(snapshot_topic, picture(200), qos=1, retain=True).wait_for_publish(5)
            wait_until(lambda: client.get(SNAPSHOT, headers=auth(key)).content == picture(200), what="update")
            assert runtime.snapshots.get("store-elsewhere", "cam-1l") is None  # not a store served here

            publisher.publish(snapshot_topic, b"", qos=1, retain=True).wait_for_publish(5)  # camera removed
            wait_until(lambda: client.get(SNAPSHOT, headers=auth(key)).status_code == 404, what="removal")
            assert feed.received >= 2
            assert feed.dropped >= 2
    finally:
        link.stop()
        publisher.disconnect()
        publisher.loop_stop()
        runtime.engine.dispose()
