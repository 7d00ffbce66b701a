"""Durable outbox: every signal is committed to SQLite first, then published QoS 1 in order until PUBACKed.

Delivery is at-least-once. A row is marked sent only when its PUBACK arrives, so a crash between the
broker's PUBACK and our UPDATE, or a resend after a dropped connection, publishes the same signal twice.
That is fine by contract: each signal keeps its unique `id`, and the gateway applies every id at most once.

A PUBACK only says the broker has the message, in memory: a broker killed before its next autosave loses
what it acknowledged, and the gateway may be down meanwhile. So sent rows are kept (`retention_s`) and
sent again, in row order, when the gateway announces itself online after a reconnect of ours or an
absence of its own (the rules: replay.py). Duplicates cost the gateway one id lookup each.

Publishing is paced (`max_publish_per_s`): a backlog drains at a rate the gateway's per-agent limit admits
instead of being dead-lettered there as `rate_limited`; a store's few dozen signals a second never wait.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import paho.mqtt.client as paho

from smartstore.edge.config import OutboxSettings
from smartstore.edge.replay import ReplayMarks
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import (
    AlertSignal,
    PickupSignal,
    ShelfSignal,
    Signal,
    StockSignal,
    encode,
)
from smartstore.kernel.contract.topics import SignalType
from smartstore.kernel.mqtt import MqttLink
from smartstore.kernel.token_bucket import take_token

logger = logging.getLogger(__name__)

SIGNAL_TYPES: dict[type[Signal], SignalType] = {
    ShelfSignal: SignalType.SHELF,
    StockSignal: SignalType.STOCK,
    PickupSignal: SignalType.PICKUP,
    AlertSignal: SignalType.ALERT,
}
REFUSED_RETRY_S = 2.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    row INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    signal_type TEXT NOT NULL,
    seq INTEGER NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created REAL NOT NULL,
    sent REAL
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (row) WHERE sent IS NULL;
CREATE INDEX IF NOT EXISTS outbox_sent ON outbox (sent) WHERE sent IS NOT NULL;
CREATE TABLE IF NOT EXISTS seqs (signal_type TEXT PRIMARY KEY, last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS marks (name TEXT PRIMARY KEY, value REAL);
-- Ids of the device messages whose signals are stored: a redelivery after a crash is then a duplicate.
CREATE TABLE IF NOT EXISTS handled (id TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS handled_at ON handled (at);
"""


