"""The locker controller on MQTT: commands from locker/{id}/cmd drive a LockBoard; acks and events go out."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable

import paho.mqtt.client as paho
from pydantic import BaseModel, ConfigDict, Field

from smartstore.devices.locker.controller import (
    ControllerSettings,
    KeypadPress,
    LockBoard,
    LockerController,
    LockerOutput,
)
from smartstore.devices.locker.wire import to_message
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import LockerCommand
from smartstore.kernel.contract.validation import Decoded, Rejected, decode
from smartstore.kernel.mqtt import MqttLink, MqttSettings
from smartstore.kernel.storeconfig import Locker

logger = logging.getLogger(__name__)


class LockerServiceSettings(BaseModel):
    """One controller process: which bank, how often the board is read, what is kept while offline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    controller: ControllerSettings = Field(default_factory=ControllerSettings)
    poll_interval_s: float = Field(0.05, gt=0, le=5, description="How often the sensors are read.")
    pending_max: int = Field(1000, ge=10, description="Acks/events kept while the broker is away.")
    inbox_max: int = Field(1000, ge=10, description="Commands waiting for the controller loop.")


class LockerService:
    """Owner loop of one bank: the controller and board are touched by its thread only."""

    def __init__(
        self,
        store_id: str,
        locker: Locker,
        board: LockBoard,
        settings: LockerServiceSettings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store_id = store_id
        self.locker_id = locker.id
        self.settings = settings
        self._clock = clock
        self.controller = LockerController(
            [c.id for c in locker.compartments], board, settings.controller, clock()
        )
        self.counters: Counter[str] = Counter()
        self._inbox: queue.Queue[tuple[str, bytes] | KeypadPress] = queue.Queue(settings.inbox_max)
        # Outputs survive a broker outage here (bounded) and go out in order when it is back.
        self._pending: deque[LockerOutput] = deque(maxlen=settings.pending_max)
        self._seq = 0
        self._keypad_seq = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.link = MqttLink(
            settings.mqtt,
            client_id=f"locker-{store_id}-{locker.id}",
            status_topic=topics.status(store_id, topics.Kind.LOCKER, locker.id),
        )
        self.link.subscribe(topics.locker_cmd(store_id, locker.id), 1, self._receive)

    def start(self) -> None:
        self.link.start()
        self._thread = threading.Thread(target=self._run, name=f"locker-{self.locker_id}", daemon=True)
        self._thread.start()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self.link.wait_connected(timeout)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self.link.stop()

    def keypad(self, code: str) -> None:
        """The bank's keypad (or QR scanner) delivered a code; it goes out as a KeypadEntry."""
        self._keypad_seq += 1
        self._inbox.put(KeypadPress(f"kp-{self.locker_id}-{self._keypad_seq}", code))

    # --- MQTT thread: only hand over -----------------------------------------------------------

    def _receive(self, message: paho.MQTTMessage) -> None:
        try:
            self._inbox.put_nowait((message.topic, bytes(message.payload)))
        except queue.Full:
            self.counters["inbox_full"] += 1
            logger.warning("command inbox full; dropped a message on %s", message.topic)

    # --- owner loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        interval = self.settings.poll_interval_s
        while not self._stop.is_set():
            try:
                item = self._inbox.get(timeout=interval)
            except queue.Empty:
                item = None
            try:
                if isinstance(item, KeypadPress):
                    self._pending.append(item)
                elif item is not None:
                    self._pending.extend(self._command(*item))
                self._pending.extend(self.controller.poll(self._clock()))
                self._flush()
            except Exception:
                # A board read that fails once must not end the controller; the next poll tries again.
                logger.exception("locker %s loop iteration failed", self.locker_id)

    def _command(self, topic: str, raw: bytes) -> list[LockerOutput]:
        result = decode(topic, raw)
        if isinstance(result, Rejected):
            self.counters[result.reason.value] += 1
            logger.warning("rejected command on %s: %s %s", topic, result.reason, result.detail)
            return []
        if (
            not isinstance(result, Decoded)
            or not isinstance(result.payload, LockerCommand)
            or result.topic.device != self.locker_id
        ):
            self.counters["unexpected_message"] += 1
            return []
        command = result.payload
        self.counters["commands"] += 1
        return list(self.controller.command(command.request, command.compartment, self._clock()))

    def _flush(self) -> None:
        while self._pending and self.link.connected.is_set():
            self._seq += 1
            topic, payload = to_message(self.store_id, self.locker_id, self._pending[0], self._seq)
            self.link.publish(topic, payload, qos=1)
            self._pending.popleft()
