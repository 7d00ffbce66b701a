"""Test helpers for edge/: SGTIN-96 EPCs, contract messages, synthetic shelf frames, MQTT collectors."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from smartstore.edge.config import EdgeSettings, OutboxSettings
from smartstore.edge.rfid.settings import RfidSettings
from smartstore.edge.vision.settings import VisionSettings
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import (
    DeviceState,
    DeviceStatus,
    LockerEvent,
    LockerEventType,
    ReadBatch,
    TagRead,
    envelope,
)
from smartstore.kernel.contract.topics import Topic
from smartstore.kernel.contract.validation import Decoded, Image, decode
from smartstore.kernel.mqtt import MqttSettings
from smartstore.kernel.storeconfig import Slot

_PARTITIONS = {
    12: (0, 40, 4),
    11: (1, 37, 7),
    10: (2, 34, 10),
    9: (3, 30, 14),
    8: (4, 27, 17),
    7: (5, 24, 20),
}


def sgtin96(gtin14: str, serial: int, company_digits: int = 7, filter_value: int = 1) -> str:
    """SGTIN-96 EPC hex of one item (header 0x30), written from the TDS bit layout independently of edge/."""
    partition, prefix_bits, item_bits = _PARTITIONS[company_digits]
    value = 0x30
    fields = (
        (filter_value, 3),
        (partition, 3),
        (int(gtin14[1 : 1 + company_digits]), prefix_bits),
        (int(gtin14[0] + gtin14[1 + company_digits : 13]), item_bits),
        (serial, 38),
    )
    for field, bits in fields:
        value = (value << bits) | field
    return f"{value:024X}"


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def _ts(now: float | None) -> datetime:
    return datetime.fromtimestamp(now if now is not None else time.time(), UTC)


def read_batch(
    store: str, reader: str, reads: Sequence[tuple[str, int, float]], now: float | None = None, seq: int = 1
) -> tuple[str, bytes]:
    """(topic, payload) of a ReadBatch from (epc, antenna, rssi) triples."""
    ts = _ts(now)
    batch = ReadBatch(
        **envelope(seq, ts), reads=[TagRead(epc=e, antenna=a, rssi=r, ts=ts) for e, a, r in reads]
    )
    return topics.rfid_reads(store, reader), batch.model_dump_json().encode()


def reader_status(store: str, reader: str, state: DeviceState, seq: int = 1) -> tuple[str, bytes]:
    status = DeviceStatus(**envelope(seq), state=state)
    return topics.status(store, topics.Kind.RFID, reader), status.model_dump_json().encode()


def locker_event(
    store: str, locker: str, compartment: str, event: LockerEventType, occupied: bool | None, seq: int = 1
) -> tuple[str, bytes]:
    payload = LockerEvent(**envelope(seq), compartment=compartment, event=event, occupied=occupied)
    return topics.locker_event(store, locker), payload.model_dump_json(exclude_none=True).encode()


def decoded(topic: str, payload: bytes) -> Decoded | Image:
    result = decode(topic, payload)
    assert isinstance(result, Decoded | Image), result
    return result


def parsed(topic: str) -> Topic:
    return Topic.parse(topic)


# --- synthetic shelf frames -------------------------------------------------------------------------


def flat_panel(width: int = 1280, height: int = 720, seed: int = 1) -> np.ndarray:
    """A mostly uniform back panel with mild sensor noise and a soft lighting gradient."""
    rng = np.random.default_rng(seed)
    gradient = np.linspace(150, 175, width, dtype=np.float32)[None, :].repeat(height, axis=0)
    noisy = gradient + rng.normal(0, 2.0, size=(height, width))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def paint_products(image: np.ndarray, slot: Slot, share: float = 1.0, seed: int = 2) -> None:
    """Cover the left `share` of a slot with busy label textures: stripes, text-like blocks, pack edges."""
    rng = np.random.default_rng(seed)
    xs = [p[0] for p in slot.polygon]
    ys = [p[1] for p in slot.polygon]
    x0, x1, y0, y1 = int(min(xs)), int(max(xs)), int(min(ys)), int(max(ys))
    right = x0 + int((x1 - x0) * share)
    pack_width = 32
    for left in range(x0, right, pack_width):
        edge = min(left + pack_width - 2, right)
        if edge <= left:
            break
        base = int(rng.integers(30, 220))
        cv2.rectangle(image, (left, y0 + 4), (edge, y1 - 2), base, thickness=-1)
        for y in range(y0 + 8, y1 - 4, 7):
            shade = 255 - base if (y // 7) % 2 else base // 3
            cv2.line(image, (left + 2, y), (edge - 2, y), shade, 2)
        cv2.putText(image, "AB", (left + 2, y0 + 40), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 255 - base, 1)


def jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return encoded.tobytes()


# --- MQTT ---------------------------------------------------------------------------------------------


class Broker(Protocol):
    """The root conftest's `mosquitto` fixture: a private broker that can be stopped and restarted."""

    @property
    def url(self) -> str: ...

    @property
    def settings(self) -> MqttSettings: ...

    config_path: Path

    def stop(self) -> None: ...

    def start(self) -> None: ...


class Collector:
    """A real MQTT subscriber that records (topic, payload) in arrival order."""

    def __init__(self, settings: MqttSettings, topic_filter: str, client_id: str, persistent: bool = False):
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv311,
            clean_session=not persistent,
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self._filter = topic_filter

        def on_connect(client: paho.Client, *_: object) -> None:
            client.subscribe(topic_filter, qos=1)

        def on_subscribe(*_: object) -> None:
            self._subscribed.set()

        def on_message(client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
            with self._lock:
                self.messages.append((message.topic, bytes(message.payload)))

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        self.client.connect(settings.host, settings.port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "subscription not confirmed"

    def snapshot(self) -> list[tuple[str, bytes]]:
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(condition: Callable[[], bool], timeout: float = 8.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def publish(
    settings: MqttSettings, messages: Sequence[tuple[str, bytes]], client_id: str = "edge-test-pub"
) -> None:
    """Publish QoS 1 and wait for every PUBACK."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311)
    client.connect(settings.host, settings.port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=5)
    finally:
        client.disconnect()
        client.loop_stop()


def fast_edge_settings(state_dir: Path, mqtt: MqttSettings, **changes: object) -> EdgeSettings:
    """Settings for end-to-end runs: sub-second publish intervals, private state dir."""
    values: dict[str, object] = {
        "agent_id": "edge-t",
        "state_dir": state_dir,
        "mqtt": mqtt,
        "tick_interval_s": 0.05,
        "rfid": RfidSettings(stock_publish_interval_s=0.2, snapshot_interval_s=30.0, persist_interval_s=30.0),
        # Off unless a test wants it: loading the detector costs start-up time the other tests don't need.
        "vision": VisionSettings(enabled=False),
        "outbox": OutboxSettings(maintenance_interval_s=1.0),
    }
    values.update(changes)
    return EdgeSettings(**values)  # type: ignore[arg-type]
