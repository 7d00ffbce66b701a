"""Pure RFID inventory: normalized reads and reader health in, tag events and per-zone count changes out.

EdgeX `internal/inventory` style: no I/O, no clock of its own (time is an argument), one owner (the edge
agent's dispatcher thread), so no locks. The adapter around it is `edge.rfid.processor`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator

from smartstore.edge.rfid.coverage import Coverage
from smartstore.edge.rfid.epc import EpcIdentity
from smartstore.edge.rfid.normalize import NormalizedBatch
from smartstore.edge.rfid.settings import RfidSettings
from smartstore.edge.rfid.tags import Cell, DepartReason, TagEvent, TagEventKind, TagRecord, ZoneStats
from smartstore.edge.rfid.zones import ZoneRules, ZoneTable
from smartstore.kernel.storeconfig import Departure

logger = logging.getLogger(__name__)

Changes = dict[Cell, int]  # cell -> its count after the call, for every cell the call touched
_MW_CACHE_MAX = 100_000
WINDOW_REPORTS = 2.5  # a zone window spans at least this many of the reader's report intervals


class TagInventory:
    """Where every tag is, and how many of each product each zone holds."""

    def __init__(self, table: ZoneTable, settings: RfidSettings) -> None:
        self.table = table
        self.coverage = Coverage(table, settings.read_interval_s, settings.silent_reports)
        self.counters: Counter[str] = Counter()
        self.counts: dict[Cell, int] = {}
        self._window_s = settings.zone_window_s
        self._average_reads = settings.rssi_average_reads
        self._max_tags = settings.max_tags
        self._retention_s = settings.departed_retention_s
        self._store_wide_hold = settings.store_wide_hold
        self._tags: dict[str, TagRecord] = {}
        self._present: dict[str, TagRecord] = {}
        self._departed: dict[str, None] = {}  # EPCs in departure order, for age-out from the front
        self._milliwatts: dict[float, float] = {}

    # --- queries -------------------------------------------------------------------------------

    def tag(self, epc: str) -> TagRecord | None:
        return self._tags.get(epc.upper())

    def present_tags(self) -> Iterator[TagRecord]:
        return iter(self._present.values())

    def all_tags(self) -> Iterator[TagRecord]:
        return iter(self._tags.values())

    def __len__(self) -> int:
        return len(self._tags)

    # --- input ---------------------------------------------------------------------------------

    def process(self, batch: NormalizedBatch, now: float) -> tuple[list[TagEvent], Changes]:
        """Apply one reader's normalized reads."""
        if self.coverage.report(batch.reader, now):
            self.coverage.update(now)
        events: list[TagEvent] = []
        touched: set[Cell] = set()
        tags = self._tags
        milliwatts = self._milliwatts
        # Reads of a slow reader are further apart: its zone statistics must still see them as a row.
        window = max(self._window_s, WINDOW_REPORTS * self.coverage.report_interval(batch.reader))
        average = self._average_reads
        for identity, zone, rssi, moment, _count, _antenna in batch.reads:
            tag = tags.get(identity.epc)
            if tag is None:
                self._arrive(identity, zone, rssi, moment, events, touched)
                continue
            zone_id = zone.id
            power = milliwatts.get(rssi)
            if power is None:
                power = self._milliwatts_of(rssi)
            stats = tag.stats.get(zone_id)
            if stats is None:
                stats = tag.stats[zone_id] = ZoneStats(power, 1, moment)
            elif moment - stats.last > window:
                stats.mean_mw = power
                stats.reads = 1
                stats.last = moment
            else:
                reads = stats.reads + 1
                stats.reads = reads
                stats.mean_mw += (power - stats.mean_mw) / (reads if reads < average else average)
                if moment > stats.last:
                    stats.last = moment
            if moment > tag.last_seen:
                tag.last_seen = moment
                tag.last_zone = zone_id
            if not tag.present:
                self._return(tag, zone, moment, events, touched)
            elif zone_id != tag.zone:
                self._consider_move(tag, zone, stats, moment, events, touched)
        return events, {cell: self.counts.get(cell, 0) for cell in touched}

    def reader_status(
        self, reader: str, *, online: bool, inventorying: bool, antennas_down: frozenset[int], now: float
    ) -> None:
        self.coverage.set_status(
            reader, online=online, inventorying=inventorying, antennas_down=antennas_down
        )
        self.coverage.update(now)

    def tick(self, now: float) -> tuple[list[TagEvent], Changes]:
        """Departures of tags their covered zones stopped reading, and age-out of long-departed tags."""
        self.coverage.update(now)
        events: list[TagEvent] = []
        touched: set[Cell] = set()
        gone: list[tuple[TagRecord, DepartReason]] = []
        # Tags read within the shortest timeout of any zone cannot be due: skip them cheaply.
        horizon = now - min((zone.departure_timeout_s for zone in self.table.zones.values()), default=0.0)
        for tag in self._present.values():
            if tag.last_seen >= horizon:
                continue
            verdict = self._absence(tag, now)
            if verdict is not None:
                gone.append((tag, verdict))
        for tag, reason in gone:
            self._depart(tag, reason, now, events, touched)
        self._age_out(now)
        return events, {cell: self.counts.get(cell, 0) for cell in touched}

    # --- tag life ------------------------------------------------------------------------------

    def _arrive(
        self,
        identity: EpcIdentity,
        zone: ZoneRules,
        rssi: float,
        moment: float,
        events: list[TagEvent],
        touched: set[Cell],
    ) -> None:
        if len(self._tags) >= self._max_tags:
            self.counters["tag_table_full"] += 1
            return
        gtin = self._counted_gtin(identity)
        tag = TagRecord(identity, gtin, zone.id, moment)
        tag.stats[zone.id] = ZoneStats(self._milliwatts_of(rssi), 1, moment)
        self._tags[identity.epc] = tag
        self._present[identity.epc] = tag
        self._count(zone.id, gtin, +1, touched)
        events.append(TagEvent(TagEventKind.ARRIVED, identity.epc, gtin, zone.id, moment))

    def _return(
        self, tag: TagRecord, zone: ZoneRules, moment: float, events: list[TagEvent], touched: set[Cell]
    ) -> None:
        epc = tag.identity.epc
        self._departed.pop(epc, None)
        self._present[epc] = tag
        tag.present = True
        tag.prev_zone, tag.zone = tag.zone, zone.id
        self._count(zone.id, tag.gtin, +1, touched)
        events.append(TagEvent(TagEventKind.RETURNED, epc, tag.gtin, zone.id, moment, tag.prev_zone))

    def _consider_move(
        self,
        tag: TagRecord,
        zone: ZoneRules,
        stats: ZoneStats,
        moment: float,
        events: list[TagEvent],
        touched: set[Cell],
    ) -> None:
        """EdgeX/RSP hand-over, with the challenger zone's profile and means averaged in milliwatts."""
        if stats.reads < zone.min_reads:
            return
        current = tag.stats.get(tag.zone)
        if current is not None:
            covered_since = self.coverage.since(tag.zone)
            silent = None if covered_since is None else moment - max(current.last, covered_since)
            offset_db = zone.move_offset_db(silent)
            if stats.mean_mw <= current.mean_mw * 10.0 ** (offset_db / 10.0):
                return
        old = tag.zone
        self._count(old, tag.gtin, -1, touched)
        self._count(zone.id, tag.gtin, +1, touched)
        tag.prev_zone, tag.zone = old, zone.id
        events.append(TagEvent(TagEventKind.MOVED, tag.identity.epc, tag.gtin, zone.id, moment, old))

    def _absence(self, tag: TagRecord, now: float) -> DepartReason | None:
        """Whether a present tag has been absent long enough, judged only by zones that are covered."""
        zones = self.table.zones
        judge = zones[tag.zone]
        seen_at = zones.get(tag.last_zone) if tag.last_zone != tag.zone else None
        if seen_at is not None:
            # Read elsewhere since: the newest evidence decides. A stray read at an exit is not enough
            # to use the exit's short timeout; `min_reads` there are.
            stats = tag.stats.get(seen_at.id)
            if seen_at.departure is Departure.TIMEOUT or (
                stats is not None and stats.reads >= seen_at.min_reads
            ):
                judge = seen_at
        covered_since = self.coverage.since(judge.id)
        if judge.departure is Departure.TIMEOUT and self._store_wide_hold:
            # Silence in one zone says the tag left that zone, not the store: it may sit in a zone whose
            # reader is down. Only an exit's positive evidence beats that.
            store_since = self.coverage.all_since
            covered_since = (
                None if store_since is None or covered_since is None else max(covered_since, store_since)
            )
        if covered_since is None or now - max(tag.last_seen, covered_since) <= judge.departure_timeout_s:
            return None
        if judge.departure is Departure.TIMEOUT:
            return DepartReason.TIMEOUT
        came_from = tag.prev_zone if judge.id == tag.zone else tag.zone
        origin = zones.get(came_from) if came_from is not None else None
        if origin is not None and origin.is_locker:
            return DepartReason.LOCKER_PICKUP
        return DepartReason.POINT_OF_SALE if judge.departure is Departure.POINT_OF_SALE else DepartReason.EXIT

    def _depart(
        self, tag: TagRecord, reason: DepartReason, now: float, events: list[TagEvent], touched: set[Cell]
    ) -> None:
        epc = tag.identity.epc
        del self._present[epc]
        self._departed[epc] = None
        tag.present = False
        tag.departed_at = now
        tag.stats.clear()  # a returning tag starts with fresh statistics
        self._count(tag.zone, tag.gtin, -1, touched)
        events.append(TagEvent(TagEventKind.DEPARTED, epc, tag.gtin, tag.zone, now, reason=reason))

    def _age_out(self, now: float) -> None:
        while self._departed:
            epc = next(iter(self._departed))
            tag = self._tags[epc]
            if now - tag.departed_at <= self._retention_s:
                return
            del self._departed[epc]
            del self._tags[epc]

    # --- counts --------------------------------------------------------------------------------

    def _counted_gtin(self, identity: EpcIdentity) -> str | None:
        if identity.gtin is None:
            self.counters["epc_not_product"] += 1
            return None
        if identity.gtin not in self.table.product_names:
            # The gateway rejects unknown GTINs; counting them would poison whole signals.
            self.counters["gtin_not_in_catalog"] += 1
            return None
        return identity.gtin

    def _count(self, zone: str, gtin: str | None, delta: int, touched: set[Cell]) -> None:
        if gtin is None:
            return
        cell = (zone, gtin)
        count = self.counts.get(cell, 0) + delta
        if count:
            self.counts[cell] = count
        else:
            del self.counts[cell]
        touched.add(cell)

    def _milliwatts_of(self, rssi: float) -> float:
        power = float(10.0 ** (rssi / 10.0))
        if len(self._milliwatts) >= _MW_CACHE_MAX:
            self._milliwatts.clear()
        self._milliwatts[rssi] = power
        return power

    # --- configuration and persistence -----------------------------------------------------------

    def reload(self, table: ZoneTable) -> Changes:
        """New zone settings and catalog applied to the live tags; tags of removed zones are forgotten."""
        touched: set[Cell] = set()
        self.table = table
        self.coverage.reload(table)
        for epc, tag in list(self._tags.items()):
            if tag.zone not in table.zones:
                if tag.present:
                    self._count(tag.zone, tag.gtin, -1, touched)
                    del self._present[epc]
                self._departed.pop(epc, None)
                del self._tags[epc]
                self.counters["forgotten_zone_removed"] += 1
                continue
            gtin = tag.identity.gtin if tag.identity.gtin in table.product_names else None
            if gtin != tag.gtin and tag.present:
                self._count(tag.zone, tag.gtin, -1, touched)
                self._count(tag.zone, gtin, +1, touched)
            tag.gtin = gtin
            tag.stats = {zone: stats for zone, stats in tag.stats.items() if zone in table.zones}
            if tag.last_zone not in table.zones:
                tag.last_zone = tag.zone
            if tag.prev_zone not in table.zones:
                tag.prev_zone = None
        return {cell: self.counts.get(cell, 0) for cell in touched}

    def restore(self, tags: Iterable[TagRecord]) -> None:
        """Tags from a saved state, counted again without arrival events; unknown zones are skipped."""
        ordered = sorted(tags, key=lambda tag: tag.departed_at)
        touched: set[Cell] = set()
        for tag in ordered:
            if tag.zone not in self.table.zones:
                continue
            tag.gtin = tag.identity.gtin if tag.identity.gtin in self.table.product_names else None
            self._tags[tag.identity.epc] = tag
            if tag.present:
                self._present[tag.identity.epc] = tag
                self._count(tag.zone, tag.gtin, +1, touched)
            else:
                self._departed[tag.identity.epc] = None