class Outbox:
    """Append from the dispatcher thread; a sender thread publishes through an `MqttLink` when connected.

    At most `window` publishes await their PUBACK; while the broker is unreachable nothing is handed to
    paho, rows accumulate on disk up to `max_pending_rows` / `max_pending_age_s` (beyond that the oldest
    are dropped with an error log), and on reconnect or restart they go out in row order.
    """

    def __init__(
        self,
        path: Path,
        store_id: str,
        agent_id: str,
        settings: OutboxSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._topics = {kind: topics.signal(store_id, agent_id, kind) for kind in SignalType}
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # One connection shared by the dispatcher (append) and the sender (mark sent), hence the lock.
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a signal the agent considers stored must survive a power cut, not only a crash.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._unsent = int(
                self._db.execute("SELECT count(*) FROM outbox WHERE sent IS NULL").fetchone()[0]
            )
            mark = self._db.execute("SELECT value FROM marks WHERE name = 'unconfirmed_since'").fetchone()
        self._marks = ReplayMarks(
            settings.replay_window_s, settings.replay_new_session_s, None if mark is None else mark[0]
        )
        self._acks: queue.SimpleQueue[tuple[int, bool]] = queue.SimpleQueue()
        # ("connected", session present) from paho's thread, ("gateway", online) from the dispatcher.
        self._events: queue.SimpleQueue[tuple[str, bool]] = queue.SimpleQueue()
        self._inflight: dict[int, int] = {}  # paho mid -> row; owned by the sender thread
        self._inflight_rows: set[int] = set()
        self._unmarked: list[int] = []  # PUBACKed rows not yet marked sent
        self._cursor = 0  # last row handed to paho; rows after it are next
        self._hold_until = 0.0
        # The pacing bucket (rate, burst; tokens, when counted on the monotonic clock): the sender's.
        self._pace = (settings.max_publish_per_s, float(settings.publish_burst))
        self._tokens, self._counted_at, self._pace_until = self._pace[1], time.monotonic(), 0.0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._link: MqttLink | None = None
        self.sent_total = 0
        self.dropped_total = 0
        self.refused_total = 0
        self.replayed_total = 0
        if self._unsent:
            logger.info(
                "outbox %s holds %d unsent signals from before; sending them first", path, self._unsent
            )

    # --- dispatcher side -----------------------------------------------------------------------

    def append(self, signals: Sequence[Signal], handled: str | None = None) -> list[Signal]:
        """Stamp each signal's seq and commit them all, with the id of the device message they come
        from (`handled`) in the same transaction; returns the stamped signals as they will go out."""
        if not signals:
            return []
        now = self._clock()
        stamped: list[Signal] = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if handled is not None:
                    self._db.execute("INSERT OR IGNORE INTO handled (id, at) VALUES (?, ?)", (handled, now))
                for signal in signals:
                    kind = SIGNAL_TYPES[type(signal)]
                    row = self._db.execute(
                        "INSERT INTO seqs (signal_type, last) VALUES (?, 1) "
                        "ON CONFLICT (signal_type) DO UPDATE SET last = last + 1 RETURNING last",
                        (kind.value,),
                    ).fetchone()
                    signal = signal.model_copy(update={"seq": int(row[0])})
                    self._db.execute(
                        "INSERT INTO outbox (id, signal_type, seq, topic, payload, created) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (signal.id, kind.value, signal.seq, self._topics[kind], encode(signal), now),
                    )
                    stamped.append(signal)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # SQLite may have rolled back already (SQLITE_FULL does)
                    self._db.execute("ROLLBACK")
                raise
            self._unsent += len(stamped)
            if self._unsent > self._settings.max_pending_rows:
                self._drop_oldest(self._unsent - self._settings.max_pending_rows)
        self._wake.set()
        return stamped

    def handled_ids(self, limit: int) -> list[str]:
        """The most recent `limit` handled device message ids, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT id FROM handled ORDER BY at DESC LIMIT ?", (limit,)).fetchall()
        return [row[0] for row in reversed(rows)]

    def pending(self) -> int:
        """Rows not yet confirmed by a PUBACK."""
        with self._lock:
            return self._unsent

    def flush(self, timeout: float) -> bool:
        """Wait until every stored row is PUBACKed; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.pending() > 0:
            if time.monotonic() >= deadline:
                return False
            self._wake.set()
            time.sleep(0.02)
        return True

    # --- sender side ---------------------------------------------------------------------------

    def start(self, link: MqttLink) -> None:
        self._link = link
        link.on_published(self._on_publish)
        link.on_connected(lambda: self._on_connected(link.session_present))
        self._thread = threading.Thread(target=self._run, name="edge-outbox", daemon=True)
        self._thread.start()

    def stop(self, flush_timeout: float = 0.0) -> None:
        """Give in-flight rows `flush_timeout` to be confirmed, then stop; unsent rows wait for next start."""
        connected = self._link is not None and self._link.connected.is_set()
        if connected and flush_timeout > 0 and not self.flush(flush_timeout):
            logger.info("stopping with %d unsent signals; they go out on next start", self.pending())
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            self._db.close()

    def _on_publish(self, mid: int, acked: bool) -> None:
        # Runs on paho's network thread while paho holds its message lock: queue, never lock here.
        self._acks.put((mid, acked))
        self._wake.set()

    def _on_connected(self, session_present: bool) -> None:
        # paho's thread: hand over to the sender thread, which owns the cursor.
        self._events.put(("connected", session_present))
        self._wake.set()

    def gateway_status(self, online: bool) -> None:
        """The gateway's ingest announced itself online or offline (any thread)."""
        self._events.put(("gateway", online))
        self._wake.set()

    def _run(self) -> None:
        next_maintenance = 0.0
        while not self._stopping.is_set():
            # Paced: sleep until the next token (a PUBACK or an append may wake us earlier), never spin.
            pause = self._pace_until - time.monotonic()
            self._wake.wait(timeout=pause if 0.0 < pause < 0.2 else 0.2)
            self._wake.clear()
            try:
                self._take_acks()
                self._take_events()
                link = self._link
                ready = time.monotonic() >= max(self._hold_until, self._pace_until)
                if link is not None and link.connected.is_set() and ready:
                    self._publish_next(link)
                if time.monotonic() >= next_maintenance:
                    next_maintenance = time.monotonic() + self._settings.maintenance_interval_s
                    self.maintain()
            except Exception:
                # The sender must outlive a full disk or a locked database; it retries on the next wake.
                logger.exception("outbox sender error")
                self._stopping.wait(1.0)

    def _take_acks(self) -> None:
        # Kept until the UPDATE succeeds: with the disk full it fails, and these rows are not in flight.
        confirmed = self._unmarked
        refused: list[int] = []
        while True:
            try:
                mid, ok = self._acks.get_nowait()
            except queue.Empty:
                break
            row = self._inflight.pop(mid, None)
            if row is None:
                continue  # our own status publishes and other traffic of the shared client
            self._inflight_rows.discard(row)
            (confirmed if ok else refused).append(row)
        if refused:
            self.refused_total += len(refused)
            # Resend from the first refused row on; rows still in flight after it are skipped, not doubled.
            self._cursor = min(self._cursor, min(refused) - 1)
            self._hold_until = time.monotonic() + REFUSED_RETRY_S
            logger.warning("broker refused %d signals; retrying in %.0f s", len(refused), REFUSED_RETRY_S)
        if confirmed:
            now = self._clock()
            with self._lock:
                for start in range(0, len(confirmed), 500):
                    chunk = confirmed[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    cursor = self._db.execute(
                        f"UPDATE outbox SET sent = ? WHERE row IN ({marks}) AND sent IS NULL",  # noqa: S608
                        (now, *chunk),
                    )
                    self._unsent -= cursor.rowcount
                    self.sent_total += cursor.rowcount
            self._unmarked = []

    def _take_events(self) -> None:
        while True:
            try:
                kind, flag = self._events.get_nowait()
            except queue.Empty:
                return
            before = self._marks.unconfirmed_since
            if kind == "connected":
                self._marks.connected(flag, self._newest_sent())
            elif not flag:
                self._marks.gateway_offline(self._clock())
            else:
                since = self._marks.gateway_online(self._newest_sent())
                if since is not None:
                    self.replay_since(since)
            if self._marks.unconfirmed_since != before:
                with self._lock:
                    self._db.execute(
                        "INSERT OR REPLACE INTO marks (name, value) VALUES ('unconfirmed_since', ?)",
                        (self._marks.unconfirmed_since,),
                    )

    def _newest_sent(self) -> float | None:
        with self._lock:
            newest = self._db.execute("SELECT max(sent) FROM outbox").fetchone()[0]
        return None if newest is None else float(newest)

    def replay_since(self, since: float) -> int:
        """Mark the rows PUBACKed at `since` or later unsent again: they go out once more in row order."""
        with self._lock:
            count = self._db.execute("UPDATE outbox SET sent = NULL WHERE sent >= ?", (since,)).rowcount
            self._unsent += count
            self.replayed_total += count
        self._cursor = 0
        if count:
            logger.info("gateway online: sending the %d signals acknowledged since %.0f again", count, since)
        return count

    def _publish_next(self, link: MqttLink) -> None:
        room = self._settings.window - len(self._inflight)
        if room <= 0:
            return
        with self._lock:
            rows = self._db.execute(
                "SELECT row, topic, payload FROM outbox WHERE sent IS NULL AND row > ? ORDER BY row LIMIT ?",
                (self._cursor, room + len(self._inflight_rows)),
            ).fetchall()
        for row, topic, payload in rows:
            if row in self._inflight_rows:
                self._cursor = row
                continue
            if room <= 0:
                break
            now = time.monotonic()
            self._tokens, wait = take_token(self._tokens, self._counted_at, now, *self._pace)
            self._counted_at = now
            if wait > 0.0:
                self._pace_until = now + wait
                break
            info = link.publish(topic, bytes(payload), qos=1)
            # NO_CONN still queues the message inside paho, which sends it on reconnect; anything else
            # means it was not taken, so the cursor stays and the row is tried again.
            if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
                logger.warning("publish of outbox row %d failed: %s", row, paho.error_string(info.rc))
                break
            self._inflight[info.mid] = row
            self._inflight_rows.add(row)
            self._cursor = row
            room -= 1

    # --- bounds and retention ------------------------------------------------------------------

    def maintain(self) -> None:
        """Prune sent rows past retention and drop unsent rows past the age bound."""
        now = self._clock()
        with self._lock:
            self._db.execute(
                "DELETE FROM outbox WHERE sent IS NOT NULL AND sent < ?", (now - self._settings.retention_s,)
            )
            self._db.execute("DELETE FROM handled WHERE at < ?", (now - self._settings.retention_s,))
            expired = self._db.execute(
                "DELETE FROM outbox WHERE sent IS NULL AND created < ?",
                (now - self._settings.max_pending_age_s,),
            ).rowcount
            if expired:
                self._unsent -= expired
                self.dropped_total += expired
                logger.error(
                    "outbox DROPPED %d unsent signals older than %.0f s (broker unreachable too long)",
                    expired,
                    self._settings.max_pending_age_s,
                )
            if self._unsent > 0.8 * self._settings.max_pending_rows:
                logger.warning(
                    "outbox holds %d unsent signals, %.0f%% of its bound %d; oldest are dropped beyond it",
                    self._unsent,
                    100 * self._unsent / self._settings.max_pending_rows,
                    self._settings.max_pending_rows,
                )

    def _drop_oldest(self, count: int) -> None:
        # Caller holds the lock. Dropping a row paho is still sending is harmless: its PUBACK finds no row.
        dropped = self._db.execute(
            "DELETE FROM outbox WHERE row IN "
            "(SELECT row FROM outbox WHERE sent IS NULL ORDER BY row LIMIT ?)",
            (count,),
        ).rowcount
        self._unsent -= dropped
        self.dropped_total += dropped
        logger.error(
            "outbox full (%d unsent rows): DROPPED the %d oldest unsent signals",
            self._settings.max_pending_rows,
            dropped,
        )
