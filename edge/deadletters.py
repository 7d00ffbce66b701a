"""Local dead-letter table: rejected input with topic, reason, detail and (truncated) payload, bounded."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# Camera frames can be megabytes; the head is enough to see what was wrong with one.
MAX_STORED_PAYLOAD = 64 * 1024
PRUNE_EVERY = 100
_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    row INTEGER PRIMARY KEY AUTOINCREMENT,
    received REAL NOT NULL,
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    payload BLOB NOT NULL,
    payload_size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_reason ON dead_letters (reason);
"""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    received: float
    topic: str
    reason: str
    detail: str
    payload: bytes
    payload_size: int


class DeadLetters:
    """Thread-safe: the dispatcher and, when the receive queue overflows, the MQTT thread both write."""

    def __init__(self, path: Path, max_rows: int, clock: Callable[[], float] = time.time) -> None:
        self._max_rows = max_rows
        self._clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._since_prune = 0
        self.counts: Counter[str] = Counter()  # per reason since start: metric-style counters

    def add(self, topic: str, reason: str, detail: str, payload: bytes) -> None:
        self.counts[reason] += 1
        logger.debug("dead letter %s on %s: %s", reason, topic, detail)
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO dead_letters (received, topic, reason, detail, payload, payload_size) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (self._clock(), topic, reason, detail[:2000], payload[:MAX_STORED_PAYLOAD], len(payload)),
                )
                self._since_prune += 1
                if self._since_prune >= PRUNE_EVERY:
                    self._since_prune = 0
                    self._prune()
            except sqlite3.Error:
                # Losing a dead letter's copy must not take the agent down; the counter still has it.
                logger.exception("could not store dead letter %s on %s", reason, topic)

    def _prune(self) -> None:
        self._db.execute(
            "DELETE FROM dead_letters WHERE row <= (SELECT max(row) FROM dead_letters) - ?", (self._max_rows,)
        )

    def recent(self, limit: int = 100, reason: str | None = None) -> list[DeadLetter]:
        query = "SELECT received, topic, reason, detail, payload, payload_size FROM dead_letters"
        params: tuple[object, ...] = ()
        if reason is not None:
            query += " WHERE reason = ?"
            params = (reason,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY row DESC LIMIT ?", (*params, limit)).fetchall()
        return [DeadLetter(r[0], r[1], r[2], r[3], bytes(r[4]), r[5]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
