"""The demo's running parts: its settings, the broker and the child processes, stopped in reverse order."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from smartstore.devices.sim.cli import Outage
from smartstore.kernel.storeconfig import EXAMPLE_STORE, StoreConfig
from smartstore.launcher.broker import LocalBroker, start_local_broker
from smartstore.launcher.children import Child

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
EDGE_AGENT = "edge-1"


class DemoSettings(BaseModel):
    """The demo's command line, validated before anything starts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    http_port: int = Field(8080, ge=1, le=65535)
    mqtt_port: int = Field(1884, ge=1, le=65535, description="Port of the embedded broker.")
    mqtt_url: str | None = Field(None, description="Use this broker instead of the embedded one.")
    mqtt_protocol: Literal["5", "3.1.1"] | None = None
    duration_s: float = Field(0.0, ge=0, description="Seconds to run; 0 = until Ctrl-C.")
    store: Path = EXAMPLE_STORE
    speed: float = Field(60.0, gt=0)
    seed: int = 7
    data_dir: Path | None = None
    startup_timeout_s: float = Field(90.0, gt=0)
    lockers_timeout_s: float = Field(
        30.0,
        gt=0,
        description="How long the banner waits until the gateway sees the simulated lockers online.",
    )
    stop_timeout_s: float = Field(10.0, gt=0)
    outages: tuple[Outage, ...] | None = Field(None, description="Devices to unplug; None = the default one.")
    order_every_s: float = Field(40.0, ge=0, description="Simulated pickup orders this often; 0 = none.")


def outage_text(outage: Outage) -> str:
    return f"{outage.device}@{outage.start_s:g}+{outage.duration_s:g}"


def wait_healthy(url: str, gateway: Child, timeout: float, stop: threading.Event) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set():
        if gateway.exit_code() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310  (our own loopback URL)
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        stop.wait(0.25)
    return False


def online_devices(url: str, key: str, kind: str) -> set[str]:
    """Ids of the devices of `kind` the gateway's devices API says are online; none while it cannot answer."""
    request = urllib.request.Request(url, headers={"X-API-Key": key})  # noqa: S310  (our own loopback URL)
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
            devices = json.load(response)
    except (urllib.error.URLError, OSError, ValueError):
        return set()
    return {
        str(d["id"])
        for d in devices
        if isinstance(d, dict) and d.get("kind") == kind and d.get("state") == "online"
    }


class Demo:
    """Owns the broker and the child processes, and stops them in reverse order."""

    def __init__(
        self, settings: DemoSettings, store: StoreConfig, data_dir: Path, outages: list[Outage] | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.outages = outages or []
        self.data_dir = data_dir
        self.logs_dir = data_dir / "logs"
        self.truth_path = data_dir / "truth.jsonl"
        self.db_url = f"sqlite:///{data_dir / 'gateway.db'}"
        self.broker: LocalBroker | None = None
        self.mqtt_url = settings.mqtt_url or f"mqtt://{LOOPBACK}:{settings.mqtt_port}"
        self.protocol: Literal["5", "3.1.1"] = settings.mqtt_protocol or (
            "5" if settings.mqtt_url else "3.1.1"
        )
        self.children: list[Child] = []
        self.stopping = threading.Event()

    def mqtt_host_port(self) -> tuple[str, int]:
        from smartstore.kernel.mqtt import MqttSettings

        mqtt = MqttSettings(url=self.mqtt_url)
        return mqtt.host, mqtt.port

    def start_broker(self) -> None:
        if self.settings.mqtt_url:
            return
        self.broker = start_local_broker(
            self.settings.mqtt_port, LOOPBACK, directory=self.data_dir / "mosquitto"
        )
        self.mqtt_url = self.broker.url
        # The fallback mosquitto speaks MQTT 5; amqtt only 3.1.1.
        self.protocol = self.settings.mqtt_protocol or self.broker.protocol

    def child(self, name: str, *argv: str) -> Child:
        mqtt = ("--mqtt-url", self.mqtt_url, "--mqtt-protocol", self.protocol)
        started = Child(
            name, [name, "--store", str(self.settings.store), *mqtt, *argv], self.logs_dir / f"{name}.log"
        )
        self.children.append(started)
        started.start()
        return started

    def start_components(self) -> bool:
        gateway = self.child(
            "gateway",
            *("--db-url", self.db_url, "--host", LOOPBACK, "--port", str(self.settings.http_port)),
        )
        health = f"http://{LOOPBACK}:{self.settings.http_port}/healthz"
        if not wait_healthy(health, gateway, self.settings.startup_timeout_s, self.stopping):
            if self.stopping.is_set():
                return True
            print(
                f"smartstore demo: the gateway did not become healthy; see {gateway.log_path}",
                file=sys.stderr,
            )
            return False
        self.child("edge", "--agent-id", EDGE_AGENT, "--state-dir", str(self.data_dir / "edge"))
        # The edge agent subscribes on connect; give it that moment before the devices start talking.
        if self.stopping.wait(1.0):
            return True
        self.child(
            "sim",
            *("--seed", str(self.settings.seed), "--speed", str(self.settings.speed)),
            # Orders are loaded through the gateway's API here, not by associates on their own.
            *("--locker-loads-per-hour", "0"),
            *("--truth", str(self.truth_path)),
            *(f"--outage={outage_text(outage)}" for outage in self.outages),
        )
        return True

    def wait_lockers_online(self, key: str) -> list[str]:
        """Wait until the gateway sees every simulated locker bank online; returns those still offline.

        Loading an order into a bank the gateway has not heard online answers `locker_offline`: whoever
        follows the banner at once must not meet that. Gives up early when stopping or a child died.
        """
        wanted = {locker.id for locker in self.store.devices.lockers}
        url = f"http://{LOOPBACK}:{self.settings.http_port}/api/v1/stores/{self.store.store.id}/devices"
        deadline = time.monotonic() + self.settings.lockers_timeout_s
        while wanted:
            wanted -= online_devices(url, key, "locker")
            if not wanted or time.monotonic() >= deadline or self.dead_child() is not None:
                break
            if self.stopping.wait(0.25):
                break
        return sorted(wanted)

    def dead_child(self) -> Child | None:
        return next((c for c in self.children if c.exit_code() is not None), None)

    def wait(self) -> int:
        deadline = time.monotonic() + self.settings.duration_s if self.settings.duration_s else None
        while not self.stopping.wait(0.5):
            dead = self.dead_child()
            if dead is not None:
                print(
                    f"smartstore demo: {dead.name} exited early with code {dead.exit_code()}; "
                    f"see {dead.log_path}",
                    file=sys.stderr,
                )
                return 1
            if deadline is not None and time.monotonic() >= deadline:
                logger.info("demo duration of %.0f s elapsed", self.settings.duration_s)
                break
        return 0

    def shutdown(self) -> None:
        # Devices first, then the edge, then the gateway: what is in flight still lands in the DB.
        for child in reversed(self.children):
            child.stop(self.settings.stop_timeout_s)
        if self.broker is not None:
            self.broker.stop()
        self.broker = None
