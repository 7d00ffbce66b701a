"""Helpers for the simulated-store tests: polling, a collecting subscriber, the broker fixture's shape."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Protocol

import paho.mqtt.client as paho

from smartstore.devices.sim import Simulator
from smartstore.kernel.mqtt import MqttLink, MqttSettings


class BrokerLike(Protocol):
    """What the `mosquitto` fixture gives: a private broker."""

    @property
    def settings(self) -> MqttSettings: ...

    @property
    def url(self) -> str: ...


def wait_for(condition: Callable[[], bool], timeout: float = 5.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


class Collector:
    """A test client that records (topic, payload, retained) for every message on its filters."""

    def __init__(self, settings: MqttSettings, filters: list[str]) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.link = MqttLink(settings, f"test-collector-{uuid.uuid4().hex[:8]}")
        for topic_filter in filters:
            self.link.subscribe(topic_filter, 1, self._record)

    def _record(self, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload), bool(message.retain)))

    def start(self) -> Collector:
        self.link.start()
        assert self.link.wait_connected(5.0)
        return self

    def on(self, topic: str) -> list[bytes]:
        with self._lock:
            return [payload for t, payload, _ in self.messages if t == topic]

    def stop(self) -> None:
        self.link.stop()


SimFactory = Callable[..., Simulator]
CollectorFactory = Callable[[MqttSettings, list[str]], Collector]
