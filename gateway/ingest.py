"""The gateway's signal consumer: paho only enqueues; one writer thread applies, commits, then acks.

Durability rests on the order of three steps per batch: apply and commit in one transaction, then
acknowledge the MQTT messages (QoS 1, persistent session, manual acks). A crash before the commit
leaves the messages unacknowledged, so the broker redelivers them; a crash between commit and ack
redelivers messages whose event ids are already in `applied_events`, so they are skipped.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import paho.mqtt.client as paho
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.ingest_commit import BatchCommitter
from gateway.ingest_decode import Inbound
from gateway.ingest_writer import BatchResult, BatchWriter
from gateway.runtime import GatewayRuntime
from smartstore.contract import topics
from smartstore.mqtt import MqttLink

logger = logging.getLogger(__name__)

CommitListener = Callable[[Sequence[str], float], None]
"""Called after each commit with the event ids applied and the commit's wall-clock time."""

_QUIET_S = 0.002  # how long a batch listens for more before deciding whether a burst is on
_BURST_PER_TICK = 20  # messages per _QUIET_S (10,000/s) that make a burst worth waiting for
_POLL_S = 0.1
_GC_YOUNG = 50_000
_GC_WHEN_IDLE = 5_000
_PUBACK_HEADER = bytes((paho.PUBACK, 2))  # fixed header: packet type, remaining length


@dataclass
class IngestStats:
    applied: int = 0
    duplicates: int = 0
    rejected: int = 0
    gaps: int = 0
    batches: int = 0


