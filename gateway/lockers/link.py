"""The gateway's own MQTT link to its lockers: open commands, retained manifests, door events and acks."""

from __future__ import annotations

import logging
import os
import queue
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from sqlalchemy.orm import Session, sessionmaker

from smartstore.gateway.config import GatewaySettings
from smartstore.gateway.db.util import utc_now
from smartstore.gateway.events import EventBus
from smartstore.gateway.lockers.code_entry import prune_counters
from smartstore.gateway.lockers.compartments import apply_locker_ack, apply_locker_event
from smartstore.gateway.lockers.lifecycle import Outcome, expire_due, flag_unconfirmed_opens
from smartstore.gateway.lockers.pickup_opens import release_unconfirmed
from smartstore.gateway.lockers.views import ready_manifests
from smartstore.kernel.contract import payloads as p
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.validation import Decoded, decode
from smartstore.kernel.mqtt import MqttLink
from smartstore.kernel.storeconfig import StoreConfig

logger = logging.getLogger(__name__)

LockerKey = tuple[str, str]  # (store, locker)
_QUEUE_MAX = 10_000
_TICK_S = 0.5
_MANIFEST_CHECK_S = 5.0
_REFRESH = "refresh"


class OpenAnswer(StrEnum):
    """What became of an open command someone waits for (`LockerLink.open_and_wait`)."""

    OPENED = "opened"  # ack `done`, or the door reported open for that request
    FAILED = "failed"  # ack `failed`: the compartment is flagged, a pickup code works again
    NO_ANSWER = "no_answer"  # nothing within the wait: offline locker, command lost
    NOT_SENT = "not_sent"  # the broker link is down


class _Waiter:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer = OpenAnswer.NO_ANSWER


def load_code_secret(settings: GatewaySettings) -> bytes:
    """The pickup-code lookup key: from the settings, else kept in a private file (made on first use)."""
    if settings.pickup_code_secret is not None:
        secret = settings.pickup_code_secret.get_secret_value().encode()
        if len(secret) < 16:
            raise ValueError("pickup_code_secret must be at least 16 bytes")
        return secret
    path = settings.pickup_code_secret_file or _default_secret_file(settings.db_url)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two gateways starting at once must not each write (and use) a different key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
            logger.info("generated the pickup-code lookup key in %s", path)
    secret = path.read_text().strip().encode()
    if len(secret) < 16:
        raise ValueError(f"{path}: the pickup-code lookup key must be at least 16 bytes")
    return secret


def _default_secret_file(db_url: str) -> Path:
    if db_url.startswith("sqlite:///") and ":memory:" not in db_url:
        return Path(db_url.removeprefix("sqlite:///")).parent / "pickup-code.secret"
    return Path("var") / "pickup-code.secret"


