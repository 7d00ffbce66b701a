"""Locker benchmark: from a code entered at the kiosk API to the open command on the wire.

    python bench/locker.py [--n 300] [--db-url URL] [--pause-ms 200]

Runs its own Mosquitto on a free port and the gateway as a child process (`smartstore gateway`) on
a store with one big locker bank (N + 10 compartments). It makes N orders ready the real way (create,
pick, load over the REST API; a stand-in controller answers each load command with door_opened,
occupancy_changed and door_closed), then, one pickup at a time, POSTs each order's code to
`/api/v1/stores/{store}/lockers/{locker}/pickup` and times until the `LockerCommand` with that order's
`pickup:` request arrives at a subscriber on the controller's `cmd` topic. Between pickups it pauses
`--pause-ms` (customers are seconds apart; 0 measures each pickup queued behind the previous one's
background work, e.g. the manifest the gateway republishes after every pickup).
Baseline, same broker and run: a bare paho QoS 1 publish -> receive round trip, N times.
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
import yaml
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smartstore.gateway.config import GatewaySettings
from smartstore.gateway.inventory.catalog import sync_stores
from smartstore.gateway.inventory.store import apply_movement
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.gateway.security import Role, create_api_key
from smartstore.kernel.contract import payloads as p
from smartstore.kernel.contract import topics
from smartstore.kernel.mqtt import MqttSettings
from smartstore.kernel.storeconfig import EXAMPLE_STORE, load_store
from smartstore.launcher.broker import MOSQUITTO_BENCH_CONFIG, MosquittoProcess, free_port

LOCKER = "locker-bench"
PRODUCT = "09506000100098"  # not RFID-tagged, locker size S
TARGET_P99_MS = 100.0


@contextmanager
def broker(workdir: Path) -> Iterator[str]:
    mosquitto = MosquittoProcess(free_port(), directory=workdir, config_template=MOSQUITTO_BENCH_CONFIG)
    mosquitto.start()
    try:
        yield mosquitto.url
    finally:
        mosquitto.stop()


def bench_store(workdir: Path, compartments: int) -> Path:
    """The example store with one locker bank of `compartments` L compartments, no readers or cameras."""
    data = yaml.safe_load(EXAMPLE_STORE.read_text())
    data["devices"]["readers"] = []
    data["devices"]["cameras"] = []
    for shelf in data.get("planogram", []):
        shelf.pop("camera", None)
    data["devices"]["lockers"] = [
        {
            "id": LOCKER,
            "zone": "locker-bay",
            "compartments": [{"id": f"c{i:03d}", "size": "L"} for i in range(1, compartments + 1)],
        }
    ]
    path = workdir / "bench-store.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    load_store(path)
    return path


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


# --- the stand-in controller and the measuring subscriber ------------------------------------------


class Controller:
    """Answers load commands like a locker with an associate at it; timestamps pickup commands."""

    def __init__(self, url: str, store: str) -> None:
        self.store = store
        self.arrived: dict[str, float] = {}
        self.events = threading.Condition()
        self.seq = 0
        settings = MqttSettings(url=url)
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-locker", protocol=paho.MQTTv5)
        self.client.on_message = self._on_message
        self.client.connect(settings.host, settings.port)
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.loop_start()
        self.client.subscribe(topics.locker_cmd(store, LOCKER), qos=1)
        if not subscribed.wait(10):
            raise SystemExit("controller subscription not confirmed")

    def _send(self, payload: p.WireModel, topic: str) -> None:
        self.client.publish(topic, p.encode(payload), qos=1)

    def _on_message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        now = time.perf_counter()
        command = p.LockerCommand.model_validate_json(message.payload)
        request = p.parse_locker_request(command.request)
        if request is not None and request.purpose is p.LockerRequestPurpose.PICKUP:
            with self.events:
                self.arrived[request.order] = now
                self.events.notify_all()
        self.seq += 1
        ack = p.LockerAck(**p.envelope(self.seq), request=command.request, result="done")
        self._send(ack, topics.locker_ack(self.store, LOCKER))
        if request is None or request.purpose is not p.LockerRequestPurpose.LOAD:
            return
        event_topic = topics.locker_event(self.store, LOCKER)
        for event, occupied in (
            (p.LockerEventType.DOOR_OPENED, False),
            (p.LockerEventType.OCCUPANCY_CHANGED, True),
            (p.LockerEventType.DOOR_CLOSED, True),
        ):
            self.seq += 1
            payload = p.LockerEvent(
                **p.envelope(self.seq),
                compartment=command.compartment,
                event=event,
                occupied=occupied,
                request=command.request,
            )
            self._send(payload, event_topic)

    def wait_for(self, order: str, timeout: float) -> float | None:
        with self.events:
            self.events.wait_for(lambda: order in self.arrived, timeout)
            return self.arrived.get(order)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def baseline_round_trips(url: str, n: int) -> list[float]:
    """A bare paho client publishes QoS 1, another receives: the broker hop alone, in ms."""
    settings = MqttSettings(url=url)
    topic = f"bench/{uuid.uuid4().hex[:8]}/ping"
    received = threading.Event()
    subscriber = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-sub", protocol=paho.MQTTv5)
    arrival: list[float] = []

    def on_message(client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        arrival.append(time.perf_counter())
        received.set()

    subscriber.on_message = on_message
    subscribed = threading.Event()
    subscriber.on_subscribe = lambda *_: subscribed.set()
    subscriber.connect(settings.host, settings.port)
    subscriber.loop_start()
    subscriber.subscribe(topic, qos=1)
    subscribed.wait(10)
    publisher = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-pub", protocol=paho.MQTTv5)
    publisher.connect(settings.host, settings.port)
    publisher.loop_start()
    times: list[float] = []
    try:
        payload = p.encode(
            p.LockerCommand(**p.envelope(1), request="pickup:ORD-PING:1", action="open", compartment="c001")
        )
        for _ in range(n):
            received.clear()
            arrival.clear()
            started = time.perf_counter()
            publisher.publish(topic, payload, qos=1)
            if not received.wait(5):
                raise SystemExit("baseline message lost")
            times.append((arrival[0] - started) * 1000)
    finally:
        for client in (publisher, subscriber):
            client.disconnect()
            client.loop_stop()
    return times


# --- the gateway ---------------------------------------------------------------------------------


def prepare_database(db_url: str, store_file: Path, units: int) -> dict[str, str]:
    settings = GatewaySettings(
        db_url=db_url, stores=[store_file], mqtt=MqttSettings(url="mqtt://127.0.0.1:1")
    )
    runtime = GatewayRuntime.build(settings)
    try:
        sync_stores(runtime.sessions, runtime.stores)
        store_id = next(iter(runtime.stores))
        with runtime.sessions() as session:
            apply_movement(
                session,
                runtime.stores[store_id],
                gtin=PRODUCT,
                type="count",
                quantity=units,
                zone="aisle-1",
                source="manual",
                at=datetime.now(UTC),
            )
            session.commit()
        return {
            "integrator": create_api_key(runtime.sessions, Role.INTEGRATOR, "bench-shop"),
            "manager": create_api_key(runtime.sessions, Role.MANAGER, "bench-associate", store_id=store_id),
            "kiosk": create_api_key(runtime.sessions, Role.KIOSK, "bench-kiosk", store_id=store_id),
        }
    finally:
        runtime.engine.dispose()


@contextmanager
def gateway_child(store_file: Path, db_url: str, mqtt_url: str, port: int, log: Path) -> Iterator[None]:
    command = [
        sys.executable,
        *("-m", "smartstore.launcher.cli", "--log-level", "WARNING", "gateway", "--store", str(store_file)),
        *("--db-url", db_url, "--mqtt-url", mqtt_url, "--port", str(port), "--gateway-id", "gw-bench"),
    ]
    with log.open("wb") as sink:
        # The bench times pickups, not the API's per-key rate limit (its own test: test_api_hostile.py).
        env = {**os.environ, "SMARTSTORE_API": '{"rate_per_s": 100000, "burst": 100000}'}
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    try:
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def wait_ready(http: httpx.Client, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http.get("/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the gateway did not become healthy")


def make_ready_orders(http: httpx.Client, store: str, keys: dict[str, str], n: int) -> list[tuple[str, str]]:
    """N orders loaded into the bank and ready (door closed with the goods): (order, code)."""
    base = f"/api/v1/stores/{store}/pickup-orders"
    orders: list[tuple[str, str]] = []
    for _ in range(n):
        created = http.post(
            base,
            json={"lines": [{"gtin": PRODUCT, "quantity": 1}]},
            headers={"Authorization": f"Bearer {keys['integrator']}", "Idempotency-Key": uuid.uuid4().hex},
        )
        created.raise_for_status()
        order = created.json()["id"]
        manager = {"Authorization": f"Bearer {keys['manager']}"}
        http.post(f"{base}/{order}/pick", headers=manager).raise_for_status()
        for _attempt in range(100):  # the gateway's locker link may still be connecting
            loaded = http.post(f"{base}/{order}/load", headers=manager, json={})
            if loaded.status_code != 503:
                break
            time.sleep(0.2)
        loaded.raise_for_status()
        orders.append((order, loaded.json()["code"]))
    deadline = time.monotonic() + 60
    pending = {order for order, _ in orders}
    while pending and time.monotonic() < deadline:
        ready = http.get(
            base,
            params={"state": "ready", "limit": 500},
            headers={"Authorization": f"Bearer {keys['manager']}"},
        ).json()["items"]
        pending -= {item["id"] for item in ready}
        time.sleep(0.2)
    if pending:
        raise SystemExit(f"{len(pending)} orders never became ready")
    return orders


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="smartstore-bench-locker-"))
    store_file = bench_store(workdir, args.n + 10)
    store = load_store(store_file).store.id
    db_url = args.db_url or f"sqlite:///{workdir / 'gateway.db'}"
    keys = prepare_database(db_url, store_file, units=args.n + 50)
    port = free_port()
    with broker(workdir) as mqtt_url:
        controller = Controller(mqtt_url, store)
        gateway = gateway_child(store_file, db_url, mqtt_url, port, workdir / "gateway.log")
        with gateway, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            wait_ready(http)
            setup = time.perf_counter()
            orders = make_ready_orders(http, store, keys, args.n)
            print(f"{args.n} orders ready in {time.perf_counter() - setup:.1f} s", flush=True)
            latencies: list[float] = []
            responses: list[float] = []
            kiosk = {"Authorization": f"Bearer {keys['kiosk']}"}
            url = f"/api/v1/stores/{store}/lockers/{LOCKER}/pickup"
            for order, code in orders:
                started = time.perf_counter()
                response = http.post(url, json={"code": code}, headers=kiosk)
                answered = time.perf_counter()
                if response.status_code != 200:
                    raise SystemExit(f"pickup of {order} refused: {response.status_code} {response.text}")
                arrived = controller.wait_for(order, timeout=5)
                if arrived is None:
                    raise SystemExit(f"no open command for {order}")
                latencies.append((arrived - started) * 1000)
                responses.append((answered - started) * 1000)
                time.sleep(args.pause_ms / 1000)
        baseline = baseline_round_trips(mqtt_url, args.n)
        controller.close()
    shutil.rmtree(workdir, ignore_errors=True)
    p50, p99 = statistics.median(latencies), percentile(latencies, 99)
    baseline_p50 = statistics.median(baseline)
    print(
        f"code entered -> open command on the wire, {len(latencies)} pickups: "
        f"p50 {p50:.2f} ms, p90 {percentile(latencies, 90):.2f} ms, p99 {p99:.2f} ms, "
        f"max {max(latencies):.2f} ms (target p99 <= {TARGET_P99_MS:g} ms)"
    )
    print(f"HTTP answer: p50 {statistics.median(responses):.2f} ms, p99 {percentile(responses, 99):.2f} ms")
    print(
        f"baseline paho publish -> receive: p50 {baseline_p50:.3f} ms, p99 {percentile(baseline, 99):.3f} ms"
    )
    return {
        "bench": "locker",
        "n": len(latencies),
        "p50_ms": round(p50, 2),
        "p99_ms": round(p99, 2),
        "max_ms": round(max(latencies), 2),
        "baseline_p50_ms": round(baseline_p50, 3),
        "ratio": round(p50 / baseline_p50, 1),
        "pause_ms": args.pause_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=300, help="pickups of distinct ready orders (default 300)")
    parser.add_argument("--db-url", help="gateway database (default: SQLite in a temp dir)")
    parser.add_argument(
        "--pause-ms",
        type=float,
        default=200.0,
        help="between one pickup's open command and the next code (default 200; 0: back to back)",
    )
    args = parser.parse_args()
    if args.n < 1:
        raise SystemExit("--n must be at least 1")
    print(json.dumps(run(args)), flush=True)


if __name__ == "__main__":
    main()
