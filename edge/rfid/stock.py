"""Per-zone product counts -> StockSignals (rate-limited changes, periodic snapshots) and low-stock alerts."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

from smartstore.edge.alert_flaps import FlapGuard
from smartstore.edge.drafts import draft
from smartstore.edge.rfid.coverage import Coverage
from smartstore.edge.rfid.settings import RfidSettings
from smartstore.edge.rfid.tags import Cell
from smartstore.edge.rfid.zones import ZoneTable
from smartstore.kernel.contract.payloads import (
    AlertSignal,
    Severity,
    Signal,
    StockSignal,
    StockSource,
    ZoneCount,
)
from smartstore.kernel.storeconfig import Area

MAX_COUNTS_PER_SIGNAL = 100_000  # StockSignal.counts max_length


def low_stock_cause(zone: str, gtin: str) -> str:
    return f"rfid.low_stock:{zone}:{gtin}"


class StockPublisher:
    """Owns what the gateway has been told: dirty cells, snapshot timing, raised low-stock alerts.

    Low-stock cells are the RFID-tagged planogram products of salesfloor zones (untagged ones are counted
    by other means: RFID would report them empty), and in backroom zones every product counted there
    at least once; exit, locker and other zones hold stock only in passing and never alert.
    A zone is judged only after it has been covered for `low_stock_settle_s`, so a restart or a reader
    outage does not raise alerts for stock that simply has not been read yet. A cleared cell is raised
    again only `low_stock_reraise_s` after its clear (counted as `low_stock_held`), so a count
    flapping around the threshold does not send a stream of raises and clears.
    """

    def __init__(
        self, table: ZoneTable, settings: RfidSettings, now: float, counters: Counter[str] | None = None
    ) -> None:
        self._settings = settings
        self._flaps = FlapGuard(settings.low_stock_reraise_s)
        self._counters: Counter[str] = Counter() if counters is None else counters
        self._dirty: set[Cell] = set()
        self._last_change = -math.inf
        self._next_snapshot = now + settings.snapshot_interval_s
        self._next_alert_check = now
        self.raised: dict[Cell, Severity] = {}
        self.tracked: set[Cell] = set()  # backroom cells ever counted
        self.reload(table)

    def reload(self, table: ZoneTable) -> None:
        self._table = table
        self._backroom = {zone.id for zone in table.zones.values() if zone.area is Area.BACKROOM}
        self.tracked = {cell for cell in self.tracked if cell[0] in self._backroom}

    def note(self, changes: dict[Cell, int]) -> None:
        self._dirty.update(changes)
        for cell, count in changes.items():
            if count > 0 and cell[0] in self._backroom:
                self.tracked.add(cell)

    def due(self, now: float, counts: dict[Cell, int], coverage: Coverage) -> list[Signal]:
        signals: list[Signal] = []
        if now >= self._next_snapshot:
            self._next_snapshot = now + self._settings.snapshot_interval_s
            self._dirty.clear()
            self._last_change = now
            signals.extend(self.snapshot(now, counts))
        elif self._dirty and now - self._last_change >= self._settings.stock_publish_interval_s:
            cells = sorted(self._dirty)
            self._dirty.clear()
            self._last_change = now
            for start in range(0, len(cells), MAX_COUNTS_PER_SIGNAL):
                chunk = cells[start : start + MAX_COUNTS_PER_SIGNAL]
                rows = [ZoneCount(zone=z, gtin=g, count=counts.get((z, g), 0)) for z, g in chunk]
                signals.append(StockSignal(**draft(now), source=StockSource.RFID, counts=rows))
        if now >= self._next_alert_check:
            self._next_alert_check = now + self._settings.stock_publish_interval_s
            signals.extend(self._alerts(now, counts, coverage))
        return signals

    def snapshot(self, now: float, counts: dict[Cell, int]) -> list[StockSignal]:
        """Every count of every reader-covered zone; split by zone only beyond the contract's size limit."""
        by_zone: dict[str, list[ZoneCount]] = {zone: [] for zone in self._table.covered_zones}
        for (zone, gtin), count in sorted(counts.items()):
            if zone in by_zone and count > 0:
                by_zone[zone].append(ZoneCount(zone=zone, gtin=gtin, count=count))
        signals: list[StockSignal] = []
        zones: list[str] = []
        rows: list[ZoneCount] = []
        for zone, zone_rows in by_zone.items():
            if zones and len(rows) + len(zone_rows) > MAX_COUNTS_PER_SIGNAL:
                signals.append(self._snapshot_signal(now, zones, rows))
                zones, rows = [], []
            zones.append(zone)
            rows.extend(zone_rows)
        signals.append(self._snapshot_signal(now, zones, rows))
        return signals

    @staticmethod
    def _snapshot_signal(now: float, zones: list[str], rows: list[ZoneCount]) -> StockSignal:
        return StockSignal(**draft(now), source=StockSource.RFID, counts=rows, snapshot=True, zones=zones)

    def _cells(self) -> Iterable[Cell]:
        for zone, gtins in self._table.planned.items():
            for gtin in gtins:
                yield zone, gtin
        yield from self.tracked

    def _alerts(self, now: float, counts: dict[Cell, int], coverage: Coverage) -> list[Signal]:
        signals: list[Signal] = []
        settle = self._settings.low_stock_settle_s
        eligible = set(self._cells())
        for cell in sorted(set(self.raised) - eligible):
            signals.append(self._clear(now, cell))
        for cell in sorted(eligible):
            zone_id, gtin = cell
            covered_since = coverage.since(zone_id)
            if covered_since is None or now - covered_since < settle:
                continue  # not read long enough to tell low stock from unread stock
            zone = self._table.zones[zone_id]
            count = counts.get(cell, 0)
            raised = self.raised.get(cell)
            if count <= zone.low_stock:
                severity = Severity.CRITICAL if count == 0 else Severity.WARNING
                if raised is None and not self._may_raise(cell, now):
                    continue  # cleared a moment ago: flapping around the threshold
                if raised is not severity:
                    self.raised[cell] = severity
                    name = self._table.product_names.get(gtin, gtin)
                    text = f"{name}: {count} left in {zone.name} (low at {zone.low_stock} or fewer)"
                    signals.append(self._alert(now, cell, "raise", severity, text))
            elif raised is not None:
                signals.append(self._clear(now, cell))
            else:
                self._flaps.calm(low_stock_cause(*cell))
        return signals

    def _may_raise(self, cell: Cell, now: float) -> bool:
        held = self._flaps.held
        allowed = self._flaps.may_raise(low_stock_cause(*cell), now)
        if self._flaps.held > held:
            self._counters["low_stock_held"] += 1
        return allowed

    def _clear(self, now: float, cell: Cell) -> AlertSignal:
        del self.raised[cell]
        self._flaps.cleared(low_stock_cause(*cell), now)
        return self._alert(now, cell, "clear", Severity.INFO, "")

    @staticmethod
    def _alert(now: float, cell: Cell, action: str, severity: Severity, message: str) -> AlertSignal:
        return AlertSignal(
            **draft(now),
            cause=low_stock_cause(*cell),
            action=action,
            severity=severity,
            message=message,
        )

    # --- persistence -------------------------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        return {
            "raised": [
                [zone, gtin, severity.value] for (zone, gtin), severity in sorted(self.raised.items())
            ],
            "tracked": sorted([zone, gtin] for zone, gtin in self.tracked),
        }

    def restore(self, saved: dict[str, Any]) -> None:
        try:
            self.raised = {(str(z), str(g)): Severity(s) for z, g, s in saved.get("raised", [])}
            self.tracked = {(str(z), str(g)) for z, g in saved.get("tracked", []) if z in self._backroom}
        except (TypeError, ValueError):
            self.raised, self.tracked = {}, set()
