"""RFID reads -> which tagged product is in which zone -> per-zone product counts as StockSignals."""

from __future__ import annotations

import json
import logging
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from edge.config import RfidSettings
from edge.processors.base import Message, Processor, Rejection, draft
from edge.processors.epc_decoder import EpcDecoder
from edge.processors.reader_health import ReaderHealth
from smartstore.contract.payloads import (
    DeviceState,
    DeviceStatus,
    ReadBatch,
    Signal,
    StockSignal,
    StockSource,
    ZoneCount,
)
from smartstore.contract.topics import Channel, Kind, Topic
from smartstore.contract.validation import Decoded, RejectReason
from smartstore.storeconfig import StoreConfig

logger = logging.getLogger(__name__)

STATE_VERSION = 1
# Weight of a new read in a zone's smoothed RSSI: a single strong stray read must not win on its own.
RSSI_SMOOTHING = 0.3
DEPARTURE_CHECK_INTERVAL_S = 1.0

ZoneGtin = tuple[str, str]


@dataclass(slots=True)
class _ZoneVote:
    rssi: float
    last_read: float


@dataclass(slots=True)
class _Tag:
    gtin: str
    zone: str
    last_seen: float
    votes: dict[str, _ZoneVote] = field(default_factory=dict)


class RfidCounts(Processor):
    """Tag presence per zone, product counts per (zone, GTIN), departures guarded by reader health.

    Times are the agent's receive times, not reader timestamps: reader clocks drift and are not trusted.
    """

    name = "rfid_counts"

    def __init__(
        self, store: StoreConfig, settings: RfidSettings, state_path: Path | None, now: float
    ) -> None:
        super().__init__()
        self._store = store
        self._settings = settings
        self._state_path = state_path
        self._decoder = EpcDecoder(self.counters, settings.epc_cache_max)
        self._health = ReaderHealth(store, settings.read_interval_s)
        self._tags: dict[str, _Tag] = {}
        self._counts: Counter[ZoneGtin] = Counter()
        self._dirty: set[ZoneGtin] = set()
        self._last_change_publish = -math.inf
        self._next_snapshot = now + settings.snapshot_interval_s
        self._next_persist = now + settings.persist_interval_s
        self._next_departure_check = now
        if state_path is not None:
            self._load(state_path)

    # --- input ---------------------------------------------------------------------------------

    def accepts(self, topic: Topic) -> bool:
        return topic.kind is Kind.RFID and topic.channel == (Channel.READS,)

    def handle(self, message: Message, now: float) -> list[Signal]:
        if not isinstance(message, Decoded) or not isinstance(message.payload, ReadBatch):
            raise Rejection(RejectReason.INVALID_PAYLOAD, "rfid reads topic without a ReadBatch")
        reader = message.topic.device
        if not self._health.knows(reader):
            raise Rejection(RejectReason.UNKNOWN_REFERENCE, f"reader {reader!r} is not in the store file")
        self._health.report(reader, now)
        for read in message.payload.reads:
            zone_id = self._store.antenna_zones.get((reader, read.antenna))
            if zone_id is None:
                self.counters["unknown_antenna"] += 1
                continue
            if read.rssi < self._store.zones_by_id[zone_id].min_rssi:
                self.counters["below_min_rssi"] += 1
                continue
            gtin = self._decoder.gtin(read.epc)
            if gtin is None:
                continue
            if gtin not in self._store.products:
                # The gateway rejects unknown GTINs; counting them here would poison whole signals.
                self.counters["gtin_not_in_catalog"] += 1
                continue
            self._apply_read(read.epc, gtin, zone_id, read.rssi, now)
        self.counters["reads"] += len(message.payload.reads)
        return []

    def on_status(self, topic: Topic, status: DeviceStatus, now: float) -> list[Signal]:
        if topic.kind is Kind.RFID and self._health.knows(topic.device):
            online = status.state is DeviceState.ONLINE
            self._health.set_online(topic.device, online)
            logger.info("reader %s is %s", topic.device, status.state.value)
        return []

    def _apply_read(self, epc: str, gtin: str, zone: str, rssi: float, now: float) -> None:
        tag = self._tags.get(epc)
        if tag is None:
            tag = _Tag(gtin, zone, now, {zone: _ZoneVote(rssi, now)})
            self._tags[epc] = tag
            self._change(zone, gtin, +1)
            return
        tag.last_seen = now
        vote = tag.votes.get(zone)
        if vote is None or now - vote.last_read > self._settings.zone_window_s:
            tag.votes[zone] = _ZoneVote(rssi, now)
        else:
            vote.rssi += RSSI_SMOOTHING * (rssi - vote.rssi)
            vote.last_read = now
        self._choose_zone(tag, now)

    def _choose_zone(self, tag: _Tag, now: float) -> None:
        window = self._settings.zone_window_s
        for zone in [z for z, vote in tag.votes.items() if now - vote.last_read > window]:
            del tag.votes[zone]
        current = tag.votes.get(tag.zone)
        current_rssi = current.rssi if current is not None else -math.inf
        best_zone, best_rssi = tag.zone, current_rssi
        for zone, vote in tag.votes.items():
            if zone != tag.zone and vote.rssi > best_rssi:
                best_zone, best_rssi = zone, vote.rssi
        if best_zone != tag.zone and best_rssi > current_rssi + self._settings.zone_hysteresis_db:
            self._change(tag.zone, tag.gtin, -1)
            tag.zone = best_zone
            self._change(best_zone, tag.gtin, +1)

    def _change(self, zone: str, gtin: str, delta: int) -> None:
        self._counts[(zone, gtin)] += delta
        self._dirty.add((zone, gtin))

    # --- timers --------------------------------------------------------------------------------

    def tick(self, now: float) -> list[Signal]:
        self._health.update(now)
        if now >= self._next_departure_check:
            self._next_departure_check = now + DEPARTURE_CHECK_INTERVAL_S
            self._depart(now)
        signals: list[Signal] = []
        if now >= self._next_snapshot:
            self._next_snapshot = now + self._settings.snapshot_interval_s
            signals.append(self._snapshot(now))
        elif self._dirty and now - self._last_change_publish >= self._settings.stock_publish_interval_s:
            signals.append(self._changes(now))
        if now >= self._next_persist:
            self._next_persist = now + self._settings.persist_interval_s
            self.save()
        return signals

    def _depart(self, now: float) -> None:
        gone: list[str] = []
        for epc, tag in self._tags.items():
            covered_since = self._health.covered_since(tag.zone)
            if covered_since is None:
                continue  # a reader of the zone is offline or silent: absence proves nothing
            timeout = self._store.zones_by_id[tag.zone].departure_timeout_s
            if now - max(tag.last_seen, covered_since) > timeout:
                gone.append(epc)
        for epc in gone:
            tag = self._tags.pop(epc)
            self._change(tag.zone, tag.gtin, -1)
            self.counters["departures"] += 1

    def _changes(self, now: float) -> StockSignal:
        counts = [ZoneCount(zone=z, gtin=g, count=self._counts[(z, g)]) for z, g in sorted(self._dirty)]
        self._forget_published()
        self._last_change_publish = now
        return StockSignal(**draft(now), source=StockSource.RFID, counts=counts)

    def _snapshot(self, now: float) -> StockSignal:
        self._forget_published()
        self._last_change_publish = now
        counts = [ZoneCount(zone=z, gtin=g, count=n) for (z, g), n in sorted(self._counts.items())]
        return StockSignal(
            **draft(now), source=StockSource.RFID, counts=counts, snapshot=True, zones=self._health.zones
        )

    def _forget_published(self) -> None:
        for key in self._dirty:
            if self._counts[key] <= 0:
                del self._counts[key]
        self._dirty.clear()

    def counts(self) -> dict[ZoneGtin, int]:
        """Current non-zero counts, for tests and stats."""
        return {key: n for key, n in self._counts.items() if n > 0}

    def zone_of(self, epc: str) -> str | None:
        tag = self._tags.get(epc.upper())
        return tag.zone if tag is not None else None

    # --- persistence ---------------------------------------------------------------------------

    def save(self) -> None:
        """Write tag presence atomically so a restart resumes without announcing every tag again."""
        if self._state_path is None:
            return
        state = {
            "version": STATE_VERSION,
            "tags": [[epc, t.gtin, t.zone, t.last_seen] for epc, t in self._tags.items()],
        }
        temporary = self._state_path.with_suffix(".tmp")
        try:
            temporary.write_text(json.dumps(state), encoding="utf-8")
            os.replace(temporary, self._state_path)
        except OSError:
            logger.exception("could not save RFID tag state to %s", self._state_path)

    def _load(self, path: Path) -> None:
        if not path.exists():
            return
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            if state.get("version") != STATE_VERSION:
                raise ValueError(f"state version {state.get('version')!r}")
            rows = [(str(e), str(g), str(z), float(t)) for e, g, z, t in state["tags"]]
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            logger.warning("ignoring unreadable RFID tag state %s; starting empty", path, exc_info=True)
            return
        for epc, gtin, zone, last_seen in rows:
            # The store file may have changed since the save: drop what it no longer knows.
            if zone not in self._store.zones_by_id or gtin not in self._store.products:
                continue
            self._tags[epc] = _Tag(gtin, zone, last_seen)
            self._counts[(zone, gtin)] += 1
        logger.info("restored %d RFID tags from %s", len(self._tags), path)
