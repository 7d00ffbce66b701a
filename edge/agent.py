"""Edge agent wiring: MQTT subscription -> bounded queue -> one dispatcher thread -> processors -> outbox.

Device messages come over a persistent session (stable client id, clean start off) and are acknowledged
only once their signals are stored, so neither a restart of the agent nor a full disk loses them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import paho.mqtt.client as paho

from smartstore.edge.backpressure import OutboxGuard
from smartstore.edge.config import EdgeSettings
from smartstore.edge.deadletters import DeadLetters
from smartstore.edge.inbound import STOP, Inbound, camera_of, rfid_reads_topic
from smartstore.edge.outbox import Outbox
from smartstore.edge.processors.base import (
    CommandSource,
    Lifecycle,
    Message,
    Processor,
    RawReadsHandler,
    Rejection,
    SnapshotSource,
    TelemetrySource,
)
from smartstore.edge.processors.locker_pickups import LockerPickups
from smartstore.edge.recent_ids import RecentIds
from smartstore.edge.rfid.event_log import TagEventLog
from smartstore.edge.rfid.processor import RfidProcessor
from smartstore.edge.vision.processor import ShelfVisionProcessor
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import DeviceState, DeviceStatus, Signal, encode, envelope
from smartstore.kernel.contract.topics import Kind, Topic
from smartstore.kernel.contract.validation import Decoded, Rejected, RejectReason, decode
from smartstore.kernel.contract.validation import decode_gateway_presence as gateway_presence
from smartstore.kernel.mqtt import MqttLink
from smartstore.kernel.storeconfig import StoreConfig

logger = logging.getLogger(__name__)

PROCESSING_ERROR = "processing_error"
QUEUE_FULL = "queue_full"


def default_processors(
    store: StoreConfig, settings: EdgeSettings, state_dir: Path, now: float
) -> list[Processor]:
    return [
        RfidProcessor(
            store,
            settings.rfid,
            state_dir / "rfid-tags.json",
            now,
            store_file=settings.store_file,
            event_sink=TagEventLog(state_dir / "rfid-events.jsonl"),
        ),
        ShelfVisionProcessor(store, settings.vision, now, snapshot_dir=state_dir / "snapshots"),
        LockerPickups(store, settings.lockers, state_dir / "lockers.json", now),
    ]


class EdgeAgent:
    """Runs one store's processors. Processor state is touched only by the dispatcher thread."""

    def __init__(
        self,
        settings: EdgeSettings,
        store: StoreConfig,
        *,
        processors: Sequence[Processor] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.store_id = store.store.id
        self.state_dir = settings.state_dir_for(self.store_id)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        now = clock()
        self.processors = (
            list(processors)
            if processors is not None
            else default_processors(store, settings, self.state_dir, now)
        )
        self._raw_readers = [p for p in self.processors if isinstance(p, RawReadsHandler)]
        self._telemetry_sources = [p for p in self.processors if isinstance(p, TelemetrySource)]
        self._snapshot_sources = [p for p in self.processors if isinstance(p, SnapshotSource)]
        self._command_sources = [p for p in self.processors if isinstance(p, CommandSource)]
        self.outbox = Outbox(
            self.state_dir / "outbox.db", self.store_id, settings.agent_id, settings.outbox, clock
        )
        self.dead_letters = DeadLetters(
            self.state_dir / "deadletters.db", settings.deadletter_max_rows, clock
        )
        self.counters: Counter[str] = Counter()  # dispatcher thread only
        self.mqtt_counters: Counter[str] = Counter()  # MQTT network thread only
        self._queue: queue.Queue[Inbound] = queue.Queue(maxsize=settings.queue_max)
        # Frames are big and only the newest matters: one slot per camera bounds memory when we lag.
        self._latest_frames: dict[str, bytes] = {}
        self._frames_lock = threading.Lock()
        self._recent_ids = RecentIds(settings.recent_ids_max)
        # What was handled before a crash but not acknowledged comes again: known ids are duplicates.
        for handled in self.outbox.handled_ids(settings.recent_ids_max):
            self._recent_ids.first_time(handled)
        self._dispatcher: threading.Thread | None = None
        self._accepting = True
        self._stopping = threading.Event()
        self._generation = 0  # bumped on paho's thread at each connect, before that connection's messages
        self.guard = OutboxGuard(
            self.outbox,
            settings.agent_id,
            clock,
            self._stopping,
            retry_s=settings.outbox_retry_s,
            on_change=lambda blocked: self.link.publish_status(),
        )
        self._device_filters = [
            *topics.device_data_filters(self.store_id),
            topics.locker_keypad_filter(self.store_id),
            # Retained: the gateway's latest list of ready orders arrives as soon as we subscribe.
            topics.locker_manifest_filter(self.store_id),
        ]
        self.link = MqttLink(
            settings.mqtt,
            # Stable id + persistent session: what devices send while we restart waits at the broker.
            client_id=f"edge-{self.store_id}-{settings.agent_id}",
            status_topic=topics.status(self.store_id, Kind.EDGE, settings.agent_id),
            clean_start=False,
            manual_ack=True,
            receive_maximum=min(1000, settings.queue_max // 2),
            status_builder=self._status,
        )
        self.link.on_connected(self._connected)
        # Every gateway's presence, outside stores: one serves many, with one Last Will (topics.py).
        own_store = (*self._device_filters, topics.status_filter(self.store_id))
        for topic_filter in (*own_store, topics.gateway_presence_filter()):
            self.link.subscribe(topic_filter, 1, self._receive)

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self.outbox.start(self.link)
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="edge-dispatcher", daemon=True)
        self._dispatcher.start()
        self.link.start()
        for processor in self.processors:
            if isinstance(processor, Lifecycle):
                processor.start()
        logger.info(
            "edge agent %s for store %s, state in %s", self.settings.agent_id, self.store_id, self.state_dir
        )

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self.link.wait_connected(timeout)

    def stop(self, flush_timeout: float = 2.0) -> None:
        """Stop input, finish queued messages, save state, give the outbox a moment, go offline.

        Nothing is unsubscribed: the session keeps collecting device messages for the next start, and
        what arrives from now on is left unacknowledged, so the broker delivers it again then.
        """
        self._accepting = False
        self._stopping.set()
        for processor in self.processors:
            if isinstance(processor, Lifecycle):
                processor.stop()
        if self._dispatcher is not None:
            self._queue.put(STOP)
            self._dispatcher.join(timeout=30)
        for processor in self.processors:
            try:
                processor.save()
            except Exception:
                logger.exception("processor %s could not save its state", processor.name)
        self.outbox.stop(flush_timeout)
        self.link.stop()
        self.dead_letters.close()
        logger.info("edge agent stopped: %s", self.stats())

    def stats(self) -> dict[str, object]:
        return {
            "counters": dict(self.counters + self.mqtt_counters),
            "dead_letters": dict(self.dead_letters.counts),
            "processors": {p.name: dict(p.counters) for p in self.processors},
            "outbox_pending": self.outbox.pending(),
            "outbox_sent": self.outbox.sent_total,
            "outbox_dropped": self.outbox.dropped_total,
            "outbox_replayed": self.outbox.replayed_total,
            "outbox_blocked": self.guard.blocked,
        }

    def _status(self, state: DeviceState, seq: int) -> DeviceStatus:
        # The retained status says when the outbox cannot store: input is paused until it can.
        info: dict[str, str | int | float | bool] = {"outbox": "blocked" if self.guard.blocked else "ok"}
        return DeviceStatus(**envelope(seq), state=state, info=info)

    # --- MQTT network thread -------------------------------------------------------------------

    def _connected(self) -> None:
        # Runs before any message of the new connection is handled (same paho thread).
        self._generation += 1

    def _receive(self, message: paho.MQTTMessage) -> None:
        if not self._accepting:
            return  # stopping: not acknowledged, so the broker delivers it to our next start
        topic, payload = message.topic, bytes(message.payload)
        camera = camera_of(topic)
        if camera is not None:
            with self._frames_lock:
                waiting = camera in self._latest_frames
                self._latest_frames[camera] = payload
            if waiting:
                self.mqtt_counters["frames_skipped"] += 1
                if message.qos:
                    self.link.client.ack(message.mid, message.qos)  # only the newest frame matters
                return
        item = Inbound(topic, payload, camera, message.mid if message.qos else 0, self._generation)
        try:
            # Blocking here pushes back on the broker through TCP; only a long stall gives up.
            self._queue.put(item, timeout=self.settings.enqueue_timeout_s)
        except queue.Full:
            self.mqtt_counters[QUEUE_FULL] += 1
            if camera is not None:
                with self._frames_lock:
                    self._latest_frames.pop(camera, None)
            self.dead_letters.add(topic, QUEUE_FULL, "receive queue full: processing too slow", payload)
            self._ack(item)

    # --- dispatcher thread ---------------------------------------------------------------------

    def _dispatch_loop(self) -> None:
        interval = self.settings.tick_interval_s
        next_tick = self._clock()
        next_stats = self._clock() + self.settings.stats_interval_s
        while True:
            wait = min(max(0.0, next_tick - self._clock()), interval)
            try:
                item: Inbound | None = self._queue.get(timeout=wait)
            except queue.Empty:
                item = None
            if item is STOP:
                return
            if item is not None:
                self._process(item)
                if not self.guard.gave_up:
                    self._ack(item)
            now = self._clock()
            if now >= next_tick:
                next_tick = now + interval
                self._tick(now)
            if self._snapshot_sources:
                self._publish_snapshots()
            if now >= next_stats:
                next_stats = now + self.settings.stats_interval_s
                logger.info("edge stats: %s", self.stats())

    def _ack(self, item: Inbound) -> None:
        if item.mid and item.generation == self._generation:
            self.link.client.ack(item.mid, 1)

    def _tick(self, now: float) -> None:
        self._emit(self._run_all(lambda p: p.tick(now), None, b""))
        self._send_commands()
        for source in self._telemetry_sources:
            try:
                telemetry = source.take_telemetry()
                if telemetry is not None and self.link.connected.is_set():
                    topic = topics.edge_telemetry(
                        self.store_id, self.settings.agent_id, source.telemetry_type
                    )
                    # Retained and QoS 0: a dashboard wants the latest summary, never a backlog.
                    self.link.publish(topic, encode(telemetry), qos=0, retain=True)
            except Exception:
                logger.warning("telemetry of %s not published", type(source).__name__, exc_info=True)

    def _publish_snapshots(self) -> None:
        for source in self._snapshot_sources:
            try:
                snapshots = source.take_snapshots()
                if not snapshots or not self.link.connected.is_set():
                    continue  # the file in the state dir still has it; the next inference publishes again
                for camera, jpeg in snapshots:
                    topic = topics.edge_snapshot(self.store_id, self.settings.agent_id, camera)
                    # Retained, QoS 0: a dashboard wants the latest picture, never a backlog of them.
                    self.link.publish(topic, jpeg, qos=0, retain=True)
                    self.counters["snapshots_published"] += 1
            except Exception:
                logger.warning("snapshots of %s not published", type(source).__name__, exc_info=True)

    def _process(self, item: Inbound) -> None:
        payload = item.payload
        if item.camera is not None:
            with self._frames_lock:
                payload = self._latest_frames.pop(item.camera, b"")
        self.counters["received"] += 1
        now = self._clock()
        reads_topic = rfid_reads_topic(item.topic) if self._raw_readers else None
        if reads_topic is not None:
            self._process_raw(reads_topic, item.topic, payload, now)
            return
        presence = gateway_presence(item.topic, payload)
        if isinstance(presence, DeviceStatus):
            # A gateway announces itself once subscribed: the moment to resend what may be lost.
            self.outbox.gateway_status(presence.state is DeviceState.ONLINE)
            return
        result = presence or decode(item.topic, payload)
        if isinstance(result, Rejected):
            self._dead_letter(item.topic, result.reason.value, result.detail, payload)
            return
        if result.topic.store != self.store_id:
            self._dead_letter(item.topic, RejectReason.UNKNOWN_STORE, "not this agent's store", payload)
            return
        if isinstance(result, Decoded):
            if isinstance(result.payload, DeviceStatus):
                status, status_topic = result.payload, result.topic
                self._emit(
                    self._run_all(lambda p: p.on_status(status_topic, status, now), None, payload, item.topic)
                )
                return
            if not self._recent_ids.first_time(result.payload.id):
                self.counters["duplicates"] += 1
                return
        message: Message = result
        interested = [p for p in self.processors if p.accepts(result.topic)]
        if not interested:
            self.counters["unhandled"] += 1
            return
        handled = result.payload.id if isinstance(result, Decoded) else None
        self._emit(self._run_all(lambda p: p.handle(message, now), interested, payload, item.topic), handled)
        self._send_commands()

    def _process_raw(self, topic: Topic, topic_text: str, payload: bytes, now: float) -> None:
        """Read batches skip the generic pydantic decode: the RFID processor validates them itself."""
        if topic.store != self.store_id:
            self._dead_letter(topic_text, RejectReason.UNKNOWN_STORE, "not this agent's store", payload)
            return
        handlers = [p for p in self._raw_readers if isinstance(p, Processor) and p.accepts(topic)]
        if not handlers:
            self.counters["unhandled"] += 1
            return

        def handle(processor: Processor) -> list[Signal]:
            assert isinstance(processor, RawReadsHandler)
            return processor.handle_raw(topic, payload, now)

        self._emit(self._run_all(handle, handlers, payload, topic_text))

    def _run_all(
        self,
        call: Callable[[Processor], list[Signal]],
        processors: Sequence[Processor] | None,
        payload: bytes,
        topic: str = "",
    ) -> list[Signal]:
        """Call each processor; a rejection or a bug in one is dead-lettered and the rest go on."""
        signals: list[Signal] = []
        for processor in self.processors if processors is None else processors:
            try:
                signals.extend(call(processor))
            except Rejection as rejection:
                self._dead_letter(topic or processor.name, rejection.reason, rejection.detail, payload)
            except Exception as error:
                logger.warning("processor %s failed on %s", processor.name, topic or "tick", exc_info=True)
                detail = f"{processor.name}: {type(error).__name__}: {error}"
                self._dead_letter(topic or processor.name, PROCESSING_ERROR, detail, payload)
        return signals

    def _dead_letter(self, topic: str, reason: str, detail: str, payload: bytes) -> None:
        self.counters["rejected"] += 1
        self.dead_letters.add(topic, str(reason), detail, payload)

    def _send_commands(self) -> None:
        for source in self._command_sources:
            for command in source.take_commands():
                if not self.link.connected.is_set():
                    # Nobody could carry it to the device now; a late door opening must not happen.
                    logger.warning("broker link down: command on %s dropped", command.topic)
                    self.counters["commands_dropped"] += 1
                    continue
                self.link.publish(command.topic, encode(command.payload), qos=1)
                self.counters["commands_sent"] += 1

    def _emit(self, signals: list[Signal], handled: str | None = None) -> None:
        if not signals:
            return
        # Blocks while the outbox cannot store (full disk): the processors have moved on, so these must
        # not be dropped, and no further input is taken meanwhile (see backpressure.py).
        if not self.guard.store(signals, handled):
            self.counters["outbox_errors"] += len(signals)
            return
        for signal in signals:
            self.counters[f"signals_{type(signal).__name__}"] += 1
