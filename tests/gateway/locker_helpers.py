"""Helpers for the locker tests: stock seeding, order creation, loading and readying through the stores."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from smartstore.gateway.db.models import Inventory
from smartstore.gateway.inventory.store import apply_movement
from smartstore.gateway.lockers.compartments import Loading, apply_locker_event, load_order
from smartstore.gateway.lockers.link import LockerLink
from smartstore.gateway.lockers.order_store import create_order
from smartstore.gateway.runtime import GatewayRuntime
from smartstore.kernel.contract import payloads as p
from smartstore.kernel.contract import topics
from smartstore.kernel.mqtt import MqttLink, MqttSettings

STORE = "store-berlin-01"
LOCKER = "locker-1"
MILK = "09506000100005"  # RFID-tagged, safety stock 2, size S
RICE = "09506000100098"  # not tagged, safety stock 0, size S
SECRET = b"test-pickup-code-lookup-secret-0123456789"


def now() -> datetime:
    return datetime.now(UTC)


def stock(runtime: GatewayRuntime, gtin: str, quantity: int, zone: str = "aisle-1") -> None:
    with runtime.sessions() as session:
        store = runtime.stores[STORE]
        apply_movement(
            session, store, gtin=gtin, type="count", quantity=quantity, zone=zone, source="manual", at=now()
        )
        session.commit()


def figures(runtime: GatewayRuntime, gtin: str) -> dict[str, int]:
    with runtime.sessions() as session:
        row = session.get(Inventory, (STORE, gtin))
        assert row is not None
        return {"on_hand": row.on_hand, "reserved": row.reserved, "atp": row.available_to_promise}


def create(runtime: GatewayRuntime, lines: list[tuple[str, int]]) -> str:
    with runtime.sessions() as session:
        outcome = create_order(session, runtime.stores[STORE], lines, by="test", at=now())
        session.commit()
        assert outcome.order is not None
        return outcome.order.id


def load(runtime: GatewayRuntime, order: str) -> Loading:
    with runtime.sessions() as session:
        loading = load_order(session, runtime.stores[STORE], order, by="associate", at=now(), secret=SECRET)
        session.commit()
        return loading


def door_event(
    runtime: GatewayRuntime, compartment: str, event: p.LockerEventType, occupied: bool | None = None
) -> Any:
    payload = p.LockerEvent(**p.envelope(1), compartment=compartment, event=event, occupied=occupied)
    with runtime.sessions() as session:
        outcome = apply_locker_event(session, runtime.stores[STORE], LOCKER, payload, now())
        session.commit()
        return outcome


def ready(runtime: GatewayRuntime, order: str) -> Loading:
    """Load the order and close its door with the goods inside, as the locker would report it."""
    loading = load(runtime, order)
    door_event(runtime, loading.compartment, p.LockerEventType.DOOR_OPENED, occupied=False)
    door_event(runtime, loading.compartment, p.LockerEventType.DOOR_CLOSED, occupied=True)
    return loading


@contextmanager
def running_locker_link(runtime: GatewayRuntime, mqtt: MqttSettings, secret: bytes) -> Iterator[LockerLink]:
    """The gateway's locker link on its own MQTT connection, set on the runtime while it runs."""
    wire = MqttLink(mqtt, f"gw-lockers-{uuid.uuid4().hex[:6]}")
    link = LockerLink(runtime.settings, runtime.stores, runtime.sessions, runtime.bus, wire, secret=secret)
    runtime.lockers = link
    link.start()
    wire.start()
    assert link.wait_ready(10)
    try:
        yield link
    finally:
        wire.stop()
        link.stop()
        runtime.lockers = None


class FakeLockerBank:
    """Stands in for locker-1's controller on the broker: records commands and manifests, sends events
    and acks. A working controller answers a customer's open at once (the kiosk waits for it); with
    `ack_pickups` False it has gone quiet. Loads are left unanswered: tests decide what the locker says."""

    def __init__(self, url: str, ack_pickups: bool = True) -> None:
        self.commands: list[p.LockerCommand] = []
        self.manifests: list[p.LockerManifest] = []
        self.ack_pickups = ack_pickups
        self.seq = 0
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"locker-{uuid.uuid4().hex[:6]}")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        host, port = url.removeprefix("mqtt://").split(":")
        self.client.connect(host, int(port))
        self.client.loop_start()
        self.client.subscribe(
            [(topics.locker_cmd(STORE, LOCKER), 1), (topics.locker_manifest(STORE, LOCKER), 1)]
        )
        assert self._subscribed.wait(5)

    def _on_message(self, _client: paho.Client, _userdata: object, message: paho.MQTTMessage) -> None:
        data = json.loads(message.payload)
        command = None
        with self._lock:
            if message.topic.endswith("/cmd"):
                command = p.LockerCommand.model_validate(data)
                self.commands.append(command)
            else:
                self.manifests.append(p.LockerManifest.model_validate(data))
        if command is not None and self.ack_pickups and command.request.startswith("pickup:"):
            self.ack(command.request, "done", wait=False)

    def send(self, model: type[p.Envelope], channel: str, wait: bool = True, **fields: Any) -> None:
        """Publish an event or ack; `wait` for its PUBACK (never on paho's own thread: it would block)."""
        with self._lock:
            self.seq += 1
            payload = model(**p.envelope(self.seq), **fields)
        topic = topics.locker_event(STORE, LOCKER) if channel == "event" else topics.locker_ack(STORE, LOCKER)
        published = self.client.publish(topic, p.encode(payload), qos=1)
        if wait:
            published.wait_for_publish(5)

    def ack(self, request: str, result: str, wait: bool = True) -> None:
        self.send(p.LockerAck, "ack", wait, request=request, result=result)

    def door(
        self, compartment: str, event: str, occupied: bool | None = None, request: str | None = None
    ) -> None:
        self.send(
            p.LockerEvent,
            "event",
            compartment=compartment,
            event=p.LockerEventType(event),
            occupied=occupied,
            request=request,
        )

    def in_manifest(self, order: str) -> bool:
        with self._lock:
            return bool(self.manifests) and any(o.order == order for o in self.manifests[-1].orders)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
