"""The simulator: a sim clock that moves the world, and devices that report it over MQTT in real time."""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime, timedelta

import paho.mqtt.client as paho

from smartstore.devices.locker.wire import to_message
from smartstore.devices.sim.activity import StoreActivity
from smartstore.devices.sim.camera import ShelfCamera
from smartstore.devices.sim.device import SimDevice
from smartstore.devices.sim.locker import LockerBank
from smartstore.devices.sim.rfid import ReaderModel
from smartstore.devices.sim.scheduler import EventQueue
from smartstore.devices.sim.settings import SimSettings
from smartstore.devices.sim.truth import TruthWriter, snapshot
from smartstore.devices.sim.world import ItemMove, World
from smartstore.kernel.clock import utc_now
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import (
    MAX_READS_PER_BATCH,
    LockerCommand,
    ReadBatch,
    encode,
    envelope,
)
from smartstore.kernel.contract.validation import Decoded, Rejected, decode
from smartstore.kernel.storeconfig import StoreConfig

logger = logging.getLogger(__name__)

INBOX_LIMIT = 1000
MOVE_LOG_LIMIT = 100_000


class SimulatorError(ValueError):
    """The settings do not fit the store (unknown outage device, ...)."""


class Simulator:
    """The whole simulated store; `start()` runs it in real time, `step()` moves it without waiting."""

    def __init__(self, config: SimSettings, store: StoreConfig) -> None:
        self.config = config
        self.store = store
        self.store_id = store.store.id
        self.queue = EventQueue()
        self.world = World(store, config.world, random.Random(config.seed), self.queue)
        self.activity = StoreActivity(self.world, self.queue, self.world.rng, config.world)
        self.lockers: dict[str, LockerBank] = {}
        if config.lockers:
            for locker in store.devices.lockers:
                rng = random.Random(f"{config.seed}:locker:{locker.id}")
                self.lockers[locker.id] = LockerBank(locker, self.world, self.queue, rng, config.locker)
        self.readers = {
            reader.id: ReaderModel(reader, store, config.readers, config.seed)
            for reader in store.devices.readers
        }
        self.cameras: dict[str, ShelfCamera] = {}
        if config.cameras:
            for camera in store.devices.cameras:
                shelves = store.shelves_for_camera(camera.id)
                if shelves:
                    self.cameras[camera.id] = ShelfCamera(camera, shelves, config.seed, config.jpeg_quality)
        self.devices = self._make_devices()
        self._check_references()
        self.epoch = utc_now()
        self.move_log: deque[ItemMove] = deque(maxlen=MOVE_LOG_LIMIT)
        self.rejected: Counter[str] = Counter()
        self._truth = TruthWriter(config.truth_path) if config.truth_path else None
        self._truth_moves: list[ItemMove] = []
        self._truth_frames: list[dict[str, object]] = []
        self._next_truth = config.truth_interval_s
        self._frame_rng = random.Random(f"{config.seed}:frames")
        self._inbox: queue.Queue[tuple[str, bytes]] = queue.Queue(maxsize=INBOX_LIMIT)
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False
        self.activity.start()
        for bank in self.lockers.values():
            bank.start()
        for outage in config.outages:
            self.queue.at(outage.start_s, self._device_action(outage.device, plug=False))
            self.queue.at(outage.start_s + outage.duration_s, self._device_action(outage.device, plug=True))
        self._write_truth("start")

    def _make_devices(self) -> dict[str, SimDevice]:
        mqtt = self.config.mqtt
        devices = {
            reader: SimDevice(self.store_id, topics.Kind.RFID, reader, mqtt) for reader in self.readers
        }
        devices |= {
            camera: SimDevice(self.store_id, topics.Kind.CAMERA, camera, mqtt) for camera in self.cameras
        }
        for locker in self.lockers:
            devices[locker] = SimDevice(
                self.store_id,
                topics.Kind.LOCKER,
                locker,
                mqtt,
                subscriptions=[(topics.locker_cmd(self.store_id, locker), 1)],
                on_message=self._receive,
            )
        return devices

    def _check_references(self) -> None:
        unknown = sorted({o.device for o in self.config.outages} - set(self.devices))
        if unknown:
            raise SimulatorError(f"outage for unknown or disabled device(s): {', '.join(unknown)}")
        compartments = {f"{lk.id}/{c.id}" for lk in self.store.devices.lockers for c in lk.compartments}
        for name, listed in self.config.locker.fault_lists().items():
            unknown = sorted(set(listed) - compartments)
            if unknown:
                raise SimulatorError(f"{name}: unknown locker/compartment {', '.join(unknown)}")

    def _device_action(self, device: str, *, plug: bool) -> Callable[[], None]:
        return lambda: self.replug(device) if plug else self.unplug(device)

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self, clock: bool = True) -> None:
        """Connect every device; with `clock`, also run the sim clock and real-time reporting."""
        with self._lock:
            if self._started:
                return
            self._started = True
        for device in self.devices.values():
            device.connect()
        if clock:
            self._thread = threading.Thread(target=self._run_clock, name="sim-clock", daemon=True)
            self._thread.start()

    def wait_online(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        return all(
            d.unplugged or d.wait_connected(max(deadline - time.monotonic(), 0.0))
            for d in self.devices.values()
        )

    def stop(self) -> None:
        """Stop the clock, write the last truth line, publish 'offline' for every device."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
            self._thread = None
        with self._lock:
            self._flush_lockers()
            self._collect_moves()
            self._write_truth("end")
            if self._truth is not None:
                self._truth.close()
                self._truth = None
        stoppers = [threading.Thread(target=device.stop) for device in self.devices.values()]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join(timeout=10.0)

    def unplug(self, device: str) -> None:
        self.devices[device].unplug()

    def replug(self, device: str) -> None:
        self.devices[device].replug()

    # --- sim time ---------------------------------------------------------------------------------

    @property
    def sim_time(self) -> datetime:
        return self.epoch + timedelta(seconds=self.queue.now)

    def step(self, sim_seconds: float) -> None:
        """Advance the world by `sim_seconds` now: commands, events, truth lines, locker reports."""
        with self._lock:
            self._handle_commands()
            target = self.queue.now + sim_seconds
            while self._next_truth <= target:
                self.queue.run_until(self._next_truth)
                self._collect_moves()
                self._write_truth("snapshot")
                self._next_truth += self.config.truth_interval_s
            self.queue.run_until(target)
            self._collect_moves()
            self._flush_lockers()

    def _collect_moves(self) -> None:
        moves = self.world.drain_moves()
        self.move_log.extend(moves)
        if self._truth is not None:
            self._truth_moves.extend(moves)

    def _run_clock(self) -> None:
        started = last = time.monotonic()
        # Stagger devices so one tick never has to render every camera at once.
        next_read = {r: started + i * 0.1 for i, r in enumerate(self.readers)}
        spacing = {c: 1.0 / max(len(self.cameras), 1) for c in self.cameras}
        next_frame = {c: started + i * spacing[c] for i, c in enumerate(self.cameras)}
        intervals = {c.id: c.interval_s for c in self.store.devices.cameras}
        while not self._stopping.wait(self.config.tick_s):
            now = time.monotonic()
            try:
                self.step((now - last) * self.config.speed)
                last = now
                for reader, due in next_read.items():
                    if now >= due:
                        next_read[reader] = max(due + self.config.read_interval_s, now)
                        self.publish_reads(reader)
                for camera, due in next_frame.items():
                    if now >= due:
                        next_frame[camera] = max(due + intervals[camera], now)
                        self.publish_frame(camera)
                        break  # one JPEG per tick keeps reads on time
            except Exception:
                logger.exception("simulator tick failed; carrying on")

    # --- reporting --------------------------------------------------------------------------------

    def publish_reads(self, reader: str) -> int:
        """One report of `reader`: the tags its antennas see right now, in contract ReadBatches."""
        device = self.devices[reader]
        if not device.online:
            return 0
        with self._lock:
            # Sim time since the last report: what passed the exit gate meanwhile was in its field.
            window = self.config.read_interval_s * max(self.config.speed, 1.0) * 1.5
            reads = self.readers[reader].read(self.world, utc_now(), self.config.read_interval_s, window)
        topic = topics.rfid_reads(self.store_id, reader)
        # A reader with nothing in view still reports, so silence always means trouble.
        chunks = [reads[i : i + MAX_READS_PER_BATCH] for i in range(0, len(reads), MAX_READS_PER_BATCH)] or [
            []
        ]
        for chunk in chunks:
            batch = ReadBatch(**envelope(device.next_seq()), reads=chunk)
            device.publish(topic, encode(batch))
        return len(reads)

    def publish_frame(self, camera: str) -> list[str]:
        """Render and send one JPEG; returns the slots a passing shopper hid."""
        device = self.devices[camera]
        if not device.online:
            return []
        occlude = self._frame_rng.random() < self.config.occlusion_probability
        with self._lock:
            units = {
                slot.id: self.world.slot_units(slot.id)
                for slot in (a.slot for a in self.cameras[camera].areas)
            }
        frame = self.cameras[camera].render(units, occlude)
        if device.publish(topics.camera_image(self.store_id, camera), frame.jpeg, qos=0):
            with self._lock:
                if self._truth is not None:
                    self._truth_frames.append(
                        {"camera": camera, "wall_time": utc_now().isoformat(), "occluded": frame.occluded}
                    )
        return frame.occluded

    # --- lockers ----------------------------------------------------------------------------------

    def _receive(self, message: paho.MQTTMessage) -> None:
        """Runs on paho's thread: only hand the command to the clock thread, which owns the world."""
        try:
            self._inbox.put_nowait((message.topic, bytes(message.payload)))
        except queue.Full:
            self.rejected["inbox_full"] += 1
            logger.warning("locker command inbox full; dropped a message on %s", message.topic)

    def _handle_commands(self) -> None:
        while True:
            try:
                topic, raw = self._inbox.get_nowait()
            except queue.Empty:
                return
            result = decode(topic, raw)
            if isinstance(result, Rejected):
                self.rejected[result.reason.value] += 1
                logger.warning("rejected locker command on %s: %s %s", topic, result.reason, result.detail)
                continue
            bank = self.lockers.get(result.topic.device)
            if (
                not isinstance(result, Decoded)
                or not isinstance(result.payload, LockerCommand)
                or bank is None
            ):
                self.rejected["unexpected_message"] += 1
                continue
            bank.command(result.payload.request, result.payload.compartment)

    def _flush_lockers(self) -> None:
        for bank in self.lockers.values():
            device = self.devices[bank.id]
            while bank.outbox and device.online:
                topic, payload = to_message(self.store_id, bank.id, bank.outbox[0], device.next_seq())
                if not device.publish(topic, payload):
                    break  # the link dropped just now: keep it for when the controller is back
                bank.outbox.popleft()

    def keypad(self, locker: str, code: str) -> None:
        """A customer types `code` on a bank's keypad (sent with the bank's next report)."""
        with self._lock:
            self.lockers[locker].keypad(code)
            self._flush_lockers()

    # --- truth ------------------------------------------------------------------------------------

    def device_flags(self) -> dict[str, bool]:
        return {device_id: device.online for device_id, device in self.devices.items()}

    def truth_snapshot(self, kind: str = "snapshot") -> dict[str, object]:
        with self._lock:
            return snapshot(
                self.world,
                self.store,
                kind=kind,
                sim_time=self.sim_time,
                wall_time=utc_now(),
                devices=self.device_flags(),
            )

    def _write_truth(self, kind: str) -> None:
        if self._truth is None:
            return
        record = self.truth_snapshot(kind)
        record["events"] = [move.as_json() for move in self._truth_moves]
        record["frames"] = self._truth_frames
        if kind == "start":
            record["inventory"] = self.world.inventory()
        self._truth.write(record)
        self._truth_moves = []
        self._truth_frames = []
