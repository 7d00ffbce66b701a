"""The latest annotated camera snapshot per (store, camera), fed by the edge agents' retained JPEG topics."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass

import paho.mqtt.client as paho

from smartstore.kernel.contract import topics
from smartstore.kernel.contract.topics import Topic, TopicError
from smartstore.kernel.contract.validation import JPEG_MAGIC, MAX_IMAGE_BYTES
from smartstore.kernel.mqtt import MqttLink

logger = logging.getLogger(__name__)

DEFAULT_MAX_CAMERAS = 512


@dataclass(frozen=True, slots=True)
class Snapshot:
    jpeg: bytes
    received: float  # wall-clock seconds
    agent: str


class SnapshotStore:
    """Bounded, thread-safe: the MQTT thread writes, request handlers read. Oldest-updated goes first."""

    def __init__(
        self, max_cameras: int = DEFAULT_MAX_CAMERAS, clock: Callable[[], float] = time.time
    ) -> None:
        self.max_cameras = max_cameras
        self._clock = clock
        self._lock = threading.Lock()
        self._latest: OrderedDict[tuple[str, str], Snapshot] = OrderedDict()

    def put(self, store: str, camera: str, jpeg: bytes, agent: str) -> None:
        with self._lock:
            self._latest.pop((store, camera), None)
            self._latest[(store, camera)] = Snapshot(jpeg, self._clock(), agent)
            while len(self._latest) > self.max_cameras:
                self._latest.popitem(last=False)

    def remove(self, store: str, camera: str) -> None:
        with self._lock:
            self._latest.pop((store, camera), None)

    def get(self, store: str, camera: str) -> Snapshot | None:
        with self._lock:
            return self._latest.get((store, camera))

    def age_s(self, snapshot: Snapshot) -> float:
        return max(self._clock() - snapshot.received, 0.0)

    def __len__(self) -> int:
        with self._lock:
            return len(self._latest)


class SnapshotFeed:
    """`snapshot_filter()` on a (shared) link: retained snapshots arrive at once on (re)subscribe.

    Only stores this gateway serves are kept; anything that is not a plausible JPEG is dropped and
    counted. An empty retained payload (a camera removed) forgets the camera.
    """

    def __init__(self, link: MqttLink, store: SnapshotStore, stores: Collection[str]) -> None:
        self.store = store
        self.stores = frozenset(stores)
        self.received = 0
        self.dropped = 0
        # QoS 0: a missed picture is replaced by the next one; nothing here is worth a redelivery.
        link.subscribe(topics.snapshot_filter(), 0, self._receive)

    def _receive(self, message: paho.MQTTMessage) -> None:
        try:
            topic = Topic.parse(message.topic)
        except TopicError:
            self.dropped += 1
            return
        camera = topic.snapshot_camera
        if camera is None or topic.store not in self.stores:
            self.dropped += 1
            return
        payload = bytes(message.payload)
        if not payload:
            self.store.remove(topic.store, camera)
            return
        if len(payload) > MAX_IMAGE_BYTES or not payload.startswith(JPEG_MAGIC):
            self.dropped += 1
            logger.warning("snapshot on %s is not a JPEG (%d bytes): dropped", message.topic, len(payload))
            return
        self.received += 1
        self.store.put(topic.store, camera, payload, topic.device)