class SignalConsumer:
    """Subscribes to every signal and status topic and applies them to the gateway database."""

    def __init__(self, runtime: GatewayRuntime) -> None:
        if not runtime.stores:
            raise ValueError("the gateway serves no store")
        settings = runtime.settings
        self.runtime = runtime
        self.stats = IngestStats()
        self._batch_max = settings.ingest_batch_max
        self._batch_wait_s = settings.ingest_batch_wait_ms / 1000
        self._queue_max = settings.ingest_queue_max
        # A deque, not queue.Queue: appends need no lock and wake nobody, so the writer is not
        # woken (and the GIL not handed over) once per message while a batch fills.
        self._queue: deque[tuple[paho.MQTTMessage, int, float]] = deque()
        self._arrived = threading.Event()
        self._writer = BatchWriter(runtime.stores, settings.gateway_id)
        self._listeners: list[CommitListener] = []
        self._generation = 0
        self._accepting = False
        self._stopping = threading.Event()
        self._committer = BatchCommitter(runtime, self._writer, self._stopping)
        self._thread: threading.Thread | None = None
        self._idle = threading.Condition()
        self._pending = 0
        self._subscribed = threading.Event()
        self._suback_missing = 0
        first_store = next(iter(runtime.stores))
        subscriptions = [(topics.signals_filter(), 1), (topics.status_filter(), 1)]
        self._link = MqttLink(
            settings.mqtt,
            settings.gateway_id,
            status_topic=topics.status(first_store, topics.Kind.GATEWAY, settings.gateway_id),
            subscriptions=subscriptions,
            on_message=self._on_message,
            clean_start=False,
            manual_ack=True,
            # Never more unacknowledged messages in flight than the queue holds: it cannot overflow.
            receive_maximum=min(65535, settings.ingest_queue_max),
        )
        self._link_on_connect = cast("Callable[..., None]", self._link.client.on_connect)
        self._link.client.on_connect = self._handle_connect
        self._link.client.on_subscribe = self._handle_subscribe

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        tune_garbage_collector()
        self._accepting = True
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        self._thread.start()
        self._link.start()

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """True once connected and every subscription is confirmed (tests publish after this)."""
        return self._subscribed.wait(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking messages, apply and commit what was received, acknowledge it, disconnect.

        Messages the broker sends after this point are not acknowledged: it redelivers them to the
        next session under the same client id.
        """
        self._accepting = False
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.error(
                    "ingest writer did not finish within %.0f s; unacknowledged work is redelivered", timeout
                )
        self._link.stop()
        gc.unfreeze()  # what start() froze may be garbage by now
        logger.info("ingest stopped: %s", self.stats)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once every message received so far is committed and acknowledged."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0 and not self._queue, timeout)

    def add_commit_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    # --- paho thread: enqueue only -------------------------------------------------------------

    def _handle_connect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if not reason.is_failure:
            # Acks carry packet ids of one connection; anything received before this is redelivered.
            self._generation += 1
            self._subscribed.clear()
            self._suback_missing = len(self._link.subscriptions)
        self._link_on_connect(client, userdata, flags, reason, properties)

    def _handle_subscribe(
        self,
        client: paho.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if any(code.is_failure for code in reason_codes):
            logger.error("subscription refused by the broker: %s", reason_codes)
            return
        self._suback_missing -= 1
        if self._suback_missing <= 0:
            self._subscribed.set()

    def _on_message(self, message: paho.MQTTMessage) -> None:
        if not self._accepting:
            return  # not acknowledged: redelivered to the next session
        while len(self._queue) >= self._queue_max:
            # Only QoS 0 floods get here (receive maximum bounds QoS 1): waiting is the backpressure.
            if not self._accepting:
                return
            time.sleep(_QUIET_S)
        with self._idle:
            self._pending += 1
        self._queue.append((message, self._generation, time.monotonic()))
        if not self._arrived.is_set():
            self._arrived.set()

    # --- writer thread: the only owner of the database state -------------------------------------

    def _run(self) -> None:
        try:
            while True:
                batch = self._take_batch()
                if batch:
                    try:
                        self._process(batch)
                    except Exception:
                        # Nothing may end this loop; the batch stays unacknowledged and comes back.
                        logger.exception("ingest batch of %d failed unexpectedly", len(batch))
                        self._writer.forget()
                        self._finish(len(batch))
                elif self._stopping.is_set() and not self._queue:
                    return
        finally:
            self._committer.close()

    def _take_batch(self) -> list[tuple[paho.MQTTMessage, int, float]]:
        """Up to batch_max messages: what is queued, plus what keeps arriving in a burst.

        A steady trickle is applied as it comes: while a batch is applied the next one queues up,
        so batches grow with the load by themselves (group commit) and waiting would only add
        latency. During a burst (a backlog after a restart: more than _BURST_PER_TICK messages per
        _QUIET_S) the batch keeps filling until batch_max or until its oldest message has waited
        batch_wait, counted from its arrival: big batches are what lets the writer catch up.
        """
        queued = self._queue
        if not queued:
            if gc.get_count()[0] > _GC_WHEN_IDLE:
                # Collect young objects while nothing waits, rather than in the middle of a batch.
                gc.collect(0)
            self._arrived.clear()
            if not queued and not self._arrived.wait(_POLL_S):
                return []
        deadline = queued[0][2] + self._batch_wait_s
        while len(queued) < self._batch_max and not self._stopping.is_set():
            if time.monotonic() >= deadline:
                break
            seen = len(queued)
            time.sleep(_QUIET_S)
            if len(queued) - seen < _BURST_PER_TICK:
                break
        return [queued.popleft() for _ in range(min(self._batch_max, len(queued)))]

    def _process(self, batch: list[tuple[paho.MQTTMessage, int, float]]) -> None:
        started = time.perf_counter()
        inbound = [
            Inbound(_topic_text(message), bytes(message.payload), message.mid, message.qos, generation)
            for message, generation, _arrived in batch
        ]
        result = self._committer.commit(inbound)
        if result is not None:
            committed_at = time.time()
            self._ack(inbound)
            self._account(result, time.perf_counter() - started)
            for type_, store, data in result.events:
                self.runtime.bus.publish(type_, store, data)
            for listener in self._listeners:
                try:
                    listener(result.applied_ids, committed_at)
                except Exception:
                    logger.exception("commit listener failed")
        self._finish(len(batch))

    def _ack(self, inbound: Sequence[Inbound]) -> None:
        generation = self._generation
        mids = [m.mid for m in inbound if m.qos == 1 and m.generation == generation]
        if mids:
            _ack_all(self._link.client, mids)

    def _account(self, result: BatchResult, seconds: float) -> None:
        stats, metrics = self.stats, self.runtime.metrics
        stats.applied += result.applied
        stats.duplicates += result.duplicates
        stats.rejected += result.rejected_total
        stats.gaps += result.gaps
        stats.batches += 1
        for kind, count in result.received.items():
            metrics.messages_received.labels(kind).inc(count)
        for kind, count in result.applied_by_type.items():
            metrics.signals_applied.labels(kind).inc(count)
        for reason, count in result.rejected.items():
            metrics.messages_rejected.labels(reason).inc(count)
        if result.duplicates:
            metrics.signals_duplicate.inc(result.duplicates)
        if result.gaps:
            metrics.sequence_gaps.inc(result.gaps)
        metrics.ingest_queue_depth.set(len(self._queue))
        metrics.ingest_batch_seconds.observe(seconds)

    def _finish(self, count: int) -> None:
        with self._idle:
            self._pending -= count
            if self._pending <= 0:
                self._idle.notify_all()


def tune_garbage_collector() -> None:
    """Make the cyclic GC cheap for a process that streams many short-lived objects.

    With CPython's defaults (a young collection every 700 allocations) the collector ran so often
    during ingest, re-scanning every long-lived object of SQLAlchemy, pydantic and the store files,
    that it took about half of the process's CPU. Freezing what exists after start-up takes those
    objects out of every scan, and a larger young generation lets messages die before they are
    scanned at all. Cycles are still collected; only less often, and mostly when the writer is idle
    (see _take_batch), so a collection seldom lands in the middle of a batch.
    """
    gc.freeze()
    young, middle, old = gc.get_threshold()
    if young < _GC_YOUNG:
        gc.set_threshold(_GC_YOUNG, max(middle, 20), max(old, 100))


def _ack_all(client: paho.Client, mids: list[int]) -> None:
    """PUBACK every message id in one write.

    `client.ack` queues one packet per message, and paho then wakes its thread and makes one send()
    per packet: for a 2,000-message batch that is most of the cost of acknowledging. MQTT lets
    packets share a write, and a success PUBACK is the same four bytes in 3.1.1 and 5 (reason code
    and properties may be left out), so one queued buffer carries them all. Falls back to per-message
    acks should paho's internals ever change.
    """
    queue_packet = getattr(client, "_packet_queue", None)
    if queue_packet is None:
        for mid in mids:
            client.ack(mid, 1)
        return
    packets = b"".join(_PUBACK_HEADER + mid.to_bytes(2, "big") for mid in mids)
    queue_packet(paho.PUBACK, packets, 0, 0)


def _topic_text(message: paho.MQTTMessage) -> str:
    try:
        return message.topic
    except UnicodeDecodeError:
        return message._topic.decode("utf-8", "replace")