class LockerLink:
    """Publishes `LockerCommand`s and one retained `LockerManifest` per locker bank; reads events/acks.

    A worker thread owns every database write of the link (events, acks, the expiry sweep, manifest
    refreshes), so the paho thread only queues; a bad message or a failing write is logged, never fatal.
    """

    def __init__(
        self,
        settings: GatewaySettings,
        stores: Mapping[str, StoreConfig],
        sessions: sessionmaker[Session],
        bus: EventBus,
        link: MqttLink,
        *,
        secret: bytes | None = None,
    ) -> None:
        """`link` may be shared with other services; its owner starts and stops it."""
        self.settings = settings
        self.stores = stores
        self.sessions = sessions
        self.bus = bus
        self.secret = secret if secret is not None else load_code_secret(settings)
        self.link = link
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(_QUEUE_MAX)
        self._seq_lock = threading.Lock()
        self._seq = int(time.time() * 1000)  # grows across restarts too: an edge never sees it go back
        self._published: dict[LockerKey, tuple[Any, ...]] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._waiters: dict[str, _Waiter] = {}
        self._waiters_lock = threading.Lock()
        for store in stores:
            for topic_filter in topics.locker_feedback_filters(store):
                link.subscribe(topic_filter, 1, self._on_message)
        # The broker may have lost retained messages (restart without persistence): send all again.
        link.on_connected(lambda: self._offer((_REFRESH, True)))

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="locker-link", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def connected(self) -> bool:
        return self.link.connected.is_set()

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """True once connected and subscribed to every locker's events and acks."""
        return self.link.wait_subscribed(timeout)

    # --- publishing ----------------------------------------------------------------------------

    def _next_seq(self) -> int:
        with self._seq_lock:
            self._seq += 1
            return self._seq

    def open_door(self, store: str, locker: str, compartment: str, request: str) -> bool:
        """Send the open command (QoS 1); False when the broker link is down (nothing is queued)."""
        if not self.connected:
            return False
        command = p.LockerCommand(
            **p.envelope(self._next_seq()), request=request, action="open", compartment=compartment
        )
        info = self.link.publish(topics.locker_cmd(store, locker), p.encode(command), qos=1)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            logger.warning(
                "open %s/%s/%s not sent: %s", store, locker, compartment, paho.error_string(info.rc)
            )
            return False
        logger.info("open %s/%s/%s sent (%s)", store, locker, compartment, request)
        return True

    def open_and_wait(
        self, store: str, locker: str, compartment: str, request: str, timeout_s: float
    ) -> OpenAnswer:
        """Send the open command and wait for the locker's answer to it (its ack or its door opening),
        written to the database before this returns. For a customer at the kiosk: a command the locker
        never answers must not pass for an open door."""
        waiter = _Waiter()
        with self._waiters_lock:
            self._waiters[request] = waiter
        try:
            if not self.open_door(store, locker, compartment, request):
                return OpenAnswer.NOT_SENT
            waiter.done.wait(timeout_s)
            return waiter.answer
        finally:
            with self._waiters_lock:
                self._waiters.pop(request, None)

    def _answered(self, request: str | None, answer: OpenAnswer) -> None:
        if request is None:
            return
        with self._waiters_lock:
            waiter = self._waiters.get(request)
        if waiter is not None and not waiter.done.is_set():
            waiter.answer = answer
            waiter.done.set()

    def refresh(self, lockers: Iterable[LockerKey]) -> None:
        """Republish these lockers' manifests soon (from the worker thread, after the caller's commit)."""
        if set(lockers):
            self._offer((_REFRESH, False))

    def publish(self, outcome: Outcome) -> None:
        """After a commit: the outcome's bus events, and its lockers' manifests."""
        for type_, store, data in outcome.events:
            self.bus.publish(type_, store, data)
        self.refresh(outcome.lockers)

    def _publish_manifests(self, force: bool) -> None:
        """Publish the manifests that changed since last sent, or all of them when `force`."""
        with self.sessions() as session:
            manifests = ready_manifests(session, self.stores, utc_now())
        for key, orders in manifests.items():
            fingerprint = tuple((o.order, o.compartment, o.code_hash, o.expires_at) for o in orders)
            if not force and self._published.get(key) == fingerprint:
                continue
            if not self.connected:
                self._published.clear()  # whatever the broker holds, send everything when back
                return
            store, locker = key
            manifest = p.LockerManifest(**p.envelope(self._next_seq()), locker=locker, orders=orders)
            topic = topics.locker_manifest(store, locker)
            info = self.link.publish(topic, p.encode(manifest), qos=1, retain=True)
            if info.rc == paho.MQTT_ERR_SUCCESS:
                self._published[key] = fingerprint
                logger.info("manifest of %s/%s: %d ready orders", store, locker, len(orders))

    # --- receiving -----------------------------------------------------------------------------

    def _on_message(self, message: paho.MQTTMessage) -> None:
        self._offer(("message", (message.topic, bytes(message.payload))))

    def _offer(self, item: tuple[str, Any]) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            logger.error("locker link queue full; %s dropped", item[0])

    # --- worker thread -------------------------------------------------------------------------

    def _run(self) -> None:
        next_sweep = time.monotonic()
        next_check = time.monotonic() + _MANIFEST_CHECK_S
        sweep_every = self.settings.locker_sweep_interval_s
        while not self._stopping.is_set():
            try:
                kind, value = self._queue.get(timeout=_TICK_S)
            except queue.Empty:
                kind, value = "", None
            now = time.monotonic()
            try:
                if kind == "message":
                    self._handle(*value)
                elif kind == _REFRESH:
                    self._publish_manifests(value)
                if now >= next_sweep:
                    next_sweep = now + sweep_every
                    self.sweep(utc_now())
                if now >= next_check:
                    next_check = now + _MANIFEST_CHECK_S
                    self._publish_manifests(False)
            except Exception:
                logger.exception("locker link: %s failed", kind or "periodic work")

    def sweep(self, at: datetime) -> int:
        """Expire overdue orders, flag loads the locker never confirmed, give back the codes of kiosk
        opens it never confirmed; returns how many orders."""
        timeout = self.settings.locker_open_timeout_s
        with self.sessions() as session:
            outcomes = expire_due(session, self.stores, at)
            session.commit()
            outcomes += flag_unconfirmed_opens(session, self.stores, at, timeout)
            session.commit()
            outcomes += release_unconfirmed(session, self.stores, at)
            session.commit()
            if pruned := prune_counters(session, self.stores, at):
                logger.info("forgot %d stale pickup-code counters", pruned)
            session.commit()
        for outcome in outcomes:
            self.publish(outcome)
        return len(outcomes)

    def _handle(self, topic_text: str, raw: bytes) -> None:
        decoded = decode(topic_text, raw)
        if not isinstance(decoded, Decoded):
            logger.info("locker message on %s ignored: %s", topic_text, getattr(decoded, "detail", "image"))
            return
        topic, payload = decoded.topic, decoded.payload
        store = self.stores.get(topic.store)
        if store is None:
            return
        with self.sessions() as session:
            if isinstance(payload, p.LockerEvent):
                outcome = apply_locker_event(session, store, topic.device, payload, utc_now())
            elif isinstance(payload, p.LockerAck):
                outcome = apply_locker_ack(session, store, topic.device, payload, utc_now())
            else:
                return
            session.commit()
        if isinstance(payload, p.LockerAck):
            self._answered(
                payload.request, OpenAnswer.OPENED if payload.result == "done" else OpenAnswer.FAILED
            )
        elif payload.event is p.LockerEventType.DOOR_OPENED:
            self._answered(payload.request, OpenAnswer.OPENED)
        if outcome is not None:
            for type_, store_id, data in outcome.events:
                self.bus.publish(type_, store_id, data)
            if outcome.lockers:
                self._publish_manifests(False)
