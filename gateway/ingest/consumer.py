"""The gateway's signal consumer: a receiver process takes messages; one writer thread applies, commits, acks.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from smartstore.gateway.config import GatewaySettings
from smartstore.gateway.events import EventBus
from smartstore.gateway.ingest.commit import BatchCommitter
from smartstore.gateway.ingest.deadletters import DeadLetterPolicy, size_limits
from smartstore.gateway.ingest.decode import Inbound
from smartstore.gateway.ingest.limits import RateLimits
from smartstore.gateway.ingest.receiver import ReceiverSettings
from smartstore.gateway.ingest.receiver_process import ReceiverDiedError, ReceiverProcess
from smartstore.gateway.ingest.writer import BatchResult, BatchWriter
from smartstore.gateway.monitoring.metrics import GatewayMetrics
from smartstore.kernel.contract import topics
from smartstore.kernel.storeconfig import StoreConfig

logger = logging.getLogger(__name__)

CommitListener = Callable[[Sequence[str], float], None]
"""Called after each commit with the event ids applied and the commit's wall-clock time."""

_QUIET_S = 0.002  # how long a batch listens for more before deciding whether a burst is on
_BURST_PER_TICK = 20  # messages per _QUIET_S (10,000/s) that make a burst worth waiting for
_POLL_S = 0.1
_GC_YOUNG = 50_000
_GC_WHEN_IDLE = 5_000
_RESTARTS_WINDOW = 5  # receiver deaths within a minute that slow restarts down
_RESTART_PAUSE_S = 5.0


@dataclass
class IngestStats:
    applied: int = 0
    duplicates: int = 0
    rejected: int = 0
    gaps: int = 0
    batches: int = 0


