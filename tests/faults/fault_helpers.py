"""Real processes for the fault tests: an ingest-only gateway and the `smartstore edge` command, with
their databases read from outside, as an operator would."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import LockerEvent, LockerEventType, encode, envelope
from smartstore.kernel.mqtt import MqttSettings

REPO = Path(__file__).resolve().parents[2]
STORE = "store-berlin-01"
LOCKER = "locker-1"
AGENT = "edge-1"  # the example store names only its default agent (devices.agents)
COMPARTMENTS = [f"c{n:02d}" for n in range(1, 11)]

GATEWAY_CHILD = """
import signal, sys, threading
from pathlib import Path
from smartstore.gateway.config import GatewaySettings
from smartstore.gateway.inventory.catalog import sync_stores
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.kernel.mqtt import MqttSettings
from smartstore.kernel.storeconfig import EXAMPLE_STORE

stores = [Path(path) for path in sys.argv[3:]] or [EXAMPLE_STORE]
settings = GatewaySettings(
    db_url=sys.argv[1], mqtt=MqttSettings(url=sys.argv[2]), gateway_id="gw-faults", stores=stores
)
runtime = GatewayRuntime.build(settings)
sync_stores(runtime.sessions, runtime.stores)
consumer = runtime.new_consumer()
consumer.start()
assert consumer.wait_ready(20)
print("ready", flush=True)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
stop.wait()
consumer.stop()
"""


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a live process, MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Gateway:
    """The gateway's ingest (receiver process + writer) in a child process, on a SQLite file."""

    def __init__(self, db_path: Path, broker_url: str, stores: Sequence[Path] = ()) -> None:
        self.db_path = db_path
        self.broker_url = broker_url
        self.stores = [str(path) for path in stores]  # none: the example store alone
        self.process: subprocess.Popen[bytes] | None = None
        self.peak_mb = 0.0

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", GATEWAY_CHILD, f"sqlite:///{self.db_path}", self.broker_url, *self.stores],
            cwd=REPO,
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == b"ready", "gateway did not start"

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.peak_mb = max(self.peak_mb, peak_rss_mb(self.process.pid))
            self.process.kill()
            self.process.wait(10)

    def applied_ids(self) -> list[str]:
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10) as db:
            return [row[0] for row in db.execute("SELECT event_id FROM applied_events WHERE kind = 'alert'")]

    def alert_causes(self) -> list[str]:
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10) as db:
            return [row[0] for row in db.execute("SELECT cause FROM alerts")]

    def alert_rows(self, cause_prefix: str = "locker.door:") -> int:
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10) as db:
            query = "SELECT count(*) FROM alerts WHERE cause LIKE ?"
            return int(db.execute(query, (cause_prefix + "%",)).fetchone()[0])


class Edge:
    """`smartstore edge` in its own process, with vision off and a fast timer."""

    def __init__(self, state_dir: Path, broker_url: str, log_path: Path, **env: str) -> None:
        self.state_dir = state_dir
        self.broker_url = broker_url
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.peak_mb = 0.0

    def start(self) -> None:
        env = {
            **os.environ,
            "SMARTSTORE_EDGE_VISION__ENABLED": "false",
            "SMARTSTORE_EDGE_TICK_INTERVAL_S": "0.05",
            "SMARTSTORE_EDGE_OUTBOX__MAINTENANCE_INTERVAL_S": "1",
            # door_events() flaps on purpose: every raise must reach the gateway to be counted there.
            "SMARTSTORE_EDGE_LOCKERS__ALERT_RERAISE_S": "0",
            **self.env,
        }
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "smartstore.launcher.cli",
                    "edge",
                    f"--mqtt-url={self.broker_url}",
                    f"--agent-id={AGENT}",
                    f"--state-dir={self.state_dir}",
                ],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_online(self, settings: MqttSettings, timeout: float = 20) -> None:
        """Until the agent's retained status says online: it is subscribed (same connect, sent first)."""
        self.wait_status(settings, b'"online"', timeout)

    def wait_status(self, settings: MqttSettings, marker: bytes, timeout: float = 20) -> None:
        """Until the agent's status (retained, republished on changes) contains `marker`."""
        online = threading.Event()
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"watch-{time.monotonic_ns()}")

        def on_message(client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
            if marker in message.payload:
                online.set()

        client.on_message = on_message
        client.on_connect = lambda c, *_: c.subscribe(topics.status(STORE, topics.Kind.EDGE, AGENT), 1)
        client.connect(settings.host, settings.port)
        client.loop_start()
        try:
            assert online.wait(timeout), f"the edge agent's status never showed {marker!r}"
        finally:
            client.disconnect()
            client.loop_stop()

    def sample(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.peak_mb = max(self.peak_mb, peak_rss_mb(self.process.pid))

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.sample()
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.sample()
            self.process.terminate()
            self.process.wait(20)

    def outbox(self, where: str = "1") -> list[str]:
        path = self.state_dir / "outbox.db"
        if not path.exists():
            return []
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
            return [row[0] for row in db.execute(f"SELECT id FROM outbox WHERE {where}")]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def store_served_first(tmp_path: Path) -> list[Path]:
    """Another store listed before the example store (the edge's): a gateway that announced itself
    only on its first store's topics would never tell this edge that it came back."""
    from smartstore.kernel.storeconfig import EXAMPLE_STORE

    other = tmp_path / "store-hamburg-01.yaml"
    other.write_text(EXAMPLE_STORE.read_text().replace(f"id: {STORE}", "id: store-hamburg-01", 1))
    return [other, EXAMPLE_STORE]


def door_events(count: int, start: int = 0) -> list[tuple[str, bytes]]:
    """Door left open / closed in turn over ten compartments: one alert raise or clear each."""
    messages = []
    for n in range(start, start + count):
        compartment = COMPARTMENTS[(n // 2) % len(COMPARTMENTS)]
        kind = LockerEventType.DOOR_LEFT_OPEN if n % 2 == 0 else LockerEventType.DOOR_CLOSED
        event = LockerEvent(**envelope(n + 1), compartment=compartment, event=kind)
        messages.append((topics.locker_event(STORE, LOCKER), encode(event)))
    return messages


class Device:
    """The locker controller's MQTT client: QoS 1 publishes, each waited for (PUBACK)."""

    def __init__(self, settings: MqttSettings) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="locker-1-faults")
        self.client.connect(settings.host, settings.port)
        self.client.loop_start()

    def publish(self, messages: Sequence[tuple[str, bytes]], per_second: float | None = None) -> None:
        infos = []
        for topic, payload in messages:
            infos.append(self.client.publish(topic, payload, qos=1))
            if per_second is not None:
                time.sleep(1 / per_second)
        for info in infos:
            info.wait_for_publish(30)

    def publish_in_background(
        self, messages: Sequence[tuple[str, bytes]], per_second: float
    ) -> threading.Thread:
        thread = threading.Thread(target=self.publish, args=(messages, per_second), daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
