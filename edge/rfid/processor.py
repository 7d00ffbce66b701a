"""The edge agent's RFID processor: read batches (wire bytes) and reader statuses in, signals out.

Adapter around the pure `TagInventory`: parsing and validation, de-duplication, timers, persistence,
store-file reload and telemetry live here; presence logic does not.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from smartstore.edge.processors.base import Message, Processor, Rejection
from smartstore.edge.recent_ids import RecentIds
from smartstore.edge.rfid.epc import EpcCache, EpcGarbage
from smartstore.edge.rfid.inventory import Changes, TagInventory
from smartstore.edge.rfid.normalize import ReadNormalizer, ReadReject
from smartstore.edge.rfid.settings import RfidSettings
from smartstore.edge.rfid.state import load_state, save_state
from smartstore.edge.rfid.stock import StockPublisher
from smartstore.edge.rfid.tags import TagEvent, TagEventKind
from smartstore.edge.rfid.telemetry import TelemetryBuilder
from smartstore.edge.rfid.zones import ZoneTable
from smartstore.kernel.contract.payloads import (
    MAX_READS_PER_BATCH,
    SCHEMA_VERSION,
    DeviceState,
    DeviceStatus,
    Envelope,
    ReadBatch,
    RfidTelemetry,
    RssiUnit,
    Signal,
    encode,
)
from smartstore.kernel.contract.topics import Channel, Kind, TelemetryType, Topic
from smartstore.kernel.contract.validation import MAX_JSON_BYTES, Decoded, RejectReason, describe
from smartstore.kernel.storeconfig import StoreConfig, StoreConfigError, load_store

logger = logging.getLogger(__name__)

READ_REJECTS = frozenset({*ReadReject, *EpcGarbage})
_PORT_LIST = re.compile(r"[\s,;]+")

EventSink = Callable[[Sequence[TagEvent]], None]


class BatchHeader(Envelope):
    """A ReadBatch without `reads`: pydantic checks it once per batch; the reads take the fast path."""

    rssi_unit: RssiUnit | None = None


def antennas_down(info: dict[str, str | int | float | bool]) -> frozenset[int]:
    """`DeviceStatus.info['antennas_down']`: a port number or a comma-separated list of them."""
    value = info.get("antennas_down")
    if isinstance(value, bool) or value is None:
        return frozenset()
    if isinstance(value, int):
        return frozenset({value})
    return frozenset(int(part) for part in _PORT_LIST.split(str(value)) if part.isdigit())


class RfidProcessor(Processor):
    """Tag presence per zone and per-(zone, GTIN) counts, from `rfid/{reader}/reads` and reader statuses."""

    name = "rfid"
    telemetry_type = TelemetryType.RFID

    def __init__(
        self,
        store: StoreConfig,
        settings: RfidSettings,
        state_path: Path | None,
        now: float,
        *,
        store_file: Path | None = None,
        event_sink: EventSink | None = None,
    ) -> None:
        super().__init__()
        self._settings = settings
        self._store_id = store.store.id
        table = ZoneTable.from_store(store)
        self.epcs = EpcCache(settings.epc_cache_max)
        self.normalizer = ReadNormalizer(
            table,
            self.epcs,
            self.counters,
            clock_window=settings.clock_offset_batches,
            clock_jump_s=settings.clock_jump_s,
        )
        self.inventory = TagInventory(table, settings)
        self.stock = StockPublisher(table, settings, now, self.counters)
        self._telemetry = TelemetryBuilder(settings.telemetry_interval_s, now)
        self._pending_telemetry: RfidTelemetry | None = None
        self._event_sink = event_sink
        self._recent_batches = RecentIds(settings.recent_batch_ids)
        self._state_path = state_path
        self._next_departure_check = now
        self._next_persist = now + settings.persist_interval_s
        self._store_file = store_file
        self._store_stamp = self._stamp()
        self._next_store_check = now + settings.store_check_interval_s
        if state_path is not None:
            saved = load_state(state_path)
            self.inventory.restore(saved.tags)
            for tag in saved.tags:
                self.epcs.remember(tag.identity)
            stock = saved.extras.get("stock")
            if isinstance(stock, dict):
                self.stock.restore(stock)

    # --- input ---------------------------------------------------------------------------------

    def accepts(self, topic: Topic) -> bool:
        return topic.kind is Kind.RFID and topic.channel == (Channel.READS,)

    def handle(self, message: Message, now: float) -> list[Signal]:
        """A batch someone already decoded with pydantic: same path as the wire bytes."""
        if not isinstance(message, Decoded) or not isinstance(message.payload, ReadBatch):
            raise Rejection(RejectReason.INVALID_PAYLOAD, "rfid reads topic without a ReadBatch")
        return self.handle_raw(message.topic, encode(message.payload), now)

    def handle_raw(self, topic: Topic, payload: bytes, now: float) -> list[Signal]:
        """One `ReadBatch` as it came off the wire; raises Rejection when the batch as a whole is unusable."""
        reader = topic.device
        if not self.inventory.coverage.knows(reader):
            raise Rejection(RejectReason.UNKNOWN_REFERENCE, f"reader {reader!r} is not in the store file")
        if len(payload) > MAX_JSON_BYTES:
            raise Rejection(RejectReason.TOO_LARGE, f"{len(payload)} bytes > {MAX_JSON_BYTES}")
        data, header = self._parse(payload)
        if not self._recent_batches.first_time(header.id):
            self.counters["duplicate_batches"] += 1
            return []
        reads = data["reads"]
        batch = self.normalizer.normalize(reader, reads, header.rssi_unit, now)
        events, changes = self.inventory.process(batch, now)
        self._apply(events, changes)
        self.counters["batches"] += 1
        self.counters["reads"] += len(reads)
        return []

    def _parse(self, payload: bytes) -> tuple[dict[str, Any], BatchHeader]:
        try:
            data = json.loads(payload)
        except ValueError as error:
            raise Rejection(RejectReason.INVALID_JSON, str(error)) from None
        if not isinstance(data, dict):
            raise Rejection(RejectReason.INVALID_PAYLOAD, "(payload): not a JSON object")
        if "v" in data and data["v"] != SCHEMA_VERSION:
            raise Rejection(RejectReason.UNSUPPORTED_VERSION, f"schema version {data['v']!r} != 1")
        reads = data.get("reads")
        if not isinstance(reads, list):
            raise Rejection(RejectReason.INVALID_PAYLOAD, "reads: must be a list")
        if len(reads) > MAX_READS_PER_BATCH:
            raise Rejection(RejectReason.INVALID_PAYLOAD, f"reads: more than {MAX_READS_PER_BATCH}")
        try:
            header = BatchHeader.model_validate({k: v for k, v in data.items() if k != "reads"})
        except ValidationError as error:
            raise Rejection(RejectReason.INVALID_PAYLOAD, describe(error)) from None
        return data, header

    def on_status(self, topic: Topic, status: DeviceStatus, now: float) -> list[Signal]:
        if topic.kind is not Kind.RFID or not self.inventory.coverage.knows(topic.device):
            return []
        inventorying = status.info.get("inventorying", True)
        down = antennas_down(status.info)
        online = status.state is DeviceState.ONLINE
        self.inventory.reader_status(
            topic.device,
            online=online,
            inventorying=inventorying is not False,
            antennas_down=down,
            now=now,
        )
        logger.info(
            "reader %s: %s, inventorying=%s, antennas down %s",
            topic.device,
            status.state.value,
            inventorying,
            sorted(down) or "none",
        )
        return []

    def _apply(self, events: list[TagEvent], changes: Changes) -> None:
        for event in events:
            self.counters[f"tag_{event.kind.value}"] += 1
            if event.kind is TagEventKind.DEPARTED and event.reason is not None:
                self.counters[f"departed_{event.reason.value}"] += 1
            logger.debug(
                "tag %s %s in %s (from %s, %s)",
                event.epc,
                event.kind,
                event.zone,
                event.from_zone,
                event.reason,
            )
        if events and self._event_sink is not None:
            self._event_sink(events)
        if changes:
            self.stock.note(changes)

    # --- timers --------------------------------------------------------------------------------

    def tick(self, now: float) -> list[Signal]:
        if now >= self._next_store_check:
            self._next_store_check = now + self._settings.store_check_interval_s
            self._check_store_file()
        if now >= self._next_departure_check:
            self._next_departure_check = now + self._settings.departure_check_interval_s
            self._apply(*self.inventory.tick(now))
        signals = self.stock.due(now, self.inventory.counts, self.inventory.coverage)
        if self._telemetry.due(now):
            rejected = Counter({reason: n for reason, n in self.counters.items() if reason in READ_REJECTS})
            self._pending_telemetry = self._telemetry.build(now, self.inventory, self.normalizer, rejected)
        if now >= self._next_persist:
            self._next_persist = now + self._settings.persist_interval_s
            self.save()
        return signals

    def take_telemetry(self) -> RfidTelemetry | None:
        """The latest per-reader summary, once; the agent publishes it retained."""
        telemetry, self._pending_telemetry = self._pending_telemetry, None
        return telemetry

    def counts(self) -> dict[tuple[str, str], int]:
        """Current non-zero counts per (zone, GTIN)."""
        return dict(self.inventory.counts)

    def zone_of(self, epc: str) -> str | None:
        tag = self.inventory.tag(epc)
        return tag.zone if tag is not None and tag.present else None

    # --- configuration -------------------------------------------------------------------------

    def _stamp(self) -> tuple[int, int] | None:
        if self._store_file is None:
            return None
        try:
            stat = self._store_file.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def _check_store_file(self) -> None:
        stamp = self._stamp()
        if stamp is None or stamp == self._store_stamp or self._store_file is None:
            return
        self._store_stamp = stamp
        try:
            store = load_store(self._store_file)
        except StoreConfigError as error:
            self.counters["store_reload_failed"] += 1
            logger.error("store file changed but is invalid; keeping the old zone settings: %s", error)
            return
        self.reload_store(store)

    def reload_store(self, store: StoreConfig) -> bool:
        """Apply a changed store file to the live tag state (zones, antennas, profiles, catalog)."""
        if store.store.id != self._store_id:
            self.counters["store_reload_failed"] += 1
            logger.error("store file now describes store %r, not %r; ignored", store.store.id, self._store_id)
            return False
        table = ZoneTable.from_store(store)
        self.normalizer.reload(table)
        self.stock.reload(table)
        self.stock.note(self.inventory.reload(table))
        self.counters["store_reloads"] += 1
        logger.info("reloaded zone settings of store %s: %d tags kept", self._store_id, len(self.inventory))
        return True

    # --- persistence ---------------------------------------------------------------------------

    def save(self) -> None:
        """Write tag presence and raised alerts atomically (periodically and at stop)."""
        if self._state_path is not None:
            save_state(self._state_path, self.inventory.all_tags(), {"stock": self.stock.export()})
