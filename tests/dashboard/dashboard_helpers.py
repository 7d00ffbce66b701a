"""Dashboard test helpers: a whole gateway in-process (ingest, services, HTTP), a publisher, signals."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
import uvicorn
from paho.mqtt.enums import CallbackAPIVersion
from polling import wait_until
from pydantic import SecretStr

from smartstore.gateway.api.app import create_app
from smartstore.gateway.config import GatewaySettings
from smartstore.gateway.ingest.consumer import SignalConsumer
from smartstore.gateway.inventory.catalog import sync_stores
from smartstore.gateway.inventory.store import apply_movement
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.gateway.security import Role, create_api_key
from smartstore.kernel.contract import payloads as p
from smartstore.kernel.contract import topics
from smartstore.kernel.mqtt import MqttSettings
from smartstore.launcher.broker import free_port

STORE = "store-berlin-01"
AGENT = "edge-1"
CAMERA = "cam-1l"
SLOT = "1l-1-1"  # Nordvik Whole milk 1 l, on shelf-1l seen by cam-1l
MILK = "09506000100005"
SLOT_2 = "1l-1-2"  # Nordvik Oat drink 1 l
OAT_DRINK = "09506000100012"
RICE = "09506000100098"  # Nordvik Basmati rice 1 kg: untagged, safety stock 0, fits locker size S
NEAR_STORE = {"lat": 52.53, "lon": 13.41}  # about 0.8 km from the Berlin store: in its delivery area


class Signals:
    """Payloads with fresh ids and running seqs, as an edge agent sends them."""

    def __init__(self) -> None:
        self.seq = 0

    def _envelope(self, ts: datetime | None = None) -> dict[str, object]:
        self.seq += 1
        return p.envelope(self.seq, ts)

    def shelf(
        self, slots: list[tuple[str, str, str, float]], camera: str = CAMERA, **env: datetime
    ) -> p.ShelfSignal:
        observations = [
            p.SlotObservation(slot=slot, gtin=gtin, state=p.ShelfState(state), fill=fill)
            for slot, gtin, state, fill in slots
        ]
        return p.ShelfSignal(**self._envelope(**env), camera=camera, slots=observations)

    def stock(self, counts: list[tuple[str, str, int]], **env: datetime) -> p.StockSignal:
        return p.StockSignal(
            **self._envelope(**env), counts=[p.ZoneCount(zone=z, gtin=g, count=c) for z, g, c in counts]
        )


class Publisher:
    """A plain paho client publishing QoS 1, standing in for an edge agent."""

    def __init__(self, url: str) -> None:
        self.settings = MqttSettings(url=url)
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")

    def connect(self) -> Publisher:
        self.client.connect(self.settings.host, self.settings.port)
        self.client.loop_start()
        return self

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(5)

    def signal(self, payload: p.ShelfSignal | p.StockSignal, store: str = STORE) -> None:
        kind = topics.SignalType.SHELF if isinstance(payload, p.ShelfSignal) else topics.SignalType.STOCK
        self.publish(topics.signal(store, AGENT, kind), p.encode(payload))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class Keys:
    admin: str
    manager: str
    integrator: str
    kiosk: str


@dataclass
class RunningGateway:
    """Ingest, dashboard services and HTTP of one gateway, in this process."""

    runtime: GatewayRuntime
    consumer: SignalConsumer
    services: ExitStack  # closing it stops ingest and side services, as under `smartstore gateway`
    base_url: str
    keys: Keys
    _server: uvicorn.Server
    _thread: threading.Thread
    stopped: bool = field(default=False)

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def stop_http(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)

    def start_http(self) -> None:
        """Serve again on the same port (after stop_http): clients see the gateway come back."""
        self._server, self._thread = serve(self.runtime, self.port)

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.stop_http()
        self.services.close()
        self.runtime.engine.dispose()


GatewayFactory = Callable[..., RunningGateway]


def start_gateway(db_url: str, mqtt_url: str, stores: list[Path]) -> RunningGateway:
    settings = GatewaySettings(
        db_url=db_url,
        stores=stores,
        mqtt=MqttSettings(url=mqtt_url),
        gateway_id=f"gw-{uuid.uuid4().hex[:8]}",
        pickup_code_secret=SecretStr("dashboard-test-lookup-secret-0123456789"),
    )
    runtime = GatewayRuntime.build(settings, services=True)
    sync_stores(runtime.sessions, runtime.stores)
    sessions = runtime.sessions
    keys = Keys(
        admin=create_api_key(sessions, Role.ADMIN, "ops"),
        manager=create_api_key(sessions, Role.MANAGER, "berlin manager", store_id=STORE),
        integrator=create_api_key(sessions, Role.INTEGRATOR, "erp"),
        kiosk=create_api_key(sessions, Role.KIOSK, "kiosk 1", store_id=STORE),
    )
    consumer = runtime.consumer
    assert consumer is not None
    services = ExitStack()
    services.enter_context(runtime.running())
    assert consumer.wait_ready(10), "consumer did not connect and subscribe"
    port = free_port()
    server, thread = serve(runtime, port)
    return RunningGateway(runtime, consumer, services, f"http://127.0.0.1:{port}", keys, server, thread)


def serve(runtime: GatewayRuntime, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    config = uvicorn.Config(
        create_app(runtime, sse_heartbeat_s=1.0),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="dashboard-api", daemon=True)
    thread.start()
    wait_until(lambda: server.started, what="uvicorn to start")
    return server, thread


def stock(runtime: GatewayRuntime, gtin: str, quantity: int, *, zone: str = "aisle-1") -> None:
    """Set a zone count of a product in the store, as a count movement would (through the domain)."""
    with runtime.sessions() as session:
        apply_movement(
            session,
            runtime.stores[STORE],
            gtin=gtin,
            type="count",
            quantity=quantity,
            zone=zone,
            source="manual",
            at=datetime.now(UTC),
        )
        session.commit()


def place_order(gateway: RunningGateway, body: dict[str, Any]) -> dict[str, Any]:
    """Place an order through POST /api/v1/orders with the integrator key; the customer order (CO-…)."""
    response = httpx.post(
        f"{gateway.base_url}/api/v1/orders",
        json=body,
        headers={"Authorization": f"Bearer {gateway.keys.integrator}", "Idempotency-Key": str(uuid.uuid4())},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order