class SignalConsumer:
    """Subscribes to every signal and status topic and applies them to the gateway database.

    The MQTT client runs in a receiver process (gateway.ingest_receiver) so that its network work and
    the writer run on two cores; a reader thread takes its chunks into the queue, the writer thread
    applies and commits them and sends the committed message ids back to be acknowledged.
    """

    def __init__(
        self,
        settings: GatewaySettings,
        stores: Mapping[str, StoreConfig],
        engine: Engine,
        bus: EventBus,
        metrics: GatewayMetrics,
    ) -> None:
        if not stores:
            raise ValueError("the gateway serves no store")
        self.bus = bus
        self.metrics = metrics
        self.stats = IngestStats()
        self._batch_max = settings.ingest_batch_max
        self._batch_wait_s = settings.ingest_batch_wait_ms / 1000
        # A deque, not queue.Queue: appends need no lock and wake nobody, so the writer is not
        # woken (and the GIL not handed over) once per chunk while a batch fills.
        self._queue: deque[tuple[Inbound, float]] = deque()
        self._arrived = threading.Event()
        limits = size_limits(settings)
        policy = DeadLetterPolicy.from_settings(settings)
        rates = RateLimits(**settings.ingest_rate.model_dump())
        self._writer = BatchWriter(stores, limits, policy, rates)
        self._listeners: list[CommitListener] = []
        self._stopping = threading.Event()
        self._draining = False
        self._committer = BatchCommitter(engine, bus, self._writer, self._stopping)
        self._thread: threading.Thread | None = None
        self._reader: threading.Thread | None = None
        self._idle = threading.Condition()
        self._pending = 0
        self._taken = 0  # messages read from the current receiver incarnation
        self._receiver = ReceiverProcess(
            ReceiverSettings(
                mqtt=settings.mqtt,
                client_id=settings.gateway_id,
                # Outside every store: one Last Will tells every store's edge agents that we left.
                status_topic=topics.gateway_presence(settings.gateway_id),
                subscriptions=[(topics.signals_filter(), 1), (topics.status_filter(), 1)],
                # Never more unacknowledged messages in flight than the queue holds: the broker's
                # window is the backpressure once the writer lags.
                receive_maximum=min(65535, settings.ingest_queue_max),
                outstanding_max=settings.ingest_queue_max,
                limits=limits,
                excerpt_bytes=policy.excerpt_bytes,
                generation_base=0,
                log_level=logging.getLogger().getEffectiveLevel(),
            )
        )

    @property
    def connected(self) -> bool:
        """Whether the receiver holds a broker connection (read by /healthz)."""
        return self._receiver.connected.is_set()

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        tune_garbage_collector()
        self._stopping.clear()
        self._draining = False
        self._receiver.start()
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        self._thread.start()
        self._reader = threading.Thread(target=self._read, name="ingest-reader", daemon=True)
        self._reader.start()

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """True once connected and every subscription is confirmed (tests publish after this)."""
        return self._receiver.subscribed.wait(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking messages, apply and commit what was received, acknowledge it, disconnect.

        Messages the broker sends after this point are not acknowledged: it redelivers them to the
        next session under the same client id.
        """
        if self._thread is None:
            return
        self._draining = True
        self._receiver.request_stop()
        if self._reader is not None:
            self._reader.join(timeout)
        self._stopping.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.error(
                "ingest writer did not finish within %.0f s; unacknowledged work is redelivered", timeout
            )
        self._receiver.finish(min(timeout, 10.0))
        self._thread = None
        gc.unfreeze()  # what start() froze may be garbage by now
        logger.info("ingest stopped: %s", self.stats)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once every message received so far is committed and its ack sent to the receiver."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while not (self._pending == 0 and self._taken >= self._receiver.received.value):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                # The receiver's counter moves in another process and notifies nobody: poll it.
                self._idle.wait(min(left, _QUIET_S * 5))
            return True

    def add_commit_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    # --- reader thread: receiver process -> queue; supervises the receiver -----------------------

    def _read(self) -> None:
        restarts: deque[float] = deque(maxlen=_RESTARTS_WINDOW)
        while True:
            try:
                chunk = self._receiver.receive()
            except ReceiverDiedError as died:
                if self._draining:
                    logger.error("ingest receiver died while stopping (%s)", died)
                    return
                restarts.append(time.monotonic())
                logger.error(
                    "ingest receiver died (%s); starting a new one: what it had not acknowledged is "
                    "redelivered, and what was applied already is skipped",
                    died,
                )
                self._receiver.kill()
                if len(restarts) == restarts.maxlen and restarts[-1] - restarts[0] < 60:
                    logger.critical("ingest receiver keeps dying; retrying every %.0f s", _RESTART_PAUSE_S)
                    self._stopping.wait(_RESTART_PAUSE_S)
                with self._idle:
                    self._taken = 0
                self._receiver.start()
                continue
            if chunk is None:
                return
            arrived = time.monotonic()
            with self._idle:
                self._pending += len(chunk)
                self._taken += len(chunk)
            self._queue.extend([(Inbound(*raw), arrived) for raw in chunk])
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
                        self._finish(batch, committed=False)
                elif self._stopping.is_set() and not self._queue:
                    return
        finally:
            self._committer.close()

    def _take_batch(self) -> list[Inbound]:
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
        deadline = queued[0][1] + self._batch_wait_s
        while len(queued) < self._batch_max and not self._stopping.is_set():
            if time.monotonic() >= deadline:
                break
            seen = len(queued)
            time.sleep(_QUIET_S)
            if len(queued) - seen < _BURST_PER_TICK:
                break
        return [queued.popleft()[0] for _ in range(min(self._batch_max, len(queued)))]

    def _process(self, batch: list[Inbound]) -> None:
        started = time.perf_counter()
        result = self._committer.commit(batch)
        if result is None:
            self._finish(batch, committed=False)
            return
        committed_at = time.time()
        self._finish(batch, committed=True)
        self._account(result, time.perf_counter() - started)
        for type_, store, data in result.events:
            self.bus.publish(type_, store, data)
        for listener in self._listeners:
            try:
                listener(result.applied_ids, committed_at)
            except Exception:
                logger.exception("commit listener failed")

    def _finish(self, batch: list[Inbound], *, committed: bool) -> None:
        """Acknowledge a committed batch; either way, free its room in the receiver's window."""
        generation = batch[-1].generation
        mids = [m.mid for m in batch if m.qos == 1 and m.generation == generation] if committed else []
        self._receiver.ack(generation, mids, len(batch))
        with self._idle:
            self._pending -= len(batch)
            if self._pending <= 0:
                self._idle.notify_all()

    def _account(self, result: BatchResult, seconds: float) -> None:
        stats, metrics = self.stats, self.metrics
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
        if result.pruned:
            metrics.dead_letters_pruned.inc(result.pruned)
        metrics.ingest_queue_depth.set(len(self._queue))
        metrics.ingest_batch_seconds.observe(seconds)


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
