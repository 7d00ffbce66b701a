"""A whole locker pickup chain for end-to-end tests: gateway (API, ingest, locker link), edge, simulator."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml

from smartstore.devices.sim import SimSettings, Simulator
from smartstore.edge.agent import EdgeAgent
from smartstore.edge.config import EdgeSettings, OutboxSettings
from smartstore.edge.processors.locker_pickups import LockerPickups
from smartstore.edge.vision.settings import VisionSettings
from smartstore.gateway.api.app import create_app
from smartstore.gateway.config import GatewaySettings
from smartstore.gateway.ingest.consumer import SignalConsumer
from smartstore.gateway.inventory.catalog import sync_stores
from smartstore.gateway.inventory.store import apply_movement
from smartstore.gateway.lockers.link import LockerLink
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.gateway.security import Role, create_api_key
from smartstore.kernel.mqtt import MqttLink, MqttSettings
from smartstore.kernel.storeconfig import EXAMPLE_STORE, StoreConfig, load_store
from smartstore.launcher.broker import free_port

STORE = "store-berlin-01"
LOCKER = "locker-1"
RICE = "09506000100098"  # not RFID-tagged: only the pickup takes its units off the count
SECRET = b"locker-test-lookup-secret-0123456789"


def wait_for(condition: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def locker_store_file(directory: Path) -> Path:
    """The example store without readers and cameras: only the lockers talk, so the tests stay quick."""
    data = yaml.safe_load(EXAMPLE_STORE.read_text())
    data["devices"]["readers"] = []
    data["devices"]["cameras"] = []
    for shelf in data.get("planogram", []):
        shelf.pop("camera", None)
    path = directory / "locker-store.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    load_store(path)  # fail here, clearly, if the trimmed file is not a valid store
    return path


@dataclass
class Keys:
    integrator: str
    manager: str
    kiosk: str


@dataclass
class Gateway:
    """The gateway's parts in this process; ingest and locker link can be cut and restored."""

    runtime: GatewayRuntime
    keys: Keys
    url: str = ""
    consumer: SignalConsumer | None = None
    link: LockerLink | None = None
    mqtt: MqttLink | None = None
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    http: httpx.Client = field(init=False)

    def start_links(self) -> None:
        runtime = self.runtime
        self.consumer = runtime.new_consumer()
        runtime.consumer = self.consumer
        self.consumer.start()
        assert self.consumer.wait_ready(15), "signal consumer did not subscribe"
        self.mqtt = MqttLink(runtime.settings.mqtt, f"{runtime.settings.gateway_id}-services")
        self.link = LockerLink(
            runtime.settings, runtime.stores, runtime.sessions, runtime.bus, self.mqtt, secret=SECRET
        )
        runtime.lockers = self.link
        self.link.start()
        self.mqtt.start()
        assert self.link.wait_ready(10), "locker link did not subscribe"

    def stop_links(self) -> None:
        """Cut the gateway off the broker: no signals in, no commands or manifests out."""
        if self.consumer is not None:
            self.consumer.stop()
            self.consumer = None
        if self.mqtt is not None:
            self.mqtt.stop()
            self.mqtt = None
        if self.link is not None:
            self.link.stop()
            self.link = None

    def serve(self) -> None:
        app = create_app(self.runtime, sse_heartbeat_s=0.5)
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="api-server", daemon=True)
        self._thread.start()
        wait_for(lambda: self._server is not None and self._server.started, what="uvicorn")
        self.url = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(timeout=5)
            self.http.close()
        self.stop_links()
        self.runtime.engine.dispose()

    # --- the API, as the shop, an associate and the kiosk use it ---------------------------------

    def api(self, method: str, path: str, key: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}", **kwargs.pop("headers", {})}
        return self.http.request(method, f"/api/v1/stores/{STORE}{path}", headers=headers, **kwargs)

    def order(self, order_id: str) -> dict[str, Any]:
        response = self.api("GET", f"/pickup-orders/{order_id}", self.keys.manager)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def inventory(self, gtin: str) -> dict[str, Any]:
        response = self.api("GET", f"/inventory/{gtin}", self.keys.integrator)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def stock(self, gtin: str, zone: str, quantity: int) -> None:
        with self.runtime.sessions() as session:
            apply_movement(
                session,
                self.runtime.stores[STORE],
                gtin=gtin,
                type="count",
                quantity=quantity,
                zone=zone,
                source="manual",
                at=datetime.now(UTC),
            )
            session.commit()

    def ready_order(self, gtin: str, quantity: int) -> tuple[str, str, str]:
        """Create, pick and load an order; wait until the associate closed it in: (id, code, door)."""
        created = self.api(
            "POST",
            "/pickup-orders",
            self.keys.integrator,
            json={"lines": [{"gtin": gtin, "quantity": quantity}]},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert created.status_code == 201, created.text
        order_id = created.json()["id"]
        assert created.json()["state"] == "reserved"
        picked = self.api("POST", f"/pickup-orders/{order_id}/pick", self.keys.manager)
        assert picked.status_code == 200, picked.text
        loaded = self.api("POST", f"/pickup-orders/{order_id}/load", self.keys.manager, json={})
        assert loaded.status_code == 200, loaded.text
        body = loaded.json()
        wait_for(lambda: self.order(order_id)["state"] == "ready", timeout=15, what=f"{order_id} ready")
        return order_id, str(body["code"]), str(body["compartment"])


def start_gateway(
    db_url: str, store_file: Path, mqtt: MqttSettings, tmp_path: Path, **overrides: Any
) -> Gateway:
    """`overrides`: any other GatewaySettings field (e.g. a short locker_open_timeout_s)."""
    settings = GatewaySettings(
        db_url=db_url,
        stores=[store_file],
        mqtt=mqtt,
        gateway_id=f"gw-{uuid.uuid4().hex[:6]}",
        pickup_code_secret_file=tmp_path / "pickup-code.secret",
        **overrides,
    )
    runtime = GatewayRuntime.build(settings)
    sync_stores(runtime.sessions, runtime.stores)
    keys = Keys(
        integrator=create_api_key(runtime.sessions, Role.INTEGRATOR, "shop"),
        manager=create_api_key(runtime.sessions, Role.MANAGER, "associate", store_id=STORE),
        kiosk=create_api_key(runtime.sessions, Role.KIOSK, "kiosk", store_id=STORE),
    )
    gateway = Gateway(runtime, keys)
    gateway.start_links()
    gateway.serve()
    return gateway


def start_simulator(store: StoreConfig, mqtt: MqttSettings) -> Simulator:
    """Lockers only, nobody shopping: the simulated associate loads and the customer takes on request."""
    settings = SimSettings.model_validate(
        {
            "mqtt": mqtt,
            "speed": 20,
            "cameras": False,
            "read_interval_s": 30,
            "world": {"sales_per_hour": 0, "deliveries_per_day": 0},
            "locker": {"loads_per_hour": 0},
        }
    )
    simulator = Simulator(settings, store)
    simulator.start()
    assert simulator.wait_online(10), "simulated devices did not connect"
    return simulator


def start_edge(store_file: Path, state_dir: Path, mqtt: MqttSettings) -> EdgeAgent:
    settings = EdgeSettings(
        agent_id="edge-1",
        store_file=store_file,
        state_dir=state_dir,
        mqtt=mqtt,
        tick_interval_s=0.05,
        vision=VisionSettings(enabled=False),
        outbox=OutboxSettings(maintenance_interval_s=1.0),
    )
    agent = EdgeAgent(settings, load_store(store_file))
    agent.start()
    assert agent.wait_connected(10), "edge agent did not connect"
    return agent


def lockers_of(agent: EdgeAgent) -> LockerPickups:
    return next(p for p in agent.processors if isinstance(p, LockerPickups))
