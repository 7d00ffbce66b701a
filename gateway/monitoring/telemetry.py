"""Edge RFID telemetry for dashboards: the latest summary per reader and a bounded series of read rates.

The edge publishes `RfidTelemetry` retained on `smartstore/v1/{store}/edge/{agent}/telemetry/rfid`
(docs/protocol.md). It is not inventory, so it stays out of the ingest and its database: this
module listens on the gateway's shared MQTT link, keeps what it hears in memory and forgets it on restart (the
retained message brings the latest summary back at once).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

import paho.mqtt.client as paho

from smartstore.kernel.clock import utc_now
from smartstore.kernel.contract import topics
from smartstore.kernel.contract.payloads import RfidTelemetry
from smartstore.kernel.contract.validation import Decoded, decode
from smartstore.kernel.mqtt import MqttLink

logger = logging.getLogger(__name__)

SERIES_POINTS = 360  # one hour at the edge's default 10 s interval


@dataclass(frozen=True, slots=True)
class RatePoint:
    ts: datetime
    reads_per_s: float


@dataclass(slots=True)
class ReaderEntry:
    agent: str
    summary: dict[str, Any]
    ts: datetime
    received_at: datetime
    series: deque[RatePoint]


class StoreTelemetryView(TypedDict):
    """What the dashboard's RFID page reads of one store (the API's RfidTelemetryPublic)."""

    store: str
    # Each: the edge's ReaderSummary fields as sent, plus agent, ts, received_at, series [[ts, rate]].
    readers: list[dict[str, Any]]
    rejected_reads: dict[str, int]


class RfidTelemetryBook:
    """What was heard, per (store, reader); thread-safe (paho's thread writes, the API reads)."""

    def __init__(self, series_points: int = SERIES_POINTS) -> None:
        self._points = series_points
        self._lock = threading.Lock()
        self._readers: dict[tuple[str, str], ReaderEntry] = {}
        self._rejected: dict[tuple[str, str], dict[str, int]] = {}

    def record(self, store: str, agent: str, telemetry: RfidTelemetry, received_at: datetime) -> None:
        with self._lock:
            for reader in telemetry.readers:
                key = (store, reader.reader)
                entry = self._readers.get(key)
                if entry is None:
                    entry = ReaderEntry(agent, {}, telemetry.ts, received_at, deque(maxlen=self._points))
                    self._readers[key] = entry
                elif telemetry.ts <= entry.ts and entry.series:
                    continue  # a retained repeat or an older summary: the series must not go back
                entry.agent, entry.ts, entry.received_at = agent, telemetry.ts, received_at
                entry.summary = reader.model_dump(mode="json", exclude_none=True)
                entry.series.append(RatePoint(telemetry.ts, reader.reads_per_s))
            self._rejected[(store, agent)] = dict(telemetry.rejected_reads)

    def forget_agent(self, store: str, agent: str) -> None:
        """An empty retained payload removes what an agent announced."""
        with self._lock:
            for key in [
                key for key, entry in self._readers.items() if key[0] == store and entry.agent == agent
            ]:
                del self._readers[key]
            self._rejected.pop((store, agent), None)

    def store_view(self, store: str) -> StoreTelemetryView:
        """Latest summary and read-rate series of every reader heard in `store`."""
        with self._lock:
            readers = [
                {
                    **entry.summary,
                    "agent": entry.agent,
                    "ts": entry.ts.isoformat(),
                    "received_at": entry.received_at.isoformat(),
                    "series": [[point.ts.isoformat(), point.reads_per_s] for point in entry.series],
                }
                for (store_id, _reader), entry in sorted(self._readers.items())
                if store_id == store
            ]
            rejected: dict[str, int] = {}
            for (store_id, _agent), counts in self._rejected.items():
                if store_id == store:
                    for reason, count in counts.items():
                        rejected[reason] = rejected.get(reason, 0) + count
        return {"store": store, "readers": readers, "rejected_reads": rejected}

    def reads_per_s(self, store: str) -> dict[str, float]:
        with self._lock:
            return {
                reader: float(entry.summary.get("reads_per_s", 0.0))
                for (store_id, reader), entry in self._readers.items()
                if store_id == store
            }


class TelemetrySubscriber:
    """The telemetry filter on a (shared) link, feeding a book; bad input is logged and dropped.

    Retained summaries arrive at once on every (re)subscribe, so it has nothing to start or stop.
    """

    def __init__(self, link: MqttLink, book: RfidTelemetryBook) -> None:
        self.book = book
        link.subscribe(topics.telemetry_filter(), 0, self._handle)

    def _handle(self, message: paho.MQTTMessage) -> None:
        if not message.payload:
            try:
                parsed = topics.Topic.parse(message.topic)
            except topics.TopicError:
                return
            self.book.forget_agent(parsed.store, parsed.device)
            return
        decoded = decode(message.topic, bytes(message.payload))
        if not isinstance(decoded, Decoded) or not isinstance(decoded.payload, RfidTelemetry):
            logger.info("ignored telemetry on %s: %s", message.topic, getattr(decoded, "detail", "not RFID"))
            return
        self.book.record(decoded.topic.store, decoded.topic.device, decoded.payload, utc_now())
